import Foundation

/// One replacement of a device's broker password (protocol §11).
///
/// created → sent (sealed, retained on the device's `credentials` topic) → stored (the device
/// acknowledged) → applied (the broker now takes only the new password; the retained message is
/// cleared). A device that refuses ends it as refused; a newer rotation of the same device
/// supersedes one not yet applied.
public struct CredentialRotation: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        case created, sent, stored, applied, refused, superseded

        /// Still to be finished by the controller.
        public var isOpen: Bool { self == .created || self == .sent || self == .stored }

        public var text: String {
            switch self {
            case .created: "đã tạo, chờ gửi / created, waiting to be sent"
            case .sent: "đã gửi, chờ thiết bị xác nhận / sent, waiting for the device"
            case .stored: "thiết bị đã lưu, đang đổi trên máy chủ MQTT / stored by the device, changing it on the broker"
            case .applied: "đã áp dụng / applied"
            case .refused: "thiết bị từ chối / refused by the device"
            case .superseded: "bị thay bằng lần đổi mới hơn / superseded by a newer rotation"
            }
        }
    }

    public var id: String
    public var deviceID: String
    public var state: State
    public var createdAt: Date
    public var createdBy: String?
    public var sentAt: Date?
    public var reportedAt: Date?
    public var reason: String?
    public var appliedAt: Date?

    public init(id: String, deviceID: String, state: State, createdAt: Date, createdBy: String?, sentAt: Date? = nil,
                reportedAt: Date? = nil, reason: String? = nil, appliedAt: Date? = nil) {
        self.id = id
        self.deviceID = deviceID
        self.state = state
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.sentAt = sentAt
        self.reportedAt = reportedAt
        self.reason = reason
        self.appliedAt = appliedAt
    }

    /// A fresh rotation id: "rot-" and 16 hex digits.
    public static func newID<G: RandomNumberGenerator>(using rng: inout G) -> String {
        "rot-" + String(UInt64.random(in: .min ... .max, using: &rng), radix: 16).leftPaddedHex(16)
    }

    public static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return newID(using: &g)
    }

    /// What a `credentials_report` does to a rotation in `state`: the next state, or nil when the
    /// report changes nothing (a repeat, or a report for a rotation that is no longer waiting).
    public static func next(after state: State, report stored: Bool) -> State? {
        switch state {
        case .sent, .created: stored ? .stored : .refused
        default: nil
        }
    }
}

extension String {
    fileprivate func leftPaddedHex(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
