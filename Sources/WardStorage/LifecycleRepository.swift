import Foundation
import WardDomain

/// v18: telemetry roll-ups (hourly, daily), the lifecycle's progress marks, and the one delete the
/// append-only logs allow: lines older than the retention cut the lifecycle recorded.
enum LifecycleSchema {
    static let tables = """
        -- Per device and UTC hour (day): {"field":[count,min,max,sum],…} over its samples.
        CREATE TABLE telemetry_hourly (
            device_id TEXT NOT NULL,
            bucket BIGINT NOT NULL,
            samples BIGINT NOT NULL,
            fields TEXT NOT NULL,
            PRIMARY KEY (device_id, bucket)
        )\u{1};
        CREATE TABLE telemetry_daily (
            device_id TEXT NOT NULL,
            bucket BIGINT NOT NULL,
            samples BIGINT NOT NULL,
            fields TEXT NOT NULL,
            PRIMARY KEY (device_id, bucket)
        )\u{1};
        -- Where the lifecycle is: 'rollup.hour' / 'rollup.day' (every bucket before value is rolled
        -- up, and the bucket at value for devices up to device_id); 'cut.<log>' (lines of an
        -- append-only log before value may be deleted: its retention).
        CREATE TABLE lifecycle_marks (
            name TEXT PRIMARY KEY,
            value BIGINT NOT NULL,
            device_id TEXT NOT NULL DEFAULT '',
            updated_at BIGINT NOT NULL
        );
        """

    static let v18 = SharedMigration("v18: telemetry roll-ups, lifecycle marks, retention of the append-only logs",
        sqlite: tables.replacingOccurrences(of: "\u{1}", with: " WITHOUT ROWID") + """
            DROP TRIGGER playback_log_no_delete;
            CREATE TRIGGER playback_log_no_delete BEFORE DELETE ON playback_log
                WHEN OLD.scheduled_start >= coalesce((SELECT value FROM lifecycle_marks WHERE name = 'cut.playback_log'), -1)
                BEGIN SELECT RAISE(ABORT, 'playback_log is append-only'); END;
            DROP TRIGGER audit_log_no_delete;
            CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                WHEN OLD.at >= coalesce((SELECT value FROM lifecycle_marks WHERE name = 'cut.audit_log'), -1)
                BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
            """,
        postgres: tables.replacingOccurrences(of: "\u{1}", with: "") + """
            CREATE FUNCTION playback_log_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND OLD.scheduled_start <
                    coalesce((SELECT value FROM lifecycle_marks WHERE name = 'cut.playback_log'), -1) THEN RETURN OLD; END IF;
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$;
            CREATE FUNCTION audit_log_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND OLD.at <
                    coalesce((SELECT value FROM lifecycle_marks WHERE name = 'cut.audit_log'), -1) THEN RETURN OLD; END IF;
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$;
            DROP TRIGGER playback_log_append_only ON playback_log;
            CREATE TRIGGER playback_log_append_only BEFORE UPDATE OR DELETE ON playback_log
                FOR EACH ROW EXECUTE FUNCTION playback_log_retention_only();
            DROP TRIGGER audit_log_append_only ON audit_log;
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                FOR EACH ROW EXECUTE FUNCTION audit_log_retention_only();
            """)
}

/// The data lifecycle's storage: roll up completed hours and days in bounded batches (progress kept
/// in `lifecycle_marks`, so a restart resumes where it was), delete what is past its retention in
/// bounded batches, and read charts from roll-ups. Every step is one short write transaction and
/// can be repeated: roll-ups are replaced, never added to, so a batch re-run after a crash between
/// its write and the next is harmless.
public struct LifecycleRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public struct Mark: Sendable, Equatable {
        /// A bucket start (roll-ups) or a cut (logs), Unix ms UTC.
        public var value: Int64
        /// Roll-ups: the last device done in the bucket at `value` ("" none yet).
        public var device: String
        public init(value: Int64, device: String = "") { self.value = value; self.device = device }
    }

    static func markName(_ grain: RollupGrain) -> String { "rollup." + grain.rawValue }

    public func mark(_ name: String) throws -> Mark? { try db.store.read { try Self.mark($0, name) } }
    public func rollupMark(_ grain: RollupGrain) throws -> Mark? { try mark(Self.markName(grain)) }

    static func mark(_ c: SQLConnection, _ name: String) throws -> Mark? {
        try SQLRow.fetchOne(c, sql: "SELECT value, device_id FROM lifecycle_marks WHERE name = ?", arguments: [name])
            .map { Mark(value: $0[0], device: $0[1]) }
    }
    static func setMark(_ c: SQLConnection, _ name: String, _ m: Mark, at now: Date) throws {
        try c.execute(sql: """
            INSERT INTO lifecycle_marks (name, value, device_id, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET value = excluded.value, device_id = excluded.device_id, updated_at = excluded.updated_at
            """, arguments: [name, m.value, m.device, now.millis])
    }

    // MARK: Roll-ups

    /// The source of a grain's roll-up: raw samples for hours, hourly roll-ups for days.
    static func source(_ grain: RollupGrain) -> (table: String, time: String) {
        grain == .hour ? ("telemetry_samples", "received_at") : ("telemetry_hourly", "bucket")
    }
    static func table(_ grain: RollupGrain) -> String { grain == .hour ? "telemetry_hourly" : "telemetry_daily" }

    /// The earliest source time at or after `from` over every device (one index probe per device).
    static func earliest(_ c: SQLConnection, _ grain: RollupGrain, from: Int64) throws -> Int64? {
        let (table, time) = source(grain)
        return try Int64.fetchOne(c, sql: """
            SELECT min(t) FROM (SELECT (SELECT min(s.\(time)) FROM \(table) s WHERE s.device_id = d.id AND s.\(time) >= ?) AS t
                                FROM devices d) AS firsts
            """, arguments: [from])
    }

    /// One batch of the `grain` roll-up: up to `devices` devices of the oldest bucket not rolled up
    /// yet, if that bucket is complete (hours: `settle` after their end by `now`; days: every hour
    /// of them rolled up). Returns the source rows read, or nil when there is nothing to do now.
    @discardableResult
    public func rollUp(_ grain: RollupGrain, now: Date, settle: TimeInterval = 300, devices: Int = 50) throws -> Int? {
        try db.store.write { c in
            let name = Self.markName(grain)
            let complete: Int64
            if grain == .hour {
                complete = now.millis - Int64(settle * 1000)
            } else {
                guard let hours = try Self.mark(c, Self.markName(.hour)) else { return nil }
                complete = hours.value
            }
            let stored = try Self.mark(c, name)
            var m = stored ?? Mark(value: .min)
            if m.device.isEmpty {
                // At a bucket's start: skip the buckets where no device has anything.
                guard let next = try Self.earliest(c, grain, from: m.value == .min ? .min : m.value) else { return nil }
                m.value = max(m.value, grain.bucket(next))
            }
            let end = m.value + grain.milliseconds
            guard end <= complete else {
                if m != stored, m.value != .min { try Self.setMark(c, name, m, at: now) }
                return nil
            }
            let ids = try String.fetchAll(c, sql: "SELECT id FROM devices WHERE id > ? ORDER BY id LIMIT ?", arguments: [m.device, devices])
            var read = 0
            if !ids.isEmpty {
                let (table, time) = Self.source(grain)
                var args = SQLArguments()
                args.values = ids.map(\.sqlValue) + [m.value.sqlValue, end.sqlValue]
                let rows = try SQLRow.fetchAll(c, sql: """
                    SELECT * FROM \(table) WHERE \(SQLDialect.isIn("device_id", count: ids.count)) AND \(time) >= ? AND \(time) < ?
                    """, arguments: args)
                read = rows.count
                let rollups: [TelemetryRollup]
                if grain == .hour {
                    rollups = TelemetryRollup.aggregate(rows.map { r -> (deviceID: String, at: Int64, payload: String) in
                        (r["device_id"], r["received_at"], r["payload"])
                    }, grain: .hour)
                } else {
                    rollups = TelemetryRollup.merge(rows.map(Self.rollup(.hour)), into: .day)
                }
                try Self.store(c, rollups, grain)
            }
            m = ids.count < devices ? Mark(value: end) : Mark(value: m.value, device: ids.last!)
            try Self.setMark(c, name, m, at: now)
            return read
        }
    }

    static func rollup(_ grain: RollupGrain) -> (SQLRow) -> TelemetryRollup {
        { r in
            TelemetryRollup(deviceID: r["device_id"], grain: grain, start: r["bucket"], samples: r["samples"],
                            fields: TelemetryRollup.decodeFields(r["fields"]) ?? [:])
        }
    }

    static func store(_ c: SQLConnection, _ rollups: [TelemetryRollup], _ grain: RollupGrain) throws {
        try c.insertMany("INSERT INTO \(table(grain)) (device_id, bucket, samples, fields)", columns: 4, rows: rollups.map {
            [$0.deviceID.sqlValue, $0.start.sqlValue, $0.samples.sqlValue, $0.encodedFields.sqlValue]
        }, tail: "ON CONFLICT (device_id, bucket) DO UPDATE SET samples = excluded.samples, fields = excluded.fields")
    }

    /// Stored roll-ups of one device in [from, to).
    public func rollups(_ grain: RollupGrain, device: String, from: Int64, to: Int64) throws -> [TelemetryRollup] {
        try db.store.read { c in try Self.rollups(c, grain, device: device, from: from, to: to) }
    }
    static func rollups(_ c: SQLConnection, _ grain: RollupGrain, device: String, from: Int64, to: Int64) throws -> [TelemetryRollup] {
        guard from < to else { return [] }
        return try SQLRow.fetchAll(c, sql: "SELECT * FROM \(table(grain)) WHERE device_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket",
                                   arguments: [device, from, to]).map(rollup(grain))
    }

    // MARK: Charts

    /// One device's telemetry over `window` as chart series: raw samples for short windows, else
    /// roll-ups of the grain the window needs (`TelemetryChartPlan`). Buckets not rolled up yet
    /// (the last hour or day) are made from what lies below them, so the chart reaches `window.end`.
    static let rawLimit = 20_000

    public func series(device: String, window: DateInterval, maxPoints: Int = 400) throws -> [TelemetrySeries] {
        let plan = TelemetryChartPlan.source(forSpan: window.duration)
        let end = window.end.millis
        return try db.store.read { c in
            func raw(from: Int64) throws -> [(deviceID: String, at: Int64, payload: String)] {
                guard from < end else { return [] }
                return try SQLRow.fetchAll(c, sql: """
                    SELECT received_at, payload FROM telemetry_samples WHERE device_id = ? AND received_at >= ? AND received_at < ?
                    """, arguments: [device, from, end]).map { r -> (deviceID: String, at: Int64, payload: String) in (device, r[0], r[1]) }
            }
            switch plan {
            case .raw:
                // The newest `rawLimit` (a device storing every message sends more than a chart needs).
                let samples = try SQLRow.fetchAll(c, sql: """
                    SELECT received_at, payload FROM telemetry_samples WHERE device_id = ? AND received_at >= ? AND received_at < ?
                    ORDER BY received_at DESC LIMIT ?
                    """, arguments: [device, window.start.millis, end, Self.rawLimit]).reversed()
                return TelemetrySeries.build(samples.map { (Date(millis: $0[0]), $0[1]) }, maxPoints: 300)
            case .hour:
                let start = RollupGrain.hour.bucket(window.start.millis)
                let hours = try Self.mark(c, Self.markName(.hour))?.value ?? start
                let rolled = try Self.rollups(c, .hour, device: device, from: start, to: min(end, hours))
                let tail = TelemetryRollup.aggregate(try raw(from: max(start, hours)), grain: .hour)
                return TelemetrySeries.build(rollups: rolled + tail, maxPoints: maxPoints)
            case .day:
                let start = RollupGrain.day.bucket(window.start.millis)
                let days = try Self.mark(c, Self.markName(.day))?.value ?? start
                let hours = max(try Self.mark(c, Self.markName(.hour))?.value ?? start, max(start, days))
                let rolled = try Self.rollups(c, .day, device: device, from: start, to: min(end, days))
                let recentHours = try Self.rollups(c, .hour, device: device, from: max(start, days), to: min(end, hours))
                let tail = TelemetryRollup.aggregate(try raw(from: max(start, hours)), grain: .hour)
                return TelemetrySeries.build(rollups: rolled + TelemetryRollup.merge(recentHours + tail, into: .day), maxPoints: maxPoints)
            }
        }
    }

    // MARK: Retention

    /// What one pruning batch may delete: rows of `table` whose `condition` holds (it starts with
    /// the per-device time test, so the (device_id, time) index finds them).
    public enum PerDevice: Sendable {
        /// Raw samples received before the cut.
        case samples
        /// Hourly roll-ups of hours before the cut.
        case hourly
        /// State intervals that ended at or before the cut: whole intervals only, so each device's
        /// history stays a partition of time from the interval spanning the cut on.
        case stateIntervals

        public var table: String {
            switch self {
            case .samples: "telemetry_samples"
            case .hourly: "telemetry_hourly"
            case .stateIntervals: "state_intervals"
            }
        }
        var key: String { self == .hourly ? "bucket" : "id" }
        var condition: String {
            switch self {
            case .samples: "received_at < :cut"
            case .hourly: "bucket < :cut"
            case .stateIntervals: "started_at < :cut AND ended_at IS NOT NULL AND ended_at <= :cut"
            }
        }
    }

    /// One batch: deletes at most `limit` rows of `kind` before `cut`, device by device from `from`
    /// (inclusive), skipping devices of `keepClasses`. Returns the rows deleted and the device to
    /// continue from (nil: every device has been gone through).
    public func prune(_ kind: PerDevice, before cut: Date, from: String = "", limit: Int = 5000,
                      keepClasses: Set<String> = []) throws -> (deleted: Int, next: String?) {
        try db.store.write { c in
            var classArgs = SQLArguments()
            classArgs.values = [from.sqlValue] + keepClasses.sorted().map(\.sqlValue) + [200.sqlValue]
            let ids = try String.fetchAll(c, sql: """
                SELECT id FROM devices WHERE id >= ? AND NOT (\(SQLDialect.isIn("class", count: keepClasses.count))) ORDER BY id LIMIT ?
                """, arguments: classArgs)
            var deleted = 0
            for id in ids {
                let budget = limit - deleted
                try c.execute(sql: """
                    DELETE FROM \(kind.table) WHERE device_id = :device AND \(kind.key) IN
                        (SELECT \(kind.key) FROM \(kind.table) WHERE device_id = :device AND \(kind.condition) LIMIT :limit)
                    """, arguments: ["device": id, "cut": cut.millis, "limit": budget])
                deleted += c.changesCount
                if c.changesCount >= budget { return (deleted, id) }  // this device may have more
            }
            if ids.count < 200 { return (deleted, nil) }
            return (deleted, ids.last! + "\u{1}")  // the next id after the last one gone through
        }
    }

    /// The logs kept as a whole (not per device).
    public enum Log: String, Sendable, CaseIterable {
        /// Plays whose scheduled start is before the cut (every line of a play goes together).
        case playback = "playback_log"
        /// Alarms cleared before the cut, with their notifications; open alarms stay.
        case alarms
        /// The operators' audit log.
        case audit = "audit_log"
    }

    /// One batch: deletes at most `limit` rows of `log` before `cut`. The append-only logs accept
    /// it because the cut is recorded first (`cut.<table>` in lifecycle_marks, read by their triggers).
    public func prune(_ log: Log, before cut: Date, limit: Int = 5000, now: Date) throws -> Int {
        try db.store.write { c in
            switch log {
            case .playback, .audit:
                try Self.setMark(c, "cut." + log.rawValue, Mark(value: cut.millis), at: now)
                let time = log == .playback ? "scheduled_start" : "at"
                try c.execute(sql: """
                    DELETE FROM \(log.rawValue) WHERE id IN (SELECT id FROM \(log.rawValue) WHERE \(time) < ? ORDER BY \(time) LIMIT ?)
                    """, arguments: [cut.millis, limit])
                return c.changesCount
            case .alarms:
                let ids = try Int64.fetchAll(c, sql: """
                    SELECT id FROM alarms WHERE cleared_at IS NOT NULL AND cleared_at < ? ORDER BY cleared_at LIMIT ?
                    """, arguments: [cut.millis, limit])
                guard !ids.isEmpty else { return 0 }
                try c.execute(sql: "DELETE FROM notifications WHERE \(SQLDialect.isIn("alarm_id", count: ids.count))", arguments: SQLArguments(ids))
                try c.execute(sql: "DELETE FROM alarms WHERE \(SQLDialect.isIn("id", count: ids.count))", arguments: SQLArguments(ids))
                return c.changesCount
            }
        }
    }

    // MARK: Sizes

    /// Rows in each table the lifecycle keeps (for `bench lifecycle` and status lines).
    public func counts() throws -> [String: Int] {
        try db.store.read { c in
            var out: [String: Int] = [:]
            for t in ["telemetry_samples", "telemetry_hourly", "telemetry_daily", "state_intervals", "playback_log", "alarms", "audit_log"] {
                out[t] = try Int.fetchOne(c, sql: "SELECT count(*) FROM \(t)") ?? 0
            }
            return out
        }
    }
}
