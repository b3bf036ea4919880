import ArgumentParser
import Foundation
import WardClock
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension Role: ExpressibleByArgument {}
extension BroadcastLevel: ExpressibleByArgument {}
extension AlarmSeverity: ExpressibleByArgument {}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Người dùng và vai trò / Users and roles.", subcommands: [Add.self, List.self, Password.self, Token.self, Tokens.self, RevokeToken.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Thêm người dùng / Add a user.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Login name.") var name: String
        @Option(help: "admin, approver, operator, technician or viewer.") var role: Role
        @Option(help: "Full name, e.g. \"Nguyễn Thị Lan\".") var displayName: String?
        @Option(help: "Limit to these communes (ids, comma-separated); default: all.") var communes: String?
        @Flag(help: "Read a password for the web console from standard input (one line).") var passwordStdin = false

        func run() async throws {
            if let remote = try db.remote {
                guard passwordStdin else { throw ValidationError("--password-stdin: máy chủ cần mật khẩu / the server needs a password") }
                return try await remote.run("POST", "/api/v1/users", json: ["name": name, "role": role.rawValue, "display_name": displayName,
                                                                         "communes": communes.map { TargetOptions.list($0) }, "password": try UsersCommand.readPassword(for: name)])
            }
            guard Identifier.isValid(name) else {
                throw ValidationError("tên đăng nhập: chữ, số, '-', '_', '.' / login: letters, digits, '-', '_', '.'")
            }
            let database = try db.open()
            // Checked before anything is stored: a limit that names no commune is refused, not kept.
            let limit = try communes.map { c -> [String] in
                let ids = TargetOptions.list(c)
                guard !ids.isEmpty else { throw ValidationError("--communes: nêu ít nhất một mã xã, hoặc bỏ tùy chọn để xem mọi xã / name at least one commune id, or leave the option out for all") }
                return try CommuneLimitError.check(ids, in: PlaceRepository(database).tree())
            }
            let password = passwordStdin ? try UsersCommand.readPassword(for: name) : nil
            try BroadcastRepository(database).addUser(User(name: name, role: role, displayName: displayName, createdAt: Date()))
            if let limit { try AuthRepository(database).setCommunes(name, limit) }
            if let password { try AuthRepository(database).setPassword(name, hash: try await OperatorAPI.hashPassword(password)) }
            print("Đã thêm / added \(name) (\(role.vietnamese) / \(role.rawValue))")
        }
    }

    static func readPassword(for name: String) throws -> String {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("mật khẩu trống / empty password") }
        if let problem = PasswordPolicy.problem(line, user: name) { throw ValidationError(problem) }
        return line
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Đặt mật khẩu / Set a user's console password (read from standard input).")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Login name.") var name: String

        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("PATCH", RemoteAPI.path("users", name), json: ["password": try UsersCommand.readPassword(for: name)])
            }
            let database = try db.open()
            _ = try BroadcastRepository(database).user(name)
            try AuthRepository(database).setPassword(name, hash: try await OperatorAPI.hashPassword(try UsersCommand.readPassword(for: name)))
            print("Đã đặt mật khẩu / password set for \(name); các phiên và mã API cũ đã hết / old sessions and API tokens ended")
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tạo mã truy cập API cho script / Make an API token for scripts.",
            discussion: "The secret is printed once; the token is listed (users tokens) and revoked (users revoke-token) by its id.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Login name the token acts as.") var name: String
        @Option(help: "What it is for (its name in the list).") var label = "script"
        @Option(help: "Stops working after this many days (1–3650); default: until revoked.") var validDays: Int?

        func run() async throws {
            if let d = validDays, !APIToken.validDays.contains(d) { throw ValidationError("--valid-days: 1–3650") }
            if let remote = try db.remote {
                return try await remote.run("POST", RemoteAPI.path("users", name, "tokens"), json: ["name": label, "valid_days": validDays])
            }
            let database = try db.open()
            _ = try BroadcastRepository(database).user(name)
            let token = OperatorAPI.randomToken("wft_")
            let now = Clocks.fromEnvironment().now()
            let made = try AuthRepository(database).createToken(tokenHash: OperatorAPI.sha256(token), user: name, label: label, at: now,
                                                                expires: validDays.map { now + Double($0) * 86_400 })
            print(token)
            FileHandle.standardError.write(Data("""
                Chỉ hiện một lần; dùng: Authorization: Bearer … / shown once; use it as a bearer token (id \(made.id))

                """.utf8))
        }
    }

    struct Tokens: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Các mã truy cập API của một người / A user's API tokens (never their secrets).")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Login name.") var name: String
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", RemoteAPI.path("users", name, "tokens")) }
            let database = try db.open()
            _ = try BroadcastRepository(database).user(name)
            let tokens = try AuthRepository(database).tokens(of: name)
            let cal = LocalCalendar.vietnam, now = Clocks.fromEnvironment().now()
            if json {
                // The API's shape (GET /api/v1/users/{name}/tokens), as with --server.
                let e = JSONEncoder()
                e.outputFormatting = jsonOutput.outputFormatting
                e.dateEncodingStrategy = .iso8601
                e.keyEncodingStrategy = .convertToSnakeCase
                return print(String(decoding: try e.encode(tokens.map { $0.listing(at: now) }), as: UTF8.self))
            }
            Table.print(header: ["Mã / Id", "Tên / Name", "Tạo lúc / Created", "Dùng lần cuối / Last used", "Hết hạn / Expires"],
                        rows: tokens.map { t in
                            [t.id, t.name, cal.display(t.createdAt), t.lastUsed.map(cal.display) ?? "chưa dùng / never",
                             t.expiresAt.map { cal.display($0) + (t.isExpired(at: now) ? " (đã hết hạn / expired)" : "") } ?? "không / never"]
                        })
        }
    }

    struct RevokeToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-token",
                                                        abstract: "Thu hồi một mã truy cập API / Revoke an API token (it stops working at once).")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Login name.") var name: String
        @Argument(help: "The token's id (users tokens NAME).") var id: String

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("DELETE", RemoteAPI.path("users", name, "tokens", id)) }
            let database = try db.open()
            _ = try BroadcastRepository(database).user(name)
            guard try AuthRepository(database).revokeToken(id: id, of: name) else {
                throw ValidationError("\(name) không có mã truy cập \(id) / \(name) has no API token \(id)")
            }
            print("Đã thu hồi / revoked \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Liệt kê người dùng / List users.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/users") }
            let database = try db.open()
            let users = try BroadcastRepository(database).users()
            if json { return try printJSON(users) }
            let limits = try AuthRepository(database).communeLimits()
            Table.print(header: ["Tên / Login", "Họ tên / Name", "Vai trò / Role", "Xã / Communes"],
                        rows: users.map { u in
                            [u.name, u.displayName, "\(u.role.vietnamese) / \(u.role.rawValue)",
                             (limits[u.name] ?? nil).map { $0.sorted().joined(separator: ", ") } ?? "tất cả / all"]
                        })
        }
    }
}

struct BroadcastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast",
        abstract: "Lịch phát thanh / The commune radio schedule (Thông tư 39/2020: normal, priority, emergency).",
        subcommands: [Schedule.self, List.self, Approve.self, Cancel.self, Edit.self, Emergency.self, Log.self, Inbox.self,
                      Group.self, QuietHoursCommand.self])

    struct Schedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lên lịch một bản tin / Schedule an item.",
            discussion: "An operator's item waits for an approver; an approver's goes straight on the schedule. Overlaps on a shared speaker and quiet hours are refused with the items, times and speakers named.")
        @OptionGroup var library: MediaCommand.LibraryOptions
        @Option(name: .customLong("as"), help: "Who schedules it.") var user: String
        @Option(help: "Title shown to operators.") var title: String
        @Option(help: "normal, priority or emergency.") var level: BroadcastLevel = .normal
        @OptionGroup var programme: ProgrammeOptions
        @OptionGroup var timing: TimingOptions
        @OptionGroup var targets: TargetOptions
        @Option(help: "Volume 0–100 (default: each speaker's own).") var volume: Int?
        @Option(help: "Priority items: order among colliding ones (1 plays first).") var order: Int?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try library.db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", "/api/v1/broadcasts", json: ["title": title, "level": level.rawValue, "volume": volume, "priority_order": order]
                                            + programme.json + timing.json + targets.json)
            }
            let database = try library.db.open()
            guard let recurrence = try timing.recurrence() else { throw ValidationError("--day và --time / give --day and --time") }
            let programme = try await self.programme.programme(library.library(database), title: title, by: user)
            let request = BroadcastService.Request(
                title: title, level: level, programme: programme, duration: self.programme.duration,
                recurrence: recurrence, target: targets.target ?? BroadcastTarget(), volume: volume, priorityOrder: order)
            let service = BroadcastService(database, clock: Clocks.fromEnvironment())
            let b = try service.schedule(request, by: user)
            // Checked once it is on the schedule: an unreachable source is a warning, not a refusal;
            // so is a priority item cutting normal ones (they are named).
            let warnings = try service.cuts(of: b.item) + (await RelayCheck.warnings(for: b, probe: HTTPStreamProbe()))
            if json {
                printWarnings(warnings)
                return try printJSON(ScheduleAnswer(b, warnings: warnings))
            }
            print("\(b.id): \(b.item.title) — \(b.item.level.vietnamese), \(b.status.vietnamese) / \(b.status.rawValue)")
            printWarnings(warnings)
            if b.status == .pendingApproval { print("Chờ lãnh đạo duyệt / waiting for approval: wardfleet broadcast approve \(b.id) --as …") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Các lần phát sắp tới / Upcoming broadcasts.")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "How many days ahead.") var days = 7
        @Flag(help: "JSON output.") var json = false

        struct Row: Codable {
            var item: String
            var title: String
            var level: BroadcastLevel
            var status: BroadcastStatus
            var start: Date
            var end: Date
            var target: BroadcastTarget
        }

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/broadcasts/upcoming", query: ["days": String(days)]) }
            let now = Clocks.fromEnvironment().now()
            let database = try db.open()
            let rows = try BroadcastService(database, clock: Clocks.fromEnvironment())
                .upcoming(in: DateInterval(start: now, duration: Double(days) * 86_400))
                .map { Row(item: $0.broadcast.id, title: $0.broadcast.item.title, level: $0.broadcast.item.level,
                           status: $0.broadcast.status, start: $0.at.start, end: $0.at.end, target: $0.broadcast.item.target) }
            if json { return try printJSON(rows) }
            if rows.isEmpty { return print("Không có lịch phát trong \(days) ngày tới / nothing scheduled in the next \(days) days") }
            let cal = LocalCalendar.vietnam
            let tree = try PlaceRepository(database).tree()
            Table.print(header: ["Giờ phát / Time", "Đến / Until", "Bản tin / Item", "Mức / Level", "Phát tại / Targets",
                                 "Trạng thái / Status", "Mã / ID"],
                        rows: rows.map { [cal.display($0.start), cal.display($0.end), $0.title, $0.level.vietnamese,
                                          MonthlyReport.describe($0.target, tree), $0.status.vietnamese, $0.item] })
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Duyệt một bản tin / Approve an item.")
        @OptionGroup var db: DatabaseOptions
        @Argument var id: String
        @Option(name: .customLong("as"), help: "The approver.") var user: String

        func run() async throws {
            if let remote = try db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", RemoteAPI.path("broadcasts", id, "approve"), json: [:])
            }
            let b = try BroadcastService(db.open(), clock: Clocks.fromEnvironment()).approve(id, by: user)
            print("\(b.id): \(b.status.vietnamese) / \(b.status.rawValue) — \(user)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hủy một bản tin / Cancel an item.")
        @OptionGroup var db: DatabaseOptions
        @Argument var id: String
        @Option(name: .customLong("as"), help: "Who cancels it.") var user: String
        @Option(help: "Why (kept in the record).") var reason: String?

        func run() async throws {
            if let remote = try db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", RemoteAPI.path("broadcasts", id, "cancel"), json: ["reason": reason])
            }
            let b = try BroadcastService(db.open(), clock: Clocks.fromEnvironment()).cancel(id, by: user, reason: reason)
            print("\(b.id): \(b.status.vietnamese) / \(b.status.rawValue) — \(user)")
        }
    }

    struct Group: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nhóm loa có tên / Named speaker groups: set one, or list them.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Group name, e.g. \"Chợ và bến xe\" (omit to list).") var name: String?
        @Option(help: "Speaker ids, comma-separated.") var speakers: String?
        @Option(name: .customLong("as"), help: "Who sets it.") var user: String?

        func run() async throws {
            if let remote = try db.remote {
                guard let name else { return try await remote.run("GET", "/api/v1/groups") }
                try await remote.requireActing(as: user)
                return try await remote.run("PUT", RemoteAPI.path("groups", name), json: ["speakers": TargetOptions.list(speakers)])
            }
            let database = try db.open()
            guard let name else {
                let groups = try BroadcastRepository(database).groups()
                if groups.isEmpty { return print("Chưa có nhóm loa / no speaker groups") }
                for (g, members) in groups.sorted(by: { $0.key < $1.key }) { print("\(g): \(members.sorted().joined(separator: ", "))") }
                return
            }
            guard let user else { throw ValidationError("--as USER") }
            try BroadcastService(database, clock: Clocks.fromEnvironment()).setGroup(name, speakers: TargetOptions.list(speakers), by: user)
            print("Nhóm / group \(name): \(TargetOptions.list(speakers).joined(separator: ", "))")
        }
    }

    struct QuietHoursCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "quiet-hours", abstract: "Giờ yên tĩnh của xã / A commune's quiet hours (normal items refused; emergencies exempt).")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Commune id.") var commune: String
        @Option(help: "Start, HH:MM.") var from: String?
        @Option(help: "End, HH:MM (may be after midnight).") var to: String?
        @Flag(help: "Remove the quiet hours.") var off = false

        func run() async throws {
            if let remote = try db.remote {
                if off { return try await remote.run("DELETE", RemoteAPI.path("quiet-hours", commune)) }
                guard let from, let to else { return try await remote.run("GET", RemoteAPI.path("quiet-hours", commune)) }
                return try await remote.run("PUT", RemoteAPI.path("quiet-hours", commune), json: ["from": RemoteAPI.time(from), "to": RemoteAPI.time(to)])
            }
            let database = try db.open()
            let repo = BroadcastRepository(database)
            if off { try repo.setQuietHours(commune: commune, nil); return print("Đã bỏ giờ yên tĩnh / quiet hours removed") }
            guard let f = from.flatMap(LocalTime.init), let t = to.flatMap(LocalTime.init) else {
                let q = try repo.quietHours(commune: commune)
                return print(q.map { "\(commune): \($0.start)–\($0.end)" } ?? "\(commune): không có / none")
            }
            try repo.setQuietHours(commune: commune, QuietHours(start: f, end: t))
            print("\(commune): \(f)–\(t)")
            // They apply to everything not yet played: say what they now hold back.
            let cal = LocalCalendar.vietnam
            for b in try BroadcastService(database).blockedByQuietHours(commune: commune, QuietHours(start: f, end: t)) {
                print("Không phát / held back: \(b.title) (\(b.item)) — \(b.plays) lần / plays trong 30 ngày / in 30 days, "
                      + "lần gần nhất / next \(cal.display(b.next))")
            }
        }
    }
}

/// Warnings go to standard error, so a `--json` answer stays one JSON document.
func printWarnings(_ warnings: [String]) {
    for w in warnings { FileHandle.standardError.write(Data("Cảnh báo / warning: \(w)\n".utf8)) }
}

/// When an item plays: --day, --time and how it repeats.
struct TimingOptions: ParsableArguments {
    @Option(help: "First day, YYYY-MM-DD (Asia/Ho_Chi_Minh).") var day: String?
    @Option(help: "Start time, HH:MM or HH:MM:SS.") var time: String?
    @Option(help: "once, daily, weekdays or weekly (default once; in an edit, unchanged).") var `repeat`: String?
    @Option(help: "With weekly: days, e.g. mon,wed,fri (or t2,t4,t6); alone, weekly on those days.") var on: String?
    @Option(help: "Last day, YYYY-MM-DD (in an edit, \"\" removes it).") var until: String?
    @Option(help: "Days to skip, comma-separated YYYY-MM-DD.") var skip: String?

    var input: RecurrenceInput {
        RecurrenceInput(day: day, time: time, repeatRule: self.repeat, on: on.map { TargetOptions.list($0) }, until: until,
                        skip: skip.map { TargetOptions.list($0) })
    }

    /// A new item's schedule; nil when neither --day nor --time was given.
    func recurrence() throws -> Recurrence? {
        guard day != nil || time != nil else { return nil }
        do { return try input.recurrence() } catch { throw ValidationError("--" + error.description) }
    }

    /// An edit's change: only the options given; nil when none was.
    func change() throws -> RecurrenceChange? {
        do {
            let c = try input.change()
            return c.isEmpty ? nil : c
        } catch { throw ValidationError("--" + error.description) }
    }
}

/// Who hears an item.
struct TargetOptions: ParsableArguments {
    @Option(help: "Whole communes (ids, comma-separated).") var communes: String?
    @Option(help: "Villages (ids, comma-separated).") var villages: String?
    @Option(help: "Speaker groups (names, comma-separated; see `broadcast group`).") var groups: String?
    @Option(help: "Single speakers (ids, comma-separated).") var speakers: String?

    static func list(_ s: String?) -> [String] {
        (s ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// nil when no target option was given.
    var target: BroadcastTarget? {
        let t = BroadcastTarget(communes: Self.list(communes), villages: Self.list(villages), groups: Self.list(groups),
                                speakers: Self.list(speakers))
        return t.isEmpty ? nil : t
    }
}
