import Foundation
import WardDomain

public enum AlarmStoreError: Error, Equatable, CustomStringConvertible {
    case notFound(Int64)
    case alreadyCleared(Int64)
    case alreadyAcknowledged(Int64, by: String)

    public var description: String {
        switch self {
        case .notFound(let id): "không có cảnh báo #\(id) / no alarm #\(id)"
        case .alreadyCleared(let id): "cảnh báo #\(id) đã hết / alarm #\(id) is already cleared"
        case .alreadyAcknowledged(let id, let by): "cảnh báo #\(id) đã được \(by) xác nhận / alarm #\(id) was already acknowledged by \(by)"
        }
    }
}

/// Alarms over their whole life.
public struct AlarmRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Applies the engine's transitions in one transaction; returns the alarms with their ids.
    /// Raised and cleared alarms queue their notifications (`payload` per alarm and event) to
    /// `sinks` in the same transaction: a crash cannot store an alarm and lose its notice.
    @discardableResult
    public func apply(_ transitions: [AlarmTransition], notifying sinks: [String] = [], at now: Date = Date(),
                      payload: (Alarm, String) -> String = { _, _ in "" }) throws -> [AlarmTransition] {
        guard !transitions.isEmpty else { return [] }
        return try db.store.write { db in
            let stored = try Self.store(db, transitions)
            for t in stored where !sinks.isEmpty {
                let event: String
                switch t {
                case .raised: event = "raised"
                case .cleared: event = "cleared"
                case .changed: continue
                }
                try NotificationRepository.enqueue(db, alarm: t.alarm.id, event: event, sinks: sinks, payload: payload(t.alarm, event), at: now)
            }
            return stored
        }
    }

    private static func store(_ db: SQLConnection, _ transitions: [AlarmTransition]) throws -> [AlarmTransition] {
        try transitions.map { t in
            var a = t.alarm
            switch t {
            case .raised:
                try db.execute(sql: """
                    INSERT INTO alarms (subject, kind, severity, device_id, device_class, village_id, commune_id, members, detail,
                                        since, raised_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [a.key.subject, a.kind.rawValue, a.severity.rawValue, a.deviceID, a.deviceClass?.rawValue,
                                     a.villageID, a.communeID, JSONText.encode(a.members), a.detail, a.since.millis, a.raisedAt.millis])
                a.id = try db.lastInsertedRowID
                return .raised(a)
            case .changed:
                try db.execute(sql: "UPDATE alarms SET members = ?, detail = ? WHERE subject = ? AND kind = ? AND cleared_at IS NULL",
                               arguments: [JSONText.encode(a.members), a.detail, a.key.subject, a.kind.rawValue])
                a.id = try Int64.fetchOne(db, sql: "SELECT id FROM alarms WHERE subject = ? AND kind = ? AND cleared_at IS NULL",
                                          arguments: [a.key.subject, a.kind.rawValue])
                return .changed(a)
            case .cleared:
                a.id = try Int64.fetchOne(db, sql: "SELECT id FROM alarms WHERE subject = ? AND kind = ? AND cleared_at IS NULL",
                                          arguments: [a.key.subject, a.kind.rawValue])
                try db.execute(sql: "UPDATE alarms SET cleared_at = ?, clear_reason = ?, members = ?, detail = ? WHERE id = ?",
                               arguments: [a.clearedAt?.millis, a.clearReason, JSONText.encode(a.members), a.detail, a.id])
                if let id = a.id, let stored = try Self.get(db, id) {
                    a.ackedBy = stored.ackedBy
                    a.ackedAt = stored.ackedAt
                }
                return .cleared(a)
            }
        }
    }

    /// Records who acknowledged an open alarm.
    public func acknowledge(_ id: Int64, by user: String, at: Date, note: String?) throws -> Alarm {
        try db.store.write { db in
            guard let a = try Self.get(db, id) else { throw AlarmStoreError.notFound(id) }
            if a.clearedAt != nil { throw AlarmStoreError.alreadyCleared(id) }
            if let by = a.ackedBy { throw AlarmStoreError.alreadyAcknowledged(id, by: by) }
            try db.execute(sql: "UPDATE alarms SET acked_by = ?, acked_at = ?, ack_note = ? WHERE id = ?",
                           arguments: [user, at.millis, note?.nfc, id])
            return try Self.get(db, id)!
        }
    }

    public func markReminded(_ id: Int64, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: "UPDATE alarms SET last_reminded_at = ?, reminders = reminders + 1 WHERE id = ?", arguments: [at.millis, id])
        }
    }

    public func get(_ id: Int64) throws -> Alarm? { try db.store.read { try Self.get($0, id) } }

    public func open() throws -> [Alarm] {
        try db.store.read { try SQLRow.fetchAll($0, sql: "SELECT * FROM alarms WHERE cleared_at IS NULL ORDER BY id").map(Self.alarm) }
    }

    /// Alarms raised within `window`, summed per severity, kind and commune by the database. Only
    /// acknowledgements and clears inside the window count, so a kept report never changes.
    public struct Totals: Sendable, Hashable {
        public var severity: AlarmSeverity
        public var kind: AlarmKind
        public var commune: String?
        public var raised: Int
        public var acknowledged: Int
        public var ackSeconds: Double
        public var cleared: Int
        public var clearSeconds: Double
    }

    public func totals(raisedIn window: DateInterval) throws -> [Totals] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT severity, kind, commune_id, count(*),
                       coalesce(sum(CASE WHEN acked_at < :end THEN 1 ELSE 0 END), 0),
                       coalesce(sum(CASE WHEN acked_at < :end THEN acked_at - raised_at ELSE 0 END), 0),
                       coalesce(sum(CASE WHEN cleared_at < :end THEN 1 ELSE 0 END), 0),
                       -- a clear stamped before the raise (another node's clock) adds no time
                       coalesce(sum(CASE WHEN cleared_at < :end AND cleared_at > raised_at THEN cleared_at - raised_at ELSE 0 END), 0)
                FROM alarms WHERE raised_at >= :start AND raised_at < :end GROUP BY severity, kind, commune_id
                """, arguments: ["start": window.start.millis, "end": window.end.millis]).map { r in
                Totals(severity: AlarmSeverity(rawValue: r[0]) ?? .major, kind: AlarmKind(rawValue: r[1]) ?? .offline, commune: r[2],
                       raised: r[3], acknowledged: r[4], ackSeconds: (r[5] as Double) / 1000, cleared: r[6], clearSeconds: (r[7] as Double) / 1000)
            }
        }
    }

    /// Alarms open at `moment`: raised before it and not cleared by then.
    public func open(at moment: Date) throws -> [Alarm] {
        try db.store.read {
            // Two index lookups (still open, cleared later) instead of a scan of every alarm ever raised.
            try SQLRow.fetchAll($0, sql: """
                SELECT * FROM alarms WHERE cleared_at IS NULL AND raised_at < :t
                UNION ALL SELECT * FROM alarms WHERE cleared_at >= :t AND raised_at < :t ORDER BY id
                """, arguments: ["t": moment.millis]).map(Self.alarm)
        }
    }

    /// Newest first; `status` nil: all; `communes`: only alarms of these communes (nil: all).
    public func list(status: AlarmStatus? = nil, open: Bool = false, communes: Set<String>? = nil, limit: Int = 200) throws -> [Alarm] {
        var conditions: [String] = []
        switch status {
        case nil: break
        case .active?: conditions.append("cleared_at IS NULL AND acked_at IS NULL")
        case .acknowledged?: conditions.append("cleared_at IS NULL AND acked_at IS NOT NULL")
        case .cleared?: conditions.append("cleared_at IS NOT NULL")
        }
        if open { conditions.append("cleared_at IS NULL") }
        var arguments: [any SQLValueConvertible] = []
        if let communes {
            conditions.append(SQLDialect.isIn("commune_id", count: communes.count))
            arguments += communes.sorted() as [any SQLValueConvertible]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments.append(limit)
        return try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM alarms \(filter) ORDER BY id DESC LIMIT ?", arguments: SQLArguments(arguments)).map(Self.alarm)
        }
    }

    static func get(_ db: SQLConnection, _ id: Int64) throws -> Alarm? {
        try SQLRow.fetchOne(db, sql: "SELECT * FROM alarms WHERE id = ?", arguments: [id]).map(alarm)
    }

    static func alarm(_ r: SQLRow) -> Alarm {
        Alarm(id: r["id"], kind: AlarmKind(rawValue: r["kind"]) ?? .offline, severity: AlarmSeverity(rawValue: r["severity"]) ?? .major,
              deviceID: r["device_id"], deviceClass: (r["device_class"] as String?).flatMap(DeviceClass.init(rawValue:)),
              villageID: r["village_id"], communeID: r["commune_id"], members: JSONText.decode([String].self, r["members"]) ?? [],
              detail: r["detail"], since: Date(millis: r["since"]), raisedAt: Date(millis: r["raised_at"]), ackedBy: r["acked_by"],
              ackedAt: (r["acked_at"] as Int64?).map(Date.init(millis:)), ackNote: r["ack_note"],
              clearedAt: (r["cleared_at"] as Int64?).map(Date.init(millis:)), clearReason: r["clear_reason"],
              lastRemindedAt: (r["last_reminded_at"] as Int64?).map(Date.init(millis:)), reminders: r["reminders"])
    }
}

/// Operator settings stored as JSON documents.
public struct SettingsRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public static let alarmRules = "alarm_rules"
    public static let kpi = "kpi"

    public func get<T: Decodable>(_ key: String, as type: T.Type) throws -> T? {
        try db.store.read { JSONText.decode(T.self, try String.fetchOne($0, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key])) }
    }

    public func set(_ key: String, _ value: some Encodable, by user: String, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: """
                INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at
                """, arguments: [key, JSONText.encode(value), user, at.millis])
        }
    }

    public func alarmRules() throws -> AlarmRules {
        // Stored rules override the defaults one by one, so new defaults still apply.
        var rules = AlarmRules.defaults
        for r in try get(Self.alarmRules, as: [AlarmRule].self) ?? [] { try? rules.set(r) }
        return rules
    }

    public func kpiSettings() throws -> KPISettings { try get(Self.kpi, as: KPISettings.self) ?? KPISettings() }
}

/// One notification waiting to go, or gone.
public struct NotificationRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var alarmID: Int64?
    public var event: String
    public var sink: String
    public var payload: String
    public var createdAt: Date
    public var attempts: Int
    public var nextAttemptAt: Date
    public var deliveredAt: Date?
    public var gaveUpAt: Date?
    public var lastError: String?

    public var status: String { deliveredAt != nil ? "delivered" : gaveUpAt != nil ? "failed" : attempts > 0 ? "retrying" : "queued" }
}

/// The notifications outbox.
public struct NotificationRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public func enqueue(alarm: Int64?, event: String, sinks: [String], payload: String, at: Date) throws {
        guard !sinks.isEmpty else { return }
        try db.store.write { try Self.enqueue($0, alarm: alarm, event: event, sinks: sinks, payload: payload, at: at) }
    }

    static func enqueue(_ db: SQLConnection, alarm: Int64?, event: String, sinks: [String], payload: String, at: Date) throws {
        for s in sinks {
            try db.execute(sql: "INSERT INTO notifications (alarm_id, event, sink, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [alarm, event, s, payload, at.millis, at.millis])
        }
    }

    public func due(at now: Date, limit: Int = 100) throws -> [NotificationRecord] {
        try db.store.read {
            try SQLRow.fetchAll($0, sql: """
                SELECT * FROM notifications WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?
                ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [now.millis, limit]).map(Self.record)
        }
    }

    public func delivered(_ id: Int64, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: "UPDATE notifications SET attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?",
                           arguments: [at.millis, id])
        }
    }

    /// A failed attempt: retried at `retryAt`, or given up when nil.
    public func failed(_ id: Int64, at: Date, error: String, retryAt: Date?) throws {
        try db.store.write {
            try $0.execute(sql: """
                UPDATE notifications SET attempts = attempts + 1, last_error = ?, next_attempt_at = coalesce(?, next_attempt_at),
                       gave_up_at = ?
                WHERE id = ?
                """, arguments: [String(error.prefix(500)), retryAt?.millis, retryAt == nil ? at.millis : nil, id])
        }
    }

    /// `communes`: only notifications of alarms in these communes (nil: all).
    static func scope(_ communes: Set<String>?) -> (sql: String, arguments: [any SQLValueConvertible]) {
        guard let communes else { return ("1 = 1", []) }  // PostgreSQL refuses `WHERE 1`: not a boolean
        return ("alarm_id IN (SELECT id FROM alarms WHERE \(SQLDialect.isIn("commune_id", count: communes.count)))", communes.sorted())
    }

    public func list(limit: Int = 50, undeliveredOnly: Bool = false, communes: Set<String>? = nil) throws -> [NotificationRecord] {
        let (scope, arguments) = Self.scope(communes)
        return try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM notifications WHERE \(scope) \(undeliveredOnly ? "AND delivered_at IS NULL" : "") ORDER BY id DESC LIMIT ?",
                             arguments: SQLArguments(arguments + [limit])).map(Self.record)
        }
    }

    public func counts(communes: Set<String>? = nil) throws -> [String: Int] {
        let (scope, arguments) = Self.scope(communes)
        return try db.store.read { db in
            var out: [String: Int] = [:]
            for r in try SQLRow.fetchAll(db, sql: """
                SELECT CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN gave_up_at IS NOT NULL THEN 'failed'
                            WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END AS s, count(*) AS n
                FROM notifications WHERE \(scope) GROUP BY s
                """, arguments: SQLArguments(arguments)) { out[r["s"]] = r["n"] }
            return out
        }
    }

    static func record(_ r: SQLRow) -> NotificationRecord {
        NotificationRecord(id: r["id"], alarmID: r["alarm_id"], event: r["event"], sink: r["sink"], payload: r["payload"],
                           createdAt: Date(millis: r["created_at"]), attempts: r["attempts"], nextAttemptAt: Date(millis: r["next_attempt_at"]),
                           deliveredAt: (r["delivered_at"] as Int64?).map(Date.init(millis:)),
                           gaveUpAt: (r["gave_up_at"] as Int64?).map(Date.init(millis:)), lastError: r["last_error"])
    }
}

/// Monthly reports as generated.
public struct ReportRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public struct Stored: Sendable, Hashable, Codable {
        public var month: String
        public var scope: String
        public var format: String
        public var lang: String
        public var size: Int
        public var generatedAt: Date
        public var generatedBy: String
    }

    public func save(month: String, scope: String, format: String, lang: String, body: Data, at: Date, by: String) throws {
        try db.store.write {
            try $0.execute(sql: """
                INSERT INTO monthly_reports (month, scope, format, lang, body, generated_at, generated_by)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (month, scope, format, lang) DO UPDATE SET body = excluded.body, generated_at = excluded.generated_at,
                    generated_by = excluded.generated_by
                """, arguments: [month, scope, format, lang, body, at.millis, by])
        }
    }

    public func body(month: String, scope: String, format: String, lang: String) throws -> Data? {
        try db.store.read {
            try Data.fetchOne($0, sql: "SELECT body FROM monthly_reports WHERE month = ? AND scope = ? AND format = ? AND lang = ?",
                              arguments: [month, scope, format, lang])
        }
    }

    public func has(month: String, scope: String) throws -> Bool {
        try db.store.read {
            try Bool.fetchOne($0, sql: "SELECT EXISTS (SELECT 1 FROM monthly_reports WHERE month = ? AND scope = ?)", arguments: [month, scope]) ?? false
        }
    }

    public func list() throws -> [Stored] {
        try db.store.read {
            try SQLRow.fetchAll($0, sql: """
                SELECT month, scope, format, lang, length(body) AS size, generated_at, generated_by FROM monthly_reports
                ORDER BY month DESC, scope, format, lang
                """).map {
                Stored(month: $0["month"], scope: $0["scope"], format: $0["format"], lang: $0["lang"], size: $0["size"],
                       generatedAt: Date(millis: $0["generated_at"]), generatedBy: $0["generated_by"])
            }
        }
    }
}

/// What the KPIs read beyond health: playback tallies and item targets.
public struct KPIQueries: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Per item and speaker: occurrences scheduled, started and interrupted within [from, to);
    /// played counts the started ones that were not interrupted.
    public func playbackTallies(_ window: DateInterval) throws -> [PlaybackTally] {
        try db.store.read { db in
            var tallies: [String: [String: PlaybackTally]] = [:]
            var rows = try SQLRow.fetchCursor(db, sql: """
                SELECT item_id, speaker_id, event, count(*) FROM playback_log
                WHERE event IN ('scheduled', 'started', 'interrupted') AND scheduled_start >= ? AND scheduled_start < ?
                GROUP BY item_id, speaker_id, event
                """, arguments: [window.start.millis, window.end.millis])
            while let r = rows.next() {
                let item: String = r[0], speaker: String = r[1], event: String = r[2], n: Int = r[3]
                var t = tallies[item]?[speaker] ?? PlaybackTally(item: item, speaker: speaker, targeted: 0, played: 0)
                switch event {
                case "scheduled": t.targeted += n
                case "started": t.played += n
                default: t.interrupted += n
                }
                tallies[item, default: [:]][speaker] = t
            }
            // A play started without a "scheduled" line (the controller was down) was still targeted.
            return tallies.values.flatMap(\.values).map { t in
                var t = t
                t.targeted = max(t.targeted, t.played)
                t.played = max(0, t.played - t.interrupted)  // an interrupted play is not a completed one
                return t
            }
        }
    }

    /// Distinct scheduled occurrences per item within the window.
    public func occurrences(_ window: DateInterval) throws -> [String: Int] {
        try db.store.read { db in
            var out: [String: Int] = [:]
            for r in try SQLRow.fetchAll(db, sql: """
                SELECT item_id, count(DISTINCT scheduled_start) AS n FROM playback_log
                WHERE event = 'scheduled' AND scheduled_start >= ? AND scheduled_start < ? GROUP BY item_id
                """, arguments: [window.start.millis, window.end.millis]) { out[r["item_id"]] = r["n"] }
            return out
        }
    }

    public func itemTargets(_ ids: Set<String>) throws -> [String: BroadcastTarget] {
        try db.store.read { db in
            var out: [String: BroadcastTarget] = [:]
            var targets = JSONText.Memo<BroadcastTarget>()
            for r in try SQLRow.fetchAll(db, sql: "SELECT id, target FROM broadcast_items") where ids.contains(r["id"] as String) {
                if let t = targets.decode(r["target"]) { out[r["id"]] = t }
            }
            return out
        }
    }
}
