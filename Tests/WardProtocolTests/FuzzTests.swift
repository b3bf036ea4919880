import Foundation
import Testing
import WardDomain
@testable import WardProtocol

/// Hostile input: the decoders take 100,000+ random and mutated messages without a crash, and
/// every one is either a valid message or a rejection with a reason. Seeded, so a failure repeats.
@Suite struct FuzzTests {
    static let seeds: [(topic: String, json: String)] = [
        (tel, speakerJSON()),
        ("wardfleet/v1/cam-la/CAM-1/telemetry", #"{"v":1,"device":"CAM-1","boot":"b","seq":3,"ts":\#(ts),"camera":{"recording":true,"disk_used_pct":55.5,"disk_total_gb":2000,"retention_days":31.5,"oldest_footage_ts":\#(ts - 86_400_000)}}"#),
        ("wardfleet/v1/cam-la/CAM-1/birth", #"{"v":1,"device":"CAM-1","class":"camera","model":"H","firmware":"1","capabilities":["reboot"],"heartbeat_s":30,"boot":"b","ts":\#(ts)}"#),
        ("wardfleet/v1/cam-la/CAM-1/state", #"{"v":1,"device":"CAM-1","state":"offline","boot":"b","reason":"will"}"#),
        ("wardfleet/v1/cam-la/KIOSK-1/event", #"{"v":1,"device":"KIOSK-1","boot":"b","seq":1,"ts":\#(ts),"type":"rating_submitted","rating":"satisfied"}"#),
        ("wardfleet/v1/cam-la/LOA-01/ack", #"{"v":1,"device":"LOA-01","cmd_id":"c1","result":"ok","ts":\#(ts)}"#),
        ("wardfleet/v1/cam-la/LOA-01/playback", #"{"v":1,"device":"LOA-01","boot":"b","play":"p1","item":"i","outcome":"started","ts":\#(ts)}"#),
    ]

    static let tokens: [String] = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "false", "-1", "1e309", "-0", "1.5",
                                   "18446744073709551616", "\"\u{0}\"", "\"thiết-bị\"", "9999999999999", "\"v\":2", "\"device\":\"X\"",
                                   String(repeating: "[", count: 40), "\u{FFFD}", "\"seq\":0"]

    static func mutate(_ s: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = s
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !b.isEmpty: b.removeSubrange(Int.random(in: 0..<b.count, using: &rng)...)
            case 2: b.insert(contentsOf: Array(tokens.randomElement(using: &rng)!.utf8), at: Int.random(in: 0...b.count, using: &rng))
            case 3 where b.count > 2:
                let i = Int.random(in: 0..<b.count, using: &rng), j = Int.random(in: i..<b.count, using: &rng)
                b.insert(contentsOf: b[i...j], at: Int.random(in: 0...b.count, using: &rng))
            case 4 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
            default: b.append(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
        }
        return b
    }

    @Test func decodersSurviveAHundredThousandHostileMessages() {
        var rng = SeededRandom(seed: 20_261_121)
        let decoder = ProtocolDecoder()
        var outcomes: [String: Int] = [:]
        let n = 120_000
        for i in 0..<n {
            let seed = Self.seeds[i % Self.seeds.count]
            let payload: [UInt8]
            switch i % 4 {
            case 0: payload = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }  // noise
            case 1: payload = Array((0..<Int.random(in: 1...30, using: &rng)).map { _ in Self.tokens.randomElement(using: &rng)! }.joined().utf8)
            default: payload = Self.mutate(Array(seed.json.utf8), &rng)
            }
            let topic = i % 97 == 0 ? String(decoding: Self.mutate(Array(seed.topic.utf8), &rng), as: UTF8.self) : seed.topic
            switch decoder.decode(topic: topic, payload: payload, now: now) {
            case .success: outcomes["accepted", default: 0] += 1
            case .failure(let r):
                outcomes[r.reason.rawValue, default: 0] += 1
                #expect(!r.detail.isEmpty)
            }
        }
        #expect(outcomes.values.reduce(0, +) == n)
        // The mutations reach past the JSON parser into the field and range checks.
        #expect(outcomes["malformed_json", default: 0] > 0 && outcomes["invalid_field", default: 0] > 0)
        #expect(outcomes["nesting_too_deep", default: 0] > 0)
        #expect(outcomes["accepted", default: 0] > 0)
    }

    @Test func nestingIsCappedWithoutRecursion() {
        let deep = String(repeating: "[", count: 8_000) + String(repeating: "]", count: 8_000)  // under the size cap
        #expect(rejection(tel, deep) == .nestingTooDeep)
        #expect(rejection(tel, String(repeating: "[", count: 100_000)) == .oversize)
        #expect(rejection(tel, speakerJSON(extra: #""x":[[[[[[[[[1]]]]]]]]],"#)) == .nestingTooDeep)
        // Brackets inside strings are text, not nesting.
        let inString = speakerJSON(extra: #""note":"[[[[[[[[[[[[[[[[\"{{{{{{{{{{{","#)
        #expect(rejection(tel, inString) != .nestingTooDeep)
    }
}
