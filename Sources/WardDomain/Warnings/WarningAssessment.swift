import Foundation

/// What an accepted Alert or Update becomes: the TT39 level, the QĐ 18 risk level, the words to speak,
/// the places targeted, whether it goes on air and how often it repeats.
public struct WarningPlan: Sendable, Hashable {
    public enum Mode: String, Sendable, Codable {
        /// Actual: on air (emergency at once; priority via the commune's inbox).
        case live
        /// Exercise: a drill, shown as one, never on air.
        case drill
        /// Test, System, Draft: recorded, never on air.
        case recordOnly = "record_only"
    }

    public var alert: CAPAlert
    /// The Vietnamese info it is spoken from.
    public var info: CAPInfo
    public var level: BroadcastLevel
    public var risk: RiskLevel
    public var mode: Mode
    public var speech: String
    public var targets: WarningTargets
    public var expires: Date
    public var repeatInterval: TimeInterval?

    public var goesOnAir: Bool { mode == .live && !targets.isEmpty }
}

public enum WarningAssessment {
    /// Refuses (naming the element) what cannot be acted on: an Ack or Error, a Cancel (acted on by the
    /// caller), no Vietnamese info, a bad risk level parameter, an alert already expired on arrival.
    public static func plan(_ alert: CAPAlert, policy: WarningPolicy, tree: PlaceTree, now: Date) throws(CAPError) -> WarningPlan {
        guard alert.msgType == .alert || alert.msgType == .update else {
            throw CAPError(.value, "alert/msgType", "'\(alert.msgType.rawValue)' không phải cảnh báo để phát / '\(alert.msgType.rawValue)' is not an alert to broadcast")
        }
        guard let index = alert.infos.firstIndex(where: \.isVietnamese) else {
            throw CAPError(.missing, "alert/info[language=vi-VN]", "")
        }
        let info = alert.infos[index]
        let path = "alert/info[\(index + 1)]"
        let risk = try policy.riskLevel(for: info, path: path)
        let expires = info.expires?.date ?? now.addingTimeInterval(TimeInterval(policy.horizonHours * 3600))
        guard expires > now else {
            throw CAPError(.value, path + "/expires", "cảnh báo đã hết hạn lúc đến / expired on arrival (\(info.expires?.text ?? ""))")
        }
        let mode: WarningPlan.Mode = switch alert.status {
        case .actual: .live
        case .exercise: .drill
        case .test, .system, .draft: .recordOnly
        }
        return WarningPlan(alert: alert, info: info, level: policy.level(for: info), risk: risk, mode: mode,
                           speech: WarningSpeech.text(info: info, risk: risk, drill: mode == .drill),
                           targets: WarningTargets.resolve(areas: info.areas, tree: tree), expires: expires,
                           repeatInterval: policy.repeatInterval(for: risk))
    }
}
