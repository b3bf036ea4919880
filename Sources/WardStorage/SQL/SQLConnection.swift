import Foundation

/// What a backend does for one open session: run a statement, fetch rows, report what it changed.
/// The SQLite adapter (GRDB) and the PostgreSQL adapter (postgres-nio) implement it; repositories
/// only see `SQLConnection`.
protocol SQLSession: AnyObject {
    func execute(_ sql: String, _ arguments: SQLArguments) throws
    func rows(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow]
    /// Rows changed by the latest execute.
    var changesCount: Int { get }
    /// The id given by the latest insert into a table with a generated id.
    func lastInsertedRowID() throws -> Int64
}

/// A connection inside one read or write transaction, handed to repository closures.
public final class SQLConnection {
    public let dialect: SQLDialect
    let session: any SQLSession

    init(dialect: SQLDialect, session: any SQLSession) {
        self.dialect = dialect
        self.session = session
    }

    public func execute(sql: String, arguments: SQLArguments = SQLArguments()) throws {
        try session.execute(sql, arguments)
    }
    public var changesCount: Int { session.changesCount }
    public var lastInsertedRowID: Int64 { get throws { try session.lastInsertedRowID() } }

    /// Run after this transaction commits (never on rollback), as GRDB's hook of the same name.
    public func afterNextTransaction(onCommit: @escaping (SQLConnection) -> Void) { commitHooks.append { onCommit(self) } }
    var commitHooks: [() -> Void] = []
    func committed() {
        let hooks = commitHooks
        commitHooks = []
        for h in hooks { h() }
    }

    /// Many rows in multi-row VALUES, a few hundred per statement: on PostgreSQL one round trip
    /// per chunk instead of one per row. `head` is everything before VALUES, `tail` what follows
    /// (an ON CONFLICT clause).
    public func insertMany(_ head: String, columns: Int, rows: [[SQLValue]], tail: String = "") throws {
        guard !rows.isEmpty else { return }
        let perStatement = max(1, min(500, 30_000 / max(columns, 1)))
        let tuple = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            let sql = head + " VALUES " + Array(repeating: tuple, count: chunk.count).joined(separator: ", ") + (tail.isEmpty ? "" : " " + tail)
            var arguments = SQLArguments()
            arguments.values = chunk.flatMap { $0 }
            try execute(sql: sql, arguments: arguments)
            start += chunk.count
        }
    }

    /// GRDB's name kept: a statement run many times in one transaction (both backends cache the plan).
    public func cachedStatement(sql: String) throws -> SQLStatement { SQLStatement(connection: self, sql: sql) }
}

public struct SQLStatement {
    let connection: SQLConnection
    public let sql: String
    public func execute(arguments: SQLArguments = SQLArguments()) throws { try connection.execute(sql: sql, arguments: arguments) }
}

extension SQLRow {
    public static func fetchAll(_ db: SQLConnection, sql: String, arguments: SQLArguments = SQLArguments()) throws -> [SQLRow] {
        try db.session.rows(sql, arguments)
    }
    /// The rows one by one; the name is GRDB's (both backends hand back the whole result).
    public static func fetchCursor(_ db: SQLConnection, sql: String, arguments: SQLArguments = SQLArguments()) throws -> SQLCursor {
        SQLCursor(rows: try fetchAll(db, sql: sql, arguments: arguments))
    }
    public static func fetchOne(_ db: SQLConnection, sql: String, arguments: SQLArguments = SQLArguments()) throws -> SQLRow? {
        try fetchAll(db, sql: sql, arguments: arguments).first
    }
    public static func fetchAll(_ st: SQLStatement, arguments: SQLArguments = SQLArguments()) throws -> [SQLRow] {
        try fetchAll(st.connection, sql: st.sql, arguments: arguments)
    }
    public static func fetchOne(_ st: SQLStatement, arguments: SQLArguments = SQLArguments()) throws -> SQLRow? {
        try fetchAll(st.connection, sql: st.sql, arguments: arguments).first
    }
}

extension SQLValueConvertible {
    /// The first column of every row; NULLs are skipped, as in GRDB.
    public static func fetchAll(_ db: SQLConnection, sql: String, arguments: SQLArguments = SQLArguments()) throws -> [Self] {
        try SQLRow.fetchAll(db, sql: sql, arguments: arguments).compactMap { fromSQL($0.value(at: 0)) }
    }
    public static func fetchSet(_ db: SQLConnection, sql: String, arguments: SQLArguments = SQLArguments()) throws -> Set<Self>
    where Self: Hashable {
        Set(try fetchAll(db, sql: sql, arguments: arguments))
    }
    /// The first column of the first row; nil when there is no row or it is NULL.
    public static func fetchOne(_ db: SQLConnection, sql: String, arguments: SQLArguments = SQLArguments()) throws -> Self? {
        try SQLRow.fetchOne(db, sql: sql, arguments: arguments).flatMap { fromSQL($0.value(at: 0)) }
    }
    public static func fetchOne(_ st: SQLStatement, arguments: SQLArguments = SQLArguments()) throws -> Self? {
        try fetchOne(st.connection, sql: st.sql, arguments: arguments)
    }
}

/// A database that runs closures in read or write transactions. Writes are serialised within a
/// process in both backends (SQLite has one writer; on PostgreSQL the same rule keeps each
/// repository's read-then-write steps whole).
public protocol SQLStore: Sendable {
    var dialect: SQLDialect { get }
    func read<T>(_ body: (SQLConnection) throws -> T) throws -> T
    func write<T>(_ body: (SQLConnection) throws -> T) throws -> T
    /// A write transaction that is not serialised with this process's other writes: for the
    /// ingest flush of one commune's owner, which shares no rows with other writers.
    func writeConcurrently<T>(_ body: (SQLConnection) throws -> T) throws -> T
    func close()
}

extension SQLStore {
    public func read<T>(_ body: (SQLConnection) throws -> T) async throws -> T { try read(body) }
    public func write<T>(_ body: (SQLConnection) throws -> T) async throws -> T { try write(body) }
}

public struct SQLCursor: Sequence, IteratorProtocol {
    var rows: [SQLRow]
    var at = 0
    init(rows: [SQLRow]) { self.rows = rows }
    public mutating func next() -> SQLRow? {
        guard at < rows.count else { return nil }
        defer { at += 1 }
        return rows[at]
    }
}
