import Foundation
import GRDB
import Testing
@testable import WardStorage

/// `wardfleet backup` / `restore` below the CLI: checks, refusals, the previous database kept,
/// older schemas brought up to date. (Under load with a real controller: IntegrationTests.BackupRestore.)
@Suite struct BackupTests {
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-backup-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func seed(_ db: WardDatabase, runAlive: Date?) throws {
        try db.store.write { c in
            try c.execute(sql: "INSERT INTO places (id, level, name) VALUES ('qn', 'province', 'Tỉnh Quảng Ninh')")
            try c.execute(sql: "INSERT INTO places (id, level, name, parent_id) VALUES ('cam-la', 'commune', 'Xã Cẩm La', 'qn')")
            try c.execute(sql: "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'Thôn Cẩm La – loa', 1)")
            if let runAlive {
                try c.execute(sql: "INSERT INTO controller_runs (started_at, last_alive_at) VALUES (?, ?)",
                              arguments: [runAlive.millis - 60_000, runAlive.millis])
            }
        }
    }

    @Test(arguments: Backend.allCases) func restoreRefusesALiveControllerUnlessForcedAndKeepsThePrevious(_ backend: Backend) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let db = try backend.open()
        try Self.seed(db, runAlive: now.addingTimeInterval(-5))
        let location = db.path
        db.store.close()
        let file = dir.appendingPathComponent("b").path
        let backup = try DatabaseBackup.backup(location, to: file, now: now)
        #expect(backup.counts["places"] == 2 && backup.counts["settings"] == 1 && backup.counts["controller_runs"] == 1)
        #expect(backup.schema == DatabaseBackup.knownMigrations.last)
        // FILE is never overwritten.
        #expect(throws: BackupError.self) { try DatabaseBackup.backup(location, to: file, now: now) }

        // The run was alive 5 s ago and never stopped: refused, unless forced.
        let refused = #expect(throws: BackupError.self) { try DatabaseBackup.restore(file, to: location, force: false, now: now) }
        #expect(refused?.message.contains("--force") == true)
        // A minute later it counts as crashed, not running.
        let restored = try DatabaseBackup.restore(file, to: location, force: true, now: now)
        #expect(restored.counts == backup.counts)
        let kept = try #require(restored.previousKeptAs)
        #expect(kept.contains("before"))
        let again = try DatabaseBackup.restore(file, to: location, force: false, now: now.addingTimeInterval(DatabaseBackup.aliveWindow))
        #expect(again.counts == backup.counts)
        let reopened = try WardDatabase.open(location)
        #expect(try reopened.store.read { try String.fetchOne($0, sql: "SELECT value FROM settings WHERE key = 'k'") } == "Thôn Cẩm La – loa")
        reopened.store.close()
    }

    @Test func anOlderSchemaIsBroughtUpToDateAndADamagedFileChangesNothing() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A database as v16 left it (before the shared migrations), with a row.
        let oldPath = dir.appendingPathComponent("v16.sqlite").path
        let queue = try DatabaseQueue(path: oldPath)
        try WardDatabase.migrator.migrate(queue, upTo: "v16: claim codes slowed down, not locked")
        try queue.write { try $0.execute(sql: "INSERT INTO places (id, level, name) VALUES ('qn', 'province', 'Tỉnh Quảng Ninh')") }
        try queue.close()
        let now = Date()
        let backup = try DatabaseBackup.backup(oldPath, to: dir.appendingPathComponent("v16.backup").path, now: now)
        #expect(backup.schema == "v16: claim codes slowed down, not locked")
        #expect(backup.checks == ["integrity_check", "foreign_key_check"])

        let target = dir.appendingPathComponent("live.sqlite").path
        let live = try WardDatabase(path: target)
        try live.store.write { try $0.execute(sql: "INSERT INTO places (id, level, name) VALUES ('hn', 'province', 'Hà Nội')") }
        live.store.close()

        // A damaged backup: refused before anything is touched.
        let damaged = dir.appendingPathComponent("damaged.backup").path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: backup.file))
        for i in stride(from: 4096, to: bytes.count, by: 97) { bytes[i] ^= 0x5A }
        try bytes.write(to: URL(fileURLWithPath: damaged))
        #expect(throws: BackupError.self) { try DatabaseBackup.restore(damaged, to: target, force: false, now: now) }
        let notABackup = dir.appendingPathComponent("notes.txt").path
        try "ghi chú".write(toFile: notABackup, atomically: true, encoding: .utf8)
        #expect(throws: BackupError.self) { try DatabaseBackup.restore(notABackup, to: target, force: false, now: now) }
        let untouched = try WardDatabase(path: target)
        #expect(try untouched.store.read { try String.fetchAll($0, sql: "SELECT id FROM places") } == ["hn"])
        untouched.store.close()
        #expect(!FileManager.default.fileExists(atPath: target + ".restoring"))

        // The old backup: migrated on restore, its rows kept, the previous database aside.
        let r = try DatabaseBackup.restore(backup.file, to: target, force: false, now: now)
        #expect(r.schemaBefore == "v16: claim codes slowed down, not locked")
        #expect(r.schemaAfter == DatabaseBackup.knownMigrations.last)
        #expect(r.counts["places"] == 1)
        #expect(r.counts["nodes"] == 0)  // a table of a later migration
        let restored = try WardDatabase(path: target)
        #expect(try restored.store.read { try String.fetchAll($0, sql: "SELECT id FROM places") } == ["qn"])
        restored.store.close()
        let aside = try WardDatabase(path: try #require(r.previousKeptAs))
        #expect(try aside.store.read { try String.fetchAll($0, sql: "SELECT id FROM places") } == ["hn"])
        aside.store.close()
    }
}
