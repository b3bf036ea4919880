import ArgumentParser
import Foundation
import GRDB
import WardController
import WardDomain
import WardStorage
#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Monthly report for a province-sized fleet: time to compute it from the roll-ups and from the raw tables.",
            discussion: """
                Builds (or reuses) a database with DEVICES devices in communes of 60 (30 speakers, 15 cameras, 13 APs, \
                2 kiosks; 10 villages each) and DAYS days of history: an outage or fault every 5 days on average per device, a daily \
                commune bulletin and a weekly village bulletin in the playback log, queue tickets and ratings, alarms. \
                The history is written straight into the raw tables, so the month's roll-ups are then built from them once \
                (timed: what a backfill of one month costs). Each run times MonthlyReport.build from the roll-ups and from the \
                raw tables (today's computation, the baseline), cold and warm: cold is a new connection pool after the database \
                files were dropped from the OS page cache (posix_fadvise DONTNEED: no root needed, nothing else evicted); \
                warm is the same build again. The two reports are checked equal. Also times the HTML rendering.
                """)

        @Option(help: "Devices.") var devices = 20_000
        @Option(help: "Days of history (ending at the month's end).") var days = 30
        @Option(help: "Runs; medians reported.") var runs = 5
        @Option(help: "Database file (reused if it exists with the same size; default: a temporary file).") var db: String?

        func run() async throws {
            let path = db ?? FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-bench-report-\(devices)-\(days).sqlite").path
            let month = "2026-10"
            let cal = LocalCalendar.vietnam
            let period = cal.month(named: month)!
            let database = try WardDatabase(path: path)
            let existing = try await database.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM devices") ?? 0 }
            if existing != devices {
                if existing != 0 { throw ValidationError("\(path) holds another fleet; remove it or pass --db") }
                let t0 = ContinuousClock.now
                try ProvinceHistory(devices: devices, days: days, end: period.end).write(database)
                print("built \(path) in \(ContinuousClock.now - t0)")
            }
            let counts = try await database.pool.read { db in
                try ["devices", "state_intervals", "playback_log", "device_events", "alarms"].map {
                    "\($0) \(try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0)") ?? 0)"
                }
            }
            print("fleet: " + counts.joined(separator: ", "))
            let now = period.end.addingTimeInterval(4 * 86_400)
            let b0 = ContinuousClock.now
            if try ReportRollups(database).build(month: period, now: now) {
                print(String(format: "month's roll-ups built from the raw tables (backfill) in %.3f s", (ContinuousClock.now - b0).inSeconds))
            } else {
                print("month's roll-ups already built")
            }
            try await database.pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }

            func timed(_ body: () throws -> MonthlyReport) rethrows -> (Double, MonthlyReport) {
                let t0 = ContinuousClock.now
                let r = try body()
                return ((ContinuousClock.now - t0).inSeconds, r)
            }
            var coldRaw: [Double] = [], warmRaw: [Double] = [], coldRoll: [Double] = [], warmRoll: [Double] = [], render: [Double] = []
            var last: MonthlyReport?
            for i in 1...runs {
                Self.evict(path)
                let rawDB = try WardDatabase(path: path)
                let (cr, raw) = try timed { try MonthlyReport.build(rawDB, month: month, now: now, source: .raw) }
                let (wr, _) = try timed { try MonthlyReport.build(rawDB, month: month, now: now, source: .raw) }
                Self.evict(path)
                let rollDB = try WardDatabase(path: path)
                let (cl, rolled) = try timed { try MonthlyReport.build(rollDB, month: month, now: now, source: .rollups) }
                let (wl, _) = try timed { try MonthlyReport.build(rollDB, month: month, now: now, source: .rollups) }
                guard rolled.kpis == raw.kpis, rolled.deviceStates == raw.deviceStates, Set(rolled.broadcasts) == Set(raw.broadcasts),
                      rolled.alarms == raw.alarms, rolled.problems == raw.problems else { throw ValidationError("the report from the roll-ups differs from the raw one") }
                let t1 = ContinuousClock.now
                let html = ReportRenderer().html(rolled)
                render.append((ContinuousClock.now - t1).inSeconds)
                coldRaw.append(cr); warmRaw.append(wr); coldRoll.append(cl); warmRoll.append(wl)
                last = rolled
                print(String(format: "run %d: roll-ups cold %.3f s, warm %.3f s | raw tables cold %.3f s, warm %.3f s | html %.3f s (%d KB) | same report",
                             i, cl, wl, cr, wr, render.last!, html.utf8.count / 1024))
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            func line(_ xs: [Double]) -> String { String(format: "%.3f s (%.3f–%.3f)", median(xs), xs.min()!, xs.max()!) }
            if let r = last {
                let d = r.kpis.deployment
                print("deployment: \(r.kpis.communes.count) communes, \(d.villages.count) villages; loudspeaker coverage "
                      + "\(Render.percent(d.kpi(.loudspeakerCoverage)?.value)), reach \(Render.percent(d.kpi(.broadcastReach)?.value)), "
                      + "\(r.alarms.raised) alarms, \(r.problems.count) open problems")
            }
            print("median of \(runs) (range): roll-ups warm \(line(warmRoll)) (target < 0.5 s), cold \(line(coldRoll)) (target < 2 s); "
                  + "raw tables warm \(line(warmRaw)), cold \(line(coldRaw)); html \(line(render))")
        }

        static func json(_ r: MonthlyReport) throws -> Data {
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            return try e.encode(r)
        }

        /// Drops the database's files from the OS page cache (and writes nothing else).
        static func evict(_ path: String) {
            for f in [path, path + "-wal", path + "-shm"] {
                let fd = open(f, O_RDONLY)
                guard fd >= 0 else { continue }
                fdatasync(fd)
                _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
                close(fd)
            }
        }
    }
}

/// A province's month, generated deterministically.
struct ProvinceHistory {
    var devices: Int
    var days: Int
    var end: Date

    func write(_ database: WardDatabase) throws {
        var rng = SeededRandom(seed: 2026)  // the same fleet every time
        let communes = max(1, (devices + 59) / 60)
        var places: [Place] = [Place(id: "tinh", level: .province, name: "Tỉnh Quảng Ninh")]
        var fleet: [Device] = []
        let start = end.addingTimeInterval(-Double(days) * 86_400)
        let registered = start.addingTimeInterval(-30 * 86_400)
        for c in 0..<communes {
            let cid = "xa\(c)"
            places.append(Place(id: cid, level: .commune, name: "Xã Số \(c) Đông Triều", parentID: "tinh"))
            places.append(Place(id: "\(cid)-motcua", level: .site, name: "Bộ phận Một cửa", parentID: cid, siteKind: .oneStopOffice))
            places.append(Place(id: "\(cid)-ubnd", level: .site, name: "Trụ sở UBND", parentID: cid, siteKind: .communeOffice))
            places.append(Place(id: "\(cid)-truong", level: .site, name: "Trường Tiểu học", parentID: cid, siteKind: .school))
            places.append(Place(id: "\(cid)-tram", level: .site, name: "Trạm Y tế", parentID: cid, siteKind: .healthStation))
            var inCommune: [Device] = []
            for v in 0..<10 {
                let vid = "\(cid)-t\(v)"
                places.append(Place(id: vid, level: .village, name: "Thôn \(v) Hòa Bình", parentID: cid))
                places.append(Place(id: "\(vid)-nvh", level: .site, name: "Nhà văn hóa thôn \(v)", parentID: vid, siteKind: .culturalHouse))
                places.append(Place(id: "\(vid)-cong", level: .site, name: "Cổng làng \(v)", parentID: vid, siteKind: .villageEntrance))
                for p in 0..<3 {
                    places.append(Place(id: "\(vid)-cot\(p)", level: .site, name: "Cột loa \(p)", parentID: vid, siteKind: .pole))
                    inCommune.append(Device(id: "\(vid)-loa\(p)", deviceClass: .speaker, siteID: "\(vid)-cot\(p)", registeredAt: registered))
                }
                for k in 0..<(v < 5 ? 2 : 1) {
                    inCommune.append(Device(id: "\(vid)-cam\(k)", deviceClass: .camera, siteID: "\(vid)-cong", registeredAt: registered))
                }
                inCommune.append(Device(id: "\(vid)-ap", deviceClass: .accessPoint, siteID: "\(vid)-nvh", registeredAt: registered))
            }
            for s in ["ubnd", "truong", "tram"] {
                inCommune.append(Device(id: "\(cid)-ap-\(s)", deviceClass: .accessPoint, siteID: "\(cid)-\(s)", registeredAt: registered))
            }
            inCommune.append(Device(id: "\(cid)-kiosk-q", deviceClass: .kiosk, siteID: "\(cid)-motcua", registeredAt: registered))
            inCommune.append(Device(id: "\(cid)-kiosk-r", deviceClass: .kiosk, siteID: "\(cid)-motcua", registeredAt: registered))
            fleet += inCommune
        }
        try PlaceRepository(database).upsert(places)
        try DeviceRepository(database).upsert(Array(fleet.prefix(devices)))
        let ms = { (d: Date) in Int64(d.timeIntervalSince1970 * 1000) }
        // A transaction per 200 devices: one for a province's year would outgrow the page cache and
        // spend its time looking pages up in the write-ahead log.
        var seq = 0  // each kiosk event its own sequence number (device_events_once)
        let written = Array(fleet.prefix(devices))
        for first in stride(from: 0, to: written.count, by: 200) {
            try database.pool.write { db in
                let iv = try db.makeStatement(sql: "INSERT INTO state_intervals (device_id, state, faults, started_at, ended_at) VALUES (?, ?, ?, ?, ?)")
                let log = try db.makeStatement(sql: """
                    INSERT INTO playback_log (item_id, scheduled_start, speaker_id, event, at, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
                    """)
                let ev = try db.makeStatement(sql: """
                    INSERT INTO device_events (device_id, boot, seq, type, occurred_at, received_at, wait_s, rating) VALUES (?, 'b', ?, ?, ?, ?, ?, ?)
                    """)
                let alarm = try db.makeStatement(sql: """
                    INSERT INTO alarms (subject, kind, severity, device_id, device_class, village_id, commune_id, since, raised_at, acked_by, acked_at, cleared_at)
                    VALUES (?, 'offline', 'major', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for d in written[first..<min(first + 200, written.count)] {
                    // Outages: on average one every five days, 5 min to 4 h; a third of camera faults are "not recording".
                    var t = start
                    let commune = String(d.id.prefix { $0 != "-" })
                    let village = d.id.split(separator: "-").count > 2 ? d.id.split(separator: "-").prefix(2).joined(separator: "-") : nil
                    while t < end {
                        let okFor = Double(rng.next() % 864_000) + 3_600
                        let okEnd = min(end, t.addingTimeInterval(okFor))
                        try iv.execute(arguments: [d.id, "ok", "[]", ms(t), ms(okEnd)])
                        t = okEnd
                        guard t < end else { break }
                        let badFor = Double(rng.next() % 14_400) + 300
                        let badEnd = min(end, t.addingTimeInterval(badFor))
                        let degraded = d.deviceClass == .camera && rng.next() % 3 == 0
                        try iv.execute(arguments: [d.id, degraded ? "degraded" : "offline",
                                                   degraded ? #"[{"code":"not_recording"}]"# : #"[{"code":"last_will"}]"#, ms(t), ms(badEnd)])
                        if !degraded, badFor >= 1_800 {
                            let acked = rng.next() % 2 == 0
                            try alarm.execute(arguments: ["device:\(d.id)", d.id, d.deviceClass.rawValue, village, commune, ms(t), ms(t) + 300_000,
                                                          acked ? "kt" : nil, acked ? ms(t) + 900_000 : nil, ms(badEnd)])
                        }
                        t = badEnd
                    }
                    switch d.deviceClass {
                    case .speaker:
                        for day in 0..<days {
                            let at = start.addingTimeInterval(Double(day) * 86_400 + 6 * 3600)
                            let played = rng.next() % 20 != 0
                            for e in played ? ["scheduled", "started", "finished"] : ["scheduled"] {
                                try log.execute(arguments: ["ban-tin-\(commune)", ms(at), d.id, e, ms(at), ms(at)])
                            }
                            if day % 7 == 3, let village {
                                let vat = at.addingTimeInterval(12 * 3600)
                                for e in ["scheduled", "started", "finished"] {
                                    try log.execute(arguments: ["thong-bao-\(village)", ms(vat), d.id, e, ms(vat), ms(vat)])
                                }
                            }
                        }
                    case .kiosk where d.id.hasSuffix("-q"):
                        for day in 0..<days {
                            for n in 0..<40 {
                                let at = start.addingTimeInterval(Double(day) * 86_400 + 7.5 * 3600 + Double(n) * 600)
                                seq += 1; try ev.execute(arguments: [d.id, seq, "ticket_issued", ms(at), ms(at), nil, nil])
                                seq += 1; try ev.execute(arguments: [d.id, seq, "ticket_served", ms(at) + 900_000, ms(at) + 900_000, Double(rng.next() % 1800), nil])
                            }
                        }
                    case .kiosk:
                        let levels = ["very_satisfied", "satisfied", "satisfied", "neutral", "dissatisfied", "very_satisfied", "satisfied",
                                      "satisfied", "very_satisfied", "satisfied"]
                        for day in 0..<days {
                            for n in 0..<10 {
                                let at = start.addingTimeInterval(Double(day) * 86_400 + 8 * 3600 + Double(n) * 1800)
                                seq += 1; try ev.execute(arguments: [d.id, seq, "rating_submitted", ms(at), ms(at), nil, levels[Int(rng.next() % 10)]])
                            }
                        }
                    default: break
                    }
                }
            }
        }
        try database.pool.write { db in
            for c in 0..<communes {
                try db.execute(sql: """
                    INSERT INTO broadcast_items (id, title, level, programme, duration_s, recurrence, target, status, created_by, created_at)
                    VALUES (?, 'Bản tin sáng', 'normal', '{}', 600, '{}', ?, 'approved', 'vh', 0)
                    """, arguments: ["ban-tin-xa\(c)", #"{"communes":["xa\#(c)"],"villages":[],"groups":[],"speakers":[]}"#])
                for v in 0..<10 {
                    try db.execute(sql: """
                        INSERT INTO broadcast_items (id, title, level, programme, duration_s, recurrence, target, status, created_by, created_at)
                        VALUES (?, 'Thông báo thôn', 'normal', '{}', 300, '{}', ?, 'approved', 'vh', 0)
                        """, arguments: ["thong-bao-xa\(c)-t\(v)", #"{"communes":[],"villages":["xa\#(c)-t\#(v)"],"groups":[],"speakers":[]}"#])
                }
            }
        }
    }
}
