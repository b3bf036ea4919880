import Foundation
import WardDomain

/// One controller node as the others see it.
public struct NodeRecord: Sendable, Hashable, Codable {
    public var id: String
    public var apiURL: String?
    public var startedAt: Date
    public var heartbeatAt: Date
    public var draining: Bool
    public var stoppedAt: Date?
    /// Broker links as the node last reported them.
    public var brokers: [BrokerLink]

    public init(id: String, apiURL: String?, startedAt: Date, heartbeatAt: Date, draining: Bool, stoppedAt: Date?, brokers: [BrokerLink]) {
        self.id = id
        self.apiURL = apiURL
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.draining = draining
        self.stoppedAt = stoppedAt
        self.brokers = brokers
    }
}

public struct BrokerLink: Sendable, Hashable, Codable {
    public var name: String
    public var address: String
    public var connected: Bool
    public var communes: Int
    public init(name: String, address: String, connected: Bool, communes: Int) {
        self.name = name
        self.address = address
        self.connected = connected
        self.communes = communes
    }
}

/// A span in which a commune had no live owner; its devices' histories read it as unknown.
public struct OwnershipGap: Sendable, Hashable, Codable {
    public var communeID: String
    public var start: Date
    public var end: Date
    public var previousNode: String?
    public var nextNode: String
    public init(communeID: String, start: Date, end: Date, previousNode: String?, nextNode: String) {
        self.communeID = communeID
        self.start = start
        self.end = end
        self.previousNode = previousNode
        self.nextNode = nextNode
    }
}

/// Nodes, leases and ownership gaps: how several controller nodes share the communes.
/// Lease times are the nodes' clocks (kept by NTP); the lease outlives a renewal period several
/// times over, so a skew of a second or two changes nothing.
public struct ClusterRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public static func communeScope(_ id: String) -> String { "commune:\(id)" }
    public static let leaderScope = "leader"

    /// The node's beat; returns whether it is asked to drain (by `setDraining`, from any process).
    /// A node that starts again starts undrained.
    @discardableResult
    public func heartbeat(node: String, apiURL: String?, startedAt: Date, brokers: [BrokerLink], at now: Date) throws -> Bool {
        try db.store.writeConcurrently { db in
            try db.execute(sql: """
                INSERT INTO nodes (id, api_url, started_at, heartbeat_at, draining, stopped_at, brokers) VALUES (?, ?, ?, ?, 0, NULL, ?)
                ON CONFLICT (id) DO UPDATE SET api_url = excluded.api_url, heartbeat_at = excluded.heartbeat_at, stopped_at = NULL,
                    brokers = excluded.brokers,
                    draining = CASE WHEN nodes.started_at = excluded.started_at THEN nodes.draining ELSE 0 END,
                    started_at = excluded.started_at
                """, arguments: [node, apiURL, startedAt.millis, now.millis, JSONText.encode(brokers)])
            return try Bool.fetchOne(db, sql: "SELECT draining FROM nodes WHERE id = ?", arguments: [node]) ?? false
        }
    }

    public func markStopped(node: String, at now: Date) throws {
        try db.store.writeConcurrently { db in
            try db.execute(sql: "UPDATE nodes SET stopped_at = ?, heartbeat_at = ? WHERE id = ?", arguments: [now.millis, now.millis, node])
        }
    }

    /// Asks a node to hand its communes over (it notices at its next renewal).
    public func setDraining(node: String, _ draining: Bool) throws -> Bool {
        try db.store.write { db in
            try db.execute(sql: "UPDATE nodes SET draining = ? WHERE id = ?", arguments: [draining, node])
            return db.changesCount > 0
        }
    }

    public func nodes() throws -> [NodeRecord] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY id").map {
                NodeRecord(id: $0["id"], apiURL: $0["api_url"], startedAt: Date(millis: $0["started_at"]),
                           heartbeatAt: Date(millis: $0["heartbeat_at"]), draining: $0["draining"],
                           stoppedAt: ($0["stopped_at"] as Int64?).map(Date.init(millis:)),
                           brokers: JSONText.decode([BrokerLink].self, $0["brokers"]) ?? [])
            }
        }
    }

    public func leases() throws -> [Lease] {
        try db.store.read { db in try SQLRow.fetchAll(db, sql: "SELECT * FROM leases ORDER BY scope").map(Self.lease) }
    }

    /// Takes a lease that is free (never held, released, or expired), or renews one this node
    /// holds. Returns the lease as it now stands, and whether it changed holder (a takeover).
    public func acquire(_ scope: String, node: String, now: Date, duration: TimeInterval) throws -> LeaseGrant? {
        try db.store.writeConcurrently { db in
            let before = try SQLRow.fetchOne(db, sql: "SELECT * FROM leases WHERE scope = ?\(db.dialect.forUpdate)", arguments: [scope])
                .map(Self.lease)
            if let b = before, b.node != node, b.releasedAt == nil, b.expiresAt > now { return nil }  // someone else's, alive
            let epoch = before.map { $0.node == node && $0.releasedAt == nil ? $0.epoch : $0.epoch + 1 } ?? 1
            let acquiredAt = before.flatMap { $0.node == node && $0.releasedAt == nil ? $0.acquiredAt : nil } ?? now
            try db.execute(sql: """
                INSERT INTO leases (scope, node_id, epoch, acquired_at, renewed_at, expires_at, released_at) VALUES (?, ?, ?, ?, ?, ?, NULL)
                ON CONFLICT (scope) DO UPDATE SET node_id = excluded.node_id, epoch = excluded.epoch, acquired_at = excluded.acquired_at,
                    renewed_at = excluded.renewed_at, expires_at = excluded.expires_at, released_at = NULL
                """, arguments: [scope, node, epoch, acquiredAt.millis, now.millis, now.addingTimeInterval(duration).millis])
            let lease = Lease(scope: scope, node: node, epoch: epoch, acquiredAt: acquiredAt, renewedAt: now,
                              expiresAt: now.addingTimeInterval(duration), releasedAt: nil)
            return LeaseGrant(lease: lease, previous: before?.node == node && before?.releasedAt == nil ? nil : before)
        }
    }

    /// Renews every lease this node holds at these epochs; returns the scopes it no longer holds.
    public func renew(_ held: [String: Int64], node: String, now: Date, duration: TimeInterval) throws -> Set<String> {
        guard !held.isEmpty else { return [] }
        return try db.store.writeConcurrently { db in
            try db.execute(sql: """
                UPDATE leases SET renewed_at = ?, expires_at = ? WHERE node_id = ? AND released_at IS NULL AND expires_at > ?
                """, arguments: [now.millis, now.addingTimeInterval(duration).millis, node, now.millis])
            var lost = Set(held.keys)
            for r in try SQLRow.fetchAll(db, sql: "SELECT scope, epoch FROM leases WHERE node_id = ? AND released_at IS NULL", arguments: [node]) {
                let scope: String = r["scope"]
                if held[scope] == r["epoch"] { lost.remove(scope) }
            }
            return lost
        }
    }

    /// Hands a lease over: free at once for another node, with nothing to account for in between.
    public func release(_ scope: String, node: String, epoch: Int64, at now: Date) throws {
        try db.store.writeConcurrently { db in
            try db.execute(sql: "UPDATE leases SET released_at = ?, expires_at = ? WHERE scope = ? AND node_id = ? AND epoch = ?",
                           arguments: [now.millis, now.millis, scope, node, epoch])
        }
    }

    public func recordGap(_ gap: OwnershipGap) throws {
        try db.store.writeConcurrently { db in
            try db.execute(sql: """
                INSERT INTO ownership_gaps (commune_id, started_at, ended_at, previous_node, next_node) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (commune_id, started_at) DO NOTHING
                """, arguments: [gap.communeID, gap.start.millis, gap.end.millis, gap.previousNode, gap.nextNode])
        }
    }

    public func gaps(since: Date) throws -> [OwnershipGap] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM ownership_gaps WHERE ended_at >= ? ORDER BY started_at", arguments: [since.millis]).map {
                OwnershipGap(communeID: $0["commune_id"], start: Date(millis: $0["started_at"]), end: Date(millis: $0["ended_at"]),
                             previousNode: $0["previous_node"], nextNode: $0["next_node"])
            }
        }
    }

    /// Inside a write transaction: true while this node still holds the lease at this epoch. The
    /// row is locked until the transaction ends, so a takeover waits for a write under way.
    public static func holds(_ db: SQLConnection, scope: String, node: String, epoch: Int64) throws -> Bool {
        try Int64.fetchOne(db, sql: "SELECT epoch FROM leases WHERE scope = ? AND node_id = ? AND released_at IS NULL\(db.dialect.forUpdate)",
                           arguments: [scope, node]) == epoch
    }

    static func lease(_ r: SQLRow) -> Lease {
        Lease(scope: r["scope"], node: r["node_id"], epoch: r["epoch"], acquiredAt: Date(millis: r["acquired_at"]),
              renewedAt: Date(millis: r["renewed_at"]), expiresAt: Date(millis: r["expires_at"]),
              releasedAt: (r["released_at"] as Int64?).map(Date.init(millis:)))
    }
}

public struct LeaseGrant: Sendable {
    public var lease: Lease
    /// The lease before, when it was another node's (or released): nil for a renewal or a first grant.
    public var previous: Lease?
}

/// The lease a write is made under: checked inside the write's transaction.
public struct LeaseFence: Sendable, Hashable {
    public var scope: String
    public var node: String
    public var epoch: Int64
    public init(scope: String, node: String, epoch: Int64) {
        self.scope = scope
        self.node = node
        self.epoch = epoch
    }
}

public struct FencedOut: Error, CustomStringConvertible {
    public var fence: LeaseFence
    public var description: String { "\(fence.scope) is no longer held by \(fence.node) at epoch \(fence.epoch): write refused" }
}
