/// Strict JSON (RFC 8259) for device payloads: Foundation's parser forgives trailing commas, a
/// byte-order mark and other slips, and payloads are stored as received, so what it forgave would
/// be kept as invalid JSON. One pass, no recursion, the nesting bounded as it goes; duplicate keys
/// refused (which one counts is not defined by JSON).
public enum JSONSyntax {
    public enum Problem: Equatable, Sendable {
        /// More than the allowed levels of objects and arrays (counted as they open).
        case tooDeep
        /// Not exactly one JSON object: what is wrong, for the rejection's detail.
        case malformed(String)
    }

    /// Nil when `bytes` is exactly one JSON object (whitespace around it allowed) nested at most
    /// `maxNesting` levels; otherwise what is wrong.
    public static func problem(_ bytes: UnsafeRawBufferPointer, maxNesting: Int = ProtocolLimits.maxNesting) -> Problem? {
        var p = Parser(bytes: bytes, maxNesting: maxNesting)
        let found = p.object()
        // The nesting rule comes before the syntax (docs/protocol.md, "Bad input"): a payload
        // broken before it gets too deep is still too deep if it is. Only bad input pays this pass.
        if case .malformed = found, deeper(bytes, than: maxNesting) { return .tooDeep }
        return found
    }

    /// Whether brackets outside strings open more than `limit` levels somewhere.
    static func deeper(_ bytes: UnsafeRawBufferPointer, than limit: Int) -> Bool {
        var depth = 0, inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > limit { return true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return false
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let maxNesting: Int
        var i = 0

        init(bytes: UnsafeRawBufferPointer, maxNesting: Int) {
            self.bytes = bytes
            self.maxNesting = maxNesting
        }

        enum Container {
            case object(keys: Set<[UInt8]>)
            case array
        }

        mutating func skipSpace() {
            while i < bytes.count {
                switch bytes[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return
                }
            }
        }

        func at(_ c: Character) -> Bool { i < bytes.count && bytes[i] == c.asciiValue! }

        /// The first thing wrong.
        mutating func object() -> Problem? {
            if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { return .malformed("a byte-order mark before the object") }
            skipSpace()
            guard at("{") else { return .malformed("not a JSON object") }
            var stack: [Container] = []
            var afterValue = false  // false: a value comes next; true: a comma or the container's end
            while true {
                skipSpace()
                guard i < bytes.count else { return .malformed("the payload ends inside the JSON") }
                let c = bytes[i]
                if afterValue {
                    switch (c, stack.last) {
                    case (UInt8(ascii: ","), .object?):
                        i += 1
                        if let problem = key(&stack) { return .malformed(problem) }
                        afterValue = false
                    case (UInt8(ascii: ","), .array?):
                        i += 1
                        afterValue = false
                    case (UInt8(ascii: "}"), .object?), (UInt8(ascii: "]"), .array?):
                        i += 1
                        stack.removeLast()
                        if stack.isEmpty { return end() }
                    default:
                        return .malformed("an unexpected '\(Character(UnicodeScalar(c)))' after a value")
                    }
                    continue
                }
                switch c {
                case UInt8(ascii: "{"):
                    i += 1
                    stack.append(.object(keys: []))
                    if stack.count > maxNesting { return .tooDeep }
                    skipSpace()
                    if at("}") {
                        i += 1
                        stack.removeLast()
                        if stack.isEmpty { return end() }
                        afterValue = true
                    } else if let problem = key(&stack) {
                        return .malformed(problem)
                    }
                    continue
                case UInt8(ascii: "["):
                    i += 1
                    stack.append(.array)
                    if stack.count > maxNesting { return .tooDeep }
                    skipSpace()
                    if at("]") {
                        i += 1
                        stack.removeLast()
                        afterValue = true
                    }
                    continue
                case UInt8(ascii: "\""): guard string() != nil else { return .malformed("an unfinished string") }
                case UInt8(ascii: "t"): guard literal("true") else { return .malformed("an unknown word") }
                case UInt8(ascii: "f"): guard literal("false") else { return .malformed("an unknown word") }
                case UInt8(ascii: "n"): guard literal("null") else { return .malformed("an unknown word") }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): guard number() else { return .malformed("a malformed number") }
                case UInt8(ascii: "}"), UInt8(ascii: "]"): return .malformed("a value missing before '\(Character(UnicodeScalar(c)))' (a trailing comma?)")
                default: return .malformed("an unexpected '\(Character(UnicodeScalar(c)))'")
                }
                afterValue = true
            }
        }

        /// A key and its colon, inside the innermost object; refuses one already there.
        mutating func key(_ stack: inout [Container]) -> String? {
            skipSpace()
            guard at("\"") else { return at("}") ? "a comma before '}'" : "a key must be a string" }
            guard let k = string() else { return "an unfinished string" }
            guard case .object(var keys) = stack.removeLast() else { return "a key outside an object" }
            guard keys.insert(k).inserted else { return "the key \"\(String(decoding: k, as: UTF8.self))\" twice in one object" }
            stack.append(.object(keys: keys))
            skipSpace()
            guard at(":") else { return "a key without ':'" }
            i += 1
            return nil
        }

        mutating func end() -> Problem? {
            skipSpace()
            return i == bytes.count ? nil : .malformed("something after the object")
        }

        /// A string's raw bytes (escapes as written), or nil if it does not end properly.
        mutating func string() -> [UInt8]? {
            i += 1
            let start = i
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    defer { i += 1 }
                    return Array(bytes[start..<i])
                case UInt8(ascii: "\\"):
                    guard i + 1 < bytes.count else { return nil }
                    let e = bytes[i + 1]
                    if e == UInt8(ascii: "u") {
                        guard i + 5 < bytes.count, bytes[(i + 2)...(i + 5)].allSatisfy(\.isHexDigit) else { return nil }
                        i += 6
                    } else {
                        guard "\"\\/bfnrt".utf8.contains(e) else { return nil }
                        i += 2
                    }
                case 0x00..<0x20: return nil  // control characters must be escaped
                default: i += 1
                }
            }
            return nil
        }

        mutating func literal(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { return false }
            i += w.count
            return true
        }

        /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() -> Bool {
            func digits() -> Int { let s = i; while i < bytes.count, bytes[i].isDigit { i += 1 }; return i - s }
            if at("-") { i += 1 }
            if at("0") { i += 1 } else if digits() == 0 { return false }
            if at(".") { i += 1; if digits() == 0 { return false } }
            if at("e") || at("E") {
                i += 1
                if at("+") || at("-") { i += 1 }
                if digits() == 0 { return false }
            }
            return true
        }
    }
}

private extension UInt8 {
    var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isHexDigit: Bool { isDigit || (self | 0x20) >= 0x61 && (self | 0x20) <= 0x66 }
}
