import Foundation
import WardDomain
import WardProtocol
import WardStorage

public struct StateCounts: Codable, Sendable, Hashable {
    public var total = 0, ok = 0, degraded = 0, offline = 0, unknown = 0
    public init() {}
    mutating func add(_ s: HealthState) {
        total += 1
        switch s {
        case .ok: ok += 1
        case .degraded: degraded += 1
        case .offline: offline += 1
        case .unknown: unknown += 1
        }
    }
}

public struct ProblemDevice: Codable, Sendable, Hashable {
    public var device: String
    public var deviceClass: DeviceClass
    public var commune: String?
    public var village: String?
    public var site: String
    public var state: HealthState
    public var since: Date
    public var reasons: [Fault]
    public var lastHeard: Date?
}

/// What `wardfleet health` shows: the fleet at a glance and every device that needs a visit.
public struct HealthReport: Codable, Sendable {
    public struct Group: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var counts: StateCounts
        public var byClass: [String: StateCounts]
        /// Device-time-weighted availability over `window`.
        public var uptime = UptimeSummary()
    }
    /// The window availability figures cover.
    public var window: DateInterval
    public var generatedAt: Date
    public var controllerLastAlive: Date?
    public var controllerRunning: Bool
    /// The running controller's broker link (nil before any run).
    public var controllerLink: ControllerLink?
    public var counts: StateCounts
    public var byClass: [String: StateCounts]
    public var uptimeByClass: [String: UptimeSummary]
    public var uptime: UptimeSummary
    public var byVillage: [Group]
    public var byCommune: [Group]
    public var problems: [ProblemDevice]
    public var pending: [PendingRecord]
    public var counters: [String: UInt64]
    public var recentRejections: [RejectionRecord]

    /// Builds the report from storage. `staleAfter`: how old the controller's last sign of life
    /// may be before the report warns that states may be out of date. `communes`: only these
    /// communes' devices, pending devices and rejections, and not the server-wide counters
    /// (nil: everything).
    public static func build(_ db: WardDatabase, now: Date, window requested: DateInterval? = nil,
                             staleAfter: TimeInterval = 30, communes scope: Set<String>? = nil) throws -> HealthReport {
        let tree = try PlaceRepository(db).tree()
        let queries = HealthQueries(db)
        let window = requested ?? DateInterval(start: now.addingTimeInterval(-86_400), end: now)
        func inScope(_ commune: String?) -> Bool { scope.map { s in commune.map(s.contains) ?? false } ?? true }
        // Devices removed during the window still count for the part they served.
        let devices = try DeviceRepository(db).list(includeRemoved: true)
            .filter { ($0.removedAt.map { $0 > window.start } ?? true) && inScope(tree.ancestor(of: $0.siteID, at: .commune)?.id) }
        let statuses = try queries.statuses()
        let intervals = try queries.intervals(overlapping: window)
        let lastAlive = try queries.controllerLastAlive()
        var counts = StateCounts()
        var byClass: [String: StateCounts] = [:]
        var uptimeByClass: [String: UptimeSummary] = [:]
        var total = UptimeSummary()
        var villages: [String: Group] = [:]
        var communes: [String: Group] = [:]
        var problems: [ProblemDevice] = []
        func add(_ up: UptimeSummary, state: HealthState?, cls: DeviceClass, to place: Place?,
                 in groups: inout [String: Group]) {
            guard let place else { return }
            var entry = groups[place.id] ?? Group(id: place.id, name: place.name, counts: StateCounts(), byClass: [:])
            entry.uptime = entry.uptime + up
            if let state {
                entry.counts.add(state)
                entry.byClass[cls.rawValue, default: StateCounts()].add(state)
            }
            groups[place.id] = entry
        }
        for d in devices {
            let monitored = DateInterval(start: d.monitoredFrom, end: max(d.monitoredFrom, d.removedAt ?? .distantFuture))
            let up = Uptime.summary(of: intervals[d.id] ?? [], in: window, monitored: monitored, now: now)
            let l = statuses[d.id]?.liveness
            // Removed devices add the availability they gave within the window, not a state.
            let state: HealthState? = d.removedAt == nil ? l?.state ?? .unknown : nil
            let village = tree.ancestor(of: d.siteID, at: .village)
            let commune = tree.ancestor(of: d.siteID, at: .commune)
            uptimeByClass[d.deviceClass.rawValue] = (uptimeByClass[d.deviceClass.rawValue] ?? UptimeSummary()) + up
            total = total + up
            // Commune-level sites (the one-stop office) are grouped under their commune.
            add(up, state: state, cls: d.deviceClass, to: village ?? commune, in: &villages)
            add(up, state: state, cls: d.deviceClass, to: commune, in: &communes)
            guard let state else { continue }
            counts.add(state)
            byClass[d.deviceClass.rawValue, default: StateCounts()].add(state)
            // Never heard since registration (past a first grace): a device that was installed but
            // never connected, or speaks under another commune's topics (see its rejections).
            let neverHeard = state == .unknown && l.map { $0.lastHeard == nil && $0.bootID == nil && now.timeIntervalSince($0.since) > 120 } == true
            if state == .offline || state == .degraded || neverHeard {
                problems.append(ProblemDevice(device: d.id, deviceClass: d.deviceClass, commune: commune?.name,
                                              village: village?.name, site: tree[d.siteID]?.name ?? d.siteID,
                                              state: state, since: l?.since ?? d.registeredAt, reasons: l?.faults ?? [],
                                              lastHeard: l?.lastHeard))
            }
        }
        func rank(_ s: HealthState) -> Int { s == .offline ? 0 : s == .degraded ? 1 : 2 }
        problems.sort { (rank($0.state), $0.since, $0.device) < (rank($1.state), $1.since, $1.device) }
        return HealthReport(
            window: window, generatedAt: now, controllerLastAlive: lastAlive,
            controllerRunning: lastAlive.map { now.timeIntervalSince($0) <= staleAfter } ?? false,
            controllerLink: try queries.controllerLink(),
            counts: counts, byClass: byClass, uptimeByClass: uptimeByClass, uptime: total,
            byVillage: villages.values.sorted { $0.id < $1.id }, byCommune: communes.values.sorted { $0.id < $1.id },
            problems: problems, pending: try queries.pending().filter { inScope($0.communeID) },
            counters: scope == nil ? try queries.counters() : [:],
            recentRejections: try queries.recentRejections(limit: scope == nil ? 10 : 1_000)
                .filter { inScope(Topics.parse($0.topic)?.commune) }.prefix(10).map { $0 })
    }
}

/// What `wardfleet devices show` tells about one device.
public struct DeviceDetail: Codable, Sendable {
    public struct Uptimes: Codable, Sendable {
        public var last24h: UptimeSummary
        public var last7d: UptimeSummary
        public var last30d: UptimeSummary
    }
    /// What the device says it is, from its latest birth, beside what was registered.
    public struct Reported: Codable, Sendable, Hashable {
        public var model: String
        public var firmware: String
        public var capabilities: [String]
        /// Registered and reported differ (only when something was registered).
        public var modelMismatch: Bool
        public var firmwareMismatch: Bool

        public init(birth: Birth, registered d: Device) {
            model = birth.model.nfc
            firmware = birth.firmware.nfc
            capabilities = birth.capabilities
            modelMismatch = !d.model.isEmpty && d.model.nfc != model
            firmwareMismatch = !d.firmware.isEmpty && d.firmware.nfc != firmware
        }
    }
    public var device: Device
    /// Nil until a birth was heard.
    public var reported: Reported?
    /// Tamper and storage-full events, newest first.
    public var incidents: [DeviceIncident]
    /// Its latest refused messages, newest first.
    public var rejections: [RejectionRecord]
    public var placePath: [Place]
    public var state: HealthState
    public var since: Date?
    public var faults: [Fault]
    public var bootID: String?
    public var lastHeard: Date?
    public var heartbeatSeconds: Double?
    public var birth: String?
    public var lastTelemetry: String?
    public var lastTelemetryAt: Date?
    public var cameraStorage: CameraStorageStatus?
    public var kioskDays: [KioskDayFigures]
    public var history: [StateInterval]
    public var reboots: [RebootRecord]
    public var uptime: Uptimes

    public static func build(_ db: WardDatabase, id: String, now: Date, calendar: LocalCalendar = .vietnam) throws -> DeviceDetail? {
        guard let device = try DeviceRepository(db).get(id) else { return nil }
        let tree = try PlaceRepository(db).tree()
        var path: [Place] = []
        var cursor = tree[device.siteID]
        while let p = cursor {
            path.insert(p, at: 0)
            cursor = p.parentID.flatMap { tree[$0] }
        }
        let q = HealthQueries(db)
        let status = try q.statuses(only: id)[id]
        let monitored = DateInterval(start: device.monitoredFrom, end: max(device.monitoredFrom, device.removedAt ?? .distantFuture))
        let month = DateInterval(start: now.addingTimeInterval(-30 * 86_400), end: now)
        let intervals = try q.intervals(devices: [id], overlapping: month)[id] ?? []
        func up(_ seconds: TimeInterval) -> UptimeSummary {
            Uptime.summary(of: intervals, in: DateInterval(start: now.addingTimeInterval(-seconds), end: now),
                           monitored: monitored, now: now)
        }
        var storage: CameraStorageStatus?
        if device.deviceClass == .camera, let text = status?.lastTelemetry, let at = status?.lastTelemetryAt,
           let commune = tree.ancestor(of: device.siteID, at: .commune),
           let t = ProtocolDecoder().telemetry(device: id, commune: commune.id, payload: Array(text.utf8), receivedAt: at),
           case .camera(let c) = t.reading {
            storage = CameraStorage.assess(c, requiredDays: device.config.requiredRetentionDays ?? 30, now: at)
        }
        var kioskDays: [KioskDayFigures] = []
        if device.deviceClass == .kiosk {
            let week = DateInterval(start: calendar.day(containing: now.addingTimeInterval(-6 * 86_400)).start,
                                    end: calendar.day(containing: now).end)
            let counted = try tree.ancestor(of: device.siteID, at: .commune).map {
                try KioskCounts.counted(db, device: id, commune: $0.id, in: week, calendar: calendar)
            } ?? []
            kioskDays = KioskFigures.daily((try q.kioskActivity(devices: [id], in: week)[id] ?? []) + counted, calendar: calendar)
        }
        return DeviceDetail(
            device: device, reported: Birth.stored(status?.birth).map { Reported(birth: $0, registered: device) },
            incidents: try q.incidents(device: id), rejections: try q.recentRejections(device: id), placePath: path, state: status?.liveness.state ?? .unknown, since: status?.liveness.since,
            faults: status?.liveness.faults ?? [], bootID: status?.liveness.bootID, lastHeard: status?.liveness.lastHeard,
            heartbeatSeconds: status?.liveness.heartbeat, birth: status?.birth, lastTelemetry: status?.lastTelemetry,
            lastTelemetryAt: status?.lastTelemetryAt, cameraStorage: storage, kioskDays: kioskDays,
            history: try q.history(device: id, limit: 20), reboots: try q.reboots(device: id),
            uptime: Uptimes(last24h: up(86_400), last7d: up(7 * 86_400), last30d: up(30 * 86_400)))
    }
}
