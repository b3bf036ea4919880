import Foundation

/// Per-device message budget (token bucket): a device may send `burst` messages at once and
/// `perSecond` on average. A healthy device sends one reading per heartbeat and a few events;
/// one far above that is broken or hostile, and its excess is dropped before decoding so it
/// cannot starve the others.
public struct MessageBudget: Sendable {
    public var perSecond: Double
    public var burst: Double
    /// How long drops keep counting towards the flooding alarm.
    public var window: TimeInterval = 60
    /// Only buckets not yet full again: a device absent here has its whole burst (pruned as
    /// they refill, so a fleet sending one reading a minute keeps a few entries, not one per device).
    private var buckets: [String: (tokens: Double, at: Date)] = [:]
    private var pruneAt = 1024
    /// Also pruned once per refill time: after a burst of the whole fleet (its births), `pruneAt`
    /// is twice the fleet, so the count alone would never prune again and every device would keep
    /// a bucket (8 MB of hash table for 100,000 devices).
    private var nextPrune = Date.distantPast
    /// Drops per device per whole second: bounded by the window, however hard a device floods.
    private var drops: [String: [Int: Int]] = [:]

    public init(perSecond: Double = 20, burst: Double = 200) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// Spends one message of `device`'s budget; false when it has none left (drop the message).
    public mutating func allow(_ device: String, at now: Date) -> Bool {
        var b = buckets[device] ?? (burst, now)
        b.tokens = min(burst, b.tokens + max(0, now.timeIntervalSince(b.at)) * perSecond)
        b.at = now
        let ok = b.tokens >= 1
        if ok { b.tokens -= 1 } else { drops[device, default: [:]][Int(now.timeIntervalSince1970.rounded(.down)), default: 0] += 1 }
        buckets[device] = b
        if buckets.count >= pruneAt || now >= nextPrune { prune(at: now) }
        return ok
    }

    /// Devices whose bucket is held (not yet seen full again).
    var heldBuckets: Int { buckets.count }

    /// Forgets the buckets that are full by `now`: the same as absent.
    mutating func prune(at now: Date) {
        buckets = buckets.filter { $0.value.tokens + max(0, now.timeIntervalSince($0.value.at)) * perSecond < burst }
        pruneAt = max(1024, buckets.count * 2)
        nextPrune = now.addingTimeInterval(perSecond > 0 ? max(1, burst / perSecond) : 60)
    }

    /// Drops per device within the window before `now`; forgets older ones.
    public mutating func recentDrops(at now: Date) -> [String: Int] {
        let oldest = Int((now.timeIntervalSince1970 - window).rounded(.down))
        var out: [String: Int] = [:]
        for (d, perSecond) in drops {
            let recent = perSecond.filter { $0.key > oldest }
            if recent.isEmpty { drops[d] = nil } else { drops[d] = recent; out[d] = recent.values.reduce(0, +) }
        }
        return out
    }
}
