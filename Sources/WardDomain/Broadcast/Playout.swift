import Foundation

/// What one speaker does with one scheduled occurrence.
public struct PlannedPlay: Hashable, Sendable {
    public enum Outcome: Hashable, Sendable {
        /// Plays its whole length (possibly later than scheduled, after an item that must go first).
        case plays
        /// Starts, then is cut off by (an occurrence of) a higher-level item.
        case interrupted(by: PlayKey)
        /// Never starts: an occurrence of a higher- or equal-level item holds the speaker.
        case skipped(by: PlayKey)
    }
    public var item: String
    public var level: BroadcastLevel
    public var scheduled: DateInterval
    /// What actually sounds; nil when skipped.
    public var plays: DateInterval?
    public var outcome: Outcome
}

/// One item at a time on a speaker, by the rules of Thông tư 39/2020.
public enum Playout {
    /// The plan of `speaker` for occurrences starting in `window`.
    ///
    /// - Emergency interrupts whatever plays; a second emergency waits for the first to finish.
    /// - Priority goes ahead of normal: it interrupts a normal item that is playing.
    /// - Priority items that collide play one after another in the operator's order; a priority
    ///   item arriving during an emergency plays after it.
    /// - A normal item that would start while another item holds the speaker is skipped.
    /// An interrupted item is not resumed.
    public static func plan(speaker: String, items: [BroadcastItem], directory: SpeakerDirectory,
                            window: DateInterval, calendar: LocalCalendar = .vietnam) -> [PlannedPlay] {
        var occurrences: [(BroadcastItem, DateInterval)] = []
        for item in items where !item.cancelled && directory.resolve(item.target).speakers.contains(speaker) {
            for iv in item.recurrence.occurrences(of: item.duration, overlapping: window, calendar: calendar)
            where iv.start >= window.start {
                occurrences.append((item, iv))
            }
        }
        return plan(occurrences: occurrences)
    }

    /// The plan of one speaker for the given occurrences (all targeted at it).
    public static func plan(occurrences given: [(BroadcastItem, DateInterval)]) -> [PlannedPlay] {
        struct Occurrence {
            var item: BroadcastItem
            var interval: DateInterval
        }
        var occurrences = given.map { Occurrence(item: $0.0, interval: $0.1) }
        // Arrivals in time order; at one instant the higher level first, then the operator's order.
        func precedes(_ a: Occurrence, _ b: Occurrence) -> Bool {
            (-a.item.level.rank, a.item.priorityOrder ?? Int.max, a.interval.start, a.item.id)
                < (-b.item.level.rank, b.item.priorityOrder ?? Int.max, b.interval.start, b.item.id)
        }
        occurrences.sort { $0.interval.start != $1.interval.start ? $0.interval.start < $1.interval.start : precedes($0, $1) }

        var plan: [PlannedPlay] = []
        var playing: Int?           // index in `plan` of what holds the speaker
        var waiting: [Occurrence] = []  // equal-level arrivals queued behind it, in precedence order
        func start(_ o: Occurrence, at t: Date) {
            plan.append(PlannedPlay(item: o.item.id, level: o.item.level, scheduled: o.interval,
                                    plays: DateInterval(start: t, duration: o.item.duration), outcome: .plays))
            playing = plan.count - 1
        }
        var next = 0
        while next < occurrences.count || playing != nil {
            let arrival = next < occurrences.count ? occurrences[next].interval.start : nil
            if let p = playing, let end = plan[p].plays?.end, arrival.map({ end <= $0 }) ?? true {
                // What plays now finishes before the next arrival: hand over to the first in line.
                playing = nil
                if !waiting.isEmpty { start(waiting.removeFirst(), at: end) }
                continue
            }
            let o = occurrences[next]
            next += 1
            guard let p = playing else {
                start(o, at: o.interval.start)
                continue
            }
            let holder = plan[p]
            if o.item.level > holder.level {
                plan[p].plays = DateInterval(start: holder.plays!.start, end: o.interval.start)
                plan[p].outcome = .interrupted(by: PlayKey(item: o.item.id, start: o.interval.start))
                start(o, at: o.interval.start)
            } else if o.item.level != .normal {
                // Priority and emergency items are never dropped: they wait for the speaker.
                waiting.append(o)
                waiting.sort(by: precedes)
            } else {
                plan.append(PlannedPlay(item: o.item.id, level: o.item.level, scheduled: o.interval, plays: nil,
                                        outcome: .skipped(by: PlayKey(item: holder.item, start: holder.scheduled.start))))
            }
        }
        return plan
    }
}
