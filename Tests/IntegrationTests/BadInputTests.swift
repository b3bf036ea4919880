import Foundation
import Testing
import WardDomain
import WardStorage

extension RealBrokerTests {
    /// Issue 19, item 8: each mistake a new officer made from the README was either a quiet
    /// success or a wrong answer. Each is refused with what to do instead, or does what was asked.
    /// Through the real binary, as the officer typed it.
    @Suite struct BadInputTests {
        static let calendar = LocalCalendar.vietnam
        static func day(_ offset: Int) -> String { calendar.localDay(of: Date().addingTimeInterval(Double(offset) * 86_400)).description }

        static func officer(_ h: Harness) throws {
            try BroadcastRepository(h.db).addUser(User(name: "lan", role: .admin, displayName: "Nguyễn Thị Lan", createdAt: Date()))
        }

        static func schedule(_ h: Harness, _ extra: [String]) async throws -> (Int32, String) {
            try await h.run("wardfleet", ["broadcast", "schedule", "--as", "lan", "--title", "Tin thử", "--tts", "Xin thông báo tới bà con.",
                                          "--time", "06:00", "--db", h.dbPath] + extra)
        }

        /// `report --commune` with a misspelled id printed an empty report for "0 xã/phường" and exited 0.
        @Test func aReportForAMisspelledCommuneIsRefused() async throws {
            try await withHarness { h in
                let month = String(Self.day(-35).prefix(7))
                var (st, out) = try await h.run("wardfleet", ["report", "generate", "--month", month, "--commune", "cam-lz", "--db", h.dbPath])
                #expect(st != 0 && out.isEmpty, "\(out.prefix(200))")
                #expect(h.lastStderr.contains("no commune with id 'cam-lz'"), "\(h.lastStderr)")
                // The name typed instead of the id gets the id.
                (st, _) = try await h.run("wardfleet", ["report", "generate", "--month", month, "--commune", "Xã Cẩm La", "--db", h.dbPath])
                #expect(st != 0 && h.lastStderr.contains("did you mean 'cam-la'"), "\(h.lastStderr)")
                (st, out) = try await h.run("wardfleet", ["report", "generate", "--month", month, "--commune", "cam-la", "--db", h.dbPath])
                #expect(st == 0 && out.contains("Cẩm La"))
            }
        }

        /// A schedule starting in the past was accepted as "approved" and then appeared nowhere.
        @Test func aScheduleStartingInThePastIsRefused() async throws {
            try await withHarness { h in
                try Self.officer(h)
                let (st, _) = try await Self.schedule(h, ["--day", Self.day(-1), "--communes", "cam-la"])
                #expect(st != 0 && h.lastStderr.contains("already past: choose a day and time ahead"), "\(h.lastStderr)")
                #expect(try BroadcastRepository(h.db).list().isEmpty)
            }
        }

        /// `--on t2,t4` without `--repeat weekly` silently became a one-off: now it is weekly on those days.
        @Test func weekdaysWithoutRepeatMeanWeeklyOnThoseDays() async throws {
            try await withHarness { h in
                try Self.officer(h)
                let (st, out) = try await Self.schedule(h, ["--day", Self.day(1), "--on", "t2,t4", "--communes", "cam-la"])
                #expect(st == 0, "\(out) \(h.lastStderr)")
                let item = try #require(try BroadcastRepository(h.db).list().first)
                #expect(item.item.recurrence.rule == .weekly([.monday, .wednesday]), "\(item.item.recurrence)")
                // With another repetition the days make no sense: refused, saying what to do.
                let (st2, _) = try await Self.schedule(h, ["--day", Self.day(1), "--repeat", "daily", "--on", "t2", "--communes", "cam-la"])
                #expect(st2 != 0 && h.lastStderr.contains("weekly"), "\(h.lastStderr)")
            }
        }

        /// `broadcast edit --skip DATE` without `--day/--time` printed "edited" and stored no skip.
        @Test func anEditThatOnlySkipsADayStoresTheSkip() async throws {
            try await withHarness { h in
                try Self.officer(h)
                var (st, out) = try await Self.schedule(h, ["--day", Self.day(1), "--repeat", "daily", "--communes", "cam-la"])
                #expect(st == 0, "\(out) \(h.lastStderr)")
                let id = try #require(try BroadcastRepository(h.db).list().first?.item.id)
                (st, out) = try await h.run("wardfleet", ["broadcast", "edit", id, "--skip", Self.day(3), "--as", "lan", "--db", h.dbPath])
                #expect(st == 0, "\(out) \(h.lastStderr)")
                let skipped = try #require(try BroadcastRepository(h.db).list().first?.item.recurrence.skipped)
                #expect(skipped.map(\.description) == [Self.day(3)])
                (st, out) = try await h.run("wardfleet", ["broadcast", "list", "--days", "6", "--db", h.dbPath])
                let shown = Self.calendar.localDay(of: Date().addingTimeInterval(3 * 86_400))
                #expect(st == 0 && !out.contains(String(format: "%02d/%02d/%04d", shown.day, shown.month, shown.year)), "\(out)")
            }
        }

        /// A village given by its name instead of its id answered "nothing to play on".
        @Test func aVillageGivenByNameGetsItsId() async throws {
            try await withHarness { h in
                try Self.officer(h)
                let (st, _) = try await Self.schedule(h, ["--day", Self.day(1), "--villages", "Thôn Cẩm La"])
                #expect(st != 0, "refused: the officer must know which speakers it means")
                #expect(h.lastStderr.contains("use the id 'thon-cam-la'") && h.lastStderr.contains("dùng mã 'thon-cam-la'"), "\(h.lastStderr)")
                let (st2, _) = try await Self.schedule(h, ["--day", Self.day(1), "--villages", "thon-khong-co"])
                #expect(st2 != 0 && h.lastStderr.contains("no village with this id"), "\(h.lastStderr)")
            }
        }

        /// Issue 19 item 12: `broadcast list` did not say where each item plays.
        @Test func theListSaysWhereEachItemPlays() async throws {
            try await withHarness { h in
                try Self.officer(h)
                var (st, out) = try await Self.schedule(h, ["--day", Self.day(1), "--villages", "thon-cam-la"])
                #expect(st == 0, "\(out) \(h.lastStderr)")
                (st, out) = try await h.run("wardfleet", ["broadcast", "list", "--days", "3", "--db", h.dbPath])
                #expect(st == 0 && out.contains("Phát tại / Targets") && out.contains("Thôn Cẩm La"), "\(out)")
                (st, out) = try await h.run("wardfleet", ["broadcast", "list", "--days", "3", "--json", "--db", h.dbPath])
                let rows = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]
                let target = try #require(rows?.first?["target"] as? [String: Any], "\(out)")
                #expect(target["villages"] as? [String] == ["thon-cam-la"], "\(out)")
            }
        }
    }
}
