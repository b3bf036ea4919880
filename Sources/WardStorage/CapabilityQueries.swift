import Foundation

extension HealthQueries {
    /// The latest birth (JSON as received) of every device whose birth contains `text`, by device id:
    /// a cheap first cut for "which devices announce capability X" (the caller decodes each birth
    /// to be sure: the text may also stand in a model name).
    public func births(containing text: String) throws -> [String: String] {
        try db.store.read { db in
            let match = db.dialect.matches("birth", ["", text, ""])
            var out: [String: String] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT device_id, birth FROM device_status WHERE birth IS NOT NULL AND \(match.sql)",
                                         arguments: [match.pattern]) {
                out[r["device_id"]] = r["birth"]
            }
            return out
        }
    }
}
