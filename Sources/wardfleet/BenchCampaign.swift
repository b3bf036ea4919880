import ArgumentParser
import FleetFile
import Foundation
import MQTTClient
import Synchronization
import WardClock
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension Bench {
    struct CampaignBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "campaign",
            abstract: "Firmware campaign to N simulated speakers at R per minute, on an accelerated clock: completion time, controller CPU, broker traffic.",
            discussion: """
                Each run: a private mosquitto ($SYS every second), a fresh database with N speakers on firmware 1.0.0, the \
                controller and its HTTP server (media and firmware) in this process, and the N speakers in one `firmware-sim` \
                process that verifies and installs what it is sent. An image 2.0.0 is added, signed, and a campaign to every \
                speaker is created and approved through the same service the CLI and the API use. From the approval the \
                clock the controller and the simulator share (a clock file, WARDFLEET_CLOCK_FILE) runs --speedup times \
                faster than the wall clock, so R per minute is R per campaign minute. Reported: completion in campaign time \
                and wall time; the controller's CPU time over the campaign from getrusage(RUSAGE_SELF) of this process (the \
                controller runs in it; the benchmark's own polling is included, the simulator is a separate process and is \
                reported apart from /proc/PID/stat); and the broker's traffic from its $SYS counters (PUBLISH messages and \
                their bytes, and MQTT packets of any type, received and sent) between the approval and the end, heartbeats included (the speakers declare \
                --heartbeat, one an hour by default, so the campaign's own messages dominate).
                """)

        @Option(help: "Simulated speakers.") var speakers = 5_000
        @Option(help: "Orders per (campaign) minute.") var rate = 500
        @Option(help: "Runs; medians reported.") var runs = 1
        @Option(help: "Campaign clock speed over the wall clock, from the approval on.") var speedup: Double = 10
        @Option(help: "Waves.") var waves = "1%,10%,rest"
        @Option(help: "Villages the speakers are spread over.") var villages = 50
        @Option(help: "Seconds (wall) a simulated speaker takes to install, before it restarts on the new version.") var installSeconds: Double = 1
        @Option(help: "Heartbeat the speakers declare and keep, seconds (wall).") var heartbeat: Double = 3600
        @Option(help: "Give up on a run after this many wall seconds.") var timeout: Double = 1800

        struct RunResult {
            var campaignSeconds: Double
            var wallSeconds: Double
            var cpuSeconds: Double
            var simCPUSeconds: Double?
            var counts: [JobState: Int]
            var state: CampaignState
            var broker: [String: Double]
            var orders: Int
        }

        func run() async throws {
            bootstrapLogging(level: .error)
            guard speakers >= 1, rate >= 1, runs >= 1, speedup >= 1 else { throw ValidationError("--speakers, --rate, --runs ≥ 1; --speedup ≥ 1") }
            guard let waveSizes = WaveSize.parse(waves) else { throw ValidationError("--waves: e.g. 1%,10%,rest") }
            print("campaign benchmark: \(runs) run(s), \(speakers) speakers in \(villages) villages, \(rate)/min, waves \(waves), "
                  + "clock ×\(speedup) from the approval, install \(installSeconds) s, heartbeat \(heartbeat) s")
            var results: [RunResult] = []
            for i in 1...runs {
                let r = try await once(waves: waveSizes)
                results.append(r)
                let b = r.broker
                print(String(format: "run %d: %@ in %.0f s campaign time (%.1f min; ideal at the rate %.1f min) = %.1f s wall | controller CPU %.1f s (%.2f cores)%@ | broker: PUBLISH %.0f in (%.0f KB), %.0f out (%.0f KB); MQTT packets of any type %.0f in (%.0f KB), %.0f out (%.0f KB) | orders published %d | %@",
                             i, r.state.rawValue, r.campaignSeconds, r.campaignSeconds / 60, Double(speakers) / Double(rate), r.wallSeconds,
                             r.cpuSeconds, r.cpuSeconds / max(r.wallSeconds, 0.001),
                             r.simCPUSeconds.map { String(format: ", simulator %.1f s", $0) } ?? "",
                             b["publish/messages/received"] ?? .nan, (b["publish/bytes/received"] ?? .nan) / 1000,
                             b["publish/messages/sent"] ?? .nan, (b["publish/bytes/sent"] ?? .nan) / 1000,
                             b["messages/received"] ?? .nan, (b["bytes/received"] ?? .nan) / 1000, b["messages/sent"] ?? .nan, (b["bytes/sent"] ?? .nan) / 1000,
                             r.orders,
                             JobState.allCases.compactMap { s in r.counts[s].map { "\(s.rawValue) \($0)" } }.joined(separator: ", ")))
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            let m = { (k: String) in median(results.map { $0.broker[k] ?? .nan }) }
            print(String(format: "MEDIAN over %d run(s): %d speakers at %d/min: completed in %.0f s campaign time (%.1f min), %.1f s wall; controller CPU %.1f s; broker PUBLISH %.0f in / %.0f out, %.0f KB in / %.0f KB out (%.1f per speaker); packets of any type %.0f in / %.0f out",
                         runs, speakers, rate, median(results.map(\.campaignSeconds)), median(results.map(\.campaignSeconds)) / 60,
                         median(results.map(\.wallSeconds)), median(results.map(\.cpuSeconds)), m("publish/messages/received"), m("publish/messages/sent"),
                         m("publish/bytes/received") / 1000, m("publish/bytes/sent") / 1000,
                         (m("publish/messages/received") + m("publish/messages/sent")) / Double(speakers), m("messages/received"), m("messages/sent")))
        }

        static func cpuSeconds() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        }

        /// utime + stime of another process, from /proc (nil where there is no /proc).
        static func cpuSeconds(pid: pid_t) -> Double? {
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = s.lastIndex(of: ")") else { return nil }
            let f = s[s.index(after: close)...].split(separator: " ")
            guard f.count > 13, let u = Double(f[11]), let k = Double(f[12]) else { return nil }
            return (u + k) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }

        func once(waves: [WaveSize]) async throws -> RunResult {
            let broker = try await LocalBroker.start(extraConfig: "sys_interval 1\n")
            defer { broker.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-campaign-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            // The shared clock: real time until the approval, then accelerated.
            let clockPath = dir.appendingPathComponent("clock").path
            try "0".write(toFile: clockPath, atomically: true, encoding: .utf8)
            let clock = ShiftedClock(path: clockPath)
            let dbPath = dir.appendingPathComponent("campaign.sqlite").path
            let fleetPath = dir.appendingPathComponent("fleet.yaml").path
            try fleetYAML().write(toFile: fleetPath, atomically: true, encoding: .utf8)
            let database = try WardDatabase(path: dbPath)
            let fleet = try FleetFileReader.read(path: fleetPath, registeredAt: Date())
            try PlaceRepository(database).upsert(fleet.places)
            try DeviceRepository(database).upsert(fleet.devices)

            // The image, signed with a key made for this run; the speakers pin its public key.
            let firmware = FirmwareLibrary(root: dir.appendingPathComponent("firmware"), database: database,
                                           keyPath: dir.appendingPathComponent("signing.key").path, clock: clock)
            let imagePath = dir.appendingPathComponent("image.bin").path
            try Data((0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(to: URL(fileURLWithPath: imagePath))
            _ = try firmware.add(file: imagePath, deviceClass: .speaker, model: Self.model, version: "2.0.0", notes: "bench", by: "bench")
            let key = try firmware.signingKey().publicKeyBase64

            let base = SharedValue<String?>(nil)
            let library = MediaLibrary(root: dir.appendingPathComponent("media"), database: database)
            var http = ControllerHTTPServer(library: library, host: "127.0.0.1", port: 0)
            http.firmware = firmware
            let server = http
            let httpTask = Task { try await server.run { port in base.update { $0 = "http://127.0.0.1:\(port)" } } }
            var config = ControllerConfiguration(databasePath: dbPath, mqtt: .init(host: "127.0.0.1", port: broker.port, clientID: "bench-campaign-ctl"))
            config.ingest.statusInterval = 1
            var delivery = DeliveryConfiguration()
            delivery.mediaBaseURL = { base.get() }
            config.delivery = delivery
            var fw = FirmwareConfiguration()
            fw.baseURL = { base.get() }
            config.firmware = fw
            let controller = try FleetController(config, clock: clock)
            let ctlTask = Task { try await controller.run() }

            // The broker's own counters ($SYS, retained, refreshed every second).
            let sys = SharedValue<[String: Double]>([:])
            let ear = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "bench-campaign-sys"))
            try ear.subscribe("$SYS/broker/messages/#", qos: 0)
            try ear.subscribe("$SYS/broker/bytes/#", qos: 0)
            try ear.subscribe("$SYS/broker/publish/#", qos: 0)
            try await ear.connect()
            let earTask = Task {
                while let batch = await ear.messages.nextBatch() {
                    for m in batch {
                        guard let v = Double(String(decoding: m.payload, as: UTF8.self).trimmingCharacters(in: .whitespaces)) else { continue }
                        let k = String(m.topic.dropFirst("$SYS/broker/".count))
                        sys.update { $0[k] = v }
                    }
                }
            }
            let sim = try ChildProcess.spawn(siblingExecutable("firmware-sim"),
                                             ["run", "--file", fleetPath, "--broker", "127.0.0.1:\(broker.port)", "--heartbeat", "\(heartbeat)",
                                              "--firmware-key", key, "--ota-install-seconds", "\(installSeconds)", "--exit-with-parent"],
                                             stdout: .null, stderr: .file(dir.appendingPathComponent("sim.log").path),
                                             environment: [Clocks.environmentKey: clockPath])
            var accelerator: Task<Void, Never>?
            func stop() async {
                accelerator?.cancel()
                await sim.terminate(grace: .seconds(10))  // awaited: a defer's Task would die with this process, orphaning it
                earTask.cancel()
                ear.disconnect()
                ctlTask.cancel()
                httpTask.cancel()
            }
            do {
                let ids = fleet.devices.map(\.id)
                let took = try await benchAwaitOnline(ids, controller)
                print(String(format: "all %d online after %.1f s; creating the campaign", ids.count, took))
                var policy = CampaignPolicy()
                policy.ratePerMinute = rate
                policy.maxFailuresPercent = 50
                policy.minFinished = 10
                let campaigns = FirmwareCampaigns(database: database, clock: clock)
                let view = try campaigns.create(CampaignRequest(name: "bench", image: "2.0.0",
                                                                target: CampaignTarget(deviceClass: .speaker, model: Self.model),
                                                                waves: waves, policy: policy, by: "bench"))
                guard view.jobs.count == ids.count else { throw ValidationError("the campaign targets \(view.jobs.count), not \(ids.count)") }
                try await Task.sleep(for: .milliseconds(1_500))  // a fresh $SYS reading
                let sys0 = sys.get(), cpu0 = Self.cpuSeconds(), simCPU0 = Self.cpuSeconds(pid: sim.pid)
                let published0 = await controller.firmware?.published ?? 0
                let wall0 = ContinuousClock.now
                let realStart = Date()
                let approved = try campaigns.approve(view.campaign.id, by: "bench")
                let start = approved.approvedAt ?? clock.now()
                let speed = speedup
                accelerator = Task {
                    while !Task.isCancelled {
                        let offset = (speed - 1) * Date().timeIntervalSince(realStart)
                        let tmp = clockPath + ".tmp"
                        try? String(offset).write(toFile: tmp, atomically: false, encoding: .utf8)
                        _ = rename(tmp, clockPath)
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                var last = ""
                var c = approved
                while true {
                    c = try FirmwareRepository(database).campaign(approved.id) ?? c
                    if c.state.isOver { break }
                    if ContinuousClock.now - wall0 > .seconds(timeout) { throw ValidationError("campaign not over after \(timeout) s: \(c.state.rawValue)") }
                    let p = CampaignPlanner.progress(try FirmwareRepository(database).jobs(approved.id))
                    let line = p.map { w in "wave \(w.wave + 1): \(w.finished)/\(w.total)" }.joined(separator: ", ")
                    if line != last, Int((ContinuousClock.now - wall0).inSeconds) % 10 == 0 {
                        print("  \(Int((ContinuousClock.now - wall0).inSeconds)) s: \(line)")
                        last = line
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
                let wall = (ContinuousClock.now - wall0).inSeconds
                let cpu = Self.cpuSeconds() - cpu0
                let simCPU = Self.cpuSeconds(pid: sim.pid).flatMap { s in simCPU0.map { s - $0 } }
                accelerator?.cancel()
                let orders = (await controller.firmware?.published ?? 0) - published0
                try await Task.sleep(for: .milliseconds(1_500))  // the $SYS reading after the end
                let sys1 = sys.get()
                var traffic: [String: Double] = [:]
                for k in ["messages/received", "messages/sent", "bytes/received", "bytes/sent", "publish/messages/received",
                          "publish/messages/sent", "publish/bytes/received", "publish/bytes/sent"] {
                    traffic[k] = (sys1[k] ?? .nan) - (sys0[k] ?? .nan)
                }
                var counts: [JobState: Int] = [:]
                for j in try FirmwareRepository(database).jobs(approved.id) { counts[j.state, default: 0] += 1 }
                await stop()
                return RunResult(campaignSeconds: (c.endedAt ?? clock.now()).timeIntervalSince(start), wallSeconds: wall, cpuSeconds: cpu,
                                 simCPUSeconds: simCPU, counts: counts, state: c.state, broker: traffic, orders: orders)
            } catch {
                await stop()
                throw error
            }
        }

        static let model = "WF-LOA-BENCH"

        func fleetYAML() -> String { benchSpeakerFleet(speakers: speakers, villages: villages, attributes: ", model: \(Self.model), firmware: 1.0.0") }
    }
}
