import Foundation

/// How often a scheduled item repeats (lịch phát thanh).
public enum RepeatRule: Hashable, Codable, Sendable {
    case once
    case daily
    /// Monday to Friday.
    case weekdays
    /// On the chosen days of the week.
    case weekly(Set<Weekday>)

    public func includes(_ weekday: Weekday) -> Bool {
        switch self {
        case .once, .daily: true
        case .weekdays: Weekday.workdays.contains(weekday)
        case .weekly(let days): days.contains(weekday)
        }
    }
}

/// When an item plays: its first day and local start time, how it repeats, until when, and the
/// days it is skipped (holidays, market days…).
public struct Recurrence: Hashable, Codable, Sendable {
    public var rule: RepeatRule
    public var firstDay: LocalDay
    public var startTime: LocalTime
    /// Last day it may play (inclusive); nil: no end.
    public var until: LocalDay?
    public var skipped: Set<LocalDay>

    public init(rule: RepeatRule, firstDay: LocalDay, startTime: LocalTime, until: LocalDay? = nil,
                skipped: Set<LocalDay> = []) {
        self.rule = rule
        self.firstDay = firstDay
        self.startTime = startTime
        self.until = until
        self.skipped = skipped
    }

    public static func once(_ day: LocalDay, at time: LocalTime) -> Recurrence {
        Recurrence(rule: .once, firstDay: day, startTime: time)
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case untilBeforeFirstDay
        case noWeekdayChosen
        case nothingLeft

        public var description: String {
            switch self {
            case .untilBeforeFirstDay: "ngày kết thúc trước ngày bắt đầu / the end date is before the first day"
            case .noWeekdayChosen: "chưa chọn ngày trong tuần / no day of the week chosen"
            case .nothingLeft: "lịch không còn lần phát nào / the schedule has no occurrence left"
            }
        }
    }

    public func validate(calendar: LocalCalendar = .vietnam) throws(Problem) {
        if let until, until < firstDay { throw .untilBeforeFirstDay }
        if case .weekly(let days) = rule, days.isEmpty { throw .noWeekdayChosen }
        // A finite schedule whose every day is skipped would be silently empty.
        if let last = rule == .once ? firstDay : until {
            var d = firstDay
            var any = false
            while d <= last, !any {
                any = !skipped.contains(d) && rule.includes(calendar.weekday(of: d))
                d = calendar.adding(days: 1, to: d)
            }
            if !any { throw .nothingLeft }
        }
    }

    /// The local days it plays on within [from, to], in order.
    public func days(from: LocalDay, to: LocalDay, calendar: LocalCalendar = .vietnam) -> [LocalDay] {
        var out: [LocalDay] = []
        var d = max(from, firstDay)
        let last = rule == .once ? min(to, firstDay) : min(to, until ?? to)
        while d <= last {
            if !skipped.contains(d), rule.includes(calendar.weekday(of: d)) { out.append(d) }
            d = calendar.adding(days: 1, to: d)
        }
        return out
    }

    /// Every occurrence of a `duration`-long item that overlaps `window`, as UTC intervals.
    public func occurrences(of duration: TimeInterval, overlapping window: DateInterval,
                            calendar: LocalCalendar = .vietnam) -> [DateInterval] {
        // An occurrence starting up to `duration` before the window can still reach into it.
        let from = calendar.localDay(of: window.start.addingTimeInterval(-duration))
        let to = calendar.localDay(of: window.end)
        return days(from: from, to: to, calendar: calendar).compactMap { day in
            let start = calendar.date(day, startTime)
            let iv = DateInterval(start: start, duration: duration)
            return iv.end > window.start && iv.start < window.end ? iv : nil
        }
    }
}

/// Hours in which the commune does not broadcast normal items (e.g. 21:30–05:30). Emergencies
/// are exempt. The window may cross midnight.
public struct QuietHours: Hashable, Codable, Sendable {
    public var start: LocalTime
    public var end: LocalTime

    public init(start: LocalTime, end: LocalTime) {
        self.start = start
        self.end = end
    }

    /// The quiet windows touching `interval`, as UTC intervals.
    public func windows(around interval: DateInterval, calendar: LocalCalendar = .vietnam) -> [DateInterval] {
        guard start != end else { return [] }
        var out: [DateInterval] = []
        var day = calendar.adding(days: -1, to: calendar.localDay(of: interval.start))
        let last = calendar.localDay(of: interval.end)
        while day <= last {
            let s = calendar.date(day, start)
            let e = end > start ? calendar.date(day, end) : calendar.date(calendar.adding(days: 1, to: day), end)
            out.append(DateInterval(start: s, end: e))
            day = calendar.adding(days: 1, to: day)
        }
        return out
    }

    public func intersects(_ interval: DateInterval, calendar: LocalCalendar = .vietnam) -> Bool {
        windows(around: interval, calendar: calendar).contains { $0.start < interval.end && interval.start < $0.end }
    }
}

extension Weekday {
    /// "mon" … "sun", or the Vietnamese "t2" … "t7", "cn".
    public static func named(_ s: String) -> Weekday? {
        let names: [String: Weekday] = ["mon": .monday, "tue": .tuesday, "wed": .wednesday, "thu": .thursday,
                                        "fri": .friday, "sat": .saturday, "sun": .sunday, "t2": .monday, "t3": .tuesday,
                                        "t4": .wednesday, "t5": .thursday, "t6": .friday, "t7": .saturday, "cn": .sunday]
        return names[s.lowercased()]
    }
}

/// A schedule typed by a person (CLI options, a console form) before it is a `Recurrence`.
public struct RecurrenceInput: Sendable {
    public var day: String?
    public var time: String?
    /// once, daily, weekdays or weekly.
    public var repeatRule: String
    /// With weekly: mon…sun or t2…cn.
    public var on: [String]
    public var until: String?
    public var skip: [String]

    public init(day: String?, time: String?, repeatRule: String = "once", on: [String] = [], until: String? = nil, skip: [String] = []) {
        self.day = day
        self.time = time
        self.repeatRule = repeatRule
        self.on = on
        self.until = until
        self.skip = skip
    }

    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public func recurrence() throws(Problem) -> Recurrence {
        guard let first = day.flatMap(LocalDay.init) else { throw Problem(description: "day: ngày phải là YYYY-MM-DD / must be YYYY-MM-DD") }
        guard let start = time.flatMap(LocalTime.init) else { throw Problem(description: "time: giờ phải là HH:MM / must be HH:MM") }
        let rule: RepeatRule
        switch repeatRule {
        case "once": rule = .once
        case "daily": rule = .daily
        case "weekdays": rule = .weekdays
        case "weekly":
            var days = Set<Weekday>()
            for d in on {
                guard let w = Weekday.named(d) else { throw Problem(description: "on: không rõ ngày / unknown day '\(d)'") }
                days.insert(w)
            }
            rule = .weekly(days)
        default: throw Problem(description: "repeat: once, daily, weekdays, weekly")
        }
        var skipped = Set<LocalDay>()
        for d in skip {
            guard let day = LocalDay(d) else { throw Problem(description: "skip: '\(d)' không phải YYYY-MM-DD / is not YYYY-MM-DD") }
            skipped.insert(day)
        }
        var untilDay: LocalDay?
        if let until {
            guard let d = LocalDay(until) else { throw Problem(description: "until: phải là YYYY-MM-DD / must be YYYY-MM-DD") }
            untilDay = d
        }
        return Recurrence(rule: rule, firstDay: first, startTime: start, until: untilDay, skipped: skipped)
    }
}
