import Foundation
import Testing
import WardController
import WardDomain
@testable import WardStorage

/// Issue 16 item 1: the lifecycle packs each rolled-up hour's raw samples and deletes their rows.
/// `wardfleet bench lifecycle` (the real lifecycle work, day by day) is killed with SIGKILL at
/// seeded moments; every reading written must then be stored exactly once, packed or not, every
/// packed hour must have its roll-up, and the lifecycle resumed to the end must give the roll-ups
/// of exactly the readings written.
@Suite struct LifecycleCrashTests {
    @Test func killedWhilePackingNoReadingIsLostOrStoredTwice() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-lc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededRandom(seed: 1_616)
        let devices = 20, days = 2, hours = days * 24
        for round in 0..<3 {
            let path = dir.appendingPathComponent("round\(round).sqlite").path
            let target = 1 + Int(rng.next() % UInt64(devices * hours - 1))
            let log = dir.appendingPathComponent("round\(round).log").path
            let bench = try ChildProcess.spawn(Harness.binary("wardfleet"), [
                "bench", "lifecycle", "--devices", "\(devices)", "--days", "\(days)", "--keep-telemetry-days", "7", "--runs", "1", "--db", path,
            ], stdout: .file(log), stderr: .file(log))
            // The bench's database is ready (migrated, fleet written) once it says so.
            let deadline = ContinuousClock.now + .seconds(300)
            while ContinuousClock.now < deadline, bench.isRunning,
                  !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("evidence") ?? false) {
                try await Task.sleep(for: .milliseconds(20))
            }
            let db = try WardDatabase(path: path)
            // Kill once at least `target` hours are packed (or when the bench has finished by itself).
            while ContinuousClock.now < deadline, bench.isRunning {
                let packed: Int = try db.store.read { c in try Int.fetchOne(c, sql: "SELECT count(*) FROM telemetry_blocks") ?? 0 }
                if packed >= target { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            bench.send(SIGKILL)
            _ = await bench.wait(timeout: .seconds(30))
            #expect(ContinuousClock.now < deadline, "round \(round): the bench reached \(target) packed hours")

            let fleet = try db.store.read { try String.fetchAll($0, sql: "SELECT id FROM devices ORDER BY id") }
            try #require(fleet.count == devices)
            func readings(_ device: String) throws -> [PackedSample] {
                try db.store.read { try RawTelemetry.samples($0, device: device, from: .min, to: .max) }
            }
            // Every reading once: each device holds whole days (a day is written in one transaction), no seq twice.
            let perDevice = try fleet.map { try readings($0) }
            let stored = perDevice[0].count
            #expect(stored % 1_440 == 0 && perDevice.allSatisfy { $0.count == stored }, "round \(round): whole days for every device")
            #expect(perDevice.allSatisfy { Set($0.map(\.seq)).count == $0.count }, "round \(round): no reading twice")
            // Every packed hour has its roll-up of the same samples; no row is left in a packed hour.
            let (orphans, mixed) = try db.store.read { c in
                (try Int.fetchOne(c, sql: """
                    SELECT count(*) FROM telemetry_blocks b LEFT JOIN telemetry_hourly h ON h.device_id = b.device_id AND h.bucket = b.bucket
                    WHERE h.samples IS NULL OR h.samples <> b.samples
                    """) ?? -1,
                 try Int.fetchOne(c, sql: """
                    SELECT count(*) FROM telemetry_samples s JOIN telemetry_blocks b
                      ON b.device_id = s.device_id AND s.received_at >= b.bucket AND s.received_at < b.bucket + 3600000
                    """) ?? -1)
            }
            #expect(orphans == 0 && mixed == 0, "round \(round): \(orphans) packed hours without their roll-up, \(mixed) rows in packed hours")

            // The lifecycle resumed to the end: every hour packed, roll-ups of exactly what was written.
            let work = LifecycleWork(database: db, configuration: LifecycleConfiguration())
            let now = Date(timeIntervalSince1970: 1_793_491_200 + 3_600)
            while try work.rollUpBatch(now: now) {}
            let rows = try db.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM telemetry_samples") }
            #expect(rows == 0, "round \(round): every complete hour packed")
            let lifecycle = LifecycleRepository(db)
            for (id, samples) in zip(fleet, perDevice) {
                let hourly = try lifecycle.rollups(.hour, device: id, from: .min / 2, to: .max / 2)
                #expect(hourly == TelemetryRollup.aggregate(samples.map { (id, $0.receivedAt, $0.payload) }, grain: .hour), "round \(round): \(id)")
                #expect(try readings(id) == samples, "round \(round): \(id) reads back the same after resuming")
            }
            print("lifecycle crash drill round \(round): killed at ≥ \(target) packed hours; \(stored / 1_440) days of \(devices) devices checked")
        }
    }
}
