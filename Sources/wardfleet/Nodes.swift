import ArgumentParser
import FleetFile
import Foundation
import Logging
import MQTTClient
import ProcessSignals
import WardClock
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension RunCommand {
    /// One node of a cluster: commune units for the communes it owns, the API and console for all.
    func runNode(_ nodeID: String, unit: ControllerConfiguration, mediaBase: SharedValue<String?>, metrics: WardMetrics) async throws {
        guard Identifier.isValid(nodeID) else { throw ValidationError("--node-id: chữ, số, '-', '_' / letters, digits, '-', '_'") }
        let location = library.db.resolved
        guard WardDatabase.isPostgres(location) else {
            throw ValidationError("--node-id cần --db postgres://… (các nút dùng chung một cơ sở dữ liệu) / needs --db postgres://… (the nodes share one database)")
        }
        let clock = Clocks.fromEnvironment()
        let database = try WardDatabase.open(location)
        let map: BrokerMap
        do {
            map = try brokers.map { try BrokerMapFile.read(path: $0) } ?? .single(address: "\(unit.mqtt.host):\(unit.mqtt.port)")
        } catch let e as BrokerMapError {
            throw ValidationError(e.description)
        }
        var cluster = ClusterConfiguration(nodeID: nodeID, brokers: map, unit: unit)
        cluster.username = brokerOptions.username
        cluster.password = unit.mqtt.password
        cluster.caFile = brokerOptions.cafile
        cluster.leaseDuration = leaseSeconds
        cluster.renewInterval = .milliseconds(Int(max(0.2, leaseSeconds / 6) * 1000))
        cluster.notificationSinks = unit.notificationSinks
        cluster.sms = unit.sms
        cluster.reports = unit.reports
        cluster.lifecycle = unit.lifecycle
        cluster.acceptClaims = acceptClaims
        let host = httpHost == "0.0.0.0" || httpHost == "::" ? "127.0.0.1" : httpHost
        cluster.apiURL = apiURL ?? (noHttp ? nil : "http://\(host):\(httpPort)")
        let router = try BrokerRouter(map: map, clientPrefix: "wardfleet-api-\(nodeID)", username: brokerOptions.username,
                                      password: unit.mqtt.password, caFile: brokerOptions.cafile)
        // The API's own link to each broker counts in the node's broker links (a node with no commune has only those).
        cluster.brokerLink = { [router] name in router.clients[name]?.isConnected }
        let node = ClusterNode(cluster, database: database, clock: clock)
        let library = self.library.library(database, clock: clock)
        let token = upstreamToken ?? ProcessInfo.processInfo.environment["WARDFLEET_UPSTREAM_TOKEN"]
        if let t = token, t.count < 16 { throw ValidationError("--upstream-token: ít nhất 16 ký tự / at least 16 characters") }
        var api = OperatorAPI(database: database, clock: clock, library: library, publisher: router)
        api.secureCookies = secureCookies
        if brokerOptions.username != nil {
            api.deviceAccounts = RoutedDeviceAccounts(map: map, database: database) { (broker: BrokerMap.Broker) -> MQTTConfiguration in
                var c = MQTTConfiguration(host: "", port: 0, clientID: "wardfleet-accounts-\(nodeID)-\(broker.name)")
                if let (h, p) = MQTTConfiguration.parseAddress(broker.address) { c.host = h; c.port = p }
                c.username = brokerOptions.username
                c.password = unit.mqtt.password
                c.caFile = brokerOptions.cafile
                return c
            }
        }
        let warnings = WarningService(database: database, library: library, clock: clock, policy: try warningPolicy(), tally: metrics.countWarning)
        api.warnings = warnings
        var server = ControllerHTTPServer(
            library: library, host: httpHost, port: httpPort,
            upstream: token.map { (UpstreamService(database: database, library: library, clock: clock), $0) }, api: api)
        // CAP feeds are polled by a single controller (`run` without --node-id): in a cluster, sources push to any node.
        guard warningOptions.capFeed.isEmpty else {
            throw ValidationError("--cap-feed: chỉ dùng cho bộ điều khiển đơn; trong cụm, nguồn gửi (POST) tới nút bất kỳ / only for a single controller; in a cluster, sources POST to any node")
        }
        server.warnings = warnings
        // Ready: the database takes a write, and every link of this node (its units' and its API's) is up.
        metrics.observe(database: database)
        metrics.observeLinks { [router] in map.brokers.map { ($0.address, router.clients[$0.name]?.isConnected ?? false) } }
        server.observability = Observability(metrics: metrics, access: try observability.access, readiness: Readiness(
            database: database, links: { [router] in
                await node.unitLinks + map.brokers.map { ($0.name, router.clients[$0.name]?.isConnected ?? false) }
            }))
        let http = server
        let serveHTTP = !noHttp
        let task = Task {
            try await router.connect()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await node.run() }
                if serveHTTP { group.addTask { try await http.run { port in mediaBase.update { $0 = $0 ?? "http://\(host):\(port)" } } } }
                defer { group.cancelAll() }
                try await group.next()
            }
            await router.close()
        }
        // SIGTERM/SIGINT: the node hands its communes over (each flushed) before the process ends.
        ProcessSignals.cancelOnTermination(task, name: "wardfleet")
        try await task.value
    }
}

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Các nút điều khiển và xã của từng nút / Controller nodes and the communes each owns (cluster on PostgreSQL).",
        subcommands: [List.self, Drain.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Nodes, their communes, lease ages and broker links.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote {
                // The same view from the server (only the token user's communes), printed as locally.
                if json { return try await remote.run("GET", "/api/v1/nodes") }
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                return print(try decoder.decode(ClusterView.self, from: try await remote.call("GET", "/api/v1/nodes")).text())
            }
            let database = try db.open()
            let view = try ClusterView.read(database, now: Clocks.fromEnvironment().now())
            if json { return try printJSON(view) }
            print(view.text())
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drain", abstract: "Ask a node to hand its communes to the others (it keeps running; --undo takes it back into service).")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Node id.") var node: String
        @Flag(help: "Take the node back into service.") var undo = false

        func run() async throws {
            if let remote = try db.remote {
                // Through the API: an admin's token, and the change lands in the audit log.
                _ = try await remote.call("POST", RemoteAPI.path("nodes", node, undo ? "undrain" : "drain"))
            } else {
                let database = try db.open()
                guard try ClusterRepository(database).setDraining(node: node, !undo) else {
                    throw ValidationError("không có nút '\(node)' / no node '\(node)'")
                }
            }
            print(undo ? "Nút \(node) nhận lại xã / node \(node) takes communes again"
                       : "Nút \(node) đang bàn giao các xã / node \(node) is handing its communes over")
        }
    }
}
