import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

public struct ClusterConfiguration: Sendable {
    /// This node's name, unique in the cluster (e.g. the host name).
    public var nodeID: String
    /// Where this node's API is reached, shown by `wardfleet nodes`.
    public var apiURL: String?
    public var brokers: BrokerMap
    /// The broker account every node uses (one account for the controllers).
    public var username: String?
    public var password: String?
    public var caFile: String?
    /// A lease outlives this many seconds without renewal; a dead node's communes are taken after it.
    public var leaseDuration: TimeInterval = 6
    /// How often leases are renewed and the plan re-made.
    public var renewInterval: Duration = .seconds(1)
    /// What each commune unit runs (delivery, alarms, ingest settings); its scope, broker link and
    /// singletons are set by the node.
    public var unit: ControllerConfiguration
    /// The leader's singletons.
    public var notificationSinks: [any NotificationSink] = []
    public var notificationRetry = RetryPolicy()
    /// Alarms texted through an HTTP SMS gateway, by the leader, for every commune; nil: no SMS.
    public var sms: SMSConfiguration?
    public var reports: ReportScheduleConfiguration?
    public var lifecycle: LifecycleConfiguration?
    public var acceptClaims = false
    /// The node's own links to each broker besides its commune units' (the API's publishers, by
    /// broker name: `BrokerRouter.isConnected`); nil: none. A node reports a broker connected when
    /// every link it has to it is up, so a node without communes still reports its links.
    public var brokerLink: (@Sendable (String) -> Bool?)?

    public init(nodeID: String, brokers: BrokerMap, unit: ControllerConfiguration) {
        self.nodeID = nodeID
        self.brokers = brokers
        self.unit = unit
    }
}

/// One controller node of several on one PostgreSQL database. Each commune is owned by one live
/// node through a lease; the node runs a commune unit (a `FleetController` scoped to it, with the
/// commune's own persistent MQTT session on the commune's broker) for each commune it owns, and
/// the singletons (notifications, monthly reports, claim codes) while it holds the leader lease.
///
/// The commune's MQTT session (client id `wardfleet-commune-<id>`, clean session off) is what makes
/// a takeover lose nothing: while no node listens, the broker keeps the commune's QoS 1 messages
/// in that session, and the next owner resumes it.
public actor ClusterNode {
    struct Unit {
        var epoch: Int64
        var controller: FleetController
        var task: Task<Void, Never>
    }

    public let configuration: ClusterConfiguration
    public let database: WardDatabase
    private let repository: ClusterRepository
    private let clock: any TimeSource
    private let logger: Logger
    private let startedAt: Date
    private var units: [String: Unit] = [:]
    private let revisions: SharedRevisions
    private var leader: (epoch: Int64, task: Task<Void, Never>)?
    private var draining = false
    /// Set when the node should hand everything over and stop (SIGTERM, `drain`).
    private var stopWhenDrained = false

    public init(_ configuration: ClusterConfiguration, database: WardDatabase, clock: any TimeSource = SystemTimeSource(),
                logger: Logger = Logger(label: "wardfleet.node")) {
        self.configuration = configuration
        self.database = database
        repository = ClusterRepository(database)
        revisions = SharedRevisions(database: database)
        self.clock = clock
        self.logger = logger
        startedAt = clock.now()
    }

    public var ownedCommunes: [String] { units.keys.sorted() }
    /// This node's commune units' broker links (one per commune it owns), for its readiness.
    public var unitLinks: [(name: String, connected: Bool)] {
        units.map { (configuration.brokers.broker(of: unitCommune($0.value)).name, $0.value.controller.client.isConnected) }
    }
    public var isLeader: Bool { leader != nil }

    /// Runs until cancelled (then stops at once, like a crash but flushing) or until drained after
    /// `drainAndStop()`.
    public func run() async {
        logger.info("node started", metadata: ["node": "\(configuration.nodeID)", "brokers": "\(configuration.brokers.brokers.map(\.address))"])
        while !Task.isCancelled {
            do {
                try await step()
            } catch {
                logger.error("lease renewal failed: \(error)")
            }
            if stopWhenDrained, units.isEmpty, leader == nil { break }
            try? await Task.sleep(for: configuration.renewInterval)
        }
        // Cancelled: stop every unit (each flushes what it holds) and hand the leases over.
        await stopAll(release: true)
        try? repository.markStopped(node: configuration.nodeID, at: clock.now())
        logger.info("node stopped", metadata: ["node": "\(configuration.nodeID)"])
    }

    /// Hands every commune over to the other nodes, then ends `run()`.
    public func drainAndStop() async {
        stopWhenDrained = true
        _ = try? repository.setDraining(node: configuration.nodeID, true)
    }

    /// One renewal: beat, renew, hand over, take.
    func step() async throws {
        let now = clock.now()
        let id = configuration.nodeID
        let links = configuration.brokers.brokers.map { b in
            let up = units.values.filter { configuration.brokers.broker(of: unitCommune($0)).name == b.name }.map(\.controller.client.isConnected)
                + [configuration.brokerLink?(b.name)].compactMap { $0 }
            return BrokerLink(name: b.name, address: b.address, connected: !up.isEmpty && !up.contains(false),
                              communes: units.keys.filter { configuration.brokers.broker(of: $0).name == b.name }.count)
        }
        draining = try repository.heartbeat(node: id, apiURL: configuration.apiURL, startedAt: startedAt, brokers: links, at: now)
            || stopWhenDrained

        // Renew first: a lease lost (taken after we stalled) stops its unit before anything else.
        var held = units.mapValues(\.epoch)
        held = Dictionary(uniqueKeysWithValues: held.map { (ClusterRepository.communeScope($0.key), $0.value) })
        if let l = leader { held[ClusterRepository.leaderScope] = l.epoch }
        let lost = try repository.renew(held, node: id, now: now, duration: configuration.leaseDuration)
        for scope in lost {
            if scope == ClusterRepository.leaderScope {
                logger.warning("leader lease lost")
                leader?.task.cancel()
                leader = nil
            } else if let c = commune(of: scope), let u = units.removeValue(forKey: c) {
                logger.warning("commune lease lost: unit stopped", metadata: ["commune": "\(c)"])
                u.task.cancel()
            }
        }

        let communes = try communeIDs()
        let leases = Dictionary(uniqueKeysWithValues: try repository.leases().map { ($0.scope, $0) })
        let alive = try repository.nodes().filter {
            $0.stoppedAt == nil && $0.heartbeatAt > now.addingTimeInterval(-configuration.leaseDuration)
        }
        var views = alive.map { NodeView(id: $0.id, draining: $0.draining) }
        if let i = views.firstIndex(where: { $0.id == id }) { views[i].draining = draining }
        let plan = LeasePlanner.plan(me: id, communes: communes, leases: leases, nodes: views, now: now)

        for c in plan.release { await handOver(c) }
        for c in plan.acquire { try await take(c, now: now) }
        if plan.wantsLeader, leader == nil, !draining {
            if let grant = try repository.acquire(ClusterRepository.leaderScope, node: id, now: now, duration: configuration.leaseDuration) {
                startLeader(epoch: grant.lease.epoch)
            }
        } else if draining, let l = leader {
            l.task.cancel()
            await l.task.value
            try? repository.release(ClusterRepository.leaderScope, node: id, epoch: l.epoch, at: clock.now())
            leader = nil
        }
    }

    private func take(_ commune: String, now: Date) async throws {
        guard units[commune] == nil else { return }
        let id = configuration.nodeID
        guard let grant = try repository.acquire(ClusterRepository.communeScope(commune), node: id, now: now,
                                                 duration: configuration.leaseDuration) else { return }
        var resume = ResumePoint.lastRun
        if let previous = grant.previous {
            if let released = previous.releasedAt, now.timeIntervalSince(released) <= configuration.leaseDuration {
                resume = .handover
            } else {
                // From the previous owner's release (flushed: it stored everything it heard) or, when
                // it died, from its last renewal the commune had no one listening. A release long ago
                // (the whole cluster stopped, a drain with no other node) is no hand-over: nobody heard
                // the devices in between. (Within a lease duration it is one: the next node's renewal.)
                let start = previous.releasedAt ?? previous.renewedAt
                resume = .since(start)
                let gap = OwnershipGap(communeID: commune, start: start, end: now, previousNode: previous.node, nextNode: id)
                try? repository.recordGap(gap)
                logger.notice("commune taken over", metadata: [
                    "commune": "\(commune)", "from": "\(previous.node)", "silent_s": "\(now.timeIntervalSince(start))",
                    "released": "\(previous.releasedAt != nil)",
                ])
            }
        }
        do {
            let controller = try makeUnit(commune, epoch: grant.lease.epoch, resume: resume)
            let task = Task { [logger] in
                do { try await controller.run() } catch { logger.error("commune unit failed: \(error)", metadata: ["commune": "\(commune)"]) }
            }
            units[commune] = Unit(epoch: grant.lease.epoch, controller: controller, task: task)
        } catch {
            logger.error("commune unit cannot start: \(error)", metadata: ["commune": "\(commune)"])
            try? repository.release(ClusterRepository.communeScope(commune), node: id, epoch: grant.lease.epoch, at: clock.now())
        }
    }

    private func handOver(_ commune: String) async {
        guard let u = units.removeValue(forKey: commune) else { return }
        u.task.cancel()
        await u.task.value  // flushed and disconnected: the next owner resumes the broker session
        try? repository.release(ClusterRepository.communeScope(commune), node: configuration.nodeID, epoch: u.epoch, at: clock.now())
        logger.notice("commune handed over", metadata: ["commune": "\(commune)"])
    }

    private func stopAll(release: Bool) async {
        for c in units.keys.sorted() { await handOver(c) }
        if let l = leader {
            l.task.cancel()
            await l.task.value
            if release { try? repository.release(ClusterRepository.leaderScope, node: configuration.nodeID, epoch: l.epoch, at: clock.now()) }
            leader = nil
        }
    }

    private func makeUnit(_ commune: String, epoch: Int64, resume: ResumePoint) throws -> FleetController {
        var c = configuration.unit
        let broker = configuration.brokers.broker(of: commune)
        guard let (host, port) = MQTTConfiguration.parseAddress(broker.address) else {
            throw BrokerMapError("broker '\(broker.name)': address '\(broker.address)' is not HOST:PORT")
        }
        var mqtt = MQTTConfiguration(host: host, port: port, clientID: "wardfleet-commune-\(commune)")
        mqtt.username = configuration.username
        mqtt.password = configuration.password
        mqtt.caFile = configuration.caFile
        mqtt.cleanSession = false  // the commune's session: kept by the broker between owners
        mqtt.sharedNetworkLoop = true
        mqtt.reconnectDelay = 1...5
        c.mqtt = mqtt
        c.subscription = "\(Topics.root)/\(commune)/+/+"
        c.communes = [commune]
        c.resume = resume
        c.fence = LeaseFence(scope: ClusterRepository.communeScope(commune), node: configuration.nodeID, epoch: epoch)
        // The leader delivers notifications; a commune's alarms are queued for its sinks.
        c.notifies = configuration.notificationSinks.map(\.name)
        c.notificationSinks = []
        c.sms = nil
        c.reports = nil
        c.lifecycle = nil
        c.warnings = nil
        c.claims = nil
        let revisions = self.revisions
        c.registryRevision = { try revisions.registry() }
        c.delivery?.revision = { try revisions.schedule() }
        return try FleetController(c, database: database, clock: clock, logger: Logger(label: "wardfleet.unit.\(commune)"))
    }

    private func startLeader(epoch: Int64) {
        let db = database
        let clock = self.clock
        let configuration = self.configuration
        let logger = self.logger
        let sms = configuration.sms.map { SMSNotifier(database: db, clock: clock, configuration: $0) }
        let sinks = configuration.notificationSinks + (sms.map { [$0.sink] } ?? [])
        let dispatcher = NotificationDispatcher(database: db, sinks: sinks, retry: configuration.notificationRetry,
                                                clock: clock, metrics: configuration.unit.metrics)
        let reports = configuration.reports.map { ReportScheduler(database: db, clock: clock, configuration: $0) }
        let lifecycle = configuration.lifecycle.map { LifecycleService(database: db, clock: clock, configuration: $0) }
        let warnings = configuration.unit.warnings.map { WarningRepeater(database: db, clock: clock, configuration: $0) }
        let task = Task {
            await withDiscardingTaskGroup { group in
                if !sinks.isEmpty { group.addTask { await dispatcher.run() } }
                if let sms { group.addTask { await sms.run() } }
                if let reports { group.addTask { await reports.run() } }
                if let lifecycle { group.addTask { await lifecycle.run() } }
                if let warnings { group.addTask { await warnings.run() } }
                if configuration.acceptClaims {
                    for broker in configuration.brokers.brokers {
                        group.addTask { await Self.answerClaims(broker, configuration, db, clock, logger) }
                    }
                }
                group.addTask { while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) } }
            }
        }
        leader = (epoch, task)
        logger.notice("leader lease taken: notifications (and SMS), monthly reports, data lifecycle, warning repeats and claims run here")
    }

    /// Claim requests of one broker's devices, answered with accounts made on that broker.
    private static func answerClaims(_ broker: BrokerMap.Broker, _ configuration: ClusterConfiguration, _ db: WardDatabase,
                                     _ clock: any TimeSource, _ logger: Logger) async {
        guard let (host, port) = MQTTConfiguration.parseAddress(broker.address) else { return }
        var mqtt = MQTTConfiguration(host: host, port: port, clientID: "wardfleet-claims-\(broker.name)")
        mqtt.username = configuration.username
        mqtt.password = configuration.password
        mqtt.caFile = configuration.caFile
        mqtt.cleanSession = false
        mqtt.sharedNetworkLoop = true
        var accounts = mqtt
        accounts.clientID = "wardfleet-accounts-\(broker.name)-\(configuration.nodeID)"
        accounts.cleanSession = true
        do {
            let client = try MQTTClient(mqtt, logger: logger)
            let service = ClaimService(database: db, publisher: client, accounts: DynamicSecurityAccounts(accounts), clock: clock,
                                       tally: { _ in })
            try client.subscribe(Topics.claimRequests, qos: 1)
            try await client.connect(timeout: nil)
            while let batch = await client.messages.nextBatch() {
                if Task.isCancelled { break }
                for m in batch { await service.handle(m) }
            }
            await client.close()
        } catch {
            logger.error("claims on broker \(broker.name): \(error)")
        }
    }

    /// The communes to share out: the place tree is read again only when the registry changed.
    private var communeCache: (revision: Int64, ids: [String])?
    private func communeIDs() throws -> [String] {
        let revision = try revisions.registry()
        if let c = communeCache, c.revision == revision { return c.ids }
        let ids = try PlaceRepository(database).tree().places.values.filter { $0.level == .commune }.map(\.id).sorted()
        communeCache = (revision, ids)
        return ids
    }

    private func commune(of scope: String) -> String? {
        scope.hasPrefix("commune:") ? String(scope.dropFirst("commune:".count)) : nil
    }
    private func unitCommune(_ u: Unit) -> String { u.controller.configuration.communes?.first ?? "" }
}
