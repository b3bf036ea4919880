import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// The broadcast schedule, playback log, upstream inbox, media library and claim codes, on both backends.
@Suite struct BroadcastCoverageTests {
    static func item(_ id: String, target: BroadcastTarget = BroadcastTarget(communes: ["cam-la"]),
                     status: BroadcastStatus = .pendingApproval) -> ScheduledBroadcast {
        let recurrence = Recurrence(rule: .weekly([.monday, .thursday]), firstDay: LocalDay(year: 2026, month: 11, day: 23),
                                    startTime: LocalTime(hour: 6, minute: 30), until: LocalDay(year: 2026, month: 12, day: 31),
                                    skipped: [LocalDay(year: 2026, month: 12, day: 3)])
        return ScheduledBroadcast(
            item: BroadcastItem(id: id, title: "Bản tin thời sự xã Cẩm La", level: .normal, duration: 312.5, recurrence: recurrence,
                                target: target, volume: 70, priorityOrder: nil),
            programme: .media(sha256: String(repeating: "a", count: 64)), status: status, createdBy: "vanhoa", createdAt: t0,
            approvedBy: status == .approved ? "chutich" : nil, approvedAt: status == .approved ? at(1) : nil)
    }

    @Test(arguments: Backend.allCases) func usersOfTheSchedule(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = BroadcastRepository(db)
        let u = User(name: "vanhoa", role: .operator, displayName: "Lê Thị Văn Hóa", createdAt: at(0.5))
        try repo.addUser(u)
        try repo.addUser(User(name: "chutich", role: .approver, createdAt: t0))
        #expect(throws: BroadcastStoreError.duplicateUser("vanhoa")) { try repo.addUser(u) }
        #expect(try repo.user("vanhoa") == u)
        #expect(throws: BroadcastStoreError.unknownUser("nobody")) { try repo.user("nobody") }
        #expect(try repo.users().map(\.name) == ["chutich", "vanhoa"])
    }

    @Test(arguments: Backend.allCases) func itemsTheirDecisionsAndTheRevision(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = BroadcastRepository(db)
        let r0 = try repo.revision()
        let b1 = Self.item("BT-1")
        try repo.insert(b1, detail: "tạo từ bảng điều khiển")
        #expect(try repo.revision() == r0 + 1)
        #expect(try repo.get("BT-1") == b1)
        let b2 = Self.item("BT-2", target: BroadcastTarget(villages: ["thon-cam-la"], speakers: ["LOA-01"]), status: .approved)
        try repo.insert(b2)
        #expect(try repo.get("BT-2") == b2)
        #expect(try repo.actions(item: "BT-2").map(\.action) == ["created", "approved"])
        #expect(throws: BroadcastStoreError.unknownItem("BT-404")) { try repo.get("BT-404") }

        try repo.setStatus("BT-1", to: .approved, by: "chutich", at: at(10), detail: "Đồng ý")
        let approved = try repo.get("BT-1")
        #expect(approved.status == .approved && approved.approvedBy == "chutich" && approved.approvedAt == at(10))
        try repo.setStatus("BT-2", to: .cancelled, by: "chutich", at: at(20))
        #expect(try repo.get("BT-2").item.cancelled)
        #expect(try repo.list().map(\.id) == ["BT-1"])
        #expect(try repo.list(includeCancelled: true).map(\.id) == ["BT-1", "BT-2"])
        try repo.setStatus("BT-2", to: .pendingApproval, by: "vanhoa", at: at(30))
        #expect(throws: BroadcastStoreError.unknownItem("BT-404")) { try repo.setStatus("BT-404", to: .cancelled, by: "x", at: at(31)) }

        var edited = approved
        edited.item.title = "Bản tin thời sự (sửa)"
        edited.item.duration = 600
        edited.item.volume = nil
        edited.item.priorityOrder = 2
        edited.item.target = BroadcastTarget(groups: ["Chợ và bến xe"])
        edited.status = .pendingApproval
        edited.approvedBy = nil
        edited.approvedAt = nil
        try repo.update(edited, by: "vanhoa", at: at(40), detail: "đổi giờ")
        #expect(try repo.get("BT-1") == edited)
        #expect(throws: BroadcastStoreError.unknownItem("BT-404")) { try repo.update(Self.item("BT-404"), by: "x", at: at(41), detail: nil) }
        #expect(try repo.actions(item: "BT-1") == [
            BroadcastAction(itemID: "BT-1", action: "created", user: "vanhoa", at: t0, detail: "tạo từ bảng điều khiển"),
            BroadcastAction(itemID: "BT-1", action: "approved", user: "chutich", at: at(10), detail: "Đồng ý"),
            BroadcastAction(itemID: "BT-1", action: "edited", user: "vanhoa", at: at(40), detail: "đổi giờ"),
        ])
        #expect(try repo.actions(item: "BT-2").map(\.action) == ["created", "approved", "cancelled", "resubmitted"])
        #expect(try repo.revision() == r0 + 6)  // refused changes bump nothing
    }

    @Test(arguments: Backend.allCases) func speakerGroupsAndQuietHours(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = BroadcastRepository(db)
        let r0 = try repo.revision()
        try repo.setGroup("Chợ và bến xe", speakers: ["LOA-01", "LOA-02"], by: "vanhoa", at: t0)
        try repo.setGroup("Trường học", speakers: [], by: "vanhoa", at: t0)
        try repo.setGroup("Chợ và bến xe", speakers: ["LOA-03"], by: "chutich", at: at(1))
        #expect(try repo.groups() == ["Chợ và bến xe": ["LOA-03"], "Trường học": []])

        #expect(try repo.quietHours(commune: "cam-la") == nil && repo.allQuietHours().isEmpty)
        let night = QuietHours(start: LocalTime(hour: 21, minute: 30), end: LocalTime(hour: 5, minute: 30))
        try repo.setQuietHours(commune: "cam-la", night)
        try repo.setQuietHours(commune: "yen-giang", QuietHours(start: LocalTime(hour: 22, minute: 0, second: 15), end: LocalTime(hour: 6, minute: 0)))
        #expect(try repo.quietHours(commune: "cam-la") == night)
        #expect(try repo.allQuietHours().count == 2 && repo.allQuietHours()["yen-giang"]?.start.second == 15)
        try repo.setQuietHours(commune: "cam-la", nil)
        #expect(try repo.quietHours(commune: "cam-la") == nil && Array(repo.allQuietHours().keys) == ["yen-giang"])
        #expect(try repo.revision() == r0 + 6)
    }

    /// Many speakers of one play are read in one go: the same lines, pair by pair as asked, as one read per pair.
    @Test(arguments: Backend.allCases) func playbackLinesOfManySpeakersOfOnePlay(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = PlaybackRepository(db)
        let big = PlayKey(item: "BT-9", start: at(500)), small = PlayKey(item: "BT-1", start: at(100))
        let many = (0..<80).flatMap { i in
            [PlaybackEntry(key: big, speaker: String(format: "LOA-%03d", i), event: .scheduled, at: at(490)),
             PlaybackEntry(key: big, speaker: String(format: "LOA-%03d", i), event: i % 3 == 0 ? .missed : .received, at: at(491))]
        } + [PlaybackEntry(key: small, speaker: "LOA-001", event: .scheduled, at: at(90))]
        #expect(try repo.append(many, recordedAt: at(5)) == many.count)
        let asked = (0..<70).reversed().map { (big, String(format: "LOA-%03d", $0)) } + [(small, "LOA-001"), (big, "LOA-999")]
        let onePerPair = try asked.flatMap { try repo.entries(of: [$0]) }
        #expect(try repo.entries(of: asked) == onePerPair && onePerPair.count == 70 * 2 + 1)
    }

    @Test(arguments: Backend.allCases) func playbackLogReads(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = PlaybackRepository(db)
        let k1 = PlayKey(item: "BT-1", start: at(100)), k2 = PlayKey(item: "BT-2", start: at(200)), k3 = PlayKey(item: "BT-1", start: at(300))
        let lines = [
            PlaybackEntry(key: k1, speaker: "LOA-01", event: .scheduled, at: at(10)),
            PlaybackEntry(key: k1, speaker: "LOA-02", event: .scheduled, at: at(10)),
            PlaybackEntry(key: k2, speaker: "LOA-01", event: .scheduled, at: at(20)),
            PlaybackEntry(key: k3, speaker: "LOA-01", event: .scheduled, at: at(30)),
            PlaybackEntry(key: k1, speaker: "LOA-01", event: .started, at: at(100.25), detail: "Thôn Cẩm La"),
            PlaybackEntry(key: k1, speaker: "LOA-01", event: .interrupted, at: at(150), reason: .preempted, by: k2.id),
            PlaybackEntry(key: k1, speaker: "LOA-02", event: .missed, at: at(400), reason: .quietHours),
        ]
        #expect(try repo.append(lines, recordedAt: at(5)) == lines.count)
        #expect(try repo.append([], recordedAt: at(5)) == 0)
        #expect(try repo.entries(item: "BT-1") == lines.filter { $0.key.item == "BT-1" })
        #expect(try repo.entries(scheduledFrom: at(100), to: at(300)) == lines.filter { $0.key != k3 })
        #expect(try repo.entries(scheduledFrom: at(100), to: at(300), item: "BT-2") == [lines[2]])
        #expect(try repo.entries(of: [(k1, "LOA-02"), (k3, "LOA-01")]) == [lines[1], lines[6], lines[3]])
        #expect(try repo.entries(of: []).isEmpty)
        // Plays sent with no final line: BT-2 and the later BT-1.
        #expect(Set(try repo.open(since: at(100)).map { "\($0.0.id) \($0.1)" }) == ["\(k2.id) LOA-01", "\(k3.id) LOA-01"])
        #expect(try repo.open(since: at(250)).map(\.0) == [k3])
    }

    /// An emergency on a commune topic is logged by one dispatch row before it goes out; its
    /// speakers' `scheduled` lines come after. A report overtaking them is still accepted, each line
    /// is stored once, and the month's roll-up counts each play once.
    @Test(arguments: Backend.allCases) func emergencyDispatchesStandForTheirLinesUntilWritten(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = PlaybackRepository(db)
        let k = PlayKey(item: "KC-1", start: at(100))
        let speakers = (1...60).map { String(format: "LOA-%02d", $0) }
        let d = EmergencyDispatch(key: k, commune: "cam-la", at: at(99), speakers: speakers, detail: nil)
        let other = PlaybackEntry(key: PlayKey(item: "BT-7", start: at(50)), speaker: "LOA-01", event: .scheduled, at: at(40))
        try repo.dispatch([other], announcing: [d], recordedAt: at(99))
        #expect(try repo.incompleteDispatches() == [d])
        #expect(try repo.incompleteDispatches(communes: ["yen-giang"]).isEmpty)
        #expect(try repo.entries(item: "KC-1").isEmpty)

        // Reports of one speaker (one query per report) and of 55 (one query for the play), and
        // one from a speaker the emergency was never sent to.
        var b = IngestBatch()
        b.playback = [PlaybackEntry(key: k, speaker: "LOA-01", event: .received, at: at(99.5)),
                      PlaybackEntry(key: k, speaker: "LOA-01", event: .started, at: at(100.1)),
                      PlaybackEntry(key: k, speaker: "LOA-99", event: .received, at: at(99.5))].map { ($0, at(100.2)) }
        #expect(try IngestRepository(db).write(b).map(\.speaker) == ["LOA-99"])
        var many = IngestBatch()
        many.playback = speakers[1...55].map { (PlaybackEntry(key: k, speaker: $0, event: .started, at: at(100.2)), at(100.3)) }
        #expect(try IngestRepository(db).write(many).isEmpty)
        #expect(try repo.entries(of: [(k, "LOA-01")]).map(\.event) == [.scheduled, .received, .started])
        #expect(try repo.entries(of: [(k, "LOA-01")]).first?.at == at(99))

        // The delivery writes the lines: each speaker has one, and the dispatch is complete.
        try repo.complete([d], recordedAt: at(101))
        #expect(try repo.incompleteDispatches().isEmpty)
        let lines = try repo.entries(item: "KC-1")
        #expect(lines.filter { $0.event == .scheduled }.map(\.speaker).sorted() == speakers)
        #expect(lines.filter { $0.event == .started }.count == 56)
        let months = try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT speaker_id, scheduled, started FROM playback_months WHERE item_id = 'KC-1'")
        }
        #expect(months.count == 60)
        #expect(months.allSatisfy { ($0["scheduled"] as Int64) == 1 })
        #expect(months.reduce(0) { $0 + ($1["started"] as Int64) } == 56)
        #expect(try db.store.read { try Int64.fetchOne($0, sql: "SELECT count(*) FROM playback_occurrences WHERE item_id = 'KC-1'") } == 1)
        // Written again (a retry after a failed write, a repair at start): nothing doubles.
        try repo.complete([d], recordedAt: at(102))
        #expect(try repo.append(lines, recordedAt: at(103)) == 0)
        #expect(try repo.entries(item: "KC-1") == lines)
    }

    @Test(arguments: Backend.allCases) func upstreamBulletinsHandledPerCommune(_ backend: Backend) throws {
        let db = try backend.open()
        let media = MediaItem(sha256: String(repeating: "b", count: 64), title: "Thông báo tiêm chủng", format: .mp3, codec: "mp3",
                              duration: 42, sizeBytes: 1000, sampleRate: 44_100, channels: 1,
                              source: .tts(voice: .northern, text: "Thông báo: tiêm chủng mở rộng tại Trạm y tế xã."),
                              addedAt: t0, addedBy: nil)
        try MediaRepository(db).add(media)
        let repo = UpstreamRepository(db)
        let b = UpstreamBulletin(source: "so-tttt-qn", sourceID: "BT-2026-0001", title: "Thông báo tiêm chủng", level: .priority,
                                 communes: ["cam-la", "yen-giang"], programme: .media(sha256: media.sha256), duration: 42, receivedAt: at(1))
        let (stored, isNew) = try repo.receive(b)
        #expect(isNew && stored.id > 0)
        let (again, isNewAgain) = try repo.receive(b)
        #expect(!isNewAgain && again.id == stored.id)
        let other = try repo.receive(UpstreamBulletin(source: "so-tttt-qn", sourceID: "BT-2026-0002", title: "Bão số 3", level: .normal,
                                                      communes: ["cam-la"], programme: .stream(url: "http://dai.example/live"),
                                                      duration: 600, receivedAt: at(2))).0
        #expect(try repo.find(source: "so-tttt-qn", sourceID: "BT-2026-0001")?.id == stored.id)
        #expect(try repo.find(source: "so-tttt-qn", sourceID: "nope") == nil)
        let read = try repo.get(stored.id)
        #expect(read.text == "Thông báo: tiêm chủng mở rộng tại Trạm y tế xã." && read.communes == ["cam-la", "yen-giang"])
        #expect(read.title == "Thông báo tiêm chủng" && read.level == .priority && read.receivedAt == at(1) && read.status == .inbox)
        #expect(throws: UpstreamStoreError.unknown(999)) { try repo.get(999) }
        #expect(try repo.list().map(\.id) == [other.id, stored.id])

        // One commune schedules it: still in the other's inbox. The second handles it: it leaves.
        try repo.handle(stored.id, communes: ["cam-la"], .scheduled, item: "BT-9", by: "vanhoa", at: at(10))
        #expect(try repo.get(stored.id).status == .inbox)
        #expect(throws: (any Error).self) { try repo.handle(stored.id, communes: ["cam-la"], .dismissed, item: nil, by: "x", at: at(11)) }
        try repo.handle(stored.id, communes: ["yen-giang"], .dismissed, item: nil, by: "lan", at: at(12), detail: "không liên quan")
        let handled = try repo.get(stored.id)
        #expect(handled.status == .scheduled && handled.itemID == nil && handled.handledBy == "lan" && handled.detail == "không liên quan")
        #expect(try repo.handling(stored.id) == [
            "cam-la": .init(status: .scheduled, itemID: "BT-9", by: "vanhoa", at: at(10)),
            "yen-giang": .init(status: .dismissed, itemID: nil, by: "lan", at: at(12)),
        ])
        #expect(try repo.handling(other.id).isEmpty)
        #expect(try repo.handling(of: [stored.id, other.id]).keys.sorted() == [stored.id])
        #expect(try repo.handling(of: nil).count == 1 && repo.handling(of: []).isEmpty)
        #expect(try repo.list().map(\.id) == [other.id])

        try repo.setStatus(other.id, .onAir, item: "BT-10", by: "chutich", at: at(20))
        try repo.setStatus(other.id, .failed, item: nil, by: "chutich", at: at(21), detail: "không mở được luồng")
        let failed = try repo.get(other.id)
        #expect(failed.status == .failed && failed.itemID == "BT-10" && failed.handledAt == at(21) && failed.detail == "không mở được luồng")
        #expect(failed.text == nil)
        #expect(throws: UpstreamStoreError.unknown(999)) { try repo.setStatus(999, .dismissed, item: nil, by: "x", at: at(22)) }
        #expect(try repo.list().isEmpty && repo.list(all: true).map(\.id) == [other.id, stored.id])
    }

    @Test(arguments: Backend.allCases) func mediaIsStoredOnceWithEveryAdder(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = MediaRepository(db)
        let m = MediaItem(sha256: String(repeating: "c", count: 64), title: "Nhạc hiệu Đài truyền thanh", format: .wav, codec: "pcm_s16le",
                          duration: 12.25, sizeBytes: 5_000_000_000, sampleRate: nil, channels: 2,
                          source: .upload(fileName: "nhạc hiệu.wav"), addedAt: at(1.5), addedBy: "vanhoa")
        let (first, isNew) = try repo.add(m)
        #expect(isNew && first == m)
        var again = m
        again.title = "Nhạc hiệu"
        again.addedBy = "chutich"
        again.addedAt = at(2)
        let (second, isNewAgain) = try repo.add(again)
        #expect(!isNewAgain && second == m)
        #expect(try !repo.add(again).isNew)  // the same person again: one adder row
        let other = MediaItem(sha256: String(repeating: "d", count: 64), title: "Giọng đọc", format: .ogg, codec: "opus", duration: 3,
                              sizeBytes: 10, sampleRate: 48_000, channels: 1, source: .tts(voice: .southern, text: "Xin chào"),
                              addedAt: at(1.5), addedBy: nil)
        try repo.add(other)
        #expect(try repo.get(m.sha256) == m && repo.get("e") == nil)
        #expect(try repo.list().map(\.sha256) == [m.sha256, other.sha256])
        #expect(try repo.adders() == [m.sha256: [.init(user: "vanhoa", title: "Nhạc hiệu Đài truyền thanh", at: at(1.5)),
                                                 .init(user: "chutich", title: "Nhạc hiệu", at: at(2))]])
    }

    @Test(arguments: Backend.allCases) func claimCodesAreTakenOnceAndSlowedDown(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = ClaimRepository(db)
        #expect(try repo.lookup(device: "LOA-01", at: t0) == .none)
        try repo.issue(device: "LOA-01", secret: [0, 1, 0xFE, 0xFF], by: "kythuat", at: t0, expires: at(3600))
        #expect(try repo.lookup(device: "LOA-01", at: at(1)) == .open(secret: [0, 1, 0xFE, 0xFF]))
        #expect(try (1...ClaimThrottle.freeFailures).map { _ in try repo.noteFailure(device: "LOA-01", at: at(10)) }
            == Array(1...ClaimThrottle.freeFailures))
        let wait = ClaimThrottle.delay(afterFailures: ClaimThrottle.freeFailures)
        #expect(try repo.lookup(device: "LOA-01", at: at(11)) == .delayed(until: at(10 + wait)))
        #expect(try repo.lookup(device: "LOA-01", at: at(10 + wait)) == .open(secret: [0, 1, 0xFE, 0xFF]))
        #expect(try repo.take(device: "LOA-01", at: at(20 + wait)))
        #expect(try !repo.take(device: "LOA-01", at: at(21 + wait)))
        #expect(try repo.lookup(device: "LOA-01", at: at(22 + wait)) == .used)
        try repo.release(device: "LOA-01")
        #expect(try repo.lookup(device: "LOA-01", at: at(22 + wait)) == .open(secret: [0, 1, 0xFE, 0xFF]))
        #expect(try repo.lookup(device: "LOA-01", at: at(3600)) == .expired)
        // Issued again: a new secret, failures and use forgotten.
        try repo.issue(device: "LOA-01", secret: [9], by: "quantri", at: at(4000), expires: at(8000))
        #expect(try repo.lookup(device: "LOA-01", at: at(4001)) == .open(secret: [9]))
        #expect(try repo.noteFailure(device: "LOA-01", at: at(4002)) == 1)
        try repo.withdraw(device: "LOA-01")
        #expect(try repo.lookup(device: "LOA-01", at: at(4003)) == .none)
        #expect(try repo.noteFailure(device: "LOA-01", at: at(4004)) == 0)
    }
}
