import Foundation
import Logging
import WardDomain
import WardProtocol
import WardStorage

/// Why an operator's campaign request was refused (Vietnamese / English).
public struct CampaignRefusal: Refusal, Equatable {
    public var description: String
    public init(_ vi: String, _ en: String) { description = "\(vi) / \(en)" }
}

/// What an operator asks for when creating a campaign.
public struct CampaignRequest: Sendable {
    public var name: String
    /// The image: its SHA-256 (or a unique prefix), or its version for the target's class and model.
    public var image: String
    public var target: CampaignTarget
    public var waves: [WaveSize]
    public var policy: CampaignPolicy
    public var by: String?

    public init(name: String, image: String, target: CampaignTarget, waves: [WaveSize], policy: CampaignPolicy, by: String?) {
        self.name = name
        self.image = image
        self.target = target
        self.waves = waves
        self.policy = policy
        self.by = by
    }
}

/// A campaign as operators see it: its definition, each wave's counts by state, and the failures.
public struct CampaignView: Sendable {
    public var campaign: Campaign
    public var waves: [WaveProgress]
    public var waveSizes: [Int]
    public var failures: [FirmwareJob]
    public var jobs: [FirmwareJob]
}

/// The operators' side of firmware campaigns (CLI, API, console): everything through the database, so any
/// process may call it; the controller's `CampaignRunner` drives what is stored.
public struct FirmwareCampaigns: Sendable {
    let db: WardDatabase
    let repository: FirmwareRepository
    let clock: any TimeSource

    public init(database: WardDatabase, clock: any TimeSource = SystemTimeSource()) {
        db = database
        repository = FirmwareRepository(database)
        self.clock = clock
    }

    /// Every registered device as targeting sees it: the model and firmware of its latest birth (else as registered).
    public func candidates() throws -> [CampaignTarget.Candidate] {
        let tree = try PlaceRepository(db).tree()
        let statuses = try HealthQueries(db).statuses()
        return try DeviceRepository(db).list().map { d in
            let birth = Birth.stored(statuses[d.id]?.birth)
            return CampaignTarget.Candidate(id: d.id, deviceClass: d.deviceClass, model: birth?.model ?? d.model,
                                            firmware: birth?.firmware ?? d.firmware,
                                            communeID: tree.ancestor(of: d.siteID, at: .commune)?.id,
                                            villageID: tree.ancestor(of: d.siteID, at: .village)?.id)
        }
    }

    /// The devices a target names now (the console's and `--dry-run`'s preview).
    public func preview(_ target: CampaignTarget) throws -> [String] { target.resolve(try candidates()) }

    public func image(for r: CampaignRequest) throws -> FirmwareImage {
        let all = try repository.images()
        let byHash = all.filter { r.image.count >= 6 && $0.sha256.hasPrefix(r.image.lowercased()) }
        let byVersion = all.filter { $0.version == r.image && $0.deviceClass == r.target.deviceClass && $0.model == r.target.model }
        let found = byHash.isEmpty ? byVersion : byHash
        guard found.count == 1, let image = found.first else {
            throw found.isEmpty
                ? CampaignRefusal("không có bản firmware '\(r.image)' cho \(r.target.deviceClass.rawValue) \(r.target.model)",
                                  "no firmware '\(r.image)' for \(r.target.deviceClass.rawValue) \(r.target.model)")
                : CampaignRefusal("'\(r.image)' khớp \(found.count) bản, ghi dài hơn", "'\(r.image)' matches \(found.count) images: give more of the hash")
        }
        guard image.deviceClass == r.target.deviceClass, image.model == r.target.model else {
            throw CampaignRefusal("bản \(image.version) dành cho \(image.deviceClass.rawValue) \(image.model), không phải \(r.target.model)",
                                  "image \(image.version) is for \(image.deviceClass.rawValue) \(image.model), not \(r.target.model)")
        }
        return image
    }

    /// Creates a campaign awaiting approval: the target resolved to its device list now, cut into waves.
    public func create(_ r: CampaignRequest) throws -> CampaignView {
        let image = try image(for: r)
        let p = r.policy
        guard p.ratePerMinute >= 1, (0...100).contains(p.maxFailuresPercent), p.minFinished >= 1, p.timeoutSeconds >= 10, p.maxRetries >= 0 else {
            throw CampaignRefusal("tham số không hợp lệ (rate ≥ 1, max-failures 0…100, min-finished ≥ 1, timeout ≥ 10 s)",
                                  "invalid pacing (rate ≥ 1, max-failures 0…100, min-finished ≥ 1, timeout ≥ 10 s)")
        }
        let devices = try preview(r.target)
        guard !devices.isEmpty else {
            throw CampaignRefusal("không có thiết bị nào khớp mục tiêu", "no device matches the target")
        }
        let now = clock.now()
        let name = r.name.isEmpty ? "\(image.model) \(image.version)" : r.name.nfc
        let c = try repository.create(Campaign(id: 0, name: name, image: image, target: r.target, waves: r.waves, policy: p,
                                               createdBy: r.by, createdAt: now)) { id in
            CampaignPlanner.jobs(campaign: id, devices: devices, waves: r.waves, at: now)
        }
        audit("firmware.campaign_create", c, by: r.by, "\(devices.count) thiết bị / devices, đợt / waves "
              + r.waves.map(\.description).joined(separator: ","))
        return try show(c.id)
    }

    public func show(_ id: Int64) throws -> CampaignView {
        guard let c = try repository.campaign(id) else { throw CampaignRefusal("không có chiến dịch \(id)", "no campaign \(id)") }
        let jobs = try repository.jobs(id)
        let progress = CampaignPlanner.progress(jobs)
        return CampaignView(campaign: c, waves: progress, waveSizes: progress.map(\.total), failures: jobs.filter { $0.state.isFailure }, jobs: jobs)
    }

    public func list() throws -> [Campaign] { try repository.campaigns() }

    /// An admin's approval: the campaign starts.
    public func approve(_ id: Int64, by: String?) throws -> Campaign {
        try change(id, "firmware.campaign_approve", by: by) { c in
            guard c.state == .awaitingApproval else { throw Self.wrongState(c, "phê duyệt", "approve") }
            c.state = .running
            c.approvedBy = by
            c.approvedAt = clock.now()
        }
    }

    public func pause(_ id: Int64, by: String? = nil) throws -> Campaign {
        try change(id, "firmware.campaign_pause", by: by) { c in
            guard c.state == .running else { throw Self.wrongState(c, "tạm dừng", "pause") }
            c.state = .paused
        }
    }

    public func resume(_ id: Int64, by: String? = nil) throws -> Campaign {
        try change(id, "firmware.campaign_resume", by: by) { c in
            guard c.state == .paused else { throw Self.wrongState(c, "tiếp tục", "resume") }
            c.state = .running
        }
    }

    /// Cancels: no new orders; devices not yet sent one are dropped, the controller takes back orders not started.
    public func cancel(_ id: Int64, by: String? = nil) throws -> Campaign {
        let now = clock.now()
        let c = try repository.update(id, at: now) { c, jobs in
            guard !c.state.isOver else { throw Self.wrongState(c, "hủy", "cancel") }
            let s = CampaignPlanner.cancel(c, jobs: jobs, now: now)
            return (s.campaign, Array(s.changed.values), s.campaign)
        }
        audit("firmware.campaign_cancel", c, by: by, nil)
        return c
    }

    private func change(_ id: Int64, _ action: String, by: String?, _ body: (inout Campaign) throws -> Void) throws -> Campaign {
        let c = try repository.update(id, at: clock.now()) { c, _ in
            var c = c
            try body(&c)
            return (c, [], c)
        }
        audit(action, c, by: by, nil)
        return c
    }

    /// The audit log (who did what to which campaign); a failed audit write does not undo the change.
    private func audit(_ action: String, _ c: Campaign, by: String?, _ detail: String?) {
        try? AuthRepository(db).audit(user: by ?? "cli", action: action, target: "campaign \(c.id): \(c.name) (\(c.model) \(c.version))", detail: detail,
                                      address: nil, at: clock.now())
    }

    static func wrongState(_ c: Campaign, _ vi: String, _ en: String) -> CampaignRefusal {
        CampaignRefusal("không thể \(vi) chiến dịch \(c.id): đang \(c.state.vietnamese)", "cannot \(en) campaign \(c.id): it is \(c.state.rawValue)")
    }
}

public struct FirmwareConfiguration: Sendable {
    /// How often campaigns step (orders, timeouts, the abort rule).
    public var tick: Duration = .seconds(1)
    /// Base URL devices download firmware from (the controller's HTTP server); nil until it listens.
    public var baseURL: @Sendable () -> String? = { nil }
    /// Births, offline states and `ota_report`s heard since the last call (the ingest); set by FleetController.
    public var signals: (@Sendable () async -> [FirmwareSignal])?
    /// Which of these devices are online now (the ingest); set by FleetController.
    public var online: (@Sendable ([String]) async -> Set<String>)?
    /// Refuses `ota_report`s for orders never sent (counted and listed as rejected, `unknown_job`); set by FleetController.
    public var refuse: (@Sendable ([FirmwareReportRef]) async -> Void)?
    /// When each speaker plays (the broadcast delivery's agendas); set by FleetController.
    public var busy: (@Sendable ([String]) async -> [String: [DateInterval]])?

    public init() {}

    /// The URL of an image for devices.
    public static func url(of sha256: String, base: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/firmware/\(sha256)"
    }
}

/// The controller's side of campaigns: on each tick, applies what devices said, steps every active campaign
/// on the injected clock, and publishes (or clears) the retained `ota` orders. One transaction per campaign per tick.
public actor CampaignRunner {
    private let repository: FirmwareRepository
    private let database: WardDatabase
    private let publisher: any SchedulePublisher
    private let clock: any TimeSource
    private let configuration: FirmwareConfiguration
    private let logger: Logger
    /// The latest birth of each device heard (firmware, capabilities), from storage when a campaign
    /// becomes active, then live. Held only while a campaign is active, as `communes` is: for a
    /// province that is 100,000 entries each, ~25 MB (`bench memory`: 177.6 MB steady with them, 153.5 MB without).
    private var births: [String: (firmware: String, capabilities: [String])]?
    /// Live births of the previous tick while nothing was held: storage may not have them yet
    /// (the ingest flushes every 250 ms), so they are applied over storage when loading.
    private var recentBirths: [String: (firmware: String, capabilities: [String])] = [:]
    private var communes: [String: String] = [:]
    private var images: [String: FirmwareImage] = [:]
    private var registryLoaded = false
    /// Campaigns over with no order out: not looked at again.
    private var settled: Set<Int64> = []
    /// Devices whose birth or commune is held (tests: none while no campaign is active).
    var heldDevices: Int { (births?.count ?? 0) + communes.count }
    /// Orders published, cleared (counts for tests and the benchmark).
    public private(set) var published = 0
    public private(set) var cleared = 0

    public init(database: WardDatabase, publisher: any SchedulePublisher, clock: any TimeSource,
                configuration: FirmwareConfiguration = FirmwareConfiguration(), logger: Logger = Logger(label: "wardfleet.firmware")) {
        self.database = database
        repository = FirmwareRepository(database)
        self.publisher = publisher
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async {
        while !Task.isCancelled {
            await tick()
            try? await Task.sleep(for: configuration.tick)
        }
    }

    /// The devices' communes (for their topics); refreshed by the controller when the registry changes.
    public func updateRegistry(tree: PlaceTree, devices: [Device]) {
        guard births != nil else {  // no campaign active: read again when one is
            registryLoaded = false
            return
        }
        communes = Dictionary(devices.compactMap { d in tree.ancestor(of: d.siteID, at: .commune).map { (d.id, $0.id) } },
                              uniquingKeysWith: { a, _ in a })
        registryLoaded = true
    }

    /// One step of every active campaign now.
    public func tick() async {
        do {
            let signals = await configuration.signals?() ?? []
            var reports: [FirmwareReportRef] = []
            var heard: [String: (firmware: String, capabilities: [String])] = [:]
            for s in signals {
                if case .birth(let d, let f, let caps, _) = s { heard[d] = (f, caps) }
                if case .report(let d, let job, _, _, _) = s { reports.append(FirmwareReportRef(device: d, job: job)) }
            }
            // A report of an order never sent to that device is refused as the ingest refuses bad input: counted, listed.
            let unknown = try repository.unknownJobs(reports)
            if !unknown.isEmpty { await configuration.refuse?(unknown) }
            let active = try repository.active(skipping: settled)
            // A campaign over and not active has no order out, and never will again: its jobs are not read again.
            settled.formUnion(try repository.overIDs().subtracting(active.map(\.id)))
            guard !active.isEmpty else {
                // Nothing to plan: the fleet's births and communes are let go, and read again when a campaign starts.
                births = nil
                communes = [:]
                registryLoaded = false
                recentBirths = heard
                return
            }
            if births == nil {
                var b: [String: (firmware: String, capabilities: [String])] = [:]
                for (id, s) in try HealthQueries(database).statuses() {
                    if let birth = Birth.stored(s.birth) { b[id] = (birth.firmware, birth.capabilities) }
                }
                b.merge(recentBirths) { _, live in live }
                recentBirths = [:]
                births = b
            }
            births?.merge(heard) { _, live in live }
            if !registryLoaded {
                updateRegistry(tree: try PlaceRepository(database).tree(), devices: try DeviceRepository(database).list())
            }
            let bySignalDevice = Dictionary(grouping: signals, by: \.device)
            for c in active { try await step(c.id, signals: bySignalDevice) }
        } catch {
            logger.error("firmware campaign step failed: \(error)")
        }
    }

    private func step(_ id: Int64, signals: [String: [FirmwareSignal]]) async throws {
        let now = clock.now()
        // What the planner needs of the devices, read outside the transaction.
        let jobs = try repository.jobs(id)
        let ids = jobs.filter { !$0.state.isTerminal }.map(\.deviceID)
        let online = await configuration.online?(ids) ?? []
        let busy = await configuration.busy?(ids) ?? [:]
        var devices: [String: CampaignPlanner.DeviceNow] = [:]
        for d in ids {
            let b = births?[d]
            devices[d] = CampaignPlanner.DeviceNow(online: online.contains(d), capabilities: b?.capabilities, firmware: b?.firmware, busy: busy[d] ?? [])
        }
        let (campaign, send, clear) = try repository.update(id, at: now) { c, jobs in
            var jobs = jobs
            var changed: [String: FirmwareJob] = [:]
            var clear = Set<String>()
            for i in jobs.indices {
                for s in signals[jobs[i].deviceID] ?? [] {
                    guard let r = CampaignPlanner.apply(s, to: jobs[i], campaign: c) else { continue }
                    jobs[i] = r.job
                    changed[r.job.deviceID] = r.job
                    if r.clear { clear.insert(r.job.deviceID) }
                }
            }
            let step = CampaignPlanner.step(c, jobs: jobs, devices: devices, now: now)
            changed.merge(step.changed) { _, new in new }
            clear.formUnion(step.clear)
            return (step.campaign, Array(changed.values), (step.campaign, step.send, clear.subtracting(step.send.map(\.deviceID))))
        }
        for d in clear.sorted() { publishOrder(nil, device: d) }
        if !send.isEmpty {
            guard let image = try cachedImage(campaign.image) else { return }
            guard let base = configuration.baseURL() else {
                logger.warning("firmware orders wait: no HTTP address for devices yet")
                return  // the jobs time out and are retried
            }
            for j in send {
                let order = OTAOrder(device: j.deviceID, campaign: campaign.id, job: j.jobID, image: image,
                                     url: FirmwareConfiguration.url(of: image.sha256, base: base), ts: now.unixMillis,
                                     deadline: now.addingTimeInterval(campaign.policy.timeoutSeconds).unixMillis)
                publishOrder(order, device: j.deviceID)
            }
        }
        if campaign.state == .aborted, campaign.endedAt == now {
            logger.warning("firmware campaign \(campaign.id) aborted", metadata: ["wave": "\(campaign.abortedWave.map { $0 + 1 } ?? 0)",
                                                                                   "detail": "\(campaign.abortDetail ?? "")"])
        }
    }

    private func cachedImage(_ sha: String) throws -> FirmwareImage? {
        if let i = images[sha] { return i }
        let i = try repository.image(sha)
        images[sha] = i
        return i
    }

    private func publishOrder(_ order: OTAOrder?, device: String) {
        guard let commune = communes[device] else { return }
        let topic = TopicAddress(commune: commune, device: device, kind: .ota).topic
        do {
            try publisher.publish(topic: topic, payload: order.map { ProtocolEncoder.encode($0) } ?? [], qos: 1, retain: true)
            if order == nil { cleared += 1 } else { published += 1 }
        } catch {
            logger.error("firmware order not published: \(error)", metadata: ["device": "\(device)"])
        }
    }
}
