import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// Alarms, settings, the notifications outbox, monthly reports and KPI tallies, on both backends.
@Suite struct AlarmCoverageTests {
    func device(_ id: String, _ kind: AlarmKind = .offline, _ severity: AlarmSeverity = .major, commune: String? = "cam-la",
                raised: Double) -> Alarm {
        Alarm(kind: kind, severity: severity, deviceID: id, deviceClass: .speaker, villageID: "thon-cam-la", communeID: commune,
              detail: "mất kết nối đột ngột", since: at(raised - 5), raisedAt: at(raised))
    }

    @Test(arguments: Backend.allCases) func alarmsOverTheirWholeLife(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = AlarmRepository(db)
        var outage = Alarm(kind: .villageOutage, severity: .major, villageID: "thon-cam-la", communeID: "cam-la",
                           members: ["LOA-01", "LOA-02"], detail: "mất điện tại Thôn Cẩm La", since: at(15), raisedAt: at(20))
        let payload: (Alarm, String) -> String = { a, e in "\(e) #\(a.id ?? 0) \(a.detail)" }
        let stored = try repo.apply([.raised(device("LOA-01", raised: 10)), .raised(outage),
                                     .raised(device("KIOSK-01", .paperOut, .minor, commune: nil, raised: 30)),
                                     .raised(device("LOA-05", raised: 40))],
                                    notifying: ["hook"], at: at(40), payload: payload)
        let ids = stored.compactMap(\.alarm.id)
        #expect(ids.count == 4 && Set(ids).count == 4)
        let (a1, a2, a3, a5) = (ids[0], ids[1], ids[2], ids[3])
        #expect(try repo.get(a1) == { var a = device("LOA-01", raised: 10); a.id = a1; return a }())
        #expect(try repo.get(999) == nil)

        outage.members = ["LOA-01", "LOA-02", "CAM-01"]
        let changed = try repo.apply([.changed(outage)], notifying: ["hook"])
        #expect(changed.first?.alarm.id == a2)
        #expect(try repo.get(a2)?.members == ["LOA-01", "LOA-02", "CAM-01"])

        let acked = try repo.acknowledge(a1, by: "kythuat", at: at(60), note: "Đang cử người kiểm tra".decomposedStringWithCanonicalMapping)
        #expect(acked.ackedBy == "kythuat" && acked.ackedAt == at(60) && acked.ackNote == "Đang cử người kiểm tra")
        #expect(throws: AlarmStoreError.alreadyAcknowledged(a1, by: "kythuat")) { try repo.acknowledge(a1, by: "quantri", at: at(61), note: nil) }
        #expect(throws: AlarmStoreError.notFound(999)) { try repo.acknowledge(999, by: "quantri", at: at(61), note: nil) }
        try repo.acknowledge(a3, by: "kythuat", at: at(300), note: nil)
        try repo.markReminded(a2, at: at(90))
        try repo.markReminded(a2, at: at(95))
        #expect(try repo.get(a2)?.reminders == 2 && repo.get(a2)?.lastRemindedAt == at(95))

        var clear1 = device("LOA-01", raised: 10)
        clear1.clearedAt = at(120)
        clear1.clearReason = "recovered"
        let cleared = try repo.apply([.cleared(clear1)], notifying: ["hook"], at: at(120), payload: payload)
        #expect(cleared.first?.alarm.id == a1 && cleared.first?.alarm.ackedBy == "kythuat" && cleared.first?.alarm.ackedAt == at(60))
        #expect(throws: AlarmStoreError.alreadyCleared(a1)) { try repo.acknowledge(a1, by: "quantri", at: at(130), note: nil) }
        // Cleared "before" it was raised (a node's clock a little behind): counts no negative time.
        var clear5 = device("LOA-05", raised: 40)
        clear5.clearedAt = at(35)
        var clear3 = device("KIOSK-01", .paperOut, .minor, commune: nil, raised: 30)
        clear3.clearedAt = at(400)
        try repo.apply([.cleared(clear5), .cleared(clear3)])
        let later = try repo.apply([.raised(device("LOA-09", commune: "yen-giang", raised: 500))])
        let a4 = try #require(later.first?.alarm.id)
        try repo.acknowledge(a4, by: "vanhoa", at: at(510), note: nil)

        #expect(try repo.open().map(\.id) == [a2, a4])
        #expect(try repo.open(at: at(100)).map(\.id) == [a1, a2, a3])
        #expect(try repo.open(at: at(5)).isEmpty)
        #expect(try repo.list().map(\.id) == [a4, a5, a3, a2, a1])
        #expect(try repo.list(limit: 2).map(\.id) == [a4, a5])
        #expect(try repo.list(status: .active).map(\.id) == [a2])
        #expect(try repo.list(status: .acknowledged).map(\.id) == [a4])
        #expect(try repo.list(status: .cleared).map(\.id) == [a5, a3, a1])
        #expect(try repo.list(open: true).map(\.id) == [a4, a2])
        #expect(try repo.list(communes: ["cam-la"]).map(\.id) == [a5, a2, a1])
        #expect(try repo.list(status: .active, communes: ["yen-giang"]).isEmpty)
        #expect(try repo.list(communes: []).isEmpty)

        // Notices: four raised and one cleared went to the sink with the alarm; changes send none.
        let notices = try NotificationRepository(db).list()
        #expect(notices.map(\.event) == ["cleared", "raised", "raised", "raised", "raised"])
        #expect(notices.first?.payload == "cleared #\(a1) mất kết nối đột ngột" && notices.first?.alarmID == a1)

        // Only acknowledgements and clears inside the window count.
        let totals = Set(try repo.totals(raisedIn: window(0, 200)))
        #expect(totals == [
            .init(severity: .major, kind: .offline, commune: "cam-la", raised: 2, acknowledged: 1, ackSeconds: 50, cleared: 2, clearSeconds: 110),
            .init(severity: .major, kind: .villageOutage, commune: "cam-la", raised: 1, acknowledged: 0, ackSeconds: 0, cleared: 0, clearSeconds: 0),
            .init(severity: .minor, kind: .paperOut, commune: nil, raised: 1, acknowledged: 0, ackSeconds: 0, cleared: 0, clearSeconds: 0),
        ])
        let whole = try repo.totals(raisedIn: window(0, 1000)).first { $0.kind == .paperOut }
        #expect(whole?.acknowledged == 1 && whole?.ackSeconds == 270 && whole?.cleared == 1 && whole?.clearSeconds == 370)
        #expect(try repo.totals(raisedIn: window(2000, 3000)).isEmpty)
    }

    @Test(arguments: Backend.allCases) func notificationsOutbox(_ backend: Backend) throws {
        let db = try backend.open()
        let alarms = try AlarmRepository(db).apply([.raised(device("LOA-01", raised: 0)),
                                                    .raised(device("LOA-02", commune: "yen-giang", raised: 0))],
                                                   notifying: ["hook"], at: t0, payload: { _, e in "{\"sự_kiện\":\"\(e)\"}" })
        let repo = NotificationRepository(db)
        try repo.enqueue(alarm: nil, event: "test", sinks: [], payload: "không gửi", at: at(1))
        try repo.enqueue(alarm: nil, event: "test", sinks: ["hook", "email"], payload: "Thử thông báo", at: at(1))
        let all = try repo.list()
        #expect(all.count == 4)
        let (n1, n2, n3, n4) = (all[3].id, all[2].id, all[1].id, all[0].id)
        #expect(all[3].alarmID == alarms[0].alarm.id && all[3].payload == "{\"sự_kiện\":\"raised\"}" && all[3].status == "queued")
        #expect(all[0].alarmID == nil && all[0].sink == "email" && all[0].createdAt == at(1))

        #expect(try repo.due(at: t0).map(\.id) == [n1, n2])
        #expect(try repo.due(at: at(1), limit: 3).map(\.id) == [n1, n2, n3])
        try repo.delivered(n1, at: at(2))
        try repo.failed(n2, at: at(3), error: "HTTP 500: lỗi máy chủ", retryAt: at(60))
        try repo.failed(n3, at: at(4), error: String(repeating: "x", count: 600), retryAt: nil)
        let byID = Dictionary(uniqueKeysWithValues: try repo.list().map { ($0.id, $0) })
        #expect(byID[n1]?.status == "delivered" && byID[n1]?.deliveredAt == at(2) && byID[n1]?.attempts == 1)
        #expect(byID[n2]?.status == "retrying" && byID[n2]?.nextAttemptAt == at(60) && byID[n2]?.gaveUpAt == nil)
        #expect(byID[n2]?.lastError == "HTTP 500: lỗi máy chủ")
        #expect(byID[n3]?.status == "failed" && byID[n3]?.gaveUpAt == at(4) && byID[n3]?.nextAttemptAt == at(1))
        #expect(byID[n3]?.lastError?.count == 500)
        #expect(try repo.due(at: at(10)).map(\.id) == [n4])
        #expect(try repo.due(at: at(60)).map(\.id) == [n4, n2])

        #expect(try repo.counts() == ["delivered": 1, "retrying": 1, "failed": 1, "queued": 1])
        #expect(try repo.counts(communes: ["cam-la"]) == ["delivered": 1])
        #expect(try repo.counts(communes: []).isEmpty)
        #expect(try repo.list(limit: 2).map(\.id) == [n4, n3])
        #expect(try repo.list(undeliveredOnly: true).map(\.id) == [n4, n3, n2])
        #expect(try repo.list(communes: ["yen-giang", "cam-la"]).map(\.id) == [n2, n1])
        #expect(try repo.list(communes: []).isEmpty)
    }

    @Test(arguments: Backend.allCases) func settingsAsJSONDocuments(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = SettingsRepository(db)
        #expect(try repo.alarmRules() == AlarmRules.defaults)
        #expect(try repo.kpiSettings() == KPISettings())
        #expect(try repo.get("ghi_chú", as: String.self) == nil)
        try repo.set("ghi_chú", "Báo cáo gửi UBND xã Cẩm La", by: "quantri", at: t0)
        try repo.set("ghi_chú", "Báo cáo gửi Phòng Văn hóa", by: "vanhoa", at: at(1))
        #expect(try repo.get("ghi_chú", as: String.self) == "Báo cáo gửi Phòng Văn hóa")

        let rule = AlarmRule(.offline, .camera, .minor, duration: 900, tolerance: 300)
        try repo.set(SettingsRepository.alarmRules, [rule], by: "quantri", at: at(2))
        let rules = try repo.alarmRules()
        #expect(rules.rule(.offline, .camera) == rule)
        #expect(rules.rule(.offline, .speaker) == AlarmRules.defaults.rule(.offline, .speaker))
        let kpi = KPISettings(availabilityThreshold: 0.9, programmeShare: 0.75)
        try repo.set(SettingsRepository.kpi, kpi, by: "quantri", at: at(3))
        #expect(try repo.kpiSettings() == kpi)
    }

    @Test(arguments: Backend.allCases) func monthlyReportsAreKeptAndReplaced(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = ReportRepository(db)
        let body = Data("<h1>Báo cáo tháng 10/2026 – Xã Cẩm La</h1>".utf8) + Data([0, 0xFF, 0x80, 0x27, 0x5C])
        #expect(try repo.has(month: "2026-10", scope: "cam-la") == false)
        try repo.save(month: "2026-10", scope: "cam-la", format: "html", lang: "vi", body: body, at: t0, by: "tự động")
        try repo.save(month: "2026-10", scope: "cam-la", format: "html", lang: "en", body: Data("October".utf8), at: t0, by: "tự động")
        try repo.save(month: "2026-09", scope: "*", format: "pdf", lang: "vi", body: Data([1, 2, 3]), at: t0, by: "quantri")
        #expect(try repo.body(month: "2026-10", scope: "cam-la", format: "html", lang: "vi") == body)
        #expect(try repo.body(month: "2026-10", scope: "cam-la", format: "pdf", lang: "vi") == nil)
        #expect(try repo.has(month: "2026-10", scope: "cam-la") && !repo.has(month: "2026-10", scope: "*"))

        // Made again: the new body replaces the old one.
        try repo.save(month: "2026-10", scope: "cam-la", format: "html", lang: "vi", body: Data("mới".utf8), at: at(60), by: "quantri")
        #expect(try repo.body(month: "2026-10", scope: "cam-la", format: "html", lang: "vi") == Data("mới".utf8))
        let list = try repo.list()
        #expect(list.map { "\($0.month) \($0.scope) \($0.lang)" } == ["2026-10 cam-la en", "2026-10 cam-la vi", "2026-09 * vi"])
        #expect(list[1].size == Data("mới".utf8).count && list[1].generatedBy == "quantri" && list[1].generatedAt == at(60) && list[1].format == "html")
        #expect(list[2].size == 3)
    }

    @Test(arguments: Backend.allCases) func kpiTalliesOccurrencesAndTargets(_ backend: Backend) throws {
        let db = try backend.open()
        let s1 = PlayKey(item: "BT-1", start: at(100)), s2 = PlayKey(item: "BT-1", start: at(200))
        func line(_ k: PlayKey, _ speaker: String, _ event: PlaybackEvent) -> PlaybackEntry {
            PlaybackEntry(key: k, speaker: speaker, event: event, at: k.start)
        }
        try PlaybackRepository(db).append([
            line(s1, "L1", .scheduled), line(s1, "L1", .started), line(s1, "L1", .finished),
            line(s1, "L2", .scheduled), line(s1, "L2", .started), line(s1, "L2", .interrupted),
            line(s2, "L1", .scheduled), line(s2, "L1", .missed),
            line(s2, "L2", .started), line(s2, "L2", .finished),  // no scheduled line: the controller was down
            line(PlayKey(item: "BT-2", start: at(5000)), "L1", .scheduled),
        ], recordedAt: t0)
        let q = KPIQueries(db)
        #expect(Set(try q.playbackTallies(window(0, 1000))) == [
            PlaybackTally(item: "BT-1", speaker: "L1", targeted: 2, played: 1),
            PlaybackTally(item: "BT-1", speaker: "L2", targeted: 2, played: 1, interrupted: 1),
        ])
        #expect(try q.occurrences(window(0, 1000)) == ["BT-1": 2])
        #expect(try q.occurrences(window(0, 150)) == ["BT-1": 1])
        #expect(try q.playbackTallies(window(6000, 7000)).isEmpty)

        let target = BroadcastTarget(communes: ["cam-la"], villages: ["thon-cam-la"], groups: ["Chợ và bến xe"])
        try BroadcastRepository(db).insert(BroadcastCoverageTests.item("BT-1", target: target))
        try BroadcastRepository(db).insert(BroadcastCoverageTests.item("BT-3"))
        #expect(try q.itemTargets(["BT-1", "BT-404"]) == ["BT-1": target])
        #expect(try q.itemTargets([]).isEmpty)
    }
}
