import Foundation
import WardDomain

/// v20: SMS contacts (escalation levels per commune) and what each queued SMS covered.
enum SMSSchema {
    static let v20 = SharedMigration("v20: SMS contacts and what each text covered", both: """
        -- People alarms are texted to: level 0 first, then 1, 2, … while an alarm stays unacknowledged.
        -- scope: a commune id, or '*' for every commune (a district or province duty officer).
        CREATE TABLE sms_contacts (
            scope TEXT NOT NULL,
            phone TEXT NOT NULL,
            name TEXT NOT NULL,
            level INTEGER NOT NULL DEFAULT 0,
            added_by TEXT,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (scope, phone)
        );
        -- Each text in the notifications outbox (sink 'sms') with the alarms it told of: the levels
        -- an alarm reached, who was told it cleared, and how many texts a number had this hour.
        CREATE TABLE sms_coverage (
            notification_id BIGINT NOT NULL,
            recipient TEXT NOT NULL,
            alarm_id BIGINT NOT NULL,
            event TEXT NOT NULL,
            level INTEGER NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX sms_coverage_alarm ON sms_coverage (alarm_id);
        CREATE INDEX sms_coverage_recipient ON sms_coverage (recipient, created_at);
        """)
}

/// What the SMS sink delivers: one text to one number (the outbox row's payload).
public struct SMSPayload: Codable, Sendable, Hashable {
    public var to: String
    public var text: String
    public var summary: Bool
    public var alarms: [Int64]
    public init(to: String, text: String, summary: Bool, alarms: [Int64]) {
        self.to = to
        self.text = text
        self.summary = summary
        self.alarms = alarms
    }
}

public struct SMSRepository: Sendable {
    public static let sink = "sms"
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    // MARK: contacts

    public func contacts() throws -> [SMSContact] {
        try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM sms_contacts ORDER BY scope, level, name").compactMap { r in
                let scope: String = r["scope"]
                guard let phone = try? PhoneNumber(r["phone"] as String) else { return nil }
                return SMSContact(phone: phone, name: r["name"], commune: scope == "*" ? nil : scope, level: r["level"])
            }
        }
    }

    /// Adds or changes the contact (one number once per commune).
    public func upsert(_ c: SMSContact, by user: String?, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: """
                INSERT INTO sms_contacts (scope, phone, name, level, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (scope, phone) DO UPDATE SET name = excluded.name, level = excluded.level,
                    added_by = excluded.added_by, added_at = excluded.added_at
                """, arguments: [c.commune ?? "*", c.phone.value, c.name, c.level, user, at.millis])
        }
    }

    @discardableResult
    public func remove(phone: PhoneNumber, commune: String?) throws -> Bool {
        try db.store.write {
            try $0.execute(sql: "DELETE FROM sms_contacts WHERE scope = ? AND phone = ?", arguments: [commune ?? "*", phone.value])
            return $0.changesCount > 0
        }
    }

    // MARK: what was sent

    /// Alarms whose texts are still owed: open ones, and those cleared since `clearedSince` that
    /// someone was texted about.
    public func alarms(clearedSince: Date, communes: Set<String>?) throws -> [Alarm] {
        let open = try AlarmRepository(db).open()
        let cleared = try db.store.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT * FROM alarms WHERE cleared_at >= ? AND id IN (SELECT alarm_id FROM sms_coverage) ORDER BY id
                """, arguments: [clearedSince.millis]).map(AlarmRepository.alarm)
        }
        let all = open + cleared
        guard let communes else { return all }
        return all.filter { $0.communeID.map(communes.contains) ?? false }
    }

    /// The texts that covered these alarms, and every text of the last `recent` seconds.
    public func sent(alarms: [Int64], recentSince: Date) throws -> [SMSSent] {
        try db.store.read { db in
            var rows = try SQLRow.fetchAll(db, sql: "SELECT * FROM sms_coverage WHERE created_at >= ?", arguments: [recentSince.millis])
            for chunk in stride(from: 0, to: alarms.count, by: 500) {
                let ids = Array(alarms[chunk..<min(chunk + 500, alarms.count)])
                rows += try SQLRow.fetchAll(db, sql: "SELECT * FROM sms_coverage WHERE created_at < ? AND \(SQLDialect.isIn("alarm_id", count: ids.count))",
                                            arguments: SQLArguments([recentSince.millis] + ids))
            }
            var byText: [Int64: SMSSent] = [:]
            for r in rows {
                guard let phone = try? PhoneNumber(r["recipient"] as String), let event = SMSEvent(rawValue: r["event"]) else { continue }
                let n: Int64 = r["notification_id"]
                byText[n, default: SMSSent(recipient: phone, at: Date(millis: r["created_at"]), covers: [])]
                    .covers.append(.init(alarmID: r["alarm_id"], event: event, level: r["level"]))
            }
            return byText.keys.sorted().map { byText[$0]! }
        }
    }

    /// Queues the texts in the outbox (sink "sms"), each with what it covers, in one transaction.
    public func enqueue(_ messages: [SMSMessage], at: Date) throws {
        guard !messages.isEmpty else { return }
        try db.store.write { db in
            for m in messages {
                let ids = m.covers.map(\.alarmID)
                let payload = JSONText.encode(SMSPayload(to: m.recipient.value, text: m.text, summary: m.isSummary, alarms: ids))
                let event = m.isSummary ? "sms_summary" : "sms_\(m.covers.first?.event.rawValue ?? "raised")"
                try db.execute(sql: "INSERT INTO notifications (alarm_id, event, sink, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [ids.first, event, Self.sink, payload, at.millis, at.millis])
                let id = try db.lastInsertedRowID
                for c in m.covers {
                    try db.execute(sql: """
                        INSERT INTO sms_coverage (notification_id, recipient, alarm_id, event, level, created_at) VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [id, m.recipient.value, c.alarmID, c.event.rawValue, c.level, at.millis])
                }
            }
        }
    }
}
