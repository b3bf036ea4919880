import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// PostgreSQL through postgres-nio, for several controller nodes on one database.
///
/// Repositories are synchronous (as with GRDB), so each call waits on postgres-nio's futures from
/// the calling thread; the futures complete on NIO's event loops, never on Swift's cooperative
/// pool, so waiting cannot starve them. A small pool of connections serves reads; writes take
/// one connection at a time per process (see `SQLStore`), ingest flushes may run beside them.
public final class PostgresStore: SQLStore, @unchecked Sendable {
    public var dialect: SQLDialect { .postgres }
    public let location: PostgresLocation
    private let logger: Logger
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []
    private let slots: DispatchSemaphore
    private let writeLock = NSLock()
    private var nextID = 0
    private var closed = false

    public init(_ location: PostgresLocation, connections: Int = 6, logger: Logger = Logger(label: "wardfleet.postgres")) throws {
        self.location = location
        self.slots = DispatchSemaphore(value: max(2, connections))
        var l = logger
        l.logLevel = .warning
        self.logger = l
        // Fail now, with a clear message, when the server cannot be reached.
        try withConnection { _ in }
    }

    public func read<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        try withConnection { c in
            try transaction(c, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
        }
    }
    public func write<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        writeLock.lock()
        defer { writeLock.unlock() }
        return try writeConcurrently(body)
    }
    public func writeConcurrently<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        try withConnection { c in try transaction(c, begin: "BEGIN", body) }
    }

    /// Statements outside any transaction (migrations take their own lock; LISTEN needs none).
    public func unmanaged<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        try withConnection { c in try body(SQLConnection(dialect: .postgres, session: PostgresSession(c, logger))) }
    }

    deinit { close() }

    public func close() {
        lock.lock()
        closed = true
        let all = idle
        idle = []
        lock.unlock()
        for c in all { let f: EventLoopFuture<Void> = c.close(); try? f.wait() }
    }

    private func transaction<T>(_ c: PostgresConnection, begin: String, _ body: (SQLConnection) throws -> T) throws -> T {
        let session = PostgresSession(c, logger)
        try session.execute(begin, SQLArguments())
        do {
            let connection = SQLConnection(dialect: .postgres, session: session)
            let out = try body(connection)
            try session.execute("COMMIT", SQLArguments())
            connection.committed()
            return out
        } catch {
            try? session.execute("ROLLBACK", SQLArguments())
            throw error
        }
    }

    private func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        let c = try checkout()
        do {
            let out = try body(c)
            checkin(c)
            return out
        } catch {
            // A broken connection is dropped; a statement error leaves it usable (rolled back above).
            if !c.isClosed { checkin(c) }
            throw error
        }
    }

    private func checkout() throws -> PostgresConnection {
        lock.lock()
        if let c = idle.popLast() {
            lock.unlock()
            if !c.isClosed { return c }
            return try checkout()
        }
        nextID += 1
        let id = nextID
        lock.unlock()
        do {
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(),
                                                  configuration: location.configuration, id: id, logger: logger).wait()
        } catch {
            throw SQLStoreError.connection("PostgreSQL at \(location.display): \(String(reflecting: error))")
        }
    }
    private func checkin(_ c: PostgresConnection) {
        lock.lock()
        if closed { lock.unlock(); let f: EventLoopFuture<Void> = c.close(); _ = f; return }
        idle.append(c)
        lock.unlock()
    }
}

/// Where the PostgreSQL server is, from a `postgres://user:password@host:port/database` URL.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, requireTLS: Bool = false) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.requireTLS = requireTLS
    }

    /// nil when the text is not a postgres:// or postgresql:// URL.
    public init?(url text: String) {
        guard let u = URLComponents(string: text), let scheme = u.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql" else { return nil }
        host = u.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = u.port ?? 5432
        user = u.user?.removingPercentEncoding ?? "postgres"
        password = u.password?.removingPercentEncoding
        let db = u.path.hasPrefix("/") ? String(u.path.dropFirst()) : u.path
        database = db.isEmpty ? user : db
        let mode = u.queryItems?.first { $0.name == "sslmode" }?.value
        requireTLS = mode == "require" || mode == "verify-full" || mode == "verify-ca"
    }

    /// The URL without the password, for logs and messages.
    public var display: String { "postgres://\(user)@\(host):\(port)/\(database)" }
    public var description: String { display }

    var configuration: PostgresConnection.Configuration {
        var tls: PostgresConnection.Configuration.TLS = .disable
        if requireTLS, let ctx = try? NIOSSLContext(configuration: .makeClientConfiguration()) { tls = .require(ctx) }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }
}

final class PostgresSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logger
    private(set) var changesCount = 0

    init(_ connection: PostgresConnection, _ logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    func execute(_ sql: String, _ arguments: SQLArguments) throws {
        if arguments.values.isEmpty, arguments.named.isEmpty, Self.hasSeveralStatements(sql) {
            // DDL scripts: postgres-nio speaks only the extended protocol, one statement per query.
            for statement in SQLDialect.statements(of: sql) { _ = try run(statement, SQLArguments()) }
            changesCount = 0
            return
        }
        let result = try run(sql, arguments)
        changesCount = result.metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow] {
        let result = try run(sql, arguments)
        guard let first = result.first else { return [] }
        let layout = SQLRow.SQLColumns(first.map(\.columnName))
        return result.map { row in SQLRow(layout: layout, values: row.map(Self.value)) }
    }

    func lastInsertedRowID() throws -> Int64 {
        try Int64.fromSQL(rows("SELECT lastval()", SQLArguments()).first?.value(at: 0) ?? .null) ?? 0
    }

    private func run(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        let (text, values) = try SQLDialect.postgres(sql, arguments)
        var binds = PostgresBindings(capacity: values.count)
        for v in values {
            switch v {
            case .null: binds.appendNull()
            case .int(let i): binds.append(i)
            case .double(let d): binds.append(d)
            case .text(let s): binds.append(s)
            case .blob(let b): binds.append(ByteBuffer(bytes: b))
            }
        }
        do {
            return try connection.query(PostgresQuery(unsafeSQL: text, binds: binds), logger: logger).wait()
        } catch let e as PSQLError {
            throw PostgresStatementError(sql: text, message: e.serverInfo?[.message] ?? String(reflecting: e),
                                         code: e.serverInfo?[.sqlState])
        }
    }

    static func hasSeveralStatements(_ sql: String) -> Bool {
        sql.contains(";") && SQLDialect.statements(of: sql).count > 1
    }

    static func value(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8:
            return (try? cell.decode(Int64.self)).map(SQLValue.int) ?? .null
        case .oid:
            // postgres-nio decodes no oid as Int64 (it read NULL): its four bytes, unsigned.
            var bytes = cell.bytes
            return bytes?.readInteger(as: UInt32.self).map { .int(Int64($0)) } ?? .null
        case .float4, .float8:
            return (try? cell.decode(Double.self)).map(SQLValue.double) ?? .null
        case .numeric:
            // sum() of integers: a whole number stays an integer, as SQLite gives it.
            guard let d = try? cell.decode(Decimal.self) else { return .null }
            let x = NSDecimalNumber(decimal: d)
            if d == Decimal(x.int64Value) { return .int(x.int64Value) }
            return .double(x.doubleValue)
        case .bool:
            return (try? cell.decode(Bool.self)).map { .int($0 ? 1 : 0) } ?? .null
        case .bytea:
            return (try? cell.decode(ByteBuffer.self)).map { .blob(Array($0.readableBytesView)) } ?? .null
        default:
            return (try? cell.decode(String.self)).map(SQLValue.text) ?? .null
        }
    }
}

/// A statement PostgreSQL refused, with the server's own message and SQLSTATE.
public struct PostgresStatementError: Error, CustomStringConvertible {
    public let sql: String
    public let message: String
    public let code: String?
    public var description: String { "PostgreSQL: \(message)\(code.map { " (SQLSTATE \($0))" } ?? "") in: \(sql)" }
    /// A unique or exclusion constraint said no.
    public var isConstraint: Bool { code?.hasPrefix("23") ?? false }
}
