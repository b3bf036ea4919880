import Foundation

/// Playback of one item on one speaker over a period: occurrences it was given, played through,
/// and cut off by a more urgent item (started but not played through: not reach).
public struct PlaybackTally: Sendable, Hashable, Codable {
    public var item: String
    public var speaker: String
    public var targeted: Int
    public var played: Int
    public var interrupted: Int

    public init(item: String, speaker: String, targeted: Int, played: Int, interrupted: Int = 0) {
        self.item = item
        self.speaker = speaker
        self.targeted = targeted
        self.played = played
        self.interrupted = interrupted
    }
}

/// One kiosk's one-stop figures over a period, summed by storage.
public struct KioskTotals: Sendable, Hashable, Codable {
    public var issued = 0
    public var waits: [Double] = []
    public var ratings: [SatisfactionLevel: Int] = [:]
    /// Served tickets known only from telemetry counters (no wait known for them).
    public var servedWithoutWait = 0
    public init(issued: Int = 0, waits: [Double] = [], ratings: [SatisfactionLevel: Int] = [:]) {
        self.issued = issued
        self.waits = waits
        self.ratings = ratings
    }
}

/// Everything the KPIs are computed from, read from storage by the caller.
public struct KPIInput: Sendable {
    public var tree: PlaceTree
    /// Including devices removed during the period: they count for the part they served.
    public var devices: [Device]
    public var period: DateInterval
    public var now: Date
    public var intervals: [String: [StateInterval]]
    public var playback: [PlaybackTally]
    /// Targets of the items in `playback`.
    public var itemTargets: [String: BroadcastTarget]
    public var kiosk: [String: KioskTotals]
    /// Only these communes (all when nil).
    public var communes: Set<String>?
    /// Each device's figures over the period, when read from roll-ups; nil: computed from `intervals`.
    public var uptime: [String: DeviceUptime]?

    public init(tree: PlaceTree, devices: [Device], period: DateInterval, now: Date, intervals: [String: [StateInterval]],
                playback: [PlaybackTally] = [], itemTargets: [String: BroadcastTarget] = [:], kiosk: [String: KioskTotals] = [:],
                communes: Set<String>? = nil, uptime: [String: DeviceUptime]? = nil) {
        self.uptime = uptime
        self.tree = tree
        self.devices = devices
        self.period = period
        self.now = now
        self.intervals = intervals
        self.playback = playback
        self.itemTargets = itemTargets
        self.kiosk = kiosk
        self.communes = communes
    }
}

/// A place that keeps a KPI from its target, and why.
public struct KPIMiss: Codable, Sendable, Hashable {
    public var placeID: String
    public var name: String
    public var reason: String
}

public struct KPIValue: Codable, Sendable, Hashable {
    public var id: KPIID
    /// Nil when there is nothing to measure (no villages, no ratings).
    public var value: Double?
    public var numerator: Double?
    public var denominator: Double?
    public var target: KPITarget?
    public var met: Bool?
    public var misses: [KPIMiss]
    public var note: String?
}

/// What each village contributes, for the per-village table.
public struct VillageKPIs: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var commune: String
    public var speakers: Int
    public var cameras: Int
    public var loudspeakerCovered: Bool
    public var bulletinPlayed: Bool
    public var cameraCovered: Bool
    /// Why each KPI misses here ("vi / en"); nil where it is met.
    public var loudspeakerReason: String?
    public var bulletinReason: String?
    public var cameraReason: String?

    public var reasons: [String] { [loudspeakerReason, bulletinReason, cameraReason].compactMap { $0 } }
}

public struct OneStopFigures: Codable, Sendable, Hashable {
    public var ticketsIssued = 0
    public var ticketsServed = 0
    public var ticketsPerDay: Double?
    public var meanWaitSeconds: Double?
    public var p90WaitSeconds: Double?
    public var ratings: [SatisfactionLevel: Int] = [:]
    public var satisfaction: Double? { KioskFigures.satisfaction(ratings) }
}

/// The KPIs of one scope: a commune, or the whole deployment.
public struct ScopeKPIs: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var kpis: [KPIValue]
    public var villages: [VillageKPIs]
    public var oneStop: OneStopFigures
    public var uptimeByClass: [DeviceClass: UptimeSummary]
    public var devicesByClass: [DeviceClass: Int]

    public func kpi(_ id: KPIID) -> KPIValue? { kpis.first { $0.id == id } }
}

public struct KPIReport: Codable, Sendable, Hashable {
    public var period: DateInterval
    public var generatedAt: Date
    public var settings: KPISettings
    public var deployment: ScopeKPIs
    public var communes: [ScopeKPIs]
}

public enum KPICalculator {
    static func monitored(_ d: Device) -> DateInterval {
        DateInterval(start: d.monitoredFrom, end: max(d.removedAt ?? .distantFuture, d.monitoredFrom))
    }

    static let recordingFaults: Set<FaultCode> = [.notRecording, .retentionBelowRequired]

    struct DeviceFacts {
        var device: Device
        var commune: String
        var village: String?
        var uptime: UptimeSummary
        /// Available (online) share ≥ threshold.
        var available: Bool
        /// Class-specific "working": camera recording with retention, AP uplink up.
        var working: Bool
        var total: TimeInterval
    }

    public static func compute(_ input: KPIInput, settings: KPISettings = KPISettings()) -> KPIReport {
        let tree = input.tree
        let period = input.period
        let th = settings.availabilityThreshold
        let (thVi, thEn) = percents(th)  // the same in every reason below
        // Devices in scope that served some of the period.
        // Each device's commune and village, walked up the tree once (many devices share a site).
        var location: [String: (commune: String, village: String?)] = [:]
        var siteLocation: [String: (commune: String, village: String?)?] = [:]
        for d in input.devices {
            let l: (commune: String, village: String?)?
            if let known = siteLocation[d.siteID] { l = known } else {
                l = tree.ancestor(of: d.siteID, at: .commune).map { ($0.id, tree.ancestor(of: d.siteID, at: .village)?.id) }
                siteLocation[d.siteID] = l
            }
            if let l { location[d.id] = l }
        }
        var facts: [String: DeviceFacts] = [:]
        for d in input.devices {
            guard let here = location[d.id], input.communes?.contains(here.commune) ?? true else { continue }
            let commune = here.commune
            let m = monitored(d)
            // In whole milliseconds, from roll-ups or from the intervals: the same figures either way.
            let figures = input.uptime.map { $0[d.id] ?? DeviceUptime(millis: UptimeMillis(), span: 0) }
                ?? DeviceUptime.of(input.intervals[d.id] ?? [], in: period, monitored: m, now: input.now)
            let up = figures.summary
            guard up.total > 0 else { continue }
            let available = (up.availability ?? 0) >= th - 1e-12
            // Cameras and APs also need their class function: recording with retention, uplink up.
            let working = figures.workingSeconds(d.deviceClass).map { $0 / up.total >= th - 1e-12 } ?? available
            facts[d.id] = DeviceFacts(device: d, commune: commune, village: here.village, uptime: up,
                                      available: available, working: working, total: up.total)
        }

        // Playback per speaker: commune-wide programme and village bulletins.
        var programme: [String: (targeted: Int, played: Int)] = [:]
        var villagePlayed = Set<String>()
        var villageTargeted = Set<String>()
        var reach: [String: (targeted: Int, played: Int)] = [:]  // by commune
        for t in input.playback {
            guard let f = location[t.speaker], input.communes?.contains(f.commune) ?? true else { continue }
            reach[f.commune, default: (0, 0)].targeted += t.targeted
            reach[f.commune, default: (0, 0)].played += t.played
            guard let target = input.itemTargets[t.item] else { continue }
            if !target.communes.isEmpty {
                programme[t.speaker, default: (0, 0)].targeted += t.targeted
                programme[t.speaker, default: (0, 0)].played += t.played
            }
            if let v = f.village, target.villages.contains(v) {
                villageTargeted.insert(v)
                if t.played > 0 { villagePlayed.insert(v) }
            }
        }

        // Public sites designated for Wi-Fi, and whether an AP there works.
        let wifiKinds = Set(settings.wifiSiteKinds)
        var sitesWithWorkingAP = Set<String>()
        var sitesWithAP = Set<String>()
        for f in facts.values where f.device.deviceClass == .accessPoint {
            sitesWithAP.insert(f.device.siteID)
            if f.working { sitesWithWorkingAP.insert(f.device.siteID) }
        }

        let communes = tree.places.values.filter { $0.level == .commune && (input.communes?.contains($0.id) ?? true) }
            .sorted { $0.id < $1.id }
        // Grouped once: a province has hundreds of communes and tens of thousands of places.
        var villagesOf: [String: [Place]] = [:]
        var publicSitesOf: [String: [Place]] = [:]
        for p in tree.places.values {
            if p.level == .village, let parent = p.parentID { villagesOf[parent, default: []].append(p) }
            if p.level == .site, p.siteKind.map(wifiKinds.contains) == true, let c = tree.ancestor(of: p.id, at: .commune)?.id {
                publicSitesOf[c, default: []].append(p)
            }
        }
        let factsOf = Dictionary(grouping: facts.values, by: \.commune)
        var scopes: [ScopeKPIs] = []
        var all = Accumulator()
        var anyCommuneProgramme = false
        for c in communes {
            var acc = Accumulator()
            let villages = (villagesOf[c.id] ?? []).sorted { $0.id < $1.id }
            // In id order: sums of seconds then come out the same in every run.
            let devicesHere = (factsOf[c.id] ?? []).sorted { $0.device.id < $1.device.id }
            let byVillage = Dictionary(grouping: devicesHere, by: { $0.village ?? "" })
            let anyProgramme = devicesHere.contains { (programme[$0.device.id]?.targeted ?? 0) > 0 }
            for v in villages {
                let inV = byVillage[v.id] ?? []
                let speakers = inV.filter { $0.device.deviceClass == .speaker }
                let cameras = inV.filter { $0.device.deviceClass == .camera }
                let covered = speakers.contains { s in
                    guard s.available else { return false }
                    guard anyProgramme else { return true }
                    let p = programme[s.device.id] ?? (0, 0)
                    return p.targeted > 0 && Double(p.played) / Double(p.targeted) >= settings.programmeShare - 1e-12
                }
                let bulletin = villagePlayed.contains(v.id)
                let cameraOK = cameras.contains(where: \.working)
                var row = VillageKPIs(id: v.id, name: v.name, commune: c.id, speakers: speakers.count, cameras: cameras.count,
                                      loudspeakerCovered: covered, bulletinPlayed: bulletin, cameraCovered: cameraOK)
                if speakers.isEmpty {
                    row.loudspeakerReason = "không có cụm loa / no loudspeaker"
                } else if !covered {
                    row.loudspeakerReason = speakers.contains(where: \.available)
                        ? "loa không phát đủ chương trình của xã / speakers did not play the commune programme"
                        : "không cụm loa nào sẵn sàng ≥ \(thVi) thời gian / no speaker available ≥ \(thEn) of the time"
                }
                if !bulletin {
                    row.bulletinReason = villageTargeted.contains(v.id)
                        ? "bản tin của thôn không phát được / the village bulletin did not play"
                        : "chưa phát bản tin riêng của thôn / no village bulletin played"
                }
                if cameras.isEmpty {
                    row.cameraReason = "không có camera / no camera"
                } else if !cameraOK {
                    row.cameraReason = "không camera nào vừa ghi hình vừa đủ ngày lưu trữ ≥ \(thVi) thời gian / no camera online, recording and keeping enough days ≥ \(thEn) of the time"
                }
                acc.villages.append(row)
            }
            // Designated public sites anywhere under the commune.
            for s in (publicSitesOf[c.id] ?? []).sorted(by: { $0.id < $1.id }) {
                acc.wifiSites += 1
                if sitesWithWorkingAP.contains(s.id) {
                    acc.wifiWorking += 1
                } else {
                    acc.wifiMisses.append(KPIMiss(placeID: s.id, name: s.name, reason: sitesWithAP.contains(s.id)
                        ? "điểm Wi-Fi hoạt động dưới \(thVi) thời gian / AP working less than \(thEn) of the time"
                        : "chưa có điểm Wi-Fi / no access point"))
                }
            }
            for f in devicesHere {
                acc.uptime[f.device.deviceClass, default: UptimeSummary()] = acc.uptime[f.device.deviceClass, default: UptimeSummary()] + f.uptime
                acc.devices[f.device.deviceClass, default: 0] += 1
                // Each device by its id and site (several devices share a site); kiosks too, so a
                // missed kiosk target names its kiosks like every other class.
                if f.total > 0, (f.uptime.availability ?? 0) < (settings.target(.availability(f.device.deviceClass))?.value ?? 0) {
                    acc.lowAvailability[f.device.deviceClass, default: []].append(KPIMiss(
                        placeID: f.device.id, name: "\(f.device.id) (\(tree[f.device.siteID]?.name ?? f.device.siteID))",
                        reason: { let p = percents(f.uptime.availability ?? 0); return "\(p.vi) sẵn sàng / \(p.en) available" }()))
                }
            }
            // One-stop figures from the commune's kiosks.
            var waits: [Double] = []
            var dayCount = 0.0
            for f in devicesHere where f.device.deviceClass == .kiosk {
                let k = input.kiosk[f.device.id] ?? KioskTotals()
                acc.oneStop.ticketsIssued += k.issued
                acc.oneStop.ticketsServed += k.waits.count + k.servedWithoutWait
                waits += k.waits
                for (l, n) in k.ratings { acc.oneStop.ratings[l, default: 0] += n }
                let siteRatings = k.ratings
                if let r = KioskFigures.satisfaction(siteRatings), r < (settings.target(.satisfaction)?.value ?? 0) {
                    acc.satisfactionMisses.append(KPIMiss(placeID: f.device.siteID, name: tree[f.device.siteID]?.name ?? f.device.siteID,
                                                          reason: { let p = percents(r); return "\(p.vi) hài lòng (\(f.device.id)) / \(p.en) satisfied (\(f.device.id))" }()))
                }
            }
            if devicesHere.contains(where: { $0.device.deviceClass == .kiosk }) {
                dayCount = max(min(period.end, input.now).timeIntervalSince(period.start), 0) / 86_400
            }
            acc.waits = waits
            acc.days = dayCount
            acc.reach = reach[c.id] ?? (0, 0)
            acc.programmeGiven = anyProgramme
            scopes.append(acc.scope(id: c.id, name: c.name, settings: settings))
            all.absorb(acc)
            if anyProgramme { anyCommuneProgramme = true }
        }
        let deploymentName = communes.count == 1 ? communes[0].name
            : input.communes == nil ? "Toàn hệ thống / Whole deployment (\(communes.count) xã/phường)"
            : "Các xã được chọn / Chosen communes (\(communes.count) xã/phường)"
        all.programmeGiven = anyCommuneProgramme
        return KPIReport(period: period, generatedAt: input.now, settings: settings,
                         deployment: all.scope(id: "*", name: deploymentName, settings: settings), communes: scopes)
    }

    /// A share as each half of a bilingual reason writes it: "97,2 %" in Vietnamese, "97.2%" in English.
    static func percent(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
    static func phanTram(_ v: Double) -> String { vietnamese(String(format: "%.1f", v * 100)) }
    /// Both halves from one formatting: a province's report writes tens of thousands of them.
    static func percents(_ v: Double) -> (vi: String, en: String) {
        let s = String(format: "%.1f", v * 100)
        return (vietnamese(s), s + "%")
    }
    private static func vietnamese(_ s: String) -> String { String(s.map { $0 == "." ? "," : $0 }) + " %" }

    /// Sums for one scope; a deployment absorbs its communes'.
    struct Accumulator {
        var villages: [VillageKPIs] = []
        var wifiSites = 0, wifiWorking = 0
        var wifiMisses: [KPIMiss] = []
        var uptime: [DeviceClass: UptimeSummary] = [:]
        var devices: [DeviceClass: Int] = [:]
        var lowAvailability: [DeviceClass: [KPIMiss]] = [:]
        var oneStop = OneStopFigures()
        var satisfactionMisses: [KPIMiss] = []
        var waits: [Double] = []
        var days = 0.0
        var reach: (targeted: Int, played: Int) = (0, 0)
        var programmeGiven = true

        mutating func absorb(_ o: Accumulator) {
            villages += o.villages
            wifiSites += o.wifiSites
            wifiWorking += o.wifiWorking
            wifiMisses += o.wifiMisses
            for (k, v) in o.uptime { uptime[k] = (uptime[k] ?? UptimeSummary()) + v }
            for (k, v) in o.devices { devices[k, default: 0] += v }
            for (k, v) in o.lowAvailability { lowAvailability[k, default: []] += v }
            oneStop.ticketsIssued += o.oneStop.ticketsIssued
            oneStop.ticketsServed += o.oneStop.ticketsServed
            for (k, v) in o.oneStop.ratings { oneStop.ratings[k, default: 0] += v }
            satisfactionMisses += o.satisfactionMisses
            waits += o.waits
            days = max(days, o.days)
            reach.targeted += o.reach.targeted
            reach.played += o.reach.played
        }

        func value(_ id: KPIID, _ num: Double, _ den: Double, _ settings: KPISettings, misses: [KPIMiss], note: String? = nil) -> KPIValue {
            let v: Double? = den > 0 ? num / den : nil
            let t = settings.target(id)
            return KPIValue(id: id, value: v, numerator: num, denominator: den, target: t,
                            met: v.flatMap { v in t.map { $0.met(by: v) } }, misses: misses, note: note)
        }

        func scope(id: String, name: String, settings: KPISettings) -> ScopeKPIs {
            func villageMisses(_ reason: (VillageKPIs) -> String?) -> [KPIMiss] {
                villages.compactMap { v in reason(v).map { KPIMiss(placeID: v.id, name: v.name, reason: $0) } }
            }
            let n = Double(villages.count)
            var kpis = [
                value(.loudspeakerCoverage, Double(villages.filter(\.loudspeakerCovered).count), n, settings,
                      misses: villageMisses(\.loudspeakerReason),
                      note: programmeGiven ? nil : "không có chương trình toàn xã trong kỳ: chỉ xét độ sẵn sàng / no commune-wide programme in the period: availability only"),
                value(.villageBulletin, Double(villages.filter(\.bulletinPlayed).count), n, settings,
                      misses: villageMisses(\.bulletinReason)),
                value(.cameraCoverage, Double(villages.filter(\.cameraCovered).count), n, settings,
                      misses: villageMisses(\.cameraReason)),
                value(.wifiCoverage, Double(wifiWorking), Double(wifiSites), settings, misses: wifiMisses),
            ]
            let good = oneStop.ratings.filter { $0.key.countsAsSatisfied }.values.reduce(0, +)
            kpis.append(value(.satisfaction, Double(good), Double(oneStop.ratings.values.reduce(0, +)), settings, misses: satisfactionMisses))
            kpis.append(value(.broadcastReach, Double(reach.played), Double(reach.targeted), settings, misses: []))
            for c in DeviceClass.allCases {
                let u = uptime[c] ?? UptimeSummary()
                kpis.append(value(.availability(c), u.ok + u.degraded, u.total, settings,
                                  misses: (lowAvailability[c] ?? []).sorted { $0.reason < $1.reason }))
            }
            var one = oneStop
            if days > 0 { one.ticketsPerDay = Double(one.ticketsIssued) / days }
            if !waits.isEmpty {
                let sorted = KioskFigures.ascending(waits)  // sorted: the same sum in any order
                one.meanWaitSeconds = sorted.reduce(0, +) / Double(sorted.count)
                one.p90WaitSeconds = KioskFigures.percentile(sorted: sorted, 0.9)
            }
            return ScopeKPIs(id: id, name: name, kpis: kpis, villages: villages, oneStop: one, uptimeByClass: uptime,
                             devicesByClass: devices)
        }
    }
}
