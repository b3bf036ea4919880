import Foundation

/// An alarm's identity while it is open: one per subject (a device or a village) and kind.
public struct AlarmKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var subject: String
    public var kind: AlarmKind

    public init(subject: String, kind: AlarmKind) {
        self.subject = subject
        self.kind = kind
    }

    public static func device(_ id: String, _ kind: AlarmKind) -> AlarmKey { AlarmKey(subject: "device:\(id)", kind: kind) }
    public static func village(_ id: String) -> AlarmKey { AlarmKey(subject: "village:\(id)", kind: .villageOutage) }
    public var description: String { "\(subject)/\(kind.rawValue)" }
}

public enum AlarmStatus: String, Codable, Sendable, CaseIterable {
    case active, acknowledged, cleared

    public var vietnamese: String {
        switch self {
        case .active: "đang báo"
        case .acknowledged: "đã xác nhận"
        case .cleared: "đã hết"
        }
    }
}

public struct Alarm: Codable, Sendable, Hashable, Identifiable {
    /// Assigned by storage; nil until stored.
    public var id: Int64?
    public var kind: AlarmKind
    public var severity: AlarmSeverity
    public var deviceID: String?
    public var deviceClass: DeviceClass?
    public var villageID: String?
    public var communeID: String?
    /// Village outage: the devices that went offline together.
    public var members: [String]
    public var detail: String
    /// When the condition began (the device went offline, the fault appeared).
    public var since: Date
    public var raisedAt: Date
    public var ackedBy: String?
    public var ackedAt: Date?
    public var ackNote: String?
    public var clearedAt: Date?
    public var clearReason: String?
    public var lastRemindedAt: Date?
    public var reminders: Int

    public init(id: Int64? = nil, kind: AlarmKind, severity: AlarmSeverity, deviceID: String? = nil, deviceClass: DeviceClass? = nil,
                villageID: String? = nil, communeID: String? = nil, members: [String] = [], detail: String = "", since: Date,
                raisedAt: Date, ackedBy: String? = nil, ackedAt: Date? = nil, ackNote: String? = nil, clearedAt: Date? = nil,
                clearReason: String? = nil, lastRemindedAt: Date? = nil, reminders: Int = 0) {
        self.id = id
        self.kind = kind
        self.severity = severity
        self.deviceID = deviceID
        self.deviceClass = deviceClass
        self.villageID = villageID
        self.communeID = communeID
        self.members = members
        self.detail = detail
        self.since = since
        self.raisedAt = raisedAt
        self.ackedBy = ackedBy
        self.ackedAt = ackedAt
        self.ackNote = ackNote
        self.clearedAt = clearedAt
        self.clearReason = clearReason
        self.lastRemindedAt = lastRemindedAt
        self.reminders = reminders
    }

    public var key: AlarmKey {
        kind == .villageOutage ? .village(villageID ?? "") : .device(deviceID ?? "", kind)
    }

    public var status: AlarmStatus { clearedAt != nil ? .cleared : ackedAt != nil ? .acknowledged : .active }
}

public enum AlarmTransition: Sendable, Hashable {
    case raised(Alarm)
    /// Same alarm, new members or detail (a village outage widening or shrinking).
    case changed(Alarm)
    case cleared(Alarm)

    public var alarm: Alarm {
        switch self {
        case .raised(let a), .changed(let a), .cleared(let a): a
        }
    }
}

/// Turns observations of devices over time into alarms: duration before raising, tolerance
/// before clearing, village grouping of simultaneous outages. Pure: the caller supplies time.
public struct AlarmEngine: Sendable {
    public var rules: AlarmRules
    public var storm: StormPolicy

    struct Track: Sendable {
        var onset: Date
        /// The condition has been absent since then; it is gone for good after the tolerance.
        var gapSince: Date?
        var detail: String
        var raised = false
        /// The village whose outage alarm stands for this device's.
        var grouped: String?
    }

    struct Outage: Sendable {
        var alarm: Alarm
        var returned: [String: Date] = [:]
    }

    private var tracks: [AlarmKey: Track] = [:]
    private var open: [AlarmKey: Alarm] = [:]
    private var outages: [String: Outage] = [:]
    private var villageOf: [String: String] = [:]

    public init(rules: AlarmRules = .defaults, storm: StormPolicy = StormPolicy()) {
        self.rules = rules
        self.storm = storm
    }

    public var openAlarms: [Alarm] { Array(open.values) }
    /// The devices with a condition being tracked (raised or not): their observations are needed
    /// even once the condition is gone, to clear it.
    public var trackedDevices: Set<String> { Set(tracks.keys.map(Self.device)) }
    public func alarm(_ key: AlarmKey) -> Alarm? { open[key] }

    /// Picks up alarms left open by an earlier run, so they clear instead of being raised again.
    public mutating func restore(_ alarms: [Alarm]) {
        for a in alarms where a.clearedAt == nil {
            open[a.key] = a
            if a.kind == .villageOutage, let v = a.villageID {
                outages[v] = Outage(alarm: a)
                for m in a.members {
                    tracks[.device(m, .offline)] = Track(onset: a.since, detail: "", grouped: v)
                    villageOf[m] = v
                }
            } else {
                tracks[a.key] = Track(onset: a.since, detail: a.detail, raised: true)
            }
        }
    }

    /// Updates the alarm picture from every monitored device's current observation. Devices
    /// missing from `observations` were removed: their alarms clear.
    public mutating func evaluate(_ observations: [DeviceObservation], now: Date) -> [AlarmTransition] {
        var out: [AlarmTransition] = []
        var seen = Set<AlarmKey>()
        // Only the devices with a condition or a track are looked up again: a fleet of healthy
        // devices costs no per-device table (a province's would be tens of MB every evaluation).
        let trackedDevices = Set(tracks.keys.map(Self.device))
        var byDevice: [String: DeviceObservation] = [:]
        for o in observations {
            let conditions = AlarmConditions.of(o, rules: rules, now: now)
            if !conditions.isEmpty || trackedDevices.contains(o.deviceID) {
                byDevice[o.deviceID] = o
                if let v = o.villageID { villageOf[o.deviceID] = v }
            }
            for (kind, detail) in conditions {
                let key = AlarmKey.device(o.deviceID, kind)
                seen.insert(key)
                let onset = kind == .offline ? min(o.since, now) : now
                if var t = tracks[key] {
                    if let gap = t.gapSince, let r = rule(kind, o), now.timeIntervalSince(gap) >= r.tolerance {
                        // The gap outlasted the tolerance between two evaluations: that was an end.
                        end(key, at: gap, now: now, reason: "recovered", into: &out)
                        tracks[key] = Track(onset: onset, detail: detail)
                        continue
                    }
                    t.gapSince = nil
                    t.detail = detail
                    tracks[key] = t
                    if t.raised, var a = open[key], a.detail != detail {
                        a.detail = detail
                        open[key] = a
                        out.append(.changed(a))
                    }
                } else {
                    tracks[key] = Track(onset: onset, detail: detail)
                }
            }
        }
        // Conditions that are absent now (or whose device is gone).
        for (key, var t) in tracks where !seen.contains(key) {
            let device = String(key.subject.dropFirst("device:".count))
            guard let o = byDevice[device] else {
                end(key, at: now, now: now, reason: "removed", into: &out)
                continue
            }
            // Unknown (e.g. the controller was not listening): nothing is known to have ended.
            if o.state == .unknown, !key.kind.knownWhileUnknown { continue }
            if t.gapSince == nil {
                t.gapSince = now
                tracks[key] = t
            }
            let tolerance = rule(key.kind, o)?.tolerance ?? 0
            if now.timeIntervalSince(t.gapSince!) >= tolerance {
                end(key, at: t.gapSince!, now: now, reason: "recovered", into: &out)
            }
        }
        raiseDue(byDevice, now: now, into: &out)
        // Villages are read only for tracked devices (storm grouping): forget the others'.
        if villageOf.count > 2 * tracks.count + 1024 {
            let keep = Set(tracks.keys.map(Self.device))
            villageOf = villageOf.filter { keep.contains($0.key) }
        }
        return out
    }

    static func device(_ key: AlarmKey) -> String { String(key.subject.dropFirst("device:".count)) }

    private func rule(_ kind: AlarmKind, _ o: DeviceObservation) -> AlarmRule? { rules.rule(kind, o.deviceClass) }

    /// Ends a device track: clears its own alarm, or counts it back in for its village's.
    private mutating func end(_ key: AlarmKey, at: Date, now: Date, reason: String, into out: inout [AlarmTransition]) {
        guard let t = tracks.removeValue(forKey: key) else { return }
        if t.raised, var a = open.removeValue(forKey: key) {
            a.clearedAt = at
            a.clearReason = reason
            out.append(.cleared(a))
        }
        guard let v = t.grouped, var outage = outages[v] else { return }
        let device = String(key.subject.dropFirst("device:".count))
        outage.returned[device] = at
        let still = outage.alarm.members.filter { outage.returned[$0] == nil }
        if still.isEmpty {
            outages[v] = nil
            var a = outage.alarm
            a.clearedAt = outage.returned.values.max() ?? at
            a.clearReason = reason
            open[a.key] = nil
            out.append(.cleared(a))
        } else {
            outage.alarm.detail = Self.outageDetail(still: still.count, of: outage.alarm.members.count)
            outages[v] = outage
            open[outage.alarm.key] = outage.alarm
            out.append(.changed(outage.alarm))
        }
    }

    private mutating func raiseDue(_ byDevice: [String: DeviceObservation], now: Date, into out: inout [AlarmTransition]) {
        // Oldest first, so a village outage forms around its first device.
        let due = tracks.filter { key, t in
            guard !t.raised, t.grouped == nil, t.gapSince == nil,
                  let o = byDevice[String(key.subject.dropFirst("device:".count))], let r = rule(key.kind, o),
                  o.state != .unknown || key.kind.knownWhileUnknown else { return false }  // nor known to go on
            return now.timeIntervalSince(t.onset) >= r.duration
        }.sorted { ($0.value.onset, $0.key.subject) < ($1.value.onset, $1.key.subject) }
        for (key, _) in due {
            guard let t = tracks[key], !t.raised, t.grouped == nil else { continue }  // grouped meanwhile
            let o = byDevice[String(key.subject.dropFirst("device:".count))]!
            if key.kind == .offline, let v = o.villageID, group(o, village: v, now: now, into: &out) { continue }
            let a = Alarm(kind: key.kind, severity: rule(key.kind, o)!.severity, deviceID: o.deviceID, deviceClass: o.deviceClass,
                          villageID: o.villageID, communeID: o.communeID, detail: t.detail, since: t.onset, raisedAt: now)
            tracks[key]!.raised = true
            open[key] = a
            out.append(.raised(a))
        }
    }

    /// Joins an open village outage, or starts one when enough devices of the village went
    /// offline within the window of each other. False: the device stands alone.
    private mutating func group(_ o: DeviceObservation, village v: String, now: Date, into out: inout [AlarmTransition]) -> Bool {
        let key = AlarmKey.device(o.deviceID, .offline)
        if var outage = outages[v] {
            tracks[key]!.grouped = v
            if !outage.alarm.members.contains(o.deviceID) { outage.alarm.members.append(o.deviceID) }
            outage.returned[o.deviceID] = nil
            let still = outage.alarm.members.filter { outage.returned[$0] == nil }
            outage.alarm.detail = Self.outageDetail(still: still.count, of: outage.alarm.members.count)
            outages[v] = outage
            open[outage.alarm.key] = outage.alarm
            out.append(.changed(outage.alarm))
            return true
        }
        guard storm.minDevices > 1 else { return false }
        // Offline devices of the village not already alarmed on their own, by onset.
        let candidates = tracks.compactMap { k, t -> (String, Date)? in
            guard k.kind == .offline, !t.raised, t.grouped == nil, t.gapSince == nil else { return nil }
            let d = String(k.subject.dropFirst("device:".count))
            return villageOf[d] == v ? (d, t.onset) : nil
        }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let mine = candidates.firstIndex(where: { $0.0 == o.deviceID }) else { return false }
        // The chain of onsets each within the window of the next, around this device.
        var lo = mine, hi = mine
        while lo > 0, candidates[lo].1.timeIntervalSince(candidates[lo - 1].1) <= storm.window { lo -= 1 }
        while hi < candidates.count - 1, candidates[hi + 1].1.timeIntervalSince(candidates[hi].1) <= storm.window { hi += 1 }
        let cluster = candidates[lo...hi]
        guard cluster.count >= storm.minDevices else { return false }
        let members = cluster.map(\.0)
        let a = Alarm(kind: .villageOutage, severity: storm.severity, villageID: v, communeID: o.communeID, members: members,
                      detail: Self.outageDetail(still: members.count, of: members.count), since: cluster.first!.1, raisedAt: now)
        for m in members { tracks[.device(m, .offline)]!.grouped = v }
        outages[v] = Outage(alarm: a)
        open[a.key] = a
        out.append(.raised(a))
        return true
    }

    static func outageDetail(still: Int, of all: Int) -> String {
        "\(still)/\(all) thiết bị mất kết nối / devices offline"
    }
}

public enum Reminders {
    /// Whether an open, unacknowledged alarm is due to be notified again.
    public static func isDue(_ a: Alarm, policy: ReminderPolicy, now: Date) -> Bool {
        guard a.clearedAt == nil, a.ackedAt == nil, let after = policy.after, a.severity <= policy.minSeverity else { return false }
        guard let last = a.lastRemindedAt else { return now.timeIntervalSince(a.raisedAt) >= after }
        return now.timeIntervalSince(last) >= policy.every
    }
}
