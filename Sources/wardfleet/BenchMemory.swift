import ArgumentParser
import Foundation
import MQTTClient
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension Bench {
    /// The controller's memory with a large registered fleet (issue 16, item 4): `wardfleet run`
    /// alone in its own process, its RSS read from /proc.
    struct Memory: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Memory: the RSS of `wardfleet run` (a child process) with N registered devices and telemetry flowing.",
            discussion: """
                Each run creates a SQLite database with N devices registered across provinces → communes → villages \
                → sites (60 devices a commune: speakers, cameras, Wi-Fi APs, kiosks), starts a private mosquitto and \
                `wardfleet run` on them as a child process, then publishes from this process: every device's birth \
                and online state (retained, QoS 1, as a device does on connect), then each device's telemetry once \
                per heartbeat, spread evenly (N ÷ heartbeat msg/s; 100,000 devices at 60 s: 1,667 msg/s). Once \
                every device is ok and a whole heartbeat of telemetry has flowed, VmRSS of the controller is sampled \
                every 2 s over the window: the steady state is the median of those samples, the peak is VmHWM. By default the \
                controller also makes last month's province-wide report as it starts, and the window begins once that is \
                stored and one trim interval (30 s) has passed (--no-monthly-report: not asked for).
                """)

        @Option(help: "Fleet sizes, comma-separated.") var devices = "100000"
        @Option(help: "Runs per size; the median is reported.") var runs = 5
        @Option(help: "Device heartbeat (telemetry interval), seconds, declared in the births.") var heartbeat: Double = 60
        @Option(help: "Seconds of steady state sampled (after every device is ok and one heartbeat of telemetry).")
        var window: Double = 60
        @Option(help: "Devices born per second at the start (each: birth + state).") var birthRate = 5_000
        @Option(help: "Publisher connections.") var connections = 4
        @Option(help: "Environment for the controller, NAME=VALUE (repeatable), e.g. MALLOC_ARENA_MAX=2.") var env: [String] = []
        @Flag(help: "Run the controller without its HTTP server.") var noHttp = false
        @Option(help: "Another `wardfleet` executable (e.g. a build from before a change), run alternately with this one in every run as the baseline.")
        var baseline: String?
        @Option(help: "Start the controller under this command (repeatable, one word each), e.g. --wrap heaptrack --wrap -o --wrap FILE.")
        var wrap: [String] = []
        @Flag(inversion: .prefixedNo, help: """
            Have the controller make last month's province-wide report as it starts (--report-day 1), and sample once \
            it is stored and one more trim interval has passed: the steady state after the monthly job, whatever the \
            date. Without it the report is made only from the controller's default day (the 5th) on.
            """)
        var monthlyReport = true
        @Flag(help: "Print the controller's memory map summary (from /proc/PID/smaps_rollup and the largest mappings) at the end of each run.")
        var maps = false

        struct RunResult {
            var idleMB: Double      // registry loaded, before any message
            var steadyMB: Double    // median VmRSS over the window
            var growthMB: Double    // last sample − first sample of the window
            var reportSeconds: Double?  // from the run's start until last month's report was stored
            var peakMB: Double      // VmHWM
            var received: UInt64
            var seconds: Double
        }

        func run() async throws {
            bootstrapLogging(level: .error)
            let sizes = try devices.split(separator: ",").map { s -> Int in
                guard let n = Int(s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")), n > 0 else {
                    throw ValidationError("--devices: comma-separated positive counts, got '\(devices)'")
                }
                return n
            }
            var environment: [String: String] = [:]
            for e in env {
                guard let eq = e.firstIndex(of: "=") else { throw ValidationError("--env NAME=VALUE, got '\(e)'") }
                environment[String(e[..<eq])] = String(e[e.index(after: eq)...])
            }
            print("memory benchmark: sizes \(sizes), \(runs) runs each, heartbeat \(heartbeat) s, window \(window) s, "
                  + "HTTP \(noHttp ? "off" : "on")" + (environment.isEmpty ? "" : ", env \(environment)"))
            let current = siblingExecutable("wardfleet")
            let controllers = (baseline.map { [("baseline", $0)] } ?? []) + [("this build", current)]
            if let baseline { print("baseline: \(baseline); this build: \(current)") }
            var summary: [(name: String, devices: Int, results: [RunResult])] = []
            for n in sizes {
                var results = Array(repeating: [RunResult](), count: controllers.count)
                for i in 1...runs {
                    for (k, (name, exe)) in controllers.enumerated() {
                        let r = try await once(devices: n, controller: exe, environment: environment)
                        results[k].append(r)
                        print(String(format: "%@, %d devices, run %d: steady %.1f MB (window growth %+.1f MB), peak %.1f MB, "
                                     + "idle %.1f MB before messages, %llu msgs received, %.0f s",
                                     name, n, i, r.steadyMB, r.growthMB, r.peakMB, r.idleMB, r.received, r.seconds)
                              + (r.reportSeconds.map { String(format: "; last month's report stored %.0f s into the run", $0) } ?? ""))
                    }
                }
                for (k, (name, _)) in controllers.enumerated() { summary.append((name, n, results[k])) }
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            for (name, n, rs) in summary {
                let steady = rs.map(\.steadyMB), peak = rs.map(\.peakMB)
                print(String(format: "MEDIAN %@, %d devices: steady %.1f MB (%.1f–%.1f), peak %.1f MB (%.1f–%.1f), idle %.1f MB; "
                             + "%.2f MB per 1,000 devices (whole process)",
                             name, n, median(steady), steady.min()!, steady.max()!, median(peak), peak.min()!, peak.max()!,
                             median(rs.map(\.idleMB)), median(steady) / Double(n) * 1000))
            }
            for (name, _) in controllers {
                let mine = summary.filter { $0.name == name }
                guard mine.count > 1, let first = mine.first, let last = mine.last else { continue }
                let slope = (median(last.results.map(\.steadyMB)) - median(first.results.map(\.steadyMB))) / Double(last.devices - first.devices) * 1000
                print(String(format: "SLOPE %@, %d → %d devices: %.2f MB per 1,000 devices (steady medians)", name, first.devices, last.devices, slope))
            }
        }

        func once(devices n: Int, controller exe: String, environment: [String: String]) async throws -> RunResult {
            let started = ContinuousClock.now
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-bench-memory-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let dbPath = dir.appendingPathComponent("bench.sqlite").path
            let fleet = MemoryFleet(devices: n)
            let database = try WardDatabase.open(dbPath)
            try fleet.write(database)

            var args = ["run", "--db", dbPath, "--broker", "127.0.0.1:\(broker.port)", "--log-level", "error",
                        "--media-dir", dir.appendingPathComponent("media").path, "--client-id", "bench-memory-controller"]
            args += noHttp ? ["--no-http"] : ["--http-host", "127.0.0.1", "--http-port", "0"]
            if monthlyReport { args += ["--report-day", "1"] }
            let controller = wrap.isEmpty ? try ChildProcess.spawn(exe, args, stdout: .null, environment: environment)
                : try ChildProcess.spawn(ChildProcess.locate(wrap[0]) ?? wrap[0], Array(wrap.dropFirst()) + [exe] + args, stdout: .null,
                                         environment: environment)
            defer { if controller.isRunning { controller.send(SIGKILL) } }
            func alive() throws {
                if let s = controller.exitStatus { throw ValidationError("the controller exited (status \(s))") }
            }
            // Under a wrapper, the controller is the wrapper's descendant named like the executable.
            var pid = controller.pid
            if !wrap.isEmpty {
                let name = String(URL(fileURLWithPath: exe).lastPathComponent.prefix(15))
                try await waitUntil(timeout: 60) {
                    try alive()
                    if let p = ProcMemory.descendant(of: controller.pid, named: name) { pid = p; return true }
                    return false
                }
            }

            // Ready: connected to the broker (it subscribes as it connects).
            try await waitUntil(timeout: 300) {
                try alive()
                return ProcMemory.hasConnection(pid, toPort: broker.port)
            }
            try await Task.sleep(for: .seconds(2))
            let idle = ProcMemory.read(pid).rssMB

            // Publishers: births and online states (retained, QoS 1), then telemetry once per heartbeat.
            var clients: [MQTTClient] = []
            for i in 0..<connections {
                var cfg = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "bench-memory-pub-\(i)-\(getpid())")
                cfg.keepAlive = 60
                cfg.inboundCapacity = 16
                let c = try MQTTClient(cfg)
                try await c.connect()
                clients.append(c)
            }
            defer { for c in clients { c.disconnect() } }
            // A boot id per device, 16 hex digits as devices draw them (protocol §3).
            let salt = UInt64.random(in: 0...UInt64.max)
            let boots = (0..<n).map { String(format: "%016llx", salt &+ UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }
            let publishers = clients, heartbeat = self.heartbeat, birthRate = self.birthRate
            let publisher = Task {
                try await fleet.publish(clients: publishers, boots: boots, heartbeat: heartbeat, birthRate: birthRate)
            }
            defer { publisher.cancel() }

            // Steady: every device ok in its stored status, then one heartbeat of telemetry.
            try await waitUntil(timeout: max(300, Double(n) / Double(birthRate) * 4 + heartbeat * 3)) {
                try alive()
                return try Self.okCount(database) >= n
            }
            var reportSeconds: Double?
            if monthlyReport {
                // The report reads the whole registry and writes a province's body: its memory must be let go.
                try await waitUntil(timeout: 1800) {
                    try alive()
                    return try database.store.read {
                        try Int.fetchOne($0, sql: "SELECT count(*) FROM monthly_reports WHERE scope = '*'") ?? 0
                    } >= 5
                }
                reportSeconds = (ContinuousClock.now - started).inSeconds
                try await Task.sleep(for: HeapTrim.interval)
            }
            try await Task.sleep(for: .seconds(heartbeat))
            var samples: [Double] = []
            let windowStart = ContinuousClock.now
            while ContinuousClock.now - windowStart < .seconds(window) {
                try alive()
                if publisher.isCancelled { break }
                samples.append(ProcMemory.read(pid).rssMB)
                try await Task.sleep(for: .seconds(2))
            }
            let mem = ProcMemory.read(pid)
            if maps { print(ProcMemory.mapSummary(pid)) }
            publisher.cancel()
            _ = try? await publisher.value
            try alive()
            if pid != controller.pid { kill(pid, SIGTERM) }
            await controller.terminate(grace: .seconds(60))
            let received = try database.store.read { db in
                try Int64.fetchOne(db, sql: "SELECT value FROM ingest_counters WHERE name = 'received'") ?? 0
            }
            return RunResult(idleMB: idle, steadyMB: samples.sorted()[samples.count / 2],
                             growthMB: (samples.last ?? 0) - (samples.first ?? 0), reportSeconds: reportSeconds, peakMB: mem.hwmMB,
                             received: UInt64(received), seconds: (ContinuousClock.now - started).inSeconds)
        }

        static func okCount(_ database: WardDatabase) throws -> Int {
            try database.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM device_status WHERE state = 'ok'") ?? 0 }
        }


        func waitUntil(timeout: Double, _ condition: () throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(timeout)
            while ContinuousClock.now < deadline {
                if try condition() { return }
                try await Task.sleep(for: .milliseconds(500))
            }
            throw ValidationError("memory benchmark: condition not met within \(Int(timeout)) s")
        }
    }
}

/// A process's memory from /proc (Linux).
enum ProcMemory {
    struct Reading { var rssMB: Double; var hwmMB: Double }

    static func read(_ pid: pid_t) -> Reading {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return Reading(rssMB: 0, hwmMB: 0) }
        func field(_ name: String) -> Double {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                  let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
            return kb / 1024
        }
        return Reading(rssMB: field("VmRSS"), hwmMB: field("VmHWM"))
    }

    /// Whether `pid` holds an established TCP connection to 127.0.0.1:`port` (from /proc/PID/net/tcp and its descriptors).
    static func hasConnection(_ pid: pid_t, toPort port: Int) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/\(pid)/net/tcp", encoding: .utf8),
              let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return false }
        let sockets = Set(fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
            .filter { $0.hasPrefix("socket:[") }.map { String($0.dropFirst(8).dropLast()) })
        let remote = String(format: "0100007F:%04X", port)
        return table.split(separator: "\n").dropFirst().contains { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            return f.count > 9 && f[2] == remote && f[3] == "01" && sockets.contains(String(f[9]))
        }
    }

    /// The first process under `pid` (depth first) whose command name is `name`.
    static func descendant(of pid: pid_t, named name: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return nil }
        for child in text.split(separator: " ").compactMap({ pid_t($0) }) {
            let comm = (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            if comm == name { return child }
            if let deeper = descendant(of: child, named: name) { return deeper }
        }
        return nil
    }

    /// RSS by kind of mapping (heap and anonymous, the binary and libraries, files), and the largest mappings.
    static func mapSummary(_ pid: pid_t) -> String {
        // Read to the end: /proc files report no size, and a one-shot read stops at the first page.
        guard let data = FileHandle(forReadingAtPath: "/proc/\(pid)/smaps")?.readDataToEndOfFile(), !data.isEmpty,
              let text = String(data: data, encoding: .utf8) else { return "(no smaps)" }
        var mappings: [(name: String, rssKB: Int)] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = parts.first, first.contains("-"), first.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                current = parts.count >= 6 ? parts[5...].joined(separator: " ") : "[anon]"
            } else if parts.first == "Rss:", parts.count >= 2, let kb = Int(parts[1]) {
                mappings.append((current, kb))
            }
        }
        var byName: [String: Int] = [:]
        for m in mappings { byName[m.name, default: 0] += m.rssKB }
        let total = mappings.reduce(0) { $0 + $1.rssKB }
        let anon = mappings.filter { $0.name == "[anon]" }
        let top = anon.map(\.rssKB).sorted(by: >).prefix(8).map { String(format: "%.1f", Double($0) / 1024) }
        var out = String(format: "  map: total %.1f MB; anonymous %.1f MB in %d mappings (largest MB: %@)",
                         Double(total) / 1024, Double(anon.reduce(0) { $0 + $1.rssKB }) / 1024, anon.count, top.joined(separator: ", "))
        for (name, kb) in byName.sorted(by: { $0.value > $1.value }).prefix(8) where name != "[anon]" {
            out += String(format: "\n    %8.1f MB  %@", Double(kb) / 1024, name)
        }
        return out
    }
}

/// The benchmark's fleet: provinces of 100 communes, communes of 10 villages, 60 devices a commune
/// (30 speakers, 15 cameras, 13 Wi-Fi APs, 2 kiosks), as `bench report` lays them out.
struct MemoryFleet: Sendable {
    struct Member: Sendable {
        var id: String
        var commune: String
        var deviceClass: DeviceClass
    }
    let members: [Member]
    let places: [Place]

    init(devices n: Int) {
        var places: [Place] = []
        var members: [Member] = []
        var c = 0
        while members.count < n {
            let province = "tinh\(c / 100)"
            if c % 100 == 0 { places.append(Place(id: province, level: .province, name: "Tỉnh Số \(c / 100)")) }
            let cid = "xa\(c)"
            places.append(Place(id: cid, level: .commune, name: "Xã Số \(c) Đông Triều", parentID: province))
            places.append(Place(id: "\(cid)-motcua", level: .site, name: "Bộ phận Một cửa", parentID: cid, siteKind: .oneStopOffice))
            for s in ["ubnd", "truong", "tram"] {
                places.append(Place(id: "\(cid)-\(s)", level: .site, name: "Điểm \(s)", parentID: cid, siteKind: .communeOffice))
            }
            for v in 0..<10 {
                let vid = "\(cid)-t\(v)"
                places.append(Place(id: vid, level: .village, name: "Thôn \(v) Hòa Bình", parentID: cid))
                places.append(Place(id: "\(vid)-nvh", level: .site, name: "Nhà văn hóa thôn \(v)", parentID: vid, siteKind: .culturalHouse))
                places.append(Place(id: "\(vid)-cong", level: .site, name: "Cổng làng \(v)", parentID: vid, siteKind: .villageEntrance))
                for p in 0..<3 {
                    places.append(Place(id: "\(vid)-cot\(p)", level: .site, name: "Cột loa \(p)", parentID: vid, siteKind: .pole))
                    members.append(Member(id: "\(vid)-loa\(p)", commune: cid, deviceClass: .speaker))
                }
                for k in 0..<(v < 5 ? 2 : 1) { members.append(Member(id: "\(vid)-cam\(k)", commune: cid, deviceClass: .camera)) }
                members.append(Member(id: "\(vid)-ap", commune: cid, deviceClass: .accessPoint))
            }
            for s in ["ubnd", "truong", "tram"] { members.append(Member(id: "\(cid)-ap-\(s)", commune: cid, deviceClass: .accessPoint)) }
            members.append(Member(id: "\(cid)-kiosk-q", commune: cid, deviceClass: .kiosk))
            members.append(Member(id: "\(cid)-kiosk-r", commune: cid, deviceClass: .kiosk))
            c += 1
        }
        self.members = Array(members.prefix(n))
        self.places = places
    }

    func write(_ database: WardDatabase) throws {
        let registered = Date().addingTimeInterval(-86_400)
        try PlaceRepository(database).upsert(places)
        try DeviceRepository(database).upsert(members.map { m in
            let parts = m.id.split(separator: "-")
            let site: String
            switch m.deviceClass {
            case .speaker: site = "\(parts[0])-\(parts[1])-cot\(m.id.last!)"
            case .camera: site = "\(parts[0])-\(parts[1])-cong"
            case .accessPoint: site = parts.count == 3 && parts[2] == "ap" ? "\(parts[0])-\(parts[1])-nvh" : "\(parts[0])-\(parts[2])"
            case .kiosk: site = "\(parts[0])-motcua"
            }
            return Device(id: m.id, deviceClass: m.deviceClass, siteID: site, registeredAt: registered)
        })
    }

    static func birth(_ m: Member, boot: String, heartbeat: Double) -> String {
        let (model, caps) = switch m.deviceClass {
        case .speaker: ("VNPT iSpeaker 4G", "\"set_volume\",\"test_tone\",\"reboot\",\"ping\"")
        case .camera: ("Hikvision DS-2CD1043G2", "\"reboot\",\"ping\"")
        case .accessPoint: ("TP-Link EAP225-Outdoor", "\"reboot\",\"ping\"")
        case .kiosk: ("Kiosk Một cửa KQ-15", "\"reboot\",\"ping\"")
        }
        return "{\"boot\":\"\(boot)\",\"capabilities\":[\(caps)],\"class\":\"\(m.deviceClass.rawValue)\",\"device\":\"\(m.id)\","
            + "\"firmware\":\"2.3.1\",\"heartbeat_s\":\(heartbeat),\"model\":\"\(model)\",\"ts\":\(Date().unixMillis),\"v\":1}"
    }

    static func telemetry(_ m: Member, boot: String, seq: Int, ts: Int64) -> String {
        let body = switch m.deviceClass {
        case .speaker:
            "\"speaker\":{\"amp_ok\":true,\"battery_pct\":null,\"line_ok\":true,\"playing\":false,\"power\":\"mains\",\"rssi\":\(-60 - seq % 20),\"volume\":70}"
        case .camera:
            "\"camera\":{\"oldest_recording_ts\":\(ts - 20 * 86_400_000),\"recording\":true,\"storage_total_bytes\":2000000000000,"
                + "\"storage_used_bytes\":\(1_000_000_000_000 + seq * 1000),\"stream_ok\":true,\"write_rate_bps\":350000}"
        case .accessPoint:
            "\"access_point\":{\"clients\":\(seq % 30),\"cpu_pct\":12.5,\"mem_pct\":41,\"rx_bps\":3200000,\"tx_bps\":910000,\"uplink_ok\":true}"
        case .kiosk:
            "\"kiosk\":{\"paper_low\":false,\"paper_out\":false,\"printer_ok\":true,\"ratings\":{\"satisfied\":3,\"very_satisfied\":9},"
                + "\"tickets_issued\":23,\"tickets_served\":21}"
        }
        return "{\(body),\"boot\":\"\(boot)\",\"device\":\"\(m.id)\",\"seq\":\(seq),\"ts\":\(ts),\"v\":1}"
    }

    /// Births and online states at `birthRate` devices/s, then telemetry of every device once per
    /// `heartbeat`, evenly spread, until cancelled.
    func publish(clients: [MQTTClient], boots: [String], heartbeat: Double, birthRate: Int) async throws {
        let clock = ContinuousClock()
        var start = clock.now
        var i = 0
        while i < members.count {
            let target = min(members.count, Int(Double(birthRate) * (clock.now - start).inSeconds) + 1)
            while i < target {
                let m = members[i], boot = boots[i]
                let c = clients[i % clients.count]
                try c.publish(topic: TopicAddress(commune: m.commune, device: m.id, kind: .birth).topic,
                              payload: Array(Self.birth(m, boot: boot, heartbeat: heartbeat).utf8), qos: 1, retain: true)
                try c.publish(topic: TopicAddress(commune: m.commune, device: m.id, kind: .state).topic,
                              payload: Array("{\"boot\":\"\(boot)\",\"device\":\"\(m.id)\",\"state\":\"online\",\"v\":1}".utf8),
                              qos: 1, retain: true)
                i += 1
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let topics = members.map { TopicAddress(commune: $0.commune, device: $0.id, kind: .telemetry).topic }
        let rate = Double(members.count) / heartbeat
        start = clock.now
        var sent = 0
        while !Task.isCancelled {
            let target = Int(rate * (clock.now - start).inSeconds) + 1
            while sent < target {
                let d = sent % members.count
                let payload = Self.telemetry(members[d], boot: boots[d], seq: sent / members.count + 1, ts: Date().unixMillis)
                try clients[sent % clients.count].publish(topic: topics[d], payload: Array(payload.utf8), qos: 0)
                sent += 1
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
