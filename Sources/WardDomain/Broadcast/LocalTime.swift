import Foundation

/// Values stored and sent as the text people write them in ("2026-11-24", "06:30").
public protocol TextCodable: Codable, LosslessStringConvertible {}

extension TextCodable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a \(Self.self): \(text)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// A calendar day as people in the commune name it (Asia/Ho_Chi_Minh unless said otherwise).
public struct LocalDay: Hashable, Comparable, Sendable, TextCodable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// "yyyy-MM-dd"; nil unless it names a real day.
    public init?(_ text: String) {
        let p = text.split(separator: "-").compactMap { Int($0) }
        guard p.count == 3, text.count == 10 else { return nil }
        self.init(year: p[0], month: p[1], day: p[2])
        guard LocalCalendar.vietnam.day(named: description) != nil else { return nil }
    }

    public var description: String { String(format: "%04d-%02d-%02d", year, month, day) }

    public static func < (a: LocalDay, b: LocalDay) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
}

/// A time of day, to the second.
public struct LocalTime: Hashable, Comparable, Sendable, TextCodable {
    public var secondsOfDay: Int

    public init(hour: Int, minute: Int, second: Int = 0) {
        secondsOfDay = hour * 3600 + minute * 60 + second
    }

    /// "HH:mm" or "HH:mm:ss".
    public init?(_ text: String) {
        let p = text.split(separator: ":").map { Int($0) }
        guard (2...3).contains(p.count), p.allSatisfy({ $0 != nil }) else { return nil }
        let h = p[0]!, m = p[1]!, s = p.count == 3 ? p[2]! : 0
        guard (0...23).contains(h), (0...59).contains(m), (0...59).contains(s) else { return nil }
        self.init(hour: h, minute: m, second: s)
    }

    public var hour: Int { secondsOfDay / 3600 }
    public var minute: Int { secondsOfDay % 3600 / 60 }
    public var second: Int { secondsOfDay % 60 }

    public var description: String {
        second == 0 ? String(format: "%02d:%02d", hour, minute) : String(format: "%02d:%02d:%02d", hour, minute, second)
    }

    public static func < (a: LocalTime, b: LocalTime) -> Bool { a.secondsOfDay < b.secondsOfDay }
}

/// ISO weekday numbering (Monday = 1), with the names officers use.
public enum Weekday: Int, Codable, Sendable, CaseIterable, Comparable {
    case monday = 1, tuesday, wednesday, thursday, friday, saturday, sunday

    public static func < (a: Weekday, b: Weekday) -> Bool { a.rawValue < b.rawValue }

    public var vietnamese: String {
        switch self {
        case .monday: "Thứ Hai"
        case .tuesday: "Thứ Ba"
        case .wednesday: "Thứ Tư"
        case .thursday: "Thứ Năm"
        case .friday: "Thứ Sáu"
        case .saturday: "Thứ Bảy"
        case .sunday: "Chủ nhật"
        }
    }

    public static let workdays: Set<Weekday> = [.monday, .tuesday, .wednesday, .thursday, .friday]
}

extension LocalCalendar {
    private var gregorian: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        return c
    }

    /// The instant a local day and time name. Vietnam has no daylight saving, so every local
    /// time exists exactly once.
    public func date(_ day: LocalDay, _ time: LocalTime) -> Date {
        let midnight = gregorian.date(from: DateComponents(year: day.year, month: day.month, day: day.day))!
        return midnight.addingTimeInterval(TimeInterval(time.secondsOfDay))
    }

    public func localDay(of date: Date) -> LocalDay {
        let c = gregorian.dateComponents([.year, .month, .day], from: date)
        return LocalDay(year: c.year!, month: c.month!, day: c.day!)
    }

    public func localTime(of date: Date) -> LocalTime {
        let c = gregorian.dateComponents([.hour, .minute, .second], from: date)
        return LocalTime(hour: c.hour!, minute: c.minute!, second: c.second!)
    }

    public func weekday(of day: LocalDay) -> Weekday {
        let w = gregorian.component(.weekday, from: date(day, LocalTime(hour: 12, minute: 0)))  // 1 = Sunday
        return Weekday(rawValue: w == 1 ? 7 : w - 1)!
    }

    public func adding(days n: Int, to day: LocalDay) -> LocalDay {
        localDay(of: gregorian.date(byAdding: .day, value: n, to: date(day, LocalTime(hour: 12, minute: 0)))!)
    }
}
