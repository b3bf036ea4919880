import Dispatch
import FleetFile
import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

public struct ControllerConfiguration: Sendable {
    public var databasePath: String
    public var mqtt: MQTTConfiguration
    /// Every device's messages. Never a shared (`$share`) subscription: each node would see only
    /// part of every device's messages and its liveness tracker would call healthy devices silent.
    public var subscription = Topics.root + "/#"
    public var ingest = IngestSettings()
    public var flushInterval: Duration = .milliseconds(250)
    /// How often the registry's revision (one row) is read; a change is applied at once.
    public var registryRefresh: Duration = .milliseconds(250)
    /// Sends loudspeakers their schedules; nil: this node does not deliver broadcasts.
    public var delivery: DeliveryConfiguration? = DeliveryConfiguration()
    /// Alarms and their notifications; nil: this node does not raise alarms.
    public var alarms: AlarmConfiguration? = AlarmConfiguration()
    public var notificationSinks: [any NotificationSink] = []
    /// The sinks its alarms are queued for when another process delivers them (a cluster's
    /// leader); nil: its own `notificationSinks`.
    public var notifies: [String]?
    public var notificationRetry = RetryPolicy()
    /// Alarms texted through an HTTP SMS gateway (contacts, escalation, rate limits); nil: no SMS.
    public var sms: SMSConfiguration?
    /// Monthly reports made automatically; nil: not on this node.
    public var reports: ReportScheduleConfiguration? = ReportScheduleConfiguration()
    /// Telemetry roll-ups and retention (`LifecycleService`); nil: not on this node (`wardfleet run` sets it).
    public var lifecycle: LifecycleConfiguration?
    /// Answer one-time claim codes (protocol §7), making accounts through the dynamic-security
    /// plugin over this connection (the controller's own account); nil: claims are not answered.
    public var claims: MQTTConfiguration?
    /// Remote configuration and credential rotation (protocol §10, §11); nil: not on this node.
    public var fleetConfig: FleetConfigConfiguration? = FleetConfigConfiguration()
    /// The communes this controller runs (one commune unit of a cluster node); nil: all of them.
    public var communes: Set<String>?
    /// Where device liveness resumes from after the controller was not listening.
    public var resume: ResumePoint = .lastRun
    /// The lease this controller's writes are made under (cluster node): a lost lease stops them.
    public var fence: LeaseFence?
    /// Where the registry's revision is polled (a node's units share one read); nil: from the database.
    public var registryRevision: (@Sendable () throws -> Int64)?
    /// The process's metrics (`GET /metrics`); nil: not counted.
    public var metrics: WardMetrics?
    /// Firmware campaigns driven by this controller (`CampaignRunner`); nil: not on this node. Only the single
    /// controller (no `communes`) runs them.
    public var firmware: FirmwareConfiguration? = FirmwareConfiguration()
    /// Warnings in force replayed at their plans' times (`WarningRepeater`); nil: not on this node. Only
    /// the single controller (no `communes`) runs it; a cluster's leader runs its own.
    public var warnings: WarningRepeatConfiguration? = WarningRepeatConfiguration()

    public init(databasePath: String, mqtt: MQTTConfiguration) {
        self.databasePath = databasePath
        self.mqtt = mqtt
    }
}

/// What the controller knows about the time it was not listening.
public enum ResumePoint: Sendable, Equatable {
    /// The single controller: since the last run was last alive (controller_runs).
    case lastRun
    /// A commune nobody listened to for a while: taken over from a node that died (since its last
    /// renewal), or released long before this node took it (since the release).
    case since(Date)
    /// A commune handed over cleanly just now: the previous owner stored everything it heard.
    case handover
}

/// The controller service: MQTT in, health in memory, storage out. In a cluster, each node runs
/// one of these per commune it owns (`communes`), over the node's shared database.
public final class FleetController: Sendable {
    public let configuration: ControllerConfiguration
    public let ingestor: Ingestor
    public let client: MQTTClient
    public let database: WardDatabase
    public let delivery: BroadcastDelivery?
    public let alarms: AlarmService?
    public let dispatcher: NotificationDispatcher
    public let sms: SMSNotifier?
    public let reports: ReportScheduler?
    public let lifecycle: LifecycleService?
    public let claims: ClaimService?
    public let fleetConfig: FleetConfigService?
    /// Drives firmware campaigns (nil: not on this node).
    public let firmware: CampaignRunner?
    /// Replays warnings in force (nil: not on this node).
    public let warnings: WarningRepeater?
    private let clock: any TimeSource
    private let logger: Logger
    private let writerQueue = DispatchQueue(label: "wardfleet.storage-writer")

    public init(_ configuration: ControllerConfiguration, database shared: WardDatabase? = nil, clock: any TimeSource = SystemTimeSource(),
                logger: Logger = Logger(label: "wardfleet.controller")) throws {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        database = try shared ?? WardDatabase.open(configuration.databasePath)
        client = try MQTTClient(configuration.mqtt, logger: logger)
        var ingest = configuration.ingest
        let runsFirmware = configuration.firmware != nil && configuration.communes == nil
        ingest.collectFirmwareSignals = runsFirmware
        if let metrics = configuration.metrics { ingest.counted = { metrics.countIngest($0, by: $1) } }
        let ingestor = Ingestor(clock: clock, settings: ingest, logger: logger)
        self.ingestor = ingestor
        if let d = configuration.delivery {
            var d = d
            d.communes = configuration.communes
            // Who takes the commune emergency topic: the ingest hears every birth live.
            d.capableSpeakers = d.capableSpeakers ?? { await ingestor.emergencyTopicSpeakers }
            d.metrics = configuration.metrics
            delivery = BroadcastDelivery(database: database, publisher: client, clock: clock, configuration: d,
                                         logger: Logger(label: "wardfleet.delivery"))
        } else {
            delivery = nil
        }
        var alarmConfiguration = configuration.alarms
        alarmConfiguration?.sinks = configuration.notifies ?? configuration.notificationSinks.map(\.name)
        alarmConfiguration?.communes = configuration.communes
        let db = database
        alarms = alarmConfiguration.map { AlarmService(database: db, clock: clock, configuration: $0) }
        sms = configuration.sms.map { c in
            var c = c
            c.communes = configuration.communes
            return SMSNotifier(database: db, clock: clock, configuration: c)
        }
        dispatcher = NotificationDispatcher(database: db, sinks: configuration.notificationSinks + (sms.map { [$0.sink] } ?? []), retry: configuration.notificationRetry,
                                            clock: clock, metrics: configuration.metrics)
        reports = configuration.reports.map { ReportScheduler(database: db, clock: clock, configuration: $0) }
        lifecycle = configuration.lifecycle.map { LifecycleService(database: db, clock: clock, configuration: $0) }
        fleetConfig = configuration.fleetConfig.map { [client] c in
            var c = c
            c.communes = c.communes ?? configuration.communes
            return FleetConfigService(database: db, publisher: client, clock: clock, configuration: c)
        }
        if runsFirmware, var f = configuration.firmware {
            f.signals = f.signals ?? { await ingestor.takeFirmwareSignals() }
            f.online = f.online ?? { await ingestor.online($0) }
            f.refuse = f.refuse ?? { await ingestor.refuse(otaReports: $0) }
            if f.busy == nil, let delivery { f.busy = { await delivery.busyWindows(of: $0) } }
            firmware = CampaignRunner(database: database, publisher: client, clock: clock, configuration: f)
        } else {
            firmware = nil
        }
        warnings = configuration.communes == nil ? configuration.warnings.map { WarningRepeater(database: db, clock: clock, configuration: $0) } : nil
        claims = configuration.claims.map { [client, ingestor] in
            ClaimService(database: db, publisher: client, accounts: DynamicSecurityAccounts($0), clock: clock,
                         secrets: configuration.fleetConfig?.secrets, tally: { await ingestor.count($0) })
        }
    }

    /// Runs until the surrounding task is cancelled, then flushes everything and disconnects.
    public func run(onReady: (@Sendable () -> Void)? = nil) async throws {
        let writer = IngestRepository(database)
        let (run, lastRunAlive) = try writer.startRun(at: clock.now())
        let lastAlive: Date? = switch configuration.resume {
        case .lastRun: lastRunAlive
        case .since(let t): t
        case .handover: nil
        }
        let registryRevision = try DeviceRepository(database).revision()  // before the registry is read: no change slips between
        let storedOnline = try await restore(lastAlive: lastAlive)
        try client.subscribe(configuration.subscription, qos: 1)
        if claims != nil { try client.subscribe(Topics.claimRequests, qos: 1) }
        try await client.connect(timeout: nil)
        logger.info("controller started", metadata: [
            "broker": "\(configuration.mqtt.host):\(configuration.mqtt.port)", "database": "\(configuration.databasePath)",
        ])
        configuration.metrics?.attach(self)
        defer { configuration.metrics?.detach(self) }
        onReady?()
        // After a hand-over, the telemetry (QoS 0: not kept in the commune's session) that devices
        // sent between the previous owner's disconnect and this connect reached no one. A device is
        // judged silent only once it has had 1.5 heartbeats to be heard here, as after a restart;
        // otherwise one lost reading would blink a healthy device offline at every hand-over.
        let listening = clock.now()
        let handoverGrace = storedOnline.mapValues { listening.addingTimeInterval($0 * LivenessTracker.silenceFactor) }

        let unwritten = UnwrittenBatch()
        await withDiscardingTaskGroup { group in
            if let delivery { group.addTask { await delivery.run() } }
            if let alarms { group.addTask { [ingestor] in await alarms.run { await ingestor.observations(for: $0) } } }
            if !configuration.notificationSinks.isEmpty || sms != nil { group.addTask { [dispatcher] in await dispatcher.run() } }
            if let sms { group.addTask { await sms.run() } }
            if let reports { group.addTask { await reports.run() } }
            if let lifecycle { group.addTask { await lifecycle.run() } }
            if let firmware { group.addTask { await firmware.run() } }
            if let fleetConfig { group.addTask { await fleetConfig.run() } }
            if let warnings { group.addTask { await warnings.run() } }
            group.addTask { [ingestor, client, claims] in
                while var messages = await client.messages.nextBatch() {
                    if let claims {
                        var requests: [MQTTMessage] = []
                        messages.removeAll { m in
                            guard m.topic.hasPrefix(Topics.provisionRoot + "/") else { return false }
                            requests.append(m)
                            return true
                        }
                        if !requests.isEmpty {
                            Task { for r in requests { await claims.handle(r) } }  // the broker round trips must not hold up ingest
                        }
                    }
                    await ingestor.ingest(messages)
                }
            }
            group.addTask { [ingestor, client] in
                for await event in client.events {
                    switch event {
                    case .connected: await ingestor.brokerLink(connected: true)
                    case .disconnected, .refused: await ingestor.brokerLink(connected: false)
                    }
                }
            }
            group.addTask { [self] in
                var grace = handoverGrace
                var trimmed = ContinuousClock.now  // housekeeping of the process, not a time of the domain
                while !Task.isCancelled {
                    try? await Task.sleep(for: configuration.flushInterval)
                    let now = clock.now()
                    grace = grace.filter { $0.value > now }
                    if await !sweepWaits(for: grace, at: now) { await ingestor.sweep(queue: client.messages) }
                    await flush(writer, run: run, unwritten: unwritten, force: false)
                    if ContinuousClock.now - trimmed >= HeapTrim.interval {
                        database.releaseIdleRegistry(after: HeapTrim.interval)  // a report's or a page's, once unused
                        HeapTrim.release()
                        trimmed = .now
                    }
                }
            }
            group.addTask { [self] in
                // A registration made by any process (CLI, API, import) bumps the revision; the
                // whole registry is read only then, so polling it often costs one tiny read.
                var seen = registryRevision
                while !Task.isCancelled {
                    try? await Task.sleep(for: configuration.registryRefresh)
                    guard !Task.isCancelled else { break }
                    do {
                        let revision = try configuration.registryRevision?() ?? DeviceRepository(database).revision()
                        guard revision != seen else { continue }
                        let (tree, devices) = try registry()
                        await ingestor.updateRegistry(tree: tree, devices: devices)
                        await delivery?.updateRegistry(tree: tree, devices: devices)
                        await alarms?.updateRegistry(tree: tree, devices: devices)
                        await firmware?.updateRegistry(tree: tree, devices: devices)
                        seen = revision
                    } catch {
                        logger.error("registry refresh failed: \(error)")
                    }
                }
            }
        }
        client.disconnect()
        await ingestor.ingest(await client.messages.nextBatch() ?? [])
        await flush(writer, run: run, unwritten: unwritten, force: true)
        try? writer.stopRun(run, at: clock.now())
        logger.info("controller stopped")
    }

    /// Restores the ingest from storage and hands the registry to every service: one read, which
    /// none keeps a copy of beyond what it needs. Returns the heartbeat of each device stored
    /// online, for a hand-over's grace (none otherwise). The start-up reads (a province's places,
    /// devices and statuses) end with this call instead of living as long as `run`.
    private func restore(lastAlive: Date?) async throws -> [String: TimeInterval] {
        let queries = HealthQueries(database)
        let (tree, devices) = try registry()
        let statuses = try queries.statuses(payloads: false)  // the liveness only: births stay in their rows
        try await ingestor.restore(
            tree: tree, devices: devices, statuses: statuses,
            counters: unit.map { try queries.counters(unit: $0) } ?? queries.counters(), pending: queries.pending(), lastAlive: lastAlive,
            judgeSilence: configuration.resume == .lastRun)
        if let lastAlive { await delivery?.resendReports(since: lastAlive) }
        await delivery?.updateRegistry(tree: tree, devices: devices)
        await alarms?.updateRegistry(tree: tree, devices: devices)
        guard configuration.resume == .handover else { return [:] }
        return Dictionary(uniqueKeysWithValues: devices.compactMap { d in
            statuses[d.id].flatMap { $0.liveness.state.isOnline ? (d.id, $0.liveness.heartbeat) : nil }
        })
    }

    /// Whether a sweep now would mark silent a device still in its hand-over grace (the sweep then
    /// waits: a device still silent after its grace is marked offline, dated at its deadline).
    private func sweepWaits(for grace: [String: Date], at now: Date) async -> Bool {
        for id in grace.keys {
            // A second of margin: the sweep reads the clock again a moment later.
            if let deadline = await ingestor.liveness(id)?.silenceDeadline, deadline <= now.addingTimeInterval(1) { return true }
        }
        return false
    }

    /// The places, and the devices this controller runs (its communes' only, in a cluster).
    private func registry() throws -> (PlaceTree, [Device]) {
        let tree = try PlaceRepository(database).tree()
        let devices = try DeviceRepository(database).list()
        guard let communes = configuration.communes else { return (tree, devices) }
        return (tree, devices.filter { tree.ancestor(of: $0.siteID, at: .commune).map { communes.contains($0.id) } ?? false })
    }

    /// A commune unit's counters are kept apart ("name@commune"); nil for the single controller.
    private var unit: String? {
        guard let c = configuration.communes, c.count == 1 else { return nil }
        return c.first
    }

    /// Writes on a dedicated queue so SQLite never blocks the concurrency pool. A failed write is
    /// kept and retried with the next one: nothing learned is lost while the disk recovers.
    private func flush(_ writer: IngestRepository, run: Int64, unwritten: UnwrittenBatch, force: Bool) async {
        var merged = unwritten.take() ?? IngestBatch()
        merged.merge(await ingestor.takeBatch(forceStatus: force))
        if let unit { merged.counters = Dictionary(uniqueKeysWithValues: merged.counters.map { ("\($0.key)@\(unit)", $0.value) }) }
        let batch = merged
        guard !batch.isEmpty else { return }
        let fence = configuration.fence
        let started = ContinuousClock.now  // a duration for the flush-latency histogram, not a time of the domain
        let result: Result<[PlaybackEntry], any Error> = await withCheckedContinuation { c in
            writerQueue.async { c.resume(returning: Result { try writer.write(batch, run: run, fence: fence) }) }
        }
        if let metrics = configuration.metrics {
            let ok = if case .success = result { true } else { false }
            metrics.flushed(duration: ContinuousClock.now - started, ok: ok, playback: batch.playback)
        }
        switch result {
        case .failure(let error as FencedOut):
            // Another node owns the commune now: what this one still held is not its to write.
            logger.warning("commune taken over: unwritten batch dropped", metadata: ["error": "\(error)", "rows": "\(batch.rowCount)"])
        case .failure(let error):
            logger.error("storage write failed, will retry", metadata: ["error": "\(error)", "rows": "\(batch.rowCount)"])
            unwritten.keep(batch)
        case .success(let refused):
            if !refused.isEmpty { await ingestor.refuse(refused) }
        }
    }
}

/// Holds a batch whose write failed until the next flush.
private final class UnwrittenBatch: @unchecked Sendable {
    // Only touched by the ticker task and the final flush, which never overlap.
    private var batch: IngestBatch?
    func take() -> IngestBatch? {
        defer { batch = nil }
        return batch
    }
    func keep(_ b: IngestBatch) { batch = b }
}
