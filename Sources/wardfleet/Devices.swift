import ArgumentParser
import FleetFile
import Foundation
import MQTTClient
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension DeviceClass: ExpressibleByArgument {}
extension KioskRole: ExpressibleByArgument {}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Thiết bị: loa, camera, Wi-Fi, kiosk / Devices: speakers, cameras, Wi-Fi APs, kiosks.",
        subcommands: [Add.self, Import.self, List.self, Show.self, Remove.self, Pending.self, Command.self, Provision.self, IssueClaimCodes.self, Rotate.self, Revoke.self, Config.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Đăng ký một thiết bị / Register one device.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Device id (letters, digits, '-', '_', '.'; it is also the MQTT client id).") var id: String
        @Option(name: .customLong("class"), help: "speaker, camera, access_point or kiosk.") var deviceClass: DeviceClass
        @Option(help: "Site id (see `wardfleet places list`).") var site: String
        @Option(help: "Model (an update keeps the registered one when left out).") var model: String?
        @Option(help: "Firmware version.") var firmware: String?
        @Option(help: "Installation date YYYY-MM-DD (Asia/Ho_Chi_Minh).") var installed: String?
        @Option(help: "Camera: days of footage required (default 30).") var retentionDays: Int?
        @Option(help: "Speaker: maximum volume 0–100.") var maxVolume: Int?
        @Option(help: "Kiosk: queue, rating or both.") var kioskRole: KioskRole?

        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("POST", "/api/v1/devices", json: ["id": id, "device_class": deviceClass.rawValue, "site": site, "model": model, "firmware": firmware,
                                                                           "installed": installed, "retention_days": retentionDays, "max_volume": maxVolume,
                                                                           "kiosk_role": kioskRole?.rawValue])
            }
            var installedOn: Date?
            if let installed {
                guard let d = LocalCalendar.vietnam.day(named: installed) else {
                    throw ValidationError("--installed phải là YYYY-MM-DD / must be YYYY-MM-DD")
                }
                installedOn = d.start
            }
            let database = try db.open()
            let tree = try PlaceRepository(database).tree()
            if let commune = tree.ancestor(of: site, at: .commune)?.id, let other = try HealthQueries(database).pendingCommune(of: id, ifNot: commune) {
                throw ValidationError("thiết bị \(id) báo về xã \(other), không phải xã \(commune) của điểm \(site): mọi tin của nó sẽ bị từ chối; "
                                      + "sửa cấu hình thiết bị hoặc chọn điểm ở xã \(other) / device \(id) reports from commune \(other), "
                                      + "not \(commune): fix the device's settings or choose a site in \(other)")
            }
            let d = Device.registering(id, deviceClass, site: site, model: model, firmware: firmware, installedOn: installedOn,
                                       retentionDays: retentionDays, maxVolume: maxVolume, kioskRole: kioskRole,
                                       over: try DeviceRepository(database).get(id), at: Date())
            let (ins, _) = try DeviceRepository(database).upsert([d])
            print(ins == 1 ? "Đã đăng ký / registered \(id)" : "Đã cập nhật / updated \(id)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nhập thiết bị từ tệp YAML hoặc CSV / Import devices from a YAML or CSV file.")
        @OptionGroup var db: DatabaseOptions
        @Argument var file: String

        func run() async throws {
            if let remote = try db.remote {
                let csv = file.lowercased().hasSuffix(".csv")
                return try await remote.run("POST", "/api/v1/places/import", query: ["format": csv ? "csv" : "yaml", "with_devices": "true"],
                                            raw: try Data(contentsOf: URL(fileURLWithPath: file)), contentType: csv ? "text/csv" : "application/yaml")
            }
            let fleet = try FleetFileReader.read(path: file, registeredAt: Date())
            let database = try db.open()
            if !fleet.places.isEmpty { try PlaceRepository(database).upsert(fleet.places) }
            let (ins, upd) = try DeviceRepository(database).upsert(fleet.devices)
            print("Thiết bị / devices: \(ins) mới / new, \(upd) cập nhật / updated")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Liệt kê thiết bị / List devices with their state.")
        @OptionGroup var db: DatabaseOptions
        @Option(name: .customLong("class"), help: "Only this class.") var deviceClass: DeviceClass?
        @Flag(help: "Include removed devices.") var all = false
        @Flag(help: "JSON output.") var json = false

        struct Row: Codable {
            var device: Device
            var commune: String?
            var village: String?
            var state: HealthState
            var since: Date?
        }

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/devices", query: ["class": deviceClass?.rawValue]) }
            let database = try db.open()
            let tree = try PlaceRepository(database).tree()
            let statuses = try HealthQueries(database).statuses()
            let rows = try DeviceRepository(database).list(includeRemoved: all)
                .filter { deviceClass == nil || $0.deviceClass == deviceClass }
                .map { d in
                    Row(device: d, commune: tree.ancestor(of: d.siteID, at: .commune)?.name,
                        village: tree.ancestor(of: d.siteID, at: .village)?.name,
                        state: d.removedAt == nil ? statuses[d.id]?.liveness.state ?? .unknown : .unknown,
                        since: statuses[d.id]?.liveness.since)
                }
            if json { return try printJSON(rows) }
            let cal = LocalCalendar.vietnam
            Table.print(header: ["Mã / ID", "Loại / Class", "Thôn / Village", "Điểm / Site", "Trạng thái / State", "Từ / Since"],
                        rows: rows.map { r in
                            [r.device.id, r.device.deviceClass.vietnamese, r.village ?? r.commune ?? "",
                             tree[r.device.siteID]?.name ?? r.device.siteID,
                             r.device.removedAt != nil ? "đã gỡ / removed" : "\(r.state.vietnamese) / \(r.state.rawValue)",
                             r.since.map(cal.display) ?? ""]
                        })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Chi tiết thiết bị: số liệu, lịch sử, thời gian hoạt động / Device detail: telemetry, history, uptime.")
        @OptionGroup var db: DatabaseOptions
        @Argument var id: String
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", RemoteAPI.path("devices", id)) }
            let database = try db.open()
            guard let d = try DeviceDetail.build(database, id: id, now: Date()) else {
                throw ValidationError("không có thiết bị / no device '\(id)'")
            }
            if json { return try printJSON(d) }
            Render.detail(d)
            // Remote configuration (`devices config get` has the whole of it).
            if let c = try FleetConfigRepository(database).get(id), c.version > 0 {
                print("Cấu hình từ xa / Remote configuration: phiên bản / version \(c.version) — \(c.drift.text)")
            }
            try CampaignCommand.history(database, device: id)  // firmware updates (Firmware.swift)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Gỡ thiết bị khỏi hệ thống (giữ lịch sử) / Remove a device (its history is kept).",
            discussion: "With --username (an account allowed on the dynamic-security control topic) its broker account is revoked as well.")
        @OptionGroup var db: DatabaseOptions
        @OptionGroup var broker: BrokerOptions
        @Argument var id: String

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("DELETE", RemoteAPI.path("devices", id)) }
            let database = try db.open()
            // With broker credentials, the device's account goes too: a removed device cannot connect.
            let accounts = try broker.username.map { _ in DynamicSecurityAccounts(try broker.configuration(clientID: "wardfleet-remove-\(getpid())")) }
            do {
                try await DeviceRemoval(database, accounts: accounts).remove(id, at: Date())
            } catch let r as DeviceRemovalRefusal {
                throw ValidationError(r.description)
            }
            await accounts?.close()
            print("Đã gỡ / removed \(id)")
            if accounts != nil { print("Đã thu hồi tài khoản MQTT / broker account revoked") }
        }
    }

    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Thiết bị lạ đang kết nối, chưa đăng ký / Unregistered devices that connected.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/pending") }
            let list = try HealthQueries(db.open()).pending()
            if json { return try printJSON(list) }
            if list.isEmpty { return print("Không có thiết bị chờ / no pending devices") }
            let cal = LocalCalendar.vietnam
            Table.print(header: ["Mã / ID", "Xã / Commune", "Loại / Class", "Model", "Lần đầu / First", "Gần nhất / Last", "Tin / Msgs"],
                        rows: list.map { [$0.deviceID, $0.communeID, $0.deviceClass ?? "?", $0.model ?? "",
                                          cal.display($0.firstSeen), cal.display($0.lastSeen), "\($0.messages)"] })
            print("\nĐăng ký bằng / register with: wardfleet devices add ID --class … --site …")
        }
    }

    struct Command: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Gửi lệnh tới thiết bị và chờ xác nhận / Send a command and wait for its acknowledgement.")
        @OptionGroup var db: DatabaseOptions
        @OptionGroup var brokerOptions: BrokerOptions
        @Argument var id: String
        @Argument(help: "ping, set_volume, test_tone, self_test or reboot.") var command: String
        @Option(help: "set_volume: 0–100.") var volume: Int?
        @Option(help: "test_tone: seconds.") var seconds: Double?
        @Option(help: "self_test: also a short, quiet test tone of this many seconds (1–5).") var toneSeconds: Double?
        @Option(help: "Seconds to wait for the acknowledgement.") var timeout: Double = 10

        func run() async throws {
            if let remote = try db.remote {
                return try await remote.run("POST", RemoteAPI.path("devices", id, "commands"), json: ["command": command, "volume": volume, "seconds": seconds, "tone_seconds": toneSeconds])
            }
            guard let name = CommandName(rawValue: command) else {
                throw ValidationError("lệnh / command must be one of " + CommandName.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let database = try db.open()
            guard let device = try DeviceRepository(database).get(id), device.removedAt == nil,
                  let commune = try PlaceRepository(database).tree().ancestor(of: device.siteID, at: .commune) else {
                throw ValidationError("không có thiết bị / no device '\(id)'")
            }
            // Refused here, before anything is sent, when the device would not execute it.
            if let refusal = CommandRefusal.check(name, device: id, deviceClass: device.deviceClass,
                                                  birth: try HealthQueries(database).statuses(only: id)[id]?.birth) {
                throw ValidationError(refusal.description)
            }
            if name == .setVolume {
                guard let v = volume, (0...(device.config.maxVolume ?? 100)).contains(v) else {
                    throw ValidationError("--volume phải trong / must be in 0…\(device.config.maxVolume ?? 100)")
                }
            }
            if name == .testTone, let s = seconds, !(1...60).contains(s) {
                throw ValidationError("--seconds phải trong / must be in 1…60")
            }
            if let s = toneSeconds, name != .selfTest || !(1...CommandName.selfTestMaxToneSeconds).contains(s) {
                throw ValidationError("--tone-seconds: chỉ với self_test, 1…5 / only with self_test, 1…5")
            }
            let state = try HealthQueries(database).statuses(only: id)[id]?.liveness.state ?? .unknown
            if let why = state.commandRefusal(device: id) { throw ValidationError(why) }
            let cmdID = "cli-" + UUID().uuidString.prefix(12).lowercased()
            let client = try MQTTClient(try brokerOptions.configuration(clientID: "wardfleet-cli-\(getpid())"))
            let ackTopic = TopicAddress(commune: commune.id, device: id, kind: .ack).topic
            try client.subscribe(ackTopic, qos: 1)
            try await client.connect()
            let now = Date()
            try client.publish(topic: TopicAddress(commune: commune.id, device: id, kind: .cmd).topic,
                               payload: ProtocolEncoder.encode(CommandMessage(
                                   cmdID: cmdID, command: name, volume: volume, seconds: seconds, ts: now.unixMillis,
                                   expires: now.addingTimeInterval(timeout).unixMillis, toneSeconds: toneSeconds)), qos: 1)
            let deadline = ContinuousClock.now + .seconds(timeout)
            // Only an acknowledgement the controller itself would accept (same strict decoder,
            // this device on this topic) is the command's result; anything else is not an answer.
            let wait = Task<AckMessage?, Never> {
                let decoder = ProtocolDecoder()
                for await m in client.messages {
                    if let a = decoder.acknowledgement(of: cmdID, by: id, topic: m.topic, payload: m.payload, now: Date()) { return a }
                }
                return nil
            }
            let timer = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                client.disconnect()
            }
            let ack = await wait.value as AckMessage?
            timer.cancel()
            client.disconnect()
            guard let ack else {
                throw ValidationError("không có xác nhận sau \(Int(timeout)) s (thiết bị mất kết nối?) / no acknowledgement within \(Int(timeout)) s (device offline?)")
            }
            print("\(id): \(ack.result.vietnamese) / \(ack.result.rawValue)\(ack.detail.map { " — \($0)" } ?? "")")
            if let f = ack.selfTest {
                print("  amply / amplifier: \(f.amplifierOK ? "tốt / ok" : "hỏng / fault"); đường dây loa / line: \(f.speakerLineOK ? "tốt / ok" : "hỏng / fault")")
                print("  nguồn / power: \(f.power.vietnamese) / \(f.power.rawValue)"
                      + (BatteryText.describe(percent: f.batteryPercent, minutes: f.batteryMinutes).map { " (\($0))" } ?? ""))
            }
            if ack.result != .ok { throw ExitCode(2) }
        }
    }
}
