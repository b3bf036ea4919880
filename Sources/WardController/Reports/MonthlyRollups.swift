import Foundation
import WardDomain
import WardStorage

extension KPIService {
    /// What `load` reads, for one local month, from the monthly roll-ups: each device's closed
    /// time from its month row plus its open interval live; playback and kiosk activity from their
    /// month rows. The same figures as `load` (whole milliseconds add up exactly); a device whose
    /// roll-up holds time outside its reporting window (history before its installation, a late
    /// interval past now) is read from its raw intervals. The month's roll-ups are built from the
    /// raw tables the first time it is asked for.
    public func loadMonth(_ period: DateInterval, communes: Set<String>? = nil, now: Date) throws -> Loaded {
        let rollups = ReportRollups(db)
        guard let month = LocalCalendar.vietnam.month(named: String(LocalCalendar.vietnam.dayKey(period.start).prefix(7))),
              month == period else { return try load(period: period, communes: communes, now: now) }
        try rollups.build(month: month, now: now)

        let window = DateInterval(start: period.start, end: max(period.start, min(period.end, now)))
        // The registry (read once per revision), then the month's rows in two independent halves on two connections:
        // devices' time and kiosks' figures, and plays with what they targeted.
        let registry = try db.registry()
        let tree = registry.tree
        let devices = registry.devices.filter { ($0.removedAt.map { $0 > period.start } ?? true) && $0.monitoredFrom < period.end }
        let kiosks = devices.filter { $0.deviceClass == .kiosk }
        let ((rows, kiosk), (open, tallies, targets)) = try inParallel({
            var kiosk = try rollups.kioskTotals(devices: kiosks.map(\.id), month: month, before: window.end)
            try KioskCounts.addCounted(db, kiosks: kiosks, tree: tree, in: window, to: &kiosk)
            return (try rollups.uptime(month: month), kiosk)
        }, {
            let tallies = try rollups.playbackTallies(month: month, due: window.end)
            return (try rollups.openIntervals(startedBefore: window.end), tallies, try KPIQueries(db).itemTargets(Set(tallies.map(\.item))))
        })

        // Each device's time in the month, and its state at the end.
        let nowMs = UptimeMillis.ms(now)
        var uptime: [String: DeviceUptime] = [:]
        var raw: [Device] = []
        for d in devices {
            let monitored = DateInterval(start: d.monitoredFrom, end: max(d.removedAt ?? .distantFuture, d.monitoredFrom))
            guard let (lower, upper) = DeviceUptime.bounds(period, monitored: monitored, now: now) else {
                uptime[d.id] = DeviceUptime(millis: UptimeMillis(), span: 0)
                continue
            }
            let row = rows[d.id]
            guard row.map({ $0.first >= lower && $0.last <= upper }) ?? true else {
                raw.append(d)
                continue
            }
            var m = row?.millis ?? UptimeMillis()
            for o in open[d.id] ?? [] {
                let iv = o.interval
                m.add(iv.state, faults: iv.faults,
                      UptimeMillis.clipped(start: UptimeMillis.ms(iv.start), end: nowMs, lower: lower, upper: upper))
            }
            uptime[d.id] = DeviceUptime(millis: m, span: upper - lower)
        }
        var rawIntervals: [String: [StateInterval]] = [:]
        if !raw.isEmpty {
            rawIntervals = try HealthQueries(db).intervals(devices: raw.map(\.id), overlapping: window)
            for d in raw {
                let monitored = DateInterval(start: d.monitoredFrom, end: max(d.removedAt ?? .distantFuture, d.monitoredFrom))
                uptime[d.id] = DeviceUptime.of(rawIntervals[d.id] ?? [], in: period, monitored: monitored, now: now)
            }
        }

        // The state at the end: the interval holding its last millisecond with the latest (start, id).
        let end = min(period.end, now)
        let at = end.addingTimeInterval(-0.001)
        let holds = { (iv: StateInterval) in iv.start <= at && (iv.end.map { $0 > at } ?? true) }
        let closedAtEnd = end < period.end ? try rollups.closedIntervals(holding: at) : [:]
        var endStates: [String: HealthState] = [:]
        for d in devices {
            if let ivs = rawIntervals[d.id] {
                if let s = ivs.last(where: holds)?.state { endStates[d.id] = s }
                continue
            }
            var best: (start: Int64, id: Int64, state: HealthState)?
            func consider(_ c: (start: Int64, id: Int64, state: HealthState)) {
                if best.map({ (c.start, c.id) > ($0.start, $0.id) }) ?? true { best = c }
            }
            for o in (open[d.id] ?? []) + (closedAtEnd[d.id] ?? []) where holds(o.interval) {
                consider((UptimeMillis.ms(o.interval.start), o.id, o.interval.state))
            }
            if end == period.end, let e = rows[d.id]?.end { consider((e.started, e.id, e.state)) }
            if let best { endStates[d.id] = best.state }
        }

        return Loaded(input: KPIInput(tree: tree, devices: devices, period: period, now: now, intervals: rawIntervals, playback: tallies,
                                      itemTargets: targets, kiosk: kiosk, communes: communes, uptime: uptime),
                      settings: try SettingsRepository(db).kpiSettings(), endStates: endStates)
    }
}
