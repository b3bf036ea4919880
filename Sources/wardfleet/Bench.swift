import ArgumentParser
import Foundation
import Synchronization
import WardController
import WardDomain
import WardStorage

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Đo hiệu năng / Benchmarks.", subcommands: [Ingest.self, Radio.self, Report.self, Cluster.self, Memory.self, Lifecycle.self, CampaignBench.self, WarningBench.self])

    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ingest throughput: the controller against a plain mosquitto_sub, same broker, same run.",
            discussion: """
                Each run starts a private mosquitto, a fresh database with the flood devices registered, the \
                controller, and `mosquitto_sub` on the same topics; then `firmware-sim flood` publishes telemetry \
                at the target rate. Both consumers' rates are taken between their first and last message.
                """)

        @Option(help: "Target publish rate, msg/s (0: as fast as possible).") var rate = 25_000
        @Option(help: "Messages per run.") var count = 300_000
        @Option(help: "Distinct devices.") var devices = 2_000
        @Option(help: "Runs; the median is reported.") var runs = 3
        @Option(help: "Controller's stored-sample interval per device, seconds (0: store every message).")
        var sampleInterval: Double = 60
        @Option(help: "Publisher connections.") var connections = 4
        @Flag(help: "Store in PostgreSQL (a private server started for the benchmark, fsync on) instead of a SQLite file.")
        var postgres = false

        struct RunResult {
            var published: String
            var subReceived: Int
            var subRate: Double
            var ctlReceived: UInt64
            var ctlProcessed: UInt64
            var ctlRate: Double
            var dropped: UInt64
            var samples: Int
            /// From stopping the controller until its last flush was stored.
            var drainSeconds: Double
            var ratio: Double { subRate > 0 ? ctlRate / subRate : 0 }
        }

        func run() async throws {
            bootstrapLogging(level: .error)
            guard let sub = ChildProcess.locate("mosquitto_sub") else { throw ValidationError("mosquitto_sub not found (apt-get install mosquitto-clients)") }
            print("ingest benchmark: \(runs) runs × \(count) msgs, \(devices) devices, target \(rate) msg/s, sample interval \(sampleInterval) s, "
                  + (postgres ? "PostgreSQL (same machine, fsync on)" : "SQLite"))
            let server = postgres ? try LocalPostgres(fsync: true) : nil
            defer { server?.stop() }
            var results: [RunResult] = []
            for i in 1...runs {
                let r = try await once(sub: sub, server: server)
                results.append(r)
                print(String(format: "run %d: mosquitto_sub %d msgs at %.0f msg/s | controller %llu received, %llu processed at %.0f msg/s, %llu dropped, %d samples stored (last flush %.2f s) | ratio %.3f | %@",
                             i, r.subReceived, r.subRate, r.ctlReceived, r.ctlProcessed, r.ctlRate, r.dropped, r.samples, r.drainSeconds, r.ratio,
                             r.published))
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            print(String(format: "MEDIAN: mosquitto_sub %.0f msg/s, controller %.0f msg/s, ratio %.3f",
                         median(results.map(\.subRate)), median(results.map(\.ctlRate)), median(results.map(\.ratio))))
        }

        func once(sub: String, server: LocalPostgres?) async throws -> RunResult {
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-bench-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let dbPath = try server.map { $0.url(database: try $0.createDatabase("ingest").database) }
                ?? dir.appendingPathComponent("bench.sqlite").path
            let database = try WardDatabase.open(dbPath)
            try PlaceRepository(database).upsert([
                Place(id: "bench-province", level: .province, name: "Tỉnh Thử Nghiệm"),
                Place(id: "bench", level: .commune, name: "Xã Thử Nghiệm", parentID: "bench-province"),
                Place(id: "bench-village", level: .village, name: "Thôn Đo Lường", parentID: "bench"),
                Place(id: "bench-site", level: .site, name: "Cột loa", parentID: "bench-village", siteKind: .pole),
            ])
            let now = Date()
            try DeviceRepository(database).upsert((0..<devices).map {
                Device(id: String(format: "BENCH-%05d", $0), deviceClass: .speaker, siteID: "bench-site", registeredAt: now)
            })

            // Plain subscriber: one line per message, timed by us as it arrives.
            let subProc = try ChildProcess.spawn(
                sub, ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "wardfleet/v1/#", "-q", "0", "-F", "x"], stdout: .pipe)
            let subStats = Mutex<(count: Int, first: ContinuousClock.Instant?, last: ContinuousClock.Instant?)>((0, nil, nil))
            let reader = Thread {
                let h = subProc.output!
                while true {
                    let data = h.availableData
                    if data.isEmpty { break }
                    let lines = data.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
                    let t = ContinuousClock.now
                    subStats.withLock { s in
                        if s.first == nil { s.first = t }
                        s.count += lines
                        s.last = t
                    }
                }
            }
            reader.start()

            var config = ControllerConfiguration(databasePath: dbPath,
                                                 mqtt: .init(host: "127.0.0.1", port: broker.port, clientID: "bench-controller"))
            config.ingest.sampleInterval = sampleInterval
            let controller = try FleetController(config)
            let ready = Mutex(false)
            let ctlTask = Task { try await controller.run(onReady: { ready.withLock { $0 = true } }) }
            while !(ready.withLock { $0 } && controller.client.isConnected) { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(300))  // both subscriptions settled

            // Controller progress, sampled as it happens.
            let ctlStats = Mutex<(first: ContinuousClock.Instant?, last: ContinuousClock.Instant?, seen: UInt64)>((nil, nil, 0))
            let monitor = Task {
                while !Task.isCancelled {
                    let n = await controller.ingestor.counter(IngestCounter.received)
                    let t = ContinuousClock.now
                    ctlStats.withLock { s in
                        if n > 0, s.first == nil { s.first = t }
                        if n > s.seen { s.seen = n; s.last = t }
                    }
                    try? await Task.sleep(for: .milliseconds(2))
                }
            }

            let flood = try ChildProcess.spawn(
                siblingExecutable("firmware-sim"),
                ["flood", "--broker", "127.0.0.1:\(broker.port)", "--commune", "bench", "--prefix", "BENCH-",
                 "--devices", "\(devices)", "--count", "\(count)", "--rate", "\(rate)", "--connections", "\(connections)"],
                stdout: .pipe)
            let published = String(decoding: flood.output!.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)

            // Wait until both consumers are quiet for a second (or everything arrived).
            var quietSince = ContinuousClock.now
            var lastTotal = -1
            while ContinuousClock.now - quietSince < .seconds(1) {
                let total = subStats.withLock { $0.count } + Int(ctlStats.withLock { $0.seen })
                if total != lastTotal { lastTotal = total; quietSince = .now }
                if total >= 2 * count { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            monitor.cancel()
            await flood.wait()
            await subProc.terminate()
            let stopping = ContinuousClock.now
            ctlTask.cancel()
            _ = try? await ctlTask.value
            let drain = (ContinuousClock.now - stopping).inSeconds

            func perSecond(_ n: Int, _ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant?) -> Double {
                guard let a, let b, b > a, n > 1 else { return 0 }
                return Double(n - 1) / (b - a).inSeconds
            }
            let s = subStats.withLock { $0 }
            let c = ctlStats.withLock { $0 }
            let counters = await controller.ingestor.allCounters
            return RunResult(
                published: published, subReceived: s.count, subRate: perSecond(s.count, s.first, s.last),
                ctlReceived: counters[IngestCounter.received] ?? 0, ctlProcessed: counters[IngestCounter.processed] ?? 0,
                ctlRate: perSecond(Int(c.seen), c.first, c.last),
                dropped: counters["rejected.queue_overflow"] ?? 0,
                samples: try HealthQueries(database).sampleCount(), drainSeconds: drain)
        }
    }
}
