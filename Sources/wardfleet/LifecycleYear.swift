import ArgumentParser
import Foundation
import GRDB
import WardDomain
import WardStorage

/// A device's minute reading for `bench lifecycle`: its numeric fields, as charts and roll-ups
/// read them, and its payload text made from the same values (as firmware-sim words it).
struct SyntheticReading {
    let deviceClass: DeviceClass
    /// Dotted field names, in the order of `values`.
    let names: [String]

    init(_ deviceClass: DeviceClass) {
        self.deviceClass = deviceClass
        switch deviceClass {
        case .speaker: names = ["speaker.amp_ok", "speaker.line_ok", "speaker.playing", "speaker.rssi", "speaker.volume"]
        case .camera:
            names = ["camera.oldest_recording_ts", "camera.recording", "camera.storage_total_bytes", "camera.storage_used_bytes",
                     "camera.stream_ok", "camera.write_rate_bps"]
        case .accessPoint:
            names = ["access_point.clients", "access_point.cpu_pct", "access_point.mem_pct", "access_point.rx_bps", "access_point.tx_bps",
                     "access_point.uplink_ok"]
        case .kiosk:
            names = ["kiosk.paper_low", "kiosk.paper_out", "kiosk.printer_ok", "kiosk.ratings.satisfied", "kiosk.ratings.very_satisfied",
                     "kiosk.tickets_issued", "kiosk.tickets_served"]
        }
    }

    /// The reading at `seq` (one a minute) sent at `ts`, into `v` (in `names` order).
    func values(seq: Int, ts: Int64, _ rng: inout SeededRandom, into v: inout [Double]) {
        switch deviceClass {
        case .speaker:
            v[0] = 1; v[1] = 1; v[2] = seq % 1440 < 30 ? 1 : 0; v[3] = Double(-60 - Int(rng.next() % 30)); v[4] = 70
        case .camera:
            v[0] = Double(ts - 2_592_000_000); v[1] = 1; v[2] = 2_000_000_000_000
            v[3] = Double(1_700_000_000_000 + Int(rng.next() % 1_000_000_000)); v[4] = 1; v[5] = Double(300_000 + Int(rng.next() % 100_000))
        case .accessPoint:
            v[0] = Double(rng.next() % 40); v[1] = Double(rng.next() % 1000) / 10; v[2] = 41
            v[3] = Double(rng.next() % 10_000_000); v[4] = Double(rng.next() % 2_000_000); v[5] = 1
        case .kiosk:
            v[0] = 0; v[1] = 0; v[2] = 1; v[3] = Double(seq / 100); v[4] = Double(seq / 60); v[5] = Double(seq / 30); v[6] = Double(seq / 31)
        }
    }

    func payload(_ id: String, seq: Int, ts: Int64, _ v: [Double]) -> String {
        var o = Text()
        o.lit("{\"boot\":\"b\",\"device\":\""); o.text(id); o.lit("\",\"seq\":"); o.int(Int64(seq)); o.lit(",\"ts\":"); o.int(ts)
        o.lit(",\"v\":1,")
        switch deviceClass {
        case .speaker:
            o.lit("\"speaker\":{\"amp_ok\":"); o.bool(v[0]); o.lit(",\"battery_pct\":null,\"line_ok\":"); o.bool(v[1])
            o.lit(",\"playing\":"); o.bool(v[2]); o.lit(",\"power\":\"mains\",\"rssi\":"); o.int(v[3]); o.lit(",\"volume\":"); o.int(v[4])
        case .camera:
            o.lit("\"camera\":{\"oldest_recording_ts\":"); o.int(v[0]); o.lit(",\"recording\":"); o.bool(v[1])
            o.lit(",\"storage_total_bytes\":"); o.int(v[2]); o.lit(",\"storage_used_bytes\":"); o.int(v[3])
            o.lit(",\"stream_ok\":"); o.bool(v[4]); o.lit(",\"write_rate_bps\":"); o.int(v[5])
        case .accessPoint:
            o.lit("\"access_point\":{\"clients\":"); o.int(v[0]); o.lit(",\"cpu_pct\":"); o.text("\(v[1])"); o.lit(",\"mem_pct\":"); o.int(v[2])
            o.lit(",\"rx_bps\":"); o.int(v[3]); o.lit(",\"tx_bps\":"); o.int(v[4]); o.lit(",\"uplink_ok\":"); o.bool(v[5])
        case .kiosk:
            o.lit("\"kiosk\":{\"paper_low\":"); o.bool(v[0]); o.lit(",\"paper_out\":"); o.bool(v[1]); o.lit(",\"printer_ok\":"); o.bool(v[2])
            o.lit(",\"ratings\":{\"satisfied\":"); o.int(v[3]); o.lit(",\"very_satisfied\":"); o.int(v[4]); o.lit("},\"tickets_issued\":")
            o.int(v[5]); o.lit(",\"tickets_served\":"); o.int(v[6])
        }
        o.lit("}}")
        return String(decoding: o.bytes, as: UTF8.self)
    }

    /// Payload bytes, built without intermediate strings (the province's year makes 3 billion).
    struct Text {
        var bytes: [UInt8] = []
        init() { bytes.reserveCapacity(320) }
        mutating func lit(_ s: StaticString) { s.withUTF8Buffer { bytes.append(contentsOf: $0) } }
        mutating func text(_ s: String) { bytes.append(contentsOf: s.utf8) }
        mutating func bool(_ d: Double) { d != 0 ? lit("true") : lit("false") }
        mutating func int(_ d: Double) { int(Int64(d)) }
        mutating func int(_ v: Int64) {
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            var m = v.magnitude
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                          UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var n = 0
            withUnsafeMutableBytes(of: &digits) { d in
                repeat { d[19 - n] = UInt8(m % 10) + 0x30; m /= 10; n += 1 } while m > 0
                bytes.append(contentsOf: d[(20 - n)...])
            }
        }
    }
}

/// What a year of the lifecycle leaves behind, written directly: for every device and hour of
/// the year an hourly roll-up, for every day a daily one, and the hours still kept raw (the
/// last `rawDays`, kiosks' all year) as packed blocks. The readings are made one a minute as in
/// the day-by-day mode; roll-ups are summed from the same values (checked against
/// `TelemetryRollup.aggregate` of the payloads before anything is written) instead of read back,
/// which is what makes a province's year (10.5 billion readings) possible on one machine.
struct LifecycleYearWriter: Sendable {
    let database: WardDatabase
    let end: Date
    let days: Int
    let rawDays: Int
    let keepKioskRaw: Bool

    struct Written { var readings = 0, packed = 0, blocks = 0, hourly = 0, daily = 0 }

    /// One device's rows.
    struct DeviceYear: Sendable {
        var id: String
        var blocks: [(Int64, Int64, [UInt8])] = []
        var hourly: [(Int64, Int64, [UInt8])] = []
        var daily: [(Int64, Int64, [UInt8])] = []
        var readings = 0, packed = 0
    }

    func check() throws {
        var rng = SeededRandom(seed: 1)
        for cls in DeviceClass.allCases {
            let synth = SyntheticReading(cls)
            var v = [Double](repeating: 0, count: synth.names.count)
            var stats = [FieldStats?](repeating: nil, count: v.count)
            var payloads: [(deviceID: String, at: Int64, payload: String)] = []
            for m in 0..<60 {
                let at = Int64(m) * 60_000 + 1_790_812_800_000
                synth.values(seq: 1_000 + m, ts: at, &rng, into: &v)
                payloads.append(("x", at, synth.payload("x", seq: 1_000 + m, ts: at, v)))
                for k in v.indices { if stats[k] == nil { stats[k] = FieldStats(v[k]) } else { stats[k]!.add(v[k]) } }
            }
            let summed = Dictionary(uniqueKeysWithValues: zip(synth.names, stats.map { $0! }))
            guard TelemetryRollup.aggregate(payloads, grain: .hour).first?.fields == summed else {
                throw ValidationError("bench lifecycle: the \(cls.rawValue) reading's summed fields differ from its payload's")
            }
        }
    }

    func year(_ id: String, _ cls: DeviceClass, index: Int, ids: [String: Int64]) -> DeviceYear {
        let synth = SyntheticReading(cls)
        var rng = SeededRandom(seed: 16, stream: id)
        var v = [Double](repeating: 0, count: synth.names.count)
        var out = DeviceYear(id: id)
        let hours = days * 24
        let endMs = Int64(end.timeIntervalSince1970 * 1000)
        let firstHour = endMs - Int64(hours) * 3_600_000
        let rawFrom = cls == .kiosk && keepKioskRaw ? 0 : max(0, hours - rawDays * 24)
        var stats = [FieldStats](repeating: FieldStats(0), count: v.count)
        var dayStats = stats
        var samples: [PackedSample] = []
        samples.reserveCapacity(60)
        for h in 0..<hours {
            let hour = firstHour + Int64(h) * 3_600_000
            let raw = h >= rawFrom
            samples.removeAll(keepingCapacity: true)
            for m in 0..<60 {
                let seq = h * 60 + m
                let at = hour + Int64(m) * 60_000 + Int64(index % 57) * 1000
                synth.values(seq: seq, ts: at, &rng, into: &v)
                for k in v.indices { if m == 0 { stats[k] = FieldStats(v[k]) } else { stats[k].add(v[k]) } }
                if raw {
                    samples.append(PackedSample(receivedAt: at, deviceTime: at, boot: "b", seq: UInt64(seq),
                                                payload: synth.payload(id, seq: seq, ts: at, v)))
                }
            }
            out.readings += 60
            if raw {
                out.blocks.append((hour, 60, TelemetryBlock.encode(samples)))
                out.packed += 60
            }
            let rollup = TelemetryRollup(deviceID: id, grain: .hour, start: hour, samples: 60,
                                         fields: Dictionary(uniqueKeysWithValues: zip(synth.names, stats)))
            out.hourly.append((hour, 60, rollup.packedFields(ids: ids)))
            for k in stats.indices { if h % 24 == 0 { dayStats[k] = stats[k] } else { dayStats[k].merge(stats[k]) } }
            if (h + 1) % 24 == 0 {
                let day = TelemetryRollup(deviceID: id, grain: .day, start: hour - 23 * 3_600_000, samples: 24 * 60,
                                          fields: Dictionary(uniqueKeysWithValues: zip(synth.names, dayStats)))
                out.daily.append((day.start, day.samples, day.packedFields(ids: ids)))
            }
        }
        return out
    }

    /// Devices in id order (the tables' key order), two made at a time while the previous two are written.
    /// `skipping`: devices an interrupted run wrote (each keeps its index in `fleet`, so its readings are the same).
    func write(fleet: [(String, DeviceClass)], skipping: Set<String> = [], progress: (Int, Written) -> Void) async throws -> Written {
        try check()
        let ids = try LifecycleRepository(database).fieldIDs(Set(DeviceClass.allCases.flatMap { SyntheticReading($0).names }))
        let sorted = fleet.enumerated().map { ($0.offset, $0.element.0, $0.element.1) }.filter { !skipping.contains($0.1) }.sorted { $0.1 < $1.1 }
        var written = Written()
        var pending: Task<[DeviceYear], Error>?
        let writer = self
        func store(_ years: [DeviceYear]) async throws {
            try await database.pool.write { db in
                let block = try db.cachedStatement(sql: "INSERT INTO telemetry_blocks (device_id, bucket, samples, data) VALUES (?, ?, ?, ?)")
                let hourly = try db.cachedStatement(sql: "INSERT INTO telemetry_hourly (device_id, bucket, samples, fields) VALUES (?, ?, ?, ?)")
                let daily = try db.cachedStatement(sql: "INSERT INTO telemetry_daily (device_id, bucket, samples, fields) VALUES (?, ?, ?, ?)")
                for y in years {
                    for (t, n, data) in y.blocks { try block.execute(arguments: [y.id, t, n, Data(data)]) }
                    for (t, n, data) in y.hourly { try hourly.execute(arguments: [y.id, t, n, Data(data)]) }
                    for (t, n, data) in y.daily { try daily.execute(arguments: [y.id, t, n, Data(data)]) }
                }
            }
            for y in years {
                written.readings += y.readings; written.packed += y.packed
                written.blocks += y.blocks.count; written.hourly += y.hourly.count; written.daily += y.daily.count
            }
        }
        for start in stride(from: 0, to: sorted.count, by: 2) {
            let chunk = Array(sorted[start..<min(start + 2, sorted.count)])
            let next = Task {
                try await withThrowingTaskGroup(of: DeviceYear.self) { group in
                    for (index, id, cls) in chunk { group.addTask { writer.year(id, cls, index: index, ids: ids) } }
                    var out: [DeviceYear] = []
                    for try await y in group { out.append(y) }
                    return out.sorted { $0.id < $1.id }
                }
            }
            if let p = pending { try await store(try await p.value); progress(start, written) }
            pending = next
        }
        if let p = pending { try await store(try await p.value) }
        let endMs = Int64(end.timeIntervalSince1970 * 1000)
        try await database.pool.write { db in
            for name in ["rollup.hour", "rollup.day"] {
                try db.execute(sql: "INSERT OR REPLACE INTO lifecycle_marks (name, value, device_id, updated_at) VALUES (?, ?, '', ?)",
                               arguments: [name, endMs, endMs])
            }
        }
        return written
    }
}
