import Foundation

extension WardDatabase {
    /// Whether the database takes a write now: a row is inserted in a write transaction that is then
    /// rolled back, so nothing is kept. Fails on a read-only file or PostgreSQL replica (a demoted
    /// primary after a fail-over), a lost server, or a write lock held past the store's timeout.
    /// Uses `writeConcurrently`: PostgreSQL's in-process write lock (the ingest writer's) is not
    /// waited for; the server's own locks still are.
    public func probeWrite() throws {
        do {
            try store.writeConcurrently { db in
                try db.execute(sql: "INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)",
                               arguments: ["readyz.probe.\(UUID().uuidString)", "{}", "readyz", 0])
                throw WriteProbeRollback()
            }
        } catch is WriteProbeRollback {
            return
        }
    }
}

private struct WriteProbeRollback: Error {}
