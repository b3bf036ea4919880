import Foundation
import Testing
@testable import WardController
import WardDomain
import WardStorage

/// The monthly report from roll-ups equals the report from the raw tables, field by field, on
/// both engines: seeded random histories written through the real write paths (flapping devices,
/// intervals across local midnight and month ends, unknown states, late and backdated changes,
/// duplicate and late kiosk events, devices installed or removed mid-month, plays).
@Suite struct MonthlyRollupTests {
    enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
        static let server: Result<LocalPostgres, any Error> = Result { try LocalPostgres() }
        func open() throws -> WardDatabase {
            switch self {
            case .sqlite:
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-rollup-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                return try WardDatabase(path: dir.appendingPathComponent("t.sqlite").path)
            case .postgres:
                return try WardDatabase(postgres: try Self.server.get().createDatabase("rollup"))
            }
        }
    }

    static let cal = LocalCalendar.vietnam
    static let oct = cal.month(named: "2026-10")!
    static let nov = cal.month(named: "2026-11")!

    /// Writes a seeded random fleet history through the ingest, playback and registry paths.
    static func populate(_ db: WardDatabase, seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        func r(_ n: UInt64) -> Int { Int(rng.next() % n) }
        var places: [Place] = [Place(id: "tinh", level: .province, name: "Tỉnh Quảng Ninh")]
        var devices: [Device] = []
        let registered = oct.start.addingTimeInterval(-20 * 86_400)
        for c in 0..<2 {
            let cid = "xa\(c)"
            places.append(Place(id: cid, level: .commune, name: "Xã Số \(c)", parentID: "tinh"))
            places.append(Place(id: "\(cid)-motcua", level: .site, name: "Bộ phận Một cửa", parentID: cid, siteKind: .oneStopOffice))
            places.append(Place(id: "\(cid)-ubnd", level: .site, name: "Trụ sở UBND", parentID: cid, siteKind: .communeOffice))
            devices.append(Device(id: "\(cid)-ap-ubnd", deviceClass: .accessPoint, siteID: "\(cid)-ubnd", registeredAt: registered))
            for k in 0..<2 {
                devices.append(Device(id: "\(cid)-kiosk\(k)", deviceClass: .kiosk, siteID: "\(cid)-motcua", registeredAt: registered))
            }
            for v in 0..<3 {
                let vid = "\(cid)-t\(v)"
                places.append(Place(id: vid, level: .village, name: "Thôn \(v)", parentID: cid))
                places.append(Place(id: "\(vid)-cot", level: .site, name: "Cột loa", parentID: vid, siteKind: .pole))
                places.append(Place(id: "\(vid)-nvh", level: .site, name: "Nhà văn hóa", parentID: vid, siteKind: .culturalHouse))
                for p in 0..<2 {
                    // One speaker of each commune installed mid-October (its history before does not count).
                    let installed = v == 1 && p == 1 ? cal.day(named: "2026-10-16")!.start.addingTimeInterval(3_600 * 9) : nil
                    devices.append(Device(id: "\(vid)-loa\(p)", deviceClass: .speaker, siteID: "\(vid)-cot", installedOn: installed,
                                          registeredAt: registered))
                }
                devices.append(Device(id: "\(vid)-cam", deviceClass: .camera, siteID: "\(vid)-nvh", registeredAt: registered))
                devices.append(Device(id: "\(vid)-ap", deviceClass: .accessPoint, siteID: "\(vid)-nvh", registeredAt: registered))
            }
        }
        try PlaceRepository(db).upsert(places)
        try DeviceRepository(db).upsert(devices)
        try db.store.write { c in
            for v in ["xa0-t0", "xa1-t2"] {
                try c.execute(sql: """
                    INSERT INTO broadcast_items (id, title, level, programme, duration_s, recurrence, target, status, created_by, created_at)
                    VALUES (?, 'Thông báo thôn', 'normal', '{}', 300, '{}', ?, 'approved', 'vh', 0)
                    """, arguments: ["tb-\(v)", #"{"communes":[],"villages":["\#(v)"],"groups":[],"speakers":[]}"#])
            }
            try c.execute(sql: """
                INSERT INTO broadcast_items (id, title, level, programme, duration_s, recurrence, target, status, created_by, created_at)
                VALUES ('ban-tin', 'Bản tin sáng', 'normal', '{}', 600, '{}', ?, 'approved', 'vh', 0)
                """, arguments: [#"{"communes":["xa0","xa1"],"villages":[],"groups":[],"speakers":[]}"#])
        }

        // State histories: changes at whole seconds from late September to early November, some
        // backdated (late data), some to unknown; every few changes a flush.
        let ingest = IngestRepository(db)
        let start = oct.start.addingTimeInterval(-5 * 86_400)
        let states: [HealthState] = [.ok, .ok, .ok, .degraded, .offline, .offline, .unknown]
        let faults: [[Fault]] = [[], [Fault(.notRecording)], [Fault(.uplinkDown)], [Fault(.retentionBelowRequired)]]
        var batch = IngestBatch()
        for d in devices {
            var t = start.addingTimeInterval(Double(r(86_400)))
            while t < nov.start.addingTimeInterval(3 * 86_400) {
                let state = states[r(UInt64(states.count))]
                var at = t
                if r(10) == 0 { at = t.addingTimeInterval(-Double(r(7_200))) }  // a buffered change, reported late
                batch.changes.append(StateChange(deviceID: d.id, from: .unknown, to: state, faults: state == .degraded ? faults[r(4)] : [],
                                                 at: at))
                if batch.changes.count >= 7 {
                    try ingest.write(batch)
                    batch = IngestBatch()
                }
                // Flapping (minutes) or long stretches (days), across midnights and the month's end.
                t = t.addingTimeInterval(r(3) == 0 ? Double(60 + r(1_800)) : Double(3_600 + r(3 * 86_400)))
            }
        }
        try ingest.write(batch)
        // Removed mid-month: its open interval closes there.
        _ = try DeviceRepository(db).remove("xa1-t2-cam", at: cal.day(named: "2026-10-20")!.start.addingTimeInterval(4_321))

        // Kiosk activity: events with fractional waits, ratings, duplicates, some dated a month earlier (late).
        batch = IngestBatch()
        for d in devices where d.deviceClass == .kiosk {
            for n in 0..<400 {
                let at = start.addingTimeInterval(Double(r(45 * 86_400)))
                let type = ["ticket_issued", "ticket_served", "rating_submitted"][r(3)]
                let seq = UInt64(r(2) == 0 ? n : max(0, n - 1))  // some sequence numbers repeat: duplicates are ignored
                batch.events.append(EventRecord(deviceID: d.id, boot: "b\(n / 150)", seq: seq, type: type, occurredAt: at,
                                                receivedAt: at.addingTimeInterval(Double(r(40 * 86_400))),
                                                waitSeconds: type == "ticket_served" && r(8) != 0 ? Double(r(3_600)) + 0.25 * Double(r(4)) : nil,
                                                rating: type == "rating_submitted" && r(6) != 0 ? SatisfactionLevel.allCases[r(5)] : nil))
                if batch.events.count >= 50 {
                    try ingest.write(batch)
                    batch = IngestBatch()
                }
            }
        }
        try ingest.write(batch)

        // Plays: a daily commune bulletin, village bulletins; some not played, some interrupted, lines repeated.
        let playback = PlaybackRepository(db)
        for day in 0..<50 {  // the last ones after `now` of the current month: not due yet
            let at = start.addingTimeInterval(Double(day) * 86_400 + 6 * 3_600)
            var lines: [PlaybackEntry] = []
            for d in devices where d.deviceClass == .speaker {
                let items = ["ban-tin"] + (day % 3 == 0 ? ["tb-" + d.siteID.split(separator: "-").prefix(2).joined(separator: "-")] : [])
                for item in items {
                    let key = PlayKey(item: item, start: at)
                    lines.append(PlaybackEntry(key: key, speaker: d.id, event: .scheduled, at: at))
                    if r(10) != 0 { lines.append(PlaybackEntry(key: key, speaker: d.id, event: .started, at: at)) }
                    lines.append(PlaybackEntry(key: key, speaker: d.id, event: r(7) == 0 ? .interrupted : .finished, at: at))
                }
            }
            try playback.append(lines + lines.prefix(5), recordedAt: at)
        }
    }

    static func json(_ r: MonthlyReport) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try e.encode(r), as: UTF8.self)
    }

    static func expectSame(_ db: WardDatabase, month: String, commune: String?, now: Date) throws {
        let raw = try MonthlyReport.build(db, month: month, commune: commune, now: now, source: .raw)
        let rolled = try MonthlyReport.build(db, month: month, commune: commune, now: now, source: .rollups)
        #expect(rolled.kpis == raw.kpis)
        #expect(rolled.deviceStates == raw.deviceStates)
        #expect(Set(rolled.broadcasts) == Set(raw.broadcasts))
        // Enum-keyed dictionaries encode in hash order, so the JSON is not compared; every part is.
        #expect(rolled.alarms == raw.alarms)
        #expect(rolled.problems == raw.problems)
        #expect(rolled.period == raw.period && rolled.scopeName == raw.scopeName)
    }

    @Test(arguments: Engine.allCases) func rollupsEqualTheRawReport(_ engine: Engine) throws {
        let db = try engine.open()
        // October and November are kept from the start (every write maintains them); September is
        // built from the raw tables when first asked for.
        try ReportRollups(db).build(month: Self.oct)
        try ReportRollups(db).build(month: Self.nov)
        try Self.populate(db, seed: 16)
        let closed = Self.nov.start.addingTimeInterval(20 * 86_400)
        let current = Self.cal.day(named: "2026-11-12")!.start.addingTimeInterval(12 * 3_600 + 34 * 60 + 56.789)
        for commune in [nil, "xa0", "xa1"] {
            try Self.expectSame(db, month: "2026-10", commune: commune, now: closed)
            try Self.expectSame(db, month: "2026-11", commune: commune, now: current)
            try Self.expectSame(db, month: "2026-09", commune: commune, now: closed)
        }
        // The report is not the same as a month ago's: something was counted.
        let r = try MonthlyReport.build(db, month: "2026-10", now: closed)
        #expect(r.kpis.deployment.oneStop.ticketsIssued > 0 && !r.broadcasts.isEmpty)
        #expect((r.kpis.deployment.uptimeByClass[.speaker]?.offline ?? 0) > 0)

        // Built again from the raw tables (a backfill), the same.
        try db.store.write { c in
            for t in ["report_rollup_months", "uptime_months", "playback_months", "playback_occurrences", "kiosk_months"] {
                try c.execute(sql: "DELETE FROM \(t)")
            }
        }
        try Self.expectSame(db, month: "2026-10", commune: nil, now: closed)
        try Self.expectSame(db, month: "2026-11", commune: nil, now: current)
    }

    /// More seeds, SQLite only (the engines' equality is the test above).
    @Test(arguments: [1, 2, 3] as [UInt64]) func seededHistories(_ seed: UInt64) throws {
        let db = try Engine.sqlite.open()
        try ReportRollups(db).build(month: Self.oct)
        try Self.populate(db, seed: seed)
        try Self.expectSame(db, month: "2026-10", commune: nil, now: Self.nov.start.addingTimeInterval(86_400))
        try Self.expectSame(db, month: "2026-11", commune: "xa1", now: Self.nov.start.addingTimeInterval(86_400 * 2.5))
    }
}
