import Foundation

/// One value crossing the storage boundary, in either backend. Times are integers (epoch
/// milliseconds) and flags are 0/1 integers in both, so one repository reads both alike.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that can be bound as an argument and read back from a column.
public protocol SQLValueConvertible {
    var sqlValue: SQLValue { get }
    /// nil when the stored value is NULL or cannot be this type.
    static func fromSQL(_ value: SQLValue) -> Self?
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(self) }
    public static func fromSQL(_ v: SQLValue) -> Int64? {
        switch v {
        case .int(let i): i
        case .double(let d): d.isFinite ? Int64(d) : nil
        case .text(let s): Int64(s)
        default: nil
        }
    }
}
extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(Int64(self)) }
    public static func fromSQL(_ v: SQLValue) -> Int? { Int64.fromSQL(v).map(Int.init) }
}
extension Int32: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(Int64(self)) }
    public static func fromSQL(_ v: SQLValue) -> Int32? { Int64.fromSQL(v).flatMap { Int32(exactly: $0) } }
}
extension UInt64: SQLValueConvertible {
    // Sequence numbers: stored as the signed integer both engines have.
    public var sqlValue: SQLValue { .int(Int64(bitPattern: self)) }
    public static func fromSQL(_ v: SQLValue) -> UInt64? { Int64.fromSQL(v).map { UInt64(bitPattern: $0) } }
}
extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .double(self) }
    public static func fromSQL(_ v: SQLValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        case .text(let s): Double(s)
        default: nil
        }
    }
}
extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(self ? 1 : 0) }
    public static func fromSQL(_ v: SQLValue) -> Bool? { Int64.fromSQL(v).map { $0 != 0 } }
}
extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public static func fromSQL(_ v: SQLValue) -> String? {
        switch v {
        case .text(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .blob(let b): String(decoding: b, as: UTF8.self)
        case .null: nil
        }
    }
}
extension Data: SQLValueConvertible {
    public var sqlValue: SQLValue { .blob([UInt8](self)) }
    public static func fromSQL(_ v: SQLValue) -> Data? {
        switch v {
        case .blob(let b): Data(b)
        case .text(let s): Data(s.utf8)
        default: nil
        }
    }
}
extension SQLValue: SQLValueConvertible {
    public var sqlValue: SQLValue { self }
    public static func fromSQL(_ v: SQLValue) -> SQLValue? { v }
}
/// A statement's arguments: positional (`?`) or named (`:name`).
public struct SQLArguments: Sendable, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public var values: [SQLValue]
    public var named: [String: SQLValue]

    public init() { values = []; named = [:] }
    public init(_ values: [(any SQLValueConvertible)?]) {
        self.values = values.map { $0?.sqlValue ?? .null }
        named = [:]
    }
    public init(_ values: [any SQLValueConvertible]) {
        self.values = values.map(\.sqlValue)
        named = [:]
    }
    public init(arrayLiteral elements: (any SQLValueConvertible)?...) { self.init(elements) }
    public init(dictionaryLiteral elements: (String, (any SQLValueConvertible)?)...) {
        values = []
        named = Dictionary(elements.map { ($0.0, $0.1?.sqlValue ?? .null) }, uniquingKeysWith: { $1 })
    }
    public static func + (a: SQLArguments, b: SQLArguments) -> SQLArguments {
        var out = a
        out.values += b.values
        out.named.merge(b.named) { $1 }
        return out
    }
}

/// One result row: read by column name (case-insensitive) or position, as any convertible type.
public struct SQLRow: Sendable {
    public let values: [SQLValue]
    private let layout: SQLColumns
    public var columns: [String] { layout.names }

    /// The column names of one result, and their lower-cased index: built once per query and
    /// shared by its rows (a dictionary per row cost more than the rows' values on large reads).
    public final class SQLColumns: Sendable {
        let names: [String]
        let index: [String: Int]
        public init(_ names: [String]) {
            self.names = names
            var index: [String: Int] = [:]
            for (i, c) in names.enumerated() where index[c.lowercased()] == nil { index[c.lowercased()] = i }
            self.index = index
        }
    }

    public init(columns: [String], values: [SQLValue]) {
        self.init(layout: SQLColumns(columns), values: values)
    }

    public init(layout: SQLColumns, values: [SQLValue]) {
        self.layout = layout
        self.values = values
    }

    public var count: Int { values.count }
    public func value(at i: Int) -> SQLValue { i < values.count ? values[i] : .null }
    public func value(named name: String) -> SQLValue {
        // Exact names first: callers name columns as the query does, so most lookups skip lower-casing.
        if let i = layout.index[name] ?? layout.index[name.lowercased()] { return values[i] }
        return .null
    }
    public func hasColumn(_ name: String) -> Bool { layout.index[name.lowercased()] != nil }

    public subscript<T: SQLValueConvertible>(_ i: Int) -> T { Self.required(value(at: i), "#\(i)") }
    public subscript<T: SQLValueConvertible>(_ i: Int) -> T? { T.fromSQL(value(at: i)) }
    public subscript<T: SQLValueConvertible>(_ name: String) -> T { Self.required(value(named: name), name) }
    public subscript<T: SQLValueConvertible>(_ name: String) -> T? { T.fromSQL(value(named: name)) }

    private static func required<T: SQLValueConvertible>(_ v: SQLValue, _ column: String) -> T {
        // Reading a required column that is NULL or of another type is a schema bug, as in GRDB.
        guard let t = T.fromSQL(v) else { preconditionFailure("column \(column): \(v) is not \(T.self)") }
        return t
    }
}

extension Optional where Wrapped: SQLValueConvertible {
    /// The value, or NULL.
    public var sql: SQLValue { self?.sqlValue ?? .null }
}
