import Foundation
import Testing
import WardDomain
import WardStorage
@testable import WardController

@Suite struct BroadcastServiceTests {
    final class World {
        let dir: URL
        let db: WardDatabase
        let clock: ManualTimeSource
        let service: BroadcastService
        let cal = LocalCalendar.vietnam

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-bc-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            db = try WardDatabase(path: dir.appendingPathComponent("b.sqlite").path)
            clock = ManualTimeSource(cal.date(LocalDay("2026-11-23")!, LocalTime("08:00")!))
            service = BroadcastService(db, clock: clock)
            let t0 = clock.now()
            try PlaceRepository(db).upsert([
                Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
                Place(id: "cam-la", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
                Place(id: "thon-cam-la", level: .village, name: "Thôn Cẩm La", parentID: "cam-la"),
                Place(id: "yen-giang", level: .village, name: "Khu phố Yên Giang", parentID: "cam-la"),
                Place(id: "s1", level: .site, name: "Nhà văn hóa", parentID: "thon-cam-la", siteKind: .culturalHouse),
                Place(id: "s2", level: .site, name: "Chợ Yên Giang", parentID: "yen-giang", siteKind: .market),
            ])
            try DeviceRepository(db).upsert([
                Device(id: "LOA-1", deviceClass: .speaker, siteID: "s1", registeredAt: t0),
                Device(id: "LOA-2", deviceClass: .speaker, siteID: "s2", registeredAt: t0),
            ])
            let users = BroadcastRepository(db)
            try users.addUser(User(name: "lan", role: .operator, displayName: "Nguyễn Thị Lan", createdAt: t0))
            try users.addUser(User(name: "hung", role: .approver, displayName: "Trần Văn Hùng", createdAt: t0))
            try users.addUser(User(name: "khach", role: .viewer, createdAt: t0))
            _ = try MediaRepository(db).add(MediaItem(sha256: String(repeating: "a", count: 64), title: "Bản tin sáng",
                                                      format: .mp3, codec: "mp3", duration: 600, sizeBytes: 1, sampleRate: nil,
                                                      channels: nil, source: .upload(fileName: "bt.mp3"), addedAt: t0, addedBy: "lan"))
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        func request(_ title: String = "Bản tin sáng", _ level: BroadcastLevel = .normal, time: String = "06:00",
                     rule: RepeatRule = .daily, target: BroadcastTarget = BroadcastTarget(communes: ["cam-la"])) -> BroadcastService.Request {
            .init(title: title, level: level, programme: .media(sha256: String(repeating: "a", count: 64)),
                  recurrence: Recurrence(rule: rule, firstDay: LocalDay("2026-11-24")!, startTime: LocalTime(time)!), target: target)
        }
    }

    @Test func operatorsItemWaitsForApprovalAndEveryStepIsRecorded() throws {
        let w = try World()
        let b = try w.service.schedule(w.request(), by: "lan")
        #expect(b.status == .pendingApproval && b.item.duration == 600 && b.createdBy == "lan")
        w.clock.advance(by: 300)
        let approved = try w.service.approve(b.id, by: "hung")
        #expect(approved.status == .approved && approved.approvedBy == "hung" && approved.approvedAt == w.clock.now())
        let actions = try BroadcastRepository(w.db).actions(item: b.id)
        #expect(actions.map(\.action) == ["created", "approved"] && actions.map(\.user) == ["lan", "hung"])
        #expect(actions[1].at.timeIntervalSince(actions[0].at) == 300)
        // Reopening the database keeps the schedule and its record.
        let reopened = BroadcastRepository(try WardDatabase(path: w.db.path))
        #expect(try reopened.get(b.id).status == .approved && reopened.actions(item: b.id).count == 2)
    }

    @Test func overlappingNormalItemsAreRefusedInPlainWords() throws {
        let w = try World()
        _ = try w.service.schedule(w.request(), by: "hung")
        do {
            _ = try w.service.schedule(w.request("Thông báo thôn", time: "06:05", rule: .weekly([.tuesday]),
                                                 target: BroadcastTarget(villages: ["thon-cam-la"])), by: "lan")
            Issue.record("conflict accepted")
        } catch let ScheduleRefusal.conflicts(lines) {
            #expect(lines.count == 1)
            #expect(lines[0].contains("“Bản tin sáng”") && lines[0].contains("LOA-1") && lines[0].contains("24/11/2026 06:05"))
        }
        // The other village's speaker is free at that time.
        #expect(throws: ScheduleRefusal.self) {
            _ = try w.service.schedule(w.request("Chợ", time: "06:05", target: BroadcastTarget(villages: ["yen-giang"])), by: "lan")
        }
        let free = try w.service.schedule(w.request("Chợ", time: "06:10", target: BroadcastTarget(villages: ["yen-giang"])), by: "lan")
        #expect(free.status == .pendingApproval)
    }

    @Test func cancellingFreesTheSlot() throws {
        let w = try World()
        let first = try w.service.schedule(w.request(), by: "hung")
        #expect(throws: ScheduleRefusal.self) { _ = try w.service.schedule(w.request("Khác", time: "06:05"), by: "hung") }
        let cancelled = try w.service.cancel(first.id, by: "lan", reason: "trùng lịch họp")
        #expect(cancelled.status == .cancelled)
        #expect(try BroadcastRepository(w.db).actions(item: first.id).last?.detail == "trùng lịch họp")
        #expect(try w.service.schedule(w.request("Khác", time: "06:05"), by: "hung").status == .approved)
    }

    @Test func quietHoursRefuseNormalItemsButNotEmergencies() throws {
        let w = try World()
        try BroadcastRepository(w.db).setQuietHours(commune: "cam-la", QuietHours(start: LocalTime("21:30")!, end: LocalTime("05:30")!))
        #expect(throws: ScheduleRefusal.self) { _ = try w.service.schedule(w.request(time: "22:00"), by: "hung") }
        #expect(try w.service.schedule(w.request("Bão số 3", .emergency, time: "22:00", rule: .once), by: "hung").status == .approved)
    }

    @Test func rolesAndBadRequestsAreRefusedWithReasons() throws {
        let w = try World()
        #expect(throws: ApprovalError.self) { _ = try w.service.schedule(w.request(), by: "khach") }
        #expect(throws: ApprovalError.self) { _ = try w.service.schedule(w.request("Bão", .emergency, rule: .once), by: "lan") }
        #expect(throws: BroadcastStoreError.unknownUser("ai-do")) { _ = try w.service.schedule(w.request(), by: "ai-do") }
        #expect(throws: ScheduleRefusal.self) {
            _ = try w.service.schedule(w.request(target: BroadcastTarget(villages: ["thon-khong-co"])), by: "lan")
        }
        var stream = w.request("Tiếp sóng huyện")
        stream.programme = .stream(url: "http://radio.example.vn:8000/live")
        #expect(throws: ScheduleRefusal.self) { _ = try w.service.schedule(stream, by: "lan") }  // no window given
        stream.duration = 1800
        stream.recurrence.startTime = LocalTime("19:00")!
        #expect(try w.service.schedule(stream, by: "lan").item.duration == 1800)
        var badMedia = w.request()
        badMedia.programme = .media(sha256: "deadbeef")
        #expect(throws: ScheduleRefusal.self) { _ = try w.service.schedule(badMedia, by: "lan") }
        let pending = try w.service.schedule(w.request("Sáng", time: "05:45", rule: .once), by: "lan")
        #expect(throws: ApprovalError.self) { _ = try w.service.approve(pending.id, by: "lan") }
    }

    @Test func namedGroupsCanBeTargeted() throws {
        let w = try World()
        try w.service.setGroup("Chợ và bến xe", speakers: ["LOA-2"], by: "lan")
        #expect(try BroadcastRepository(w.db).groups() == ["Chợ và bến xe": ["LOA-2"]])
        let b = try w.service.schedule(w.request("Phiên chợ", target: BroadcastTarget(groups: ["Chợ và bến xe"])), by: "lan")
        #expect(b.item.target.groups == ["Chợ và bến xe"])
        // The group's speaker is now busy at 06:00, the other village's is not.
        #expect(throws: ScheduleRefusal.self) {
            _ = try w.service.schedule(w.request("Khác", target: BroadcastTarget(speakers: ["LOA-2"])), by: "lan")
        }
        _ = try w.service.schedule(w.request("Thôn", target: BroadcastTarget(villages: ["thon-cam-la"])), by: "lan")
        #expect(throws: ScheduleRefusal.self) { try w.service.setGroup("Sai", speakers: ["LOA-9"], by: "lan") }
        #expect(throws: ScheduleRefusal.self) {
            _ = try w.service.schedule(w.request("X", target: BroadcastTarget(groups: ["Không có"])), by: "lan")
        }
        #expect(throws: ApprovalError.self) { try w.service.setGroup("G", speakers: ["LOA-1"], by: "khach") }
    }

    @Test func upcomingListsOccurrencesInOrder() throws {
        let w = try World()
        _ = try w.service.schedule(w.request("Sáng", time: "06:00"), by: "hung")
        _ = try w.service.schedule(w.request("Chiều", time: "17:00", rule: .weekdays), by: "hung")
        let day = w.cal.day(named: "2026-11-28")!  // a Saturday
        #expect(try w.service.upcoming(in: day).map(\.broadcast.item.title) == ["Sáng"])
        let monday = w.cal.day(named: "2026-11-30")!
        #expect(try w.service.upcoming(in: monday).map(\.broadcast.item.title) == ["Sáng", "Chiều"])
    }
}

extension BroadcastServiceTests {
    /// A priority item that overlaps a normal one was accepted without a word. The officer now
    /// sees, before confirming (`preview`, the API's `dry_run`) and in the answer, what it cuts.
    @Test func aPriorityItemNamesTheNormalItemsItCuts() throws {
        let w = try World()
        _ = try w.service.schedule(w.request("Bản tin sáng", time: "06:00", rule: .daily), by: "hung")
        let (_, cuts) = try w.service.preview(w.request("Tin ưu tiên", .priority, time: "06:05", rule: .once))
        #expect(cuts.count == 1, "\(cuts)")
        #expect(cuts.first?.contains("'Bản tin sáng' (1 lần, lần đầu 24/11/2026 06:00") == true, "\(cuts)")
        #expect(try BroadcastRepository(w.db).list().count == 1, "a preview saves nothing")
        let urgent = try w.service.schedule(w.request("Tin ưu tiên", .priority, time: "06:05", rule: .once), by: "hung")
        #expect(try w.service.cuts(of: urgent.item) == cuts)
        // Apart in time, or a normal item: nothing to say.
        #expect(try w.service.preview(w.request("Tin ưu tiên chiều", .priority, time: "17:00", rule: .once)).cuts.isEmpty)
    }
}
