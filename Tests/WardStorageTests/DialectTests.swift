import Foundation
import Testing
@testable import WardStorage

/// The helpers repositories ask the dialect for, run on the engine they write for.
@Suite struct DialectTests {
    @Test(arguments: Backend.allCases) func matchesTakesEveryCharacterLiterally(_ backend: Backend) throws {
        let db = try backend.open()
        let keys = ["a*b[1]?%_\\x", "aXb[1]?%_\\x", "a*b[1]?%_\\", "A*B[1]?%_\\x", "a*b1?%_\\x", "a*b[1]?%-\\x", "Thôn Cẩm La/LOA-01"]
        try db.store.write { c in
            for k in keys {
                try c.execute(sql: "INSERT INTO settings (key, value, updated_at) VALUES (?, '1', 0)", arguments: [k])
            }
        }
        func matching(_ pieces: [String]) throws -> [String] {
            let m = db.dialect.matches("key", pieces)
            return try db.store.read { try String.fetchAll($0, sql: "SELECT key FROM settings WHERE \(m.sql) ORDER BY key", arguments: [m.pattern]) }
        }
        #expect(try matching(["a*b[1]?%_\\", ""]) == ["a*b[1]?%_\\", "a*b[1]?%_\\x"])
        #expect(try matching(["", "[1]?%_\\x"]) == ["A*B[1]?%_\\x", "a*b[1]?%_\\x", "aXb[1]?%_\\x"])
        #expect(try matching(["Thôn ", "/LOA-01"]) == ["Thôn Cẩm La/LOA-01"])
        #expect(try matching(["thôn ", "/LOA-01"]).isEmpty)
    }

    @Test(arguments: Backend.allCases) func anEmptyListMatchesNothing(_ backend: Backend) throws {
        let db = try backend.open()
        try db.store.write { try $0.execute(sql: "INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', 0)") }
        func count(_ list: [String]) throws -> Int {
            try db.store.read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM settings WHERE \(SQLDialect.isIn("key", count: list.count))",
                                 arguments: SQLArguments(list)) ?? -1
            }
        }
        #expect(try count([]) == 0)
        #expect(try count(["k", "x"]) == 1)
    }

    @Test func insertOrIgnoreBecomesOnConflictDoNothing() throws {
        let (sql, binds) = try SQLDialect.postgres("INSERT OR IGNORE INTO t (a, b) VALUES (?, :b) -- once;", ["b": "x"] + [1])
        #expect(sql == "INSERT INTO t (a, b) VALUES ($1, $2) -- once\nON CONFLICT DO NOTHING")
        #expect(binds == [.int(1), .text("x")])
    }
}
