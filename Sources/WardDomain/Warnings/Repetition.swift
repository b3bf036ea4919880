import Foundation

/// When a warning plays: at `anchor`, then every `interval` while before `until` (the alert's `expires`, or
/// the policy's horizon) and before a Cancel. Quiet hours play no part: a warning is never held back.
///
/// An Update replaces the plan from the moment it arrives. Plays already made stay; the queued ones are
/// dropped and the new plan takes over without a gap or a double play: when the update plays at once
/// (emergency) it anchors there; otherwise it takes the old plan's next slot, so nothing plays twice for
/// one slot and the spacing never exceeds the longer of the two intervals.
public struct RepetitionPlan: Sendable, Hashable, Codable {
    public var anchor: Date
    /// Nil: plays once.
    public var interval: TimeInterval?
    public var until: Date
    public var cancelledAt: Date?

    public init(anchor: Date, interval: TimeInterval?, until: Date, cancelledAt: Date? = nil) {
        self.anchor = anchor
        self.interval = interval.flatMap { $0 > 0 ? $0 : nil }
        self.until = until
        self.cancelledAt = cancelledAt
    }

    /// The plan for a warning first played at `start` under `policy`.
    public init(start: Date, risk: RiskLevel, expires: Date?, policy: WarningPolicy) {
        self.init(anchor: start, interval: policy.repeatInterval(for: risk),
                  until: expires ?? start.addingTimeInterval(TimeInterval(policy.horizonHours * 3600)))
    }

    public var end: Date { cancelledAt.map { min($0, until) } ?? until }

    /// The plays at or after `from` and before `to`, in order.
    public func occurrences(from: Date, to: Date) -> [Date] {
        var out: [Date] = []
        let stop = min(to, end)
        // A plan whose warning has expired (or was cancelled) by its anchor plays nothing.
        if anchor >= from && anchor < stop { out.append(anchor) }
        guard let interval else { return out }
        var k = max(1, Int(((from.timeIntervalSince(anchor)) / interval).rounded(.up)))
        while true {
            let t = anchor.addingTimeInterval(Double(k) * interval)
            if t >= stop { break }
            if t >= from { out.append(t) }
            k += 1
        }
        return out
    }

    /// The first play strictly after `t`, if any.
    public func next(after t: Date) -> Date? {
        if anchor > t { return anchor < end ? anchor : nil }
        guard let interval else { return nil }
        let k = Int((t.timeIntervalSince(anchor) / interval).rounded(.down)) + 1
        let n = anchor.addingTimeInterval(Double(k) * interval)
        return n < end ? n : nil
    }

    /// The plan after an Update at `now`. `playsNow`: the update goes on air at once (emergency).
    public func updated(at now: Date, interval newInterval: TimeInterval?, until newUntil: Date, playsNow: Bool) -> RepetitionPlan {
        let anchor = playsNow ? now : (next(after: now) ?? now)
        return RepetitionPlan(anchor: anchor, interval: newInterval, until: newUntil)
    }

    /// The plan after a Cancel at `now`: nothing at or after it plays.
    public func cancelled(at now: Date) -> RepetitionPlan {
        var p = self
        p.cancelledAt = min(cancelledAt ?? now, now)
        return p
    }
}

extension RepetitionPlan {
    /// The index (0: the anchor) of the latest play at or before `t`, if one exists before the plan's end.
    public func latestIndex(atOrBefore t: Date) -> Int? {
        guard anchor <= t, anchor < end else { return nil }
        guard let interval else { return 0 }
        var k = Int((t.timeIntervalSince(anchor) / interval).rounded(.down))
        while k > 0, anchor.addingTimeInterval(Double(k) * interval) >= end { k -= 1 }
        return k
    }

    /// When play `index` (0: the anchor) is.
    public func time(ofIndex index: Int) -> Date { anchor.addingTimeInterval(Double(index) * (interval ?? 0)) }

    /// The play due at `now`, numbered from 1 (the first play, at the anchor), given the numbers
    /// already made: the latest play at or before `now`, unless it (or a later one) was made. Plays
    /// missed while nothing ran (a controller down for longer than an interval) are not made up one
    /// by one: the latest stands for them, once. So a restart neither skips a play nor doubles one.
    /// Nothing is due once the plan has ended (expired or cancelled): a late play after that would
    /// be a warning no longer in force.
    public func due(made: Set<Int>, now: Date) -> (number: Int, at: Date)? { due(made: made, now: now, ahead: 0) }

    /// As `due(made:now:)`, with a play whose time is at most `ahead` seconds away already due: a priority
    /// warning's repeat is a scheduled item, made that much before it plays so the speakers have it in time.
    public func due(made: Set<Int>, now: Date, ahead: TimeInterval) -> (number: Int, at: Date)? {
        guard now < end, let k = latestIndex(atOrBefore: now.addingTimeInterval(max(0, ahead))) else { return nil }
        let number = k + 1
        guard !made.contains(where: { $0 >= number }) else { return nil }
        return (number, time(ofIndex: k))
    }

    /// The plays still to come after `now` (at most `limit`), numbered as `due` numbers them.
    public func upcoming(after now: Date, limit: Int = 48) -> [(number: Int, at: Date)] {
        var out: [(number: Int, at: Date)] = []
        var k = (latestIndex(atOrBefore: now) ?? -1) + 1
        guard interval != nil || k == 0 else { return [] }
        while out.count < limit {
            let t = time(ofIndex: k)
            guard t < end else { break }
            if t > now { out.append((k + 1, t)) }
            k += 1
            if interval == nil { break }
        }
        return out
    }

    public var isCancelled: Bool { cancelledAt != nil }
}
