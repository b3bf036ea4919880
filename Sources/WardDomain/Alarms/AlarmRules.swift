import Foundation

public enum AlarmSeverity: String, Codable, Sendable, CaseIterable, Comparable {
    case major, minor, warning

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    /// Major sorts first.
    public static func < (a: AlarmSeverity, b: AlarmSeverity) -> Bool { a.rank < b.rank }

    public var vietnamese: String {
        switch self {
        case .major: "nghiêm trọng"
        case .minor: "nhẹ"
        case .warning: "cảnh báo"
        }
    }
}

/// What an alarm is about. Raw values are stable codes stored in the database and sent to sinks.
public enum AlarmKind: String, Codable, Sendable, CaseIterable {
    case offline
    case retentionBelowRequired = "retention_below_required"
    case diskNearlyFull = "disk_nearly_full"
    case amplifierFault = "amplifier_fault"
    case speakerLineFault = "speaker_line_fault"
    case uplinkDown = "uplink_down"
    case paperOut = "paper_out"
    case batteryLow = "battery_low"
    /// Several devices of one village went offline together: power or network lost there.
    case villageOutage = "village_outage"
    /// The device sends more messages than its budget allows (faulty firmware or a hijacked device).
    case flooding
    /// The device reported a `tamper` event: enclosure opened, camera moved or covered.
    case tamper
    /// The camera reported a `storage_full` event: recording may stop or overwrite.
    case storageFull = "storage_full"
    /// Wrong claim codes came in a row for the device: someone who read its id off the label may
    /// be trying codes (the claims slow down; the technician should look).
    case claimAttempts = "claim_attempts"

    public var vietnamese: String {
        switch self {
        case .offline: "mất kết nối"
        case .retentionBelowRequired: "camera không đủ số ngày lưu trữ"
        case .diskNearlyFull: "ổ lưu trữ sắp đầy"
        case .amplifierFault: "lỗi bộ khuếch đại (amply)"
        case .speakerLineFault: "lỗi đường dây loa"
        case .uplinkDown: "mất đường truyền Internet của điểm Wi-Fi"
        case .paperOut: "kiosk hết giấy in phiếu"
        case .batteryLow: "pin yếu khi đang chạy pin"
        case .villageOutage: "mất điện hoặc mất mạng tại thôn"
        case .flooding: "thiết bị gửi tin dồn dập (bị giới hạn)"
        case .tamper: "thiết bị bị can thiệp (mở vỏ, xoay hoặc che camera)"
        case .storageFull: "ổ lưu trữ camera đã đầy"
        case .claimAttempts: "nhiều lần thử sai mã nhận tài khoản"
        }
    }

    public var english: String {
        switch self {
        case .offline: "offline"
        case .retentionBelowRequired: "camera retention below required"
        case .diskNearlyFull: "disk nearly full"
        case .amplifierFault: "amplifier fault"
        case .speakerLineFault: "speaker line fault"
        case .uplinkDown: "Wi-Fi uplink down"
        case .paperOut: "kiosk paper out"
        case .batteryLow: "battery low on battery power"
        case .villageOutage: "power or network lost in village"
        case .flooding: "device flooding (rate-limited)"
        case .tamper: "device tampered with (opened, moved or covered)"
        case .storageFull: "camera storage full"
        case .claimAttempts: "wrong claim codes in a row"
        }
    }

    /// Judged from the controller's own records (dropped messages, wrong claim codes), not from
    /// what the device reports: known even while the device's state is unknown (a device that
    /// is still claiming its account has never been heard).
    public var knownWhileUnknown: Bool { self == .flooding || self == .claimAttempts }

    /// Device classes the kind applies to.
    public var classes: [DeviceClass] {
        switch self {
        case .offline, .flooding, .tamper, .claimAttempts: DeviceClass.allCases
        case .retentionBelowRequired, .diskNearlyFull, .storageFull: [.camera]
        case .amplifierFault, .speakerLineFault, .batteryLow: [.speaker]
        case .uplinkDown: [.accessPoint]
        case .paperOut: [.kiosk]
        case .villageOutage: []
        }
    }
}

/// One rule: a condition must hold for `duration` before the alarm is raised, and be gone for
/// `tolerance` before it clears. Gaps shorter than `tolerance` do not restart or end anything,
/// which is what keeps a flapping device to one alarm.
public struct AlarmRule: Codable, Sendable, Hashable {
    public var kind: AlarmKind
    public var deviceClass: DeviceClass
    public var severity: AlarmSeverity
    /// The figure the condition compares against, where it has one: disk used fraction (≥),
    /// battery percent (<).
    public var threshold: Double?
    public var duration: TimeInterval
    public var tolerance: TimeInterval
    public var enabled: Bool

    public init(_ kind: AlarmKind, _ deviceClass: DeviceClass, _ severity: AlarmSeverity, threshold: Double? = nil,
                duration: TimeInterval, tolerance: TimeInterval = 120, enabled: Bool = true) {
        self.kind = kind
        self.deviceClass = deviceClass
        self.severity = severity
        self.threshold = threshold
        self.duration = duration
        self.tolerance = tolerance
        self.enabled = enabled
    }

    public var key: String { "\(kind.rawValue)/\(deviceClass.rawValue)" }
}

public enum AlarmRuleError: Refusal, Equatable {
    case notApplicable(AlarmKind, DeviceClass)
    case negative(String)
    case badThreshold(AlarmKind, Double)
    case unknownKind(String)
    case classNeeded(AlarmKind)

    public var description: String {
        switch self {
        case .unknownKind(let k):
            "không có loại cảnh báo '\(k)' (có: \(AlarmRuleChange.kinds)) / unknown alarm kind '\(k)' (known: \(AlarmRuleChange.kinds))"
        case .classNeeded(let k): "cần loại thiết bị cho \(k.rawValue) / a device class is needed for \(k.rawValue)"
        case .notApplicable(let k, let c):
            "cảnh báo \(k.rawValue) không áp dụng cho \(c.rawValue) / alarm \(k.rawValue) does not apply to \(c.rawValue)"
        case .negative(let f): "\(f) không được âm / \(f) must not be negative"
        case .badThreshold(let k, let v): "ngưỡng \(v) không hợp lệ cho \(k.rawValue) / invalid threshold \(v) for \(k.rawValue)"
        }
    }
}

/// The rules in force: the defaults of the issue, overridden per kind and class.
public struct AlarmRules: Codable, Sendable, Hashable {
    public private(set) var rules: [String: AlarmRule]

    public init(_ list: [AlarmRule]) {
        rules = Dictionary(list.map { ($0.key, $0) }, uniquingKeysWith: { _, b in b })
    }

    public static let defaults = AlarmRules(DeviceClass.allCases.map { AlarmRule(.offline, $0, .major, duration: 300) } + [
        AlarmRule(.retentionBelowRequired, .camera, .major, duration: 600, tolerance: 600),
        AlarmRule(.diskNearlyFull, .camera, .minor, threshold: 0.9, duration: 600, tolerance: 600),
        AlarmRule(.amplifierFault, .speaker, .major, duration: 60),
        AlarmRule(.speakerLineFault, .speaker, .major, duration: 60),
        AlarmRule(.uplinkDown, .accessPoint, .major, duration: 600),
        AlarmRule(.paperOut, .kiosk, .minor, duration: 0),
        AlarmRule(.batteryLow, .speaker, .warning, threshold: 20, duration: 300, tolerance: 600),
    ] + DeviceClass.allCases.map { AlarmRule(.flooding, $0, .minor, duration: 0, tolerance: 300) }
      // Events: raised at once, held `AlarmConditions.eventHold` after the latest one. A camera
      // tampered with is blind; a speaker or AP opened is a theft risk but still works.
      + DeviceClass.allCases.map { AlarmRule(.tamper, $0, $0 == .camera ? .major : .minor, duration: 0, tolerance: 0) }
      + [AlarmRule(.storageFull, .camera, .major, duration: 0, tolerance: 0)]
      + DeviceClass.allCases.map { AlarmRule(.claimAttempts, $0, .minor, duration: 0, tolerance: 0) })

    public func rule(_ kind: AlarmKind, _ cls: DeviceClass) -> AlarmRule? { rules["\(kind.rawValue)/\(cls.rawValue)"] }

    public var sorted: [AlarmRule] { rules.values.sorted { ($0.kind.rawValue, $0.deviceClass.rawValue) < ($1.kind.rawValue, $1.deviceClass.rawValue) } }

    /// Replaces one rule after checking it makes sense.
    public mutating func set(_ r: AlarmRule) throws(AlarmRuleError) {
        guard r.kind.classes.contains(r.deviceClass) else { throw .notApplicable(r.kind, r.deviceClass) }
        guard r.duration >= 0 else { throw .negative("duration") }
        guard r.tolerance >= 0 else { throw .negative("tolerance") }
        if let t = r.threshold {
            switch r.kind {
            case .diskNearlyFull where !(t > 0 && t <= 1): throw .badThreshold(r.kind, t)
            case .batteryLow where !(t > 0 && t <= 100): throw .badThreshold(r.kind, t)
            default: break
            }
        }
        rules[r.key] = r
    }

    /// Applies an operator's change to the rule it names and returns the rule as it now is.
    public mutating func apply(_ c: AlarmRuleChange) throws(AlarmRuleError) -> AlarmRule {
        guard let kind = AlarmKind(rawValue: c.kind), kind != .villageOutage else { throw .unknownKind(c.kind) }
        guard let cls = c.deviceClass ?? (kind.classes.count == 1 ? kind.classes[0] : nil) else { throw .classNeeded(kind) }
        guard var r = rule(kind, cls) else { throw .notApplicable(kind, cls) }
        if let v = c.severity { r.severity = v }
        if let v = c.threshold { r.threshold = v }
        if let v = c.duration { r.duration = v }
        if let v = c.tolerance { r.tolerance = v }
        if let v = c.enabled { r.enabled = v }
        try set(r)
        return r
    }
}

/// What an operator changes in one rule (CLI `alarms rules`, API `PUT /alarms/rules`); nil keeps.
/// The class may be left out when the kind applies to one class only.
public struct AlarmRuleChange: Decodable, Sendable {
    public var kind: String
    public var deviceClass: DeviceClass?
    public var severity: AlarmSeverity?
    public var threshold: Double?
    public var duration: TimeInterval?
    public var tolerance: TimeInterval?
    public var enabled: Bool?

    public init(kind: String, deviceClass: DeviceClass? = nil, severity: AlarmSeverity? = nil, threshold: Double? = nil,
                duration: TimeInterval? = nil, tolerance: TimeInterval? = nil, enabled: Bool? = nil) {
        self.kind = kind
        self.deviceClass = deviceClass
        self.severity = severity
        self.threshold = threshold
        self.duration = duration
        self.tolerance = tolerance
        self.enabled = enabled
    }

    /// The kinds a rule exists for (village outages follow the storm policy instead).
    public static let kinds = AlarmKind.allCases.filter { $0 != .villageOutage }.map(\.rawValue).joined(separator: ", ")
}

/// How village-level grouping works: `minDevices` devices of one village going offline within
/// `window` of each other make one village alarm instead of one per device.
public struct StormPolicy: Codable, Sendable, Hashable {
    public var minDevices: Int
    public var window: TimeInterval
    public var severity: AlarmSeverity

    public init(minDevices: Int = 3, window: TimeInterval = 60, severity: AlarmSeverity = .major) {
        self.minDevices = minDevices
        self.window = window
        self.severity = severity
    }
}

/// When unacknowledged alarms are notified again.
public struct ReminderPolicy: Codable, Sendable, Hashable {
    /// After this long unacknowledged, and again every `every` after that; nil: never.
    public var after: TimeInterval?
    public var every: TimeInterval
    /// Only alarms at least this severe are repeated.
    public var minSeverity: AlarmSeverity

    public init(after: TimeInterval? = 1800, every: TimeInterval = 1800, minSeverity: AlarmSeverity = .minor) {
        self.after = after
        self.every = every
        self.minSeverity = minSeverity
    }
}

/// What the engine looks at for one device on each evaluation.
public struct DeviceObservation: Sendable, Hashable {
    public var deviceID: String
    public var deviceClass: DeviceClass
    public var villageID: String?
    public var communeID: String?
    public var state: HealthState
    /// When the current state began (offline onset).
    public var since: Date
    public var faults: [Fault]
    public var reading: Reading?
    public var requiredRetentionDays: Int
    /// Messages of this device dropped by its rate limit in the last minute.
    public var recentDrops = 0
    /// The latest `tamper` / `storage_full` event of this device still within
    /// `AlarmConditions.eventHold` (received time and the device's detail).
    public var incidents: [AlarmKind: Incident] = [:]

    public struct Incident: Sendable, Hashable {
        public var at: Date
        public var detail: String?
        public init(at: Date, detail: String?) {
            self.at = at
            self.detail = detail
        }
    }

    public init(deviceID: String, deviceClass: DeviceClass, villageID: String?, communeID: String?, state: HealthState,
                since: Date, faults: [Fault] = [], reading: Reading? = nil, requiredRetentionDays: Int = 30) {
        self.deviceID = deviceID
        self.deviceClass = deviceClass
        self.villageID = villageID
        self.communeID = communeID
        self.state = state
        self.since = since
        self.faults = faults
        self.reading = reading
        self.requiredRetentionDays = requiredRetentionDays
    }
}

/// Which observations an evaluation needs: a device with a condition now, or one the engine
/// tracks or holds an incident of. The others change nothing in `AlarmEngine.evaluate`, so the
/// fleet's observer may leave them out instead of handing over a province's worth every time.
public struct ObservationFilter: Sendable {
    public var rules: AlarmRules
    public var now: Date
    /// Wanted whatever their state: tracked devices, and those with a recent stored incident.
    public var keep: Set<String>

    public init(rules: AlarmRules, now: Date, keep: Set<String>) {
        self.rules = rules
        self.now = now
        self.keep = keep
    }

    public func wants(_ o: DeviceObservation) -> Bool {
        keep.contains(o.deviceID) || !AlarmConditions.of(o, rules: rules, now: now).isEmpty
    }
}

public enum AlarmConditions {
    /// An event has no end: its alarm holds this long after the latest such event (a device
    /// that keeps reporting keeps it open), then clears.
    public static let eventHold: TimeInterval = 3600
    /// The alarm kinds raised by device events, by event type.
    public static let eventKinds: [String: AlarmKind] = ["tamper": .tamper, "storage_full": .storageFull,
                                                         "claim_attempts": .claimAttempts]

    /// The conditions holding for a device now, each with the figures behind it.
    /// Class conditions are judged on the last reading only while the device is online: an
    /// offline device has one problem, being offline.
    public static func of(_ o: DeviceObservation, rules: AlarmRules, now: Date) -> [AlarmKind: String] {
        var out: [AlarmKind: String] = [:]
        func on(_ k: AlarmKind) -> AlarmRule? { rules.rule(k, o.deviceClass).flatMap { $0.enabled ? $0 : nil } }
        // Judged whatever the state: a device may flood while its health looks fine.
        if on(.flooding) != nil, o.recentDrops > 0 { out[.flooding] = "\(o.recentDrops) tin bị bỏ trong 1 phút / messages dropped in a minute" }
        // Also whatever the state: a camera covered and then unplugged stays a tamper alarm.
        for (kind, i) in o.incidents where on(kind) != nil && now < i.at.addingTimeInterval(eventHold) {
            out[kind] = i.detail ?? ""
        }
        if o.state == .offline {
            if on(.offline) != nil { out[.offline] = o.faults.first?.code.vietnamese ?? "" }
            return out
        }
        guard o.state.isOnline else { return out }
        let codes = Set(o.faults.map(\.code))
        switch o.reading {
        case .speaker(let s)?:
            if on(.amplifierFault) != nil, !s.amplifierOK { out[.amplifierFault] = "" }
            if on(.speakerLineFault) != nil, !s.speakerLineOK { out[.speakerLineFault] = "" }
            if let r = on(.batteryLow), s.powerSource == .battery, let b = s.batteryPercent, Double(b) < (r.threshold ?? 20) {
                out[.batteryLow] = "\(b)%"
            }
        case .camera(let c)?:
            let st = CameraStorage.assess(c, requiredDays: o.requiredRetentionDays, now: now)
            if on(.retentionBelowRequired) != nil, st.belowRequired {
                out[.retentionBelowRequired] = String(format: "%.1f < %d ngày/days", st.effectiveRetentionDays ?? 0, st.requiredDays)
            }
            if let r = on(.diskNearlyFull), st.usedFraction >= (r.threshold ?? 0.9) {
                out[.diskNearlyFull] = String(format: "%.0f%%", st.usedFraction * 100)
            }
        case .accessPoint(let a)?:
            if on(.uplinkDown) != nil, !a.uplinkOK { out[.uplinkDown] = "" }
        case .kiosk(let k)?:
            if on(.paperOut) != nil, k.paperOut { out[.paperOut] = "" }
        case nil:
            // Only the stored faults are known (e.g. right after a controller restart).
            let map: [(FaultCode, AlarmKind)] = [(.amplifierFault, .amplifierFault), (.speakerLineFault, .speakerLineFault),
                                                 (.retentionBelowRequired, .retentionBelowRequired), (.diskNearlyFull, .diskNearlyFull),
                                                 (.uplinkDown, .uplinkDown), (.paperOut, .paperOut)]
            for (code, kind) in map where codes.contains(code) && on(kind) != nil {
                out[kind] = o.faults.first { $0.code == code }?.detail ?? ""
            }
        }
        return out
    }
}
