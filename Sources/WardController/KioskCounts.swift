import Foundation
import WardDomain
import WardProtocol
import WardStorage

/// A kiosk's figures come from its events and, for what it does not send as events, from the
/// since-boot counters of its telemetry (docs/protocol.md §5, "Kiosk figures").
public enum KioskCounts {
    /// The counters' contribution for one kiosk within `window`, as dated activity.
    public static func counted(_ db: WardDatabase, device id: String, commune: String, in window: DateInterval,
                               calendar: LocalCalendar = .vietnam) throws -> [KioskActivity] {
        let q = HealthQueries(db)
        let (base, samples) = try q.kioskCounterSamples(device: id, in: window, calendar: calendar)
        let decoder = ProtocolDecoder()
        func reading(_ s: TelemetryRecord) -> KioskCounterReading? {
            guard let t = decoder.telemetry(device: id, commune: commune, payload: Array(s.payload.utf8), receivedAt: s.receivedAt),
                  case .kiosk(let k) = t.reading else { return nil }
            return KioskCounterReading(boot: s.boot, at: s.deviceTime, issued: k.ticketsIssued, served: k.ticketsServed, ratings: k.ratings)
        }
        let readings = samples.compactMap(reading)
        guard !readings.isEmpty else { return [] }
        let boots = try q.kioskEventBoots(device: id, boots: Set(readings.map(\.boot)))
        return KioskCounters.increases(base: base.flatMap(reading), readings, eventBoots: boots)
    }

    /// Adds the counters' contribution to event totals (the monthly KPIs).
    public static func addCounted(_ db: WardDatabase, kiosks: [Device], tree: PlaceTree, in window: DateInterval,
                                  to totals: inout [String: KioskTotals]) throws {
        for d in kiosks {
            guard let commune = tree.ancestor(of: d.siteID, at: .commune)?.id else { continue }
            for case .counted(_, let issued, let served, let ratings) in try counted(db, device: d.id, commune: commune, in: window) {
                var t = totals[d.id] ?? KioskTotals()
                t.issued += issued
                t.servedWithoutWait += served
                for (level, n) in ratings { t.ratings[level, default: 0] += n }
                totals[d.id] = t
            }
        }
    }
}
