import Foundation

/// The three levels of Thông tư 39/2020/TT-BTTTT.
public enum BroadcastLevel: String, Codable, Sendable, CaseIterable, Comparable {
    /// Thông thường: the commune decides whether and when, in its schedule.
    case normal
    /// Ưu tiên: goes ahead of normal programming; colliding priority items need the operator's order.
    case priority
    /// Khẩn cấp: plays at once, interrupting everything.
    case emergency

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: BroadcastLevel, b: BroadcastLevel) -> Bool { a.rank < b.rank }

    public var vietnamese: String {
        switch self {
        case .normal: "thông thường"
        case .priority: "ưu tiên"
        case .emergency: "khẩn cấp"
        }
    }
}

/// Who hears an item: whole communes, villages, named speaker groups, single speakers (any mix).
public struct BroadcastTarget: Hashable, Codable, Sendable {
    public var communes: [String]
    public var villages: [String]
    public var groups: [String]
    public var speakers: [String]

    public init(communes: [String] = [], villages: [String] = [], groups: [String] = [], speakers: [String] = []) {
        self.communes = communes
        self.villages = villages
        self.groups = groups
        self.speakers = speakers
    }

    public var isEmpty: Bool { communes.isEmpty && villages.isEmpty && groups.isEmpty && speakers.isEmpty }
}

/// The loudspeaker clusters and their places, to turn targets into speakers.
public struct SpeakerDirectory: Sendable {
    public struct Location: Hashable, Sendable {
        public var commune: String
        public var village: String?
        public init(commune: String, village: String?) {
            self.commune = commune
            self.village = village
        }
    }
    public private(set) var speakers: [String: Location] = [:]
    /// Named groups of speakers (e.g. "Chợ và bến xe").
    public var groups: [String: Set<String>]

    public init(tree: PlaceTree, devices: [Device], groups: [String: Set<String>] = [:]) {
        self.init(speakers: Self.locations(tree: tree, devices: devices), groups: groups)
    }

    /// From speakers already placed (`locations`): a holder of the directory need not keep the tree.
    public init(speakers: [String: Location], groups: [String: Set<String>] = [:]) {
        self.speakers = speakers
        self.groups = groups
    }

    /// Where each registered (not removed) speaker is: its commune and village.
    public static func locations(tree: PlaceTree, devices: [Device]) -> [String: Location] {
        var out: [String: Location] = [:]
        for d in devices where d.deviceClass == .speaker && d.removedAt == nil {
            guard let commune = tree.ancestor(of: d.siteID, at: .commune) else { continue }
            out[d.id] = Location(commune: commune.id, village: tree.ancestor(of: d.siteID, at: .village)?.id)
        }
        return out
    }

    public struct Resolution: Hashable, Sendable {
        public var speakers: Set<String>
        /// Target names that matched nothing: a typo must not silently shrink an audience.
        public var unknown: [String]
    }

    public func resolve(_ t: BroadcastTarget) -> Resolution {
        var out = Set<String>()
        var unknown: [String] = []
        for c in t.communes {
            let s = speakers.filter { $0.value.commune == c }.keys
            if s.isEmpty { unknown.append(c) }
            out.formUnion(s)
        }
        for v in t.villages {
            let s = speakers.filter { $0.value.village == v }.keys
            if s.isEmpty { unknown.append(v) }
            out.formUnion(s)
        }
        for g in t.groups {
            guard let members = groups[g] else {
                unknown.append(g)
                continue
            }
            out.formUnion(members.filter { speakers[$0] != nil })
        }
        for s in t.speakers {
            if speakers[s] == nil { unknown.append(s) } else { out.insert(s) }
        }
        return Resolution(speakers: out, unknown: unknown)
    }

    /// Speakers of one village, for reach per village.
    public func speakers(inVillage v: String) -> Set<String> { Set(speakers.filter { $0.value.village == v }.keys) }
}

/// One entry of the broadcast schedule (lịch phát thanh).
public struct BroadcastItem: Identifiable, Hashable, Codable, Sendable {
    public var id: String
    public var title: String
    public var level: BroadcastLevel
    /// Length of one playing: the media's or rendered speech's duration, or a relay's window.
    public var duration: TimeInterval
    public var recurrence: Recurrence
    public var target: BroadcastTarget
    /// 0–100; nil: each speaker's own setting.
    public var volume: Int?
    /// Operator's order among colliding priority items: lower plays first.
    public var priorityOrder: Int?
    public var cancelled: Bool

    public init(id: String, title: String, level: BroadcastLevel, duration: TimeInterval, recurrence: Recurrence,
                target: BroadcastTarget, volume: Int? = nil, priorityOrder: Int? = nil, cancelled: Bool = false) {
        self.id = id
        self.title = title.nfc
        self.level = level
        self.duration = duration
        self.recurrence = recurrence
        self.target = target
        self.volume = volume
        self.priorityOrder = priorityOrder
        self.cancelled = cancelled
    }
}

/// Why an item cannot be scheduled as it is, in words an officer can act on.
public struct ScheduleConflict: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        /// Two normal items on a shared speaker at the same time.
        case normalOverlap = "normal_overlap"
        /// Two priority items on a shared speaker at the same time, with no order between them.
        case priorityNeedsOrder = "priority_needs_order"
        /// A normal item inside the commune's quiet hours.
        case quietHours = "quiet_hours"
    }
    public var kind: Kind
    public var item: String
    public var other: String?
    /// The candidate's occurrences that collide, in time order (all of them within the horizon).
    public var occurrences: [DateInterval]
    public var speakers: Set<String>

    /// One Vietnamese sentence, then the same in English. The candidate is named by its title
    /// (it has no id until stored); the item it collides with by title and id, to act on.
    public func message(calendar: LocalCalendar = .vietnam, titles: [String: String] = [:]) -> String {
        let mine = titles[item].map { "“\($0)”" } ?? item
        let theirs = other.map { id in titles[id].map { "“\($0)” (\(id))" } ?? id } ?? "?"
        let first = occurrences.first.map { String(calendar.display($0.start).dropLast(3)) } ?? "?"  // to the minute
        let more = occurrences.count - 1
        let sp = speakers.sorted().prefix(5).joined(separator: ", ") + (speakers.count > 5 ? ", …" : "")
        let moreVi = more > 0 ? " và \(more) lần khác" : ""
        let moreEn = more > 0 ? " and \(more) more times" : ""
        switch kind {
        case .normalOverlap:
            return "\(mine) trùng giờ với \(theirs) lúc \(first)\(moreVi), trên loa \(sp). / "
                + "\(mine) overlaps \(theirs) at \(first)\(moreEn), on speakers \(sp)."
        case .priorityNeedsOrder:
            return "\(mine) và \(theirs) đều ưu tiên, trùng giờ lúc \(first)\(moreVi) trên loa \(sp): cần chọn thứ tự phát. / "
                + "\(mine) and \(theirs) are both priority items colliding at \(first)\(moreEn) on speakers \(sp): choose which plays first."
        case .quietHours:
            return "\(mine) rơi vào giờ yên tĩnh lúc \(first)\(moreVi). / \(mine) falls in quiet hours at \(first)\(moreEn)."
        }
    }
}

/// Exact conflict checks of a schedule over a horizon: every occurrence is enumerated.
public struct ScheduleChecker: Sendable {
    public var directory: SpeakerDirectory
    public var quietHours: QuietHours?
    public var horizonDays: Int
    public var calendar: LocalCalendar

    public init(directory: SpeakerDirectory, quietHours: QuietHours? = nil, horizonDays: Int = 90,
                calendar: LocalCalendar = .vietnam) {
        self.directory = directory
        self.quietHours = quietHours
        self.horizonDays = horizonDays
        self.calendar = calendar
    }

    /// Conflicts `candidate` would create with `existing` from `now` over the horizon.
    public func conflicts(of candidate: BroadcastItem, with existing: [BroadcastItem], now: Date) -> [ScheduleConflict] {
        let horizon = DateInterval(start: now, duration: TimeInterval(horizonDays) * 86_400)
        guard !candidate.cancelled, candidate.level != .emergency else { return [] }
        let mine = candidate.recurrence.occurrences(of: candidate.duration, overlapping: horizon, calendar: calendar)
        let audience = directory.resolve(candidate.target).speakers
        var out: [ScheduleConflict] = []
        if candidate.level == .normal, let q = quietHours {
            let quiet = mine.filter { q.intersects($0, calendar: calendar) }
            if !quiet.isEmpty {
                out.append(ScheduleConflict(kind: .quietHours, item: candidate.id, other: nil, occurrences: quiet, speakers: audience))
            }
        }
        for other in existing where other.id != candidate.id && !other.cancelled && other.level == candidate.level {
            let kind: ScheduleConflict.Kind
            switch candidate.level {
            case .normal: kind = .normalOverlap
            case .priority:
                if let a = candidate.priorityOrder, let b = other.priorityOrder, a != b { continue }
                kind = .priorityNeedsOrder
            case .emergency: continue
            }
            let shared = audience.intersection(directory.resolve(other.target).speakers)
            guard !shared.isEmpty else { continue }
            let theirs = other.recurrence.occurrences(of: other.duration, overlapping: horizon, calendar: calendar)
            let clashes = Self.overlapping(mine, theirs)
            if !clashes.isEmpty {
                out.append(ScheduleConflict(kind: kind, item: candidate.id, other: other.id, occurrences: clashes, speakers: shared))
            }
        }
        return out
    }

    /// Intervals of `a` that overlap some interval of `b`; both sorted by start.
    static func overlapping(_ a: [DateInterval], _ b: [DateInterval]) -> [DateInterval] {
        var out: [DateInterval] = []
        var j = 0
        for x in a {
            while j < b.count, b[j].end <= x.start { j += 1 }
            var k = j
            while k < b.count, b[k].start < x.end {
                if b[k].end > x.start {
                    out.append(x)
                    break
                }
                k += 1
            }
        }
        return out
    }
}
