import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL server in a directory of its own, on a free loopback port: for tests,
/// benchmarks and `wardfleet demo --postgres`. initdb refuses to run as root, so as root the
/// server runs as the unprivileged `postgres` user (Debian's package makes it) or `nobody`.
public final class LocalPostgres: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public let user = "wardfleet"
    private let process: Process
    private let lock = NSLock()
    private var databases = 0
    private let templateLock = NSLock()
    private var migratedTemplate: String?

    /// Debian keeps the server programs out of PATH, under /usr/lib/postgresql/<version>/bin.
    public static func binary(_ name: String) -> String? {
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for v in versions where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/\(name)") {
            return "/usr/lib/postgresql/\(v)/bin/\(name)"
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin").split(separator: ":")
        where fm.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    public static var isAvailable: Bool { binary("initdb") != nil && binary("postgres") != nil }

    public init(fsync: Bool = false) throws {
        guard let initdb = Self.binary("initdb"), let postgres = Self.binary("postgres") else {
            throw SQLStoreError.connection("PostgreSQL server programs not found (Debian: apt install postgresql)")
        }
        port = try LoopbackPort.free()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-pg-\(port)-\(UUID().uuidString.prefix(8))")
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let runAs = geteuid() == 0 ? Self.unprivilegedUser() : nil
        if let runAs { try Self.chown(directory.path, to: runAs) }

        try Self.run(runAs, [initdb, "-D", data.path, "-U", user, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                     log: directory.appendingPathComponent("initdb.log"))
        process = Process()
        // A watchdog shell runs the server: it stops it (and removes the folder) when this process
        // ends, even by SIGKILL, so no test leaves a server behind.
        let watchdog = """
            "$@" & p=$!
            trap 'kill -INT $p; wait $p; rm -rf "\(directory.path)"; exit 0' TERM INT
            while [ -d /proc/\(getpid()) ] && kill -0 $p 2>/dev/null; do sleep 1; done
            kill -INT $p 2>/dev/null; wait $p; rm -rf "\(directory.path)"
            """
        let args = ["/bin/sh", "-c", watchdog, "postgres", postgres, "-D", data.path, "-p", String(port), "-k", directory.path, "-c", "listen_addresses=127.0.0.1",
                    "-c", "fsync=\(fsync ? "on" : "off")", "-c", "synchronous_commit=\(fsync ? "on" : "off")",
                    "-c", "full_page_writes=\(fsync ? "on" : "off")", "-c", "max_connections=200", "-c", "shared_buffers=128MB"]
        Self.configure(process, runAs, args)
        let logURL = directory.appendingPathComponent("postgres.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        // Ready when it accepts a connection.
        let deadline = Date().addingTimeInterval(60)
        while true {
            if !process.isRunning {
                let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                throw SQLStoreError.connection("PostgreSQL did not start: \(text.suffix(800))")
            }
            if (try? PostgresStore(location(database: "postgres"), connections: 2))?.close() != nil { break }
            if Date() > deadline { stop(); throw SQLStoreError.connection("PostgreSQL did not accept connections within 60 s") }
            usleep(100_000)
        }
    }

    deinit { stop() }

    public func location(database: String) -> PostgresLocation {
        PostgresLocation(host: "127.0.0.1", port: port, user: user, database: database)
    }
    public func url(database: String) -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }

    /// A new, empty database on this server.
    public func createDatabase(_ prefix: String = "wardfleet") throws -> PostgresLocation {
        let name = lock.withLock { databases += 1; return "\(prefix)_\(databases)" }
        let admin = try PostgresStore(location(database: "postgres"), connections: 2)
        defer { admin.close() }
        try admin.unmanaged { try $0.execute(sql: "CREATE DATABASE \(name)") }
        return location(database: name)
    }

    /// A new database already migrated to this build's schema, copied from a template database that is
    /// migrated once per server: `CREATE DATABASE … TEMPLATE` copies files, where running every migration
    /// again for each test's database took most of a storage test's time (and a thread while it did).
    public func createMigratedDatabase(_ prefix: String = "wardfleet") throws -> PostgresLocation {
        let template = try templateLock.withLock { () throws -> String in
            if let migratedTemplate { return migratedTemplate }
            let location = try createDatabase("template")
            let store = try PostgresStore(location, connections: 1)
            defer { store.close() }  // a template may have no connection while it is copied
            try PostgresMigrator.migrate(store)
            migratedTemplate = location.database
            return location.database
        }
        let name = lock.withLock { databases += 1; return "\(prefix)_\(databases)" }
        let admin = try PostgresStore(location(database: "postgres"), connections: 1)
        defer { admin.close() }
        try admin.unmanaged { try $0.execute(sql: "CREATE DATABASE \(name) TEMPLATE \(template)") }
        return location(database: name)
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)  // the watchdog: fast shutdown, folder removed
        process.waitUntilExit()
    }

    private static func unprivilegedUser() -> String {
        getpwnam("postgres") != nil ? "postgres" : "nobody"
    }
    private static func chown(_ path: String, to user: String) throws {
        guard let pw = getpwnam(user) else { return }
        guard Glibc.chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else { throw POSIXError(.EPERM) }
    }
    private static func configure(_ p: Process, _ runAs: String?, _ args: [String]) {
        if let runAs {
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            p.arguments = ["-u", runAs, "--"] + args
        } else {
            p.executableURL = URL(fileURLWithPath: args[0])
            p.arguments = Array(args.dropFirst())
        }
    }
    private static func run(_ runAs: String?, _ args: [String], log: URL) throws {
        let p = Process()
        configure(p, runAs, args)
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw SQLStoreError.connection("\(args[0]) failed: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released): for private brokers and servers.
public enum LoopbackPort {
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
