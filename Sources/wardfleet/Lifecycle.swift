import ArgumentParser
import Foundation
import GRDB
import WardController
import WardDomain
import WardStorage

/// `wardfleet run`'s retention settings (the data lifecycle).
struct RetentionOptions: ParsableArguments {
    @Option(help: "Days raw telemetry samples are kept, then only their hourly and daily roll-ups (0: keep all; at least 7).")
    var keepTelemetryDays = 90
    @Option(help: "Days hourly telemetry roll-ups are kept (0: keep, the default; at least 46). Daily roll-ups are always kept.")
    var keepHourlyDays = 0
    @Option(help: "Days state history is kept (0: keep, the default; at least 93). Whole intervals only.")
    var keepStateDays = 0
    @Option(help: "Days the playback log is kept (0: keep, the default; at least 93).") var keepPlaybackDays = 0
    @Option(help: "Days cleared alarms are kept (0: keep, the default; at least 93).") var keepAlarmDays = 0
    @Option(help: "Days the audit log is kept (0: keep, the default; at least 93).") var keepAuditDays = 0

    func configuration() throws -> LifecycleConfiguration {
        var c = LifecycleConfiguration()
        c.telemetryDays = keepTelemetryDays
        c.hourlyDays = keepHourlyDays
        c.stateDays = keepStateDays
        c.playbackDays = keepPlaybackDays
        c.alarmDays = keepAlarmDays
        c.auditDays = keepAuditDays
        if let p = c.problem() { throw ValidationError(p) }
        return c
    }
}

/// Prints a line and flushes it: a province's run takes hours, and its progress should show as it comes.
private func say(_ line: String) {
    print(line)
    fflush(nil)
}

extension Bench {
    struct Lifecycle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lifecycle",
            abstract: "Data lifecycle: database size after a year of telemetry with roll-ups and retention, and the time to draw a year's chart.",
            discussion: """
                Builds a SQLite database with DEVICES devices as `bench report` does (communes of 60; outages, playback log, \
                kiosk events and alarms over DAYS days), then writes DAYS days of telemetry, one sample per device per \
                SAMPLE-SECONDS, a day at a time, running after each day what the controller's lifecycle runs (roll-ups of the \
                completed hours and days, packing each rolled-up hour, then pruning past --keep-telemetry-days). With --direct \
                it writes what such a year leaves instead (every roll-up, the last --keep-telemetry-days packed), fast enough \
                for a province. Reports the file size (after a checkpoint), bytes per row of each table (dbstat) and per raw \
                reading kept, and, day by day, what those give for a province (computed, labelled so). Then times, \
                RUNS times, a year's chart of one speaker through the API's query path, beside the baseline of the same run: \
                a chart drawn from raw samples (the retained days, no roll-ups).
                """)

        @Option(help: "Devices.") var devices = 60
        @Option(help: "Days of history.") var days = 365
        @Option(help: "Seconds between stored samples of a device (the controller's --sample-interval).") var sampleSeconds = 60
        @Option(help: "Raw telemetry retention, days.") var keepTelemetryDays = 90
        @Option(help: "Chart runs; median and range reported.") var runs = 7
        @Option(help: "Devices of the province the sizes are computed for.") var provinceDevices = 20_000
        @Option(help: "Database file (default: a new temporary file).") var db: String?
        @Flag(help: "Write what the year leaves directly (every roll-up; the last --keep-telemetry-days packed), not day by day.")
        var direct = false
        @Flag(help: "With --direct and an existing --db: keep what an interrupted run wrote (its evidence and every device written whole) and write the rest.")
        var resume = false

        func run() async throws {
            let path = db ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("wardfleet-bench-lifecycle-\(devices)-\(days)-\(UUID().uuidString.prefix(6)).sqlite").path
            if resume {
                guard direct, db != nil, FileManager.default.fileExists(atPath: path) else {
                    throw ValidationError("--resume continues a --direct run: pass --direct and the --db it was writing")
                }
            } else {
                guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) exists; pass a new --db") }
            }
            let database = try WardDatabase(path: path)
            let end = Date(timeIntervalSince1970: 1_793_491_200)  // 2026-11-01 00:00 UTC
            let start = end.addingTimeInterval(-Double(days) * 86_400)
            let t0 = ContinuousClock.now
            var alreadyWritten: Set<String> = []
            if resume {
                // The evidence is one transaction per 200 devices, and the telemetry one per two devices, each
                // device's blocks, hourly and daily rows together: a device with daily rows is whole.
                let (registered, done) = try await database.pool.read { db in
                    (try Int.fetchOne(db, sql: "SELECT count(*) FROM devices") ?? 0,
                     Set(try String.fetchAll(db, sql: "SELECT DISTINCT device_id FROM telemetry_daily")))
                }
                guard registered == devices else {
                    throw ValidationError("\(path) has \(registered) devices, not \(devices): its evidence was not written whole; start again")
                }
                alreadyWritten = done
                say("resuming \(path): evidence of \(registered) devices kept; telemetry of \(done.count) devices written whole, kept")
            } else {
                try ProvinceHistory(devices: devices, days: days, end: end).write(database)
                say(String(format: "evidence (as bench report) for %ld devices, %ld days: %.1f s", devices, days, (ContinuousClock.now - t0).inSeconds))
            }

            var lifecycle = LifecycleConfiguration()
            lifecycle.telemetryDays = keepTelemetryDays
            let work = LifecycleWork(database: database, configuration: lifecycle)
            let fleet = try await database.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT id, class FROM devices ORDER BY id").map { ($0[0] as String, DeviceClass(rawValue: $0[1]) ?? .speaker) }
            }
            if direct {
                guard sampleSeconds == 60 else { throw ValidationError("--direct writes one reading a minute") }
                let w0 = ContinuousClock.now
                let writer = LifecycleYearWriter(database: database, end: end, days: days, rawDays: keepTelemetryDays, keepKioskRaw: lifecycle.keepKioskSamples)
                let written = try await writer.write(fleet: fleet, skipping: alreadyWritten) { done, w in
                    if done % 1000 == 0, done > 0 {
                        say(String(format: "%ld devices: %ld readings, %ld packed in %ld blocks, %ld hourly, %ld daily roll-ups (%.0f s)",
                                     done, w.readings, w.packed, w.blocks, w.hourly, w.daily, (ContinuousClock.now - w0).inSeconds))
                    }
                }
                say(String(format: "a year of %ld devices%@: %ld readings; kept raw %ld in %ld packed hours; %ld hourly and %ld daily roll-ups (%.0f s)",
                             devices - alreadyWritten.count, (alreadyWritten.isEmpty ? "" : " (the rest)") as NSString, written.readings, written.packed, written.blocks, written.hourly, written.daily, (ContinuousClock.now - w0).inSeconds))
            } else {
                var insertTime = 0.0, rollTime = 0.0, pruneTime = 0.0, written = 0, batches = 0, pruned = 0
                let perDay = 86_400 / max(1, sampleSeconds)
                let readings = Dictionary(uniqueKeysWithValues: DeviceClass.allCases.map { ($0, SyntheticReading($0)) })
                for d in 0..<days {
                    let dayStart = start.addingTimeInterval(Double(d) * 86_400)
                    let i0 = ContinuousClock.now
                    try await database.pool.write { db in
                        let st = try db.makeStatement(sql: """
                            INSERT INTO telemetry_samples (device_id, received_at, device_ts, boot, seq, payload) VALUES (?, ?, ?, 'b', ?, ?)
                            """)
                        var rng = SeededRandom(seed: UInt64(16 + d))
                        for (k, (id, cls)) in fleet.enumerated() {
                            let synth = readings[cls]!
                            var v = [Double](repeating: 0, count: synth.names.count)
                            for s in 0..<perDay {
                                let at = Int64((dayStart.timeIntervalSince1970 + Double(s * sampleSeconds) + Double(k % 57)) * 1000)
                                let seq = d * perDay + s
                                synth.values(seq: seq, ts: at, &rng, into: &v)
                                try st.execute(arguments: [id, at, at, seq, synth.payload(id, seq: seq, ts: at, v)])
                            }
                        }
                    }
                    written += fleet.count * perDay
                    let r0 = ContinuousClock.now
                    let now = dayStart.addingTimeInterval(86_400 + lifecycle.settle + 1)
                    while try work.rollUpBatch(now: now) { batches += 1 }
                    let p0 = ContinuousClock.now
                    pruned += try work.prunePass(now: now).total
                    let p1 = ContinuousClock.now
                    insertTime += (r0 - i0).inSeconds
                    rollTime += (p0 - r0).inSeconds
                    pruneTime += (p1 - p0).inSeconds
                    if (d + 1) % 30 == 0 || d == days - 1 {
                        say(String(format: "day %ld: %ld samples written (%.1f s), %ld roll-up batches (%.1f s), %ld pruned (%.1f s)",
                                     d + 1, written, insertTime, batches, rollTime, pruned, pruneTime))
                    }
                }
                say(String(format: "roll-up and packing: %.0f samples/s; pruning: %.0f rows/s", Double(written) / max(rollTime, 1e-9),
                             Double(pruned) / max(pruneTime, 1e-9)))
            }
            try await database.pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            let sizes = try await database.pool.read { db -> [(table: String, rows: Int, bytes: Int64)] in
                let byTable = try Row.fetchAll(db, sql: """
                    SELECT coalesce(m.tbl_name, s.name) AS t, sum(s.pgsize) AS bytes FROM dbstat s LEFT JOIN sqlite_master m ON m.name = s.name
                    GROUP BY t ORDER BY bytes DESC
                    """)
                return try byTable.map { r in
                    let t: String = r["t"]
                    let rows = t.hasPrefix("sqlite_") ? 0 : (try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\(t)\"") ?? 0)
                    return (t, rows, r["bytes"])
                }
            }
            let free = try await database.pool.read { db in
                (try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0) * (try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096)
            }
            say(String(format: "\nSQLite file after %ld days, %ld devices: %.1f MB (%.1f MB of it free pages, reused by new rows)",
                         days, devices, Double(fileBytes) / 1e6, Double(free) / 1e6))
            var perRow: [String: Double] = [:]
            for s in sizes where s.bytes > 0 {
                perRow[s.table] = s.rows > 0 ? Double(s.bytes) / Double(s.rows) : 0
                say(String(format: "  %-22@ %10ld rows %10.1f MB  %6.1f B/row (table + indexes)", s.table as NSString, s.rows, Double(s.bytes) / 1e6,
                             perRow[s.table]!))
            }
            let packedSamples = try await database.pool.read { try Int.fetchOne($0, sql: "SELECT coalesce(sum(samples), 0) FROM telemetry_blocks") ?? 0 }
            let rawRows = sizes.first { $0.table == "telemetry_samples" }?.rows ?? 0
            let rawBytes = sizes.filter { ["telemetry_samples", "telemetry_blocks"].contains($0.table) }.reduce(0.0) { $0 + Double($1.bytes) }
            let raw = rawBytes / Double(max(1, packedSamples + rawRows))
            say(String(format: "  raw readings kept: %ld, %.1f B each (packed hours and unpacked rows, with indexes)", packedSamples + rawRows, raw))
            if !direct {
                // Computed sizes, from the bytes per row measured above.
                let hourly = perRow["telemetry_hourly"] ?? 0, daily = perRow["telemetry_daily"] ?? 0
                let samplesPerDay = Double(86_400 / max(1, sampleSeconds))
                let telemetryTables: Set<String> = ["telemetry_samples", "telemetry_blocks", "telemetry_hourly", "telemetry_daily", "lifecycle_marks"]
                let evidence = sizes.filter { !telemetryTables.contains($0.table) }.reduce(0.0) { $0 + Double($1.bytes) } / Double(max(devices, 1))
                func size(_ n: Int, rawDays: Int?) -> Double {
                    let keptRawDays = Double(rawDays ?? 365)
                    let rawBytes = Double(n) * samplesPerDay * keptRawDays * raw
                    let rollups = rawDays == nil ? 0 : Double(n) * (8_760 * hourly + 365 * daily)
                    return rawBytes + rollups + Double(n) * evidence * 365 / Double(days)
                }
                say("\ncomputed from the measured bytes per row (one year; evidence scaled per device; not measured):")
                for n in [devices, provinceDevices] {
                    say(String(format: "  %6ld devices: %.2f GB with %ld days raw + a year of roll-ups; %.2f GB keeping every raw sample",
                                 n, size(n, rawDays: keepTelemetryDays) / 1e9, keepTelemetryDays, size(n, rawDays: nil) / 1e9))
                }
            }

            // The year chart, as GET /api/v1/devices/{id}/telemetry?hours=8784 draws it.
            let speaker = fleet.first { $0.1 == .speaker }?.0 ?? fleet[0].0
            let year = DateInterval(start: end.addingTimeInterval(-366 * 86_400), end: end.addingTimeInterval(1))
            let month = DateInterval(start: end.addingTimeInterval(-31 * 86_400), end: end.addingTimeInterval(1))
            let retained = DateInterval(start: end.addingTimeInterval(-Double(keepTelemetryDays) * 86_400), end: end.addingTimeInterval(1))
            let repo = LifecycleRepository(database), q = HealthQueries(database)
            func timed(_ body: () throws -> [TelemetrySeries]) rethrows -> (Double, Int) {
                let c0 = ContinuousClock.now
                let s = try body()
                return ((ContinuousClock.now - c0).inSeconds * 1000, s.first?.points.count ?? 0)
            }
            var yearMs: [Double] = [], monthMs: [Double] = [], rawMs: [Double] = []
            var points = (0, 0, 0)
            for i in 1...runs {
                let (y, yp) = try timed { try repo.series(device: speaker, window: year) }
                let (m, mp) = try timed { try repo.series(device: speaker, window: month) }
                let (r, rp) = try timed {
                    let s = try q.samples(device: speaker, in: retained, limit: Int.max / 2)
                    return TelemetrySeries.build(s.map { ($0.receivedAt, $0.payload) })
                }
                yearMs.append(y); monthMs.append(m); rawMs.append(r)
                points = (yp, mp, rp)
                say(String(format: "run %ld: year from roll-ups %.1f ms (%ld points), month from hourly %.1f ms (%ld points); "
                             + "baseline %ld days from raw samples %.1f ms (%ld points)", i, y, yp, m, mp, keepTelemetryDays, r, rp))
            }
            func stat(_ xs: [Double]) -> String {
                let s = xs.sorted()
                return String(format: "%.1f ms (%.1f–%.1f)", s[s.count / 2], s.first!, s.last!)
            }
            _ = points
            say("median of \(runs): year chart \(stat(yearMs)); month chart \(stat(monthMs)); baseline \(keepTelemetryDays) days raw \(stat(rawMs))")
            say("database: \(path)")
        }
    }
}
