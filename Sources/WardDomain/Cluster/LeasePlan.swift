import Foundation

/// A lease on one scope (`commune:<id>` or `leader`) as stored.
public struct Lease: Sendable, Hashable, Codable {
    public var scope: String
    public var node: String
    /// Grows at every change of holder: a write made under an older epoch is refused.
    public var epoch: Int64
    public var acquiredAt: Date
    public var renewedAt: Date
    public var expiresAt: Date
    /// Handed over by its holder at this time (drain, shutdown).
    public var releasedAt: Date?

    public init(scope: String, node: String, epoch: Int64, acquiredAt: Date, renewedAt: Date, expiresAt: Date, releasedAt: Date?) {
        self.scope = scope
        self.node = node
        self.epoch = epoch
        self.acquiredAt = acquiredAt
        self.renewedAt = renewedAt
        self.expiresAt = expiresAt
        self.releasedAt = releasedAt
    }

    public func isHeld(at now: Date) -> Bool { releasedAt == nil && expiresAt > now }
}

/// A node as the planner sees it: alive (beat within the lease duration) and whether draining.
public struct NodeView: Sendable, Hashable {
    public var id: String
    public var draining: Bool
    public init(id: String, draining: Bool) {
        self.id = id
        self.draining = draining
    }
}

/// What one node should do at one renewal: which communes to try to take and which to hand over.
public struct LeasePlan: Sendable, Equatable {
    public var acquire: [String] = []
    public var release: [String] = []
    public var wantsLeader = false
}

/// Spreads the communes evenly over the live nodes that are not draining. Each node decides for
/// itself from the same table: it takes free communes up to its fair share, and hands back what it
/// holds above the share once every other node has had a chance to take (a joining node gets its
/// share without a central coordinator). The lowest live node id takes the leader lease when free.
public enum LeasePlanner {
    /// The fair share: communes ÷ active nodes, rounded up.
    public static func share(communes: Int, activeNodes: Int) -> Int {
        activeNodes == 0 ? communes : (communes + activeNodes - 1) / activeNodes
    }

    public static func plan(me: String, communes: [String], leases: [String: Lease], nodes: [NodeView], now: Date) -> LeasePlan {
        var plan = LeasePlan()
        let scopeOf = { (c: String) in "commune:\(c)" }
        let active = nodes.filter { !$0.draining }
        let meDraining = nodes.first { $0.id == me }?.draining ?? false
        let mine = communes.filter { leases[scopeOf($0)].map { $0.node == me && $0.isHeld(at: now) } ?? false }.sorted()
        if meDraining {
            plan.release = mine
            return plan
        }
        let share = Self.share(communes: communes.count, activeNodes: max(active.count, 1))
        let free = communes.filter { !(leases[scopeOf($0)]?.isHeld(at: now) ?? false) }
        // Free communes in a node-specific order, so nodes starting together mostly try different ones.
        let ordered = free.sorted { stableHash(me + $0) < stableHash(me + $1) }
        plan.acquire = Array(ordered.prefix(max(0, share - mine.count)))
        // Above the share while some active node is below it: hand back the excess (newest first).
        let held = Dictionary(grouping: communes.compactMap { c in leases[scopeOf(c)].flatMap { $0.isHeld(at: now) ? $0.node : nil } }, by: { $0 })
            .mapValues(\.count)
        let someoneBelow = active.contains { $0.id != me && (held[$0.id] ?? 0) < share }
        if mine.count > share, someoneBelow {
            let byAge = mine.sorted { (leases[scopeOf($0)]?.acquiredAt ?? now) > (leases[scopeOf($1)]?.acquiredAt ?? now) }
            plan.release = Array(byAge.prefix(mine.count - share))
        }
        if let leader = leases["leader"], leader.isHeld(at: now) {
            plan.wantsLeader = leader.node == me
        } else {
            plan.wantsLeader = active.map(\.id).min() == me || active.isEmpty
        }
        return plan
    }

    /// FNV-1a: stable across processes (Swift's Hasher is seeded per process).
    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }
}
