import Foundation
import WardDomain

public struct BroadcastAction: Hashable, Codable, Sendable {
    public var itemID: String
    public var action: String
    public var user: String
    public var at: Date
    public var detail: String?
}

public enum BroadcastStoreError: Error, Equatable, CustomStringConvertible {
    case unknownUser(String)
    case duplicateUser(String)
    case unknownItem(String)

    public var description: String {
        switch self {
        case .unknownUser(let u): "không có người dùng '\(u)' / no user '\(u)' (wardfleet users add)"
        case .duplicateUser(let u): "người dùng '\(u)' đã có / user '\(u)' already exists"
        case .unknownItem(let i): "không có bản tin '\(i)' / no broadcast item '\(i)'"
        }
    }
}

/// Users, the broadcast schedule with its decisions, and communes' quiet hours.
public struct BroadcastRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    // MARK: users

    public func addUser(_ u: User) throws {
        try db.store.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [u.name]) == nil else {
                throw BroadcastStoreError.duplicateUser(u.name)
            }
            try db.execute(sql: "INSERT INTO users (name, role, display_name, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [u.name, u.role.rawValue, u.displayName, u.createdAt.millis])
        }
    }

    public func user(_ name: String) throws -> User {
        try db.store.read { db in
            guard let r = try SQLRow.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name]) else {
                throw BroadcastStoreError.unknownUser(name)
            }
            return Self.user(r)
        }
    }

    public func users() throws -> [User] {
        try db.store.read { try SQLRow.fetchAll($0, sql: "SELECT * FROM users ORDER BY name").map(Self.user) }
    }

    static func user(_ r: SQLRow) -> User {
        User(name: r["name"], role: Role(rawValue: r["role"]) ?? .viewer, displayName: r["display_name"],
             createdAt: Date(millis: r["created_at"]))
    }

    // MARK: schedule

    /// Stores a new item and its "created" action in one transaction.
    public func insert(_ b: ScheduledBroadcast, detail: String? = nil) throws {
        try db.store.write { db in
            let i = b.item
            try db.execute(sql: """
                INSERT INTO broadcast_items (id, title, level, programme, duration_s, recurrence, target, volume, priority_order,
                    status, created_by, created_at, approved_by, approved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [i.id, i.title, i.level.rawValue, JSONText.encode(b.programme), i.duration,
                                 JSONText.encode(i.recurrence), JSONText.encode(i.target), i.volume, i.priorityOrder,
                                 b.status.rawValue, b.createdBy, b.createdAt.millis, b.approvedBy, b.approvedAt?.millis])
            try Self.record(db, BroadcastAction(itemID: i.id, action: "created", user: b.createdBy, at: b.createdAt, detail: detail))
            try Self.bumpRevision(db)
            if b.status == .approved, let by = b.approvedBy, let at = b.approvedAt {
                try Self.record(db, BroadcastAction(itemID: i.id, action: "approved", user: by, at: at, detail: nil))
            }
        }
    }

    /// Changes an item's status and records who did it, in one transaction.
    public func setStatus(_ id: String, to status: BroadcastStatus, by user: String, at: Date, detail: String? = nil) throws {
        try db.store.write { db in
            if status == .approved {
                try db.execute(sql: "UPDATE broadcast_items SET status = ?, approved_by = ?, approved_at = ? WHERE id = ?",
                               arguments: [status.rawValue, user, at.millis, id])
            } else {
                try db.execute(sql: "UPDATE broadcast_items SET status = ? WHERE id = ?", arguments: [status.rawValue, id])
            }
            guard db.changesCount > 0 else { throw BroadcastStoreError.unknownItem(id) }
            let action = switch status {
            case .approved: "approved"
            case .cancelled: "cancelled"
            case .pendingApproval: "resubmitted"
            }
            try Self.record(db, BroadcastAction(itemID: id, action: action, user: user, at: at, detail: detail))
            try Self.bumpRevision(db)
        }
    }

    /// Replaces an item's timing, target, volume or title (same id); `status` is what it becomes.
    public func update(_ b: ScheduledBroadcast, by user: String, at: Date, detail: String?) throws {
        try db.store.write { db in
            let i = b.item
            try db.execute(sql: """
                UPDATE broadcast_items SET title = ?, duration_s = ?, recurrence = ?, target = ?, volume = ?, priority_order = ?,
                    status = ?, approved_by = ?, approved_at = ? WHERE id = ?
                """, arguments: [i.title, i.duration, JSONText.encode(i.recurrence), JSONText.encode(i.target), i.volume,
                                 i.priorityOrder, b.status.rawValue, b.approvedBy, b.approvedAt?.millis, i.id])
            guard db.changesCount > 0 else { throw BroadcastStoreError.unknownItem(i.id) }
            try Self.record(db, BroadcastAction(itemID: i.id, action: "edited", user: user, at: at, detail: detail))
            try Self.bumpRevision(db)
        }
    }

    /// Changes with every write that can alter what speakers must play.
    public func revision() throws -> Int64 {
        try db.store.read { try Int64.fetchOne($0, sql: "SELECT rev FROM schedule_revision WHERE id = 1") ?? 0 }
    }

    static func bumpRevision(_ db: SQLConnection) throws {
        try db.execute(sql: "UPDATE schedule_revision SET rev = rev + 1 WHERE id = 1")
        // Delivery in this process hears of it at once (an emergency must not wait for a poll).
        db.afterNextTransaction(onCommit: { _ in ChangeSignal.schedule.poke() })
    }

    public func get(_ id: String) throws -> ScheduledBroadcast {
        try db.store.read { db in
            guard let r = try SQLRow.fetchOne(db, sql: "SELECT * FROM broadcast_items WHERE id = ?", arguments: [id]) else {
                throw BroadcastStoreError.unknownItem(id)
            }
            return Self.broadcast(r)
        }
    }

    /// Items not cancelled (pending or approved), or all.
    public func list(includeCancelled: Bool = false) throws -> [ScheduledBroadcast] {
        try db.store.read { db in
            var memo = DecodeMemo()
            return try SQLRow.fetchAll(db, sql: includeCancelled
                ? "SELECT * FROM broadcast_items ORDER BY created_at, id"
                : "SELECT * FROM broadcast_items WHERE status != 'cancelled' ORDER BY created_at, id").map { Self.broadcast($0, &memo) }
        }
    }

    /// Every item's title and level, cancelled ones too: what a report names its lines by,
    /// without decoding each item's recurrence, target and programme.
    public func labels() throws -> [String: (title: String, level: BroadcastLevel)] {
        try db.store.read { db in
            var out: [String: (title: String, level: BroadcastLevel)] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT id, title, level FROM broadcast_items") {
                out[r[0]] = (r[1], BroadcastLevel(rawValue: r[2]) ?? .normal)
            }
            return out
        }
    }

    public func actions(item id: String) throws -> [BroadcastAction] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM broadcast_actions WHERE item_id = ? ORDER BY at, id", arguments: [id]).map {
                BroadcastAction(itemID: $0["item_id"], action: $0["action"], user: $0["user_name"], at: Date(millis: $0["at"]),
                                detail: $0["detail"])
            }
        }
    }

    static func record(_ db: SQLConnection, _ a: BroadcastAction) throws {
        try db.execute(sql: "INSERT INTO broadcast_actions (item_id, action, user_name, at, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [a.itemID, a.action, a.user, a.at.millis, a.detail])
    }

    /// The JSON columns of many items, each distinct text decoded once.
    struct DecodeMemo {
        var recurrences = JSONText.Memo<Recurrence>()
        var targets = JSONText.Memo<BroadcastTarget>()
        var programmes = JSONText.Memo<Programme>()
    }

    static func broadcast(_ r: SQLRow) -> ScheduledBroadcast {
        var memo = DecodeMemo()
        return broadcast(r, &memo)
    }

    static func broadcast(_ r: SQLRow, _ memo: inout DecodeMemo) -> ScheduledBroadcast {
        let cls = BroadcastLevel(rawValue: r["level"]) ?? .normal
        let status = BroadcastStatus(rawValue: r["status"]) ?? .pendingApproval
        let item = BroadcastItem(
            id: r["id"], title: r["title"], level: cls, duration: r["duration_s"],
            recurrence: memo.recurrences.decode(r["recurrence"])
                ?? Recurrence(rule: .once, firstDay: LocalDay(year: 1970, month: 1, day: 1), startTime: LocalTime(hour: 0, minute: 0)),
            target: memo.targets.decode(r["target"]) ?? BroadcastTarget(),
            volume: r["volume"], priorityOrder: r["priority_order"], cancelled: status == .cancelled)
        return ScheduledBroadcast(item: item, programme: memo.programmes.decode(r["programme"]) ?? .media(sha256: ""),
                                  status: status, createdBy: r["created_by"], createdAt: Date(millis: r["created_at"]),
                                  approvedBy: r["approved_by"], approvedAt: (r["approved_at"] as Int64?).map(Date.init(millis:)))
    }

    // MARK: speaker groups

    /// Creates or replaces a group's members.
    public func setGroup(_ name: String, speakers: Set<String>, by user: String, at: Date) throws {
        try db.store.write { db in
            try db.execute(sql: """
                INSERT INTO speaker_groups (name, created_by, created_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO NOTHING
                """, arguments: [name, user, at.millis])
            try db.execute(sql: "DELETE FROM speaker_group_members WHERE group_name = ?", arguments: [name])
            for s in speakers.sorted() {
                try db.execute(sql: "INSERT INTO speaker_group_members (group_name, speaker_id) VALUES (?, ?)", arguments: [name, s])
            }
            try Self.bumpRevision(db)
        }
    }

    public func groups() throws -> [String: Set<String>] {
        try db.store.read { db in
            var out: [String: Set<String>] = [:]
            for name in try String.fetchAll(db, sql: "SELECT name FROM speaker_groups") { out[name] = [] }
            for r in try SQLRow.fetchAll(db, sql: "SELECT group_name, speaker_id FROM speaker_group_members") {
                out[r["group_name"], default: []].insert(r["speaker_id"])
            }
            return out
        }
    }

    // MARK: quiet hours

    public func setQuietHours(commune: String, _ q: QuietHours?) throws {
        try db.store.write { db in
            try db.execute(sql: """
                INSERT INTO commune_settings (commune_id, quiet_start, quiet_end) VALUES (?, ?, ?)
                ON CONFLICT(commune_id) DO UPDATE SET quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end
                """, arguments: [commune, q?.start.description, q?.end.description])
            try Self.bumpRevision(db)  // delivery applies them to everything not yet played

        }
    }

    /// Every commune's quiet hours.
    public func allQuietHours() throws -> [String: QuietHours] {
        try db.store.read { db in
            var out: [String: QuietHours] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT commune_id, quiet_start, quiet_end FROM commune_settings") {
                if let s = (r["quiet_start"] as String?).flatMap(LocalTime.init), let e = (r["quiet_end"] as String?).flatMap(LocalTime.init) {
                    out[r["commune_id"]] = QuietHours(start: s, end: e)
                }
            }
            return out
        }
    }

    public func quietHours(commune: String) throws -> QuietHours? {
        try db.store.read { db in
            guard let r = try SQLRow.fetchOne(db, sql: "SELECT quiet_start, quiet_end FROM commune_settings WHERE commune_id = ?",
                                           arguments: [commune]),
                  let s = (r["quiet_start"] as String?).flatMap(LocalTime.init), let e = (r["quiet_end"] as String?).flatMap(LocalTime.init)
            else { return nil }
            return QuietHours(start: s, end: e)
        }
    }
}
