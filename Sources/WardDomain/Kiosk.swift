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

    public var at: Date {
        switch self {
        case .ticketIssued(let d), .ticketServed(let d, _), .rating(let d, _): d
        }
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
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
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
