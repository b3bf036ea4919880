import ArgumentParser
import FleetFile
import Foundation
import GRDB
import MQTTClient
import Synchronization
import WardController
import WardDomain
import WardHTTP
import WardProtocol
import WardStorage

extension Bench {
    struct Radio: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commune radio: start-time error of scheduled plays, and emergency → acknowledged by every speaker.",
            discussion: """
                One private mosquitto, a fresh database with N speakers in V villages, the controller and its HTTP media \
                server in this process, and N simulated speakers in one `firmware-sim` process. (1) A normal bulletin \
                (text-to-speech) scheduled for the whole commune: actual start minus scheduled start on every speaker. \
                (2) Emergencies sent through the broadcast service as an operator's call would be: time from the call to \
                each speaker's `received` report, as stamped by the controller's ingest (or, with --measure-at listener, \
                at a separate MQTT subscriber). Baseline in the same run: a `ping` command published to every speaker and \
                its `ack`, the transport's own round trip, timed the same way.
                """)

        @Option(help: "Simulated speakers.") var speakers = 5_000
        @Option(help: "Villages they are spread over.") var villages = 50
        @Option(help: "Emergency runs (and ping baselines); medians reported.") var runs = 3
        @Option(help: "Seconds from scheduling to the bulletin's start (room for delivery and download).") var startIn = 20
        @Option(help: "Where an acknowledgement counts: controller (its ingest stamps each report as it decodes it: when the system knows) or listener (an extra MQTT subscriber in this process, which doubles the broker's fan-out of reports).")
        var measureAt: MeasurePoint = .controller

        enum MeasurePoint: String, ExpressibleByArgument, CaseIterable {
            case controller, listener
        }

        func run() async throws {
            bootstrapLogging(level: .error)
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-radio-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let (dbPath, fleetPath, database, fleet) = try benchCommuneDatabase(in: dir, fleet: fleetYAML())
            let library = MediaLibrary(root: dir.appendingPathComponent("media"), database: database)
            let speech = try await library.addSpeech("Thông báo của Ủy ban nhân dân xã về lịch tiêm chủng tháng này.", voice: .northern).item
            let alarm = try await library.addSpeech("Cảnh báo khẩn cấp: lũ quét, bà con di chuyển ngay lên chỗ cao.", voice: .northern).item

            // HTTP media server and controller, in this process.
            let (controller, _, tasks) = try benchController(ControllerHTTPServer(library: library, host: "127.0.0.1", port: 0), dbPath: dbPath,
                                                             brokerPort: broker.port, clientID: "bench-radio-ctl")
            defer { tasks.forEach { $0.cancel() } }

            // With --measure-at listener: our own ear on the reports, timed on arrival (wall clock, as the controller stamps).
            let arrivals = SharedValue<[String: [String: Double]]>([:])  // "play|event" or "ack|cmd" → device → unix seconds
            var earTask: Task<Void, Never>?
            var listener: MQTTClient?
            if measureAt == .listener {
                var ear = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "bench-radio-ear")
                ear.inboundCapacity = 1_000_000
                // Stamped on the listener's own network thread as each report arrives (in order),
                // not when its task next gets one of the cooperative threads the controller shares.
                let stamps = SharedValue<[Double]>([])
                ear.onArrival = { _ in
                    let t = Date().timeIntervalSince1970
                    stamps.update { $0.append(t) }
                }
                let l = try MQTTClient(ear)
                try l.subscribe("wardfleet/v1/+/+/playback", qos: 1)
                try l.subscribe("wardfleet/v1/+/+/ack", qos: 1)
                try await l.connect()
                listener = l
                earTask = Task {
                    var stamped: [Double] = []
                    while let batch = await l.messages.nextBatch() {
                        if stamped.count < batch.count {
                            stamps.update { s in stamped += s; s.removeAll(keepingCapacity: true) }
                        }
                        var seen: [(String, String, Double)] = []
                        for (i, m) in batch.enumerated() {
                            let t = i < stamped.count ? stamped[i] : Date().timeIntervalSince1970
                            guard let o = try? JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: Any],
                                  let device = o["device"] as? String else { continue }
                            if o["play"] is String {
                                for r in [o] + (o["more"] as? [[String: Any]] ?? []) {
                                    if let play = r["play"] as? String, let event = r["event"] as? String { seen.append(("\(play)|\(event)", device, t)) }
                                }
                            } else if let cmd = o["cmd_id"] as? String {
                                seen.append(("ack|\(cmd)", device, t))
                            }
                        }
                        stamped.removeFirst(min(batch.count, stamped.count))
                        arrivals.update { a in for (k, d, t) in seen where a[k]?[d] == nil { a[k, default: [:]][d] = t } }
                    }
                }
            }
            defer {
                earTask?.cancel()
                listener?.disconnect()
            }

            let sim = try benchSimulator(fleetPath: fleetPath, brokerPort: broker.port, dir: dir)
            do {
                try await measure(fleet: fleet, controller: controller, database: database, arrivals: arrivals,
                                  speech: speech, alarm: alarm)
            } catch {
                await sim.terminate(grace: .seconds(10))  // awaited: a defer's Task would die with this process, orphaning it
                throw error
            }
            await sim.terminate(grace: .seconds(10))
        }

        func measure(fleet: FleetFile, controller: FleetController, database: WardDatabase,
                     arrivals: SharedValue<[String: [String: Double]]>,
                     speech: MediaItem, alarm: MediaItem) async throws {
            let ids = fleet.devices.map(\.id)
            print("radio benchmark: \(speakers) speakers in \(villages) villages, one simulator process; waiting for them to come online…")
            let took = try await benchAwaitOnline(ids, controller)
            print(String(format: "all %d online after %.1f s", ids.count, took))

            let service = BroadcastService(database)
            /// Unix seconds at which each device's report counted (see --measure-at); throws if not all arrive in time.
            func arrived(_ key: String, count: Int, timeout: Duration = .seconds(60)) async throws -> [String: Double] {
                let deadline = ContinuousClock.now + timeout
                var got: [String: Double] = [:]
                while ContinuousClock.now < deadline {
                    got = try measureAt == .listener ? arrivals.get()[key] ?? [:] : benchStamped(key, database, atLeast: count)
                    if got.count >= count { return got }
                    try await Task.sleep(for: .milliseconds(measureAt == .listener ? 5 : 50))
                }
                throw ValidationError("\(key): only \(got.count)/\(count) within \(timeout)")
            }

            // (1) Start-time error of a scheduled bulletin.
            let cal = LocalCalendar.vietnam
            let startAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(startIn)).rounded(.up))
            let item = try service.schedule(.init(title: "Bản tin đo giờ phát", level: .normal, programme: .media(sha256: speech.sha256),
                                                  recurrence: .once(cal.localDay(of: startAt), at: cal.localTime(of: startAt)),
                                                  target: BroadcastTarget(communes: ["bench"])), by: "bench")
            let play = PlayKey(item: item.id, start: startAt)
            _ = try await arrived("\(play.id)|finished", count: ids.count, timeout: .seconds(Double(startIn) + 60))
            try await Task.sleep(for: .seconds(1))  // let the controller store the last reports
            let started = PlaybackRow.fold(try PlaybackRepository(database).entries(item: item.id)).compactMap(\.startOffset)
            let errors = started.map { abs($0) * 1000 }.sorted()
            print(String(format: "start-time error over %d speakers (|actual − scheduled|): p50 %.1f ms, p99 %.1f ms, max %.1f ms; min offset %+.1f ms, max offset %+.1f ms",
                         errors.count, benchPercentile(errors, 0.5), benchPercentile(errors, 0.99), errors.last ?? .nan,
                         (started.min() ?? .nan) * 1000, (started.max() ?? .nan) * 1000))

            // (2) Emergency → every speaker acknowledged; baseline: ping → every ack.
            var emergencyP99: [Double] = [], emergencyP50: [Double] = [], emergencyAll: [Double] = []
            var pingP99: [Double] = [], pingP50: [Double] = [], pingAll: [Double] = []
            for r in 1...runs {
                let cmd = "bench-ping-\(r)"
                let pingT0 = Date().timeIntervalSince1970
                let payload = ProtocolEncoder.encode(CommandMessage(cmdID: cmd, command: .ping, ts: Date().unixMillis))
                for d in fleet.devices {
                    try controller.client.publish(topic: TopicAddress(commune: "bench", device: d.id, kind: .cmd).topic, payload: payload, qos: 1)
                }
                let pings = try await arrived("ack|\(cmd)", count: ids.count).values.map { ($0 - pingT0) * 1000 }.sorted()
                pingP50.append(benchPercentile(pings, 0.5)); pingP99.append(benchPercentile(pings, 0.99)); pingAll.append(pings.last!)
                // Each measurement starts from a settled controller: the baseline's 5,000 acks, heard by the
                // listener, are stored by the controller before the emergency goes (as the emergency's
                // reports are before the next ping), so neither measures the other's aftermath.
                try await benchSettled("the ping acks", database, sql: "SELECT COUNT(*) FROM command_acks WHERE cmd_id = ?",
                                       arguments: [cmd], count: ids.count)

                let t0 = ContinuousClock.now
                let wall0 = Date().timeIntervalSince1970
                let e = try service.sendEmergency(title: "Cảnh báo lũ quét (đo \(r))", programme: .media(sha256: alarm.sha256),
                                                  target: BroadcastTarget(communes: ["bench"]), by: "bench")
                let stored = ContinuousClock.now - t0
                let eKey = PlayKey(item: e.id, start: e.item.recurrence.firstStart(calendar: cal))
                let acks = try await arrived("\(eKey.id)|received", count: ids.count).values.map { ($0 - wall0) * 1000 }.sorted()
                emergencyP50.append(benchPercentile(acks, 0.5)); emergencyP99.append(benchPercentile(acks, 0.99)); emergencyAll.append(acks.last!)
                // The agendas of speakers reached on the commune topic wait a little: until they are
                // sent, the latest publish is an earlier run's.
                let published = await controller.delivery?.lastPublishedAt.flatMap { $0 > t0 ? ($0 - t0).inSeconds : nil }
                let agendas = published.map { String(format: "agendas handed to the broker client %.0f ms after the call", $0 * 1000) }
                    ?? "agendas of the speakers it reached still held back"
                print(String(format: "run %d: emergency → received: p50 %.0f ms, p99 %.0f ms, all %.0f ms (call stored in %.0f ms; ",
                             r, acks[acks.count / 2], benchPercentile(acks, 0.99), acks.last!, stored.inSeconds * 1000) + agendas
                      + String(format: ") | baseline ping → ack: p50 %.0f ms, p99 %.0f ms, all %.0f ms", pings[pings.count / 2], benchPercentile(pings, 0.99), pings.last!))
                _ = try await arrived("\(eKey.id)|started", count: ids.count)
                _ = try service.cancel(e.id, by: "bench", reason: "benchmark run over")
                // Each speaker ends it: interrupted by the cancellation, or finished first (a short
                // message under load), before the next run starts.
                let deadline = ContinuousClock.now + .seconds(60)
                while true {
                    let ended = try ["interrupted", "finished"].reduce(into: Set<String>()) { set, event in
                        let key = "\(eKey.id)|\(event)"
                        set.formUnion((measureAt == .listener ? arrivals.get()[key] ?? [:] : try benchStamped(key, database, atLeast: 0)).keys)
                    }
                    if ended.count >= ids.count { break }
                    guard ContinuousClock.now < deadline else {
                        throw ValidationError("\(eKey.id): only \(ended.count)/\(ids.count) ended (interrupted or finished) within 60 s")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await benchSettled("the emergency's ends", database, sql: """
                    SELECT COUNT(DISTINCT speaker_id) FROM playback_log WHERE item_id = ? AND scheduled_start = ? AND event IN ('interrupted', 'finished')
                    """, arguments: [eKey.item, eKey.startMillis], count: ids.count)
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            print(String(format: "MEDIAN over %d runs: emergency → all %d acknowledged: p50 %.0f ms, p99 %.0f ms, last %.0f ms | ping baseline: p50 %.0f ms, p99 %.0f ms, last %.0f ms",
                         runs, ids.count, median(emergencyP50), median(emergencyP99), median(emergencyAll),
                         median(pingP50), median(pingP99), median(pingAll)))
        }

        func fleetYAML() -> String { benchSpeakerFleet(speakers: speakers, villages: villages) }
    }
}


/// When the controller received each device's report or ack (its ingest's stamp, stored with the row), by
/// device, in Unix seconds; `key` is "PLAY|EVENT" or "ack|CMD_ID". Empty until at least `count` are stored,
/// so waiting costs a count, not a read of every row.
func benchStamped(_ key: String, _ database: WardDatabase, atLeast count: Int) throws -> [String: Double] {
    let parts = key.split(separator: "|").map(String.init)
    let (table, device, time, filter, args): (String, String, String, String, StatementArguments)
    if parts[0] == "ack" {
        (table, device, time, filter, args) = ("command_acks", "device_id", "received_at", "cmd_id = ?", [parts[1]])
    } else {
        let k = PlayKey(id: parts[0])!
        (table, device, time, filter, args) = ("playback_log", "speaker_id", "recorded_at", "item_id = ? AND scheduled_start = ? AND event = ?",
                                               [k.item, k.startMillis, parts[1]])
    }
    return try database.pool.read { db in
        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE \(filter)", arguments: args) ?? 0 >= count else { return [:] }
        var out: [String: Double] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT \(device) AS d, \(time) AS t FROM \(table) WHERE \(filter)", arguments: args) {
            out[r["d"]] = Double(r["t"] as Int64) / 1000
        }
        return out
    }
}

/// Waits (up to 60 s) until `sql` (a count) reaches `count` in the controller's database.
func benchSettled(_ what: String, _ database: WardDatabase, sql: String, arguments: StatementArguments, count: Int) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while try await database.pool.read({ try Int.fetchOne($0, sql: sql, arguments: arguments) ?? 0 }) < count {
        guard ContinuousClock.now < deadline else { throw ValidationError("\(what): not all stored within 60 s") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A bench's database: the commune of `fleet` (YAML) registered, and a user `bench` (approver) who acts.
func benchCommuneDatabase(in dir: URL, fleet yaml: String) throws -> (dbPath: String, fleetPath: String, database: WardDatabase, fleet: FleetFile) {
    let dbPath = dir.appendingPathComponent("bench.sqlite").path
    let fleetPath = dir.appendingPathComponent("fleet.yaml").path
    try yaml.write(toFile: fleetPath, atomically: true, encoding: .utf8)
    let database = try WardDatabase(path: dbPath)
    let fleet = try FleetFileReader.read(path: fleetPath, registeredAt: Date())
    try PlaceRepository(database).upsert(fleet.places)
    try DeviceRepository(database).upsert(fleet.devices)
    try BroadcastRepository(database).addUser(User(name: "bench", role: .approver, createdAt: Date()))
    return (dbPath, fleetPath, database, fleet)
}

/// The controller and `http` (media for the speakers, and whatever else it serves) running in this process;
/// speakers are told to fetch media from it. Cancel the tasks to stop both.
func benchController(_ http: ControllerHTTPServer, dbPath: String, brokerPort: Int, clientID: String) throws
    -> (controller: FleetController, base: SharedValue<String?>, tasks: [Task<Void, any Error>])
{
    let base = SharedValue<String?>(nil)
    let httpTask = Task { try await http.run { port in base.update { $0 = "http://127.0.0.1:\(port)" } } }
    var config = ControllerConfiguration(databasePath: dbPath, mqtt: .init(host: "127.0.0.1", port: brokerPort, clientID: clientID))
    config.ingest.statusInterval = 1
    var delivery = DeliveryConfiguration()
    delivery.mediaBaseURL = { base.get() }
    config.delivery = delivery
    let controller = try FleetController(config)
    let ctlTask = Task { try await controller.run() }
    return (controller, base, [ctlTask, httpTask])
}

/// One firmware-sim process running every device of the fleet file.
func benchSimulator(fleetPath: String, brokerPort: Int, dir: URL) throws -> ChildProcess {
    try ChildProcess.spawn(siblingExecutable("firmware-sim"),
                           ["run", "--file", fleetPath, "--broker", "127.0.0.1:\(brokerPort)", "--heartbeat", "30", "--exit-with-parent"],
                           stdout: .null, stderr: .file(dir.appendingPathComponent("sim.log").path))
}

/// The value at share `p` of ascending `sorted` (nearest rank).
func benchPercentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

/// The benches' one commune of speakers (`LOA-00000`…) spread over villages, one pole each, as a
/// fleet file; `attributes` adds to each device's line.
func benchSpeakerFleet(speakers: Int, villages: Int, attributes: String = "") -> String {
    // The commune's administrative unit code lets a CAP geocode target it (bench warning).
    var y = "province:\n  id: bench-province\n  name: Tỉnh Thử Nghiệm\n  communes:\n    - id: bench\n      name: Xã Thử Nghiệm\n      code: \"99001\"\n      villages:\n"
    let per = (speakers + villages - 1) / villages
    var n = 0
    for v in 0..<villages where n < speakers {
        y += "        - id: thon-\(v)\n          name: Thôn \(v)\n          sites:\n            - id: cot-\(v)\n              name: Cụm loa thôn \(v)\n              kind: pole\n              devices:\n"
        for _ in 0..<per where n < speakers {
            y += "                - {id: \(String(format: "LOA-%05d", n)), class: speaker\(attributes)}\n"
            n += 1
        }
    }
    return y
}

/// Waits (up to 300 s) until the controller sees every one of `ids` online; returns the seconds it took.
func benchAwaitOnline(_ ids: [String], _ controller: FleetController) async throws -> Double {
    let start = ContinuousClock.now
    while true {
        var online = 0
        for id in ids where await controller.ingestor.liveness(id)?.state.isOnline == true { online += 1 }
        if online == ids.count { return (ContinuousClock.now - start).inSeconds }
        if ContinuousClock.now - start > .seconds(300) { throw ValidationError("only \(online)/\(ids.count) speakers online after 300 s") }
        try await Task.sleep(for: .milliseconds(500))
    }
}
