import Foundation
import WardDomain

/// Raw telemetry as stored (v28): rows of `telemetry_samples` (what arrived since the last hour
/// was rolled up, and samples that arrived after their hour was) and packed hours in
/// `telemetry_blocks`. Every reader of raw samples goes through here, so it sees both.
enum RawTelemetry {
    /// Another lifecycle (a former leader that stalled past its lease) packed these rows first.
    public struct Overlap: Error, CustomStringConvertible {
        public var description: String {
            "another node packed this hour's telemetry first; this roll-up batch is rolled back and the next starts from the new mark"
        }
    }

    /// Packs the hour at `hour` from `rows` (that hour's `telemetry_samples` rows of the batch's
    /// devices) into one block per device and deletes the rows, in the roll-up's transaction, so an
    /// hour is packed exactly when it is rolled up. Returns every sample of the blocks written (the
    /// roll-up is made from them). The rows are deleted first, by id: if any is gone, another node
    /// packed them meanwhile and the batch rolls back (`Overlap`) rather than store them twice; a
    /// late row another node stores meanwhile stays a row. A block already there (a mark reset by
    /// hand) is merged with, not replaced.
    static func pack(_ c: SQLConnection, _ rows: [SQLRow], hour: Int64) throws -> [(deviceID: String, at: Int64, payload: String)] {
        guard !rows.isEmpty else { return [] }
        var byDevice: [String: [(id: Int64, sample: PackedSample)]] = [:]
        for r in rows {
            let id: Int64 = r["id"]
            byDevice[r["device_id"], default: []].append((id, sample(r)))
        }
        let ids = byDevice.values.flatMap { $0.map(\.id) }
        var deleted = 0
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(start + 500, ids.count)])
            try c.execute(sql: "DELETE FROM telemetry_samples WHERE \(SQLDialect.isIn("id", count: chunk.count))", arguments: SQLArguments(chunk))
            deleted += c.changesCount
        }
        guard deleted == ids.count else { throw Overlap() }
        var args = SQLArguments()
        args.values = byDevice.keys.sorted().map(\.sqlValue) + [hour.sqlValue]
        var existing: [String: [PackedSample]] = [:]
        for r in try SQLRow.fetchAll(c, sql: """
            SELECT device_id, samples, data FROM telemetry_blocks WHERE \(SQLDialect.isIn("device_id", count: byDevice.count)) AND bucket = ?
            """, arguments: args) {
            let data: Data = r["data"]
            existing[r["device_id"]] = try TelemetryBlock.decode(Array(data), count: r["samples"])
        }
        var packed: [(deviceID: String, at: Int64, payload: String)] = []
        let blocks = byDevice.keys.sorted().map { device -> [SQLValue] in
            let new = byDevice[device]!.sorted { ($0.sample.receivedAt, $0.id) < ($1.sample.receivedAt, $1.id) }.map(\.sample)
            let samples = existing[device].map { old in
                (old + new).enumerated().sorted { ($0.element.receivedAt, $0.offset) < ($1.element.receivedAt, $1.offset) }.map(\.element)
            } ?? new
            packed += samples.map { (device, $0.receivedAt, $0.payload) }
            return [device.sqlValue, hour.sqlValue, Int64(samples.count).sqlValue, .blob(TelemetryBlock.encode(samples))]
        }
        try c.insertMany("INSERT INTO telemetry_blocks (device_id, bucket, samples, data)", columns: 4, rows: blocks,
                         tail: "ON CONFLICT (device_id, bucket) DO UPDATE SET samples = excluded.samples, data = excluded.data")
        return packed
    }

    static func record(_ device: String) -> (PackedSample) -> TelemetryRecord {
        { s in
            TelemetryRecord(deviceID: device, receivedAt: Date(millis: s.receivedAt), deviceTime: Date(millis: s.deviceTime),
                            boot: s.boot, seq: s.seq, payload: s.payload)
        }
    }

    static func sample(_ r: SQLRow) -> PackedSample {
        PackedSample(receivedAt: r["received_at"], deviceTime: r["device_ts"], boot: r["boot"], seq: UInt64(bitPattern: r["seq"]),
                     payload: r["payload"])
    }

    /// The blocks of `device` whose hour meets [from, to), in hour order (or newest first), unpacked
    /// and cut to [from, to).
    static func blocks(_ c: SQLConnection, device: String, from: Int64, to: Int64, newestFirst: Bool = false,
                       limit: Int = .max) throws -> [(hour: Int64, samples: [PackedSample])] {
        guard from < to else { return [] }
        let rows = try SQLRow.fetchAll(c, sql: """
            SELECT bucket, samples, data FROM telemetry_blocks WHERE device_id = ? AND bucket >= ? AND bucket < ?
            ORDER BY bucket \(newestFirst ? "DESC" : "") LIMIT ?
            """, arguments: [device, from < -(1 << 60) ? from : RollupGrain.hour.bucket(from), to, Int64(min(limit, Int(Int32.max)))])
        return try rows.map { r in
            let data: Data = r[2]
            return (r[0], try TelemetryBlock.decode(Array(data), count: r[1]).filter { $0.receivedAt >= from && $0.receivedAt < to })
        }
    }

    /// Every sample of `device` received in [from, to), oldest first (blocks before rows at the same ms).
    static func samples(_ c: SQLConnection, device: String, from: Int64, to: Int64) throws -> [PackedSample] {
        guard from < to else { return [] }
        let packed = try blocks(c, device: device, from: from, to: to).flatMap(\.samples)
        let rows = try SQLRow.fetchAll(c, sql: """
            SELECT * FROM telemetry_samples WHERE device_id = ? AND received_at >= ? AND received_at < ? ORDER BY received_at, id
            """, arguments: [device, from, to]).map(sample)
        return merge(packed, rows)
    }

    /// The newest `limit` samples of `device` received in [from, to), oldest first.
    static func newest(_ c: SQLConnection, device: String, from: Int64 = .min, to: Int64, limit: Int) throws -> [PackedSample] {
        guard from < to, limit > 0 else { return [] }
        let rows = try SQLRow.fetchAll(c, sql: """
            SELECT * FROM telemetry_samples WHERE device_id = ? AND received_at >= ? AND received_at < ?
            ORDER BY received_at DESC, id DESC LIMIT ?
            """, arguments: [device, from, to, Int64(min(limit, Int(Int32.max)))]).reversed().map(sample)
        // Blocks newest first until they hold `limit`: every sample of an older block is older than those.
        // When the rows alone fill `limit`, only blocks of the oldest row's hour or later can have newer ones.
        let from = rows.count == limit ? max(from, RollupGrain.hour.bucket(rows[0].receivedAt)) : from
        var packed: [[PackedSample]] = []
        var held = 0, upTo = to
        while held < limit {
            let page = try blocks(c, device: device, from: from, to: upTo, newestFirst: true, limit: 24)
            packed += page.map(\.samples)
            held += page.reduce(0) { $0 + $1.samples.count }
            guard page.count == 24, let oldest = page.last?.hour else { break }
            upTo = oldest
        }
        return Array(merge(packed.reversed().flatMap { $0 }, rows).suffix(limit))
    }

    /// Samples from blocks and rows, each oldest first, into one list by time.
    static func merge(_ packed: [PackedSample], _ rows: [PackedSample]) -> [PackedSample] {
        guard !rows.isEmpty else { return packed }
        guard !packed.isEmpty else { return rows }
        var out: [PackedSample] = []
        out.reserveCapacity(packed.count + rows.count)
        var i = 0, j = 0
        while i < packed.count || j < rows.count {
            if j == rows.count || (i < packed.count && packed[i].receivedAt <= rows[j].receivedAt) {
                out.append(packed[i]); i += 1
            } else {
                out.append(rows[j]); j += 1
            }
        }
        return out
    }

    /// Samples stored, packed or not.
    static func count(_ c: SQLConnection) throws -> Int {
        (try Int.fetchOne(c, sql: "SELECT count(*) FROM telemetry_samples") ?? 0)
            + (try Int.fetchOne(c, sql: "SELECT coalesce(sum(samples), 0) FROM telemetry_blocks") ?? 0)
    }
}
