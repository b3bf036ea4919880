import Foundation

/// One stretch of a device's state history; `end == nil` means it still holds.
public struct StateInterval: Sendable, Hashable, Codable {
    public var state: HealthState
    public var start: Date
    public var end: Date?
    public var faults: [Fault]

    public init(state: HealthState, start: Date, end: Date?, faults: [Fault] = []) {
        self.state = state
        self.start = start
        self.end = end
        self.faults = faults
    }
}

/// Seconds spent in each state within a window. Sums across devices add up exactly, so a
/// class, village or commune figure is the device-time-weighted availability.
public struct UptimeSummary: Sendable, Hashable, Codable {
    public var ok: TimeInterval = 0
    public var degraded: TimeInterval = 0
    public var offline: TimeInterval = 0
    public var unknown: TimeInterval = 0

    public init(ok: TimeInterval = 0, degraded: TimeInterval = 0, offline: TimeInterval = 0, unknown: TimeInterval = 0) {
        self.ok = ok
        self.degraded = degraded
        self.offline = offline
        self.unknown = unknown
    }

    public var total: TimeInterval { ok + degraded + offline + unknown }
    /// Share of monitored time the device was online (ok or degraded). Unknown time counts as not
    /// available: a device nobody can hear is not serving anyone. Nil when nothing was monitored.
    public var availability: Double? { total > 0 ? (ok + degraded) / total : nil }
    /// Share of monitored time fully working.
    public var okShare: Double? { total > 0 ? ok / total : nil }

    public static func + (a: UptimeSummary, b: UptimeSummary) -> UptimeSummary {
        UptimeSummary(ok: a.ok + b.ok, degraded: a.degraded + b.degraded,
                      offline: a.offline + b.offline, unknown: a.unknown + b.unknown)
    }

    mutating func add(_ state: HealthState, _ seconds: TimeInterval) {
        switch state {
        case .ok: ok += seconds
        case .degraded: degraded += seconds
        case .offline: offline += seconds
        case .unknown: unknown += seconds
        }
    }
}

public enum Uptime {
    /// Time per state inside `window`, clipped to the span the device was monitored
    /// (`monitored`, e.g. installation to removal) and to `now`. Gaps count as unknown.
    /// Counted in whole milliseconds (stored times are), so parts of a window add up exactly.
    public static func summary(
        of intervals: [StateInterval], in window: DateInterval, monitored: DateInterval? = nil, now: Date
    ) -> UptimeSummary {
        // Intervals never overlap (each change closes the previous one); what they leave
        // uncovered is time the controller knew nothing.
        DeviceUptime.of(intervals, in: window, monitored: monitored, now: now).summary
    }

    /// Seconds inside `window` (clipped as in `summary`) spent in intervals matching `ok`.
    public static func seconds(of intervals: [StateInterval], in window: DateInterval, monitored: DateInterval? = nil, now: Date,
                               where ok: (StateInterval) -> Bool) -> TimeInterval {
        guard let (lower, upper) = DeviceUptime.bounds(window, monitored: monitored, now: now) else { return 0 }
        let nowMs = UptimeMillis.ms(now)
        let ms = intervals.reduce(Int64(0)) {
            ok($1) ? $0 + UptimeMillis.clipped(start: UptimeMillis.ms($1.start), end: $1.end.map(UptimeMillis.ms) ?? nowMs,
                                               lower: lower, upper: upper) : $0
        }
        return Double(ms) / 1000
    }
}

/// Calendar arithmetic in the zone officials read reports in (Asia/Ho_Chi_Minh, UTC+7, no DST).
public struct LocalCalendar: Sendable {
    public static let vietnam = LocalCalendar(timeZone: TimeZone(identifier: "Asia/Ho_Chi_Minh")!)

    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        calendar = c
    }

    /// The local calendar day containing `date`, as a UTC interval.
    public func day(containing date: Date) -> DateInterval {
        let start = calendar.startOfDay(for: date)
        return DateInterval(start: start, end: calendar.date(byAdding: .day, value: 1, to: start)!)
    }

    /// "yyyy-MM-dd" of the local day containing `date`.
    public func dayKey(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }

    /// The local day named "yyyy-MM-dd".
    public func day(named key: String) -> DateInterval? {
        let parts = key.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3,
              let start = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])),
              dayKey(start) == key
        else { return nil }
        return day(containing: start)
    }

    /// The local calendar month "yyyy-MM" as a UTC interval.
    public func month(named key: String) -> DateInterval? {
        let parts = key.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, (1...12).contains(parts[1]),
              let start = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: 1)),
              let end = calendar.date(byAdding: .month, value: 1, to: start)
        else { return nil }
        return DateInterval(start: start, end: end)
    }

    /// A reporting period as people give it: a month "yyyy-MM", or local days "yyyy-MM-dd" from
    /// the start of `from` to the end of `to` (defaults: the start of this month, now).
    /// Nil when a part does not parse or the period is empty.
    public func period(month: String? = nil, from: String? = nil, to: String? = nil, now: Date) -> DateInterval? {
        if let month { return self.month(named: month) }
        guard let start = from.map({ day(named: $0)?.start }) ?? self.month(named: String(dayKey(now).prefix(7)))?.start,
              let end = to.map({ day(named: $0)?.end }) ?? now, end > start else { return nil }
        return DateInterval(start: start, end: end)
    }

    /// Local days overlapping `window`, each clipped to it.
    public func days(in window: DateInterval) -> [(key: String, interval: DateInterval)] {
        var out: [(String, DateInterval)] = []
        var cursor = window.start
        while cursor < window.end {
            let d = day(containing: cursor)
            let clipped = DateInterval(start: max(d.start, window.start), end: min(d.end, window.end))
            out.append((dayKey(cursor), clipped))
            cursor = d.end
        }
        return out
    }

    /// Uptime split by local day.
    public func dailyUptime(_ intervals: [StateInterval], in window: DateInterval, monitored: DateInterval? = nil,
                            now: Date) -> [(day: String, summary: UptimeSummary)] {
        days(in: window).map { ($0.key, Uptime.summary(of: intervals, in: $0.interval, monitored: monitored, now: now)) }
    }

    /// A local day as people write it: "21/11/2026".
    public func displayDay(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%02d/%02d/%04d", c.day!, c.month!, c.year!)
    }

    /// Human time for operators: "21/11/2026 14:05:09" in local time.
    public func display(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%02d/%02d/%04d %02d:%02d:%02d", c.day!, c.month!, c.year!, c.hour!, c.minute!, c.second!)
    }
}
