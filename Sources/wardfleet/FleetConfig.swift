import ArgumentParser
import Foundation
import WardController
import WardDomain
import WardStorage

/// The server's secrets key file (device passwords sealed at rest, for credential rotation).
struct SecretsKeyOptions: ParsableArguments {
    @Option(help: "The server's secrets key file (device passwords sealed at rest; default: $WARDFLEET_SECRETS_KEY or wardfleet-secrets.key beside the SQLite database).")
    var secretsKey: String?

    func path(db: DatabaseOptions) -> String {
        if let secretsKey { return secretsKey }
        if let e = ProcessInfo.processInfo.environment["WARDFLEET_SECRETS_KEY"], !e.isEmpty { return e }
        let location = db.resolved
        guard !WardDatabase.isPostgres(location) else { return "wardfleet-secrets.key" }
        return URL(fileURLWithPath: location).deletingLastPathComponent().appendingPathComponent("wardfleet-secrets.key").path
    }

    func load(db: DatabaseOptions, create: Bool) throws -> ServerSecrets {
        do { return try ServerSecrets.load(path: path(db: db), create: create) } catch let e as ServerSecrets.Failure { throw ValidationError(e.description) }
    }
}

extension Devices {
    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cấu hình từ xa của thiết bị / A device's remote configuration (protocol §10).",
            subcommands: [GetConfig.self, SetConfig.self])

        struct GetConfig: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "get",
                abstract: "Cấu hình mong muốn, thiết bị báo cáo và độ lệch / Desired and reported configuration, and drift.")
            @OptionGroup var db: DatabaseOptions
            @Argument var id: String
            @Flag(help: "JSON output.") var json = false

            func run() async throws {
                let database = try db.open()
                guard try DeviceRepository(database).get(id) != nil else { throw ValidationError("không có thiết bị / no device '\(id)'") }
                let (c, rotations) = try FleetConfigService.view(database, device: id)
                if json {
                    let out: [String: Any?] = [
                        "device": id, "version": c.version, "published_version": c.publishedVersion, "applied_version": c.appliedVersion,
                        "desired": Dictionary(uniqueKeysWithValues: c.desired.fields.map { ($0.name, $0.value) }),
                        "reported": c.reported.map { Dictionary(uniqueKeysWithValues: $0.fields.map { ($0.name, $0.value) }) },
                        "last_result": c.lastResult?.rawValue, "last_detail": c.lastDetail, "drift": c.drift.isDrift,
                        "drift_text": c.drift.text,
                        "rotations": rotations.prefix(5).map { ["id": $0.id, "state": $0.state.rawValue, "reason": $0.reason as Any] },
                    ]
                    let data = try JSONSerialization.data(withJSONObject: out.compactMapValues { $0 }, options: [.sortedKeys, .prettyPrinted])
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                let reported = Dictionary(uniqueKeysWithValues: (c.reported?.fields ?? []).map { ($0.name, $0.value) })
                let desired = Dictionary(uniqueKeysWithValues: c.desired.fields.map { ($0.name, $0.value) })
                print("Thiết bị / Device: \(id)")
                print("Phiên bản mong muốn / desired version: \(c.version)   đã gửi / published: \(c.publishedVersion)   "
                      + "đang chạy / applied: \(c.appliedVersion.map(String.init) ?? "—")")
                let names = DeviceSettings.fieldNames.filter { desired[$0] != nil || reported[$0] != nil }
                if !names.isEmpty {
                    let w = max(14, names.map(\.count).max() ?? 0)
                    print("Tham số / Setting".padding(toLength: w + 2, withPad: " ", startingAt: 0) + "Mong muốn / Desired".padding(toLength: 28, withPad: " ", startingAt: 0)
                          + "Báo cáo / Reported")
                    for n in names {
                        let d = desired[n] ?? "—", r = reported[n] ?? "—"
                        let mark = desired[n] != nil && d != r ? "  ≠" : ""
                        print(n.padding(toLength: w + 2, withPad: " ", startingAt: 0) + d.padding(toLength: 28, withPad: " ", startingAt: 0) + r + mark)
                    }
                }
                if let result = c.lastResult {
                    let local = c.reportedAt.map { LocalCalendar.vietnam.display($0) } ?? "?"
                    print("Báo cáo gần nhất / latest report: phiên bản / version \(c.lastReportVersion ?? 0) "
                          + (result == .applied ? "đã áp dụng / applied" : "bị từ chối / rejected") + (c.lastDetail.map { " (\($0))" } ?? "")
                          + " — \(local)")
                }
                print("Độ lệch / Drift: \(c.drift.text)")
                if let r = rotations.first {
                    print("Đổi mật khẩu gần nhất / latest rotation: \(r.id) — \(r.state.text)" + (r.reason.map { " (\($0))" } ?? ""))
                }
            }
        }

        struct SetConfig: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Đổi cấu hình mong muốn / Change the desired configuration.",
                discussion: """
                    Only the settings given change; the result is a new version, which the running controller (`wardfleet run`) \
                    sends retained to the device once its birth announces `config` (an offline device gets it when it returns). \
                    `devices config get` shows whether the device applied it.
                    """)
            @OptionGroup var db: DatabaseOptions
            @Argument var id: String
            @Option(help: "Heartbeat (telemetry interval) in seconds, 1–3600.") var heartbeat: Int?
            @Option(help: "Speakers: maximum volume 0–100.") var maxVolume: Int?
            @Option(help: "Cameras: days of recordings kept, 1–365.") var retentionDays: Int?
            @Option(name: .customLong("media-base-url"), help: "Base URL the device fetches media from (http or https).") var mediaBaseURL: String?
            @Option(help: "NTP servers, comma-separated (1–4 host names).") var ntp: String?
            @Option(help: "Who makes the change (recorded in the audit log).") var user = "admin"

            func run() async throws {
                let database = try db.open()
                let change = DeviceSettings(heartbeatSeconds: heartbeat, maxVolume: maxVolume, retentionDays: retentionDays,
                                            mediaBaseURL: mediaBaseURL,
                                            ntp: ntp.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
                do {
                    let r = try FleetConfigService.set(database, device: id, change: change, by: user, at: Date())
                    print("Đã lưu phiên bản / saved version \(r.version) cho / for \(id): "
                          + r.desired.fields.map { "\($0.name)=\($0.value)" }.joined(separator: " "))
                    print("Bộ điều khiển đang chạy sẽ gửi / the running controller sends it")
                } catch let e as FleetConfigRefusal {
                    throw ValidationError(e.description)
                }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Đổi mật khẩu MQTT của thiết bị / Rotate a device's broker password.",
            discussion: """
                Creates a rotation: the running controller sends the new password to the device sealed with its current one \
                (protocol §11); only after the device acknowledges does the broker take the new password and refuse the old. \
                With --immediate, the password is replaced on the broker at once and printed (a device that cannot take \
                rotations: it must be given the new password by hand).
                """)
        @OptionGroup var db: DatabaseOptions
        @OptionGroup var secretsKey: SecretsKeyOptions
        @OptionGroup var broker: BrokerOptions
        @Argument var id: String
        @Flag(help: "Replace the password on the broker now and print it (the device is not told).") var immediate = false
        @Option(help: "Seconds to wait for the rotation to be applied (0: do not wait).") var wait: Double = 0
        @Option(help: "Who rotates (recorded in the audit log).") var user = "admin"

        func run() async throws {
            if immediate {
                let password = BrokerPolicy.password()
                try await withDynamicSecurity(broker, "rotate") { try await $0.setPassword(id, password) }
                // Kept sealed for later rotations when this machine has the database and the key (never made here).
                if WardDatabase.isPostgres(db.resolved) || FileManager.default.fileExists(atPath: db.resolved),
                   FileManager.default.fileExists(atPath: secretsKey.path(db: db)) {
                    let secrets = try secretsKey.load(db: db, create: false)
                    try FleetConfigRepository(try db.open()).storeSecret(device: id, sealed: try secrets.seal(password, for: id), at: Date())
                }
                print("\(id)\t\(password)")
                return
            }
            let database = try db.open()
            let secrets = try secretsKey.load(db: db, create: false)
            let rotation: String
            do {
                rotation = try FleetConfigService.rotate(database, device: id, secrets: secrets, by: user, at: Date())
            } catch let e as FleetConfigRefusal {
                throw ValidationError(e.description)
            }
            print("Đã tạo lần đổi mật khẩu / rotation created: \(rotation) (\(id)); bộ điều khiển đang chạy sẽ gửi / the running controller sends it")
            guard wait > 0 else { return }
            let deadline = Date().addingTimeInterval(wait)
            while Date() < deadline {
                if let r = try FleetConfigRepository(database).rotation(rotation), !r.state.isOpen {
                    print("\(rotation): \(r.state.text)" + (r.reason.map { " (\($0))" } ?? ""))
                    if r.state != .applied { throw ExitCode(1) }
                    return
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            let state = try FleetConfigRepository(database).rotation(rotation)?.state.text ?? "?"
            print("\(rotation): chưa xong / not finished: \(state)")
            throw ExitCode(1)
        }
    }
}
