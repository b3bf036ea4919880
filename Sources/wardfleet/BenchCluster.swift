import ArgumentParser
import Foundation
import WardController
import WardDomain
import WardStorage

extension Bench {
    /// Failover time and per-node cost of cluster nodes on one PostgreSQL (issue: past one machine).
    struct Cluster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cluster: failover time after SIGKILL of a node, and CPU/RSS per node for 1 node against 2.",
            discussion: """
                Starts a private PostgreSQL (fsync on), a private mosquitto, registers COMMUNES communes of DEVICES \
                devices each, runs firmware-sim for all of them, and `wardfleet run --node-id` processes. \
                Failover: a node that owns communes is killed with SIGKILL; the time is taken from the kill until \
                every commune is owned again and every device of the killed node's communes reports ok. Cost: the \
                nodes' CPU seconds and RSS over a window, idle (heartbeats) and under a telemetry flood, with 1 node \
                and with 2.
                """)

        @Option(help: "Communes.") var communes = 6
        @Option(help: "Devices per commune.") var devices = 50
        @Option(help: "Failover runs; the median is reported.") var runs = 5
        @Option(help: "Lease duration of the nodes, seconds.") var leaseSeconds: Double = 6
        @Option(help: "Device heartbeat, seconds.") var heartbeat: Double = 2
        @Option(help: "Cost: seconds measured per phase.") var window: Double = 20
        @Option(help: "Cost: telemetry flood rate, msg/s (0: skip the flood phase).") var floodRate = 2_000
        @Flag(help: "Only the failover runs.") var failoverOnly = false
        @Flag(help: "Only the cost phases.") var costOnly = false

        func run() async throws {
            bootstrapLogging(level: .error)
            print("cluster benchmark: \(communes) communes × \(devices) devices, lease \(leaseSeconds) s, heartbeat \(heartbeat) s")
            let server = try LocalPostgres(fsync: true)
            defer { server.stop() }
            if !costOnly {
                var times: [Double] = [], owned: [Double] = []
                try await withCluster(server, nodes: 3) { env in
                    for i in 1...runs {
                        let (o, t) = try await env.failover()
                        times.append(t)
                        owned.append(o)
                        print(String(format: "failover run %d: every commune owned again %.2f s after SIGKILL, its devices ok after %.2f s", i, o, t))
                    }
                }
                let sorted = times.sorted(), ownedSorted = owned.sorted()
                print(String(format: "MEDIAN failover: owned again %.2f s (min %.2f, max %.2f); devices ok %.2f s (min %.2f, max %.2f); %d runs, lease %.0f s, heartbeat %.0f s",
                             ownedSorted[ownedSorted.count / 2], ownedSorted.first ?? 0, ownedSorted.last ?? 0,
                             sorted[sorted.count / 2], sorted.first ?? 0, sorted.last ?? 0, sorted.count, leaseSeconds, heartbeat))
            }
            if !failoverOnly {
                for n in [1, 2] {
                    try await withCluster(server, nodes: n) { env in
                        let idle = try await env.cost(window: window)
                        print(String(format: "%d node(s), idle (%d devices, %.0f msg/s heartbeats): CPU %.3f s/s in all, RSS %.0f MB in all",
                                     n, communes * devices, Double(communes * devices) / heartbeat, idle.cpu, idle.rssMB))
                        print(String(format: "  per 1,000 devices: CPU %.3f s/s, RSS %.1f MB (whole node; per node: %.1f MB)",
                                     idle.cpu / Double(communes * devices) * 1000, idle.rssMB / Double(communes * devices) * 1000,
                                     idle.rssMB / Double(n)))
                        guard floodRate > 0 else { return }
                        let busy = try await env.cost(window: window, flood: floodRate)
                        let extra = max(0, busy.cpu - idle.cpu)
                        print(String(format: "%d node(s), flood %d msg/s on top: CPU %.3f s/s in all, RSS %.0f MB in all; per 1,000 msg/s: CPU %.3f s/s",
                                     n, floodRate, busy.cpu, busy.rssMB, extra / Double(floodRate) * 1000))
                    }
                }
            }
        }

        func withCluster(_ server: LocalPostgres, nodes: Int, _ body: (ClusterEnv) async throws -> Void) async throws {
            let env = try await ClusterEnv(server: server, communes: communes, devices: devices, nodes: nodes,
                                           leaseSeconds: leaseSeconds, heartbeat: heartbeat)
            do { try await body(env) } catch {
                await env.stop()
                throw error
            }
            await env.stop()
        }
    }
}

/// One benchmark cluster: database, broker, simulated fleet and node processes.
final class ClusterEnv: @unchecked Sendable {
    let database: WardDatabase
    let url: String
    let broker: LocalBroker
    let dir: URL
    let communes: [String]
    let leaseSeconds: Double
    var nodes: [String: ChildProcess] = [:]
    var sim: ChildProcess?
    var flood: ChildProcess?

    init(server: LocalPostgres, communes: Int, devices: Int, nodes count: Int, leaseSeconds: Double, heartbeat: Double) async throws {
        self.leaseSeconds = leaseSeconds
        url = server.url(database: try server.createDatabase("cluster").database)
        database = try WardDatabase.open(url)
        broker = try await LocalBroker.start()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-bench-cluster-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.communes = (1...communes).map { "xa-\($0)" }
        var places = [Place(id: "tinh", level: .province, name: "Tỉnh Thử Nghiệm")]
        var list: [Device] = []
        var yaml = "province:\n  id: tinh\n  name: Tỉnh Thử Nghiệm\n  communes:\n"
        for c in self.communes {
            places += [Place(id: c, level: .commune, name: "Xã \(c)", parentID: "tinh"),
                       Place(id: "thon-\(c)", level: .village, name: "Thôn \(c)", parentID: c),
                       Place(id: "diem-\(c)", level: .site, name: "Điểm \(c)", parentID: "thon-\(c)", siteKind: .pole)]
            yaml += "    - id: \(c)\n      name: Xã \(c)\n      villages:\n        - id: thon-\(c)\n          name: Thôn \(c)\n"
            yaml += "          sites:\n            - id: diem-\(c)\n              name: Điểm \(c)\n              kind: pole\n              devices:\n"
            for d in 0..<devices {
                let id = "AP-\(c.uppercased())-\(d)"
                list.append(Device(id: id, deviceClass: .accessPoint, siteID: "diem-\(c)", registeredAt: Date()))
                yaml += "                - {id: \(id), class: access_point}\n"
            }
        }
        try PlaceRepository(database).upsert(places)
        try DeviceRepository(database).upsert(list)
        let fleet = dir.appendingPathComponent("fleet.yaml").path
        try yaml.write(toFile: fleet, atomically: true, encoding: .utf8)
        for i in 1...count { try startNode("n\(i)") }
        sim = try ChildProcess.spawn(siblingExecutable("firmware-sim"),
                                     ["run", "--file", fleet, "--broker", "127.0.0.1:\(broker.port)", "--heartbeat", "\(heartbeat)",
                                      "--exit-with-parent"], stdout: .null)
        try await waitUntil(timeout: 120) { try self.allOwned() && self.devicesOK(of: Set(self.communes)) }
    }

    func startNode(_ id: String) throws {
        nodes[id] = try ChildProcess.spawn(siblingExecutable("wardfleet"),
                                           ["run", "--node-id", id, "--db", url, "--broker", "127.0.0.1:\(broker.port)", "--no-http",
                                            "--lease-seconds", "\(leaseSeconds)", "--log-level", "error",
                                            "--media-dir", dir.appendingPathComponent("media").path], stdout: .null)
    }

    func owners() throws -> [String: String] {
        let now = Date()
        var out: [String: String] = [:]
        for l in try ClusterRepository(database).leases() where l.scope.hasPrefix("commune:") && l.isHeld(at: now) {
            out[String(l.scope.dropFirst("commune:".count))] = l.node
        }
        return out
    }
    func allOwned() throws -> Bool { try Set(owners().keys) == Set(communes) }

    /// Every device of these communes is ok in its open state interval, begun after `since`
    /// (intervals are written every flush; the status rows only every status interval).
    func devicesOK(of communes: Set<String>, since: Date = .distantPast) throws -> Bool {
        let tree = try PlaceRepository(database).tree()
        let ids = try DeviceRepository(database).list().filter { d in
            tree.ancestor(of: d.siteID, at: .commune).map { communes.contains($0.id) } ?? false
        }.map(\.id)
        let ok = try database.store.read { db in
            try Set(String.fetchAll(db, sql: "SELECT device_id FROM state_intervals WHERE ended_at IS NULL AND state = 'ok' AND started_at > ?",
                                    arguments: [Int64(since.timeIntervalSince1970 * 1000)]))
        }
        return ids.allSatisfy(ok.contains)
    }

    /// Kills the node owning the most communes; seconds until its communes are owned again, and until their devices are ok.
    func failover() async throws -> (owned: Double, ok: Double) {
        let owners = try owners()
        let victim = Dictionary(grouping: owners.keys, by: { owners[$0]! }).max { $0.value.count < $1.value.count }!
        let theirs = Set(victim.value)
        // Devices count as ok again only in an interval begun after the kill: a stale row does not end the clock.
        let killedAt = ContinuousClock.now
        let killedAtWall = Date()
        nodes[victim.key]?.send(SIGKILL)
        _ = await nodes[victim.key]?.wait()
        try await waitUntil(timeout: 120) {
            let o = try self.owners()
            return theirs.allSatisfy { o[$0] != nil && o[$0] != victim.key }
        }
        let ownedAfter = (ContinuousClock.now - killedAt).inSeconds
        try await waitUntil(timeout: 120) { try self.devicesOK(of: theirs, since: killedAtWall) }
        let seconds = (ContinuousClock.now - killedAt).inSeconds
        // Back to full strength for the next run: restart the node and let the communes spread again.
        try startNode(victim.key)
        try await waitUntil(timeout: 120) {
            let o = try self.owners()
            let ok = try self.devicesOK(of: Set(self.communes))
            return Set(o.keys) == Set(self.communes) && Set(o.values).count == self.nodes.count && ok
        }
        return (ownedAfter, seconds)
    }

    /// CPU seconds per second and RSS (MB) summed over the node processes, over `window` seconds.
    func cost(window: Double, flood rate: Int = 0) async throws -> (cpu: Double, rssMB: Double) {
        if rate > 0 {
            // Telemetry from the first commune's devices, on top of the heartbeats.
            flood = try ChildProcess.spawn(siblingExecutable("firmware-sim"),
                                           ["flood", "--broker", "127.0.0.1:\(broker.port)", "--commune", communes[0],
                                            "--prefix", "AP-\(communes[0].uppercased())-", "--devices", "1",
                                            "--count", "\(Int(Double(rate) * (window + 10)))", "--rate", "\(rate)"], stdout: .null)
            try await Task.sleep(for: .seconds(3))  // the flood under way before the window opens
        }
        let pids = nodes.values.map(\.pid)
        let before = pids.map(Self.cpuSeconds)
        let start = ContinuousClock.now
        try await Task.sleep(for: .seconds(window))
        let elapsed = (ContinuousClock.now - start).inSeconds
        let after = pids.map(Self.cpuSeconds)
        let rss = pids.map(Self.rssMB).reduce(0, +)
        flood?.send(SIGKILL)
        _ = await flood?.wait()
        flood = nil
        return (zip(after, before).map { $0 - $1 }.reduce(0, +) / elapsed, rss)
    }

    static func cpuSeconds(_ pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
    static func rssMB(_ pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    func waitUntil(timeout: Double, _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValidationError("cluster benchmark: condition not met within \(Int(timeout)) s")
    }

    func stop() async {
        flood?.send(SIGKILL)
        for n in nodes.values { await n.terminate() }
        await sim?.terminate()
        broker.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}
