import Foundation
import Logging
import WardDomain
import WardStorage

public struct AlarmConfiguration: Sendable {
    /// How often device observations are evaluated.
    public var interval: Duration = .seconds(5)
    public var storm = StormPolicy()
    public var reminders = ReminderPolicy()
    /// Sinks notifications go to (names of the dispatcher's sinks).
    public var sinks: [String] = []
    /// The communes whose alarms this service keeps (a cluster node's commune unit); nil: all.
    public var communes: Set<String>?

    public init() {}
}

/// Events a notification announces.
public enum AlarmEvent: String, Sendable, Codable {
    case raised, reminder, acknowledged, cleared
}

/// Alarm texts operators read: Vietnamese first, English second, names not ids.
public struct AlarmWording: Sendable {
    /// All the wording needs of the registry, kept for the whole run: each place's name and each
    /// device's site, in compact sorted tables (not the place tree, not whole devices).
    private let names: SortedTable<String>
    private let sites: SortedTable<String>

    public init<Sites: Sequence>(tree: PlaceTree?, sites: Sites) where Sites.Element == (String, String) {
        self.init(names: tree.map { $0.places.lazy.map { ($0.key, $0.value.name) } } ?? [], sites: sites)
    }

    /// Only the names and sites given (a report's few open problems need few of the registry's).
    public init<Names: Sequence, Sites: Sequence>(names: Names, sites: Sites)
    where Names.Element == (String, String), Sites.Element == (String, String) {
        self.names = SortedTable(names)
        self.sites = SortedTable(sites)
    }

    public init(tree: PlaceTree?, sites: [String: String]) {
        self.init(tree: tree, sites: sites.lazy.map { ($0.key, $0.value) })
    }

    public init(tree: PlaceTree?, devices: [String: Device]) {
        self.init(tree: tree, sites: devices.lazy.map { ($0.key, $0.value.siteID) })
    }

    func name(_ id: String?) -> String? { id.flatMap { names[$0] } }

    /// "Loa Đầu làng, Thôn Đông, Xã Duy Phước"
    public func whereabouts(_ a: Alarm) -> String {
        var parts: [String] = []
        if let site = name(a.deviceID.flatMap { sites[$0] }) { parts.append(site) }
        if let v = name(a.villageID) { parts.append(v) }
        if let c = name(a.communeID) { parts.append(c) }
        return parts.joined(separator: ", ")
    }

    public func text(_ a: Alarm, event: AlarmEvent) -> (vi: String, en: String) {
        let cal = LocalCalendar.vietnam
        let place = whereabouts(a)
        let subjectVI: String, subjectEN: String
        if a.kind == .villageOutage {
            let v = name(a.villageID) ?? a.villageID ?? "?"
            subjectVI = "Mất điện hoặc mất mạng tại \(v)"
            subjectEN = "Power or network lost in \(v)"
        } else {
            subjectVI = "\(a.kind.vietnamese.prefix(1).uppercased())\(a.kind.vietnamese.dropFirst()): \(a.deviceID ?? "")"
            subjectEN = "\(a.kind.english.prefix(1).uppercased())\(a.kind.english.dropFirst()): \(a.deviceID ?? "")"
        }
        let detail = a.detail.isEmpty ? "" : " — \(a.detail)"
        let at = place.isEmpty ? "" : " (\(place))"
        let eventVI: String, eventEN: String
        switch event {
        case .raised: (eventVI, eventEN) = ("CẢNH BÁO", "ALARM")
        case .reminder: (eventVI, eventEN) = ("NHẮC LẠI \(a.reminders + 1), chưa ai xác nhận", "REMINDER \(a.reminders + 1), not acknowledged")
        case .acknowledged: (eventVI, eventEN) = ("ĐÃ XÁC NHẬN bởi \(a.ackedBy ?? "?")", "ACKNOWLEDGED by \(a.ackedBy ?? "?")")
        case .cleared: (eventVI, eventEN) = ("ĐÃ HẾT", "CLEARED")
        }
        let sinceVI = "từ \(cal.display(a.since))"
        let sinceEN = "since \(cal.display(a.since))"
        return ("[\(eventVI)] [\(a.severity.vietnamese.uppercased())] \(subjectVI)\(at)\(detail), \(sinceVI)",
                "[\(eventEN)] [\(a.severity.rawValue.uppercased())] \(subjectEN)\(at)\(detail), \(sinceEN)")
    }

    struct Payload: Encodable {
        var event: String
        var alarm: Body
        var textVI: String
        var textEN: String
        var sentAt: String
        enum CodingKeys: String, CodingKey {
            case event, alarm
            case textVI = "text_vi", textEN = "text_en", sentAt = "sent_at"
        }
    }

    struct Body: Encodable {
        var id: Int64?
        var kind: String
        var severity: String
        var status: String
        var device: String?
        var deviceClass: String?
        var site: String?
        var village: String?
        var villageName: String?
        var commune: String?
        var communeName: String?
        var members: [String]
        var detail: String
        var since: String
        var raisedAt: String
        var ackedBy: String?
        var ackedAt: String?
        var clearedAt: String?
        var reminders: Int
        enum CodingKeys: String, CodingKey {
            case id, kind, severity, status, device, site, village, commune, members, detail, since, reminders
            case deviceClass = "device_class", villageName = "village_name", communeName = "commune_name", raisedAt = "raised_at"
            case ackedBy = "acked_by", ackedAt = "acked_at", clearedAt = "cleared_at"
        }
    }

    /// The JSON document a sink delivers; times in UTC ISO 8601.
    public func payload(_ a: Alarm, event: AlarmEvent, now: Date) -> String {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let (vi, en) = text(a, event: event)
        let p = Payload(event: event.rawValue, alarm: Body(
            id: a.id, kind: a.kind.rawValue, severity: a.severity.rawValue, status: a.status.rawValue, device: a.deviceID,
            deviceClass: a.deviceClass?.rawValue, site: a.deviceID.flatMap { sites[$0] }, village: a.villageID,
            villageName: name(a.villageID), commune: a.communeID, communeName: name(a.communeID), members: a.members, detail: a.detail,
            since: iso.string(from: a.since), raisedAt: iso.string(from: a.raisedAt), ackedBy: a.ackedBy,
            ackedAt: a.ackedAt.map(iso.string(from:)), clearedAt: a.clearedAt.map(iso.string(from:)), reminders: a.reminders),
            textVI: vi, textEN: en, sentAt: iso.string(from: now))
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! e.encode(p), as: UTF8.self)
    }
}

/// Runs the alarm engine on the controller's live picture of the fleet, stores every
/// transition, and queues notifications: raised, reminded, acknowledged, cleared.
public actor AlarmService {
    private let alarms: AlarmRepository
    private let notifications: NotificationRepository
    private let settings: SettingsRepository
    private let queries: HealthQueries
    private let clock: any TimeSource
    private let configuration: AlarmConfiguration
    private let logger: Logger
    private var engine: AlarmEngine
    private var wording = AlarmWording(tree: nil, sites: [String: String]())
    private var knownAcks = Set<Int64>()
    private var restored = false

    public init(database: WardDatabase, clock: any TimeSource = SystemTimeSource(), configuration: AlarmConfiguration = AlarmConfiguration(),
                logger: Logger = Logger(label: "wardfleet.alarms")) {
        alarms = AlarmRepository(database)
        notifications = NotificationRepository(database)
        settings = SettingsRepository(database)
        queries = HealthQueries(database)
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        engine = AlarmEngine(storm: configuration.storm)
    }

    public func updateRegistry(tree: PlaceTree, devices: [Device]) {
        wording = AlarmWording(tree: tree, sites: devices.lazy.map { ($0.id, $0.siteID) })  // first of a repeated id wins
    }

    /// One evaluation: rules re-read (so a change applies without restart), transitions stored
    /// and notified, acknowledgements made elsewhere noticed, reminders sent.
    @discardableResult
    public func evaluate(_ observations: [DeviceObservation]) throws -> [AlarmTransition] {
        let now = clock.now()
        return try apply(observations, incidents: try prepare(now), now: now)
    }

    /// One evaluation of the observations `observe` gives for a filter: only the devices that can
    /// change an alarm are handed over (`ObservationFilter`), not the whole fleet every time.
    @discardableResult
    public func evaluate(observe: @Sendable (ObservationFilter) async -> [DeviceObservation]) async throws -> [AlarmTransition] {
        let now = clock.now()
        let incidents = try prepare(now)
        let filter = ObservationFilter(rules: engine.rules, now: now, keep: engine.trackedDevices.union(incidents.keys))
        return try apply(await observe(filter), incidents: incidents, now: now)
    }

    /// Open alarms restored (once), rules re-read; the stored incidents still holding.
    private func prepare(_ now: Date) throws -> [String: [String: DeviceIncident]] {
        if !restored {
            let open = try openAlarms()
            engine.restore(open)
            knownAcks = Set(open.filter { $0.ackedAt != nil }.compactMap(\.id))
            restored = true
        }
        engine.rules = try settings.alarmRules()
        // Tamper and storage-full events are stored, not held in memory: read back, they hold
        // their alarms across a controller restart too.
        return try queries.latestIncidents(since: now.addingTimeInterval(-AlarmConditions.eventHold))
    }

    private func apply(_ observations: [DeviceObservation], incidents: [String: [String: DeviceIncident]], now: Date) throws -> [AlarmTransition] {
        var observations = observations
        for i in observations.indices {
            for (type, e) in incidents[observations[i].deviceID] ?? [:] {
                guard let kind = AlarmConditions.eventKinds[type] else { continue }
                observations[i].incidents[kind] = .init(at: e.receivedAt, detail: e.detail)
            }
        }
        let wording = self.wording
        let stored = try alarms.apply(engine.evaluate(observations, now: now), notifying: configuration.sinks, at: now) { a, event in
            wording.payload(a, event: AlarmEvent(rawValue: event) ?? .raised, now: now)
        }
        for t in stored {
            switch t {
            case .raised(let a): logger.warning("alarm raised", metadata: meta(a))
            case .cleared(let a): logger.notice("alarm cleared", metadata: meta(a))
            case .changed: break
            }
        }
        try acknowledgementsAndReminders(now)
        return stored
    }

    private func acknowledgementsAndReminders(_ now: Date) throws {
        for a in try openAlarms() {
            guard let id = a.id else { continue }
            if a.ackedAt != nil, knownAcks.insert(id).inserted {
                logger.notice("alarm acknowledged", metadata: meta(a))
                try notify(a, .acknowledged, now)
            }
            if Reminders.isDue(a, policy: configuration.reminders, now: now) {
                try notify(a, .reminder, now)
                try alarms.markReminded(id, at: now)
            }
        }
    }

    /// Open alarms of this service's communes (another node's are not ours to clear or remind).
    private func openAlarms() throws -> [Alarm] {
        let all = try alarms.open()
        guard let communes = configuration.communes else { return all }
        return all.filter { $0.communeID.map(communes.contains) ?? false }
    }

    private func notify(_ a: Alarm, _ event: AlarmEvent, _ now: Date) throws {
        try notifications.enqueue(alarm: a.id, event: event.rawValue, sinks: configuration.sinks,
                                  payload: wording.payload(a, event: event, now: now), at: now)
    }

    private func meta(_ a: Alarm) -> Logger.Metadata {
        ["id": "\(a.id ?? 0)", "kind": "\(a.kind.rawValue)", "severity": "\(a.severity.rawValue)",
         "subject": "\(a.deviceID ?? a.villageID ?? "")", "text": "\(wording.text(a, event: .raised).vi)"]
    }

    /// Evaluates every `interval` what `observe` returns for the filter (it may return more).
    public func run(observe: @Sendable @escaping (ObservationFilter) async -> [DeviceObservation]) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.interval)
            guard !Task.isCancelled else { break }
            do { try await evaluate(observe: observe) } catch { logger.error("alarm evaluation failed: \(error)") }
        }
    }
}
