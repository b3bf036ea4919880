import Foundation
import Testing
@testable import WardStorage

/// The two storage backends every storage test runs against: a SQLite file in a temp folder and a
/// new database on one private PostgreSQL server (initdb in a temp folder, free loopback port),
/// started once for the test process.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static let server: Result<LocalPostgres, any Error> = Result { try LocalPostgres() }

    func open() throws -> WardDatabase {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-storage-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return try WardDatabase(path: dir.appendingPathComponent("t.sqlite").path)
        case .postgres:
            return try WardDatabase(postgres: try Self.server.get().createMigratedDatabase("storage"))
        }
    }
}

@Suite struct BackendSmokeTests {
    @Test(arguments: Backend.allCases) func migratesAndRoundTripsValues(_ backend: Backend) throws {
        let db = try backend.open()
        try db.store.write { c in
            try c.execute(sql: "INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)",
                          arguments: ["k", "Xã Cẩm La – loa truyền thanh", nil, 1_795_000_000_123 as Int64])
        }
        let row = try db.store.read { try SQLRow.fetchOne($0, sql: "SELECT value, updated_by, updated_at FROM settings WHERE key = ?", arguments: ["k"]) }
        #expect(row?["value"] as String? == "Xã Cẩm La – loa truyền thanh")
        #expect(row?["updated_by"] as String? == nil)
        #expect(row?["updated_at"] as Int64? == 1_795_000_000_123)
        // Reopening runs no migration twice.
        let again = backend == .sqlite ? try WardDatabase(path: db.path) : try WardDatabase.open(db.path)
        _ = again
    }
}
