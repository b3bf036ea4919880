import ArgumentParser
import FleetFile
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import WardController
import WardDomain
import WardHTTP
import WardProtocol
import WardStorage

extension Bench {
    /// Issue 20's figure: a CAP alert posted by a warning source → speakers playing it.
    struct WarningBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "warning",
            abstract: "CAP alert → speakers playing it: from the POST to the first speaker's start and to 95 % of them started.",
            discussion: """
                One private mosquitto, a fresh database with N speakers in V villages of one commune (with an \
                administrative unit code), the controller and its HTTP server (CAP intake and media) in this process, \
                and N simulated speakers in one `firmware-sim` process. Each run posts a new Extreme/Immediate CAP 1.2 \
                alert whose area is the commune's geocode (so it goes on air at once), over HTTP with a warning \
                source's token: its text is new each run, so text-to-speech is part of the time, as for a real alert. \
                Times are from just before the POST to each speaker's `started` report as stamped by the controller's \
                ingest; an emergency starts at the next whole second after it is stored (protocol §4a: speakers start at \
                `start`), so up to one second of each figure is that wait. Baseline in the same run: a `ping` command published to every speaker and its `ack`.
                """)

        @Option(help: "Simulated speakers.") var speakers = 5_000
        @Option(help: "Villages they are spread over.") var villages = 50
        @Option(help: "Alert runs (and ping baselines); medians reported.") var runs = 5

        func run() async throws {
            bootstrapLogging(level: .error)
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-warning-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let (dbPath, fleetPath, database, fleet) = try benchCommuneDatabase(in: dir, fleet: benchSpeakerFleet(speakers: speakers, villages: villages))
            let token = OperatorAPI.randomToken("wfw_")
            try WarningRepository(database).saveSource(
                WarningSource(user: "bench-kttv", name: "Đài KTTV thử nghiệm", senders: ["canhbao@bench.kttv.gov.vn"], createdAt: Date(), updatedAt: Date()),
                tokenHash: OperatorAPI.sha256(token))
            let library = MediaLibrary(root: dir.appendingPathComponent("media"), database: database)

            var http = ControllerHTTPServer(library: library, host: "127.0.0.1", port: 0)
            http.warnings = WarningService(database: database, library: library)
            let (controller, base, tasks) = try benchController(http, dbPath: dbPath, brokerPort: broker.port, clientID: "bench-warning-ctl")
            defer { tasks.forEach { $0.cancel() } }
            let sim = try benchSimulator(fleetPath: fleetPath, brokerPort: broker.port, dir: dir)
            do {
                try await measure(fleet: fleet, controller: controller, database: database, base: base, token: token)
            } catch {
                await sim.terminate(grace: .seconds(10))
                throw error
            }
            await sim.terminate(grace: .seconds(10))
        }

        func measure(fleet: FleetFile, controller: FleetController, database: WardDatabase, base: SharedValue<String?>, token: String) async throws {
            let ids = fleet.devices.map(\.id)
            print("warning benchmark: \(speakers) speakers in \(villages) villages, one simulator process; waiting for them to come online…")
            let took = try await benchAwaitOnline(ids, controller)
            print(String(format: "all %d online after %.1f s", ids.count, took))
            while base.get() == nil { try await Task.sleep(for: .milliseconds(50)) }
            let url = URL(string: base.get()! + "/api/v1/warnings/cap")!

            func arrived(_ key: String, share: Double, timeout: Duration = .seconds(90)) async throws -> [String: Double] {
                let need = Int((Double(ids.count) * share).rounded(.up))
                let deadline = ContinuousClock.now + timeout
                var got: [String: Double] = [:]
                while ContinuousClock.now < deadline {
                    got = try benchStamped(key, database, atLeast: need)
                    if got.count >= need { return got }
                    try await Task.sleep(for: .milliseconds(50))
                }
                throw ValidationError("\(key): only \(got.count)/\(need) within \(timeout)")
            }

            var firsts: [Double] = [], p95s: [Double] = [], p99s: [Double] = [], answered: [Double] = [], pingP95: [Double] = [], pingP99: [Double] = [],
                pingFirst: [Double] = []
            for r in 1...runs {
                // Baseline: the transport's own round trip to every speaker.
                let cmd = "bench-ping-\(r)"
                let pingT0 = Date().timeIntervalSince1970
                let payload = ProtocolEncoder.encode(CommandMessage(cmdID: cmd, command: .ping, ts: Date().unixMillis))
                for d in fleet.devices {
                    try controller.client.publish(topic: TopicAddress(commune: "bench", device: d.id, kind: .cmd).topic, payload: payload, qos: 1)
                }
                let pings = try await arrived("ack|\(cmd)", share: 1).values.map { ($0 - pingT0) * 1000 }.sorted()
                pingFirst.append(pings[0]); pingP95.append(benchPercentile(pings, 0.95)); pingP99.append(benchPercentile(pings, 0.99))

                let identifier = "BENCH-\(UUID().uuidString.prefix(8))-\(r)"
                var request = URLRequest(url: url)
                request.httpMethod = "POST"
                request.setValue("application/cap+xml", forHTTPHeaderField: "Content-Type")
                request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                request.httpBody = Data(Self.alert(identifier: identifier, run: r, at: Date()).utf8)
                let wall0 = Date().timeIntervalSince1970
                let (body, status) = try await RemoteAPI.send(request)
                let answeredAt = (Date().timeIntervalSince1970 - wall0) * 1000
                guard status.statusCode == 201 else {
                    throw ValidationError("CAP POST answered \(status.statusCode): \(String(decoding: body.prefix(400), as: UTF8.self))")
                }
                guard let bulletin = try UpstreamRepository(database).find(source: WarningService.bulletinSource,
                                                                           sourceID: "canhbao@bench.kttv.gov.vn/\(identifier)"),
                      let itemID = bulletin.itemID else {
                    throw ValidationError("the alert did not go on air")
                }
                let item = try BroadcastRepository(database).get(itemID)
                let key = PlayKey(item: item.id, start: item.item.recurrence.firstStart(calendar: LocalCalendar.vietnam))
                let started = try await arrived("\(key.id)|started", share: 1).values.map { ($0 - wall0) * 1000 }.sorted()
                let first = started[0]
                let p95 = started[Int((Double(ids.count) * 0.95).rounded(.up)) - 1]
                let p99 = benchPercentile(started, 0.99)
                firsts.append(first); p95s.append(p95); p99s.append(p99); answered.append(answeredAt)
                print(String(format: "run %d: CAP POST answered in %.0f ms; first speaker started %.0f ms, 95 %% started %.0f ms, 99 %% %.0f ms "
                             + "| baseline ping → ack: first %.0f ms, p95 %.0f ms, p99 %.0f ms",
                             r, answeredAt, first, p95, p99, pings[0], benchPercentile(pings, 0.95), benchPercentile(pings, 0.99)))
                // Cancel it (the operator's cancel) and wait until every speaker has ended it before the next run.
                _ = try BroadcastService(database).cancel(item.id, by: "bench", reason: "benchmark run over")
                let deadline = ContinuousClock.now + .seconds(90)
                while true {
                    let ended = try ["interrupted", "finished", "missed"].reduce(into: Set<String>()) { set, event in
                        set.formUnion(try benchStamped("\(key.id)|\(event)", database, atLeast: 0).keys)
                    }
                    if ended.count >= ids.count { break }
                    guard ContinuousClock.now < deadline else { throw ValidationError("\(key.id): only \(ended.count)/\(ids.count) ended within 90 s") }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            func line(_ xs: [Double]) -> String { String(format: "median %.0f ms (%.0f–%.0f)", median(xs), xs.min()!, xs.max()!) }
            print("OVER \(runs) runs, \(ids.count) speakers: CAP POST → first speaker started: \(line(firsts)); → 95 % started: \(line(p95s)); "
                  + "→ 99 % started: \(line(p99s)); "
                  + "POST answered: \(line(answered)) | baseline ping → first ack: \(line(pingFirst)); → 95 % acked: \(line(pingP95)); "
                  + "→ 99 % acked: \(line(pingP99))")
        }

        /// An Extreme, Immediate CAP 1.2 alert over the bench commune's administrative unit code, with new text each run.
        static func alert(identifier: String, run: Int, at: Date) -> String {
            let f = ISO8601DateFormatter()
            f.timeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh")
            f.formatOptions = [.withInternetDateTime]
            let sent = f.string(from: at), expires = f.string(from: at.addingTimeInterval(6 * 3600))
            return """
                <?xml version="1.0" encoding="UTF-8"?>
                <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
                  <identifier>\(identifier)</identifier>
                  <sender>canhbao@bench.kttv.gov.vn</sender>
                  <sent>\(sent)</sent>
                  <status>Actual</status>
                  <msgType>Alert</msgType>
                  <scope>Public</scope>
                  <info>
                    <language>vi-VN</language>
                    <category>Met</category>
                    <event>Lũ quét</event>
                    <urgency>Immediate</urgency>
                    <severity>Extreme</severity>
                    <certainty>Observed</certainty>
                    <expires>\(expires)</expires>
                    <headline>Lũ quét đợt \(run) tại xã Thử Nghiệm</headline>
                    <instruction>Bà con di chuyển ngay lên chỗ cao.</instruction>
                    <area>
                      <areaDesc>Xã Thử Nghiệm</areaDesc>
                      <geocode><valueName>MaDVHC</valueName><value>99001</value></geocode>
                    </area>
                  </info>
                </alert>
                """
        }
    }
}
