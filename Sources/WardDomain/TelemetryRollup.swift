import Foundation

/// The length of a roll-up bucket. Buckets start at whole UTC hours and whole UTC days
/// (Asia/Ho_Chi_Minh is UTC+7 without daylight saving, so hours are the same local hours).
public enum RollupGrain: String, Sendable, CaseIterable, Codable {
    case hour, day

    public var milliseconds: Int64 { self == .hour ? 3_600_000 : 86_400_000 }

    /// The start (Unix ms, UTC) of the bucket holding `millis`; floor division, also before 1970.
    public func bucket(_ millis: Int64) -> Int64 {
        let m = milliseconds
        let q = millis / m
        return (millis % m < 0 ? q - 1 : q) * m
    }
    public func bucket(of date: Date) -> Date {
        Date(timeIntervalSince1970: Double(bucket(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))) / 1000)
    }
}

/// Min, max, sum and count of one numeric field over a bucket: enough to merge buckets exactly
/// (hours into days, days into chart points) and to give the mean.
public struct FieldStats: Sendable, Hashable, Codable {
    public var count: Int64
    public var min: Double
    public var max: Double
    public var sum: Double

    public init(_ value: Double) {
        count = 1; min = value; max = value; sum = value
    }
    public init(count: Int64, min: Double, max: Double, sum: Double) {
        self.count = count; self.min = min; self.max = max; self.sum = sum
    }
    public var mean: Double { count == 0 ? 0 : sum / Double(count) }

    public mutating func add(_ value: Double) {
        count += 1
        min = Swift.min(min, value)
        max = Swift.max(max, value)
        sum += value
    }
    public mutating func merge(_ other: FieldStats) {
        count += other.count
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        sum += other.sum
    }
}

/// One device's telemetry over one bucket: per numeric field (dotted path, as in charts) its
/// statistics, and how many samples the bucket held (also those with no numeric field).
public struct TelemetryRollup: Sendable, Hashable {
    public var deviceID: String
    public var grain: RollupGrain
    /// Bucket start, Unix ms UTC.
    public var start: Int64
    public var samples: Int64
    public var fields: [String: FieldStats]

    public init(deviceID: String, grain: RollupGrain, start: Int64, samples: Int64 = 0, fields: [String: FieldStats] = [:]) {
        self.deviceID = deviceID
        self.grain = grain
        self.start = start
        self.samples = samples
        self.fields = fields
    }

    /// The numeric fields of one stored payload, as charts read them (booleans 0/1, text and the
    /// envelope's `v`, `ts`, `seq` left out); nil when the payload is not a JSON object.
    public static func numericFields(_ payload: String) -> [(String, Double)]? {
        guard case .object(let object)? = try? JSONDecoder().decode(TelemetrySeries.Leaf.self, from: Data(payload.utf8)) else { return nil }
        return TelemetrySeries.flatten(object, prefix: "").filter { !TelemetrySeries.envelope.contains($0.0) }
    }

    /// Samples (any order) into roll-ups of `grain`, one per device and bucket that has samples;
    /// sorted by device, then time. Unreadable payloads count as samples and add no field.
    public static func aggregate(_ samples: [(deviceID: String, at: Int64, payload: String)], grain: RollupGrain) -> [TelemetryRollup] {
        struct Key: Hashable { var device: String; var start: Int64 }
        var out: [Key: TelemetryRollup] = [:]
        for s in samples {
            let key = Key(device: s.deviceID, start: grain.bucket(s.at))
            var r = out[key] ?? TelemetryRollup(deviceID: s.deviceID, grain: grain, start: key.start)
            r.samples += 1
            for (field, value) in numericFields(s.payload) ?? [] {
                if r.fields[field] == nil { r.fields[field] = FieldStats(value) } else { r.fields[field]!.add(value) }
            }
            out[key] = r
        }
        return out.values.sorted { ($0.deviceID, $0.start) < ($1.deviceID, $1.start) }
    }

    /// Roll-ups of a finer grain (any order) merged into `grain` buckets.
    public static func merge(_ rollups: [TelemetryRollup], into grain: RollupGrain) -> [TelemetryRollup] {
        struct Key: Hashable { var device: String; var start: Int64 }
        var out: [Key: TelemetryRollup] = [:]
        for r in rollups {
            let key = Key(device: r.deviceID, start: grain.bucket(r.start))
            var m = out[key] ?? TelemetryRollup(deviceID: r.deviceID, grain: grain, start: key.start)
            m.samples += r.samples
            for (field, s) in r.fields {
                if m.fields[field] == nil { m.fields[field] = s } else { m.fields[field]!.merge(s) }
            }
            out[key] = m
        }
        return out.values.sorted { ($0.deviceID, $0.start) < ($1.deviceID, $1.start) }
    }

    /// The fields as stored: `{"field":[count,min,max,sum],…}` (sorted keys: the same roll-up is the same text).
    public var encodedFields: String {
        func num(_ d: Double) -> String {
            guard d.isFinite else { return d > 0 ? "\(Double.greatestFiniteMagnitude)" : "\(-Double.greatestFiniteMagnitude)" }
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return "\(d)"
        }
        let parts = fields.keys.sorted().map { k -> String in
            let s = fields[k]!
            return jsonQuote(k) + ":[\(s.count),\(num(s.min)),\(num(s.max)),\(num(s.sum))]"
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// The stored text back into fields; nil when it is not that shape.
    public static func decodeFields(_ text: String) -> [String: FieldStats]? {
        guard let raw = try? JSONDecoder().decode([String: [Double]].self, from: Data(text.utf8)) else { return nil }
        var out: [String: FieldStats] = [:]
        for (k, v) in raw {
            guard v.count == 4, v[0] >= 0 else { return nil }
            out[k] = FieldStats(count: Int64(v[0]), min: v[1], max: v[2], sum: v[3])
        }
        return out
    }
}

extension TelemetryRollup {
    /// The fields packed (v28), each name replaced by its number in `ids` (which must hold every
    /// field): a byte 1, the field count, then per field (by number) number, count, min, max, sum.
    /// A whole number (most readings, and sums of them) takes a varint, any other value 9 bytes.
    /// About a fifth of the JSON text's size.
    public func packedFields(ids: [String: Int64]) -> [UInt8] {
        var out: [UInt8] = [1]
        TelemetryBlock.putVarint(&out, UInt64(fields.count))
        for (id, s) in fields.map({ (ids[$0.key] ?? -1, $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            TelemetryBlock.putVarint(&out, UInt64(bitPattern: id))
            TelemetryBlock.putVarint(&out, UInt64(bitPattern: s.count))
            for d in [s.min, s.max, s.sum] {
                if d == d.rounded(), abs(d) < 1e15 {
                    TelemetryBlock.putVarint(&out, TelemetryBlock.zigzag(Int64(d)) << 1)
                } else {
                    out.append(1)
                    withUnsafeBytes(of: d.bitPattern.littleEndian) { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }

    /// Stored fields back: packed (`packedFields`, names from `names`) or the JSON text of v18;
    /// nil when they are neither, or name a field `names` does not know.
    public static func storedFields(_ bytes: [UInt8], names: [Int64: String]) -> [String: FieldStats]? {
        guard let first = bytes.first else { return nil }
        if first == UInt8(ascii: "{") { return decodeFields(String(decoding: bytes, as: UTF8.self)) }
        guard first == 1 else { return nil }
        var r = TelemetryBlock.Reader(bytes: bytes, at: 1)
        var out: [String: FieldStats] = [:]
        do {
            let n = try r.count(limit: bytes.count)
            for _ in 0..<n {
                guard let name = names[Int64(bitPattern: try r.varint())] else { return nil }
                let count = Int64(bitPattern: try r.varint())
                var v: [Double] = []
                for _ in 0..<3 {
                    let z = try r.varint()
                    if z & 1 == 0 {
                        v.append(Double(TelemetryBlock.unzigzag(z >> 1)))
                    } else {
                        guard z == 1 else { return nil }
                        let b = try r.bytes(8)
                        v.append(Double(bitPattern: b.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
                    }
                }
                guard count >= 0 else { return nil }
                out[name] = FieldStats(count: count, min: v[0], max: v[1], sum: v[2])
            }
            guard r.atEnd else { return nil }
        } catch { return nil }
        return out
    }
}

/// A JSON string literal.
private func jsonQuote(_ s: String) -> String {
    String(decoding: (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
}

/// Which stored data a chart over a window reads: raw samples for short windows, hourly roll-ups
/// up to about a month and a half, daily roll-ups beyond (a year is 366 points, not 525,600).
public enum TelemetryChartPlan {
    public enum Source: String, Sendable { case raw, hour, day }

    public static func source(forSpan seconds: TimeInterval) -> Source {
        if seconds <= 3 * 86_400 { return .raw }
        if seconds <= 45 * 86_400 { return .hour }
        return .day
    }
}

extension TelemetrySeries {
    /// Series from roll-ups of one device (any order): one point per bucket at its start, with the
    /// mean as value and the bucket's min and max; thinned to `maxPoints` by merging equal time spans.
    public static func build(rollups: [TelemetryRollup], maxPoints: Int = 400) -> [TelemetrySeries] {
        var byField: [String: [(Int64, FieldStats)]] = [:]
        for r in rollups.sorted(by: { $0.start < $1.start }) {
            for (field, s) in r.fields where s.count > 0 { byField[field, default: []].append((r.start, s)) }
        }
        return byField.keys.sorted().map { field in
            var pts = byField[field]!
            if pts.count > maxPoints, maxPoints > 0, let first = pts.first?.0, let last = pts.last?.0 {
                let span = Double(max(last - first, 1))
                var merged: [(Int64, FieldStats)] = []
                var current = -1
                for (t, s) in pts {
                    let i = min(Int(Double(t - first) / span * Double(maxPoints)), maxPoints - 1)
                    if i == current { merged[merged.count - 1].1.merge(s) } else { merged.append((t, s)); current = i }
                }
                pts = merged
            }
            return TelemetrySeries(field: field, points: pts.map { Point(at: Date(timeIntervalSince1970: Double($0.0) / 1000), value: $0.1.mean, min: $0.1.min, max: $0.1.max) })
        }
    }
}
