import Foundation

/// A warning source (e.g. the provincial hydro-meteorological station): a user of its own, whose API
/// tokens authenticate its CAP posts, and the CAP `sender` values it may use.
public struct WarningSource: Sendable, Hashable, Codable {
    public var user: String
    public var name: String
    public var senders: [String]
    public var createdAt: Date
    public var updatedAt: Date
    /// Where it takes CAP `Ack` messages with the reach of each play (http or https); nil: none sent.
    public var ackURL: String?

    public init(user: String, name: String, senders: [String], createdAt: Date, updatedAt: Date, ackURL: String? = nil) {
        self.user = user
        self.name = name.nfc
        self.senders = senders
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.ackURL = ackURL
    }

    public func mayUse(sender: String) -> Bool { senders.contains(sender) }
}

/// A CAP alert as kept: one per (sender, identifier) — the same identifier twice is one alert.
public struct WarningRecord: Sendable, Hashable, Codable, Identifiable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// In force (on air, in the inbox, or a drill).
        case active
        /// An Update took its place (`replacedBy`).
        case replaced
        case cancelled
        /// Test, System or Draft: kept, never on air.
        case recorded
        /// Past its `expires`.
        case ended

        public var vietnamese: String {
            switch self {
            case .active: "đang hiệu lực"
            case .replaced: "đã được cập nhật"
            case .cancelled: "đã hủy"
            case .recorded: "chỉ lưu (không phát)"
            case .ended: "đã hết hạn"
            }
        }
    }

    public var id: Int64
    public var sender: String
    public var identifier: String
    public var sent: Date
    /// The user (warning source) whose token posted it.
    public var sourceUser: String
    public var status: CAPStatus
    public var msgType: CAPMsgType
    public var references: [CAPReference]
    public var event: String?
    public var headline: String?
    public var level: BroadcastLevel?
    public var risk: RiskLevel?
    public var mode: WarningPlan.Mode?
    public var expiresAt: Date?
    public var state: State
    public var replacedBy: Int64?
    /// The upstream bulletin it became, when it went on air or to the inbox.
    public var bulletinID: Int64?
    public var receivedAt: Date
    public var targets: WarningTargets
    /// When it plays (an emergency on air): the first play at the anchor, repeats until `until` or a Cancel.
    public var plan: RepetitionPlan?
    /// Who cancelled it from WardFleet (an approver, `wardfleet warnings cancel`); nil for a CAP Cancel.
    public var cancelledBy: String?

    public init(id: Int64 = 0, sender: String, identifier: String, sent: Date, sourceUser: String, status: CAPStatus, msgType: CAPMsgType,
                references: [CAPReference] = [], event: String? = nil, headline: String? = nil, level: BroadcastLevel? = nil,
                risk: RiskLevel? = nil, mode: WarningPlan.Mode? = nil, expiresAt: Date? = nil, state: State, replacedBy: Int64? = nil,
                bulletinID: Int64? = nil, receivedAt: Date, targets: WarningTargets = .none, plan: RepetitionPlan? = nil,
                cancelledBy: String? = nil) {
        self.id = id
        self.sender = sender
        self.identifier = identifier
        self.sent = sent
        self.sourceUser = sourceUser
        self.status = status
        self.msgType = msgType
        self.references = references
        self.event = event?.nfc
        self.headline = headline?.nfc
        self.level = level
        self.risk = risk
        self.mode = mode
        self.expiresAt = expiresAt
        self.state = state
        self.replacedBy = replacedBy
        self.bulletinID = bulletinID
        self.receivedAt = receivedAt
        self.targets = targets
        self.plan = plan
        self.cancelledBy = cancelledBy
    }

    /// The record of an assessed Alert or Update, before it is stored.
    public init(plan: WarningPlan, sourceUser: String, receivedAt: Date) {
        let a = plan.alert
        self.init(sender: a.sender, identifier: a.identifier, sent: a.sent.date, sourceUser: sourceUser, status: a.status,
                  msgType: a.msgType, references: a.references, event: plan.info.event, headline: plan.info.headline, level: plan.level,
                  risk: plan.risk, mode: plan.mode, expiresAt: plan.expires, state: plan.mode == .recordOnly || plan.targets.isEmpty ? .recorded : .active,
                  receivedAt: receivedAt, targets: plan.targets)
    }

    /// An Actual Alert or Update whose area reaches no place of this deployment (a polygon at sea, a mistyped
    /// code): stored as recorded, never in force — said in the answer, logged and counted, never silently lost.
    public var reachesNoPlace: Bool { status == .actual && msgType != .cancel && targets.isEmpty }
}

extension WarningTargets {
    public static let none = WarningTargets(communes: [], wholeCommunes: [], villages: [], sites: [], untargetable: [])
}
