import ArgumentParser
import Foundation
import WardClock
import WardController
import WardDomain
import WardStorage

/// What an item plays, from the command line: library audio, text read out now, or a relay.
struct ProgrammeOptions: ParsableArguments {
    @Option(help: "Library audio: its sha256 or a unique prefix (wardfleet media list).") var media: String?
    @Option(help: "Vietnamese text to read out (rendered now by text-to-speech and added to the library).") var tts: String?
    @Option(help: "Voice for --tts: northern, central or southern.") var voice: TTSVoice = .northern
    @Option(help: "Relay this http(s) stream instead (with --minutes).") var stream: String?
    @Option(help: "Relay window in minutes.") var minutes: Double?

    /// Relay window in seconds, if given.
    var duration: TimeInterval? { minutes.map { $0 * 60 } }

    func programme(_ library: MediaLibrary, title: String, by user: String) async throws -> Programme {
        do {
            return try await ProgrammeChoice(media: media, tts: tts, voice: voice, stream: stream).programme(library, title: title, by: user)
        } catch let e as ProgrammeChoice.Problem {
            throw ValidationError(e.description)
        }
    }
}

extension BroadcastCommand {
    struct Emergency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Phát khẩn cấp ngay / Send an emergency now: it interrupts whatever plays on the targets.",
            discussion: "Approvers and admins only. Without a target, the whole commune (when the system has one commune).")
        @OptionGroup var library: MediaCommand.LibraryOptions
        @Option(name: .customLong("as"), help: "Who sends it (approver or admin).") var user: String
        @Option(help: "Title, e.g. \"Cảnh báo lũ quét\".") var title: String
        @OptionGroup var programme: ProgrammeOptions
        @OptionGroup var targets: TargetOptions
        @Option(help: "Volume 0–100 (default: each speaker's own).") var volume: Int?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try library.db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", "/api/v1/emergency", json: ["title": title, "volume": volume] + programme.json + targets.json)
            }
            let database = try library.db.open()
            var target = targets.target
            if target == nil {
                let communes = try PlaceRepository(database).tree().places.values.filter { $0.level == .commune }
                guard communes.count == 1 else { throw ValidationError("chọn nơi phát: --communes/--villages/... / choose a target") }
                target = BroadcastTarget(communes: [communes[0].id])
            }
            let p = try await programme.programme(library.library(database), title: title, by: user)
            let b = try BroadcastService(database, clock: Clocks.fromEnvironment()).sendEmergency(
                title: title, programme: p, duration: programme.duration, target: target!, volume: volume, by: user)
            let warnings = await RelayCheck.warnings(for: b, probe: HTTPStreamProbe())
            if json { return try printJSON(ScheduleAnswer(b, warnings: warnings)) }
            print("\(b.id): \(b.item.title) — KHẨN CẤP / EMERGENCY, lên sóng ngay / on air now")
            printWarnings(warnings)
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sửa một bản tin / Edit an item: title, time, target or volume. Speakers get the change.",
            discussion: "An operator's edit sends the item back for approval; conflicts are checked as for a new item.")
        @OptionGroup var db: DatabaseOptions
        @Argument var id: String
        @Option(name: .customLong("as"), help: "Who edits it.") var user: String
        @Option(help: "New title.") var title: String?
        @OptionGroup var timing: TimingOptions
        @OptionGroup var targets: TargetOptions
        @Option(help: "Volume 0–100.") var volume: Int?
        @Option(help: "Priority items: order among colliding ones.") var order: Int?

        func run() async throws {
            if let remote = try db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("PATCH", RemoteAPI.path("broadcasts", id), json: ["title": title, "volume": volume, "priority_order": order]
                                            + timing.json + targets.json)
            }
            let e = BroadcastService.Edit(title: title, timing: try timing.change(), target: targets.target, volume: volume,
                                          priorityOrder: order)
            let b = try BroadcastService(db.open(), clock: Clocks.fromEnvironment()).edit(id, e, by: user)
            print("\(b.id): đã sửa / edited — \(b.status.vietnamese) / \(b.status.rawValue)")
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nhật ký phát / Playback log of a day: what played where, and each item's reach.")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Day, YYYY-MM-DD (Asia/Ho_Chi_Minh; default today).") var date: String?
        @Option(help: "Only this item.") var item: String?
        @Option(help: "Write CSV to this file ('-' for standard output).") var csv: String?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/playback", query: ["date": date, "item": item]) }
            let cal = LocalCalendar.vietnam
            let day: LocalDay
            if let date {
                guard let d = LocalDay(date) else { throw ValidationError("--date phải là YYYY-MM-DD / must be YYYY-MM-DD") }
                day = d
            } else {
                day = cal.localDay(of: Clocks.fromEnvironment().now())
            }
            let report = try PlaybackLogReport.build(db.open(), day: day, item: item)
            if let csv {
                let text = report.csv()
                if csv == "-" { return print(text, terminator: "") }
                try text.write(toFile: csv, atomically: true, encoding: .utf8)
                return print("Đã ghi / wrote \(report.rows.count) dòng / rows → \(csv)")
            }
            if json { return try printJSON(report) }
            if report.rows.isEmpty { return print("Không có lần phát nào ngày \(day) / nothing was scheduled to play on \(day)") }
            for i in report.items {
                let villages = i.byVillage.sorted { $0.key < $1.key }
                    .map { "\(report.villageNames[$0.key] ?? $0.key) \($0.value.played)/\($0.value.targeted)" }.joined(separator: ", ")
                let cut = i.reach.interrupted > 0 ? ", \(i.reach.interrupted) bị ngắt / interrupted" : ""
                // Reach counts a play sounding now with the ones played through (Reach.played): said as such.
                print("\(i.title) (\(i.item), \(i.level.vietnamese)): đã hoặc đang phát / played or playing \(i.reach.played)/\(i.reach.targeted) loa / speakers"
                    + " = \(Render.percent(i.reach.ratio))\(cut); theo thôn / by village: \(villages)")
            }
            print("")
            Table.print(header: ["Giờ / Scheduled", "Bản tin / Item", "Loa / Speaker", "Thôn / Village", "Kết quả / Outcome",
                                 "Bắt đầu / Started", "Lệch / Offset"],
                        rows: report.rows.map { r in
                            [cal.display(r.scheduledStart), r.title, r.speaker, r.placeName ?? "—", "\(r.outcomeVietnamese) / \(r.outcome)",
                             r.startedAt.map { cal.display($0) } ?? "—", r.startOffset.map { String(format: "%+.2f s", $0) } ?? "—"]
                        })
        }
    }

    struct Inbox: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bản tin từ hệ thống thông tin nguồn / Bulletins from the provincial source system.",
            subcommands: [InboxList.self, InboxSchedule.self, InboxDismiss.self], defaultSubcommand: InboxList.self)
    }

    struct InboxList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Hộp thư / The inbox (waiting bulletins).")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Also those already handled.") var all = false
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/inbox", query: ["all": all ? "true" : nil]) }
            let list = try UpstreamRepository(db.open()).list(all: all)
            if json { return try printJSON(list) }
            if list.isEmpty { return print("Hộp thư trống / the inbox is empty") }
            let cal = LocalCalendar.vietnam
            Table.print(header: ["#", "Nhận lúc / Received", "Nguồn / Source", "Tiêu đề / Title", "Mức / Level", "Xã / Communes",
                                 "Trạng thái / Status", "Bản tin / Item"],
                        rows: list.map { [String($0.id), cal.display($0.receivedAt), "\($0.source)/\($0.sourceID)", $0.title,
                                          $0.level.vietnamese, $0.communes.joined(separator: ","), $0.status.vietnamese, $0.itemID ?? "—"] })
            // What a text bulletin says, under the table: too long for a column.
            for b in list { if let text = b.text { print("\n#\(b.id) \(b.title):\n  \(text)") } }
        }
    }

    struct InboxSchedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "schedule", abstract: "Lên lịch một bản tin nguồn / Schedule an inbox bulletin.")
        @OptionGroup var library: MediaCommand.LibraryOptions
        @Argument(help: "Inbox number (#).") var number: Int64
        @Option(name: .customLong("as"), help: "Who schedules it.") var user: String
        @OptionGroup var timing: TimingOptions
        @OptionGroup var targets: TargetOptions
        @Option(help: "Volume 0–100.") var volume: Int?

        func run() async throws {
            if let remote = try library.db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", RemoteAPI.path("inbox", String(number), "schedule"), json: ["volume": volume] + timing.json + targets.json)
            }
            guard let r = try timing.recurrence() else { throw ValidationError("--day và --time / give --day and --time") }
            let b = try upstream(library).schedule(number, recurrence: r, target: targets.target, volume: volume, by: user)
            print("\(b.id): \(b.item.title) — \(b.status.vietnamese) / \(b.status.rawValue)")
        }
    }

    struct InboxDismiss: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dismiss", abstract: "Bỏ qua một bản tin nguồn / Dismiss an inbox bulletin.")
        @OptionGroup var library: MediaCommand.LibraryOptions
        @Argument var number: Int64
        @Option(name: .customLong("as")) var user: String
        @Option(help: "Why (kept).") var reason: String?

        func run() async throws {
            if let remote = try library.db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", RemoteAPI.path("inbox", String(number), "dismiss"), json: ["reason": reason])
            }
            try upstream(library).dismiss(number, by: user, reason: reason)
            print("#\(number): đã bỏ qua / dismissed")
        }
    }
}

/// The upstream inbox of the database and media folder the options name.
func upstream(_ options: MediaCommand.LibraryOptions) throws -> UpstreamService {
    let database = try options.db.open()
    let clock = Clocks.fromEnvironment()
    return UpstreamService(database: database, library: options.library(database, clock: clock), clock: clock)
}
