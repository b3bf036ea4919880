import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

public struct IngestSettings: Sendable {
    /// At most one stored telemetry sample per device per this many seconds (plus one at every
    /// health change); the latest reading is always kept in memory and in device_status.
    public var sampleInterval: TimeInterval = 60
    /// How often each changed device's status row is written back.
    public var statusInterval: TimeInterval = 5
    /// Individual rejection log lines per flush before they are summarised.
    public var rejectionLogLimit = 20
    /// Each device's message budget: average per second and burst. Beyond it messages are
    /// dropped unread, counted as `rejected.rate_limited`, and the device gets a flooding alarm.
    public var messagesPerSecond: Double = 20
    public var messageBurst: Double = 200
    /// At most this many status rows in one batch (all of them when forced): the first flush of a
    /// province (every device dirty at once) goes out in slices over a few flushes, not as one
    /// write of 100,000 rows held in memory at once.
    public var statusesPerBatch = 5_000
    /// Told of every counter move (the process's metrics, `WardMetrics.countIngest`); nil: none.
    public var counted: (@Sendable (String, UInt64) -> Void)?
    /// Keep live births, offline states and `ota_report`s for the firmware campaigns (`takeFirmwareSignals`).
    public var collectFirmwareSignals = false

    public init() {}
}

/// Counter names, as stored in ingest_counters and shown by `wardfleet health`.
public enum IngestCounter {
    public static let received = "received"
    public static let processed = "processed"
    public static let pendingMessages = "pending_messages"
    public static let commandEchoes = "command_echoes"
    /// Events of a type this controller does not know: well-formed, from a newer v1 device (§6).
    public static let ignoredUnknownEvent = "ignored.unknown_event"
    /// An event repeated (a QoS 1 redelivery): already stored, dropped.
    public static let ignoredDuplicateEvent = "ignored.duplicate_event"
    public static func rejected(_ r: RejectReason) -> String { "rejected.\(r.rawValue)" }
}

/// The controller's in-memory model of the fleet and the single place messages are applied.
/// Everything it learns is accumulated into an `IngestBatch` that `takeBatch` hands to storage.
public actor Ingestor {
    private let decoder = ProtocolDecoder()
    private let clock: any TimeSource
    private let settings: IngestSettings
    private let logger: Logger

    private var tracker = LivenessTracker()
    /// The monitored devices: registry fields read here, place, latest reading (dense: a province's fleet in one array).
    private var devices = DeviceTable<MonitoredDevice>()
    /// The communes and villages `devices` refer to by number (renumbered with each registry).
    private var places = PlaceNumbers()
    /// Births and telemetry not yet in their status rows; the rows keep them, memory does not.
    private var unwritten: [String: UnwrittenPayloads] = [:]
    private var dirty = Set<String>()
    /// Dirty devices whose state changed: their status rows go first, in the next batch.
    private var changedDirty = Set<String>()
    private var lastStatusFlush: Date
    private var counters: [String: UInt64] = [:]
    private var countersChanged = false
    private var knownPending = Set<String>()
    /// The latest birth and state each pending device sent, applied when it is registered: a
    /// device that connected just before its registration is not left unknown.
    private var pendingHeard: [String: (birth: MQTTMessage?, state: MQTTMessage?)] = [:]
    static let pendingHeardLimit = 10_000
    private var batch = IngestBatch()
    /// What firmware campaigns need to hear, until `takeFirmwareSignals` (only with `collectFirmwareSignals`).
    private var firmwareSignals: [FirmwareSignal] = []
    private var rejectionsLoggedThisFlush = 0
    private var rejectionsSinceFlush: [RejectReason: Int] = [:]
    private var reportedQueueDrops: UInt64 = 0
    private var budget: MessageBudget
    /// Speakers whose latest birth (live or retained) announces the commune emergency topic.
    public private(set) var emergencyTopicSpeakers = Set<String>()

    public init(clock: any TimeSource, settings: IngestSettings = IngestSettings(), logger: Logger) {
        self.clock = clock
        self.settings = settings
        budget = MessageBudget(perSecond: settings.messagesPerSecond, burst: settings.messageBurst)
        self.logger = logger
        lastStatusFlush = clock.now()
    }

    // MARK: registry

    /// Restores what storage knew, then accounts for the time the controller was not listening.
    public func restore(tree: PlaceTree, devices list: [Device], statuses: [String: DeviceStatusRecord],
                        counters saved: [String: UInt64], pending: [PendingRecord], lastAlive: Date?, judgeSilence: Bool = true) {
        counters = saved
        knownPending = Set(pending.map(\.deviceID))
        let active = Set(list.filter { $0.removedAt == nil }.map(\.id))
        for (id, s) in statuses where active.contains(id) {  // a removed device's history stays as it was
            tracker.track(id, s.liveness)  // its birth stays in its status row (a status written without one keeps it)
        }
        updateRegistry(tree: tree, devices: list)
        if let lastAlive { record(tracker.resume(lastAlive: lastAlive, now: clock.now(), judgeSilence: judgeSilence)) }
    }

    /// Applies the current registry: new devices are tracked from unknown, removed ones dropped.
    public func updateRegistry(tree: PlaceTree, devices list: [Device]) {
        let now = clock.now()
        var fresh = Set<String>(minimumCapacity: list.count)
        for d in list where d.removedAt == nil { fresh.insert(d.id) }
        devices.removeAll { id, _ in
            guard !fresh.contains(id) else { return false }
            tracker.untrack(id)
            unwritten[id] = nil
            return true
        }
        devices.reserveCapacity(fresh.count)  // exactly the fleet: not grown by doubling past it
        tracker.reserveCapacity(fresh.count)
        places = PlaceNumbers()  // every device left is numbered again below: removed places go
        for d in list where d.removedAt == nil {
            let id = d.id
            let commune = tree.ancestor(of: d.siteID, at: .commune)?.id, village = tree.ancestor(of: d.siteID, at: .village)?.id
            var m = devices[id] ?? MonitoredDevice(deviceClass: d.deviceClass)
            m.deviceClass = d.deviceClass
            m.commune = places.number(commune)
            m.village = places.number(village)
            devices[id] = m
            if var l = tracker[id] {
                l.config = d.config
                l.deviceClass = d.deviceClass
                tracker.track(id, l)
            } else {
                tracker.track(id, DeviceLiveness(deviceClass: d.deviceClass, config: d.config, since: max(now, d.monitoredFrom)))
                // Opens the device's first interval: unknown until it is heard.
                batch.changes.append(StateChange(deviceID: id, from: .unknown, to: .unknown, faults: [], at: now))
                dirty.insert(id)
                if knownPending.remove(id) != nil { batch.settledPending.append(id) }
            }
        }
        // What newly registered devices said while pending, in the order they say it on connect.
        for id in Array(pendingHeard.keys) where devices.contains(id) {
            guard let heard = pendingHeard.removeValue(forKey: id) else { continue }
            for m in [heard.birth, heard.state].compactMap({ $0 }) {
                if case .success(let d) = decoder.decode(topic: m.topic, payload: m.payload, now: now) { handle(d, m, now: now) }
            }
        }
    }

    public func liveness(_ id: String) -> DeviceLiveness? { tracker[id] }

    /// Births, offline states and `ota_report`s heard since the last call, in order (firmware campaigns).
    public func takeFirmwareSignals() -> [FirmwareSignal] {
        defer { firmwareSignals = [] }
        return firmwareSignals
    }

    /// Which of these devices are online now.
    public func online(_ ids: some Sequence<String>) -> Set<String> {
        Set(ids.filter { tracker[$0]?.state.isOnline ?? false })
    }

    /// Every monitored device as the alarm engine sees it now; with a filter, only those it wants
    /// (a fleet of healthy devices then costs no array of a province's observations).
    public func observations(for filter: ObservationFilter? = nil) -> [DeviceObservation] {
        let drops = budget.recentDrops(at: clock.now())
        return devices.compactMap { id, d in
            guard let l = tracker[id] else { return nil }
            var o = DeviceObservation(deviceID: id, deviceClass: d.deviceClass, villageID: places.id(d.village),
                                      communeID: places.id(d.commune),
                                      state: l.state, since: l.since, faults: l.faults, reading: d.latestReading,
                                      requiredRetentionDays: l.config.requiredRetentionDays ?? 30)
            o.recentDrops = drops[id] ?? 0
            return filter.map { $0.wants(o) } ?? true ? o : nil
        }
    }
    /// How many monitored devices are in each state, by class (the metrics' devices gauge).
    public func stateCounts() -> [DeviceClass: [HealthState: Int]] {
        var out: [DeviceClass: [HealthState: Int]] = [:]
        for (id, d) in devices {
            guard let l = tracker[id] else { continue }
            out[d.deviceClass, default: [:]][l.state, default: 0] += 1
        }
        return out
    }
    public func counter(_ name: String) -> UInt64 { counters[name] ?? 0 }
    public var allCounters: [String: UInt64] { counters }

    // MARK: ingest

    public func ingest(_ messages: [MQTTMessage]) {
        let now = clock.now()
        for m in messages { apply(m, now: now) }
    }

    /// Counts something learned beside the message stream (claims), kept and shown with the rest.
    public func count(_ name: String) { bump(name) }

    private func bump(_ name: String, _ by: UInt64 = 1) {
        counters[name, default: 0] &+= by
        countersChanged = true
        settings.counted?(name, by)
    }

    private func apply(_ m: MQTTMessage, now: Date) {
        bump(IngestCounter.received)
        // Over budget: dropped before any decoding, counted (not listed one by one: a flood
        // would fill the rejection list), summarised in the log at the next flush.
        let address = Topics.parse(m.topic)
        // The controller's own commune-wide emergency messages, heard back on the tree: not for it.
        if address == nil, Topics.emergencyCommune(m.topic) != nil { return bump(IngestCounter.commandEchoes) }
        if let a = address, a.kind.fromDevice, !budget.allow(a.device, at: now) {
            bump(IngestCounter.rejected(.rateLimited))
            rejectionsSinceFlush[.rateLimited, default: 0] += 1
            return
        }
        let decoded: DecodedMessage
        switch decoder.decode(address: address, topic: m.topic, payload: m.payload, now: now) {
        case .failure(let r): return reject(r, topic: m.topic, now: now)
        case .success(let d): decoded = d
        }
        if case .command = decoded.inbound { return bump(IngestCounter.commandEchoes) }
        handle(decoded, m, now: now)
    }

    /// Applies a decoded message (live, or remembered from a device's pending time).
    private func handle(_ decoded: DecodedMessage, _ m: MQTTMessage, now: Date) {
        let id = decoded.address.device
        guard let device = devices[id] else { return recordPending(decoded, m, now: now) }
        let commune = places.id(device.commune)
        guard commune == decoded.address.commune else {
            return reject(Rejection(.identityMismatch, "\(id) belongs to commune \(commune ?? "?"), not \(decoded.address.commune)"),
                          topic: m.topic, now: now)
        }
        switch decoded.inbound {
        case .birth(let b):
            guard b.deviceClass == device.deviceClass else {
                return reject(Rejection(.classMismatch, "birth says \(b.deviceClass.rawValue), registered as \(device.deviceClass.rawValue)"),
                              topic: m.topic, now: now)
            }
            if tracker.isEarlierBoot(id, b.boot) {
                return reject(Rejection(.staleBoot, "birth of replaced boot \(b.boot)"), topic: m.topic, now: now)
            }
            if b.capabilities.contains(Topics.emergencyCapability) {
                emergencyTopicSpeakers.insert(id)
            } else {
                emergencyTopicSpeakers.remove(id)
            }
            unwritten[id, default: UnwrittenPayloads()].birth = String(decoding: m.payload, as: UTF8.self)
            dirty.insert(id)
            // A retained birth is history, not a sign of life.
            if m.retained {
                tracker.declare(id, heartbeat: b.heartbeat)
            } else {
                record(tracker.birth(id, bootID: b.boot, heartbeat: b.heartbeat, at: now, newSession: true), id, now)
                if settings.collectFirmwareSignals {
                    firmwareSignals.append(.birth(device: id, firmware: b.firmware, capabilities: b.capabilities, at: now))
                }
            }
        case .state(let s):
            switch s.state {
            case .offline:
                let reason: FaultCode = s.reason == .shutdown ? .shutdown : .lastWill
                switch tracker.offline(id, bootID: s.boot, reason: reason, at: now) {
                case .failure(let r):
                    // A will from an earlier boot arriving late is expected, not hostile.
                    if r == .staleBoot { bump(IngestCounter.rejected(.staleBoot)) } else {
                        return reject(Rejection(RejectReason(r), "state"), topic: m.topic, now: now)
                    }
                case .success(let o):
                    record(o, id, now)
                    if settings.collectFirmwareSignals { firmwareSignals.append(.offline(device: id, at: now)) }
                }
            case .online:
                if tracker.isEarlierBoot(id, s.boot) {
                    return reject(Rejection(.staleBoot, "online state of replaced boot \(s.boot)"), topic: m.topic, now: now)
                }
                // A retained "online" is history too: a device without a Last Will that died while
                // the controller was down still has it at the broker. It stays unknown until heard
                // (its telemetry), and offline if not heard within 1.5 heartbeats of the restart.
                guard !m.retained else { break }
                let hb = tracker[id]?.heartbeat ?? LivenessTracker.defaultHeartbeat
                record(tracker.birth(id, bootID: s.boot, heartbeat: hb, at: now), id, now)
            }
        case .telemetry(let t):
            switch tracker.telemetry(id, bootID: t.boot, seq: t.seq, reading: t.reading, at: now) {
            case .failure(let r):
                return reject(Rejection(RejectReason(r), "seq \(t.seq) boot \(t.boot)"), topic: m.topic, now: now)
            case .success(let o):
                record(o, id, now)
                unwritten[id, default: UnwrittenPayloads()].telemetry = (m.payload, now)
                // A kiosk's counters are its figures when it sends no events: every reading
                // that moves them is kept, so no increase is lost between samples.
                let countersMoved = Self.kioskCounters(t.reading) != device.latestReading.flatMap(Self.kioskCounters)
                dirty.insert(id)
                let sampleDue = o.change != nil || countersMoved
                    || device.lastSampleAt.map({ now.timeIntervalSince($0) >= settings.sampleInterval }) ?? true
                devices.modify(id) { m in
                    m.latestReading = t.reading
                    if sampleDue { m.lastSampleAt = now }
                }
                if sampleDue {
                    batch.samples.append(TelemetryRecord(deviceID: id, receivedAt: now, deviceTime: t.deviceTime,
                                                         boot: t.boot, seq: t.seq,
                                                         payload: String(decoding: m.payload, as: UTF8.self)))
                }
            }
        case .event(let e):
            guard e.type.classes.contains(device.deviceClass) else {
                return reject(Rejection(.classMismatch, "event \(e.type.rawValue) from a \(device.deviceClass.rawValue)"), topic: m.topic, now: now)
            }
            if case .failure(let r) = tracker.event(id, bootID: e.boot, seq: e.seq, at: now) {
                // A QoS 1 redelivery is the protocol working, not bad input: dropped, counted as ignored.
                if r == .replayedSequence { return bump(IngestCounter.ignoredDuplicateEvent) }
                return reject(Rejection(RejectReason(r), "event seq \(e.seq) boot \(e.boot)"), topic: m.topic, now: now)
            }
            batch.events.append(EventRecord(deviceID: id, boot: e.boot, seq: e.seq, type: e.type.rawValue,
                                            occurredAt: e.deviceTime, receivedAt: now, ticket: e.ticket,
                                            waitSeconds: e.waitSeconds, rating: e.rating, detail: e.detail))
            dirty.insert(id)
        case .unknownEvent(let type, let boot, let seq):
            if case .failure(let r) = tracker.event(id, bootID: boot, seq: seq, at: now) {
                if r == .replayedSequence { return bump(IngestCounter.ignoredDuplicateEvent) }
                return reject(Rejection(RejectReason(r), "event seq \(seq) boot \(boot)"), topic: m.topic, now: now)
            }
            logger.debug("event of an unknown type ignored", metadata: ["device": "\(id)", "event": "\(type.prefix(64))"])
            return bump(IngestCounter.ignoredUnknownEvent)
        case .ack(let a):
            tracker.heard(id, bootID: a.boot, at: now)
            batch.acks.append(AckRecord(deviceID: id, cmdID: a.cmdID, result: a.result.rawValue, detail: a.detail, receivedAt: now,
                                       report: a.selfTest?.json))
        case .playback(let reports, let boot):
            guard device.deviceClass == .speaker else {
                return reject(Rejection(.classMismatch, "playback report from a \(device.deviceClass.rawValue)"), topic: m.topic, now: now)
            }
            tracker.heard(id, bootID: boot, at: now)
            for p in reports { batch.playback.append((p, now)) }
        case .otaReport(let r):
            tracker.heard(id, bootID: r.boot, at: now)
            if settings.collectFirmwareSignals {
                firmwareSignals.append(.report(device: id, job: r.job, state: r.state, reason: r.reason, at: now))
            }
        case .command:
            break
        case .configReport(let r):
            tracker.heard(id, bootID: r.boot, at: now)
            batch.configReports.append(ConfigReportRecord(deviceID: id, version: r.version, result: r.result, detail: r.detail,
                                                          reported: r.reported, receivedAt: now))
        case .credentialsReport(let r):
            tracker.heard(id, bootID: r.boot, at: now)
            batch.credentialsReports.append(CredentialsReportRecord(deviceID: id, rotation: r.rotation, stored: r.stored,
                                                                    reason: r.reason, receivedAt: now))
        }
        bump(IngestCounter.processed)
    }

    private func record(_ o: LivenessOutcome, _ id: String, _ now: Date) {
        if let r = o.reboot, r.previous != nil {
            batch.reboots.append(RebootRecord(deviceID: id, previousBoot: r.previous, boot: r.current, at: now))
            logger.info("device rebooted", metadata: ["device": "\(id)", "boot": "\(r.current)"])
        }
        if let c = o.change { record([c]) }
        dirty.insert(id)
    }

    private func record(_ changes: [StateChange]) {
        for c in changes {
            batch.changes.append(c)
            dirty.insert(c.deviceID)
            logger.notice("device \(c.deviceID): \(c.from.rawValue) → \(c.to.rawValue)", metadata: [
                "device": "\(c.deviceID)", "state": "\(c.to.rawValue)",
                "reason": "\(c.faults.map(\.text).joined(separator: "; "))",
            ])
        }
    }

    /// Hash tables never shrink as entries go: after the birth wave of a province (every device at
    /// once) these would keep buckets for 100,000 devices while holding a few thousand.
    private static func shrink<K, V>(_ d: inout [K: V]) {
        guard d.capacity > 4 * d.count + 4_096 else { return }
        d = Dictionary(minimumCapacity: d.count).merging(d) { a, _ in a }
    }
    private static func shrink<E>(_ s: inout Set<E>) {
        guard s.capacity > 4 * s.count + 4_096 else { return }
        var fresh = Set<E>(minimumCapacity: s.count)
        fresh.formUnion(s)
        s = fresh
    }

    private static func kioskCounters(_ r: Reading) -> KioskCounterReading? {
        guard case .kiosk(let k) = r else { return nil }
        return KioskCounterReading(boot: "", at: .distantPast, issued: k.ticketsIssued, served: k.ticketsServed, ratings: k.ratings)
    }

    private func recordPending(_ d: DecodedMessage, _ m: MQTTMessage, now: Date) {
        let raw = m.payload
        bump(IngestCounter.pendingMessages)
        if pendingHeard[d.address.device] != nil || pendingHeard.count < Self.pendingHeardLimit {
            switch d.inbound {
            case .birth: pendingHeard[d.address.device, default: (nil, nil)].birth = m
            case .state: pendingHeard[d.address.device, default: (nil, nil)].state = m
            default: break
            }
        }
        var rec = PendingRecord(deviceID: d.address.device, communeID: d.address.commune, firstSeen: now, lastSeen: now, messages: 1)
        if case .birth(let b) = d.inbound {
            rec.deviceClass = b.deviceClass.rawValue
            rec.model = b.model
            rec.firmware = b.firmware
            rec.birth = String(decoding: raw, as: UTF8.self)
        }
        if knownPending.insert(rec.deviceID).inserted {
            logger.warning("unregistered device is talking: recorded as pending, not adopted", metadata: [
                "device": "\(rec.deviceID)", "commune": "\(rec.communeID)",
            ])
        }
        batch.pending.append(rec)
    }

    private func reject(_ r: Rejection, topic: String, now: Date) {
        bump(IngestCounter.rejected(r.reason))
        rejectionsSinceFlush[r.reason, default: 0] += 1
        batch.rejections.append(RejectionRecord(at: now, reason: r.reason.rawValue, topic: topic, detail: r.detail))
        if rejectionsLoggedThisFlush < settings.rejectionLogLimit {
            rejectionsLoggedThisFlush += 1
            logger.warning("message rejected: \(r.reason.rawValue)", metadata: [
                "topic": "\(topic.prefix(160))", "detail": "\(r.detail.prefix(300))",
            ])
        }
    }

    /// Playback reports storage refused: their play was never sent to that speaker. Counted and
    /// listed like any rejected message (in the next batch).
    public func refuse(_ reports: [PlaybackEntry]) {
        let now = clock.now()
        for r in reports {
            let topic = TopicAddress(commune: devices[r.speaker].flatMap { places.id($0.commune) } ?? "?", device: r.speaker, kind: .playback).topic
            reject(Rejection(.unknownPlay, "\(r.key.id) \(r.event.rawValue): không được gửi cho loa này / never sent to this speaker"),
                   topic: topic, now: now)
        }
    }

    /// `ota_report`s for an order never sent to that device (the firmware campaigns' verdict): counted and
    /// listed like any rejected message (in the next batch).
    public func refuse(otaReports: [FirmwareReportRef]) {
        let now = clock.now()
        for r in otaReports {
            let topic = TopicAddress(commune: devices[r.device].flatMap { places.id($0.commune) } ?? "?", device: r.device, kind: .otaReport).topic
            reject(Rejection(.unknownJob, "\(r.job.prefix(64)): không có lệnh cập nhật này cho thiết bị / no such update order for this device"),
                   topic: topic, now: now)
        }
    }

    /// The controller's own link to the broker went up or down.
    public func brokerLink(connected: Bool) {
        let now = clock.now()
        batch.brokerLink = (connected, now)
        if connected {
            logger.info("connected to the broker")
        } else {
            logger.error("lost the broker connection: device states are not being updated until it returns")
        }
    }

    // MARK: periodic work

    /// Marks silent devices offline and notes queue drops. Returns the state changes made.
    @discardableResult
    public func sweep(queue: InboundQueue? = nil) -> [StateChange] {
        if let queue {
            let dropped = queue.counts.dropped
            if dropped > reportedQueueDrops {
                let delta = dropped - reportedQueueDrops
                reportedQueueDrops = dropped
                bump(IngestCounter.rejected(.queueOverflow), delta)
                logger.error("inbound queue full: \(delta) messages dropped", metadata: ["total": "\(dropped)"])
            }
        }
        let changes = tracker.sweep(now: clock.now())
        record(changes)
        return changes
    }

    /// Everything to write since the last call. Status rows are included every
    /// `statusInterval`, or at once for devices whose state changed.
    public func takeBatch(forceStatus: Bool = false) -> IngestBatch {
        let now = clock.now()
        var b = batch
        batch = IngestBatch()
        for c in b.changes where dirty.contains(c.deviceID) { changedDirty.insert(c.deviceID) }
        let statusDue = forceStatus || now.timeIntervalSince(lastStatusFlush) >= settings.statusInterval
        let limit = forceStatus ? Int.max : max(1, settings.statusesPerBatch)
        // Changed devices first; the other dirty ones when due. Past the limit they stay dirty for the next batch.
        var ids = Array(changedDirty.prefix(limit))
        if statusDue, ids.count < limit {
            ids += dirty.lazy.filter { !self.changedDirty.contains($0) }.prefix(limit - ids.count)
        }
        for id in ids {
            guard let l = tracker[id] else { continue }
            let p = unwritten.removeValue(forKey: id)  // handed to storage: its status row keeps them
            b.statuses.append(DeviceStatusRecord(deviceID: id, liveness: l, birth: p?.birth,
                                                 lastTelemetry: p?.telemetry.map { String(decoding: $0.payload, as: UTF8.self) },
                                                 lastTelemetryAt: p?.telemetry?.at))
        }
        dirty.subtract(ids)
        changedDirty.subtract(ids)
        Self.shrink(&unwritten)
        Self.shrink(&dirty)
        Self.shrink(&changedDirty)
        if statusDue {
            // Still due while a slice remains: the next flush takes the next one.
            if dirty.isEmpty { lastStatusFlush = now }
            if countersChanged { b.counters = counters }
            countersChanged = false
            b.aliveAt = now
        }
        // A summary whenever some rejections were not logged one by one (over the limit, or a flood).
        if rejectionsSinceFlush.values.reduce(0, +) > rejectionsLoggedThisFlush {
            let summary = rejectionsSinceFlush.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
            logger.warning("rejected messages since last flush: \(summary.joined(separator: ", "))")
        }
        rejectionsSinceFlush = [:]
        rejectionsLoggedThisFlush = 0
        return b
    }
}
