import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What a backup holds, read from the backup itself after it was written: the row counts are
/// those of the snapshot, so a restore of it must show exactly these.
public struct BackupSummary: Codable, Sendable, Equatable {
    public var file: String
    /// "sqlite" or "postgres".
    public var engine: String
    public var bytes: Int64
    public var takenAt: Date
    public var seconds: Double
    /// The newest migration the backup's schema has.
    public var schema: String?
    /// Rows per table in the snapshot.
    public var counts: [String: Int64]
    /// The checks that passed ("integrity_check", "foreign_key_check", "pg_restore").
    public var checks: [String]
}

/// What a restore did.
public struct RestoreSummary: Codable, Sendable, Equatable {
    public var target: String
    public var engine: String
    /// Where the previous database was kept (a file path or a PostgreSQL database name); nil when there was none.
    public var previousKeptAs: String?
    /// The backup's schema and the schema after this build's migrations ran.
    public var schemaBefore: String?
    public var schemaAfter: String?
    /// Rows per table as restored; equal to the backup's counts for every table the backup had.
    public var counts: [String: Int64]
    public var seconds: Double
}

/// A refusal or failure of backup/restore, with a bilingual message for the technician.
public struct BackupError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ vi: String, _ en: String) { message = "\(vi) / \(en)" }
    public var description: String { message }
}

/// Online backup and checked restore, for both engines.
///
/// SQLite: `VACUUM INTO` through a connection of its own reads one consistent snapshot of the WAL
/// database while the controller keeps writing (readers never block the writer), then the copy is
/// opened and checked (`PRAGMA integrity_check`, `foreign_key_check`) and counted, and only then
/// renamed to FILE. PostgreSQL: `pg_dump -Fc` (one repeatable-read snapshot), then the whole dump is
/// read back with `pg_restore` and its rows counted per table.
public enum DatabaseBackup {
    /// How recently a controller run (or cluster node) must have been alive for a restore to take
    /// it as running: a few of its 0.5–5 s write-backs.
    public static let aliveWindow: TimeInterval = 60

    // MARK: - Backup

    public static func backup(_ location: String, to file: String, now: Date) throws -> BackupSummary {
        if let pg = PostgresLocation(url: location) { return try backupPostgres(pg, to: file, now: now) }
        return try backupSQLite(location, to: file, now: now)
    }

    public static func backupSQLite(_ source: String, to file: String, now: Date) throws -> BackupSummary {
        let started = Date()
        let fm = FileManager.default
        guard fm.fileExists(atPath: source) else {
            throw BackupError("không có cơ sở dữ liệu \(source)", "no database at \(source)")
        }
        return try writeOnce(file, started: started, now: now) { partial in
            var config = Configuration()
            config.readonly = true
            config.busyMode = .timeout(30)
            let reader = try DatabaseQueue(path: source, configuration: config)
            try reader.inDatabase { db in
                guard try db.tableExists("grdb_migrations") else {
                    throw BackupError("\(source) không phải cơ sở dữ liệu WardFleet", "\(source) is not a WardFleet database")
                }
                // One read transaction: a consistent snapshot while the controller writes on.
                try db.execute(sql: "VACUUM INTO ?", arguments: [partial])
            }
            try reader.close()
            return try checkSQLite(partial, making: true)
        }
    }

    /// The one way a backup file is made: never over an existing file; written as FILE.partial by `make`
    /// (which checks it and returns its summary), synced, then renamed; the partial file removed on failure.
    private static func writeOnce(_ file: String, started: Date, now: Date,
                                  _ make: (_ partial: String) throws -> BackupSummary) throws -> BackupSummary {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: file) else {
            throw BackupError("tệp \(file) đã có, không ghi đè", "\(file) exists; not overwritten")
        }
        let partial = file + ".partial"
        try? fm.removeItem(atPath: partial)
        do {
            var summary = try make(partial)
            summary.file = file
            summary.takenAt = now
            try syncFile(partial)
            guard rename(partial, file) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            summary.seconds = Date().timeIntervalSince(started)
            return summary
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
    }

    /// Opens a SQLite backup, checks it and counts its rows. `making`: the file is ours to set to a
    /// single-file journal and to restrict to its owner (it holds password hashes).
    static func checkSQLite(_ path: String, making: Bool = false) throws -> BackupSummary {
        let queue: DatabaseQueue
        do { queue = try DatabaseQueue(path: path) } catch {
            throw BackupError("không mở được \(path) như SQLite: \(error)", "\(path) does not open as SQLite: \(error)")
        }
        defer { try? queue.close() }
        let (counts, schema): ([String: Int64], String?) = try queue.inDatabase { db in
            if making { try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let integrity: [String]
            do { integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check") } catch {
                throw BackupError("\(path) hỏng: \(error)", "\(path) is damaged: \(error)")
            }
            guard integrity == ["ok"] else {
                throw BackupError("kiểm tra toàn vẹn thất bại: \(integrity.prefix(5).joined(separator: "; "))",
                                  "integrity_check failed: \(integrity.prefix(5).joined(separator: "; "))")
            }
            let fk = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            guard fk.isEmpty else {
                let first = fk.prefix(3).map { "\($0[0] as String? ?? "?") → \($0[2] as String? ?? "?")" }.joined(separator: ", ")
                throw BackupError("\(fk.count) dòng tham chiếu tới dòng không có (\(first))",
                                  "foreign_key_check found \(fk.count) rows pointing nowhere (\(first))")
            }
            guard try db.tableExists("grdb_migrations") else {
                throw BackupError("\(path) không phải bản sao lưu WardFleet", "\(path) is not a WardFleet backup")
            }
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            return (try countSQLite(db), try newestMigration(applied))
        }
        if making { chmod(path, 0o600) }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        return BackupSummary(file: path, engine: "sqlite", bytes: size, takenAt: Date(), seconds: 0, schema: schema,
                             counts: counts, checks: ["integrity_check", "foreign_key_check"])
    }

    static func countSQLite(_ db: GRDB.Database) throws -> [String: Int64] {
        let tables = try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations' ORDER BY name
            """)
        var counts: [String: Int64] = [:]
        for t in tables { counts[t] = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \"\(t)\"") ?? 0 }
        return counts
    }

    /// Every migration this build knows, oldest first (SQLite's and PostgreSQL's ids).
    static var knownMigrations: [String] {
        let shared = SharedMigrations.all.map(\.id)
        return WardDatabase.migrator.migrations.filter { !shared.contains($0) } + [PostgresSchema.baselineID] + shared
    }

    /// The newest of `applied` in this build's order; refuses a schema made by a newer build.
    static func newestMigration(_ applied: [String]) throws -> String? {
        let known = knownMigrations
        if let unknown = applied.first(where: { !known.contains($0) }) {
            throw BackupError("bản sao lưu có bước \"\(unknown)\" mà bản WardFleet này không biết: nó do bản mới hơn tạo",
                              "the backup has migration \"\(unknown)\", which this build does not know: a newer WardFleet made it")
        }
        let order = Dictionary(known.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return applied.max { order[$0]! < order[$1]! }
    }

    // MARK: - Restore

    public static func restore(_ file: String, to location: String, force: Bool, now: Date) throws -> RestoreSummary {
        if let pg = PostgresLocation(url: location) { return try restorePostgres(file, to: pg, force: force, now: now) }
        return try restoreSQLite(file, to: location, force: force, now: now)
    }

    public static func restoreSQLite(_ file: String, to target: String, force: Bool, now: Date) throws -> RestoreSummary {
        let started = Date()
        let fm = FileManager.default
        guard fm.fileExists(atPath: file) else { throw BackupError("không có tệp \(file)", "no file \(file)") }
        if isPostgresDump(file) {
            throw BackupError("\(file) là bản sao lưu PostgreSQL (pg_dump); --db phải là postgres://…",
                              "\(file) is a PostgreSQL dump; --db must be postgres://…")
        }
        // Nothing is touched while a controller may be using the target.
        if fm.fileExists(atPath: target) { try refuseIfInUse(sqlite: target, force: force, now: now) }

        let staging = target + ".restoring"
        for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: staging + suffix) }
        do {
            try fm.copyItem(atPath: file, toPath: staging)
            let before = try checkSQLite(staging)
            // This build's migrations bring an older backup up to date.
            let migrated = try WardDatabase(path: staging)
            let (after, schemaAfter): ([String: Int64], String?) = try migrated.pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                return (try countSQLite(db), try newestMigration(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")))
            }
            migrated.store.close()
            try compare(before.counts, after)
            try syncFile(staging)

            var aside: String?
            if fm.fileExists(atPath: target) {
                let kept = target + ".before-restore-" + stamp(now)
                for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: target + suffix) {
                    guard rename(target + suffix, kept + suffix) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                }
                aside = kept
            }
            for suffix in ["-wal", "-shm"] { try? fm.removeItem(atPath: staging + suffix) }
            guard rename(staging, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            chmod(target, 0o600)
            return RestoreSummary(target: target, engine: "sqlite", previousKeptAs: aside, schemaBefore: before.schema,
                                  schemaAfter: schemaAfter, counts: after, seconds: Date().timeIntervalSince(started))
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: staging + suffix) }
            throw error
        }
    }

    static func compare(_ expected: [String: Int64], _ actual: [String: Int64]) throws {
        let wrong = expected.keys.sorted().filter { actual[$0] != expected[$0] }
        guard wrong.isEmpty else {
            let list = wrong.prefix(5).map { "\($0): \(expected[$0]!) → \(actual[$0].map(String.init) ?? "—")" }.joined(separator: ", ")
            throw BackupError("số dòng sau khi khôi phục khác bản sao lưu (\(list))", "restored row counts differ from the backup (\(list))")
        }
    }

    /// Refuses when a process has the SQLite file open (SQLite's own lock on its shared-memory
    /// file, which every connection to a WAL database holds) or, unless forced, when the latest
    /// controller run or cluster node was alive within `aliveWindow` and never stopped.
    public static func refuseIfInUse(sqlite path: String, force: Bool, now: Date) throws {
        if let pid = sqliteHolder(path) {
            throw BackupError("cơ sở dữ liệu \(path) đang được tiến trình \(pid) dùng: dừng bộ điều khiển trước (systemctl stop wardfleet)",
                              "the database \(path) is open in process \(pid): stop the controller first (systemctl stop wardfleet)")
        }
        guard !force else { return }
        var config = Configuration()
        config.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: config) else { return }
        defer { try? queue.close() }
        let alive = try? queue.read { try lastAlive($0) }
        if let alive = alive ?? nil { try refuseRecent(alive, now: now) }
    }

    static func lastAlive(_ db: GRDB.Database) throws -> Date? {
        var latest: Int64?
        if try db.tableExists("controller_runs") {
            latest = try Int64.fetchOne(db, sql: "SELECT max(last_alive_at) FROM controller_runs WHERE stopped_at IS NULL")
        }
        if try db.tableExists("nodes"),
           let n = try Int64.fetchOne(db, sql: "SELECT max(heartbeat_at) FROM nodes WHERE stopped_at IS NULL") {
            latest = max(latest ?? n, n)
        }
        return latest.map(Date.init(millis:))
    }

    static func refuseRecent(_ alive: Date, now: Date) throws {
        let age = now.timeIntervalSince(alive)
        guard age < aliveWindow else { return }
        let s = Int(max(0, age).rounded())
        throw BackupError("một bộ điều khiển còn chạy trên cơ sở dữ liệu này (báo sống \(s) giây trước): dừng nó trước, hoặc --force nếu chắc chắn nó đã dừng",
                          "a controller is still running on this database (alive \(s) s ago): stop it first, or --force if you are sure it has stopped")
    }

    /// The id of another process holding SQLite's shared-memory lock of a WAL database, if any.
    static func sqliteHolder(_ path: String) -> pid_t? {
        let fd = open(path + "-shm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // os_unix.c: the "DMS" byte at offset 128 of the -shm file is share-locked by every connection.
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 128
        lock.l_len = 1
        guard fcntl(fd, F_GETLK, &lock) == 0, lock.l_type != Int16(F_UNLCK) else { return nil }
        return lock.l_pid
    }

    // MARK: - PostgreSQL

    public static func backupPostgres(_ location: PostgresLocation, to file: String, now: Date) throws -> BackupSummary {
        let started = Date()
        guard let pgDump = LocalPostgres.binary("pg_dump") else {
            throw BackupError("không tìm thấy pg_dump (Debian: apt install postgresql-client)", "pg_dump not found (Debian: apt install postgresql-client)")
        }
        return try writeOnce(file, started: started, now: now) { partial in
            // One repeatable-read snapshot of the whole database, in the custom (compressed) format.
            _ = try runTool(pgDump, ["--format=custom", "--no-owner", "--no-privileges", "--file=\(partial)",
                                     "--dbname=\(connectionString(location))"], location: location)
            chmod(partial, 0o600)
            return try checkPostgresDump(partial)
        }
    }

    static func isPostgresDump(_ file: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: file) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 5)) == Data("PGDMP".utf8)
    }

    /// Reads the whole dump back through pg_restore (which checks every block) and counts the rows
    /// of each table's COPY data; the schema comes from its `schema_migrations` rows.
    static func checkPostgresDump(_ file: String) throws -> BackupSummary {
        guard isPostgresDump(file) else {
            throw BackupError("\(file) không phải bản sao lưu PostgreSQL (pg_dump -Fc)", "\(file) is not a PostgreSQL dump (pg_dump -Fc)")
        }
        guard let pgRestore = LocalPostgres.binary("pg_restore") else {
            throw BackupError("không tìm thấy pg_restore", "pg_restore not found")
        }
        var counts: [String: Int64] = [:]
        var migrations: [String] = []
        var current: String?
        try runTool(pgRestore, ["--data-only", "--file=-", file], location: nil) { line in
            if let table = current {
                if line == "\\." { current = nil; return }
                counts[table, default: 0] += 1
                if table == "schema_migrations", let tab = line.firstIndex(of: "\t") { migrations.append(String(line[..<tab])) }
            } else if line.hasPrefix("COPY "), line.hasSuffix("FROM stdin;") {
                var name = String(line.dropFirst(5).prefix { $0 != " " })
                if name.hasPrefix("public.") { name.removeFirst(7) }
                name = name.replacingOccurrences(of: "\"", with: "")
                current = name
                counts[name] = counts[name] ?? 0
            }
        }
        guard !migrations.isEmpty else {
            throw BackupError("\(file) không phải bản sao lưu WardFleet (không có schema_migrations)", "\(file) is not a WardFleet backup (no schema_migrations)")
        }
        counts["schema_migrations"] = nil
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
        return BackupSummary(file: file, engine: "postgres", bytes: size, takenAt: Date(), seconds: 0,
                             schema: try newestMigration(migrations), counts: counts, checks: ["pg_restore"])
    }

    public static func restorePostgres(_ file: String, to target: PostgresLocation, force: Bool, now: Date) throws -> RestoreSummary {
        let started = Date()
        guard FileManager.default.fileExists(atPath: file) else { throw BackupError("không có tệp \(file)", "no file \(file)") }
        let dump = try checkPostgresDump(file)
        guard let pgRestore = LocalPostgres.binary("pg_restore") else { throw BackupError("không tìm thấy pg_restore", "pg_restore not found") }
        var admin = target
        admin.database = target.database == "postgres" ? "template1" : "postgres"
        let server = try PostgresStore(admin, connections: 2)
        defer { server.close() }
        let name = target.database
        let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        let exists = try server.unmanaged { try Int64.fetchOne($0, sql: "SELECT count(*) FROM pg_database WHERE datname = ?", arguments: [name]) ?? 0 } > 0
        var aside: String?
        if exists {
            // Connections just closed may take a moment to leave (seconds on a server whose disk is busy);
            // a running controller's stay.
            var others: [String] = []
            for _ in 0..<100 {
                others = try server.unmanaged {
                    try String.fetchAll($0, sql: """
                        SELECT coalesce(nullif(application_name, ''), 'pid ' || pid::text) || coalesce(' @' || host(client_addr), '')
                        FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()
                        """, arguments: [name])
                }
                if others.isEmpty { break }
                usleep(100_000)
            }
            guard others.isEmpty else {
                throw BackupError("cơ sở dữ liệu \(name) đang có \(others.count) kết nối (\(others.prefix(3).joined(separator: ", "))): dừng mọi bộ điều khiển trước",
                                  "the database \(name) has \(others.count) connections (\(others.prefix(3).joined(separator: ", "))): stop every controller first")
            }
            if !force {
                let old = try PostgresStore(target, connections: 2)
                let alive: Int64? = try old.unmanaged { db in
                    var latest: Int64?
                    for (table, column) in [("controller_runs", "last_alive_at"), ("nodes", "heartbeat_at")]
                    where try Int64.fetchOne(db, sql: "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ?",
                                             arguments: [table]) ?? 0 > 0 {
                        if let v = try Int64.fetchOne(db, sql: "SELECT max(\(column)) FROM \(table) WHERE stopped_at IS NULL") { latest = max(latest ?? v, v) }
                    }
                    return latest
                }
                old.close()
                if let alive { try refuseRecent(Date(millis: alive), now: now) }
            }
            let kept = "\(name)_before_restore_\(stamp(now))"
            // Our own connections to it (the check above) may take a moment to end on the server.
            var attempt = 0
            while true {
                do {
                    try server.unmanaged { try $0.execute(sql: "ALTER DATABASE \(quoted) RENAME TO \"\(kept)\"") }
                    break
                } catch {
                    attempt += 1
                    if attempt >= 50 { throw error }
                    usleep(100_000)
                }
            }
            aside = kept
        }
        func putBack() {
            _ = try? server.unmanaged { db in
                try db.execute(sql: "DROP DATABASE IF EXISTS \(quoted)")
                if let aside { try db.execute(sql: "ALTER DATABASE \"\(aside)\" RENAME TO \(quoted)") }
            }
        }
        do {
            // The deployment's locale (docs/deployment.md): C.UTF-8, whatever the server's default.
            try server.unmanaged {
                try $0.execute(sql: "CREATE DATABASE \(quoted) TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
            }
            _ = try runTool(pgRestore, ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                                        "--dbname=\(connectionString(target))", file], location: target)
            let restored = try PostgresStore(target, connections: 2)
            let before = try restored.unmanaged { db in
                var counts: [String: Int64] = [:]
                for t in try String.fetchAll(db, sql: """
                    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
                    AND table_name <> 'schema_migrations'
                    """) {
                    counts[t] = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \"\(t)\"") ?? 0
                }
                return counts
            }
            restored.close()
            try compare(dump.counts, before)
            // This build's migrations bring an older backup up to date.
            let migrated = try WardDatabase(postgres: target, connections: 2)
            let schemaAfter = try newestMigration(try migrated.store.read { try String.fetchAll($0, sql: "SELECT id FROM schema_migrations") })
            let after = try migrated.store.read { db in
                var counts: [String: Int64] = [:]
                for t in try String.fetchAll(db, sql: """
                    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
                    AND table_name <> 'schema_migrations'
                    """) {
                    counts[t] = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \"\(t)\"") ?? 0
                }
                return counts
            }
            migrated.store.close()
            try compare(dump.counts, after)
            return RestoreSummary(target: target.display, engine: "postgres", previousKeptAs: aside, schemaBefore: dump.schema,
                                  schemaAfter: schemaAfter, counts: after, seconds: Date().timeIntervalSince(started))
        } catch {
            putBack()
            throw error
        }
    }

    /// libpq keyword form; the password goes through the environment, never the command line.
    static func connectionString(_ l: PostgresLocation) -> String {
        func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
        return "host=\(q(l.host)) port=\(l.port) user=\(q(l.user)) dbname=\(q(l.database)) sslmode=\(l.requireTLS ? "require" : "prefer")"
    }

    /// Runs a PostgreSQL client tool; each line of its standard output goes to `line` (or is
    /// discarded). Its standard error becomes the message when it fails.
    @discardableResult
    static func runTool(_ tool: String, _ arguments: [String], location: PostgresLocation?,
                        line: ((Substring) -> Void)? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        if let pw = location?.password { env["PGPASSWORD"] = pw }
        p.environment = env
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-\(UUID().uuidString.prefix(8)).err")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        p.standardError = try FileHandle(forWritingTo: errURL)
        let out = Pipe()
        p.standardOutput = line == nil ? FileHandle.nullDevice : out
        try p.run()
        if let line {
            let h = out.fileHandleForReading
            var pending = Data()
            while true {
                let chunk = h.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                var start = pending.startIndex
                while let nl = pending[start...].firstIndex(of: 10) {
                    line(Substring(decoding: pending[start..<nl], as: UTF8.self))
                    start = pending.index(after: nl)
                }
                pending.removeSubrange(pending.startIndex..<start)
            }
            if !pending.isEmpty { line(Substring(decoding: pending, as: UTF8.self)) }
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = ((try? String(contentsOf: errURL, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let name = URL(fileURLWithPath: tool).lastPathComponent
            throw BackupError("\(name) thất bại: \(text.suffix(600))", "\(name) failed (\(p.terminationStatus))")
        }
        return p.terminationStatus
    }

    static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        fsync(fd)
    }

    /// UTC, sortable, usable in file and database names.
    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: d).lowercased()
    }
}
