import Foundation
import WardDomain
import MQTTClient
import WardStorage

/// The cluster as `wardfleet nodes` and `GET /api/nodes` show it: nodes with their communes,
/// lease ages and broker links, and the communes that have no live owner.
public struct ClusterView: Sendable, Codable {
    public struct Node: Sendable, Codable {
        public var id: String
        public var apiURL: String?
        public var alive: Bool
        public var draining: Bool
        public var startedAt: Date
        /// Seconds since the node's last beat.
        public var heartbeatAgeS: Double
        public var leader: Bool
        public var communes: [Commune]
        public var brokers: [BrokerLink]
        enum CodingKeys: String, CodingKey {
            case id, alive, draining, leader, communes, brokers
            case apiURL = "api_url", startedAt = "started_at", heartbeatAgeS = "heartbeat_age_s"
        }
    }
    public struct Commune: Sendable, Codable {
        public var id: String
        public var name: String
        /// Seconds since the lease was last renewed.
        public var leaseAgeS: Double
        /// Seconds the current owner has held it.
        public var heldForS: Double
        public var epoch: Int64
        enum CodingKeys: String, CodingKey {
            case id, name, epoch
            case leaseAgeS = "lease_age_s", heldForS = "held_for_s"
        }
    }
    public struct Unowned: Sendable, Codable {
        public var id: String
        public var name: String
        /// Last owner, and since when nobody holds it; nil when never owned.
        public var lastNode: String?
        public var since: Date?
        enum CodingKeys: String, CodingKey {
            case id, name, since
            case lastNode = "last_node"
        }
    }

    public var nodes: [Node]
    public var unowned: [Unowned]
    public var generatedAt: Date
    enum CodingKeys: String, CodingKey {
        case nodes, unowned
        case generatedAt = "generated_at"
    }

    /// The lease duration assumed when no lease shows one (`wardfleet run --lease-seconds` default).
    public static let defaultLeaseSeconds: TimeInterval = 6

    /// `scope`: the communes a user may see (nil: all). A node is alive when it beat within
    /// `liveWithin`, by default within its lease duration as its leases show it (expiry − last
    /// renewal), as the lease planner counts it; a node holding no lease is judged by the longest
    /// lease of the cluster, else `defaultLeaseSeconds`. With no node at all (a single controller
    /// runs the database) no commune is listed as unowned.
    public static func read(_ db: WardDatabase, now: Date, scope: Set<String>? = nil, liveWithin: TimeInterval? = nil) throws -> ClusterView {
        let repo = ClusterRepository(db)
        let tree = try PlaceRepository(db).tree()
        let communes = tree.places.values.filter { $0.level == .commune && (scope?.contains($0.id) ?? true) }.sorted { $0.id < $1.id }
        let leases = Dictionary(uniqueKeysWithValues: try repo.leases().map { ($0.scope, $0) })
        let records = try repo.nodes()
        let durations = leases.values.filter { $0.releasedAt == nil }.map { ($0.node, $0.expiresAt.timeIntervalSince($0.renewedAt)) }
        let leaseOf = Dictionary(durations, uniquingKeysWith: max)
        let clusterLease = durations.map(\.1).max() ?? defaultLeaseSeconds
        var nodes = records.map { r in
            Node(id: r.id, apiURL: r.apiURL,
                 alive: r.stoppedAt == nil && now.timeIntervalSince(r.heartbeatAt) < (liveWithin ?? leaseOf[r.id] ?? clusterLease),
                 draining: r.draining, startedAt: r.startedAt, heartbeatAgeS: max(0, now.timeIntervalSince(r.heartbeatAt)).rounded(toPlaces: 1),
                 leader: leases[ClusterRepository.leaderScope].map { $0.node == r.id && $0.isHeld(at: now) } ?? false,
                 communes: [], brokers: r.brokers)
        }
        var unowned: [Unowned] = []
        for c in communes where !records.isEmpty {
            let lease = leases[ClusterRepository.communeScope(c.id)]
            if let l = lease, l.isHeld(at: now), let i = nodes.firstIndex(where: { $0.id == l.node }) {
                nodes[i].communes.append(Commune(id: c.id, name: c.name, leaseAgeS: max(0, now.timeIntervalSince(l.renewedAt)).rounded(toPlaces: 1),
                                                 heldForS: max(0, now.timeIntervalSince(l.acquiredAt)).rounded(toPlaces: 1), epoch: l.epoch))
            } else {
                unowned.append(Unowned(id: c.id, name: c.name, lastNode: lease?.node, since: lease.map { $0.releasedAt ?? $0.expiresAt }))
            }
        }
        return ClusterView(nodes: nodes, unowned: unowned, generatedAt: now)
    }

    /// Whether this database is run by a cluster at all (any node ever beat).
    public var isCluster: Bool { !nodes.isEmpty }

    public func text() -> String {
        guard isCluster else { return "Không có nút nào: bộ điều khiển chạy đơn lẻ / no nodes: a single controller runs this database" }
        var out = ""
        for n in nodes {
            let state = !n.alive ? "đã dừng / down" : n.draining ? "đang bàn giao / draining" : "hoạt động / up"
            out += "\(n.id)\(n.leader ? " (leader)" : "") — \(state), nhịp cách / last beat \(n.heartbeatAgeS) s\(n.apiURL.map { " — \($0)" } ?? "")\n"
            for b in n.brokers {
                out += "  broker \(b.name) \(b.address): \(b.connected ? "kết nối / connected" : "mất kết nối / not connected"), \(b.communes) xã / communes\n"
            }
            for c in n.communes {
                out += "  \(c.id) \(c.name): gia hạn cách / renewed \(c.leaseAgeS) s, giữ / held \(c.heldForS) s\n"
            }
        }
        if unowned.isEmpty {
            out += "Mọi xã đều có nút phụ trách / every commune has an owner"
        } else {
            out += "Xã chưa có nút phụ trách / communes with no owner: " + unowned.map { "\($0.id) \($0.name)" }.joined(separator: ", ")
        }
        return out
    }
}

extension Double {
    func rounded(toPlaces p: Int) -> Double {
        let f = pow(10, Double(p))
        return (self * f).rounded() / f
    }
}

/// Device accounts on the broker of each device's commune (sharded brokers).
public struct RoutedDeviceAccounts: DeviceAccounts {
    let map: BrokerMap
    let database: WardDatabase
    let accounts: [String: DynamicSecurityAccounts]

    public init(map: BrokerMap, database: WardDatabase, configuration: (BrokerMap.Broker) -> MQTTConfiguration) {
        self.map = map
        self.database = database
        accounts = Dictionary(uniqueKeysWithValues: map.brokers.map { ($0.name, DynamicSecurityAccounts(configuration($0))) })
    }

    public func provision(device: String, commune: String, password: String) async throws {
        try await accounts[map.broker(of: commune).name]!.provision(device: device, commune: commune, password: password)
    }

    public func revoke(device: String) async throws {
        // The device's commune picks the broker; one no longer placed is revoked everywhere.
        let tree = try PlaceRepository(database).tree()
        if let d = try DeviceRepository(database).get(device), let c = tree.ancestor(of: d.siteID, at: .commune) {
            return try await accounts[map.broker(of: c.id).name]!.revoke(device: device)
        }
        for a in accounts.values { try await a.revoke(device: device) }
    }
}
