import Foundation

/// Numeric readings over time, one series per telemetry field, for charts.
public struct TelemetrySeries: Sendable, Hashable, Codable {
    public struct Point: Sendable, Hashable, Codable {
        public var at: Date
        public var value: Double
        /// The bucket's extremes, when the point stands for a roll-up (hour, day); `value` is its mean.
        public var min: Double?
        public var max: Double?
        public init(at: Date, value: Double, min: Double? = nil, max: Double? = nil) {
            self.at = at
            self.value = value
            self.min = min
            self.max = max
        }
    }

    /// Dotted path in the payload, e.g. `speaker.volume`.
    public var field: String
    public var points: [Point]

    /// Envelope fields that count messages rather than measure anything.
    static let envelope: Set<String> = ["v", "ts", "seq"]

    /// Series from stored telemetry payloads (JSON), oldest first. Booleans become 0/1, so a
    /// "recording" flag charts as a strip; text fields and unreadable payloads are skipped.
    /// Each series is thinned to `maxPoints` by averaging equal time buckets, so a month of
    /// 30-second readings still reaches a phone on a weak uplink.
    public static func build(_ samples: [(at: Date, payload: String)], maxPoints: Int = 300) -> [TelemetrySeries] {
        var byField: [String: [Point]] = [:]
        let decoder = JSONDecoder()
        for s in samples {
            guard case .object(let object)? = try? decoder.decode(Leaf.self, from: Data(s.payload.utf8)) else { continue }
            for (field, value) in flatten(object, prefix: "") where !envelope.contains(field) {
                byField[field, default: []].append(Point(at: s.at, value: value))
            }
        }
        return byField.keys.sorted().map { TelemetrySeries(field: $0, points: thin(byField[$0]!, to: maxPoints)) }
    }

    /// The parts of a JSON value a chart can use; JSONDecoder keeps booleans and numbers apart.
    enum Leaf: Decodable {
        case number(Double)
        case object([String: Leaf])
        case other

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .number(b ? 1 : 0) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let o = try? c.decode([String: Leaf].self) { self = .object(o) }
            else { self = .other }
        }
    }

    static func flatten(_ object: [String: Leaf], prefix: String) -> [(String, Double)] {
        var out: [(String, Double)] = []
        for (k, v) in object {
            let path = prefix.isEmpty ? k : prefix + "." + k
            switch v {
            case .number(let d) where d.isFinite: out.append((path, d))
            case .object(let nested): out += flatten(nested, prefix: path)
            default: break
            }
        }
        return out
    }

    /// Averages consecutive points into `limit` equal time buckets (points already in time order).
    static func thin(_ points: [Point], to limit: Int) -> [Point] {
        guard points.count > limit, limit > 0, let first = points.first, let last = points.last else { return points }
        let span = max(last.at.timeIntervalSince(first.at), 1)
        var buckets: [Int: (sum: Double, n: Int, t: Double)] = [:]
        for p in points {
            let i = min(Int(p.at.timeIntervalSince(first.at) / span * Double(limit)), limit - 1)
            let b = buckets[i] ?? (0, 0, 0)
            buckets[i] = (b.sum + p.value, b.n + 1, b.t + p.at.timeIntervalSince1970)
        }
        return buckets.keys.sorted().map { i in
            let b = buckets[i]!
            return Point(at: Date(timeIntervalSince1970: b.t / Double(b.n)), value: b.sum / Double(b.n))
        }
    }
}
