import Foundation

/// What a signed-in person may do. Every API route names one; the role matrix test walks them all.
public enum Permission: String, Codable, Sendable, CaseIterable {
    /// Places, devices, health, media, schedule, playback log, KPIs, alarms, reports.
    case view
    /// Register, adopt or reject pending devices, send device commands.
    case manageDevices = "manage_devices"
    /// Create, edit and cancel broadcast items (an operator's wait for approval).
    case schedule
    case approve
    case sendEmergency = "send_emergency"
    case acknowledgeAlarms = "acknowledge_alarms"
    /// Generate and keep monthly reports.
    case generateReports = "generate_reports"
    /// Alarm rules, KPI targets, controller nodes (drain).
    case configure
    case manageUsers = "manage_users"
    case viewAudit = "view_audit"
}

extension Permission {
    /// What it allows, in words, for a refusal a person reads.
    public var vietnamese: String {
        switch self {
        case .view: "xem"
        case .manageDevices: "quản lý thiết bị"
        case .schedule: "lập lịch phát"
        case .approve: "duyệt lịch phát"
        case .sendEmergency: "phát khẩn cấp"
        case .acknowledgeAlarms: "xác nhận cảnh báo"
        case .generateReports: "lập báo cáo"
        case .configure: "cấu hình cảnh báo, chỉ tiêu và nút điều khiển"
        case .manageUsers: "quản lý người dùng"
        case .viewAudit: "xem nhật ký thao tác"
        }
    }

    public var english: String {
        switch self {
        case .view: "view"
        case .manageDevices: "manage devices"
        case .schedule: "schedule broadcasts"
        case .approve: "approve broadcasts"
        case .sendEmergency: "send emergencies"
        case .acknowledgeAlarms: "acknowledge alarms"
        case .generateReports: "make reports"
        case .configure: "configure alarms, targets and controller nodes"
        case .manageUsers: "manage users"
        case .viewAudit: "read the audit log"
        }
    }
}

extension Role {
    /// The role matrix (docs/console.md shows it as a table).
    public var permissions: Set<Permission> {
        switch self {
        case .admin: Set(Permission.allCases)
        case .approver: [.view, .schedule, .approve, .sendEmergency, .acknowledgeAlarms, .generateReports]
        case .operator: [.view, .schedule, .acknowledgeAlarms, .generateReports]
        case .technician: [.view, .manageDevices, .acknowledgeAlarms, .generateReports]
        case .viewer: [.view]
        }
    }

    public func can(_ p: Permission) -> Bool { permissions.contains(p) }
}

/// A signed-in user with the communes they are limited to (nil: all).
public struct Principal: Sendable, Hashable, Codable {
    public var user: User
    public var communes: Set<String>?

    public init(user: User, communes: Set<String>? = nil) {
        self.user = user
        self.communes = communes
    }

    public func can(_ p: Permission) -> Bool { user.role.can(p) }
    public func covers(commune: String?) -> Bool {
        guard let communes else { return true }
        return commune.map(communes.contains) ?? false
    }
}

/// Passwords people choose for a commune office: long enough, not the user name.
public enum PasswordPolicy {
    public static let minimumLength = 10

    /// Lengths count Unicode scalars, as JSON Schema (docs/openapi.yaml) counts them.
    public static func problem(_ password: String, user: String) -> String? {
        if password.unicodeScalars.count < minimumLength {
            return "mật khẩu cần ít nhất \(minimumLength) ký tự / a password needs at least \(minimumLength) characters"
        }
        if password.lowercased().contains(user.lowercased()) {
            return "mật khẩu không được chứa tên đăng nhập / the password must not contain the user name"
        }
        if password.unicodeScalars.count > 200 { return "mật khẩu quá dài / password too long" }
        return nil
    }
}

/// Failed logins: after `maxFailures` in a row the account is locked for `lockout`.
public struct LoginThrottle: Sendable, Hashable {
    public var maxFailures: Int
    public var lockout: TimeInterval

    public init(maxFailures: Int = 5, lockout: TimeInterval = 900) {
        self.maxFailures = maxFailures
        self.lockout = lockout
    }

    /// After one more failure: the new count and, when it reaches the limit, the lock's end.
    public func fail(count: Int, now: Date) -> (count: Int, lockedUntil: Date?) {
        let n = count + 1
        return n >= maxFailures ? (0, now.addingTimeInterval(lockout)) : (n, nil)
    }
}

/// A user's commune limit names communes by id; anything else is refused, so a typo or a name
/// typed instead of an id never leaves a user limited to nothing (or, worse, seeing everything).
public struct CommuneLimitError: Refusal, Equatable {
    public var unknown: [String]
    /// For each unknown entry that matches a commune's name, that commune (id, name).
    public var suggestions: [String: (id: String, name: String)]

    public static func == (a: Self, b: Self) -> Bool { a.unknown == b.unknown && a.suggestions.mapValues(\.id) == b.suggestions.mapValues(\.id) }

    public var description: String {
        let vi = unknown.map { u in suggestions[u].map { "'\(u)' (có phải '\($0.id)' – \($0.name)?)" } ?? "'\(u)'" }
        let en = unknown.map { u in suggestions[u].map { "'\(u)' (did you mean '\($0.id)'?)" } ?? "'\(u)'" }
        return "không có xã/phường mã \(vi.joined(separator: ", ")); dùng mã xã, ví dụ trong `places list` / "
            + "no commune with id \(en.joined(separator: ", ")); use commune ids, as `places list` shows them"
    }

    /// The limit to store for `ids` (commune ids), or the refusal naming what is not a commune.
    public static func check(_ ids: [String], in tree: PlaceTree) throws(CommuneLimitError) -> [String] {
        let unknown = ids.filter { tree[$0]?.level != .commune }
        guard unknown.isEmpty else {
            var suggestions: [String: (id: String, name: String)] = [:]
            for u in unknown { if let c = tree.named(u, at: .commune) { suggestions[u] = (c.id, c.name) } }
            throw CommuneLimitError(unknown: unknown, suggestions: suggestions)
        }
        return Array(Set(ids)).sorted()
    }
}
