import Foundation
import Testing
import WardController
import WardDomain
import WardStorage

extension RealBrokerTests {
    /// Issue 16 item 2: a backup taken while a real controller ingests a telemetry flood through a
    /// real broker restores to exactly the counts the backup's own snapshot reports, holds
    /// everything committed before it began, and a restore never replaces a database in use.
    @Suite(.serialized) struct BackupRestore {
        enum Engine: String, CaseIterable, Sendable { case sqlite, postgres }

        @Test(arguments: Engine.allCases) func backupUnderLoadRestoresTheSameCounts(_ engine: Engine) async throws {
            if engine == .postgres { try #require(LocalPostgres.isAvailable, "PostgreSQL server programs are needed") }
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-backup-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let server = engine == .postgres ? try LocalPostgres() : nil
            defer { server?.stop() }
            let source = try server.map { $0.url(database: try $0.createDatabase("live").database) } ?? dir.appendingPathComponent("live.sqlite").path
            let restored = server.map { $0.url(database: "restored") } ?? dir.appendingPathComponent("restored.sqlite").path
            let backupFile = dir.appendingPathComponent(engine == .postgres ? "wardfleet.dump" : "wardfleet-backup.sqlite").path

            // A commune of 50 speakers, registered.
            let db = try WardDatabase.open(source)
            try PlaceRepository(db).upsert([
                Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
                Place(id: "bench", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
                Place(id: "thon", level: .village, name: "Thôn Cẩm La", parentID: "bench"),
                Place(id: "cot", level: .site, name: "Cột loa", parentID: "thon", siteKind: .pole),
            ])
            try DeviceRepository(db).upsert((0..<50).map {
                Device(id: String(format: "BENCH-%05d", $0), deviceClass: .speaker, siteID: "cot", registeredAt: Date())
            })
            func telemetry() throws -> Int64 {
                try db.store.read { try Int64.fetchOne($0, sql: "SELECT count(*) FROM telemetry_samples") ?? 0 }
            }

            // The real controller, storing every sample, and a flood of telemetry for ~10 s.
            let log = dir.appendingPathComponent("controller.log").path
            let controller = try ChildProcess.spawn(
                Harness.binary("wardfleet"),
                ["run", "--db", source, "--broker", "127.0.0.1:\(broker.port)", "--sample-interval", "0", "--status-interval", "0.2", "--no-http"],
                stdout: .file(log), stderr: .file(log))
            defer { controller.terminateBlocking() }
            try await until("controller connected", log: log) { try HealthQueries(db).controllerLink()?.connected == true }
            let flood = try ChildProcess.spawn(
                Harness.binary("firmware-sim"),
                ["flood", "--broker", "127.0.0.1:\(broker.port)", "--commune", "bench", "--prefix", "BENCH-", "--devices", "50",
                 "--count", "30000", "--rate", "3000", "--connections", "2"], stdout: .null, stderr: .file(log))
            defer { flood.terminateBlocking() }
            try await until("ingest under way", log: log) { try telemetry() >= 1_500 }

            // The backup, mid-load.
            let committedBefore = try telemetry()
            let (status, out, err) = try await cli(["backup", backupFile, "--db", source, "--json"])
            try #require(status == 0, "backup failed: \(err)")
            let backup = try JSONDecoder.backupISO.decode(BackupSummary.self, from: Data(out.utf8))
            let inBackup = try #require(backup.counts["telemetry_samples"])
            #expect(inBackup >= committedBefore, "everything committed before the backup began is in it")
            #expect(backup.counts["devices"] == 50)
            #expect(backup.checks.isEmpty == false)
            // Ingest went on while it ran: the live count passes the snapshot's.
            try await until("ingest continues after the backup", log: log) { try telemetry() > inBackup }

            // Restored into a new place: exactly the snapshot's counts, every table.
            let (rs, rout, rerr) = try await cli(["restore", backupFile, "--db", restored, "--json"])
            try #require(rs == 0, "restore failed: \(rerr)")
            let restore = try JSONDecoder.backupISO.decode(RestoreSummary.self, from: Data(rout.utf8))
            #expect(restore.previousKeptAs == nil)
            for (table, n) in backup.counts { #expect(restore.counts[table] == n, "\(table)") }
            let check = try WardDatabase.open(restored)
            let restoredRows = try check.store.read { try Int64.fetchOne($0, sql: "SELECT count(*) FROM telemetry_samples") }
            #expect(restoredRows == inBackup)
            check.store.close()

            // Over the live database: refused while the controller has it open, nothing changed.
            let (ls, _, lerr) = try await cli(["restore", backupFile, "--db", source, "--force"])
            #expect(ls != 0)
            #expect(lerr.contains("dừng") && lerr.contains("stop"), "\(lerr)")
            #expect(try telemetry() > inBackup)

            // Once it is stopped: restored, the previous database kept aside with its later rows.
            await flood.terminate()
            await controller.terminate()
            let liveRows = try telemetry()
            db.store.close()
            let (os, oout, oerr) = try await cli(["restore", backupFile, "--db", source, "--json"])
            try #require(os == 0, "restore over the stopped database failed: \(oerr)")
            let over = try JSONDecoder.backupISO.decode(RestoreSummary.self, from: Data(oout.utf8))
            let kept = try #require(over.previousKeptAs)
            #expect(over.counts["telemetry_samples"] == inBackup)
            let keptLocation = server.map { $0.url(database: kept) } ?? kept
            let old = try WardDatabase.open(keptLocation)
            #expect(try old.store.read { try Int64.fetchOne($0, sql: "SELECT count(*) FROM telemetry_samples") } == liveRows)
            old.store.close()
        }

        func until(_ what: String, log: String, _ condition: () throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if (try? condition()) == true { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            Issue.record("timed out waiting for: \(what)\n\(text.suffix(2000))")
            throw CancellationError()
        }

        func cli(_ args: [String]) async throws -> (Int32, String, String) {
            let err = FileManager.default.temporaryDirectory.appendingPathComponent("wf-cli-\(UUID().uuidString.prefix(8)).err").path
            defer { try? FileManager.default.removeItem(atPath: err) }
            let c = try ChildProcess.spawn(Harness.binary("wardfleet"), args, stdout: .pipe, stderr: .file(err))
            let out = c.output!.readDataToEndOfFile()
            let status = await c.wait(timeout: .seconds(120)) ?? -1
            return (status, String(decoding: out, as: UTF8.self), (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        }
    }
}

extension JSONDecoder {
    static let backupISO: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
