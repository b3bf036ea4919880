import ArgumentParser
import FleetFile
import Foundation
import MQTTClient
import WardController
import WardDomain
import WardProtocol
import WardStorage

/// Broker accounts through mosquitto's dynamic-security plugin. These commands connect with an
/// account allowed on `$CONTROL/dynamic-security/v1` (the plugin's admin at setup; the
/// controller's own account afterwards): --username/--password or $WARDFLEET_MQTT_PASSWORD.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker", abstract: "Tài khoản máy chủ MQTT / Broker accounts (dynamic security).", subcommands: [Setup.self])

    struct Setup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tạo tài khoản tối thiểu quyền cho bộ điều khiển / Create the controller's least-privilege account.",
            discussion: "Run once as the plugin's admin (deploy/setup-broker.sh does it). Prints nothing secret unless asked.")
        @OptionGroup var broker: BrokerOptions
        @Option(help: "File to write the controller's new password to (mode 0600).") var passwordFile: String
        @Option(help: "Also create the shared claim account (for one-time claim codes) and write its password here (mode 0600).")
        var claimPasswordFile: String?

        @Option(help: "Cluster brokers file: set up every broker it lists, with the same controller password (the nodes use one account).")
        var brokers: String?

        func run() async throws {
            let password = BrokerPolicy.password()
            let claimPassword = BrokerPolicy.password()
            let map: BrokerMap?
            do { map = try brokers.map { try BrokerMapFile.read(path: $0) } } catch let e as BrokerMapError { throw ValidationError(e.description) }
            for address in map?.brokers.map(\.address) ?? [nil] {
                var options = broker
                if let address { options.broker = address }
                try await withDynamicSecurity(options, "setup") { dynsec in
                    try await dynsec.setUpController(password: password)
                    if claimPasswordFile != nil { try await dynsec.setUpClaimAccount(password: claimPassword) }
                }
                if let address { print("Broker \(address): đã thiết lập / set up") }
            }
            try writeSecret(password + "\n", to: passwordFile)
            print("Đã tạo / created \(BrokerPolicy.controllerUser); mật khẩu trong / password in \(passwordFile)")
            if let claimPasswordFile {
                try writeSecret(claimPassword + "\n", to: claimPasswordFile)
                print("Đã tạo / created \(BrokerPolicy.claimUser); mật khẩu trong / password in \(claimPasswordFile)")
            }
        }
    }
}

/// Runs `body` with a dynamic-security session on the broker the options name, then closes it.
func withDynamicSecurity(_ broker: BrokerOptions, _ purpose: String, _ body: (DynamicSecurity) async throws -> Void) async throws {
    let dynsec = try await DynamicSecurity.connect(try broker.configuration(clientID: "wardfleet-\(purpose)-\(getpid())"))
    defer { dynsec.close() }
    try await body(dynsec)
}

func writeSecret(_ text: String, to path: String) throws {
    FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
}

extension Devices {
    struct Provision: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cấp tài khoản MQTT cho thiết bị / Give devices their own broker accounts.",
            discussion: "Each device gets a generated password and a role limited to its own topics. The credentials sheet (CSV) is for the installers; keep it safe and destroy it after installation.")
        @OptionGroup var db: DatabaseOptions
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "Device ids (default with --all: every registered device).") var ids: [String] = []
        @Flag(help: "Every registered device.") var all = false
        @Option(help: "Write the credentials sheet (CSV, mode 0600) here; without it the passwords are printed.") var sheet: String?
        @Option(help: "Cluster brokers file: each account is made on the broker of its device's commune (the sheet names it).")
        var brokers: String?
        @OptionGroup var secretsKey: SecretsKeyOptions

        func run() async throws {
            let database = try db.open()
            // The controller keeps each password sealed with this key, to seal rotations for the device (docs/security.md).
            let secrets = try secretsKey.load(db: db, create: true)
            let tree = try PlaceRepository(database).tree()
            let registered = try DeviceRepository(database).list()
            let chosen = all ? registered : try ids.map { id in
                guard let d = registered.first(where: { $0.id == id }) else { throw ValidationError("không có thiết bị / no device '\(id)'") }
                return d
            }
            guard !chosen.isEmpty else { throw ValidationError("chọn thiết bị hoặc --all / name devices or --all") }
            let map: BrokerMap?
            do { map = try brokers.map { try BrokerMapFile.read(path: $0) } } catch let e as BrokerMapError { throw ValidationError(e.description) }
            var rows = ["device_id,class,commune,village,site,mqtt_username,mqtt_client_id,mqtt_password,topic_prefix" + (map == nil ? "" : ",mqtt_broker")]
            // Devices grouped by the broker of their commune: one dynamic-security session per broker.
            var groups: [(address: String?, devices: [(Device, String)])] = []
            for d in chosen {
                guard let commune = tree.ancestor(of: d.siteID, at: .commune)?.id else { continue }
                let address = map?.broker(of: commune).address
                if let i = groups.firstIndex(where: { $0.address == address }) { groups[i].devices.append((d, commune)) } else {
                    groups.append((address, [(d, commune)]))
                }
            }
            for group in groups {
                var options = broker
                if let a = group.address { options.broker = a }
                try await withDynamicSecurity(options, "provision") { dynsec in
                    for (d, commune) in group.devices {
                        let password = BrokerPolicy.password()
                        try await dynsec.provision(device: d.id, commune: commune, password: password)
                        try FleetConfigRepository(database).storeSecret(device: d.id, sealed: try secrets.seal(password, for: d.id), at: Date())
                        var fields = [d.id, d.deviceClass.rawValue, commune, tree.ancestor(of: d.siteID, at: .village)?.name ?? "",
                                      tree[d.siteID]?.name ?? d.siteID, d.id, d.id, password, "wardfleet/v1/\(commune)/\(d.id)/"]
                        if let a = group.address { fields.append(a) }
                        rows.append(fields.map(csvField).joined(separator: ","))
                        if sheet == nil { print("\(d.id)\t\(password)\(group.address.map { "\t\($0)" } ?? "")") }
                    }
                }
            }
            if let sheet {
                try writeSecret(rows.joined(separator: "\r\n") + "\r\n", to: sheet)
                print("Đã cấp / provisioned \(rows.count - 1) thiết bị / devices → \(sheet)")
            }
        }
    }

    struct IssueClaimCodes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "claim-code",
            abstract: "Mã nhận một lần cho thiết bị / One-time claim codes for devices.",
            discussion: """
                The installer enters the code into the device, which uses it once (with the shared claim account) to \
                receive its own broker account from a controller run with --accept-claims. A new code replaces the old \
                one; a used, expired or locked code (5 wrong tries) is refused. Only a hash of each code is stored.
                """)
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Device ids.") var ids: [String]
        @Option(help: "Hours the codes stay valid.") var validHours: Double = 72
        @Option(help: "Who issues them (recorded).") var user = "admin"
        @Option(help: "Write the codes sheet (CSV, mode 0600) here; without it the codes are printed.") var sheet: String?

        func run() async throws {
            let database = try db.open()
            guard !ids.isEmpty else { throw ValidationError("chọn thiết bị / name the devices") }
            let now = Date()
            var rows = ["device_id,claim_code,expires_utc"]
            for id in ids {
                let (code, expires) = try ClaimCodes.issue(database, device: id, by: user, validHours: validHours, now: now)
                try AuthRepository(database).audit(user: user, action: "device.claim_code", target: id, detail: nil, address: nil, at: now)
                rows.append([id, code, ISO8601DateFormatter().string(from: expires)].map(csvField).joined(separator: ","))
                if sheet == nil { print("\(id)\t\(code)") }
            }
            if let sheet {
                try writeSecret(rows.joined(separator: "\r\n") + "\r\n", to: sheet)
                print("Đã tạo / issued \(ids.count) mã / codes → \(sheet)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Thu hồi tài khoản MQTT của thiết bị / Revoke a device's broker account.")
        @OptionGroup var broker: BrokerOptions
        @Argument var id: String

        func run() async throws {
            try await withDynamicSecurity(broker, "revoke") { try await $0.revoke(device: id) }
            print("Đã thu hồi / revoked \(id)")
        }
    }
}

/// RFC 4180: quoted when it holds a comma, quote or line break.
func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
