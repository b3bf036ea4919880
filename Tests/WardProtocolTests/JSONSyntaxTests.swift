import Testing
@testable import WardProtocol

/// Strict JSON: what a vendor's device found Foundation forgiving (trailing commas, a byte-order
/// mark, `null` as a payload), stored as invalid JSON, is refused as malformed_json.
@Suite struct JSONSyntaxTests {
    func problem(_ s: String) -> String? { problem(Array(s.utf8)) }
    func problem(_ b: [UInt8]) -> String? {
        switch b.withUnsafeBytes({ JSONSyntax.problem($0) }) {
        case nil: nil
        case .tooDeep?: "too deep"
        case .malformed(let why)?: why
        }
    }

    @Test func wellFormedObjectsPass() {
        for ok in [#"{}"#, #" {"a":1} "#, "{\n\t\"a\" : [ ] ,\r\n \"b\":{}}", #"{"a":[1,-2.5e+3,0,0.25,1E9,true,false,null,"x"]}"#,
                   #"{"t":"Kẹt giấy \"A\" \\ \/ \u00e9 \n"}"#, #"{"a":{"a":{"a":[[[]]]}}}"#] {
            #expect(problem(ok) == nil, "\(ok)")
        }
    }

    @Test func slipsAreRefused() {
        let bad: [(String, String)] = [
            (#"{"a":1,}"#, "comma"), (#"{"a":[1,2,]}"#, "comma"), ("null", "not a JSON object"), (#"[{"a":1}]"#, "not a JSON object"),
            (#"{"a":1}{"#, "after the object"), (#"{"a":1,"a":2}"#, "twice"), (#"{"a":01}"#, "after a value"), (#"{"a":1.}"#, "number"),
            (#"{"a":+1}"#, "unexpected"), ("{\"a\":\"x\ty\"}", "unfinished"), (#"{"a":"\x"}"#, "unfinished"), (#"{"a" 1}"#, "':'"),
            (#"{a:1}"#, "string"), (#"{"a":tru}"#, "word"), (#"{"a":1"#, "ends"), ("", "not a JSON object"), (#"{"a":}"#, "missing"),
        ]
        for (json, why) in bad {
            let p = problem(json)
            #expect(p?.contains(why) == true, "\(json): \(p ?? "accepted")")
        }
        #expect(problem([0xEF, 0xBB, 0xBF] + Array(#"{"a":1}"#.utf8))?.contains("byte-order mark") == true)
    }

    /// The nesting is bounded in the same pass, as the objects and arrays open.
    @Test func nestingIsCountedAsItOpens() {
        #expect(problem(#"{"a":[[[[[[[1]]]]]]]}"#) == nil)  // 8 levels
        #expect(problem(#"{"a":[[[[[[[[1]]]]]]]]}"#) == "too deep")  // 9
        #expect(problem(#"{"a":"[[[[[[[[[[[["}"#) == nil)  // brackets in a string are text
    }
}
