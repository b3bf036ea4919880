import Foundation
import Testing
import WardController
import WardDomain
import WardStorage

/// The commune radio end to end: real broker, the controller's HTTP media endpoint, simulated
/// speakers in their own processes, every clock moved together through the harness's clock file.
extension RealBrokerTests {
    @Suite struct Radio {
        static let fleet = """
            province:
              id: qn
              name: Tỉnh Quảng Ninh
              communes:
                - id: cam-la
                  name: Xã Cẩm La
                  sites:
                    - id: ubnd
                      name: Trụ sở UBND xã
                      kind: commune_office
                      devices:
                        - {id: LOA-UB, class: speaker}
                  villages:
                    - id: thon-cam-la
                      name: Thôn Cẩm La
                      sites:
                        - id: nvh
                          name: Nhà văn hóa thôn Cẩm La
                          kind: cultural_house
                          devices:
                            - {id: LOA-A1, class: speaker}
                            - {id: LOA-A2, class: speaker}
                    - id: kp-yen-giang
                      name: Khu phố Yên Giang
                      sites:
                        - id: cong
                          name: Cổng khu phố Yên Giang
                          kind: village_entrance
                          devices:
                            - {id: LOA-B1, class: speaker}
            """
        static let all = ["LOA-UB", "LOA-A1", "LOA-A2", "LOA-B1"]
        static let calendar = LocalCalendar.vietnam

        /// A harness with the radio fleet, an approver and an operator, and one text-to-speech item.
        static func world(_ body: (Harness, _ speech: String) async throws -> Void) async throws {
            let h = try await Harness(fleet: fleet)
            do {
                #expect(try await h.run("wardfleet", ["users", "add", "lan", "--role", "approver", "--db", h.dbPath]).0 == 0)
                #expect(try await h.run("wardfleet", ["users", "add", "minh", "--role", "operator", "--db", h.dbPath]).0 == 0)
                let (st, out) = try await h.run("wardfleet", ["media", "tts", "--text", "Xin thông báo: lịch tiêm chủng tại trạm y tế xã.",
                                                              "--voice", "northern", "--db", h.dbPath, "--json"])
                #expect(st == 0, "\(h.lastStderr)")
                let sha = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])["sha256"] as! String
                try await body(h, sha)
            } catch {
                await h.stop()
                throw error
            }
            await h.stop()
        }

        static func entries(_ h: Harness, item: String) throws -> [PlaybackEntry] { try PlaybackRepository(h.db).entries(item: item) }
        static func rows(_ h: Harness, item: String) throws -> [PlaybackRow] { PlaybackRow.fold(try entries(h, item: item)) }

        /// Waits until `speakers` all have `event` for the play.
        static func wait(_ h: Harness, _ key: PlayKey, _ event: PlaybackEvent, on speakers: [String], timeout: Duration = .seconds(40)) async throws {
            try await h.waitUntil("\(event.rawValue) of \(key) on \(speakers)", timeout: timeout) {
                let have = Set(try PlaybackRepository(h.db).entries(of: speakers.map { (key, $0) }).filter { $0.event == event }.map(\.speaker))
                return have == Set(speakers)
            }
        }

        static func online(_ h: Harness, _ ids: [String]) async throws {
            try await h.waitUntil("\(ids) online") { try ids.allSatisfy { try h.state($0)?.isOnline == true } }
        }

        /// Schedules through the CLI as the approver; returns the item id.
        static func schedule(_ h: Harness, _ args: [String], title: String) async throws -> String {
            let (st, out) = try await h.run("wardfleet", ["broadcast", "schedule", "--as", "lan", "--title", title, "--db", h.dbPath, "--json"] + args)
            try #require(st == 0, "\(h.lastStderr)")
            return try itemID(out)
        }

        /// The id in a `--json` ScheduledBroadcast.
        static func itemID(_ json: String) throws -> String {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            return try #require((o["item"] as? [String: Any])?["id"] as? String, "\(json)")
        }

        static func at(_ d: Date) -> [String] {
            ["--day", calendar.localDay(of: d).description, "--time", calendar.localTime(of: d).description]
        }

        /// A whole second a little ahead of the shared clock.
        static func soon(_ h: Harness, _ seconds: Double) -> Date {
            Date(timeIntervalSince1970: (h.clock.now().timeIntervalSince1970 + seconds).rounded(.up))
        }

        @Test("a daily bulletin plays on every targeted speaker at its time, on consecutive days")
        func dailyBulletin() async throws {
            try await Self.world { h, sha in
                let day1 = LocalDay(year: 2026, month: 12, day: 1)
                let six = LocalTime(hour: 6, minute: 0)
                try h.setClock(to: Self.calendar.date(day1, six).addingTimeInterval(-8))
                try await h.startController()
                try h.startSim([])
                try await Self.online(h, Self.all)
                let id = try await Self.schedule(h, ["--media", sha, "--day", "2026-12-01", "--time", "06:00", "--repeat", "daily",
                                                     "--communes", "cam-la"], title: "Bản tin sáng")
                for day in [day1, LocalDay(year: 2026, month: 12, day: 2)] {
                    let key = PlayKey(item: id, start: Self.calendar.date(day, six))
                    if day != day1 { try h.setClock(to: key.start.addingTimeInterval(-8)) }
                    try await Self.wait(h, key, .finished, on: Self.all)
                    for r in try Self.rows(h, item: id).filter({ $0.key == key }) {
                        let started = try #require(r.startedAt, "\(r.speaker) started")
                        // Never early, and within the window the protocol gives a speaker to start.
                        #expect(started >= key.start, "\(r.speaker) started \(started) before \(key.start)")
                        #expect(started <= key.start.addingTimeInterval(DeliverySettings().startGrace))
                        #expect(r.deliveredAt != nil && r.mediaReadyAt != nil, "\(r.speaker): delivered and downloaded first")
                        #expect(r.outcome == .finished)
                    }
                }
            }
        }

        @Test("a village bulletin reaches only that village's speakers")
        func villageOnly() async throws {
            try await Self.world { h, sha in
                try await h.startController()
                try h.startSim([])
                try await Self.online(h, Self.all)
                let start = Self.soon(h, 6)
                let id = try await Self.schedule(h, ["--media", sha, "--villages", "thon-cam-la"] + Self.at(start), title: "Họp thôn Cẩm La")
                let key = PlayKey(item: id, start: start)
                try await Self.wait(h, key, .finished, on: ["LOA-A1", "LOA-A2"])
                #expect(Set(try Self.entries(h, item: id).map(\.speaker)) == ["LOA-A1", "LOA-A2"])
                let report = try PlaybackLogReport.build(h.db, day: Self.calendar.localDay(of: start), item: id)
                let reach = try #require(report.items.first)
                #expect(reach.reach == Reach(targeted: 2, played: 2))
                #expect(reach.byVillage == ["thon-cam-la": Reach(targeted: 2, played: 2)])
            }
        }

        @Test("an emergency interrupts a playing normal item on every target, and the log says so")
        func emergencyInterrupts() async throws {
            try await Self.world { h, _ in
                // A 40 s programme, so it is surely still playing when the emergency comes.
                let wav = h.file("chuong-trinh.wav")
                let ff = try ChildProcess.spawn(try #require(ChildProcess.locate("ffmpeg")),
                                                ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=40", "-y", wav])
                #expect(await ff.wait(timeout: .seconds(60)) == 0)
                let (st, out) = try await h.run("wardfleet", ["media", "add", wav, "--db", h.dbPath, "--json"])
                try #require(st == 0, "\(h.lastStderr)")
                let long = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])["sha256"] as! String
                try await h.startController()
                try h.startSim([])
                try await Self.online(h, Self.all)
                let start = Self.soon(h, 5)
                let normal = try await Self.schedule(h, ["--media", long, "--communes", "cam-la"] + Self.at(start), title: "Chương trình ca nhạc")
                let key = PlayKey(item: normal, start: start)
                try await Self.wait(h, key, .started, on: Self.all)

                let (est, eout) = try await h.run("wardfleet", ["broadcast", "emergency", "--as", "lan", "--title", "Cảnh báo lũ quét",
                                                                "--tts", "Cảnh báo lũ quét, bà con di chuyển lên chỗ cao.", "--db", h.dbPath, "--json"])
                try #require(est == 0, "\(h.lastStderr)")
                let emergency = try Self.itemID(eout)
                try await Self.wait(h, key, .interrupted, on: Self.all)
                let eStart = try #require(try Self.entries(h, item: emergency).first).key
                try await Self.wait(h, eStart, .finished, on: Self.all)
                for r in try Self.rows(h, item: normal) {
                    #expect(r.outcome == .interrupted(.preempted, by: eStart.id), "\(r.speaker): \(r.outcome)")
                }
                let (_, csv) = try await h.run("wardfleet", ["broadcast", "log", "--date", Self.calendar.localDay(of: start).description,
                                                             "--csv", "-", "--db", h.dbPath])
                #expect(csv.components(separatedBy: "interrupted:preempted").count - 1 == Self.all.count)
                #expect(csv.contains("Cảnh báo lũ quét"))  // diacritics intact in the export
            }
        }

        @Test("an offline speaker's item is logged missed; one that returns in time plays")
        func offlineThenReturn() async throws {
            try await Self.world { h, sha in
                try await h.startController(["--close-grace", "2"])
                try h.startSim(["--only", "LOA-A1"])
                let b1 = try h.startSim(["--only", "LOA-B1"])
                try await Self.online(h, ["LOA-A1", "LOA-B1"])
                await b1.terminate()
                try await h.waitUntil("LOA-B1 offline") { try h.state("LOA-B1")?.isOnline == false }

                let first = Self.soon(h, 5)
                let missedItem = try await Self.schedule(h, ["--media", sha, "--speakers", "LOA-A1,LOA-B1"] + Self.at(first), title: "Lúc loa mất mạng")
                let k1 = PlayKey(item: missedItem, start: first)
                try await Self.wait(h, k1, .finished, on: ["LOA-A1"])
                try await Self.wait(h, k1, .missed, on: ["LOA-B1"])
                #expect(try Self.rows(h, item: missedItem).first { $0.speaker == "LOA-B1" }?.outcome == .missed(.offline, by: nil))

                // Scheduled while it is still offline; it comes back before the start.
                let second = Self.soon(h, 12)
                let laterItem = try await Self.schedule(h, ["--media", sha, "--speakers", "LOA-B1"] + Self.at(second), title: "Khi loa có mạng lại")
                try h.startSim(["--only", "LOA-B1", "--seed", "8"])  // a new boot, as after a power cut
                let k2 = PlayKey(item: laterItem, start: second)
                try await Self.wait(h, k2, .finished, on: ["LOA-B1"])
                #expect(try Self.rows(h, item: laterItem).first?.outcome == .finished)
            }
        }

        @Test("a controller restart loses no schedule and no log entry")
        func controllerRestart() async throws {
            try await Self.world { h, sha in
                let ctl = try await h.startController()
                try h.startSim([])
                try await Self.online(h, Self.all)
                let start = Self.soon(h, 8)
                let id = try await Self.schedule(h, ["--media", sha, "--communes", "cam-la", "--repeat", "daily"] + Self.at(start), title: "Bản tin hằng ngày")
                let key = PlayKey(item: id, start: start)
                try await Self.wait(h, key, .received, on: Self.all)
                await ctl.terminate()
                let before = try Self.entries(h, item: id)
                // The speakers play and report while nobody listens; the broker keeps their reports.
                try await h.waitUntil("the play is over", timeout: .seconds(60)) { h.clock.now() > start.addingTimeInterval(8) }
                try await h.startController()
                try await Self.wait(h, key, .finished, on: Self.all)
                let after = try Self.entries(h, item: id)
                #expect(Set(before).isSubset(of: Set(after)))
                #expect(Set(after.filter { $0.event == .started }.map(\.speaker)) == Set(Self.all))
                // The recurring item is still on the schedule: tomorrow's occurrence is there.
                let (_, list) = try await h.run("wardfleet", ["broadcast", "list", "--days", "2", "--json", "--db", h.dbPath])
                #expect(list.contains(id))
            }
        }

        @Test("overlapping normal items on a shared speaker are refused, naming the other item")
        func conflictsRefused() async throws {
            try await Self.world { h, sha in
                let day = ["--day", Self.calendar.localDay(of: h.clock.now().addingTimeInterval(7 * 86_400)).description]
                _ = try await Self.schedule(h, ["--media", sha, "--villages", "thon-cam-la", "--time", "07:00"] + day, title: "Tin nông nghiệp")
                let (st, _) = try await h.run("wardfleet", ["broadcast", "schedule", "--as", "lan", "--title", "Tin y tế", "--media", sha,
                                                            "--communes", "cam-la", "--time", "07:00:02", "--db", h.dbPath] + day)
                #expect(st != 0)
                #expect(h.lastStderr.contains("trùng giờ"), "\(h.lastStderr)")
                #expect(h.lastStderr.contains("Tin nông nghiệp"), "\(h.lastStderr)")
                #expect(h.lastStderr.contains("LOA-A1"), "\(h.lastStderr)")
                // A different village at the same time is fine.
                _ = try await Self.schedule(h, ["--media", sha, "--villages", "kp-yen-giang", "--time", "07:00"] + day, title: "Tin khu phố")
            }
        }

        @Test("a start already past is refused, and moving a weekly item's day keeps it weekly (CLI)")
        func pastStartsAndEditsThroughTheCLI() async throws {
            try await Self.world { h, sha in
                let now = h.clock.now()
                func day(_ offset: Double) -> String { Self.calendar.localDay(of: now.addingTimeInterval(offset * 86_400)).description }
                var (st, _) = try await h.run("wardfleet", ["broadcast", "schedule", "--as", "lan", "--title", "Tin hôm qua", "--media", sha,
                                                            "--communes", "cam-la", "--day", day(-1), "--time", "06:00", "--db", h.dbPath])
                #expect(st != 0)
                #expect(h.lastStderr.contains("đã qua") && h.lastStderr.contains("already past"), "\(h.lastStderr)")
                #expect(try BroadcastRepository(h.db).list().isEmpty)

                let id = try await Self.schedule(h, ["--media", sha, "--communes", "cam-la", "--day", day(1), "--time", "06:00",
                                                     "--repeat", "weekly", "--on", "t2,t4", "--until", day(60)], title: "Tin nông nghiệp")
                (st, _) = try await h.run("wardfleet", ["broadcast", "edit", id, "--as", "lan", "--day", day(3), "--db", h.dbPath])
                #expect(st == 0, "\(h.lastStderr)")
                let r = try BroadcastRepository(h.db).get(id).item.recurrence
                #expect(r == Recurrence(rule: .weekly([.monday, .wednesday]), firstDay: LocalDay(day(3))!, startTime: LocalTime(hour: 6, minute: 0),
                                        until: LocalDay(day(60))!))
            }
        }

        @Test("a corrupt upload is refused, and a speaker refuses media that fails its hash")
        func corruptMedia() async throws {
            try await Self.world { h, sha in
                var junk = [UInt8](repeating: 0, count: 4096)
                for i in junk.indices { junk[i] = UInt8(truncatingIfNeeded: i &* 7919 &+ 13) }
                try Data(junk).write(to: URL(fileURLWithPath: h.file("ban-tin.mp3")))
                let (st, _) = try await h.run("wardfleet", ["media", "add", h.file("ban-tin.mp3"), "--db", h.dbPath])
                #expect(st != 0)
                #expect(!h.lastStderr.isEmpty)
                let (_, list) = try await h.run("wardfleet", ["media", "list", "--json", "--db", h.dbPath])
                #expect(!list.contains("ban-tin"))

                // The library's file altered on disk: speakers download it, the hash fails, nothing plays.
                let stored = try #require(FileManager.default.enumerator(atPath: h.file("media"))?.compactMap { $0 as? String }
                    .first { $0.contains(sha) })
                let path = h.file("media/" + stored)
                let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber).intValue
                try Data(repeating: 0x55, count: size).write(to: URL(fileURLWithPath: path))  // same size, other bytes
                try await h.startController(["--close-grace", "2"])
                try h.startSim(["--only", "LOA-A1"])
                try await Self.online(h, ["LOA-A1"])
                let start = Self.soon(h, 5)
                let id = try await Self.schedule(h, ["--media", sha, "--speakers", "LOA-A1"] + Self.at(start), title: "Tệp hỏng")
                let key = PlayKey(item: id, start: start)
                try await Self.wait(h, key, .missed, on: ["LOA-A1"])
                let e = try Self.entries(h, item: id)
                #expect(e.contains { $0.event == .downloadFailed })
                #expect(!e.contains { $0.event == .started })
                #expect(try Self.rows(h, item: id).first?.outcome == .missed(.downloadFailed, by: nil))
            }
        }
    }
}
