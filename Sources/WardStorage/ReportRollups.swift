import Foundation
import WardDomain

/// v19: what the monthly report reads, rolled up per local month (Asia/Ho_Chi_Minh) as data arrives.
///
/// - `uptime_months`: per device, milliseconds of *closed* state intervals in each state (and the
///   two "working" spans), clipped to the month; the earliest and latest clipped instant (a device
///   whose reporting window is narrower than what its roll-up holds is computed from raw intervals);
///   the closed interval holding the month's last millisecond (its state at the month's end).
///   Open intervals are added live by the reader.
/// - `playback_months`: per item and speaker, playback lines by the month of their scheduled start.
/// - `playback_occurrences`: distinct scheduled occurrences of each item.
/// - `kiosk_months`: per kiosk, tickets issued, served (and every wait, `;`-separated), ratings by
///   level, by the month the event occurred.
/// - `report_rollup_months`: months whose roll-ups are complete. A month is built once from the raw
///   tables (`ReportRollups.build`), after which every write keeps it exact.
///
/// Monthly rows, not daily ones: a province's month is 20,000 devices × 30 days = 600,000 daily rows,
/// which took over a second merely to sum on the reference machine; monthly rows are 20,000.
enum ReportRollupSchema {
    static let v19 = SharedMigration("v19: monthly report roll-ups (uptime, playback, occurrences, kiosks)", both: """
        CREATE TABLE report_rollup_months (
            month BIGINT PRIMARY KEY,
            built_at BIGINT NOT NULL
        );
        CREATE TABLE uptime_months (
            month BIGINT NOT NULL,
            device_id TEXT NOT NULL,
            ok_ms BIGINT NOT NULL,
            degraded_ms BIGINT NOT NULL,
            offline_ms BIGINT NOT NULL,
            unknown_ms BIGINT NOT NULL,
            online_recording_ms BIGINT NOT NULL,
            online_uplink_ms BIGINT NOT NULL,
            first_ms BIGINT NOT NULL,
            last_ms BIGINT NOT NULL,
            end_started BIGINT,
            end_id BIGINT,
            end_state TEXT,
            PRIMARY KEY (month, device_id)
        );
        CREATE TABLE playback_months (
            month BIGINT NOT NULL,
            item_id TEXT NOT NULL,
            speaker_id TEXT NOT NULL,
            scheduled BIGINT NOT NULL,
            started BIGINT NOT NULL,
            interrupted BIGINT NOT NULL,
            PRIMARY KEY (month, item_id, speaker_id)
        );
        CREATE TABLE playback_occurrences (
            item_id TEXT NOT NULL,
            scheduled_start BIGINT NOT NULL,
            PRIMARY KEY (item_id, scheduled_start)
        );
        CREATE INDEX playback_occurrences_start ON playback_occurrences (scheduled_start);
        CREATE TABLE kiosk_months (
            month BIGINT NOT NULL,
            device_id TEXT NOT NULL,
            issued BIGINT NOT NULL,
            served BIGINT NOT NULL,
            waits TEXT NOT NULL,
            very_satisfied BIGINT NOT NULL,
            satisfied BIGINT NOT NULL,
            neutral BIGINT NOT NULL,
            dissatisfied BIGINT NOT NULL,
            very_dissatisfied BIGINT NOT NULL,
            PRIMARY KEY (month, device_id)
        );
        -- The state at a current month's end is read from the intervals ending after it.
        CREATE INDEX state_intervals_ended ON state_intervals (ended_at);
        """)
}

/// A device's month in `uptime_months`.
public struct UptimeMonthRow: Sendable {
    public var millis: UptimeMillis
    public var first: Int64
    public var last: Int64
    /// The closed interval holding the month's last millisecond: (started_at, id, state).
    public var end: (started: Int64, id: Int64, state: HealthState)?
}

/// A state interval with its row id (the tie-break of intervals starting together).
public struct NumberedInterval: Sendable, Hashable {
    public var id: Int64
    public var interval: StateInterval
}

/// The maintenance and the reads of the monthly report's roll-ups.
public struct ReportRollups: Sendable {
    static let calendar = LocalCalendar.vietnam
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    static let ratingColumns: [(SatisfactionLevel, String)] = SatisfactionLevel.allCases.map { ($0, $0.rawValue) }

    /// The local month holding `ms`, as [start, end) in ms.
    static func month(containing ms: Int64) -> (start: Int64, end: Int64) {
        let date = Date(millis: ms)
        let m = calendar.month(named: String(calendar.dayKey(date).prefix(7)))!
        return (m.start.millis, m.end.millis)
    }

    // MARK: maintenance, inside the writers' transactions

    /// Closes a device's open interval(s) at `at` and adds them to the roll-ups (what
    /// `UPDATE state_intervals SET ended_at = ? … WHERE ended_at IS NULL` did alone before).
    public static func closeOpenIntervals(_ db: SQLConnection, device: String, at: Int64) throws {
        let open = try SQLRow.fetchAll(db, sql: "SELECT id, state, faults, started_at FROM state_intervals WHERE device_id = ? AND ended_at IS NULL",
                                       arguments: [device])
        try db.execute(sql: "UPDATE state_intervals SET ended_at = ? WHERE device_id = ? AND ended_at IS NULL", arguments: [at, device])
        for r in open {
            try addClosed(db, device: device, id: r["id"], state: r["state"], faults: r["faults"], start: r["started_at"], end: at)
        }
    }

    /// One closed interval's contribution to one month, or nil when it has none there.
    static func contribution(id: Int64, state: String, faults: [Fault], start: Int64, end: Int64, month: (start: Int64, end: Int64))
        -> (millis: UptimeMillis, first: Int64, last: Int64, end: (Int64, Int64, String)?)?
    {
        let d = UptimeMillis.clipped(start: start, end: end, lower: month.start, upper: month.end)
        guard d > 0 else { return nil }
        var m = UptimeMillis()
        m.add(HealthState(rawValue: state) ?? .unknown, faults: faults, d)
        let at = month.end - 1
        return (m, max(start, month.start), min(end, month.end), start <= at && end > at ? (start, id, state) : nil)
    }

    static func addClosed(_ db: SQLConnection, device: String, id: Int64, state: String, faults: String, start: Int64, end: Int64) throws {
        guard end > start else { return }
        let decoded = JSONText.decode([Fault].self, faults) ?? []
        var month = Self.month(containing: start)
        while month.start < end {
            if let c = contribution(id: id, state: state, faults: decoded, start: start, end: end, month: month) {
                try upsertUptime(db, month: month.start, device: device, c)
            }
            month = Self.month(containing: month.end)
        }
    }

    static func upsertUptime(_ db: SQLConnection, month: Int64, device: String,
                             _ c: (millis: UptimeMillis, first: Int64, last: Int64, end: (Int64, Int64, String)?)) throws {
        let m = c.millis
        let newer = """
            excluded.end_started IS NOT NULL AND (uptime_months.end_started IS NULL OR excluded.end_started > uptime_months.end_started
              OR (excluded.end_started = uptime_months.end_started AND excluded.end_id > uptime_months.end_id))
            """
        try db.execute(sql: """
            INSERT INTO uptime_months (month, device_id, ok_ms, degraded_ms, offline_ms, unknown_ms, online_recording_ms, online_uplink_ms,
                first_ms, last_ms, end_started, end_id, end_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (month, device_id) DO UPDATE SET ok_ms = uptime_months.ok_ms + excluded.ok_ms,
                degraded_ms = uptime_months.degraded_ms + excluded.degraded_ms, offline_ms = uptime_months.offline_ms + excluded.offline_ms,
                unknown_ms = uptime_months.unknown_ms + excluded.unknown_ms,
                online_recording_ms = uptime_months.online_recording_ms + excluded.online_recording_ms,
                online_uplink_ms = uptime_months.online_uplink_ms + excluded.online_uplink_ms,
                first_ms = \(db.dialect.least("uptime_months.first_ms", "excluded.first_ms")),
                last_ms = \(db.dialect.greatest("uptime_months.last_ms", "excluded.last_ms")),
                end_started = CASE WHEN \(newer) THEN excluded.end_started ELSE uptime_months.end_started END,
                end_id = CASE WHEN \(newer) THEN excluded.end_id ELSE uptime_months.end_id END,
                end_state = CASE WHEN \(newer) THEN excluded.end_state ELSE uptime_months.end_state END
            """, arguments: [month, device, m.ok, m.degraded, m.offline, m.unknown, m.onlineRecording, m.onlineUplink, c.first, c.last,
                             c.end?.0, c.end?.1, c.end?.2])
    }

    /// Playback lines just logged (not those ignored as already there), in a few statements.
    static func addPlayback(_ db: SQLConnection, _ lines: [(item: String, start: Int64, speaker: String, event: String)]) throws {
        struct Key: Hashable { var month: Int64, item: String, speaker: String }
        var counts: [Key: (scheduled: Int64, started: Int64, interrupted: Int64)] = [:]
        var order: [Key] = []
        var occurrences: [PlayOccurrence] = []
        var seenOccurrences = Set<PlayOccurrence>()
        var months: [Int64: Int64] = [:]  // a batch's lines mostly share their start
        for l in lines {
            var delta: (scheduled: Int64, started: Int64, interrupted: Int64) = (0, 0, 0)
            switch l.event {
            case "scheduled": delta.scheduled = 1
            case "started": delta.started = 1
            case "interrupted": delta.interrupted = 1
            default: continue
            }
            let month: Int64
            if let m = months[l.start] { month = m } else { month = self.month(containing: l.start).start; months[l.start] = month }
            let key = Key(month: month, item: l.item, speaker: l.speaker)
            if let c = counts[key] {
                counts[key] = (c.scheduled + delta.scheduled, c.started + delta.started, c.interrupted + delta.interrupted)
            } else {
                counts[key] = delta
                order.append(key)
            }
            if delta.scheduled > 0, seenOccurrences.insert(PlayOccurrence(item: l.item, start: l.start)).inserted {
                occurrences.append(PlayOccurrence(item: l.item, start: l.start))
            }
        }
        // One row per key in a statement: PostgreSQL refuses to update a row twice in one upsert.
        try db.insertMany("INSERT INTO playback_months (month, item_id, speaker_id, scheduled, started, interrupted)", columns: 6,
                          rows: order.map { k in
                              let c = counts[k]!
                              return [.int(k.month), .text(k.item), .text(k.speaker), .int(c.scheduled), .int(c.started), .int(c.interrupted)]
                          }, tail: """
                          ON CONFLICT (month, item_id, speaker_id) DO UPDATE SET scheduled = playback_months.scheduled + excluded.scheduled,
                              started = playback_months.started + excluded.started, interrupted = playback_months.interrupted + excluded.interrupted
                          """)
        try db.insertMany("INSERT INTO playback_occurrences (item_id, scheduled_start)", columns: 2,
                          rows: occurrences.map { [.text($0.item), .int($0.start)] }, tail: "ON CONFLICT DO NOTHING")
    }

    private struct PlayOccurrence: Hashable { var item: String, start: Int64 }

    static let kioskTypes: Set<String> = ["ticket_issued", "ticket_served", "rating_submitted"]

    /// The kiosk activity among `events` that an `INSERT OR IGNORE` will add: not stored yet, and
    /// the first of its (device, boot, seq) in the batch. Call before inserting them.
    static func newKioskActivity(_ db: SQLConnection, _ events: [EventRecord]) throws -> [EventRecord] {
        var seen = Set<String>()
        var out: [EventRecord] = []
        let exists = try db.cachedStatement(sql: "SELECT 1 FROM device_events WHERE device_id = ? AND boot = ? AND seq = ?")
        for e in events {
            let key = "\(e.deviceID)\u{0}\(e.boot)\u{0}\(e.seq)"
            guard seen.insert(key).inserted else { continue }  // a later duplicate in the batch is ignored by the insert
            guard kioskTypes.contains(e.type) else { continue }
            if try Bool.fetchOne(exists, arguments: [e.deviceID, e.boot, Int64(bitPattern: e.seq)]) == true { continue }
            out.append(e)
        }
        return out
    }

    /// Adds kiosk activity just stored (from `newKioskActivity`).
    static func addKioskActivity(_ db: SQLConnection, _ events: [EventRecord]) throws {
        for e in events {
            var row = KioskTotals()
            switch e.type {
            case "ticket_issued": row.issued = 1
            case "ticket_served": row.waits = [e.waitSeconds ?? 0]
            default:
                guard let level = e.rating else { continue }
                row.ratings[level] = 1
            }
            try upsertKiosk(db, month: month(containing: e.occurredAt.millis).start, device: e.deviceID, row)
        }
    }

    static func encodeWaits(_ waits: [Double]) -> String { waits.map { ";\($0)" }.joined() }
    static func decodeWaits(_ text: String, into out: inout [Double]) {
        // strtod over the C string (the C locale's '.' as Swift writes it): a month of a province's
        // waits is hundreds of thousands of numbers, and splitting into substrings first cost more
        // than the rest of the kiosk figures.
        let semi = CChar(bitPattern: UInt8(ascii: ";"))
        text.withCString { start in
            var p = start
            while p.pointee != 0 {
                if p.pointee == semi { p += 1; continue }
                var end: UnsafeMutablePointer<CChar>?
                let d = strtod(p, &end)
                guard var end, end != UnsafeMutablePointer(mutating: p) else {
                    // Not a number: skip to the next separator, as the old parser dropped it.
                    while p.pointee != 0 && p.pointee != semi { p += 1 }
                    continue
                }
                if end.pointee == 0 || end.pointee == semi { out.append(d) } else {
                    while end.pointee != 0 && end.pointee != semi { end += 1 }  // "12abc": dropped, as Double("12abc")
                }
                p = UnsafePointer(end)
            }
        }
    }

    static func upsertKiosk(_ db: SQLConnection, month: Int64, device: String, _ t: KioskTotals) throws {
        let ratings = ratingColumns.map { t.ratings[$0.0] ?? 0 }
        try db.execute(sql: """
            INSERT INTO kiosk_months (month, device_id, issued, served, waits, \(ratingColumns.map(\.1).joined(separator: ", ")))
            VALUES (?, ?, ?, ?, ?, \(Array(repeating: "?", count: ratingColumns.count).joined(separator: ", ")))
            ON CONFLICT (month, device_id) DO UPDATE SET issued = kiosk_months.issued + excluded.issued,
                served = kiosk_months.served + excluded.served, waits = kiosk_months.waits || excluded.waits,
                \(ratingColumns.map { "\($0.1) = kiosk_months.\($0.1) + excluded.\($0.1)" }.joined(separator: ", "))
            """, arguments: SQLArguments([month, device, t.issued, t.waits.count, encodeWaits(t.waits)] as [any SQLValueConvertible] + ratings))
    }

    // MARK: building a month from the raw tables

    /// Whether `month` (a local month) has complete roll-ups.
    public func isBuilt(month: DateInterval) throws -> Bool {
        try db.store.read { try Int64.fetchOne($0, sql: "SELECT month FROM report_rollup_months WHERE month = ?", arguments: [month.start.millis]) != nil }
    }

    /// Builds a month's roll-ups from the raw tables unless they are complete already; from then on
    /// every write keeps them. Returns whether it built. The raw tables are held still meanwhile
    /// (SQLite: the write transaction; PostgreSQL: share locks, taken in the writers' order).
    @discardableResult
    public func build(month: DateInterval, now: Date = Date()) throws -> Bool {
        if try isBuilt(month: month) { return false }
        return try db.store.write { db in
            if db.dialect == .postgres {
                try db.execute(sql: "LOCK TABLE playback_log, state_intervals, device_events IN SHARE MODE")
            }
            let start = month.start.millis, end = month.end.millis
            if try Int64.fetchOne(db, sql: "SELECT month FROM report_rollup_months WHERE month = ?", arguments: [start]) != nil { return false }
            for table in ["uptime_months", "playback_months", "kiosk_months"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE month = ?", arguments: [start])
            }
            try db.execute(sql: "DELETE FROM playback_occurrences WHERE scheduled_start >= ? AND scheduled_start < ?", arguments: [start, end])

            // Closed intervals overlapping the month, per device.
            struct Acc { var m = UptimeMillis(); var first = Int64.max; var last = Int64.min; var end: (Int64, Int64, String)? }
            var acc: [String: Acc] = [:]
            var faultCache: [String: [Fault]] = ["[]": []]
            var rows = try SQLRow.fetchCursor(db, sql: """
                SELECT id, device_id, state, faults, started_at, ended_at FROM state_intervals
                WHERE ended_at IS NOT NULL AND ended_at > ? AND started_at < ?
                """, arguments: [start, end])
            while let r = rows.next() {
                let text: String = r[3]
                let faults: [Fault]
                if let f = faultCache[text] { faults = f } else {
                    faults = JSONText.decode([Fault].self, text) ?? []
                    faultCache[text] = faults
                }
                guard let c = Self.contribution(id: r[0], state: r[2], faults: faults, start: r[4], end: r[5], month: (start, end)) else { continue }
                let device: String = r[1]
                var a = acc[device] ?? Acc()
                a.m = a.m + c.millis
                a.first = min(a.first, c.first)
                a.last = max(a.last, c.last)
                if let e = c.end, a.end.map({ (e.0, e.1) > ($0.0, $0.1) }) ?? true { a.end = e }
                acc[device] = a
            }
            try db.insertMany("""
                INSERT INTO uptime_months (month, device_id, ok_ms, degraded_ms, offline_ms, unknown_ms, online_recording_ms, online_uplink_ms,
                    first_ms, last_ms, end_started, end_id, end_state)
                """, columns: 13, rows: acc.map { d, a in
                    [start.sqlValue, d.sqlValue, a.m.ok.sqlValue, a.m.degraded.sqlValue, a.m.offline.sqlValue, a.m.unknown.sqlValue,
                     a.m.onlineRecording.sqlValue, a.m.onlineUplink.sqlValue, a.first.sqlValue, a.last.sqlValue,
                     a.end.map { $0.0 }.sql, a.end.map { $0.1 }.sql, a.end.map { $0.2 }.sql]
                })

            try db.execute(sql: """
                INSERT INTO playback_months (month, item_id, speaker_id, scheduled, started, interrupted)
                SELECT ?, item_id, speaker_id, sum(CASE WHEN event = 'scheduled' THEN 1 ELSE 0 END),
                       sum(CASE WHEN event = 'started' THEN 1 ELSE 0 END), sum(CASE WHEN event = 'interrupted' THEN 1 ELSE 0 END)
                FROM playback_log WHERE event IN ('scheduled', 'started', 'interrupted') AND scheduled_start >= ? AND scheduled_start < ?
                GROUP BY item_id, speaker_id
                """, arguments: [start, start, end])
            try db.execute(sql: """
                INSERT INTO playback_occurrences (item_id, scheduled_start)
                SELECT DISTINCT item_id, scheduled_start FROM playback_log WHERE event = 'scheduled' AND scheduled_start >= ? AND scheduled_start < ?
                """, arguments: [start, end])

            var kiosks: [String: KioskTotals] = [:]
            var events = try SQLRow.fetchCursor(db, sql: """
                SELECT device_id, type, wait_s, rating FROM device_events
                WHERE type IN ('ticket_issued', 'ticket_served', 'rating_submitted') AND occurred_at >= ? AND occurred_at < ?
                """, arguments: [start, end])
            while let r = events.next() {
                let id: String = r[0]
                switch r[1] as String {
                case "ticket_issued": kiosks[id, default: KioskTotals()].issued += 1
                case "ticket_served": kiosks[id, default: KioskTotals()].waits.append(r[2] ?? 0)
                default:
                    if let level = (r[3] as String?).flatMap(SatisfactionLevel.init(rawValue:)) {
                        kiosks[id, default: KioskTotals()].ratings[level, default: 0] += 1
                    }
                }
            }
            for (id, t) in kiosks { try Self.upsertKiosk(db, month: start, device: id, t) }
            try db.execute(sql: "INSERT INTO report_rollup_months (month, built_at) VALUES (?, ?)", arguments: [start, now.millis])
            return true
        }
    }

    // MARK: reads

    /// Every device's row of `month`.
    public func uptime(month: DateInterval) throws -> [String: UptimeMonthRow] {
        try db.store.read { db in
            var out: [String: UptimeMonthRow] = [:]
            var rows = try SQLRow.fetchCursor(db, sql: """
                SELECT device_id, ok_ms, degraded_ms, offline_ms, unknown_ms, online_recording_ms, online_uplink_ms, first_ms, last_ms,
                       end_started, end_id, end_state FROM uptime_months WHERE month = ?
                """, arguments: [month.start.millis])
            while let r = rows.next() {
                let endStarted: Int64? = r[9], endID: Int64? = r[10], endState: String? = r[11]
                out[r[0]] = UptimeMonthRow(
                    millis: UptimeMillis(ok: r[1], degraded: r[2], offline: r[3], unknown: r[4], onlineRecording: r[5], onlineUplink: r[6]),
                    first: r[7], last: r[8],
                    end: endStarted.map { ($0, endID ?? 0, endState.flatMap(HealthState.init(rawValue:)) ?? .unknown) })
            }
            return out
        }
    }

    /// Open intervals (started before `before`), per device, in (start, id) order.
    public func openIntervals(startedBefore before: Date) throws -> [String: [NumberedInterval]] {
        try intervals(sql: "ended_at IS NULL AND started_at < ?", [before.millis])
    }

    /// Closed intervals holding the instant `at` (to the millisecond either side; the caller
    /// compares exactly), per device.
    public func closedIntervals(holding at: Date) throws -> [String: [NumberedInterval]] {
        let ms = at.millis
        return try intervals(sql: "ended_at IS NOT NULL AND ended_at >= ? AND started_at <= ?", [ms - 1, ms + 1])
    }

    func intervals(sql condition: String, _ args: [any SQLValueConvertible]) throws -> [String: [NumberedInterval]] {
        try db.store.read { db in
            var out: [String: [NumberedInterval]] = [:]
            var faultCache: [String: [Fault]] = ["[]": []]
            var rows = try SQLRow.fetchCursor(db, sql: """
                SELECT id, device_id, state, faults, started_at, ended_at FROM state_intervals WHERE \(condition) ORDER BY started_at, id
                """, arguments: SQLArguments(args))
            while let r = rows.next() {
                let text: String = r[3]
                let faults: [Fault]
                if let f = faultCache[text] { faults = f } else {
                    faults = JSONText.decode([Fault].self, text) ?? []
                    faultCache[text] = faults
                }
                let end: Int64? = r[5]
                out[r[1], default: []].append(NumberedInterval(id: r[0], interval: StateInterval(
                    state: HealthState(rawValue: r[2]) ?? .unknown, start: Date(millis: r[4]), end: end.map(Date.init(millis:)), faults: faults)))
            }
            return out
        }
    }

    /// Playback per item and speaker of plays scheduled in `month` before `due` (later ones are
    /// not due yet), as `KPIQueries.playbackTallies` gives them.
    public func playbackTallies(month: DateInterval, due: Date) throws -> [PlaybackTally] {
        try db.store.read { db in
            var raw: [String: [String: (s: Int, p: Int, i: Int)]] = [:]
            var rows = try SQLRow.fetchCursor(db, sql: "SELECT item_id, speaker_id, scheduled, started, interrupted FROM playback_months WHERE month = ?",
                                              arguments: [month.start.millis])
            while let r = rows.next() { raw[r[0] as String, default: [:]][r[1] as String] = (r[2], r[3], r[4]) }
            if due < month.end {
                // Lines of plays not due yet: few, and only in the current month.
                for r in try SQLRow.fetchAll(db, sql: """
                    SELECT item_id, speaker_id, event, count(*) FROM playback_log
                    WHERE event IN ('scheduled', 'started', 'interrupted') AND scheduled_start >= ? AND scheduled_start < ?
                    GROUP BY item_id, speaker_id, event
                    """, arguments: [max(due, month.start).millis, month.end.millis]) {
                    let item: String = r[0], speaker: String = r[1], n: Int = r[3]
                    var t = raw[item]?[speaker] ?? (0, 0, 0)
                    switch r[2] as String {
                    case "scheduled": t.s -= n
                    case "started": t.p -= n
                    default: t.i -= n
                    }
                    raw[item, default: [:]][speaker] = t
                }
            }
            return raw.flatMap { item, speakers in
                speakers.compactMap { speaker, t -> PlaybackTally? in
                    guard t.s != 0 || t.p != 0 || t.i != 0 else { return nil }
                    // As the raw query: a play started without a "scheduled" line was still targeted;
                    // an interrupted play is not a completed one.
                    return PlaybackTally(item: item, speaker: speaker, targeted: max(t.s, t.p), played: max(0, t.p - t.i), interrupted: t.i)
                }
            }
        }
    }

    /// Distinct scheduled occurrences per item within `window`.
    public func occurrences(_ window: DateInterval) throws -> [String: Int] {
        try db.store.read { db in
            var out: [String: Int] = [:]
            for r in try SQLRow.fetchAll(db, sql: """
                SELECT item_id, count(*) FROM playback_occurrences WHERE scheduled_start >= ? AND scheduled_start < ? GROUP BY item_id
                """, arguments: [window.start.millis, window.end.millis]) { out[r[0]] = r[1] }
            return out
        }
    }

    /// Kiosk activity of `month` that occurred before `before`, for the given kiosks, as
    /// `HealthQueries.kioskTotals` gives it (waits in no particular order).
    public func kioskTotals(devices ids: [String], month: DateInterval, before: Date) throws -> [String: KioskTotals] {
        guard !ids.isEmpty else { return [:] }
        let wanted = Set(ids)
        return try db.store.read { db in
            var out: [String: KioskTotals] = [:]
            let columns = Self.ratingColumns.map(\.1).joined(separator: ", ")
            for r in try SQLRow.fetchAll(db, sql: "SELECT device_id, issued, waits, \(columns) FROM kiosk_months WHERE month = ?",
                                         arguments: [month.start.millis]) {
                let id: String = r[0]
                guard wanted.contains(id) else { continue }
                var t = KioskTotals(issued: r[1])
                Self.decodeWaits(r[2], into: &t.waits)
                for (i, (level, _)) in Self.ratingColumns.enumerated() {
                    let n: Int = r[3 + i]
                    if n > 0 { t.ratings[level] = n }
                }
                out[id] = t
            }
            if before < month.end {
                // Activity dated after now (a kiosk's clock ahead): not counted yet, as the raw query.
                for r in try SQLRow.fetchAll(db, sql: """
                    SELECT device_id, type, wait_s, rating FROM device_events
                    WHERE type IN ('ticket_issued', 'ticket_served', 'rating_submitted') AND occurred_at >= ? AND occurred_at < ?
                    """, arguments: [max(before, month.start).millis, month.end.millis]) {
                    let id: String = r[0]
                    guard wanted.contains(id), var t = out[id] else { continue }
                    switch r[1] as String {
                    case "ticket_issued": t.issued -= 1
                    case "ticket_served":
                        let w: Double = r[2] ?? 0
                        if let i = t.waits.firstIndex(of: w) { t.waits.remove(at: i) }
                    default:
                        if let level = (r[3] as String?).flatMap(SatisfactionLevel.init(rawValue:)) {
                            t.ratings[level, default: 0] -= 1
                            if t.ratings[level] == 0 { t.ratings[level] = nil }
                        }
                    }
                    out[id] = t
                }
            }
            return out.filter { $0.value != KioskTotals() }
        }
    }
}
