import Foundation
import WardController
import WardDomain
import WardProtocol

/// Input checks that hold the API to docs/openapi.yaml: what the document declares malformed is
/// refused here with 400, what it declares well formed passes on to the rules (which may still
/// refuse with 409 or 422). The CLI and files keep their own, more forgiving parsers.
enum APIInput {
    static func bad(_ field: String, _ expected: String) -> APIError { APIError(.badRequest, "\(field): \(expected)") }

    static func matches(_ s: String, _ pattern: String) -> Bool { s.range(of: pattern, options: .regularExpression) != nil }

    static let identifierPattern = "^[A-Za-z0-9._-]{1,64}$"
    static func isIdentifier(_ s: String) -> Bool { Identifier.isValid(s) }

    /// A local day, exactly YYYY-MM-DD (years 1–9999).
    static func day(_ s: String, field: String) throws -> LocalDay {
        guard matches(s, "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), !s.hasPrefix("0000"), let d = LocalDay(s) else {
            throw bad(field, "ngày YYYY-MM-DD / a date YYYY-MM-DD")
        }
        return d
    }

    /// A time of day, HH:MM or HH:MM:SS.
    static func time(_ s: String, field: String) throws {
        guard matches(s, "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$") else { throw bad(field, "giờ HH:MM / a time HH:MM") }
    }

    /// A month, YYYY-MM.
    static func month(_ s: String, field: String = "month") throws {
        guard matches(s, "^[0-9]{4}-(0[1-9]|1[0-2])$") else { throw bad(field, "tháng YYYY-MM / a month YYYY-MM") }
    }

    /// Text that must say something: 1…`max` characters (Unicode scalars, as the document counts
    /// them), not only spaces (the same spaces the rules trim).
    static func text(_ s: String, field: String, max: Int) throws {
        guard s.unicodeScalars.count <= max, !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw bad(field, "1–\(max) ký tự, không chỉ khoảng trắng / 1–\(max) characters, not only spaces")
        }
    }

    /// A new password's length (10–200 characters); the rule about the user name is checked after (422).
    static func password(_ p: String, field: String, user: String) throws {
        let n = p.unicodeScalars.count
        guard n >= PasswordPolicy.minimumLength, n <= 200 else {
            throw bad(field, "mật khẩu \(PasswordPolicy.minimumLength)–200 ký tự / a password of \(PasswordPolicy.minimumLength)–200 characters")
        }
        // Counted as the document counts (scalars), a long enough password passes the policy's
        // length rule, so what is left is the user name rule.
        if let problem = PasswordPolicy.problem(p, user: user) { throw APIError(.unprocessableContent, problem) }
    }

    /// A body the decoder refused, in words: the field named (missing, null, of the wrong kind, or a
    /// value outside its list, with the list), never a Swift type name.
    /// `snakeCase`: the decoder converted the body's keys, so the type's camelCase names are put back.
    static func refusal(decoding error: any Error, snakeCase: Bool = false) -> APIError {
        func path(_ c: [any CodingKey]) -> String {
            c.map { k in k.intValue.map { "[\($0)]" } ?? (snakeCase ? APIError.snakeCase(k.stringValue) : k.stringValue) }
                .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let c):
            let f = path(c.codingPath + [key])
            return APIError(.badRequest, "\(f): thiếu trường bắt buộc / \(f): a required field is missing",
                            code: "missing_field")
        case DecodingError.valueNotFound(_, let c):
            let f = path(c.codingPath)
            return APIError(.badRequest, "\(f): không nhận null, hãy bỏ trường / null is not a value, leave the field out",
                            code: "null_field")
        case DecodingError.typeMismatch(let type, let c):
            let f = path(c.codingPath), (vi, en) = kind(type)
            return APIError(.badRequest, "\(f): cần \(vi) / \(f): \(en) is expected", code: "invalid_body")
        case DecodingError.dataCorrupted(let c) where !c.codingPath.isEmpty:
            let f = path(c.codingPath)
            if let (typeName, value) = invalidRawValue(c.debugDescription), let list = choices[typeName] {
                let allowed = list.joined(separator: ", ")
                return APIError(.badRequest, "\(f): '\(value)' không hợp lệ, chọn một trong: \(allowed)"
                                + " / \(f): '\(value)' is not allowed, one of: \(allowed)", code: "invalid_value")
            }
            return APIError(.badRequest, "\(f): giá trị không hợp lệ / \(f): not a valid value", code: "invalid_value")
        default:
            return APIError(.badRequest, "cần một đối tượng JSON / a JSON object is expected", code: "invalid_json")
        }
    }

    /// What a JSON value of `type` is called, in both languages.
    static func kind(_ type: Any.Type) -> (vi: String, en: String) {
        switch type {
        case is String.Type: ("chuỗi", "a string")
        case is Bool.Type: ("true hoặc false", "true or false")
        case is Int.Type, is Int64.Type, is Double.Type: ("số", "a number")
        case is [Any].Type: ("danh sách", "a list")
        case is [String: Any].Type: ("đối tượng", "an object")
        default:
            String(describing: type).hasPrefix("Array") ? ("danh sách", "a list")
                : String(describing: type).hasPrefix("Dictionary") ? ("đối tượng", "an object")
                : ("giá trị khác", "another kind of value")
        }
    }

    /// The type and the value of the standard library's "Cannot initialize T from invalid String value v".
    static func invalidRawValue(_ s: String) -> (type: String, value: String)? {
        let prefix = "Cannot initialize "
        guard s.hasPrefix(prefix), let from = s.range(of: " from invalid "),
              let value = s.range(of: " value ", range: from.upperBound..<s.endIndex) else { return nil }
        return (String(s[s.index(s.startIndex, offsetBy: prefix.count)..<from.lowerBound]), String(s[value.upperBound...]))
    }

    /// The values of the enumerations bodies carry, by type name (names used only to look up, never shown).
    static let choices: [String: [String]] = {
        func entry<T: CaseIterable & RawRepresentable>(_ t: T.Type) -> (String, [String]) where T.RawValue == String {
            (String(describing: t), t.allCases.map(\.rawValue))
        }
        return Dictionary([entry(BroadcastLevel.self), entry(TTSVoice.self), entry(DeviceClass.self),
                           entry(KioskRole.self), entry(Role.self), entry(AlarmSeverity.self), entry(AlarmKind.self),
                           entry(AlarmStatus.self), entry(ReportFormat.self), entry(ReportLanguage.self),
                           entry(CommandName.self), entry(HealthState.self), entry(PlaceLevel.self),
                           entry(AudioFormat.self)],
                          uniquingKeysWith: { a, _ in a })
    }()

    static func identifiers(_ list: [String]?, field: String) throws {
        if let bad = list?.first(where: { !isIdentifier($0) }) {
            throw Self.bad(field, "'\(bad)' không phải mã hợp lệ / is not a valid id")
        }
    }

    static let weekdays: Set<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "t2", "t3", "t4", "t5", "t6", "t7", "cn"]
    static let repeatRules: Set<String> = ["once", "daily", "weekdays", "weekly"]

    /// The timing fields of a schedule body, as the document declares them.
    static func timing(day: String?, time: String?, repeat rule: String?, on: [String]?, until: String?, skip: [String]?) throws {
        if let day { _ = try Self.day(day, field: "day") }
        if let time { try Self.time(time, field: "time") }
        if let rule, !repeatRules.contains(rule) { throw bad("repeat", repeatRules.sorted().joined(separator: ", ")) }
        if let w = on?.first(where: { !weekdays.contains($0) }) { throw bad("on", "'\(w)': mon…sun, t2…t7, cn") }
        if let until { _ = try Self.day(until, field: "until") }
        for d in skip ?? [] { _ = try Self.day(d, field: "skip") }
    }
}

extension OperatorAPI.Call {
    /// A boolean query parameter: absent is false.
    func flag(_ k: String) throws -> Bool {
        switch query(k) {
        case nil, "false": return false
        case "true": return true
        default: throw APIInput.bad(k, "true, false")
        }
    }

    func integer(_ k: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let s = query(k) else { return nil }
        guard let v = Int(s), range.contains(v) else { throw APIInput.bad(k, "số nguyên \(range.lowerBound)…\(range.upperBound) / an integer \(range.lowerBound)…\(range.upperBound)") }
        return v
    }

    func number(_ k: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let s = query(k) else { return nil }
        guard let v = Double(s), range.contains(v) else { throw APIInput.bad(k, "số \(range.lowerBound)…\(range.upperBound) / a number \(range.lowerBound)…\(range.upperBound)") }
        return v
    }

    func choice<T: RawRepresentable & CaseIterable>(_ k: String, _ type: T.Type) throws -> T? where T.RawValue == String {
        guard let s = query(k) else { return nil }
        guard let v = T(rawValue: s) else { throw APIInput.bad(k, T.allCases.map(\.rawValue).joined(separator: ", ")) }
        return v
    }

    func day(_ k: String) throws -> LocalDay? { try query(k).map { try APIInput.day($0, field: k) } }

    func identifier(_ k: String) throws -> String? {
        guard let s = query(k) else { return nil }
        guard APIInput.isIdentifier(s) else { throw APIInput.bad(k, "chữ, số, '-', '_', '.' / letters, digits, '-', '_', '.'") }
        return s
    }

    /// The `{month}` path parameter, YYYY-MM.
    func month() throws -> String {
        let m = try parameter("month")
        try APIInput.month(m)
        return m
    }
}
