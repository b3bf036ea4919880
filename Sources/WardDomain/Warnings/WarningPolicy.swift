import Foundation

/// The five disaster risk levels of Quyết định 18/2021/QĐ-TTg (cấp độ rủi ro thiên tai), each with its colour.
public enum RiskLevel: Int, Sendable, Codable, CaseIterable, Comparable {
    case one = 1, two, three, four, five

    public static func < (a: RiskLevel, b: RiskLevel) -> Bool { a.rawValue < b.rawValue }

    public var vietnamese: String { "Cấp độ rủi ro thiên tai \(rawValue)" }

    /// The colour QĐ 18 gives the level, as it is named.
    public var colourName: String {
        switch self {
        case .one: "xanh dương nhạt"
        case .two: "vàng nhạt"
        case .three: "da cam"
        case .four: "đỏ"
        case .five: "tím"
        }
    }

    public var colourNameEnglish: String {
        switch self {
        case .one: "light blue"
        case .two: "light yellow"
        case .three: "orange"
        case .four: "red"
        case .five: "purple"
        }
    }

    /// The colour to paint it with, and a text colour readable on it (contrast ≥ 4.5:1).
    public var colour: String {
        switch self {
        case .one: "#9DD4F5"
        case .two: "#FFF3A3"
        case .three: "#F57C00"
        case .four: "#D32F2F"
        case .five: "#7B1FA2"
        }
    }

    public var textColour: String {
        switch self {
        case .one, .two, .three: "#1A1A1A"
        case .four, .five: "#FFFFFF"
        }
    }
}

/// How a deployment turns a CAP alert into a broadcast: the TT39 level from severity and urgency, the
/// QĐ 18 risk level, how often it repeats. The default is `WarningPolicy.standard`; a deployment may
/// replace the rules (docs/warnings.md).
public struct WarningPolicy: Sendable, Hashable, Codable {
    /// First matching rule wins. An empty set matches anything.
    public struct Rule: Sendable, Hashable, Codable {
        public var severities: Set<CAPSeverity>
        public var urgencies: Set<CAPUrgency>
        public var certainties: Set<CAPCertainty>
        public var level: BroadcastLevel

        public init(severities: Set<CAPSeverity> = [], urgencies: Set<CAPUrgency> = [], certainties: Set<CAPCertainty> = [],
                    level: BroadcastLevel) {
            self.severities = severities
            self.urgencies = urgencies
            self.certainties = certainties
            self.level = level
        }

        func matches(_ info: CAPInfo) -> Bool {
            (severities.isEmpty || severities.contains(info.severity)) && (urgencies.isEmpty || urgencies.contains(info.urgency))
                && (certainties.isEmpty || certainties.contains(info.certainty))
        }
    }

    public var rules: [Rule]
    /// The level when no rule matches.
    public var otherwise: BroadcastLevel
    /// QĐ 18 risk level when the alert carries no `riskLevelParameter`.
    public var riskBySeverity: [CAPSeverity: RiskLevel]
    /// Minutes between repeats per risk level; a level missing plays once.
    public var repeatMinutes: [RiskLevel: Int]
    /// How long a warning without `expires` keeps repeating (hours).
    public var horizonHours: Int
    /// Whether a Cancel plays an all-clear (thông báo hết cảnh báo).
    public var allClearOnCancel: Bool

    /// The CAP `parameter` whose `valueName` carries the QĐ 18 risk level ("1"…"5").
    public static let riskLevelParameter = "QD18_CapDoRuiRo"
    /// The `geocode` `valueName`s read as administrative unit codes (mã đơn vị hành chính).
    public static let geocodeNames: Set<String> = ["madvhc", "vn-madvhc"]

    public init(rules: [Rule], otherwise: BroadcastLevel, riskBySeverity: [CAPSeverity: RiskLevel], repeatMinutes: [RiskLevel: Int],
                horizonHours: Int, allClearOnCancel: Bool) throws(WarningPolicyError) {
        for r in rules where r.level == .normal { throw .normalLevel }
        guard otherwise != .normal else { throw .normalLevel }
        for (_, m) in repeatMinutes where m < 5 || m > 24 * 60 { throw .repeatInterval(m) }
        guard (1...168).contains(horizonHours) else { throw .horizon(horizonHours) }
        self.rules = rules
        self.otherwise = otherwise
        self.riskBySeverity = riskBySeverity
        self.repeatMinutes = repeatMinutes
        self.horizonHours = horizonHours
        self.allClearOnCancel = allClearOnCancel
    }

    /// Extreme or Severe with Immediate or Expected urgency: emergency, on air at once. Everything else:
    /// priority, waiting for the commune's approval. Risk level from severity: Extreme 4, Severe 3,
    /// Moderate 2, Minor and Unknown 1 (level 5 only when the alert says so). Repeats: every 30 min from
    /// level 3, every 60 min at level 2, once at level 1; 12 hours without `expires`; no all-clear.
    public static let standard = try! WarningPolicy(
        rules: [Rule(severities: [.extreme, .severe], urgencies: [.immediate, .expected], level: .emergency)],
        otherwise: .priority,
        riskBySeverity: [.extreme: .four, .severe: .three, .moderate: .two, .minor: .one, .unknown: .one],
        repeatMinutes: [.two: 60, .three: 30, .four: 30, .five: 30],
        horizonHours: 12, allClearOnCancel: false)

    /// The TT39 level. Never `normal`: quiet hours hold normal items back, and nothing may hold a warning.
    public func level(for info: CAPInfo) -> BroadcastLevel {
        rules.first { $0.matches(info) }?.level ?? otherwise
    }

    /// The risk level the alert gives in `riskLevelParameter`, else the one mapped from severity.
    /// A parameter that is not 1–5 refuses the alert (naming it) rather than guessing.
    public func riskLevel(for info: CAPInfo, path: String = "alert/info") throws(CAPError) -> RiskLevel {
        if let i = info.parameters.firstIndex(where: { $0.valueName.caseInsensitiveCompare(Self.riskLevelParameter) == .orderedSame }) {
            let v = info.parameters[i].value.trimmingCharacters(in: .whitespaces)
            guard let n = Int(v), let level = RiskLevel(rawValue: n) else {
                throw CAPError(.value, "\(path)/parameter[\(i + 1)]", "\(Self.riskLevelParameter) phải là 1–5, có '\(v.prefix(20))' / \(Self.riskLevelParameter) must be 1–5, got '\(v.prefix(20))'")
            }
            return level
        }
        return riskBySeverity[info.severity] ?? .one
    }

    public func repeatInterval(for level: RiskLevel) -> TimeInterval? {
        repeatMinutes[level].map { TimeInterval($0 * 60) }
    }
}

public enum WarningPolicyError: Refusal, Equatable {
    case normalLevel
    case repeatInterval(Int)
    case horizon(Int)

    public var description: String {
        switch self {
        case .normalLevel:
            "cảnh báo thiên tai không được ở mức thông thường (giờ yên tĩnh sẽ giữ lại) / a warning cannot be normal level (quiet hours would hold it)"
        case .repeatInterval(let m): "khoảng lặp \(m) phút phải trong 5–1440 / repeat interval \(m) min must be 5–1440"
        case .horizon(let h): "thời hạn lặp \(h) giờ phải trong 1–168 / horizon \(h) h must be 1–168"
        }
    }
}

/// What is read aloud for a warning: the event and risk level first, then headline, description, instruction.
public enum WarningSpeech {
    public static func text(info: CAPInfo, risk: RiskLevel, drill: Bool = false) -> String {
        var parts: [String] = []
        if drill { parts.append("Đây là tin diễn tập, không phải cảnh báo thật.") }
        parts.append("\(sentence(info.event)) \(risk.vietnamese).")
        for p in [info.headline, info.description, info.instruction].compactMap({ $0 }) where !p.isEmpty {
            parts.append(sentence(p))
        }
        if drill { parts.append("Hết tin diễn tập.") }
        return parts.joined(separator: " ").nfc
    }

    static func sentence(_ s: String) -> String {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        guard let last = t.last else { return t }
        return ".!?…".contains(last) ? t : t + "."
    }
}
