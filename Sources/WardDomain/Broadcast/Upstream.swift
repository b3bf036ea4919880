import Foundation

/// A bulletin pushed by the provincial source information system (hệ thống thông tin nguồn).
/// Normal and priority ones wait in the commune's inbox for an operator to schedule; emergency
/// ones go on air at once on the communes they name.
public struct UpstreamBulletin: Hashable, Codable, Sendable, Identifiable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// Waiting for an operator.
        case inbox
        /// An operator put it on the schedule (item_id).
        case scheduled
        /// An emergency sent straight to air (item_id).
        case onAir = "on_air"
        case dismissed
        /// Could not be put on air (detail says why).
        case failed

        public var vietnamese: String {
            switch self {
            case .inbox: "chờ xử lý"
            case .scheduled: "đã lên lịch"
            case .onAir: "đã phát khẩn cấp"
            case .dismissed: "đã bỏ qua"
            case .failed: "lỗi"
            }
        }
    }

    /// How one commune handled a bulletin sent to it.
    public struct Handling: Hashable, Codable, Sendable {
        public var status: Status
        public var itemID: String?
        public var by: String
        public var at: Date
        public init(status: Status, itemID: String?, by: String, at: Date) {
            self.status = status
            self.itemID = itemID
            self.by = by
            self.at = at
        }
    }

    /// Local number, assigned when stored.
    public var id: Int64
    public var source: String
    /// The source system's own id: the same bulletin sent twice is stored once.
    public var sourceID: String
    public var title: String
    public var level: BroadcastLevel
    public var communes: [String]
    public var programme: Programme
    public var duration: TimeInterval
    public var receivedAt: Date
    public var status: Status
    public var itemID: String?
    public var handledBy: String?
    public var handledAt: Date?
    public var detail: String?
    /// How each commune handled it so far (schedule or dismiss are per commune); nil: none yet.
    public var handling: [String: Handling]?
    /// What it says, when it is speech (TTS) read from a text; filled in when read, not stored.
    public var text: String?

    public init(id: Int64 = 0, source: String, sourceID: String, title: String, level: BroadcastLevel, communes: [String],
                programme: Programme, duration: TimeInterval, receivedAt: Date, status: Status = .inbox, itemID: String? = nil,
                handledBy: String? = nil, handledAt: Date? = nil, detail: String? = nil) {
        self.id = id
        self.source = source.nfc
        self.sourceID = sourceID
        self.title = title.nfc
        self.level = level
        self.communes = communes
        self.programme = programme
        self.duration = duration
        self.receivedAt = receivedAt
        self.status = status
        self.itemID = itemID
        self.handledBy = handledBy
        self.handledAt = handledAt
        self.detail = detail
    }
}
