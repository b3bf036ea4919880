import ArgumentParser
import Dispatch
import FleetFile
import Foundation
import Logging
import MQTTClient
import ProcessSignals
import WardClock
import WardDomain
import WardProtocol

@main
struct FirmwareSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firmware-sim",
        abstract: "Thiết bị mô phỏng nói giao thức WardFleet v1 / Simulated devices speaking WardFleet protocol v1.",
        subcommands: [Run.self, Claim.self, Flood.self],
        defaultSubcommand: Run.self)
}

func parseBroker(_ s: String) throws -> (String, Int) {
    guard let a = MQTTConfiguration.parseAddress(s) else { throw ValidationError("--broker must be HOST:PORT, got '\(s)'") }
    return a
}

/// Each simulated device holds three descriptors (socket and wake-up pair): allow all we may.
func raiseDescriptorLimit() {
    var lim = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < lim.rlim_max else { return }
    lim.rlim_cur = lim.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
}

/// With `--exit-with-parent`: cancels `task` when the process that started us is gone
/// (re-parented), so a benchmark or test that dies without stopping us does not leave thousands
/// of devices reconnecting forever. Off by default: `firmware-sim run … &` from a script that then
/// ends must keep running, as a fleet does.
/// `parent` is read first thing at start; if it is already init (the parent ended before we
/// could look, as `… --exit-with-parent & exit` does), the parent is gone: stop.
func stopWhenOrphaned(_ task: Task<Void, Never>, parent: pid_t) -> Task<Void, Never> {
    Task.detached {
        if parent <= 1 {
            task.cancel()
            return
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if getppid() != parent {
                task.cancel()
                return
            }
        }
    }
}

struct Run: AsyncParsableCommand {
    func otaOptions() throws -> SimOTAOptions {
        var o = SimOTAOptions()
        o.enabled = !noOta
        if let k = firmwareKey {
            let text = FileManager.default.fileExists(atPath: k) ? try String(contentsOfFile: k, encoding: .utf8) : k
            guard let key = FirmwareSigning.publicKey(base64: text) else {
                throw ValidationError("--firmware-key: not an Ed25519 public key (base64 of 32 bytes, as `wardfleet firmware key` prints it)")
            }
            o.publicKey = key.rawRepresentation
        }
        for r in [otaDownloadFailures, otaInstallFailures, otaBootLoops] where !(0...1).contains(r) {
            throw ValidationError("--ota-*-failures, --ota-boot-loops: a fraction 0…1")
        }
        o.downloadFailures = otaDownloadFailures
        o.installFailures = otaInstallFailures
        o.bootLoops = otaBootLoops
        o.installSeconds = otaInstallSeconds
        return o
    }

    static let configuration = CommandConfiguration(
        abstract: "Chạy các thiết bị trong tệp địa điểm/thiết bị / Run the devices of a places/devices file.")

    @Option(help: "Places/devices file (YAML or CSV) listing the devices to simulate.")
    var file: String
    @Option(help: "Broker HOST:PORT.")
    var broker = "127.0.0.1:1883"
    @Option(help: "Heartbeat (telemetry) interval in seconds, declared in the birth.")
    var heartbeat: Double = 30
    @Option(help: "Seed for every random choice: the same seed gives the same devices and traffic.")
    var seed: UInt64 = 1
    @Flag(help: "Connect without a Last Will: a lost connection is then only noticed by silence.")
    var noWill = false
    @Option(name: .customLong("behave"), help: "DEVICE:KIND@START[+DURATION] (seconds), repeatable. KIND: \(Behaviour.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var behaviours: [String] = []
    @Option(help: "Random faults per device per hour (0: none), drawn from the seed.")
    var randomFaults: Double = 0
    @Option(help: "Simulate only these device ids (comma-separated).")
    var only: String?
    @Option(help: "Mean seconds between kiosk customers.")
    var kioskInterval: Double = 240
    @Flag(help: "Kiosk traffic at any hour, not only during office hours.")
    var alwaysOpen = false
    @Option(help: "Stop after this many seconds (default: run until SIGINT/SIGTERM).")
    var duration: Double?
    @Flag(help: "On stop, drop connections abruptly (as a power cut) instead of shutting down cleanly.")
    var abruptStop = false
    @Flag(help: "Stop when the process that started the simulator ends (tests and benchmarks use it).")
    var exitWithParent = false
    @Option(help: "Append a JSON line per playback report the broker acknowledged to this file (for tests).")
    var journal: String?
    @Flag(help: "Speakers as older firmware: no commune emergency topic (emergencies come in their agenda only).")
    var noEmergencyTopic = false
    @Option(help: "State file (JSON, device id → broker password, rotated password pending, applied configuration): devices connect with their password (username = device id) and keep rotations and configuration in it.")
    var state: String?
    @Option(help: "The fleet's firmware signing public key (base64, as `wardfleet firmware key` prints it), or a file holding it: update images are verified with it; without it every image is refused (bad_signature).")
    var firmwareKey: String?
    @Flag(help: "Devices as older firmware: no `ota` capability, update orders ignored.")
    var noOta = false
    @Option(help: "Fraction of devices (the same ones every run, by id) whose firmware download fails.")
    var otaDownloadFailures: Double = 0
    @Option(help: "Fraction of devices whose firmware install fails.")
    var otaInstallFailures: Double = 0
    @Option(help: "Fraction of devices whose new firmware boot-loops: they come back on the old version and report rolled_back.")
    var otaBootLoops: Double = 0
    @Option(help: "Seconds a firmware install takes.")
    var otaInstallSeconds: Double = 1
    @Option(help: "Fraction 0…1 of the loudspeakers on solar power (drawn from the seed): a storm's mains cut does not touch them.")
    var solarFraction: Double = 0.2
    @Option(help: "Storm: village ids (comma-separated) whose mains are cut: their loudspeakers on mains switch to battery (a solar one keeps its supply), the battery drains at --storm-drain, and at 0 % the speaker goes dark as hardware does (the connection is cut without a word, the broker publishes its Last Will) and stays dark.")
    var stormVillages: String?
    @Option(help: "Storm: fraction 0…1 of the loudspeakers (all villages; the same ones for a seed) whose links drop at the storm and stay away.")
    var stormLinkLoss: Double = 0
    @Option(help: "Storm: seconds after start when it begins.")
    var stormAt: Double = 0
    @Option(help: "Storm: the batteries' charge (%) when mains are cut.")
    var stormBattery: Double = 100
    @Option(help: "Storm: how fast batteries drain, % per hour (the speakers' estimated runtime follows from it).")
    var stormDrain: Double = 10

    func run() async throws {
        let parent = getppid()  // now, before a script that started us in the background can end
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "firmware-sim")
        logger.logLevel = .info
        let (host, port) = try parseBroker(broker)
        raiseDescriptorLimit()
        let fleet = try FleetFileReader.read(path: file, registeredAt: Date())
        let communes = try fleet.communeOfDevices()
        let chosen = only.map { Set($0.split(separator: ",").map(String.init)) }
        let devices = fleet.devices.filter { chosen?.contains($0.id) ?? true }
        guard !devices.isEmpty else { throw ValidationError("no devices to simulate in \(file)") }
        var planned = try behaviours.map(Behaviour.parse)
        for b in planned where !devices.contains(where: { $0.id == b.device }) {
            throw ValidationError("behaviour for unknown device \(b.device)")
        }
        if randomFaults > 0 { planned += randomBehaviours(devices, horizon: duration ?? 86_400) }
        planned += try stormBehaviours(fleet, devices, logger: logger)
        var simOptions = SimOptions(host: host, port: port, heartbeat: heartbeat, seed: seed, lastWill: !noWill,
                                 kioskInterval: kioskInterval, alwaysOpen: alwaysOpen, clock: Clocks.fromEnvironment(),
                                 journal: try journal.map(ReportJournal.init(path:)), emergencyTopic: !noEmergencyTopic,
                                 state: state.map(SimStateFile.init(path:)))
        simOptions.ota = try otaOptions()
        guard (0...1).contains(solarFraction) else { throw ValidationError("--solar-fraction: a fraction 0…1") }
        simOptions.solarFraction = solarFraction
        simOptions.stormBattery = stormBattery
        simOptions.stormDrainPerHour = stormDrain
        let options = simOptions
        logger.info("simulating \(devices.count) devices against \(host):\(port), heartbeat \(heartbeat) s, seed \(seed)")

        let sims = devices.map { d in
            SimDevice(device: d, commune: communes[d.id] ?? "unknown", options: options, logger: logger)
        }
        let start = ContinuousClock.now
        let deadline = duration.map { start + .seconds($0) }
        let main = Task {
            await withDiscardingTaskGroup { group in
                for (i, sim) in sims.enumerated() {
                    let mine = planned.filter { $0.device == sim.device.id }
                    group.addTask {
                        await drive(sim, behaviours: mine, start: start, deadline: deadline,
                                    jitter: heartbeat * Double(i) / Double(max(1, sims.count)))
                    }
                }
            }
        }
        ProcessSignals.cancelOnTermination(main, name: "firmware-sim")
        if exitWithParent, parent <= 1 { logger.notice("--exit-with-parent: the process that started the simulator has already ended") }
        let orphanWatch = exitWithParent ? stopWhenOrphaned(main, parent: parent) : nil
        await main.value
        orphanWatch?.cancel()
        logger.info("stopping \(sims.count) devices…")
        let graceful = !abruptStop
        await withDiscardingTaskGroup { group in
            for sim in sims { group.addTask { await sim.stop(graceful: graceful) } }
        }
        logger.info("simulator stopped")
    }

    /// The storm (`--storm-*`): `mains-cut` for the loudspeakers of the chosen villages, `link-loss` for a
    /// seeded fraction of all loudspeakers, both at `--storm-at` and for the rest of the run.
    func stormBehaviours(_ fleet: FleetFile, _ devices: [Device], logger: Logger) throws -> [Behaviour] {
        guard (0...1).contains(stormLinkLoss) else { throw ValidationError("--storm-link-loss: a fraction 0…1") }
        guard (0...100).contains(stormBattery) else { throw ValidationError("--storm-battery: a percentage 0…100") }
        guard stormDrain >= 0, stormAt >= 0 else { throw ValidationError("--storm-drain, --storm-at: not negative") }
        let villages = Set((stormVillages ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        let tree = try fleet.tree()
        for v in villages where tree[v]?.level != .village { throw ValidationError("--storm-villages: no village '\(v)' in the file") }
        let speakers = devices.filter { $0.deviceClass == .speaker }
        var out: [Behaviour] = []
        let cut = speakers.filter { d in tree.ancestor(of: d.siteID, at: .village).map { villages.contains($0.id) } ?? false }
        out += cut.map { Behaviour(device: $0.id, kind: .mainsCut, at: stormAt, duration: nil) }
        // The same speakers for a seed: ordered by a seeded draw per id, the first fraction.
        let n = Int((Double(speakers.count) * stormLinkLoss).rounded())
        let dropped = speakers.map { d -> (UInt64, String) in
            var r = SeededRandom(seed: seed, stream: "storm/" + d.id)
            return (r.next(), d.id)
        }.sorted { $0 < $1 }.prefix(n).map(\.1).sorted()
        out += dropped.map { Behaviour(device: $0, kind: .linkLoss, at: stormAt, duration: nil) }
        if !out.isEmpty {
            logger.info("storm at \(stormAt) s: mains cut for \(cut.map(\.id).joined(separator: ",")); links dropped: \(dropped.joined(separator: ","))")
        }
        return out
    }

    /// Seeded random faults over the horizon, for a lively demo.
    func randomBehaviours(_ devices: [Device], horizon: Double) -> [Behaviour] {
        var out: [Behaviour] = []
        for d in devices {
            var r = SeededRandom(seed: seed, stream: "faults/" + d.id)
            var t = r.exponential(mean: 3600 / randomFaults)
            let kinds: [Behaviour.Kind] = switch d.deviceClass {
            case .speaker: [.ampFault, .lineFault, .offlineWill, .reboot]
            case .camera: [.notRecording, .diskFill, .offlineWill]
            case .accessPoint: [.uplinkLoss, .offlineSilent, .reboot]
            case .kiosk: [.paperOut, .printerFault, .offlineWill]
            }
            while t < horizon {
                let k = kinds[Int(r.next() % UInt64(kinds.count))]
                let len = 20 + r.exponential(mean: 60)
                out.append(Behaviour(device: d.id, kind: k, at: t, duration: len))
                t += len + r.exponential(mean: 3600 / randomFaults)
            }
        }
        return out
    }
}

/// One device's timeline: telemetry every heartbeat, kiosk customers, behaviours at their times.
func drive(_ sim: SimDevice, behaviours: [Behaviour], start: ContinuousClock.Instant,
           deadline: ContinuousClock.Instant?, jitter: Double) async {
    await sim.connect()
    enum Step { case telemetry, customer, begin(Behaviour), end(Behaviour) }
    var timeline: [(ContinuousClock.Instant, Step)] = []
    for b in behaviours {
        timeline.append((start + .seconds(b.at), .begin(b)))
        if let d = b.duration { timeline.append((start + .seconds(b.at + d), .end(b))) }
    }
    var nextTelemetry = ContinuousClock.now + .seconds(jitter)
    var nextCustomer = sim.device.deviceClass == .kiosk ? ContinuousClock.now + .seconds(sim.options.kioskInterval / 2) : nil
    while !Task.isCancelled {
        var candidates = timeline.map(\.0) + [nextTelemetry]
        if let c = nextCustomer { candidates.append(c) }
        let next = candidates.min()!
        if let deadline, next >= deadline {
            try? await Task.sleep(until: deadline, clock: .continuous)
            return
        }
        do { try await Task.sleep(until: next, clock: .continuous) } catch { return }
        let now = ContinuousClock.now
        let due = timeline.filter { $0.0 <= now }
        timeline.removeAll { $0.0 <= now }
        for (_, step) in due {
            switch step {
            case .begin(let b): await sim.begin(b)
            case .end(let b): await sim.end(b)
            default: break
            }
        }
        if nextTelemetry <= now {
            _ = await sim.stormTick()
            await sim.publishTelemetry()
            let hb = Duration.seconds(await sim.heartbeat)  // a configuration may change it
            nextTelemetry += hb
            if nextTelemetry < now { nextTelemetry = now + hb }
        }
        if let c = nextCustomer, c <= now {
            nextCustomer = now + .seconds(await sim.kioskCustomer())
        }
    }
}

struct Flood: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk telemetry publisher for the ingest benchmark.")

    @Option(help: "Broker HOST:PORT.") var broker = "127.0.0.1:1883"
    @Option(help: "Commune id in the topics.") var commune = "bench"
    @Option(help: "Device id prefix; ids are PREFIX0000…") var prefix = "BENCH-"
    @Option(help: "How many distinct devices.") var devices = 2_000
    @Option(help: "Messages to publish in all.") var count = 200_000
    @Option(help: "Target messages per second (0: as fast as possible).") var rate = 25_000
    @Option(help: "Parallel MQTT connections.") var connections = 4

    func run() async throws {
        let (host, port) = try parseBroker(broker)
        var clients: [MQTTClient] = []
        for i in 0..<connections {
            var cfg = MQTTConfiguration(host: host, port: port, clientID: "wardfleet-flood-\(i)-\(getpid())")
            cfg.keepAlive = 60
            let c = try MQTTClient(cfg)
            try await c.connect()
            clients.append(c)
        }
        let ids = (0..<devices).map { String(format: "\(prefix)%05d", $0) }
        let topics = ids.map { TopicAddress(commune: commune, device: $0, kind: .telemetry).topic }
        var seqs = [UInt64](repeating: 0, count: devices)
        let ts = Date().unixMillis
        let clock = ContinuousClock()
        let start = clock.now
        var sent = 0
        while sent < count {
            // Paced: publish what the target rate allows by now, then yield briefly.
            let target = rate > 0 ? min(count, Int(Double(rate) * (clock.now - start).inSeconds) + 1) : count
            while sent < target {
                let d = sent % devices
                seqs[d] += 1
                let payload = "{\"boot\":\"flood\",\"device\":\"\(ids[d])\",\"seq\":\(seqs[d]),\"speaker\":{\"amp_ok\":true,\"battery_pct\":null,\"line_ok\":true,\"playing\":false,\"power\":\"mains\",\"rssi\":-70,\"volume\":70},\"ts\":\(ts + Int64(sent / devices) * 1000),\"v\":1}"
                try clients[sent % connections].publish(topic: topics[d], payload: Array(payload.utf8), qos: 0)
                sent += 1
            }
            if sent < count { try await Task.sleep(for: .microseconds(500)) }
        }
        let seconds = (clock.now - start).inSeconds
        // Let libmosquitto drain its outgoing queues before closing.
        try await Task.sleep(for: .milliseconds(500))
        for c in clients { c.disconnect() }
        print(String(format: "published %d messages in %.3f s (%.0f msg/s)", sent, seconds, Double(sent) / seconds))
    }
}
