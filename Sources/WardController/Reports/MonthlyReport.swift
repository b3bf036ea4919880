import Foundation
import WardDomain
import WardStorage

/// Reads what the KPIs need from storage and computes them.
public struct KPIService: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public struct Loaded: Sendable {
        public var input: KPIInput
        public var settings: KPISettings
        /// Each device's state at the end of the period (or now), when read from roll-ups;
        /// nil: found in `input.intervals`.
        public var endStates: [String: HealthState]? = nil
    }

    public func load(period: DateInterval, communes: Set<String>? = nil, now: Date) throws -> Loaded {
        let registry = try db.registry()
        let tree = registry.tree
        let devices = registry.devices
            .filter { ($0.removedAt.map { $0 > period.start } ?? true) && $0.monitoredFrom < period.end }
        let window = DateInterval(start: period.start, end: max(period.start, min(period.end, now)))
        let kpiQueries = KPIQueries(db)
        // The two big reads are independent: run them side by side on the pool's readers.
        let kioskIDs = devices.filter { $0.deviceClass == .kiosk }.map(\.id)
        let ((intervals, kioskEvents), tallies) = try inParallel({
            (try HealthQueries(db).intervals(overlapping: window), try HealthQueries(db).kioskTotals(devices: kioskIDs, in: window))
        }, { try kpiQueries.playbackTallies(window) })  // plays not due yet (sent ahead) do not count
        var kiosk = kioskEvents
        try KioskCounts.addCounted(db, kiosks: devices.filter { $0.deviceClass == .kiosk }, tree: tree, in: window, to: &kiosk)
        let targets = try kpiQueries.itemTargets(Set(tallies.map(\.item)))
        return Loaded(input: KPIInput(tree: tree, devices: devices, period: period, now: now, intervals: intervals, playback: tallies,
                                      itemTargets: targets, kiosk: kiosk, communes: communes),
                      settings: try SettingsRepository(db).kpiSettings())
    }

    public func report(period: DateInterval, communes: Set<String>? = nil, now: Date) throws -> KPIReport {
        let l = try load(period: period, communes: communes, now: now)
        return KPICalculator.compute(l.input, settings: l.settings)
    }
}

/// Runs two blocking reads on two threads and waits for both (no Swift concurrency involved,
/// so it is safe from synchronous callers on any thread).
func inParallel<A, B>(_ a: @escaping () throws -> A, _ b: @escaping () throws -> B) throws -> (A, B) {
    nonisolated(unsafe) var ra: Result<A, any Error>?
    let group = DispatchGroup()
    nonisolated(unsafe) let work = a
    group.enter()
    Thread.detachNewThread {
        ra = Result { try work() }
        group.leave()
    }
    let rb = Result { try b() }
    group.wait()
    return (try ra!.get(), try rb.get())
}

/// The monthly report (báo cáo tháng) the commune sends up: KPIs, devices, availability,
/// broadcasts, alarms, one-stop figures and what is still open.
public struct MonthlyReport: Codable, Sendable {
    public struct BroadcastLine: Codable, Sendable, Hashable {
        public var item: String
        public var title: String
        public var level: BroadcastLevel
        public var target: String
        public var occurrences: Int
        public var targeted: Int
        /// Played through (an interrupted play is not counted here but in `interrupted`).
        public var played: Int
        public var interrupted: Int = 0
        public var reach: Double? { targeted > 0 ? Double(played) / Double(targeted) : nil }
    }

    public struct AlarmFigures: Codable, Sendable, Hashable {
        public var raised = 0
        public var bySeverity: [String: Int] = [:]
        public var byKind: [String: Int] = [:]
        public var acknowledged = 0
        public var cleared = 0
        public var meanTimeToAcknowledge: TimeInterval?
        public var meanTimeToClear: TimeInterval?
    }

    public struct Problem: Codable, Sendable, Hashable {
        public var alarm: Int64?
        public var severity: AlarmSeverity
        public var kind: AlarmKind
        public var subject: String
        public var place: String
        public var detail: String
        public var since: Date
        public var acknowledgedBy: String?
    }

    public var month: String
    public var period: DateInterval
    public var generatedAt: Date
    public var scope: String
    public var scopeName: String
    public var kpis: KPIReport
    /// State of each device at the end of the month (or now, for the current month).
    public var deviceStates: [DeviceClass: StateCounts]
    public var broadcasts: [BroadcastLine]
    public var alarms: AlarmFigures
    public var problems: [Problem]
    /// Who issues the report, for its administrative header (nil in reports kept before it was recorded).
    public var issuer: Issuer?

    /// The body that issues the report and where: a commune's People's Committee for a commune's
    /// report, the province's for the deployment's.
    public struct Issuer: Codable, Sendable, Hashable {
        /// "Xã Cẩm La", "Tỉnh Quảng Ninh".
        public var body: String
        /// The body above it, when known ("Huyện Cẩm Xuyên", "Tỉnh Quảng Ninh").
        public var parent: String?
        /// The place name of the date line, without its level ("Cẩm La").
        public var place: String
    }

    /// The month is not over: its figures will still change.
    public var provisional: Bool { generatedAt < period.end }

    /// Where a report's figures are read from: the monthly roll-ups (a month's are built from
    /// the raw tables the first time it is asked for), or the raw tables (the reference).
    public enum Source: Sendable { case rollups, raw }

    public static func build(_ db: WardDatabase, month: String, commune: String? = nil, now: Date,
                             calendar: LocalCalendar = .vietnam, source: Source = .rollups) throws -> MonthlyReport {
        guard let period = calendar.month(named: month) else { throw ReportError.badMonth(month) }
        guard period.start < now else { throw ReportError.future(month) }
        if let commune {
            let tree = try db.registry().tree
            guard tree[commune]?.level == .commune else {
                throw ReportError.unknownCommune(commune, suggestion: tree.named(commune, at: .commune)?.id)
            }
        }
        let service = KPIService(db)
        let communes = commune.map { Set([$0]) }
        let loaded = source == .rollups ? try service.loadMonth(period, communes: communes, now: now)
            : try service.load(period: period, communes: communes, now: now)
        let end = min(period.end, now)
        // The KPIs are pure computation and the rest is reading: the two overlap.
        let (kpis, rest) = try inParallel({ KPICalculator.compute(loaded.input, settings: loaded.settings) }, {
            (occurrences: source == .rollups ? try ReportRollups(db).occurrences(period) : try KPIQueries(db).occurrences(period),
             labels: try BroadcastRepository(db).labels(),
             totals: try AlarmRepository(db).totals(raisedIn: period),
             open: try AlarmRepository(db).open(at: end))
        })
        let tree = loaded.input.tree
        let inScope: (String?) -> Bool = { c in communes.map { s in c.map(s.contains) ?? false } ?? true }
        // A device's commune, looked up only when the report is a commune's (the deployment's has them all).
        let deviceInScope: (Device) -> Bool = { d in communes == nil || inScope(tree.ancestor(of: d.siteID, at: .commune)?.id) }

        // Device states at the end of the period.
        var states: [DeviceClass: StateCounts] = [:]
        for d in loaded.input.devices where d.removedAt.map({ $0 >= end }) ?? true {
            guard deviceInScope(d) else { continue }
            let at = end.addingTimeInterval(-0.001)
            let state = loaded.endStates.map { $0[d.id] ?? .unknown }
                ?? loaded.input.intervals[d.id]?.last { $0.start <= at && ($0.end.map { $0 > at } ?? true) }?.state ?? .unknown
            states[d.deviceClass, default: StateCounts()].add(state)
        }

        // Broadcasts with occurrences in the month, and their reach.
        let speakersInScope = Set(loaded.input.devices.filter(deviceInScope).map(\.id))
        var byItem: [String: (targeted: Int, played: Int, interrupted: Int)] = [:]
        for t in loaded.input.playback where speakersInScope.contains(t.speaker) {
            byItem[t.item, default: (0, 0, 0)].targeted += t.targeted
            byItem[t.item, default: (0, 0, 0)].played += t.played
            byItem[t.item, default: (0, 0, 0)].interrupted += t.interrupted
        }
        let occurrences = rest.occurrences
        // Targets as the KPIs read them (every item with playback in the month has one).
        let broadcasts = byItem.map { id, n in
            let label = rest.labels[id]
            return BroadcastLine(item: id, title: label?.title ?? id, level: label?.level ?? .normal,
                                 target: label == nil ? "" : describe(loaded.input.itemTargets[id] ?? BroadcastTarget(), tree),
                                 occurrences: occurrences[id] ?? 0,
                                 targeted: n.targeted, played: n.played, interrupted: n.interrupted)
        }.sorted { $0.level != $1.level ? $0.level > $1.level : ($0.title, $0.item) < ($1.title, $1.item) }

        // Alarms raised in the month; problems still open at its end.
        var figures = AlarmFigures()
        var ackSeconds = 0.0, clearSeconds = 0.0
        for t in rest.totals where inScope(t.commune) {
            figures.raised += t.raised
            figures.bySeverity[t.severity.rawValue, default: 0] += t.raised
            figures.byKind[t.kind.rawValue, default: 0] += t.raised
            figures.acknowledged += t.acknowledged
            figures.cleared += t.cleared
            ackSeconds += t.ackSeconds
            clearSeconds += t.clearSeconds
        }
        figures.meanTimeToAcknowledge = figures.acknowledged > 0 ? ackSeconds / Double(figures.acknowledged) : nil
        figures.meanTimeToClear = figures.cleared > 0 ? clearSeconds / Double(figures.cleared) : nil
        let open = rest.open.filter { inScope($0.communeID) }
        // Worded with the names and sites of these problems only, not a table of the whole registry.
        let concerned = Set(open.compactMap(\.deviceID))
        var sites: [(String, String)] = []
        var seen = Set<String>()
        for d in loaded.input.devices where concerned.contains(d.id) && seen.insert(d.id).inserted { sites.append((d.id, d.siteID)) }
        let placeIDs = Set(sites.map(\.1) + open.compactMap(\.villageID) + open.compactMap(\.communeID))
        let wording = AlarmWording(names: placeIDs.compactMap { id in tree[id].map { (id, $0.name) } }, sites: sites)
        var problems = open.map { a in
            Problem(alarm: a.id, severity: a.severity, kind: a.kind, subject: a.deviceID ?? a.villageID ?? "", place: wording.whereabouts(a),
                    detail: a.detail, since: a.since, acknowledgedBy: (a.ackedAt.map { $0 < end } ?? false) ? a.ackedBy : nil)
        }
        problems.sort { ($0.severity, $0.since, $0.subject) < ($1.severity, $1.since, $1.subject) }

        return MonthlyReport(month: month, period: period, generatedAt: now, scope: commune ?? "*", scopeName: kpis.deployment.name,
                             kpis: kpis, deviceStates: states, broadcasts: broadcasts, alarms: figures, problems: problems,
                             issuer: issuer(commune, tree, fallback: kpis.deployment.name))
    }

    /// The commune for its report; for the deployment's, its province (the only one, or the first).
    static func issuer(_ commune: String?, _ tree: PlaceTree, fallback: String) -> Issuer {
        // The first province by id (as in topological order), without sorting every place.
        let body: Place? = commune.flatMap { tree[$0] } ?? tree.places.values.filter { $0.level == .province }.min { $0.id < $1.id }
        guard let body else { return Issuer(body: fallback, parent: nil, place: fallback) }
        let parent = body.level == .commune ? (tree.ancestor(of: body.id, at: .district) ?? tree.ancestor(of: body.id, at: .province)) : nil
        return Issuer(body: titled(body), parent: parent.map(titled), place: placeName(body.name))
    }

    /// A province named without its level ("Quảng Ninh") is "Tỉnh Quảng Ninh" in a header.
    static func titled(_ p: Place) -> String {
        guard p.level == .province, placeName(p.name) == p.name else { return p.name }
        return "Tỉnh " + p.name
    }

    /// "Xã Cẩm La" → "Cẩm La": the date line names the place, not its level.
    static func placeName(_ name: String) -> String {
        for prefix in ["Thành phố ", "Thị trấn ", "Thị xã ", "Phường ", "Huyện ", "Quận ", "Tỉnh ", "Xã ", "TP. ", "TP "]
        where name.lowercased().hasPrefix(prefix.lowercased()) && name.count > prefix.count {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }

    /// Where an item plays, in words: commune and village names, "nhóm/group NAME", speaker ids.
    public static func describe(_ t: BroadcastTarget, _ tree: PlaceTree) -> String {
        var parts: [String] = []
        parts += t.communes.map { tree[$0]?.name ?? $0 }
        parts += t.villages.map { tree[$0]?.name ?? $0 }
        parts += t.groups.map { "nhóm/group \($0)" }
        parts += t.speakers
        return parts.joined(separator: ", ")
    }
}

public enum ReportError: Error, CustomStringConvertible, Equatable {
    case badMonth(String)
    case future(String)
    case badFormat(String)
    /// `--commune` names no commune: an empty report for "0 communes" would look like a real one.
    case unknownCommune(String, suggestion: String?)

    public var description: String {
        switch self {
        case .unknownCommune(let c, let s?): "không có xã/phường mã '\(c)'; có phải '\(s)'? / no commune with id '\(c)'; did you mean '\(s)'?"
        case .unknownCommune(let c, nil):
            "không có xã/phường mã '\(c)'; xem mã trong danh sách địa điểm (places list) / no commune with id '\(c)'; see the ids in the places list"
        case .badMonth(let m): "tháng '\(m)' không hợp lệ, cần dạng YYYY-MM / invalid month '\(m)', expected YYYY-MM"
        case .future(let m): "tháng \(m) chưa bắt đầu / month \(m) has not started"
        case .badFormat(let f): "định dạng '\(f)' không hỗ trợ (html, csv, json) / unsupported format '\(f)'"
        }
    }
}
