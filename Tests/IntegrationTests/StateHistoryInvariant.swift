import Foundation
import WardStorage

/// The drills' first invariant, on either engine: each device's history is a contiguous partition
/// of time (ordered intervals, each ending where the next begins, none negative, exactly one open
/// and it is the last). Returns what is wrong, device by device.
func stateHistoryProblems(_ database: WardDatabase, devices: [String]) throws -> [String] {
    try database.store.read { db in
        var problems: [String] = []
        for id in devices {
            let rows = try SQLRow.fetchAll(db, sql: "SELECT state, started_at, ended_at FROM state_intervals WHERE device_id = ? ORDER BY started_at, id",
                                           arguments: [id])
            let open = rows.filter { ($0["ended_at"] as Int64?) == nil }
            if open.count != 1 { problems.append("\(id): \(open.count) open intervals") }
            if let last = rows.last, (last["ended_at"] as Int64?) != nil { problems.append("\(id): the last interval is closed") }
            for r in rows {
                if let e = r["ended_at"] as Int64?, e < r["started_at"] as Int64 {
                    problems.append("\(id): negative interval \(r["state"] as String) \(r["started_at"] as Int64)→\(e)")
                }
            }
            for (a, b) in zip(rows, rows.dropFirst()) {
                guard let e = a["ended_at"] as Int64? else { problems.append("\(id): open interval before another"); continue }
                let s = b["started_at"] as Int64
                if e < s { problems.append("\(id): gap \(e)→\(s)") }
                if e > s { problems.append("\(id): overlap \(s)…\(e)") }
            }
        }
        return problems
    }
}
