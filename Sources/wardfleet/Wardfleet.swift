import ArgumentParser
import Dispatch
import Foundation
import Logging
import MQTTClient
import ProcessSignals
import Synchronization
import WardClock
import WardController
import WardDomain
import WardHTTP
import WardStorage

@main
struct Wardfleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wardfleet",
        abstract: "WardFleet: hạ tầng số cấp xã / digital infrastructure of communes and wards.",
        subcommands: [RunCommand.self, Places.self, Devices.self, HealthCommand.self, MediaCommand.self, FirmwareCommand.self, BroadcastCommand.self, UsersCommand.self, AlarmsCommand.self, KPICommand.self, ReportCommand.self, BrokerCommand.self, NodesCommand.self, BackupCommand.self, RestoreCommand.self, DemoCommand.self, WarningsCommand.self, Bench.self])
}

struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: "SQLite database file, or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (default: $WARDFLEET_DB or ./wardfleet.sqlite).")
    var path: String?

    @Option(help: "Act through a running server's API instead of the database, e.g. http://127.0.0.1:8080 (or $WARDFLEET_SERVER).")
    var server: String?
    @Option(help: "API token for --server (or $WARDFLEET_TOKEN; make one with `wardfleet users token NAME`).")
    var token: String?

    var resolved: String { path ?? ProcessInfo.processInfo.environment["WARDFLEET_DB"] ?? "wardfleet.sqlite" }

    /// The server to act through, when --server or $WARDFLEET_SERVER names one.
    var remote: RemoteAPI? {
        get throws {
            guard let s = server ?? ProcessInfo.processInfo.environment["WARDFLEET_SERVER"], !s.isEmpty else { return nil }
            return try RemoteAPI(server: s, token: token)
        }
    }
    /// Commands that can act through the API return before opening the database; one that gets
    /// here with an explicit --server cannot, and says so rather than quietly working locally.
    /// ($WARDFLEET_SERVER is only a default for those that can.)
    func open() throws -> WardDatabase {
        try requireLocal()
        return try WardDatabase.open(resolved)
    }

    func requireLocal() throws {
        if server != nil {
            throw ValidationError("lệnh này chỉ chạy trên máy chủ, không qua --server / this command runs on the server machine only, not through --server")
        }
    }
}

struct BrokerOptions: ParsableArguments {
    @Option(help: "MQTT broker HOST:PORT (default: $WARDFLEET_BROKER or 127.0.0.1:1883).")
    var broker: String?
    @Option(help: "MQTT username.") var username: String?
    @Option(help: "MQTT password (or $WARDFLEET_MQTT_PASSWORD).") var password: String?
    @Option(help: "CA certificate (PEM) for TLS to the broker.") var cafile: String?

    func configuration(clientID: String) throws -> MQTTConfiguration {
        let text = broker ?? ProcessInfo.processInfo.environment["WARDFLEET_BROKER"] ?? "127.0.0.1:1883"
        let (host, port) = try parseHostPort(text)
        var c = MQTTConfiguration(host: host, port: port, clientID: clientID)
        c.username = username
        c.password = password ?? ProcessInfo.processInfo.environment["WARDFLEET_MQTT_PASSWORD"]
        c.caFile = cafile
        return c
    }
}

func parseHostPort(_ s: String) throws -> (String, Int) {
    guard let a = MQTTConfiguration.parseAddress(s) else {
        throw ValidationError("broker phải có dạng HOST:PORT / broker must be HOST:PORT, got '\(s)'")
    }
    return a
}

func bootstrapLogging(level: Logger.Level = .info) {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
}

let jsonOutput: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    return e
}()

/// JSON as the HTTP API writes it (snake_case keys): for commands whose `--json` must read like the API's.
let apiJSONOutput: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    e.keyEncodingStrategy = .convertToSnakeCase
    return e
}()

func printAPIJSON(_ value: some Encodable) throws {
    print(String(decoding: try apiJSONOutput.encode(value), as: UTF8.self))
}

func printJSON(_ value: some Encodable) throws {
    print(String(decoding: try jsonOutput.encode(value), as: UTF8.self))
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Chạy bộ điều khiển / Run the controller (until SIGINT/SIGTERM).")

    @OptionGroup var library: MediaCommand.LibraryOptions
    @OptionGroup var brokerOptions: BrokerOptions
    @OptionGroup var sms: SMSOptions
    @Option(help: "MQTT client id of this controller.") var clientID = "wardfleet-controller"
    @Option(help: "Seconds between stored telemetry samples per device.") var sampleInterval: Double = 60
    @Option(help: "Seconds between write-backs of each device's latest status.") var statusInterval: Double = 5
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "Address the HTTP server (media for devices) listens on.") var httpHost = "0.0.0.0"
    @Option(help: "HTTP port.") var httpPort = 8080
    @Flag(help: "Do not start the HTTP server.") var noHttp = false
    @Option(help: "Base URL devices download media from (default: http://HTTP-HOST:PORT; set it when listening on 0.0.0.0).")
    var mediaURL: String?
    @Option(help: "Minutes before its start a play is sent to the speakers.") var leadMinutes: Double = 10
    @Option(help: "Bearer token the provincial source system uses to post bulletins (or $WARDFLEET_UPSTREAM_TOKEN); unset: endpoint off.")
    var upstreamToken: String?
    @Option(help: "Seconds after a play's end before an unreported play is closed in the log.") var closeGrace: Double = 120
    @Option(help: "Webhook URL alarm notifications are POSTed to (repeatable).") var webhook: [String] = []
    @Option(help: "Secret the webhook body is HMAC-SHA256-signed with (or $WARDFLEET_WEBHOOK_SECRET).") var webhookSecret: String?
    @Option(help: "Minutes an alarm may stay unacknowledged before it is notified again (0: never).") var remindAfter: Double = 30
    @Option(help: "Devices of one village going offline together that make one village alarm.") var stormDevices = 3
    @Option(help: "Seconds within which those devices must go offline.") var stormWindow: Double = 60
    @Option(help: "Local day of the month on which last month's report is made.") var reportDay = 5
    @Option(help: "Also write monthly reports as files under this directory.") var reportsDir: String?
    @Flag(help: "Disaster warnings: a CAP Cancel (or an approver's cancel) of a warning on air plays an all-clear, 'Hết cảnh báo …' (docs/warnings.md).")
    var warningAllClear = false
    @Flag(help: "Mark session cookies Secure: set when the console is served over HTTPS (e.g. behind a reverse proxy).") var secureCookies = false
    @Flag(help: "Answer one-time claim codes (devices claim-code): needs the broker's dynamic-security plugin and the controller's account.")
    var acceptClaims = false
    @Option(help: "Run as this node of a cluster sharing the communes (needs --db postgres://…); unset: the single controller.")
    var nodeID: String?
    @Option(help: "Cluster: YAML file mapping communes to brokers (brokers: [{name, address, communes}], default); unset: --broker serves all.")
    var brokers: String?
    @Option(help: "Cluster: this node's API address as others reach it, shown by `wardfleet nodes`.") var apiURL: String?
    @Option(help: "Cluster: seconds a commune's lease outlives its owner's last renewal.") var leaseSeconds: Double = 6
    @OptionGroup var observability: ObservabilityOptions
    @OptionGroup var retention: RetentionOptions
    @OptionGroup var firmwareOptions: FirmwareRunOptions
    @OptionGroup var secretsKey: SecretsKeyOptions
    @OptionGroup var warningOptions: WarningOptions

    func run() async throws {
        HeapTrim.configure()  // before the controller's threads allocate (issue 16, item 4: memory)
        try observability.bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info, clock: Clocks.fromEnvironment())
        try library.db.requireLocal()
        let metrics = WardMetrics(now: { Clocks.fromEnvironment().now() })
        var config = ControllerConfiguration(databasePath: library.db.resolved,
                                             mqtt: try brokerOptions.configuration(clientID: clientID))
        config.mqtt.cleanSession = false  // QoS 1 messages wait at the broker while we restart
        config.ingest.sampleInterval = sampleInterval
        config.ingest.statusInterval = statusInterval
        config.metrics = metrics
        var delivery = DeliveryConfiguration()
        delivery.rules.lead = leadMinutes * 60
        delivery.rules.closeGrace = closeGrace
        let baseURL = SharedValue<String?>(mediaURL)
        delivery.mediaBaseURL = { baseURL.get() }
        config.delivery = delivery
        var firmware = FirmwareConfiguration()
        firmware.baseURL = { baseURL.get() }
        config.firmware = firmware
        var alarms = AlarmConfiguration()
        alarms.reminders.after = remindAfter > 0 ? remindAfter * 60 : nil
        alarms.reminders.every = max(remindAfter, 1) * 60
        alarms.storm = StormPolicy(minDevices: stormDevices, window: stormWindow)
        config.alarms = alarms
        let secret = webhookSecret ?? ProcessInfo.processInfo.environment["WARDFLEET_WEBHOOK_SECRET"]
        if !webhook.isEmpty, (secret ?? "").count < 16 {
            throw ValidationError("--webhook cần --webhook-secret ≥ 16 ký tự / --webhook needs a --webhook-secret of at least 16 characters")
        }
        config.notificationSinks = try webhook.enumerated().map { i, u in
            guard let url = URL(string: u), url.scheme == "http" || url.scheme == "https" else {
                throw ValidationError("--webhook '\(u)': cần URL http(s) / needs an http(s) URL")
            }
            return WebhookSink(name: webhook.count == 1 ? "webhook" : "webhook\(i + 1)", url: url, secret: secret!)
        }
        guard (1...28).contains(reportDay) else { throw ValidationError("--report-day: 1…28") }
        var reports = ReportScheduleConfiguration()
        reports.day = reportDay
        reports.directory = reportsDir
        config.reports = reports
        config.lifecycle = try retention.configuration()
        if acceptClaims {
            guard brokerOptions.username != nil else {
                throw ValidationError("--accept-claims cần tài khoản bộ điều khiển (--username) / needs the controller's broker account (--username)")
            }
            config.claims = try brokerOptions.configuration(clientID: "\(clientID)-claims")
        }
        // Remote configuration always; credential rotation with the secrets key (device passwords
        // sealed at rest) and the controller's account (which may change passwords on the broker).
        var fleetConfig = FleetConfigConfiguration()
        if FileManager.default.fileExists(atPath: secretsKey.path(db: library.db)) {
            fleetConfig.secrets = try secretsKey.load(db: library.db, create: false)
        }
        if brokerOptions.username != nil {
            fleetConfig.passwords = DynamicSecurityAccounts(try brokerOptions.configuration(clientID: "\(clientID)-rotate"))
        }
        config.fleetConfig = fleetConfig
        config.sms = try sms.configuration()
        if let nodeID { return try await runNode(nodeID, unit: config, mediaBase: baseURL, metrics: metrics) }
        let controller = try FleetController(config, clock: Clocks.fromEnvironment())
        let host = httpHost == "0.0.0.0" || httpHost == "::" ? "127.0.0.1" : httpHost
        if mediaURL == nil, host != httpHost {
            Logger(label: "wardfleet").warning("listening on \(httpHost): devices are told to fetch media from 127.0.0.1; set --media-url to an address they can reach")
        }
        let clock = Clocks.fromEnvironment()
        let library = self.library.library(controller.database, clock: clock)
        let token = upstreamToken ?? ProcessInfo.processInfo.environment["WARDFLEET_UPSTREAM_TOKEN"]
        if let t = token, t.count < 16 { throw ValidationError("--upstream-token: ít nhất 16 ký tự / at least 16 characters") }
        var api = OperatorAPI(database: controller.database, clock: clock, library: library, publisher: controller.client)
        api.secureCookies = secureCookies
        api.firmware = firmwareOptions.library(controller.database, clock: clock)
        // The controller's own account may use the dynamic-security control topic: removing a
        // device from the console revokes its broker account as `devices remove` does.
        if brokerOptions.username != nil {
            api.deviceAccounts = DynamicSecurityAccounts(try brokerOptions.configuration(clientID: "\(clientID)-accounts"))
        }
        let warnings = WarningService(database: controller.database, library: library, clock: clock, policy: try warningPolicy(),
                                      tally: metrics.countWarning)
        api.warnings = warnings
        var server = ControllerHTTPServer(
            library: library, host: httpHost, port: httpPort,
            upstream: token.map { (UpstreamService(database: controller.database, library: library, clock: clock), $0) }, api: api)
        server.firmware = firmwareOptions.library(controller.database, clock: clock)
        server.warnings = warnings
        let feeds = try warningOptions.feeds(controller.database)
        let poller = feeds.isEmpty ? nil : CAPFeedPoller(feeds: feeds, service: warnings, interval: .seconds(warningOptions.capFeedInterval))
        metrics.observe(database: controller.database)
        let brokerAddress = "\(config.mqtt.host):\(config.mqtt.port)"
        server.observability = Observability(metrics: metrics, access: try observability.access, readiness: Readiness(
            database: controller.database, links: { [(brokerAddress, controller.client.isConnected)] }))
        let media = server
        let serveHTTP = !noHttp
        let task = Task {
            // Either service ending (or failing) ends the process: a half-running controller helps no one.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await controller.run() }
                if let poller {
                    group.addTask {
                        await poller.run()
                        try Task.checkCancellation()  // the poller ends only when cancelled
                    }
                }
                if serveHTTP {
                    group.addTask {
                        try await media.run { port in baseURL.update { $0 = $0 ?? "http://\(host):\(port)" } }
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        ProcessSignals.cancelOnTermination(task, name: "wardfleet")
        try await task.value
    }
}

extension RunCommand {
    /// The deployment's warning policy: `--warning-policy FILE` (or the standard one), with the all-clear
    /// when the file or `--warning-all-clear` asks for it.
    func warningPolicy() throws -> WarningPolicy {
        let p = try warningOptions.policy()
        return try WarningPolicy(rules: p.rules, otherwise: p.otherwise, riskBySeverity: p.riskBySeverity, repeatMinutes: p.repeatMinutes,
                                 horizonHours: p.horizonHours, allClearOnCancel: p.allClearOnCancel || warningAllClear)
    }
}

/// A value one task sets and others read.
final class SharedValue<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ v: T) { value = Mutex(v) }
    func get() -> T { value.withLock { $0 } }
    func update(_ f: (inout T) -> Void) { value.withLock { f(&$0) } }
}
