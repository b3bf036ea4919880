import ArgumentParser
import Foundation
import WardClock
import WardController
import WardDomain
import WardStorage

/// "YYYY-MM-DD" local days or "YYYY-MM" months into a UTC period.
func parsePeriod(from: String?, to: String?, month: String?, now: Date) throws -> DateInterval {
    guard let p = LocalCalendar.vietnam.period(month: month, from: from, to: to, now: now) else {
        throw ValidationError(month.map { ReportError.badMonth($0).description }
            ?? "--from/--to: ngày YYYY-MM-DD, from trước to / dates as YYYY-MM-DD, from before to")
    }
    return p
}

func requireUser(_ db: WardDatabase, _ name: String, _ permission: Permission, _ action: String) throws -> User {
    let u = try BroadcastRepository(db).user(name)
    guard u.role.can(permission) else {
        throw ValidationError("\(name) (\(u.role.vietnamese)) không được \(action) / \(u.role.rawValue) may not \(action)")
    }
    return u
}

struct KPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpi",
        abstract: "Chỉ tiêu chuyển đổi số so với kế hoạch / Coverage KPIs against the plans' targets.",
        subcommands: [Show.self, Targets.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Tính chỉ tiêu cho một kỳ / KPIs over a period.")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Từ ngày / from local day YYYY-MM-DD (default: start of this month).") var from: String?
        @Option(help: "Đến hết ngày / to the end of local day YYYY-MM-DD (default: now).") var to: String?
        @Option(help: "Cả tháng / a whole month YYYY-MM (instead of --from/--to).") var month: String?
        @Option(help: "Chỉ một xã/phường (mã) / only this commune (id).") var commune: String?
        @Flag(help: "Hiện từng thôn / show every village.") var villages = false
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("GET", "/api/v1/kpi", query: ["month": month, "from": from, "to": to, "commune": commune])
            }
            let now = Clocks.fromEnvironment().now()
            let period = try parsePeriod(from: from, to: to, month: month, now: now)
            let database = try db.open()
            if let c = commune, try PlaceRepository(database).tree()[c]?.level != .commune {
                throw ValidationError("không có xã/phường \(c) / no commune \(c)")
            }
            let r = try KPIService(database).report(period: period, communes: commune.map { [$0] }, now: now)
            if json { return try printJSON(r) }
            let cal = LocalCalendar.vietnam
            print("CHỈ TIÊU / KPIs — \(r.deployment.name)")
            print("Kỳ / period: \(cal.display(r.period.start)) – \(cal.display(min(r.period.end, now))) (Asia/Ho_Chi_Minh)\n")
            printScope(r.deployment)
            if r.communes.count > 1 {
                print("")
                Table.print(header: ["Xã / Commune"] + [KPIID.loudspeakerCoverage, .villageBulletin, .cameraCoverage, .wifiCoverage, .satisfaction].map(\.rawValue),
                            rows: r.communes.map { s in
                                [s.name] + [KPIID.loudspeakerCoverage, .villageBulletin, .cameraCoverage, .wifiCoverage, .satisfaction].map { id in
                                    let k = s.kpi(id)
                                    return Render.percent(k?.value) + (k?.met == false ? " ✗" : "")
                                }
                            })
            }
            if villages {
                print("")
                Table.print(header: ["Thôn / Village", "Loa / Spk", "CT xã / Programme", "Bản tin / Bulletin", "Camera", "Lý do / Why"],
                            rows: r.deployment.villages.map { v in
                                [v.name, "\(v.speakers)", v.loudspeakerCovered ? "✓" : "✗", v.bulletinPlayed ? "✓" : "✗", v.cameraCovered ? "✓" : "✗",
                                 v.reasons.joined(separator: "; ")]
                            })
            }
        }

        func printScope(_ s: ScopeKPIs) {
            Table.print(header: ["Chỉ tiêu / KPI", "Kết quả / Value", "Mục tiêu / Target", "Đạt / Met"],
                        rows: s.kpis.map { k in
                            let counts = k.id.isCount ? k.denominator.map { $0 > 0 ? " (\(Int(k.numerator ?? 0))/\(Int($0)))" : "" } ?? "" : ""
                            return ["\(k.id.vietnamese) / \(k.id.rawValue)", Render.percent(k.value) + counts,
                                    k.target.map { "\($0.symbol) \(Render.percent($0.value))" } ?? "—",
                                    k.met.map { $0 ? "✓ đạt / met" : "✗ chưa đạt / not met" } ?? "— chưa có dữ liệu / no data"]
                        })
            for k in s.kpis where k.met == false || k.note != nil {
                if let n = k.note { print("  \(k.id.rawValue): \(n)") }
                for m in k.misses.prefix(10) { print("  ✗ \(k.id.rawValue): \(m.name) (\(m.placeID)): \(m.reason)") }
                if k.misses.count > 10 { print("  … \(k.misses.count - 10) nơi khác / more") }
            }
            let o = s.oneStop
            print("\nMột cửa / one-stop: \(o.ticketsIssued) phiếu / tickets, \(o.ticketsPerDay.map { String(format: "%.1f", $0) } ?? "—")/ngày/day, "
                  + "chờ TB / mean wait \(o.meanWaitSeconds.map(Render.duration) ?? "—"), P90 \(o.p90WaitSeconds.map(Render.duration) ?? "—"), "
                  + "\(o.ratings.values.reduce(0, +)) đánh giá / ratings")
        }
    }

    struct Targets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "targets", abstract: "Xem hoặc đặt mục tiêu và ngưỡng / Show or set targets and thresholds (admin).")
        @OptionGroup var db: DatabaseOptions
        @Option(name: .customLong("set"), help: "KEY=FRACTION, e.g. satisfaction=0.9, availability_threshold=0.95 (repeatable).")
        var assignments: [String] = []
        @Option(help: "Người thay đổi (quản trị) / who changes them (admin).") var user: String?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote {
                guard !assignments.isEmpty else { return try await remote.run("GET", "/api/v1/kpi/targets") }
                try await remote.requireActing(as: user)
                var body: [String: Any?] = [:]
                for a in assignments {
                    let p = a.split(separator: "=", maxSplits: 1).map(String.init)
                    guard p.count == 2, let v = Double(p[1]) else { throw ValidationError("'\(a)': cần KEY=SỐ / expected KEY=NUMBER") }
                    body[p[0]] = v
                }
                return try await remote.run("PUT", "/api/v1/kpi/targets", json: body)
            }
            let database = try db.open()
            let repo = SettingsRepository(database)
            var s = try repo.kpiSettings()
            if !assignments.isEmpty {
                guard let user else { throw ValidationError("--user cần để đổi mục tiêu / --user is needed to change targets") }
                _ = try requireUser(database, user, .configure, "đổi mục tiêu / change targets")
                for a in assignments {
                    let p = a.split(separator: "=", maxSplits: 1).map(String.init)
                    guard p.count == 2, let v = Double(p[1]) else { throw ValidationError("'\(a)': cần KEY=SỐ / expected KEY=NUMBER") }
                    do { try s.set(p[0], v) } catch { throw ValidationError(error.description) }
                }
                try repo.set(SettingsRepository.kpi, s, by: user, at: Clocks.fromEnvironment().now())
            }
            if json { return try printJSON(s) }
            Table.print(header: ["Khóa / Key", "Mục tiêu / Target", "Nguồn / Source"],
                        rows: KPIID.allCases.map { id in
                            [id.rawValue, s.target(id).map { "\($0.symbol) \(Render.percent($0.value))" } ?? "—", id.source]
                        } + [["availability_threshold", Render.percent(s.availabilityThreshold), "định nghĩa / definition"],
                             ["programme_share", Render.percent(s.programmeShare), "định nghĩa / definition"]])
        }
    }
}

struct AlarmsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alarms", abstract: "Cảnh báo / Alarms: list, acknowledge, rules, notifications.",
        subcommands: [List.self, Ack.self, Rules.self, Notifications.self, Contacts.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Danh sách cảnh báo / List alarms (open by default).")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "active, acknowledged, cleared, open (default) or all.") var status = "open"
        @Option(help: "Most recent N.") var limit = 100
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/alarms", query: ["status": status]) }
            let repo = AlarmRepository(try db.open())
            let alarms: [Alarm]
            switch status {
            case "open": alarms = try repo.open().reversed()
            case "all": alarms = try repo.list(limit: limit)
            default:
                guard let s = AlarmStatus(rawValue: status) else {
                    throw ValidationError("--status: active, acknowledged, cleared, open, all")
                }
                alarms = try repo.list(status: s, limit: limit)
            }
            if json { return try printJSON(alarms) }
            if alarms.isEmpty { return print("Không có cảnh báo / no alarms (\(status))") }
            let cal = LocalCalendar.vietnam
            Table.print(header: ["#", "Mức / Sev", "Trạng thái / Status", "Loại / Kind", "Đối tượng / Subject", "Từ / Since", "Chi tiết / Detail",
                                 "Xác nhận / Ack", "Hết / Cleared"],
                        rows: alarms.map { a in
                            ["\(a.id ?? 0)", a.severity.vietnamese, "\(a.status.vietnamese) / \(a.status.rawValue)",
                             a.kind.vietnamese, a.deviceID ?? a.villageID ?? "", cal.display(a.since),
                             String(a.detail.prefix(80)) + (a.detail.count > 80 ? "…" : "") + (a.members.isEmpty ? "" : " [\(a.members.joined(separator: ", "))]"),
                             a.ackedBy.map { "\($0) \(a.ackedAt.map(cal.display) ?? "")" } ?? "—",
                             a.clearedAt.map(cal.display) ?? "—"]
                        })
        }
    }

    struct Ack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ack", abstract: "Xác nhận cảnh báo / Acknowledge an alarm.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Alarm number.") var id: Int64
        @Option(help: "Người xác nhận / who acknowledges.") var user: String
        @Option(help: "Ghi chú / note (e.g. 'đã cử người đi sửa').") var note: String?

        func run() async throws {
            if let remote = try db.remote {
                try await remote.requireActing(as: user)
                return try await remote.run("POST", RemoteAPI.path("alarms", String(id), "ack"), json: ["note": note])
            }
            let database = try db.open()
            _ = try requireUser(database, user, .acknowledgeAlarms, "xác nhận cảnh báo / acknowledge alarms")
            do {
                let a = try AlarmRepository(database).acknowledge(id, by: user, at: Clocks.fromEnvironment().now(), note: note)
                print("Đã xác nhận / acknowledged #\(id) \(a.kind.vietnamese) \(a.deviceID ?? a.villageID ?? "")")
            } catch let e as AlarmStoreError {
                throw ValidationError(e.description)
            }
        }
    }

    struct Rules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rules", abstract: "Quy tắc cảnh báo / Alarm rules: show, or change one (admin).")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Kind to change: \(AlarmRuleChange.kinds).") var kind: String?
        @Option(name: .customLong("class"), help: "Device class of the rule (speaker, camera, access_point, kiosk).") var deviceClass: DeviceClass?
        @Option(help: "major, minor or warning.") var severity: AlarmSeverity?
        @Option(help: "Threshold (disk: used fraction 0–1; battery: percent).") var threshold: Double?
        @Option(help: "Seconds the condition must hold before the alarm.") var duration: Double?
        @Option(help: "Seconds it must be gone before the alarm clears.") var tolerance: Double?
        @Option(help: "true or false.") var enabled: Bool?
        @Option(help: "Người thay đổi (quản trị) / who changes it (admin).") var user: String?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote {
                guard let kind else { return try await remote.run("GET", "/api/v1/alarms/rules") }
                try await remote.requireActing(as: user)
                return try await remote.run("PUT", "/api/v1/alarms/rules", json: ["kind": kind, "device_class": deviceClass?.rawValue, "severity": severity?.rawValue, "threshold": threshold,
                                                                              "duration": duration, "tolerance": tolerance, "enabled": enabled])
            }
            let database = try db.open()
            let settings = SettingsRepository(database)
            var rules = try settings.alarmRules()
            if let kind {
                guard let user else { throw ValidationError("--user cần để đổi quy tắc / --user is needed to change a rule") }
                _ = try requireUser(database, user, .configure, "đổi quy tắc cảnh báo / change alarm rules")
                let r: AlarmRule
                do {
                    r = try rules.apply(AlarmRuleChange(kind: kind, deviceClass: deviceClass, severity: severity, threshold: threshold,
                                                        duration: duration, tolerance: tolerance, enabled: enabled))
                } catch { throw ValidationError(error.description) }
                try settings.set(SettingsRepository.alarmRules, rules.sorted, by: user, at: Clocks.fromEnvironment().now())
                print("Đã lưu / saved \(r.key) (bộ điều khiển áp dụng ngay / the controller applies it at once)")
            }
            if json { return try printJSON(rules.sorted) }
            Table.print(header: ["Loại / Kind", "Thiết bị / Class", "Mức / Severity", "Ngưỡng / Threshold", "Kéo dài / Duration", "Dung sai / Tolerance", "Bật / On"],
                        rows: rules.sorted.map { r in
                            [r.kind.rawValue, r.deviceClass.rawValue, "\(r.severity.vietnamese) / \(r.severity.rawValue)",
                             r.threshold.map { r.kind == .diskNearlyFull ? Render.percent($0) : String(format: "< %.0f%%", $0) } ?? "—",
                             Render.duration(r.duration), Render.duration(r.tolerance), r.enabled ? "✓" : "✗"]
                        })
            print("Gộp theo thôn / village grouping: ≥ 3 thiết bị mất kết nối trong 60 s / ≥ 3 devices offline within 60 s (run --storm-devices/--storm-window)")
        }
    }

    struct Notifications: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "notifications", abstract: "Thông báo đã gửi, đang thử lại, thất bại / Notifications sent, retrying, failed.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "Only those not delivered.") var undelivered = false
        @Option(help: "Most recent N.") var limit = 50
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("GET", "/api/v1/alarms/notifications", query: ["limit": String(limit), "undelivered": undelivered ? "true" : nil])
            }
            let repo = NotificationRepository(try db.open())
            let list = try repo.list(limit: limit, undeliveredOnly: undelivered)
            if json { return try printJSON(list) }
            let counts = try repo.counts()
            print("Đã gửi / delivered \(counts["delivered"] ?? 0) · đang thử lại / retrying \(counts["retrying"] ?? 0) · "
                  + "chờ / queued \(counts["queued"] ?? 0) · thất bại / failed \(counts["failed"] ?? 0)")
            let cal = LocalCalendar.vietnam
            Table.print(header: ["#", "Cảnh báo / Alarm", "Sự kiện / Event", "Kênh / Sink", "Trạng thái / Status", "Lần thử / Tries", "Lần tới / Next", "Lỗi / Error"],
                        rows: list.map { n in
                            ["\(n.id)", n.alarmID.map { "#\($0)" } ?? "", n.event, n.sink, n.status, "\(n.attempts)",
                             n.deliveredAt == nil && n.gaveUpAt == nil ? cal.display(n.nextAttemptAt) : "—", n.lastError ?? ""]
                        })
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Báo cáo tháng / Monthly report.",
        subcommands: [Generate.self, List.self, Show.self], defaultSubcommand: Generate.self)

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate", abstract: "Lập báo cáo tháng / Make a monthly report.")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Tháng / month YYYY-MM.") var month: String
        @Option(help: "html, csv or json.") var format = "html"
        @Option(help: "vi (default) or en.") var lang = "vi"
        @Option(help: "Chỉ một xã/phường / only this commune.") var commune: String?
        @Option(help: "Write to this file (default: standard output).") var output: String?
        @Flag(help: "Also keep the month's report in the database, in every format and language, like the automatic ones.") var keep = false

        func run() async throws {
            if let remote = try db.remote {
                if keep { _ = try await remote.call("POST", RemoteAPI.path("reports", month, "keep"), json: ["commune": commune]) }
                return try await remote.run("GET", RemoteAPI.path("reports", month), query: ["format": format, "lang": lang, "commune": commune], output: output)
            }
            guard let f = ReportFormat(rawValue: format) else { throw ValidationError(ReportError.badFormat(format).description) }
            guard let l = ReportLanguage(rawValue: lang) else { throw ValidationError("--lang: vi, en") }
            let database = try db.open()
            let now = Clocks.fromEnvironment().now()
            let report: MonthlyReport
            do { report = try MonthlyReport.build(database, month: month, commune: commune, now: now) } catch let e as ReportError {
                throw ValidationError(e.description)
            }
            if keep {
                // Kept the way the scheduler and the API keep a month: every format and language.
                try ReportScheduler.generate(database, month: month, commune: commune, now: now,
                                             by: ProcessInfo.processInfo.environment["USER"] ?? "cli", directory: nil)
            }
            try emit(ReportRenderer(language: l).render(report, as: f), to: output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Báo cáo đã lưu / Reports kept.")
        @OptionGroup var db: DatabaseOptions
        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/reports") }
            let list = try ReportRepository(try db.open()).list()
            if list.isEmpty { return print("Chưa có báo cáo nào được lưu / no reports kept yet") }
            Table.print(header: ["Tháng / Month", "Phạm vi / Scope", "Định dạng / Format", "Ngôn ngữ / Lang", "Cỡ / Size", "Lập lúc / Generated", "Bởi / By"],
                        rows: list.map { [$0.month, $0.scope, $0.format, $0.lang, "\($0.size)", LocalCalendar.vietnam.display($0.generatedAt), $0.generatedBy] })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "In báo cáo đã lưu / Print a kept report.")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Tháng / month YYYY-MM.") var month: String
        @Option(help: "html, csv or json.") var format = "html"
        @Option(help: "vi or en.") var lang = "vi"
        @Option(help: "Scope: * (whole deployment) or a commune id.") var scope = "*"
        @Option(help: "Write to this file (default: standard output).") var output: String?

        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("GET", RemoteAPI.path("reports", month, "kept"), query: ["format": format, "lang": lang, "scope": scope], output: output)
            }
            guard let body = try ReportRepository(try db.open()).body(month: month, scope: scope, format: format, lang: lang) else {
                throw ValidationError("chưa có báo cáo \(month) \(format) \(lang) / no kept report for that")
            }
            try emit(body, to: output)
        }
    }
}

/// Writes a report body to `output` (saying so on standard error) or to standard output.
func emit(_ body: Data, to output: String?) throws {
    guard let output, output != "-" else { return FileHandle.standardOutput.write(body) }
    try body.write(to: URL(fileURLWithPath: output))
    FileHandle.standardError.write(Data("Đã ghi / wrote \(output) (\(body.count) bytes)\n".utf8))
}
