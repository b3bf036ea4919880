import Foundation
import GRDB
import Testing
@testable import WardController
import WardDomain
import WardStorage

/// October 2026 in Xã An Phú, built by hand. Every expected figure is worked out in a comment.
///
/// Villages: Thôn Đông (loa-1, loa-3 removed 11/10, cam-1, AP at the cultural house),
/// Thôn Tây (loa-2 installed 16/10, a market with no AP), Thôn Bắc (no devices at all).
/// A kiosk at the one-stop office (not a designated Wi-Fi site).
@Suite struct MonthlyReportTests {
    static func vn(_ s: String) -> Date {
        let f = ISO8601DateFormatter()
        return f.date(from: s + "+07:00")!
    }

    static let h = 3600.0

    static func makeDatabase() throws -> WardDatabase {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("t.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "dong", level: .village, name: "Thôn Đông", parentID: "an-phu"),
            Place(id: "tay", level: .village, name: "Thôn Tây", parentID: "an-phu"),
            Place(id: "bac", level: .village, name: "Thôn Bắc", parentID: "an-phu"),
            Place(id: "cot-dong", level: .site, name: "Cột loa Đầu làng", parentID: "dong", siteKind: .pole),
            Place(id: "cong-dong", level: .site, name: "Cổng làng Đông", parentID: "dong", siteKind: .villageEntrance),
            Place(id: "nvh-dong", level: .site, name: "Nhà văn hóa thôn Đông", parentID: "dong", siteKind: .culturalHouse),
            Place(id: "cot-tay", level: .site, name: "Cột loa chợ Tây", parentID: "tay", siteKind: .pole),
            Place(id: "cho-tay", level: .site, name: "Chợ Tây", parentID: "tay", siteKind: .market),
            Place(id: "mot-cua", level: .site, name: "Bộ phận Một cửa", parentID: "an-phu", siteKind: .oneStopOffice),
        ])
        let sep1 = vn("2026-09-01T00:00:00")
        try DeviceRepository(db).upsert([
            Device(id: "loa-1", deviceClass: .speaker, siteID: "cot-dong", registeredAt: sep1),
            Device(id: "loa-2", deviceClass: .speaker, siteID: "cot-tay", installedOn: vn("2026-10-16T00:00:00"), registeredAt: vn("2026-10-01T00:00:00")),
            Device(id: "loa-3", deviceClass: .speaker, siteID: "cot-dong", registeredAt: sep1),
            Device(id: "cam-1", deviceClass: .camera, siteID: "cong-dong", registeredAt: sep1),
            Device(id: "ap-1", deviceClass: .accessPoint, siteID: "nvh-dong", registeredAt: sep1),
            Device(id: "kiosk-1", deviceClass: .kiosk, siteID: "mot-cua", registeredAt: sep1),
        ])
        _ = try DeviceRepository(db).remove("loa-3", at: vn("2026-10-11T00:00:00"))

        try db.pool.write { d in
            func iv(_ dev: String, _ state: String, _ faults: String, _ from: String, _ to: String?) throws {
                try d.execute(sql: "INSERT INTO state_intervals (device_id, state, faults, started_at, ended_at) VALUES (?, ?, ?, ?, ?)",
                              arguments: [dev, state, faults, Int64(vn(from).timeIntervalSince1970 * 1000),
                                          to.map { Int64(vn($0).timeIntervalSince1970 * 1000) }])
            }
            // loa-1: offline one whole day (10/10).
            try iv("loa-1", "ok", "[]", "2026-10-01T00:00:00", "2026-10-10T00:00:00")
            try iv("loa-1", "offline", #"[{"code":"last_will"}]"#, "2026-10-10T00:00:00", "2026-10-11T00:00:00")
            try iv("loa-1", "ok", "[]", "2026-10-11T00:00:00", nil)
            // loa-2: from installation; an outage from 31/10 12:00 to 2/11 12:00 spans the month boundary.
            try iv("loa-2", "ok", "[]", "2026-10-16T00:00:00", "2026-10-31T12:00:00")
            try iv("loa-2", "offline", #"[{"code":"silent"}]"#, "2026-10-31T12:00:00", "2026-11-02T12:00:00")
            try iv("loa-2", "ok", "[]", "2026-11-02T12:00:00", nil)
            // loa-3: fine until removed on 11/10.
            try iv("loa-3", "ok", "[]", "2026-09-01T00:00:00", "2026-10-11T00:00:00")
            // cam-1: online all month, not recording for one day.
            try iv("cam-1", "ok", "[]", "2026-10-01T00:00:00", "2026-10-05T00:00:00")
            try iv("cam-1", "degraded", #"[{"code":"not_recording"}]"#, "2026-10-05T00:00:00", "2026-10-06T00:00:00")
            try iv("cam-1", "ok", "[]", "2026-10-06T00:00:00", nil)
            // ap-1: uplink down 12 h.
            try iv("ap-1", "ok", "[]", "2026-10-01T00:00:00", "2026-10-20T00:00:00")
            try iv("ap-1", "degraded", #"[{"code":"uplink_down"}]"#, "2026-10-20T00:00:00", "2026-10-20T12:00:00")
            try iv("ap-1", "ok", "[]", "2026-10-20T12:00:00", nil)
            try iv("kiosk-1", "ok", "[]", "2026-10-01T00:00:00", nil)

            // Broadcast items: the commune's morning bulletin and two village bulletins.
            func item(_ id: String, _ title: String, _ target: String) throws {
                try d.execute(sql: """
                    INSERT INTO broadcast_items (id, title, level, programme, duration_s, recurrence, target, status, created_by, created_at)
                    VALUES (?, ?, 'normal', '{}', 300, '{}', ?, 'approved', 'vh', 0)
                    """, arguments: [id, title, target])
            }
            try item("sang", "Bản tin sáng", #"{"communes":["an-phu"],"villages":[],"groups":[],"speakers":[]}"#)
            try item("tb-dong", "Thông báo thôn Đông", #"{"communes":[],"villages":["dong"],"groups":[],"speakers":[]}"#)
            try item("tb-tay", "Thông báo thôn Tây", #"{"communes":[],"villages":["tay"],"groups":[],"speakers":[]}"#)
            func play(_ item: String, _ at: String, _ speaker: String, started: Bool) throws {
                let ms = Int64(vn(at).timeIntervalSince1970 * 1000)
                for ev in started ? ["scheduled", "started"] : ["scheduled"] {
                    try d.execute(sql: """
                        INSERT INTO playback_log (item_id, scheduled_start, speaker_id, event, at, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [item, ms, speaker, ev, ms, ms])
                }
            }
            for day in 1...31 {
                let date = String(format: "2026-10-%02dT06:00:00", day)
                try play("sang", date, "loa-1", started: day != 10)              // 30 of 31
                if day >= 16 { try play("sang", date, "loa-2", started: day != 20) }  // 15 of 16
            }
            try play("sang", "2026-11-01T06:00:00", "loa-1", started: true)      // November: not counted
            try play("tb-dong", "2026-10-15T18:00:00", "loa-1", started: true)
            try play("tb-tay", "2026-10-25T18:00:00", "loa-2", started: false)

            // Kiosk: 2 tickets a day; the last one at 23:59:59 on 31/10, one more at 00:00:00 on 1/11.
            var seq = 0  // events count their own sequence (one event, one number)
            func event(_ type: String, _ at: String, wait: Double? = nil, rating: String? = nil) throws {
                let ms = Int64(vn(at).timeIntervalSince1970 * 1000)
                seq += 1
                try d.execute(sql: """
                    INSERT INTO device_events (device_id, boot, seq, type, occurred_at, received_at, wait_s, rating)
                    VALUES ('kiosk-1', 'b', ?, ?, ?, ?, ?, ?)
                    """, arguments: [seq, type, ms, ms, wait, rating])
            }
            for day in 1...30 {
                try event("ticket_issued", String(format: "2026-10-%02dT08:00:00", day))
                try event("ticket_issued", String(format: "2026-10-%02dT09:00:00", day))
            }
            try event("ticket_issued", "2026-10-31T08:00:00")
            try event("ticket_issued", "2026-10-31T23:59:59")
            try event("ticket_issued", "2026-11-01T00:00:00")
            for i in 1...10 { try event("ticket_served", String(format: "2026-10-%02dT10:00:00", i), wait: Double(i * 60)) }
            let ratings = Array(repeating: "very_satisfied", count: 7) + Array(repeating: "satisfied", count: 11) + ["neutral", "dissatisfied"]
            for (i, r) in ratings.enumerated() { try event("rating_submitted", String(format: "2026-10-%02dT11:00:00", i + 1), rating: r) }
        }

        // Alarms: loa-1's day offline (acked after 30 min), a village outage in Thôn Đông (acked after 1 h,
        // cleared after 3 h), and loa-2's outage still open when October ends.
        let repo = AlarmRepository(db)
        let a1 = Alarm(kind: .offline, severity: .major, deviceID: "loa-1", deviceClass: .speaker, villageID: "dong", communeID: "an-phu",
                       since: vn("2026-10-10T00:00:00"), raisedAt: vn("2026-10-10T00:05:00"))
        let a3 = Alarm(kind: .villageOutage, severity: .major, villageID: "dong", communeID: "an-phu", members: ["loa-1", "cam-1", "ap-1"],
                       since: vn("2026-10-20T08:00:00"), raisedAt: vn("2026-10-20T08:05:00"))
        let a2 = Alarm(kind: .offline, severity: .major, deviceID: "loa-2", deviceClass: .speaker, villageID: "tay", communeID: "an-phu",
                       since: vn("2026-10-31T12:00:00"), raisedAt: vn("2026-10-31T12:05:00"))
        let stored = try repo.apply([.raised(a1), .raised(a3), .raised(a2)]).map(\.alarm)
        _ = try repo.acknowledge(stored[0].id!, by: "kt-minh", at: vn("2026-10-10T00:35:00"), note: "đã cử người / sent someone")
        _ = try repo.acknowledge(stored[1].id!, by: "kt-minh", at: vn("2026-10-20T09:05:00"), note: nil)
        var c1 = a1; c1.clearedAt = vn("2026-10-11T00:00:00"); c1.clearReason = "recovered"
        var c3 = a3; c3.clearedAt = vn("2026-10-20T11:05:00"); c3.clearReason = "recovered"
        var c2 = a2; c2.clearedAt = vn("2026-11-02T12:00:00"); c2.clearReason = "recovered"
        try repo.apply([.cleared(c1), .cleared(c3), .cleared(c2)])
        // And one acknowledged in November: outside October's figures.
        return db
    }

    @Test func octoberKPIsMatchTheHandWorkedFigures() throws {
        let db = try Self.makeDatabase()
        let now = Self.vn("2026-11-05T08:00:00")
        let r = try MonthlyReport.build(db, month: "2026-10", now: now)
        #expect(r.period.start == Self.vn("2026-10-01T00:00:00") && r.period.end == Self.vn("2026-11-01T00:00:00"))
        let k = r.kpis.deployment
        func v(_ id: KPIID) -> KPIValue { k.kpi(id)! }

        // Loudspeaker coverage: Đông (loa-1 available 30/31 = 96.8% ≥ 95%, played 30/31 ≥ 80%) and
        // Tây (loa-2 from 16/10: 372 h of 384 h = 96.9%, played 15/16) are covered; Bắc has no speaker.
        // 2/3 = 66.7%, not > 80%.
        #expect(v(.loudspeakerCoverage).numerator == 2 && v(.loudspeakerCoverage).denominator == 3)
        #expect(v(.loudspeakerCoverage).met == false)
        #expect(v(.loudspeakerCoverage).misses.map(\.placeID) == ["bac"])
        // Village bulletins: only Đông's played (Tây's was missed, Bắc had none): 1/3.
        #expect(v(.villageBulletin).numerator == 1 && v(.villageBulletin).denominator == 3)
        #expect(Set(v(.villageBulletin).misses.map(\.placeID)) == ["tay", "bac"])
        // Cameras: cam-1 recording 30 of 31 days = 96.8% ≥ 95% → Đông covered; 1/3, target 100% not met.
        #expect(v(.cameraCoverage).numerator == 1 && v(.cameraCoverage).met == false)
        // Wi-Fi: the cultural house's AP worked 732/744 h = 98.4%; the market has none: 1/2.
        #expect(v(.wifiCoverage).value == 0.5)
        #expect(v(.wifiCoverage).misses.map(\.placeID) == ["cho-tay"])
        // Satisfaction: (7 + 11) / 20 = 90%, target ≥ 90%: met.
        #expect(v(.satisfaction).value == 0.9 && v(.satisfaction).met == true)
        // Reach: sang 30/31 + 15/16, tb-dong 1/1, tb-tay 0/1 → 46/49.
        #expect(v(.broadcastReach).numerator == 46 && v(.broadcastReach).denominator == 49)
        // Speaker availability, device-time weighted: loa-1 720/744 h, loa-2 372/384 h, loa-3 (removed 11/10) 240/240 h.
        let sp = v(.speakerAvailability)
        #expect(sp.denominator == (744 + 384 + 240) * Self.h && sp.numerator == (720 + 372 + 240) * Self.h)
        // One-stop: 62 tickets in 31 days = 2/day; waits 1..10 min: mean 5.5 min, P90 (nearest rank 9) 9 min.
        #expect(k.oneStop.ticketsIssued == 62 && k.oneStop.ticketsPerDay == 2)
        #expect(k.oneStop.meanWaitSeconds == 330 && k.oneStop.p90WaitSeconds == 540)

        // Devices at the end of October: loa-2 offline, loa-3 removed (not counted).
        #expect(r.deviceStates[.speaker]?.total == 2 && r.deviceStates[.speaker]?.offline == 1)
        // Alarms: 3 raised; acknowledged 2 (30 min, 60 min → 45 min); cleared within October 2
        // (23 h 55 min and 3 h → 48,450 s); loa-2's is still open at the end of the month.
        #expect(r.alarms.raised == 3 && r.alarms.acknowledged == 2 && r.alarms.cleared == 2)
        #expect(r.alarms.meanTimeToAcknowledge == 2700 && r.alarms.meanTimeToClear == 48_450)
        #expect(r.problems.map(\.subject) == ["loa-2"])
        // Broadcasts with reach.
        let sang = r.broadcasts.first { $0.item == "sang" }
        #expect(sang?.occurrences == 31 && sang?.played == 45 && sang?.targeted == 47)
    }

    @Test func novemberGetsTheRestOfTheOutageAndTheMidnightTicket() throws {
        let db = try Self.makeDatabase()
        let now = Self.vn("2026-11-03T00:00:00")
        let r = try KPIService(db).report(period: DateInterval(start: Self.vn("2026-11-01T00:00:00"), end: now), now: now)
        // loa-2 offline 1/11 00:00 → 2/11 12:00 = 36 h of 48 h; loa-1 ok 48 h: (12 + 48) / 96.
        let sp = r.deployment.kpi(.speakerAvailability)!
        #expect(sp.numerator == 60 * Self.h && sp.denominator == 96 * Self.h)
        #expect(r.deployment.oneStop.ticketsIssued == 1)
        // No commune programme counted except 1/11 on loa-1: Tây's speaker was not available ≥ 95%.
        #expect(r.deployment.villages.first { $0.id == "tay" }?.loudspeakerCovered == false)
    }

    /// A play is sent ahead (lead time) and logged `scheduled` before it is due: until its start,
    /// it is not a miss. The report and /kpi used to disagree in that window (6/9 against 6/6).
    @Test func playsNotDueYetDoNotCountInTheReport() throws {
        let db = try Self.makeDatabase()
        let now = Self.vn("2026-11-01T06:55:00")
        let ms = Int64(Self.vn("2026-11-01T07:00:00").timeIntervalSince1970 * 1000)
        try db.pool.write {
            try $0.execute(sql: "INSERT INTO playback_log (item_id, scheduled_start, speaker_id, event, at, recorded_at) VALUES ('sang', ?, 'loa-1', 'scheduled', ?, ?)",
                           arguments: [ms, ms - 600_000, ms - 600_000])
        }
        let report = try MonthlyReport.build(db, month: "2026-11", now: now)
        let kpi = try KPIService(db).report(period: DateInterval(start: Self.vn("2026-11-01T00:00:00"), end: now), now: now)
        #expect(report.kpis.deployment.kpi(.broadcastReach)?.denominator == kpi.deployment.kpi(.broadcastReach)?.denominator)
        #expect(report.broadcasts.first { $0.item == "sang" }.map { ($0.targeted, $0.played) }.map { $0 == (1, 1) } ?? false,
                "only 1/11 06:00 so far: \(report.broadcasts)")
    }

    /// A priority item cut a normal bulletin after 4 s of 13 s and the bulletin still counted
    /// 100 % reach. An interrupted play is not a completed play: the report, the KPI and the
    /// day's playback log count it as interrupted, not played.
    @Test func anInterruptedPlayIsNotReach() throws {
        let db = try Self.makeDatabase()
        let start = Self.vn("2026-11-01T07:00:00")
        let key = PlayKey(item: "bi-ngat", start: start)
        try PlaybackRepository(db).append([
            PlaybackEntry(key: key, speaker: "loa-1", event: .scheduled, at: start - 600),
            PlaybackEntry(key: key, speaker: "loa-1", event: .started, at: start),
            PlaybackEntry(key: key, speaker: "loa-1", event: .interrupted, at: start + 4, reason: .preempted, by: "uu-tien@1"),
        ], recordedAt: start + 4)
        let now = Self.vn("2026-11-02T00:00:00")
        let report = try MonthlyReport.build(db, month: "2026-11", now: now)
        let line = try #require(report.broadcasts.first { $0.item == "bi-ngat" })
        #expect((line.targeted, line.played, line.interrupted) == (1, 0, 1), "\(line)")
        let kpi = try KPIService(db).report(period: DateInterval(start: Self.vn("2026-11-01T00:00:00"), end: now), now: now)
        let before = try MonthlyReportTests.reachNumerator(try Self.makeDatabase(), now: now)
        #expect(kpi.deployment.kpi(.broadcastReach)?.numerator == before, "the cut play adds nothing to reach")
        let day = try PlaybackLogReport.build(db, day: LocalDay("2026-11-01")!)
        let reach = try #require(day.items.first { $0.item == "bi-ngat" }?.reach)
        #expect(reach == Reach(targeted: 1, played: 0, interrupted: 1))
        #expect(day.rows.first { $0.item == "bi-ngat" }?.outcome == "interrupted:preempted")
        #expect(ReportRenderer().html(report).contains("0 / 1 (1 bị ngắt)"))
    }

    static func reachNumerator(_ db: WardDatabase, now: Date) throws -> Double? {
        try KPIService(db).report(period: DateInterval(start: vn("2026-11-01T00:00:00"), end: now), now: now).deployment.kpi(.broadcastReach)?.numerator
    }

    @Test func reportsRenderInBothLanguagesAndFormats() throws {
        let db = try Self.makeDatabase()
        let r = try MonthlyReport.build(db, month: "2026-10", now: Self.vn("2026-11-05T08:00:00"))
        let html = ReportRenderer().html(r)
        #expect(html.contains("<html lang=\"vi\">") && html.contains("@page { size: A4"))
        #expect(html.contains("BÁO CÁO THÁNG 10/2026") && html.contains("Thôn Bắc") && html.contains("Chưa đạt"))
        #expect(html.contains("Mất kết nối") || html.contains("mất kết nối"))
        let en = ReportRenderer(language: .en).html(r)
        #expect(en.contains("MONTHLY REPORT 2026-10") && en.contains("Not met") && en.contains("Open problems"))
        let csv = ReportRenderer().csv(r)
        #expect(csv.hasPrefix("section,scope,key,name,value,target,met,detail\r\n"))
        #expect(csv.contains("kpi,*,satisfaction,") && csv.contains("Thôn Bắc"))
        let json = try JSONSerialization.jsonObject(with: ReportRenderer().json(r)) as? [String: Any]
        #expect(json?["month"] as? String == "2026-10")
    }

    /// Printed, the report is an administrative document (Nghị định 30/2020): national name and
    /// motto, issuing body, number, place and date, sections numbered without gaps, signature
    /// block, page numbers; a month not over yet says its figures are provisional.
    @Test func printedReportsCarryTheAdministrativeHeader() throws {
        let db = try Self.makeDatabase()
        let now = Self.vn("2026-11-05T08:00:00")
        let commune = try MonthlyReport.build(db, month: "2026-10", commune: "an-phu", now: now)
        #expect(commune.issuer == MonthlyReport.Issuer(body: "Xã An Phú", parent: "Tỉnh Quảng Ninh", place: "An Phú"))
        #expect(!commune.provisional)
        let html = ReportRenderer().html(commune)
        for text in ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "<b class=\"tieungu\">Độc lập - Tự do - Hạnh phúc</b>", "ỦY BAN NHÂN DÂN", "XÃ AN PHÚ",
                     "Số: …/BC-UBND", "An Phú, ngày 05 tháng 11 năm 2026", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "(Ký, ghi rõ họ tên, đóng dấu)",
                     "Nơi nhận:", "@bottom-center", "counter(page)", "size: A4", "class=\"pagefoot\""] {
            #expect(html.contains(text), "\(text)")
        }
        #expect(html.contains(".tieungu { text-decoration: underline"))
        #expect(!html.contains("tạm tính"))
        // One commune: no "by commune" section, and the numbering has no gap.
        let numbers = html.components(separatedBy: "<h2>").dropFirst().map { $0.prefix(while: { $0 != "." }) }
        #expect(numbers == ["I", "II", "III", "IV", "V", "VI", "VII"], "\(numbers)")
        // The deployment's report is the province's; the month still running is provisional.
        let running = try MonthlyReport.build(db, month: "2026-11", now: now)
        #expect(running.issuer?.body == "Tỉnh Quảng Ninh" && running.issuer?.place == "Quảng Ninh" && running.provisional)
        let vi = ReportRenderer().html(running)
        #expect(vi.contains("TỈNH QUẢNG NINH") && vi.contains("Quảng Ninh, ngày 05 tháng 11 năm 2026"))
        #expect(vi.contains("Số liệu tạm tính — tháng chưa kết thúc"))
        let en = ReportRenderer(language: .en).html(running)
        for text in ["SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness", "No.: …/BC-UBND", "Quảng Ninh, 5 November 2026",
                     "Provisional — the month is not over", "CHAIRPERSON", "\"Page \" counter(page)"] {
            #expect(en.contains(text), "\(text)")
        }
        #expect(ReportRenderer().dateLine(place: "Cẩm La", Self.vn("2026-02-03T10:00:00")) == "Cẩm La, ngày 03 tháng 02 năm 2026")
        #expect(ReportRenderer().dateLine(place: "Cẩm La", Self.vn("2026-12-15T10:00:00")) == "Cẩm La, ngày 15 tháng 12 năm 2026")
    }

    @Test func scheduledReportIsMadeOnTheDayAndKept() async throws {
        let db = try Self.makeDatabase()
        let clock = ManualTimeSource(Self.vn("2026-11-04T23:59:00"))
        var config = ReportScheduleConfiguration()
        config.day = 5
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-reports-\(UUID().uuidString)").path
        config.directory = dir
        let s = ReportScheduler(database: db, clock: clock, configuration: config)
        #expect(try await s.generateIfDue() == nil)
        clock.set(Self.vn("2026-11-05T00:00:00"))
        #expect(try await s.generateIfDue() == "2026-10")
        #expect(try await s.generateIfDue() == nil)  // kept: not made twice
        let kept = try ReportRepository(db).list()
        #expect(Set(kept.map { "\($0.format)-\($0.lang)" }) == ["html-vi", "html-en", "csv-vi", "csv-en", "json-vi"])
        #expect(FileManager.default.fileExists(atPath: dir + "/2026-10/bao-cao-2026-10-all-vi.html"))
        let body = try ReportRepository(db).body(month: "2026-10", scope: "*", format: "html", lang: "vi")
        #expect(body.map { String(decoding: $0, as: UTF8.self).contains("Xã An Phú") } == true)
    }

    @Test func badMonthsAreRefused() throws {
        let db = try Self.makeDatabase()
        #expect(throws: ReportError.badMonth("2026-13")) { try MonthlyReport.build(db, month: "2026-13", now: Date()) }
        #expect(throws: ReportError.future("2027-01")) { try MonthlyReport.build(db, month: "2027-01", now: Self.vn("2026-11-05T00:00:00")) }
    }
}
