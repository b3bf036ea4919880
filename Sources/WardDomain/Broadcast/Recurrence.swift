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
        /// The first play would be at this local day and time, which has passed.
        case startPassed(LocalDay, LocalTime)
        case nothingAhead

        public var description: String {
            switch self {
            case .untilBeforeFirstDay: "ngày kết thúc trước ngày bắt đầu / the end date is before the first day"
            case .noWeekdayChosen: "chưa chọn ngày trong tuần / no day of the week chosen"
            case .nothingLeft: "lịch không còn lần phát nào / the schedule has no occurrence left"
            case .startPassed(let day, let time):
                "lần phát đầu tiên (\(String(format: "%02d/%02d/%04d", day.day, day.month, day.year)) \(time)) đã qua: "
                    + "hãy chọn ngày giờ sắp tới / the first play (\(day) \(time)) is already past: choose a day and time ahead"
            case .nothingAhead:
                "sau khi sửa, lịch không còn lần phát nào sắp tới / after this change nothing is left to play"
            }
        }
    }

    /// Whether this schedule may be set at `now` in place of `previous` (nil: a new item). A new
    /// item's first play must lie ahead. A changed schedule must keep a play ahead, and a moved
    /// first day must not put the first play in the past. An unchanged one is not checked, so the
    /// title of a repeating item that began last week can still be edited. (Emergencies play now:
    /// callers leave them out.)
    public func checkAhead(of now: Date, replacing previous: Recurrence? = nil, calendar: LocalCalendar = .vietnam) throws(Problem) {
        guard self != previous else { return }
        if previous == nil || previous?.firstDay != firstDay, let first = nextStart(onOrAfter: firstDay, calendar: calendar), first <= now {
            throw .startPassed(calendar.localDay(of: first), startTime)
        }
        guard nextStart(after: now, calendar: calendar) != nil else { throw .nothingAhead }
    }

    /// Start of the first occurrence (a one-off's only one).
    public func firstStart(calendar: LocalCalendar = .vietnam) -> Date { calendar.date(firstDay, startTime) }

    /// The first play later than `now`, if one is left.
    public func nextStart(after now: Date, calendar: LocalCalendar = .vietnam) -> Date? {
        nextStart(onOrAfter: max(firstDay, calendar.localDay(of: now)), calendar: calendar) { $0 > now }
    }

    /// The first play on or after `day` that satisfies `accept`.
    func nextStart(onOrAfter day: LocalDay, calendar: LocalCalendar, accept: (Date) -> Bool = { _ in true }) -> Date? {
        var d = max(day, firstDay)
        // Without an end, a repeating rule plays at least weekly between its skipped days.
        let last = rule == .once ? firstDay : until ?? calendar.adding(days: 7 * (skipped.count + 2), to: d)
        while d <= last {
            if !skipped.contains(d), rule.includes(calendar.weekday(of: d)) {
                let start = calendar.date(d, startTime)
                if accept(start) { return start }
            }
            d = calendar.adding(days: 1, to: d)
        }
        return nil
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

/// What an edit changes in when an item plays. What it leaves out stays as it was: moving a
/// weekly item to another first day keeps it weekly, on the same days, until the same day.
public struct RecurrenceChange: Hashable, Sendable {
    public enum Rule: String, Sendable, CaseIterable { case once, daily, weekdays, weekly }

    public var firstDay: LocalDay?
    public var startTime: LocalTime?
    public var rule: Rule?
    /// Days of a weekly rule; given without a rule, the item becomes weekly on them.
    public var weekdays: Set<Weekday>?
    /// `.some(nil)` removes the end.
    public var until: LocalDay??
    public var skipped: Set<LocalDay>?

    public init(firstDay: LocalDay? = nil, startTime: LocalTime? = nil, rule: Rule? = nil, weekdays: Set<Weekday>? = nil,
                until: LocalDay?? = nil, skipped: Set<LocalDay>? = nil) {
        self.firstDay = firstDay
        self.startTime = startTime
        self.rule = rule
        self.weekdays = weekdays
        self.until = until
        self.skipped = skipped
    }

    public var isEmpty: Bool { self == RecurrenceChange() }

    public func applied(to old: Recurrence) -> Recurrence {
        var r = old
        if let firstDay { r.firstDay = firstDay }
        if let startTime { r.startTime = startTime }
        if let until { r.until = until }
        if let skipped { r.skipped = skipped }
        let oldDays: Set<Weekday>? = if case .weekly(let days) = old.rule { days } else { nil }
        switch rule {
        case nil: if let weekdays { r.rule = .weekly(weekdays) }
        case .once: r.rule = .once
        case .daily: r.rule = .daily
        case .weekdays: r.rule = .weekdays
        // Weekly without days keeps the days it had (none if it was not weekly: validation says so).
        case .weekly: r.rule = .weekly(weekdays ?? oldDays ?? [])
        }
        return r
    }
}

/// A schedule typed by a person (CLI options, a console form, an API body) before it is a
/// `Recurrence` (a new item) or a `RecurrenceChange` (an edit). Absent fields are nil.
public struct RecurrenceInput: Sendable {
    public var day: String?
    public var time: String?
    /// once, daily, weekdays or weekly; nil: once for a new item, unchanged in an edit.
    public var repeatRule: String?
    /// With weekly: mon…sun or t2…cn; alone, it means weekly on those days.
    public var on: [String]?
    /// Last day; "" in an edit removes the end.
    public var until: String?
    public var skip: [String]?

    public init(day: String?, time: String?, repeatRule: String? = nil, on: [String]? = nil, until: String? = nil, skip: [String]? = nil) {
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

    /// The whole schedule of a new item: day and time required, once unless said otherwise.
    public func recurrence() throws(Problem) -> Recurrence {
        let c = try change()
        guard let first = c.firstDay else { throw Self.badDay }
        guard let start = c.startTime else { throw Self.badTime }
        let blank = Recurrence(rule: .once, firstDay: first, startTime: start)
        return c.applied(to: blank)
    }

    /// Only what is given, for an edit; each given field must be well formed.
    public func change() throws(Problem) -> RecurrenceChange {
        var c = RecurrenceChange()
        if let day {
            guard let d = LocalDay(day) else { throw Self.badDay }
            c.firstDay = d
        }
        if let time {
            guard let t = LocalTime(time) else { throw Self.badTime }
            c.startTime = t
        }
        if let repeatRule {
            guard let r = RecurrenceChange.Rule(rawValue: repeatRule) else { throw Problem(description: "repeat: once, daily, weekdays, weekly") }
            c.rule = r
        }
        if let on, !on.isEmpty {
            var days = Set<Weekday>()
            for d in on {
                guard let w = Weekday.named(d) else { throw Problem(description: "on: không rõ ngày '\(d)' / unknown day '\(d)'") }
                days.insert(w)
            }
            c.weekdays = days
            // Days chosen with another repetition would be dropped without a word.
            if let r = c.rule, r != .weekly {
                throw Problem(description: "on: chọn ngày trong tuần chỉ dùng với lặp hằng tuần (repeat weekly, hoặc bỏ repeat) / on: weekdays go with repeat weekly (or leave repeat out)")
            }
        }
        if let until {
            if until.isEmpty {
                c.until = .some(nil)
            } else {
                guard let d = LocalDay(until) else { throw Problem(description: "until: phải là YYYY-MM-DD / must be YYYY-MM-DD") }
                c.until = d
            }
        }
        if let skip {
            var skipped = Set<LocalDay>()
            for d in skip {
                guard let day = LocalDay(d) else { throw Problem(description: "skip: '\(d)' không phải YYYY-MM-DD / is not YYYY-MM-DD") }
                skipped.insert(day)
            }
            c.skipped = skipped
        }
        return c
    }

    static let badDay = Problem(description: "day: ngày phải là YYYY-MM-DD / must be YYYY-MM-DD")
    static let badTime = Problem(description: "time: giờ phải là HH:MM / must be HH:MM")
}
