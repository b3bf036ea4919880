import ArgumentParser
import Foundation
import WardClock
import WardController
import WardDomain
import WardHTTP
import WardStorage

/// `wardfleet warnings`: disaster warnings (CAP 1.2, docs/warnings.md): the alerts (list, show, cancel,
/// reach), locally or through a running server's API (`--server`), and their sources: who may post
/// alerts to `POST /api/v1/warnings/cap`, with which CAP senders.
struct WarningsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warnings", abstract: "Cảnh báo thiên tai (CAP 1.2) / Disaster warnings (CAP 1.2).",
        subcommands: [List.self, Show.self, Cancel.self, Reach.self, Readiness.self, Sources.self], defaultSubcommand: List.self)

    static let calendar = LocalCalendar.vietnam

    static func risk(_ w: WarningRecord) -> String {
        w.risk.map { "\($0.rawValue) (\($0.colourName))" } ?? "—"
    }

    /// How many villages it names, or "cả xã" when it reaches whole communes (a geocode naming the commune).
    static func villages(_ w: WarningRecord) -> String {
        let v = w.targets.villages.count
        guard !w.targets.wholeCommunes.isEmpty else { return String(v) }
        return v == 0 ? "cả xã / whole" : "\(v) + cả xã / whole"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Cảnh báo, mới nhất trước / Warnings, newest first.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "JSON output.") var json = false
        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/warnings") }
            let list = try WarningRepository(try db.open()).list(limit: 200)
            if json { return try printAPIJSON(list) }
            let now = Clocks.fromEnvironment().now()
            Table.print(header: ["Số / Id", "Trạng thái / State", "Cấp độ / Risk", "Mức / Level", "Sự kiện / Event", "Nhận lúc / Received",
                                 "Thôn / Villages", "Phát lại tới / Next repeat"],
                        rows: list.map { w in
                            [String(w.id), w.state.vietnamese, WarningsCommand.risk(w), w.level?.vietnamese ?? "—", w.event ?? w.identifier,
                             WarningsCommand.calendar.display(w.receivedAt), WarningsCommand.villages(w),
                             (w.state == .active ? w.plan?.upcoming(after: now, limit: 1).first.map { WarningsCommand.calendar.display($0.at) } : nil) ?? "—"]
                        })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Một cảnh báo / One warning: targets, plays, repeats to come.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Warning number (wardfleet warnings list).") var id: Int64
        @Flag(help: "JSON output.") var json = false
        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", RemoteAPI.path("warnings", String(id))) }
            let database = try db.open()
            let repo = WarningRepository(database)
            let w = try repo.get(id)
            let plays = try repo.plays(id)
            let now = Clocks.fromEnvironment().now()
            let upcoming = w.state == .active ? (w.plan?.upcoming(after: now, limit: 12) ?? []) : []
            if json {
                struct Shown: Encodable {
                    var alert: WarningRecord
                    var plays: [WarningPlay]
                    var upcoming: [Date]
                }
                return try printAPIJSON(Shown(alert: w, plays: plays, upcoming: upcoming.map(\.at)))
            }
            let cal = WarningsCommand.calendar
            print("Cảnh báo / Warning \(w.id): \(w.event ?? w.identifier) — \(w.state.vietnamese) / \(w.state.rawValue)")
            print("  \(w.sender) \(w.identifier) (\(w.status.rawValue) \(w.msgType.rawValue))")
            if let h = w.headline { print("  \(h)") }
            print("  Cấp độ rủi ro / Risk: \(WarningsCommand.risk(w)); mức / level: \(w.level?.vietnamese ?? "—")")
            print("  Nhận lúc / Received: \(cal.display(w.receivedAt)); hết hạn / expires: \(w.expiresAt.map { cal.display($0) } ?? "—")")
            if let by = w.cancelledBy { print("  Hủy bởi / Cancelled by: \(by)") }
            print("  Xã / Communes: \(w.targets.communes.joined(separator: ", ")); thôn / villages: "
                  + (w.targets.villages.isEmpty && !w.targets.wholeCommunes.isEmpty ? "cả xã / whole commune" : w.targets.villages.joined(separator: ", ")))
            if let m = w.plan?.interval { print("  Lặp lại mỗi / Repeats every \(Int(m / 60)) phút / min") }
            for p in plays {
                let what = p.kind == .allClear ? "hết cảnh báo / all-clear" : "lần / play \(p.number)"
                print("  • \(what): \(p.itemID) lúc / at \(cal.display(p.madeAt))")
            }
            for u in upcoming { print("  ◦ sắp phát lại / next repeat \(u.number): \(cal.display(u.at))") }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract: "Hủy cảnh báo đang hiệu lực / Cancel a warning in force (an approver): no more repeats, what plays is stopped.")
        @OptionGroup var library: MediaCommand.LibraryOptions
        @Argument(help: "Warning number.") var id: Int64
        @Option(name: .customLong("as"), help: "Who cancels it (an approver or admin).") var user: String
        @Option(help: "Why (kept in the audit log through --server).") var reason: String?
        @Flag(help: "Play the all-clear ('Hết cảnh báo …'); through --server the server's policy decides (wardfleet run --warning-all-clear).")
        var allClear = false
        @Option(help: "The deployment's warning policy file (the one `wardfleet run --warning-policy` reads): its all_clear_on_cancel applies here too (or --all-clear); not with --server, where the server's policy decides.")
        var warningPolicy: String?
        @Flag(help: "JSON output.") var json = false
        func run() async throws {
            if let remote = try library.db.remote {
                guard warningPolicy == nil else {
                    throw ValidationError("--warning-policy: qua --server, chính sách của máy chủ quyết định / through --server the server's policy decides")
                }
                try await remote.requireActing(as: user)
                return try await remote.run("POST", RemoteAPI.path("warnings", String(id), "cancel"), json: ["reason": reason])
            }
            let p = try WarningOptions.policy(file: warningPolicy)
            let database = try library.db.open()
            let clock = Clocks.fromEnvironment()
            let policy = try WarningPolicy(rules: p.rules, otherwise: p.otherwise, riskBySeverity: p.riskBySeverity, repeatMinutes: p.repeatMinutes,
                                           horizonHours: p.horizonHours, allClearOnCancel: p.allClearOnCancel || allClear)
            let service = WarningService(database: database, library: library.library(database, clock: clock), clock: clock, policy: policy)
            let w = try await service.cancel(id, by: user, reason: reason)
            if json { return try printAPIJSON(w) }
            print("Cảnh báo / Warning \(w.id): \(w.state.vietnamese) / \(w.state.rawValue) — \(user)")
        }
    }

    struct Reach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reach", abstract: "Mức độ tiếp nhận / Proof of reach: per play, per village, speaker by speaker (the playback log).")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Warning number.") var id: Int64
        @Flag(help: "JSON output.") var json = false
        @Option(help: "Write the printable Vietnamese report (HTML) to this file ('-': standard output).") var html: String?
        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("GET", RemoteAPI.path("warnings", String(id), "reach"), query: ["format": html == nil ? nil : "html"],
                                            output: html)
            }
            let now = Clocks.fromEnvironment().now()
            let report = try WarningReachReport.build(try db.open(), alert: id, now: now)
            if let html {
                let page = report.html(generatedAt: now)
                if html == "-" { return print(page, terminator: "") }
                return try page.write(toFile: html, atomically: true, encoding: .utf8)
            }
            if json { return try printAPIJSON(report) }
            let cal = WarningsCommand.calendar
            print("Cảnh báo / Warning \(report.alert): \(report.event ?? report.identifier) — \(report.stateText)")
            for p in report.plays {
                let what = p.kind == .allClear ? "Hết cảnh báo / all-clear" : "Lần / play \(p.number)"
                print("\(what) (\(cal.display(p.dueAt))): \(p.tally.played)/\(p.tally.sent) phát trọn / played in full, "
                    + "\(p.tally.interrupted) bị ngắt / interrupted, \(p.tally.missed) không phát / missed")
                var rows: [[String]] = []
                for place in p.places {
                    if place.speakers.isEmpty { rows.append([place.name, "—", "không có loa / no speakers sent", "", ""]) }
                    for s in place.speakers {
                        rows.append([place.name, s.id, s.outcomeText, s.reasonText ?? "",
                                     s.delayFromReceipt.map { String(format: "%.1f s", $0) } ?? "—"])
                    }
                }
                Table.print(header: ["Thôn / Place", "Loa / Speaker", "Kết quả / Outcome", "Lý do / Reason", "Sau khi nhận / Delay"], rows: rows)
            }
            if !report.upcoming.isEmpty {
                print("Sắp phát lại / Next repeats: " + report.upcoming.map { cal.display($0) }.joined(separator: ", "))
            }
        }
    }

    struct Sources: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sources", abstract: "Nguồn cảnh báo / Warning sources and the CAP senders each may use.",
            subcommands: [List.self, Add.self, Remove.self], defaultSubcommand: List.self)

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Danh sách / List the sources.")
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "JSON output.") var json = false
            func run() async throws {
                let list = try WarningRepository(try db.open()).sources()
                if json { return try printAPIJSON(list) }
                Table.print(header: ["Mã / Id", "Tên / Name", "Sender CAP", "CAP Ack"],
                            rows: list.map { [$0.user, $0.name, $0.senders.joined(separator: " "), $0.ackURL ?? "—"] })
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "add",
                abstract: "Thêm nguồn hoặc cấp mã mới / Add a source, or give it a new token (the old one stops working).")
            @OptionGroup var db: DatabaseOptions
            @Argument(help: "Mã nguồn / source id, e.g. kttv-quang-ninh.") var id: String
            @Option(help: "Tên / name, e.g. 'Đài KTTV tỉnh Quảng Ninh'.") var name: String
            @Option(help: "A CAP <sender> value this source may use (repeatable).") var sender: [String] = []
            @Option(help: "Where the source takes CAP Ack messages with the reach of each play (http or https URL).") var ackUrl: String?
            func run() async throws {
                if let u = ackUrl {
                    guard let url = URL(string: u), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                        throw ValidationError("--ack-url: cần URL http(s) / needs an http(s) URL")
                    }
                }
                guard Identifier.isValid(id) else { throw ValidationError("mã '\(id)' chỉ dùng chữ, số, '-', '_', '.' / id may only use letters, digits, '-', '_', '.'") }
                let name = name.nfc.trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { throw ValidationError("--name: cần tên / a name is needed") }
                guard !sender.isEmpty else { throw ValidationError("--sender: cần ít nhất một / at least one is needed") }
                for s in sender where s.isEmpty || s.contains(where: { $0.isWhitespace || $0 == "," || $0 == "<" || $0 == "&" }) {
                    throw ValidationError("--sender '\(s)': không được có khoảng trắng, dấu phẩy, < hoặc & / no spaces, commas, < or &")
                }
                let repo = WarningRepository(try db.open())
                let now = Clocks.fromEnvironment().now()
                let created = try repo.source(user: id)?.createdAt ?? now
                let token = OperatorAPI.randomToken("wfw_")
                try repo.saveSource(WarningSource(user: id, name: name, senders: sender, createdAt: created, updatedAt: now, ackURL: ackUrl),
                                    tokenHash: OperatorAPI.sha256(token))
                print("Đã lưu / Saved: \(id) (\(sender.joined(separator: ", ")))")
                print("Mã truy cập, chỉ hiện một lần / Bearer token, shown once: \(token)")
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove", abstract: "Bỏ nguồn / Remove a source (its token stops working).")
            @OptionGroup var db: DatabaseOptions
            @Argument(help: "Mã nguồn / source id.") var id: String
            func run() async throws {
                let repo = WarningRepository(try db.open())
                guard try repo.source(user: id) != nil else { throw ValidationError("không có nguồn \(id) / no source \(id)") }
                try repo.deleteSource(user: id)
                print("Đã bỏ / Removed: \(id)")
            }
        }
    }
}
