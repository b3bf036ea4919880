import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// The data lifecycle's storage on both engines: roll-ups, pruning, evidence retention, charts.
@Suite struct LifecycleTests {
    static let h: Int64 = 3_600_000
    /// The first whole UTC hour after `t0`.
    static let hour0: Int64 = RollupGrain.hour.bucket(t0.millis) + h

    /// A sample a minute for `hours` hours from `hour0` for each device; volume = minute of the hour.
    static func writeSamples(_ db: WardDatabase, devices: [String], hours: Int, from: Int64 = hour0) throws -> [(deviceID: String, at: Int64, payload: String)] {
        var out: [(deviceID: String, at: Int64, payload: String)] = []
        for d in devices {
            for m in 0..<(hours * 60) {
                let at = from + Int64(m) * 60_000 + 1_500
                out.append((d, at, #"{"v":1,"seq":\#(m),"ts":\#(at),"speaker":{"volume":\#(m % 60),"amp_ok":\#(m % 7 != 0),"power":"mains"}}"#))
            }
        }
        try db.store.write { c in
            try c.insertMany("INSERT INTO telemetry_samples (device_id, received_at, device_ts, boot, seq, payload)", columns: 6, rows: out.map {
                [$0.deviceID.sqlValue, $0.at.sqlValue, $0.at.sqlValue, "b".sqlValue, 1.sqlValue, $0.payload.sqlValue]
            })
        }
        return out
    }

    static func all(_ db: WardDatabase, _ grain: RollupGrain) throws -> [TelemetryRollup] {
        try db.store.read { c in
            try SQLRow.fetchAll(c, sql: "SELECT * FROM \(LifecycleRepository.table(grain)) ORDER BY device_id, bucket")
                .map(LifecycleRepository.rollup(grain, try LifecycleRepository.fieldNames(c)))
        }
    }

    /// Runs batches until there is nothing to do; returns how many did work.
    @discardableResult
    static func drain(_ l: LifecycleRepository, _ grain: RollupGrain, now: Date, devices: Int = 1) throws -> Int {
        var n = 0
        while try l.rollUp(grain, now: now, settle: 300, devices: devices) != nil { n += 1; #expect(n < 10_000) }
        return n
    }

    @Test(arguments: Backend.allCases) func rollsUpCompletedHoursAndDaysThenPrunes(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let l = LifecycleRepository(db)
        let samples = try Self.writeSamples(db, devices: ["LOA-01", "KIOSK-01"], hours: 50)
        let end = Self.hour0 + 50 * Self.h
        // Nothing is complete until an hour and its settling time have passed.
        #expect(try l.rollUp(.hour, now: Date(millis: Self.hour0 + Self.h + 299_000)) == nil)
        #expect(try l.rollUp(.day, now: Date(millis: end)) == nil, "no day before its hours")
        let now = Date(millis: end + 300_000)
        let batches = try Self.drain(l, .hour, now: now, devices: 1)
        #expect(batches >= 50 * 2, "one device per batch")
        let expected = TelemetryRollup.aggregate(samples, grain: .hour)
        #expect(try Self.all(db, .hour) == expected)
        #expect(try l.rollupMark(.hour) == .init(value: end))
        #expect(try l.rollUp(.hour, now: now) == nil, "caught up")

        try Self.drain(l, .day, now: now, devices: 2)
        let days = try Self.all(db, .day)
        #expect(days == TelemetryRollup.merge(expected, into: .day).filter { $0.start + 86_400_000 <= end }, "complete days only")
        #expect(days.map(\.samples) == [720, 1440, 720, 1440], "the first day from noon UTC: half a day")

        // Rolled-up hours are packed, one block per device and hour, and read back exactly as written.
        let (rows, blocks) = try db.store.read { c in
            (try Int.fetchOne(c, sql: "SELECT count(*) FROM telemetry_samples") ?? -1,
             try Int.fetchOne(c, sql: "SELECT count(*) FROM telemetry_blocks") ?? -1)
        }
        #expect(rows == 0 && blocks == 2 * 50)
        let loa = try HealthQueries(db).samples(device: "LOA-01", in: DateInterval(start: Date(millis: Self.hour0), end: Date(millis: end)),
                                                limit: 10_000)
        #expect(loa.map { ($0.receivedAt.millis, $0.payload) }.elementsEqual(samples.filter { $0.deviceID == "LOA-01" }.map { ($0.at, $0.payload) },
                                                                               by: ==))
        #expect(try HealthQueries(db).sampleCount() == 2 * 50 * 60)

        // Raw samples before the cut go (whole packed hours), kiosks' stay (their counters feed the monthly report).
        let cut = Date(millis: Self.hour0 + 30 * Self.h + 1_000)
        var deleted = 0
        for kind in [LifecycleRepository.PerDevice.samples, .blocks] {
            var next: String? = ""
            while let from = next {
                let r = try l.prune(kind, before: cut, from: from, limit: 7, keepClasses: ["kiosk"])
                deleted += r.deleted
                next = r.next
            }
        }
        #expect(deleted == 30, "30 hours of LOA-01; the hour the cut falls in stays whole")
        let left = try db.store.read { c in
            try ["KIOSK-01", "LOA-01"].map { d in
                let s = try RawTelemetry.samples(c, device: d, from: .min, to: .max)
                return "\(d) \((s.first?.receivedAt ?? 0) - Self.hour0) \(s.count)"
            }
        }
        #expect(left == ["KIOSK-01 1500 3000", "LOA-01 \(30 * Self.h + 1500) 1200"])
        #expect(try Self.all(db, .hour) == expected, "roll-ups are kept")

        // A year's chart reads the daily roll-ups, and what is not rolled up yet from below them.
        let year = DateInterval(start: Date(millis: end - 366 * 86_400_000), end: Date(millis: end + 1000))
        let series = try l.series(device: "LOA-01", window: year)
        let volume = try #require(series.first { $0.field == "speaker.volume" })
        #expect(series.map(\.field) == ["speaker.amp_ok", "speaker.volume"])
        let firstDay = RollupGrain.day.bucket(Self.hour0)
        #expect(volume.points.first?.at == Date(millis: firstDay))
        #expect(volume.points.last?.at == Date(millis: RollupGrain.day.bucket(end - 1)))
        #expect(volume.points.allSatisfy { $0.min == 0 && $0.max == 59 && abs($0.value - 29.5) < 1e-9 })
        // A month's chart: hourly, every hour there (all 50), the pruned ones from roll-ups.
        let month = DateInterval(start: Date(millis: end - 30 * 86_400_000), end: Date(millis: end + 1000))
        #expect(try l.series(device: "LOA-01", window: month).first { $0.field == "speaker.volume" }?.points.count == 50)
    }

    @Test(arguments: Backend.allCases) func packedHoursAndRowsReadAsOne(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let written = try Self.writeSamples(db, devices: ["LOA-01"], hours: 3)
        let l = LifecycleRepository(db)
        try Self.drain(l, .hour, now: Date(millis: Self.hour0 + 3 * Self.h + 300_000))
        // A sample that arrives for an hour already packed, and one of the current hour: both stay rows.
        let late = Self.hour0 + 30 * 60_000 + 7, current = Self.hour0 + 3 * Self.h + 10_000
        try db.store.write { c in
            for (at, seq) in [(late, 900), (current, 901)] {
                try c.execute(sql: "INSERT INTO telemetry_samples (device_id, received_at, device_ts, boot, seq, payload) VALUES (?, ?, ?, 'b2', ?, ?)",
                              arguments: ["LOA-01", at, at - 5, seq, #"{"speaker":{"volume":\#(seq)}}"#])
            }
        }
        let q = HealthQueries(db)
        #expect(try q.sampleCount() == 3 * 60 + 2)
        let newest = try q.samples(device: "LOA-01", limit: 5)
        #expect(newest.map(\.receivedAt.millis) == [current] + written.suffix(4).reversed().map(\.at), "newest first, across rows and blocks")
        let all = try q.samples(device: "LOA-01", in: DateInterval(start: Date(millis: Self.hour0), end: Date(millis: current + 1)), limit: 10_000)
        #expect(all.count == 182 && all.map(\.receivedAt) == all.map(\.receivedAt).sorted())
        let lateOne = try #require(all.first { $0.seq == 900 })
        #expect(lateOne.boot == "b2" && lateOne.deviceTime.millis == late - 5 && lateOne.payload == #"{"speaker":{"volume":900}}"#)
        // The newest 70 of the first two hours: the second hour whole, the last ten of the first (the late row is older).
        let some = try q.samples(device: "LOA-01", in: DateInterval(start: Date(millis: Self.hour0), end: Date(millis: Self.hour0 + 2 * Self.h)), limit: 70)
        #expect(some.count == 70 && some.first?.receivedAt.millis == written[50].at)
        // A month's chart reads hourly roll-ups, and the current hour from its row.
        let chart = try l.series(device: "LOA-01", window: DateInterval(start: Date(millis: current - 30 * 86_400_000), end: Date(millis: current + 1)))
        #expect(chart.first { $0.field == "speaker.volume" }?.points.count == 4)
    }

    @Test(arguments: Backend.allCases) func aBatchOverlappingAnotherNodesPackingRollsBack(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        _ = try Self.writeSamples(db, devices: ["LOA-01"], hours: 1)
        // Another node packed (deleted) one of the rows this batch read: nothing may be stored twice.
        #expect(throws: RawTelemetry.Overlap.self) {
            try db.store.write { c in
                let rows = try SQLRow.fetchAll(c, sql: "SELECT * FROM telemetry_samples ORDER BY id")
                try c.execute(sql: "DELETE FROM telemetry_samples WHERE id = ?", arguments: [rows[7]["id"] as Int64])
                _ = try RawTelemetry.pack(c, rows, hour: Self.hour0)
            }
        }
        #expect(try HealthQueries(db).sampleCount() == 60, "rolled back: the rows are all there, no block")
        #expect(try db.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM telemetry_blocks") } == 0)
    }

    @Test(arguments: Backend.allCases) func anHourPackedAgainKeepsItsBlockInTheRollup(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let written = try Self.writeSamples(db, devices: ["LOA-01"], hours: 1)
        let l = LifecycleRepository(db)
        let now = Date(millis: Self.hour0 + Self.h + 300_000)
        try Self.drain(l, .hour, now: now)
        // A late reading of the packed hour, and the mark set back by hand: the hour is packed again.
        let late = (deviceID: "LOA-01", at: Self.hour0 + 59 * 60_000 + 30_000, payload: #"{"speaker":{"volume":99}}"#)
        try db.store.write { c in
            try c.execute(sql: "INSERT INTO telemetry_samples (device_id, received_at, device_ts, boot, seq, payload) VALUES (?, ?, ?, 'b', 77, ?)",
                          arguments: [late.deviceID, late.at, late.at, late.payload])
            try LifecycleRepository.setMark(c, "rollup.hour", .init(value: Self.hour0), at: now)
        }
        try Self.drain(l, .hour, now: now)
        #expect(try Self.all(db, .hour) == TelemetryRollup.aggregate(written + [late], grain: .hour), "the block's 60 and the late one")
        let stored = try db.store.read { c in try RawTelemetry.samples(c, device: "LOA-01", from: .min, to: .max) }
        #expect(stored.count == 61 && stored.map(\.receivedAt) == stored.map(\.receivedAt).sorted())
        #expect(try db.store.read { try Int.fetchOne($0, sql: "SELECT samples FROM telemetry_blocks") } == 61)
    }

    @Test(arguments: Backend.allCases) func aBatchRepeatedAfterACrashChangesNothing(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        _ = try Self.writeSamples(db, devices: ["LOA-01", "CAM-01", "KIOSK-01"], hours: 3)
        let now = Date(millis: Self.hour0 + 3 * Self.h + 300_000)
        let l = LifecycleRepository(db)
        #expect(try l.rollUp(.hour, now: now, devices: 2) == 120)
        let after1 = try l.rollupMark(.hour)
        #expect(after1 == .init(value: Self.hour0, device: "KIOSK-01"), "ids in order: CAM-01, KIOSK-01")
        #expect(try l.rollUp(.hour, now: now, devices: 2) == 60)
        let rows = try Self.all(db, .hour)
        // The crash: the second batch's rows are written but its mark is lost; the batch runs again.
        try db.store.write { try LifecycleRepository.setMark($0, "rollup.hour", after1!, at: now) }
        let reopened = backend == .sqlite ? try WardDatabase(path: db.path) : try WardDatabase.open(db.path)
        let l2 = LifecycleRepository(reopened)
        #expect(try l2.rollupMark(.hour) == after1, "the mark is in the database: a restart resumes there")
        try Self.drain(l2, .hour, now: now, devices: 2)
        let again = try Self.all(reopened, .hour)
        #expect(again.filter { $0.start == Self.hour0 } == rows)
        #expect(again.count == 9 && again.allSatisfy { $0.samples == 60 })
    }

    @Test(arguments: Backend.allCases) func evidenceRetentionKeepsThePartitionAndTheLogsAppendOnly(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let l = LifecycleRepository(db)
        let day: Int64 = 86_400_000
        let base = t0.millis
        try db.store.write { c in
            for (state, s, e) in [("ok", 0, 10), ("offline", 10, 12), ("ok", 12, 40), ("degraded", 40, nil)] as [(String, Int64, Int64?)] {
                try c.execute(sql: "INSERT INTO state_intervals (device_id, state, faults, started_at, ended_at) VALUES (?, ?, '[]', ?, ?)",
                              arguments: ["LOA-01", state, base + s * day, e.map { base + $0 * day }])
            }
            for (i, d) in [1, 5, 25].enumerated() {
                for event in ["scheduled", "started", "finished"] {
                    try c.execute(sql: """
                        INSERT INTO playback_log (item_id, scheduled_start, speaker_id, event, at, recorded_at) VALUES (?, ?, 'LOA-01', ?, ?, ?)
                        """, arguments: ["ban-tin-\(i)", base + Int64(d) * day, event, base + Int64(d) * day + 60_000, base + Int64(d) * day + 60_000])
                }
                try c.execute(sql: "INSERT INTO audit_log (at, user_name, action) VALUES (?, 'vanhoa', 'broadcast.create')",
                              arguments: [base + Int64(d) * day])
                try c.execute(sql: """
                    INSERT INTO alarms (subject, kind, severity, since, raised_at, cleared_at) VALUES (?, 'offline', 'major', ?, ?, ?)
                    """, arguments: ["device:x\(i)", base + Int64(d) * day, base + Int64(d) * day, i == 2 ? nil : base + Int64(d) * day + 3_600_000])
                let alarm = try c.lastInsertedRowID
                try c.execute(sql: """
                    INSERT INTO notifications (alarm_id, event, sink, payload, created_at, next_attempt_at) VALUES (?, 'raised', 'webhook', '{}', ?, ?)
                    """, arguments: [alarm, base, base])
            }
        }
        func refused(_ sql: String) -> Bool { (try? db.store.write { try $0.execute(sql: sql) }) == nil }
        #expect(refused("DELETE FROM playback_log"), "append-only before any retention")
        #expect(refused("DELETE FROM audit_log"))

        let cut = Date(millis: base + 11 * day)
        let r = try l.prune(.stateIntervals, before: cut)
        #expect(r.deleted == 1 && r.next == nil)
        let kept = try db.store.read { c in
            try SQLRow.fetchAll(c, sql: "SELECT started_at, ended_at FROM state_intervals WHERE device_id = 'LOA-01' ORDER BY started_at")
                .map { (($0[0] as Int64) - base) / day }
        }
        #expect(kept == [10, 12, 40], "the interval spanning the cut stays: the history is still a partition of time")
        #expect(try l.prune(.playback, before: cut, limit: 4, now: t0) == 4)
        #expect(try l.prune(.playback, before: cut, now: t0) == 2)
        #expect(try l.prune(.audit, before: cut, now: t0) == 2)
        #expect(try l.prune(.alarms, before: cut, now: t0) == 2)
        let left = try db.store.read { c in
            try ["playback_log", "audit_log", "alarms", "notifications"].map { try Int.fetchOne(c, sql: "SELECT count(*) FROM \($0)") ?? 0 }
        }
        #expect(left == [3, 1, 1, 1])
        #expect(refused("DELETE FROM playback_log"), "lines after the cut stay append-only")
        #expect(refused("DELETE FROM audit_log"))
        #expect(refused("UPDATE playback_log SET detail = 'x'"))
        #expect(refused("UPDATE audit_log SET detail = 'x'"))
        // An open alarm stays whatever its age.
        #expect(try l.prune(.alarms, before: Date(millis: base + 100 * day), now: t0) == 0)
    }
}
