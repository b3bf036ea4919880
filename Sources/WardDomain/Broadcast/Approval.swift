import Foundation

/// Who may do what. The web console issue adds passwords and sessions; the rules live here.
public enum Role: String, Codable, Sendable, CaseIterable {
    case admin, approver, `operator`, technician, viewer

    public var vietnamese: String {
        switch self {
        case .admin: "quản trị"
        case .approver: "lãnh đạo duyệt phát"
        case .operator: "cán bộ văn hóa - thông tin"
        case .technician: "kỹ thuật viên"
        case .viewer: "chỉ xem"
        }
    }

    // The radio's decisions read the same role matrix as the API (Auth/Permissions.swift).
    public var canSchedule: Bool { can(.schedule) }
    /// Approving puts an operator's item on air.
    public var canApprove: Bool { can(.approve) }
    /// Emergencies go out without a second person: only those who could approve them.
    public var canSendEmergency: Bool { can(.sendEmergency) }
}

public struct User: Hashable, Codable, Sendable, Identifiable {
    public var name: String
    public var role: Role
    public var displayName: String
    public var createdAt: Date
    public var id: String { name }

    public init(name: String, role: Role, displayName: String? = nil, createdAt: Date) {
        self.name = name
        self.role = role
        self.displayName = (displayName ?? name).nfc
        self.createdAt = createdAt
    }
}

/// Where an item stands on the way to air.
public enum BroadcastStatus: String, Codable, Sendable, CaseIterable {
    /// Made by an operator: waits for an approver.
    case pendingApproval = "pending_approval"
    /// On the schedule: goes to the speakers.
    case approved
    case cancelled

    public var vietnamese: String {
        switch self {
        case .pendingApproval: "chờ duyệt"
        case .approved: "đã duyệt"
        case .cancelled: "đã hủy"
        }
    }
}

public enum ScheduleAction: String, Sendable, Equatable {
    case schedule, approve, cancel, sendEmergency = "send_emergency"

    public var vietnamese: String {
        switch self {
        case .schedule: "lên lịch phát"
        case .approve: "duyệt phát"
        case .cancel: "hủy lịch phát"
        case .sendEmergency: "phát khẩn cấp"
        }
    }

    public var english: String {
        switch self {
        case .schedule: "schedule broadcasts"
        case .approve: "approve broadcasts"
        case .cancel: "cancel broadcasts"
        case .sendEmergency: "send an emergency"
        }
    }
}

public enum ApprovalError: Error, Equatable, CustomStringConvertible {
    case notAllowed(user: String, role: Role, action: ScheduleAction)
    case wrongStatus(item: String, status: BroadcastStatus, action: ScheduleAction)

    public var description: String {
        switch self {
        case .notAllowed(let u, let r, let a):
            "\(u) (\(r.vietnamese)) không được \(a.vietnamese). / \(u) (\(r.rawValue)) may not \(a.english)."
        case .wrongStatus(let i, let s, let a):
            "Bản tin \(i) đang \(s.vietnamese), không thể \(a.vietnamese). / Item \(i) is \(s.rawValue): cannot \(a.english)."
        }
    }
}

/// The approval rule of the commune radio as pure functions.
public enum Approval {
    /// The status a new item starts in, or why this user may not create it.
    public static func initialStatus(level: BroadcastLevel, by user: User) -> Result<BroadcastStatus, ApprovalError> {
        if level == .emergency {
            return user.role.canSendEmergency ? .success(.approved)
                : .failure(.notAllowed(user: user.name, role: user.role, action: .sendEmergency))
        }
        guard user.role.canSchedule else {
            return .failure(.notAllowed(user: user.name, role: user.role, action: .schedule))
        }
        return .success(user.role.canApprove ? .approved : .pendingApproval)
    }

    public static func approve(_ status: BroadcastStatus, item: String, by user: User) -> Result<BroadcastStatus, ApprovalError> {
        guard user.role.canApprove else {
            return .failure(.notAllowed(user: user.name, role: user.role, action: .approve))
        }
        guard status == .pendingApproval else { return .failure(.wrongStatus(item: item, status: status, action: .approve)) }
        return .success(.approved)
    }

    public static func cancel(_ status: BroadcastStatus, item: String, by user: User) -> Result<BroadcastStatus, ApprovalError> {
        guard user.role.canSchedule else {
            return .failure(.notAllowed(user: user.name, role: user.role, action: .cancel))
        }
        guard status != .cancelled else { return .failure(.wrongStatus(item: item, status: status, action: .cancel)) }
        return .success(.cancelled)
    }
}

/// What plays: a library audio file (uploaded or rendered from text), or a live relay.
public enum Programme: Hashable, Codable, Sendable {
    case media(sha256: String)
    /// The district station's HTTP/Icecast stream, relayed for the item's duration.
    case stream(url: String)

    public static func validStreamURL(_ text: String) -> Bool {
        guard let u = URL(string: text), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
              u.host?.isEmpty == false else { return false }
        return true
    }
}

/// A broadcast item as the commune keeps it: what, when, for whom, and who decided.
public struct ScheduledBroadcast: Hashable, Codable, Sendable, Identifiable {
    public var item: BroadcastItem
    public var programme: Programme
    public var status: BroadcastStatus
    public var createdBy: String
    public var createdAt: Date
    public var approvedBy: String?
    public var approvedAt: Date?

    public var id: String { item.id }

    public init(item: BroadcastItem, programme: Programme, status: BroadcastStatus, createdBy: String, createdAt: Date,
                approvedBy: String? = nil, approvedAt: Date? = nil) {
        self.item = item
        self.programme = programme
        self.status = status
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.approvedBy = approvedBy
        self.approvedAt = approvedAt
    }
}
