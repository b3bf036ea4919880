import Foundation
import GRDB

/// The embedded default: one SQLite file through GRDB (WAL, one writer, many readers).
public final class SQLiteStore: SQLStore, @unchecked Sendable {
    public let pool: DatabasePool
    public var dialect: SQLDialect { .sqlite }

    init(pool: DatabasePool) { self.pool = pool }

    public func read<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        try pool.read { try body(SQLConnection(dialect: .sqlite, session: GRDBSession($0))) }
    }
    public func write<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        var connection: SQLConnection?
        let out = try pool.write { db in
            let c = SQLConnection(dialect: .sqlite, session: GRDBSession(db))
            connection = c
            return try body(c)
        }
        connection?.committed()
        return out
    }
    public func writeConcurrently<T>(_ body: (SQLConnection) throws -> T) throws -> T { try write(body) }
    public func close() { try? pool.close() }
}

final class GRDBSession: SQLSession {
    let db: GRDB.Database
    init(_ db: GRDB.Database) { self.db = db }

    func execute(_ sql: String, _ arguments: SQLArguments) throws {
        // One statement is prepared once per connection; text with several statements runs as given.
        let st: GRDB.Statement
        do { st = try statement(sql, arguments) } catch {
            return try db.execute(sql: sql, arguments: Self.grdb(arguments))
        }
        try st.execute(arguments: Self.grdb(arguments))
        Self.letGo(st, arguments)
    }

    /// Text and blob arguments of more bytes than this are let go by their statement once it ran.
    static let largeArgumentBytes = 64 * 1024

    /// A statement keeps its last arguments (and SQLite its own copy of them, bound) until it runs
    /// again, and a cached one lives as long as its connection: a province's monthly report body
    /// (50 MB at 100,000 devices) stayed resident for the rest of the run. Large ones are unbound at once.
    /// Only after a statement succeeded: GRDB drops a failed one from its cache (its arguments go
    /// with it), and unbinding resets the statement, which would trap on a failed run's error.
    static func letGo(_ st: GRDB.Statement, _ arguments: SQLArguments) {
        // Every statement comes here: counted in place (no array of the arguments), stopping at the bound.
        var bytes = 0
        func add(_ v: SQLValue) -> Bool {
            switch v {
            case .text(let t): bytes += t.utf8.count
            case .blob(let b): bytes += b.count
            case .null, .int, .double: break
            }
            return bytes > largeArgumentBytes
        }
        guard arguments.values.contains(where: add) || arguments.named.values.contains(where: add) else { return }
        st.setUncheckedArguments(StatementArguments())
    }

    /// Statements with more parameters than this are prepared for one use, not cached.
    static let cachedParameterLimit = 100

    /// The connection's cached statement for `sql`, unless it has many parameters: those are the
    /// multi-row inserts (`insertMany`) and long IN lists, whose text differs with their row
    /// count. Cached, every size met would stay prepared for the connection's life, each with its
    /// thousands of bound values: 140 MB after a few minutes of a 50,000-device fleet's flushes.
    private func statement(_ sql: String, _ arguments: SQLArguments) throws -> GRDB.Statement {
        arguments.values.count + arguments.named.count <= Self.cachedParameterLimit
            ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
    }

    func rows(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow] {
        let st = try statement(sql, arguments)
        let layout = SQLRow.SQLColumns(st.columnNames)
        let width = layout.names.count
        // A cursor reads each row in place (no GRDB row copy per row); the values are copied out once.
        let cursor = try GRDB.Row.fetchCursor(st, arguments: Self.grdb(arguments))
        var out: [SQLRow] = []
        while let r = try cursor.next() {
            var values: [SQLValue] = []
            values.reserveCapacity(width)
            for i in 0..<width { values.append(Self.value(r[i] as GRDB.DatabaseValue)) }
            out.append(SQLRow(layout: layout, values: values))
        }
        Self.letGo(st, arguments)
        return out
    }
    var changesCount: Int { db.changesCount }
    func lastInsertedRowID() throws -> Int64 { db.lastInsertedRowID }

    static func grdb(_ a: SQLArguments) -> StatementArguments {
        if !a.named.isEmpty {
            return StatementArguments(a.named.mapValues { dbValue($0) as (any GRDB.DatabaseValueConvertible)? })
        }
        return StatementArguments(a.values.map(dbValue))
    }
    static func dbValue(_ v: SQLValue) -> GRDB.DatabaseValue {
        switch v {
        case .null: .null
        case .int(let i): i.databaseValue
        case .double(let d): d.databaseValue
        case .text(let s): s.databaseValue
        case .blob(let b): Data(b).databaseValue
        }
    }
    static func value(_ d: GRDB.DatabaseValue) -> SQLValue {
        switch d.storage {
        case .null: .null
        case .int64(let i): .int(i)
        case .double(let x): .double(x)
        case .string(let s): .text(s)
        case .blob(let b): .blob([UInt8](b))
        }
    }
}
