import ArgumentParser
import Foundation
import WardClock
import WardController
import WardDomain
import WardStorage

/// `wardfleet run --sms-…`: alarms texted through an HTTP SMS gateway (docs/alarms-kpis.md, "SMS").
struct SMSOptions: ParsableArguments {
    @Option(help: "HTTP SMS gateway alarms are texted through (POST); unset: no SMS. Contacts: `wardfleet alarms contacts`.")
    var smsGateway: String?
    @Option(help: "Gateway body format: json or form.") var smsFormat = "json"
    @Option(help: "Gateway body with {to} {to_local} {to_digits} {text} {brand} {id} (default: a JSON or form body with to, brandname, message, request_id).")
    var smsBody: String?
    @Option(help: "Header sent to the gateway, 'Name: value' (repeatable); a secret one also from $WARDFLEET_SMS_HEADER.")
    var smsHeader: [String] = []
    @Option(help: "Text the gateway's answer must contain to count as accepted (e.g. '\"CodeResult\":\"100\"'); unset: any 2xx.")
    var smsSuccess: String?
    @Option(help: "Registered brand name the texts are sent under (also {brand} in templates).") var smsBrand = "WardFleet"
    @Flag(help: "Write texts without diacritics (không dấu): 160 characters a part instead of 70.") var smsUnaccented = false
    @Option(help: "At most this many texts to one number in any hour; the rest go later as one summary.") var smsPerHour = 10
    @Option(help: "More alarms than this for one number within --sms-storm-window: one summary text instead.") var smsStorm = 3
    @Option(help: "Seconds of the storm window.") var smsStormWindow: Double = 300
    @Option(help: "Minutes an alarm may stay unacknowledged before the next level's contacts are texted (0: never).")
    var smsEscalateAfter: Double = 15
    @Option(help: "Least severe alarm texted: major, minor or warning.") var smsMinSeverity = "minor"
    @Flag(help: "Do not text when an alarm is over.") var smsNoCleared = false
    @Option(help: "JSON file of templates by event[.kind][.severity] and \"storm\" (docs/alarms-kpis.md).") var smsTemplates: String?

    func configuration() throws -> SMSConfiguration? {
        guard let smsGateway else { return nil }
        guard let url = URL(string: smsGateway), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ValidationError("--sms-gateway '\(smsGateway)': cần URL http(s) / needs an http(s) URL")
        }
        guard let format = SMSGateway.Format(rawValue: smsFormat) else { throw ValidationError("--sms-format: json, form") }
        var headers: [(String, String)] = []
        for h in smsHeader + [ProcessInfo.processInfo.environment["WARDFLEET_SMS_HEADER"]].compactMap({ $0 }).filter({ !$0.isEmpty }) {
            guard let colon = h.firstIndex(of: ":"), !h[..<colon].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ValidationError("--sms-header phải có dạng 'Tên: giá trị' / must be 'Name: value'")
            }
            headers.append((h[..<colon].trimmingCharacters(in: .whitespaces), h[h.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        guard let minSeverity = AlarmSeverity(rawValue: smsMinSeverity) else { throw ValidationError("--sms-min-severity: major, minor, warning") }
        guard smsPerHour >= 1, smsStorm >= 1, smsStormWindow >= 0, smsEscalateAfter >= 0 else {
            throw ValidationError("--sms-per-hour, --sms-storm ≥ 1; --sms-storm-window, --sms-escalate-after ≥ 0")
        }
        let brand = smsBrand.precomposedStringWithCanonicalMapping
        guard !brand.isEmpty, brand.count <= 20 else {
            throw ValidationError("--sms-brand: 1…20 ký tự / characters")
        }
        let policy = SMSPolicy(brand: brand, unaccented: smsUnaccented, perRecipientPerHour: smsPerHour, stormThreshold: smsStorm,
                               stormWindow: smsStormWindow, escalateAfter: smsEscalateAfter > 0 ? smsEscalateAfter * 60 : nil,
                               minSeverity: minSeverity, notifyCleared: !smsNoCleared)
        var templates = try SMSTemplates()
        if let path = smsTemplates {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ValidationError("--sms-templates: không đọc được / cannot read \(path)")
            }
            guard var map = try? JSONDecoder().decode([String: String].self, from: data) else {
                throw ValidationError("--sms-templates: cần một đối tượng JSON {khoá: mẫu} / needs a JSON object {key: template}")
            }
            let storm = map.removeValue(forKey: "storm")
            do { templates = try SMSTemplates(templates: map, storm: storm ?? SMSTemplates.defaultStorm) } catch let e as SMSRefusal {
                throw ValidationError("--sms-templates: \(e.description)")
            }
        }
        return SMSConfiguration(gateway: SMSGateway(url: url, format: format, body: smsBody, headers: headers, successMatch: smsSuccess),
                                policy: policy, templates: templates)
    }
}

extension AlarmsCommand {
    /// `wardfleet alarms contacts`: who alarms are texted to, in escalation order, per commune.
    struct Contacts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "contacts", abstract: "Người nhận tin nhắn cảnh báo / SMS contacts, in escalation order.",
            subcommands: [List.self, Add.self, Remove.self], defaultSubcommand: List.self)

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Danh sách / List the contacts.")
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "JSON output.") var json = false
            func run() async throws {
                let database = try db.open()
                let list = try SMSRepository(database).contacts()
                if json { return try printJSON(list) }
                let tree = try PlaceRepository(database).tree()
                Table.print(header: ["Xã / Commune", "Cấp / Level", "Tên / Name", "Số / Phone"], rows: list.map { c in
                    [c.commune.map { tree[$0]?.name ?? $0 } ?? "mọi xã / every commune", "\(c.level + 1)", c.name, c.phone.value]
                })
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "add", abstract: "Thêm hoặc sửa người nhận / Add or change a contact (level 0 is texted first).")
            @OptionGroup var db: DatabaseOptions
            @Argument(help: "Số di động / mobile number (0912345678 or +84912345678).") var phone: String
            @Option(help: "Tên / name.") var name: String
            @Option(help: "Commune id (unset: every commune, e.g. a district duty officer).") var commune: String?
            @Option(help: "Escalation level: 0 first, 1 when still unacknowledged after --sms-escalate-after, …") var level = 0
            @Option(help: "Who makes the change (recorded).") var user: String?
            func run() async throws {
                let database = try db.open()
                let number: PhoneNumber
                do { number = try PhoneNumber(phone) } catch let e as SMSRefusal { throw ValidationError(e.description) }
                guard (0...9).contains(level) else { throw ValidationError("--level: 0…9") }
                let name = name.trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { throw ValidationError("--name: cần tên / a name is needed") }
                if let commune {
                    let tree = try PlaceRepository(database).tree()
                    guard tree[commune]?.level == .commune else {
                        throw ValidationError("không có xã '\(commune)' / no commune '\(commune)' (wardfleet places list)")
                    }
                }
                try SMSRepository(database).upsert(SMSContact(phone: number, name: name, commune: commune, level: level), by: user,
                                                   at: Clocks.fromEnvironment().now())
                print("Đã lưu / Saved: \(name) \(number) cấp / level \(level + 1) \(commune ?? "mọi xã / every commune")")
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove", abstract: "Bỏ người nhận / Remove a contact.")
            @OptionGroup var db: DatabaseOptions
            @Argument(help: "Số di động / mobile number.") var phone: String
            @Option(help: "Commune id (unset: the every-commune contact).") var commune: String?
            func run() async throws {
                let number: PhoneNumber
                do { number = try PhoneNumber(phone) } catch let e as SMSRefusal { throw ValidationError(e.description) }
                guard try SMSRepository(try db.open()).remove(phone: number, commune: commune) else {
                    throw ValidationError("không có người nhận \(number) / no contact \(number)")
                }
                print("Đã bỏ / Removed: \(number)")
            }
        }
    }
}
