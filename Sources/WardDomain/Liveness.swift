import Foundation

/// A change of a device's health, as stored in its state history.
public struct StateChange: Sendable, Hashable {
    public var deviceID: String
    public var from: HealthState
    public var to: HealthState
    public var faults: [Fault]
    public var at: Date

    public init(deviceID: String, from: HealthState, to: HealthState, faults: [Fault], at: Date) {
        self.deviceID = deviceID
        self.from = from
        self.to = to
        self.faults = faults
        self.at = at
    }
}

/// A boot id without a heap allocation in its usual form, 16 lowercase hex digits (protocol §3):
/// a Swift string of more than 15 bytes is an object of its own, and a province's fleet keeps one
/// per device for the whole run, scattered over the heap pages the birth wave's messages used.
/// Any other text is kept as it is (boxed: the value stays 9 bytes); `text` gives back exactly what was given.
struct BootID: Sendable, Hashable, Codable {
    final class Other: Sendable, Hashable {
        let text: String
        init(_ text: String) { self.text = text }
        static func == (a: Other, b: Other) -> Bool { a.text == b.text }
        func hash(into h: inout Hasher) { h.combine(text) }
    }
    private enum Storage: Sendable, Hashable {
        case hex(UInt64)
        case other(Other)
    }
    private let storage: Storage
    private static let digits = Array("0123456789abcdef".utf8)

    init(_ text: String) {
        let utf8 = text.utf8
        if utf8.count == 16, utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
           let value = UInt64(text, radix: 16) {
            storage = .hex(value)
        } else {
            storage = .other(Other(text))
        }
    }

    var text: String {
        switch storage {
        case .hex(let v):
            return String(unsafeUninitializedCapacity: 16) { buf in
                for i in 0..<16 { buf[i] = Self.digits[Int((v >> UInt64(60 - 4 * i)) & 0xF)] }
                return 16
            }
        case .other(let o): return o.text
        }
    }

    init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

/// What the tracker knows about one registered device.
///
/// A province's fleet holds one per device for the whole run (`LivenessTracker`), so its stored
/// form is compact: optional numbers and dates are plain values with a presence bit each (an
/// `Optional<UInt64>` takes 9 bytes and pads the next field to 16), and the configuration is held
/// as 32-bit numbers. 96 bytes a device instead of 176 (`MemoryLayout`, tested): 8 MB less at
/// 100,000 devices. The properties read and write as before.
public struct DeviceLiveness: Sendable, Hashable, Codable {
    /// Why the device is in its state: class faults when degraded, the offline reason when offline.
    public var faults: [Fault]
    /// Class faults of this boot's latest telemetry, kept while offline so a reconnect restores them.
    public var classFaults: [Fault] = []
    /// The boots this one replaced (a few, newest last): their telemetry, births and states are
    /// history, not the device's present; replayed, they must not switch it back.
    public var earlierBoots: [String] = []
    public var since: Date
    /// Heartbeat interval the device declared in its birth; silence beyond 1.5× means offline.
    public var heartbeat: TimeInterval
    private var seqValue: UInt64 = 0
    private var eventSeqValue: UInt64 = 0
    private var heardValue: Date = Date(timeIntervalSinceReferenceDate: 0)
    private var expectedValue: Date = Date(timeIntervalSinceReferenceDate: 0)
    private var boot: BootID?
    public var state: HealthState
    public var deviceClass: DeviceClass
    private var present: Present = []
    private var packedConfig: PackedConfig

    /// Which of the optional values are set (an unset one's stored value is zero, so `==` holds).
    private struct Present: OptionSet, Sendable, Hashable {
        let rawValue: UInt8
        static let lastSeq = Present(rawValue: 1)
        static let lastEventSeq = Present(rawValue: 2)
        static let lastHeard = Present(rawValue: 4)
        static let expectedBy = Present(rawValue: 8)
    }

    /// `DeviceConfig` in 10 bytes: its numbers as Int32 (saturated: days of footage and a volume
    /// percentage), each with a presence bit.
    private struct PackedConfig: Sendable, Hashable {
        var retentionDays: Int32 = 0
        var maxVolume: Int32 = 0
        var kioskRole: KioskRole?
        var present: UInt8 = 0

        init(_ c: DeviceConfig) {
            if let d = c.requiredRetentionDays { retentionDays = Int32(clamping: d); present |= 1 }
            if let v = c.maxVolume { maxVolume = Int32(clamping: v); present |= 2 }
            kioskRole = c.kioskRole
        }
        var config: DeviceConfig {
            DeviceConfig(requiredRetentionDays: present & 1 != 0 ? Int(retentionDays) : nil,
                         maxVolume: present & 2 != 0 ? Int(maxVolume) : nil, kioskRole: kioskRole)
        }
    }

    public var config: DeviceConfig {
        get { packedConfig.config }
        set { packedConfig = PackedConfig(newValue) }
    }

    /// The current boot, as the device wrote it (held as `BootID`: most need no allocation).
    public var bootID: String? {
        get { boot?.text }
        set { boot = newValue.map(BootID.init) }
    }
    public var lastSeq: UInt64? {
        get { present.contains(.lastSeq) ? seqValue : nil }
        set { Self.set(newValue, &seqValue, .lastSeq, &present, zero: 0) }
    }
    /// Events count their own sequence: they travel at QoS 1 on another topic than telemetry.
    public var lastEventSeq: UInt64? {
        get { present.contains(.lastEventSeq) ? eventSeqValue : nil }
        set { Self.set(newValue, &eventSeqValue, .lastEventSeq, &present, zero: 0) }
    }
    public var lastHeard: Date? {
        get { present.contains(.lastHeard) ? heardValue : nil }
        set { Self.set(newValue, &heardValue, .lastHeard, &present, zero: Date(timeIntervalSinceReferenceDate: 0)) }
    }
    /// After a controller restart, a device that was online is unknown until heard; if it is not
    /// heard by this moment (1.5 heartbeats after the restart) it is offline, silent.
    public var expectedBy: Date? {
        get { present.contains(.expectedBy) ? expectedValue : nil }
        set { Self.set(newValue, &expectedValue, .expectedBy, &present, zero: Date(timeIntervalSinceReferenceDate: 0)) }
    }

    private static func set<T>(_ value: T?, _ stored: inout T, _ bit: Present, _ present: inout Present, zero: T) {
        if let value {
            stored = value
            present.insert(bit)
        } else {
            stored = zero
            present.remove(bit)
        }
    }

    enum CodingKeys: String, CodingKey {
        case state, faults, classFaults, since, boot = "bootID", lastSeq, lastEventSeq, lastHeard, heartbeat, deviceClass, config
        case earlierBoots, expectedBy
    }

    public init(deviceClass: DeviceClass, config: DeviceConfig, since: Date,
                heartbeat: TimeInterval = LivenessTracker.defaultHeartbeat) {
        self.state = .unknown
        self.faults = []
        self.since = since
        self.heartbeat = heartbeat
        self.deviceClass = deviceClass
        self.packedConfig = PackedConfig(config)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(deviceClass: try c.decode(DeviceClass.self, forKey: .deviceClass), config: try c.decode(DeviceConfig.self, forKey: .config),
                  since: try c.decode(Date.self, forKey: .since), heartbeat: try c.decode(TimeInterval.self, forKey: .heartbeat))
        state = try c.decode(HealthState.self, forKey: .state)
        faults = try c.decode([Fault].self, forKey: .faults)
        classFaults = try c.decodeIfPresent([Fault].self, forKey: .classFaults) ?? []
        boot = try c.decodeIfPresent(BootID.self, forKey: .boot)
        lastSeq = try c.decodeIfPresent(UInt64.self, forKey: .lastSeq)
        lastEventSeq = try c.decodeIfPresent(UInt64.self, forKey: .lastEventSeq)
        lastHeard = try c.decodeIfPresent(Date.self, forKey: .lastHeard)
        earlierBoots = try c.decodeIfPresent([String].self, forKey: .earlierBoots) ?? []
        expectedBy = try c.decodeIfPresent(Date.self, forKey: .expectedBy)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state, forKey: .state)
        try c.encode(faults, forKey: .faults)
        try c.encode(classFaults, forKey: .classFaults)
        try c.encode(since, forKey: .since)
        try c.encodeIfPresent(boot, forKey: .boot)
        try c.encodeIfPresent(lastSeq, forKey: .lastSeq)
        try c.encodeIfPresent(lastEventSeq, forKey: .lastEventSeq)
        try c.encodeIfPresent(lastHeard, forKey: .lastHeard)
        try c.encode(heartbeat, forKey: .heartbeat)
        try c.encode(deviceClass, forKey: .deviceClass)
        try c.encode(config, forKey: .config)
        try c.encode(earlierBoots, forKey: .earlierBoots)
        try c.encodeIfPresent(expectedBy, forKey: .expectedBy)
    }

    /// The moment silence turns into offline.
    public var silenceDeadline: Date? {
        if state == .unknown { return expectedBy }
        guard state.isOnline, let lastHeard else { return nil }
        return lastHeard.addingTimeInterval(heartbeat * LivenessTracker.silenceFactor)
    }

    /// Starts `boot`, remembering the one it replaces.
    mutating func switchBoot(to boot: String) {
        if let old = bootID, old != boot {
            earlierBoots.removeAll { $0 == old }
            earlierBoots.append(old)
            if earlierBoots.count > 4 { earlierBoots.removeFirst(earlierBoots.count - 4) }
        }
        bootID = boot
        lastSeq = nil
        lastEventSeq = nil
    }
}

/// Why a message was refused by the tracker.
public enum LivenessRejection: String, Sendable, Error, Codable, CaseIterable {
    case replayedSequence = "replayed_sequence"
    case classMismatch = "class_mismatch"
    case staleBoot = "stale_boot"
}

/// Outcome of applying one message.
public struct LivenessOutcome: Sendable, Hashable {
    public var change: StateChange?
    /// Set when the message revealed a new boot: (previous boot, new boot).
    public var reboot: (previous: String?, current: String)?

    public static func == (a: LivenessOutcome, b: LivenessOutcome) -> Bool {
        a.change == b.change && a.reboot?.previous == b.reboot?.previous && a.reboot?.current == b.reboot?.current
    }
    public func hash(into h: inout Hasher) { h.combine(change) }
    static let none = LivenessOutcome(change: nil, reboot: nil)
}

/// Live health of the registered fleet: a pure state machine fed with decoded messages and
/// the clock. The controller owns one and persists the changes it returns.
public struct LivenessTracker: Sendable {
    public static let silenceFactor = 1.5
    public static let defaultHeartbeat: TimeInterval = 30
    public static let heartbeatRange: ClosedRange<TimeInterval> = 1...3600

    /// Dense per-device storage: a province's fleet is held in one array, not a hash table of values.
    private var table = DeviceTable<DeviceLiveness>()

    public init() {}

    /// Every tracked device (a copy, as a dictionary: for tests and whole-fleet views).
    public var devices: [String: DeviceLiveness] { table.dictionary }
    public var count: Int { table.count }

    public subscript(id: String) -> DeviceLiveness? { table[id] }

    /// Adds a registered device (or restores one from storage).
    public mutating func track(_ id: String, _ liveness: DeviceLiveness) { table[id] = liveness }
    public mutating func untrack(_ id: String) { table[id] = nil }
    /// Room for a fleet of `n` devices at once (`DeviceTable.reserveCapacity`).
    public mutating func reserveCapacity(_ n: Int) { table.reserveCapacity(n) }
    public func isTracked(_ id: String) -> Bool { table.contains(id) }

    /// Birth: the device connected with a (possibly new) boot. `newSession` is a live birth (a new
    /// MQTT connection): it opens a new sequence window even when the boot id is the current one, since
    /// firmware without a clock or entropy may restart with the same boot id and count from 1 again.
    /// Without it the device would be refused (`replayed_sequence`) until its counter passed the old one.
    public mutating func birth(_ id: String, bootID: String, heartbeat: TimeInterval, at now: Date,
                               newSession: Bool = false) -> LivenessOutcome {
        guard var d = table[id] else { return .none }
        var outcome = LivenessOutcome.none
        if d.bootID != bootID {
            outcome.reboot = (d.bootID, bootID)
            d.switchBoot(to: bootID)
            d.classFaults = []  // a new boot's faults are unknown until its first telemetry
        } else if newSession {
            d.lastSeq = nil
            d.lastEventSeq = nil
        }
        d.expectedBy = nil
        d.heartbeat = min(max(heartbeat, Self.heartbeatRange.lowerBound), Self.heartbeatRange.upperBound)
        d.lastHeard = now
        outcome.change = Self.transition(&d, id, to: d.classFaults.isEmpty ? .ok : .degraded, faults: d.classFaults, at: now)
        table[id] = d
        return outcome
    }

    /// A birth seen as history (retained at the broker): it proves nothing about now, but the
    /// heartbeat it declares is still the contract the silence deadline is measured against.
    public mutating func declare(_ id: String, heartbeat: TimeInterval) {
        guard var d = table[id] else { return }
        d.heartbeat = min(max(heartbeat, Self.heartbeatRange.lowerBound), Self.heartbeatRange.upperBound)
        table[id] = d
    }

    /// Telemetry: proves the device alive and carries its class faults.
    public mutating func telemetry(_ id: String, bootID: String, seq: UInt64, reading: Reading, at now: Date)
        -> Result<LivenessOutcome, LivenessRejection>
    {
        guard var d = table[id] else { return .success(.none) }
        guard reading.deviceClass == d.deviceClass else { return .failure(.classMismatch) }
        var outcome = LivenessOutcome.none
        if d.earlierBoots.contains(bootID) {
            return .failure(.staleBoot)  // a replaced boot's reading is history (or a replay)
        } else if d.bootID != bootID {
            // Birth lost or not yet seen: the telemetry itself reveals the reboot.
            outcome.reboot = (d.bootID, bootID)
            d.switchBoot(to: bootID)
        } else if let last = d.lastSeq, seq <= last {
            return .failure(.replayedSequence)
        }
        d.expectedBy = nil
        d.lastSeq = seq
        d.lastHeard = now
        let faults = HealthRules.faults(of: reading, config: d.config, now: now)
        d.classFaults = faults
        outcome.change = Self.transition(&d, id, to: faults.isEmpty ? .ok : .degraded, faults: faults, at: now)
        table[id] = d
        return .success(outcome)
    }

    /// An event: checked against replay (a QoS 1 redelivery repeats its sequence number) and
    /// taken as a sign of life from the current boot.
    public mutating func event(_ id: String, bootID: String, seq: UInt64, at now: Date) -> Result<Void, LivenessRejection> {
        guard var d = table[id] else { return .success(()) }
        // An event of a replaced boot (kept by the device and sent late) is stored as of that
        // boot, and switches nothing; a repeat of it is caught by storage (boot and seq are unique).
        if d.earlierBoots.contains(bootID) { return .success(()) }
        // A device heard only through events so far: this is its boot, so a repeat is a replay.
        if d.bootID == nil { d.bootID = bootID }
        if d.bootID == bootID, let last = d.lastEventSeq, seq <= last { return .failure(.replayedSequence) }
        if d.bootID == bootID {
            d.lastEventSeq = seq
            if d.state.isOnline { d.lastHeard = max(d.lastHeard ?? now, now) }
        }
        table[id] = d
        return .success(())
    }

    /// Any other message that proves the device alive (acknowledgements).
    public mutating func heard(_ id: String, bootID: String, at now: Date) {
        guard var d = table[id], d.bootID == bootID, d.state.isOnline else { return }
        d.lastHeard = max(d.lastHeard ?? now, now)
        table[id] = d
    }

    /// The controller itself stopped listening and starts again now. What storage holds was
    /// persisted in pieces: `lastAlive` is the last moment every device's status (last heard,
    /// sequence numbers) was written, but state changes are written as they happen, so some are
    /// later than `lastAlive`. Devices that fell silent while the controller still listened go
    /// offline at their deadline; for the others nobody knows what happened since the later of
    /// `lastAlive` and the last time they were heard, so they are unknown from then until heard
    /// again. Every change is dated at or after the device's current interval's start, so the
    /// history stays a partition of time however the crash fell (see `transition`).
    /// `judgeSilence`: false when what is known of the devices' last messages may be older than
    /// the previous listener's knowledge (a commune taken over from a dead node: its status rows
    /// are written every few seconds); silence is then never judged from them, only from now on.
    public mutating func resume(lastAlive: Date, now: Date, judgeSilence: Bool = true) -> [StateChange] {
        let lastAlive = min(lastAlive, now)
        var changes = judgeSilence ? sweep(now: lastAlive) : []
        table.updateEach { id, d in
            guard d.state.isOnline else { return }
            let knownUntil = max(lastAlive, d.lastHeard ?? lastAlive)
            if let c = Self.transition(&d, id, to: .unknown, faults: [], at: knownUntil) { changes.append(c) }
            d.expectedBy = max(now, d.since).addingTimeInterval(d.heartbeat * Self.silenceFactor)
        }
        return changes.sorted { ($0.at, $0.deviceID) < ($1.at, $1.deviceID) }
    }

    /// Offline announced by the device (graceful shutdown) or by the broker (Last Will).
    /// A will left over from an earlier boot must not take down the current one, and a device
    /// already offline keeps the reason it went offline for.
    public mutating func offline(_ id: String, bootID: String?, reason: FaultCode, at now: Date)
        -> Result<LivenessOutcome, LivenessRejection>
    {
        guard var d = table[id] else { return .success(.none) }
        if let bootID, let current = d.bootID, bootID != current { return .failure(.staleBoot) }
        // Already offline: the first reason and its onset stand. A Will that follows silence
        // (the broker noticing later what the controller noticed first) changes nothing.
        guard d.state != .offline else { return .success(.none) }
        let change = Self.transition(&d, id, to: .offline, faults: [Fault(reason)], at: now)
        table[id] = d
        return .success(LivenessOutcome(change: change, reboot: nil))
    }

    /// Marks silent devices offline. The change is dated at the deadline, not at the sweep,
    /// so availability does not depend on how often the sweep runs.
    public mutating func sweep(now: Date) -> [StateChange] {
        var changes: [StateChange] = []
        table.updateEach { id, d in
            guard let deadline = d.silenceDeadline, deadline <= now else { return }
            // Unknown after a restart: silent for 1.5 heartbeats since the controller listens again.
            let silentFor = d.state == .unknown ? d.heartbeat * Self.silenceFactor : deadline.timeIntervalSince(d.lastHeard ?? d.since)
            d.expectedBy = nil
            if let c = Self.transition(&d, id, to: .offline,
                                       faults: [Fault(.silent, "> \(Self.seconds(silentFor)) s")], at: deadline) {
                changes.append(c)
            }
        }
        return changes.sorted { ($0.at, $0.deviceID) < ($1.at, $1.deviceID) }
    }

    /// "7.5", "45": a silence as people read it (not rounded up into a longer one).
    static func seconds(_ t: TimeInterval) -> String {
        t.rounded() == t ? String(Int(t)) : String(format: "%.1f", t)
    }

    /// Whether `boot` is one this device has already left behind.
    public func isEarlierBoot(_ id: String, _ boot: String) -> Bool { table[id]?.earlierBoots.contains(boot) ?? false }

    /// The earliest moment a sweep could find something: lets a scheduler sleep exactly.
    public var nextDeadline: Date? { table.compactMap(\.value.silenceDeadline).min() }

    private static func transition(_ d: inout DeviceLiveness, _ id: String, to state: HealthState, faults: [Fault], at now: Date)
        -> StateChange?
    {
        let sameFaults = d.faults.map(\.code) == faults.map(\.code)
        guard d.state != state || !sameFaults else {
            d.faults = faults  // keep the freshest details without a new history row
            return nil
        }
        // Never before the current interval began: a clock stepped back, or a restart whose
        // last-alive mark is older than changes already stored, must not make an interval end
        // before it starts.
        let at = max(now, d.since)
        let change = StateChange(deviceID: id, from: d.state, to: state, faults: faults, at: at)
        d.state = state
        d.faults = faults
        d.since = at
        return change
    }
}
