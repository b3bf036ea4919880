import Foundation
import WardDomain
import Yams

/// A deployment's warning policy (docs/warnings.md, "Policy"), as YAML. Every key is optional; what is
/// left out keeps the documented default (`WarningPolicy.standard`).
///
/// ```yaml
/// rules:                       # first matching rule wins; a list left out or empty matches anything
///   - severities: [Extreme, Severe]
///     urgencies: [Immediate, Expected]
///     certainties: []
///     level: emergency         # emergency (khẩn cấp) or priority (ưu tiên); never normal
/// otherwise: priority
/// risk_by_severity: {Extreme: 4, Severe: 3, Moderate: 2, Minor: 1, Unknown: 1}
/// repeat_minutes: {2: 60, 3: 30, 4: 30, 5: 30}   # a level left out plays once
/// horizon_hours: 12
/// all_clear_on_cancel: false
/// ```
public enum WarningPolicyFile {
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var key: String
        public var why: String
        public var description: String { "chính sách cảnh báo / warning policy, \(key): \(why)" }
    }

    struct Raw: Decodable {
        struct Rule: Decodable {
            var severities: [String]?
            var urgencies: [String]?
            var certainties: [String]?
            var level: String?
        }
        var rules: [Rule]?
        var otherwise: String?
        var risk_by_severity: [String: Int]?
        var repeat_minutes: [String: Int]?
        var horizon_hours: Int?
        var all_clear_on_cancel: Bool?
    }

    public static func read(path: String) throws -> WarningPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(key: path, why: "không đọc được tệp / cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self))
    }

    public static func parse(_ yaml: String) throws -> WarningPolicy {
        let raw: Raw
        do {
            raw = try YAMLDecoder().decode(Raw.self, from: yaml.isEmpty ? "{}" : yaml)
        } catch {
            throw Problem(key: "(tệp / file)", why: "YAML không hợp lệ hoặc sai kiểu / invalid YAML or a value of the wrong type: \(error)")
        }
        let d = WarningPolicy.standard
        func level(_ s: String?, _ key: String) throws -> BroadcastLevel? {
            guard let s else { return nil }
            switch s.lowercased() {
            case "emergency", "khẩn cấp", "khan-cap": return .emergency
            case "priority", "ưu tiên", "uu-tien": return .priority
            case "normal", "thông thường": throw Problem(key: key, why: "cảnh báo không bao giờ ở mức thông thường / a warning is never normal")
            default: throw Problem(key: key, why: "'\(s)' không phải emergency hay priority / is not emergency or priority")
            }
        }
        func values<T: RawRepresentable & CaseIterable>(_ list: [String]?, _ key: String, _: T.Type) throws -> Set<T> where T.RawValue == String {
            Set(try (list ?? []).map { s in
                guard let v = T.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
                    throw Problem(key: key, why: "'\(s)' không phải một trong / is not one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return v
            })
        }
        func risk(_ n: Int, _ key: String) throws -> RiskLevel {
            guard let r = RiskLevel(rawValue: n) else { throw Problem(key: key, why: "cấp độ rủi ro 1–5 / risk level 1–5, got \(n)") }
            return r
        }
        var rules = d.rules
        if let list = raw.rules {
            rules = try list.enumerated().map { i, r in
                let key = "rules[\(i + 1)]"
                guard let l = try level(r.level, key + ".level") else { throw Problem(key: key + ".level", why: "thiếu / missing") }
                return WarningPolicy.Rule(severities: try values(r.severities, key + ".severities", CAPSeverity.self),
                                          urgencies: try values(r.urgencies, key + ".urgencies", CAPUrgency.self),
                                          certainties: try values(r.certainties, key + ".certainties", CAPCertainty.self), level: l)
            }
        }
        var riskBySeverity = d.riskBySeverity
        for (k, n) in raw.risk_by_severity ?? [:] {
            let key = "risk_by_severity.\(k)"
            guard let s = CAPSeverity.allCases.first(where: { $0.rawValue.lowercased() == k.lowercased() }) else {
                throw Problem(key: key, why: "không phải mức nghiêm trọng CAP / not a CAP severity (" + CAPSeverity.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            riskBySeverity[s] = try risk(n, key)
        }
        var repeatMinutes = d.repeatMinutes
        if let given = raw.repeat_minutes {
            repeatMinutes = [:]
            for (k, m) in given {
                guard let n = Int(k) else { throw Problem(key: "repeat_minutes.\(k)", why: "khóa là cấp độ 1–5 / keys are risk levels 1–5") }
                guard (5...1440).contains(m) else {
                    throw Problem(key: "repeat_minutes.\(k)", why: "khoảng lặp \(m) phút phải trong 5–1440 / repeat interval \(m) min must be 5–1440")
                }
                repeatMinutes[try risk(n, "repeat_minutes.\(k)")] = m
            }
        }
        do {
            return try WarningPolicy(rules: rules, otherwise: try level(raw.otherwise, "otherwise") ?? d.otherwise, riskBySeverity: riskBySeverity,
                                     repeatMinutes: repeatMinutes, horizonHours: raw.horizon_hours ?? d.horizonHours,
                                     allClearOnCancel: raw.all_clear_on_cancel ?? d.allClearOnCancel)
        } catch WarningPolicyError.horizon(let h) {
            throw Problem(key: "horizon_hours", why: "\(WarningPolicyError.horizon(h))")
        } catch {
            throw Problem(key: "(chính sách / policy)", why: "\(error)")
        }
    }
}
