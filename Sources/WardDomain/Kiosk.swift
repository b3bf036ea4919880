import Foundation

/// The five-level rating scale used by the ministries' portals.
public enum SatisfactionLevel: String, Codable, Sendable, CaseIterable, CodingKeyRepresentable {
    case verySatisfied = "very_satisfied"
    case satisfied
    case neutral
    case dissatisfied
    case veryDissatisfied = "very_dissatisfied"

    public var vietnamese: String {
        switch self {
        case .verySatisfied: "Rất hài lòng"
        case .satisfied: "Hài lòng"
        case .neutral: "Bình thường"
        case .dissatisfied: "Không hài lòng"
        case .veryDissatisfied: "Rất không hài lòng"
        }
    }

    public var countsAsSatisfied: Bool { self == .verySatisfied || self == .satisfied }
}

/// A one-stop kiosk event, as the figures need it.
public enum KioskActivity: Sendable, Hashable {
    case ticketIssued(at: Date)
    case ticketServed(at: Date, waitSeconds: Double)
    case rating(at: Date, level: SatisfactionLevel)
    /// Increases of a kiosk's telemetry counters, dated at the reading that revealed them
    /// (`KioskCounters`): no waits are known for these.
    case counted(at: Date, issued: Int, served: Int, ratings: [SatisfactionLevel: Int])

    public var at: Date {
        switch self {
        case .ticketIssued(let d), .ticketServed(let d, _), .rating(let d, _), .counted(let d, _, _, _): d
        }
    }
}

/// A kiosk's since-boot counters, as one telemetry reading carries them.
public struct KioskCounterReading: Sendable, Hashable {
    public var boot: String
    public var at: Date
    public var issued: Int
    public var served: Int
    public var ratings: [SatisfactionLevel: Int]

    public init(boot: String, at: Date, issued: Int, served: Int, ratings: [SatisfactionLevel: Int]) {
        self.boot = boot
        self.at = at
        self.issued = issued
        self.served = served
        self.ratings = ratings
    }
}

/// Which boots of a kiosk reported each quantity as events. Events and counters of one boot
/// count the same tickets and ratings (firmware does not change within a boot), so where a
/// boot sent events its counters are left out: nothing is counted twice.
public struct KioskEventBoots: Sendable, Hashable {
    public var issued: Set<String> = []
    public var served: Set<String> = []
    public var rated: Set<String> = []
    public init(issued: Set<String> = [], served: Set<String> = [], rated: Set<String> = []) {
        self.issued = issued
        self.served = served
        self.rated = rated
    }
}

public enum KioskCounters {
    /// What a kiosk's counters add to its figures: the increase between consecutive readings of
    /// one boot, dated at the later reading. A new boot counts from zero (its counters start
    /// there), so its first reading counts whole; a counter that went down (not allowed, but a
    /// reset) counts from zero too. `readings` in time order; `base`: the reading just before
    /// them (before the window asked for), not counted itself.
    public static func increases(base: KioskCounterReading?, _ readings: [KioskCounterReading], eventBoots: KioskEventBoots) -> [KioskActivity] {
        var out: [KioskActivity] = []
        var previous = base
        for r in readings {
            defer { previous = r }
            let base = previous?.boot == r.boot ? previous : nil
            func delta(_ now: Int, _ before: Int?) -> Int { now >= (before ?? 0) ? now - (before ?? 0) : now }
            let issued = eventBoots.issued.contains(r.boot) ? 0 : delta(r.issued, base?.issued)
            let served = eventBoots.served.contains(r.boot) ? 0 : delta(r.served, base?.served)
            var ratings: [SatisfactionLevel: Int] = [:]
            if !eventBoots.rated.contains(r.boot) {
                for level in SatisfactionLevel.allCases {
                    let d = delta(r.ratings[level] ?? 0, base.map { $0.ratings[level] ?? 0 })
                    if d > 0 { ratings[level] = d }
                }
            }
            if issued > 0 || served > 0 || !ratings.isEmpty {
                out.append(.counted(at: r.at, issued: issued, served: served, ratings: ratings))
            }
        }
        return out
    }
}

public struct KioskDayFigures: Sendable, Hashable, Codable {
    public var day: String
    public var ticketsIssued = 0
    public var ticketsServed = 0
    public var meanWaitSeconds: Double?
    public var p90WaitSeconds: Double?
    public var ratings: [SatisfactionLevel: Int] = [:]

    public init(day: String) { self.day = day }

    public var ratingCount: Int { ratings.values.reduce(0, +) }
    /// (Rất hài lòng + Hài lòng) / all ratings; nil with no ratings.
    public var satisfactionRate: Double? { KioskFigures.satisfaction(ratings) }
}

public enum KioskFigures {
    public static func satisfaction(_ ratings: [SatisfactionLevel: Int]) -> Double? {
        let all = ratings.values.reduce(0, +)
        guard all > 0 else { return nil }
        let good = ratings.filter { $0.key.countsAsSatisfied }.values.reduce(0, +)
        return Double(good) / Double(all)
    }

    /// Nearest-rank percentile: the smallest value with at least p of the samples at or below it.
    public static func percentile(_ values: [Double], _ p: Double) -> Double? {
        percentile(sorted: values.sorted(), p)
    }

    /// Ascending order by a radix sort of the values' bit patterns: a province's month has hundreds
    /// of thousands of waits, and the comparison sort of them was the report's largest single cost.
    /// The same order as `sorted()` for every number (NaN is not a wait).
    public static func ascending(_ values: [Double]) -> [Double] {
        guard values.count > 256 else { return values.sorted() }
        // Order-preserving keys: flip all bits of negatives, only the sign bit of the rest.
        var keys = values.map { v -> UInt64 in
            let b = v.bitPattern
            return b & (1 << 63) != 0 ? ~b : b | (1 << 63)
        }
        var scratch = [UInt64](repeating: 0, count: keys.count)
        var counts = [Int](repeating: 0, count: 257)
        for shift in stride(from: UInt64(0), to: 64, by: 8) {  // a byte per pass; most high bytes are shared
            for i in counts.indices { counts[i] = 0 }
            for k in keys { counts[Int((k >> shift) & 0xFF) + 1] += 1 }
            if counts.contains(keys.count) { continue }  // every key has this digit: nothing moves
            for i in 1..<counts.count { counts[i] += counts[i - 1] }
            for k in keys {
                let d = Int((k >> shift) & 0xFF)
                scratch[counts[d]] = k
                counts[d] += 1
            }
            swap(&keys, &scratch)
        }
        return keys.map { k in Double(bitPattern: k & (1 << 63) != 0 ? k & ~(1 << 63) : ~k) }
    }

    /// The same, of values already in ascending order.
    public static func percentile(sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// Figures per local day, in day order.
    public static func daily(_ activity: [KioskActivity], calendar: LocalCalendar) -> [KioskDayFigures] {
        var days: [String: KioskDayFigures] = [:]
        var waits: [String: [Double]] = [:]
        for a in activity {
            let key = calendar.dayKey(a.at)
            var f = days[key] ?? KioskDayFigures(day: key)
            switch a {
            case .ticketIssued: f.ticketsIssued += 1
            case .ticketServed(_, let w):
                f.ticketsServed += 1
                waits[key, default: []].append(w)
            case .rating(_, let level): f.ratings[level, default: 0] += 1
            case .counted(_, let issued, let served, let ratings):
                f.ticketsIssued += issued
                f.ticketsServed += served
                for (level, n) in ratings { f.ratings[level, default: 0] += n }
            }
            days[key] = f
        }
        for (key, w) in waits {
            days[key]!.meanWaitSeconds = w.reduce(0, +) / Double(w.count)
            days[key]!.p90WaitSeconds = percentile(w, 0.9)
        }
        return days.values.sorted { $0.day < $1.day }
    }
}
