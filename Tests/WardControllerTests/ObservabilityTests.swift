import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MQTTClient
import Testing
import WardDomain
import WardProtocol
import WardStorage
@testable import WardController
@testable import WardHTTP

/// `/metrics`, `/readyz` and JSON logs, in process: a real mosquitto, a real SQLite file, a real
/// controller and the real HTTP server (each test its own `WardMetrics`: nothing process-global).
@Suite(.serialized) struct ObservabilityTests {
    static let token = "tok-prometheus-0123456789"

    /// A controller on its own broker and database, counting into its own metrics.
    final class World: @unchecked Sendable {
        let dir: URL
        let db: WardDatabase
        var broker: LocalBroker
        let metrics = WardMetrics()
        let controller: FleetController
        let task: Task<Void, any Error>

        init() async throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-obs-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            db = try WardDatabase(path: dir.appendingPathComponent("o.sqlite").path)
            let t0 = Date()
            _ = try PlaceRepository(db).upsert([
                Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
                Place(id: "cam-la", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
                Place(id: "thon", level: .village, name: "Thôn Cẩm La", parentID: "cam-la"),
                Place(id: "nvh", level: .site, name: "Nhà văn hóa", parentID: "thon", siteKind: .culturalHouse),
            ])
            try DeviceRepository(db).upsert([
                Device(id: "LOA-1", deviceClass: .speaker, siteID: "nvh", registeredAt: t0),
                Device(id: "CAM-1", deviceClass: .camera, siteID: "nvh", registeredAt: t0),
            ])
            broker = try await LocalBroker.start()
            var mqtt = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "wf-obs-controller")
            mqtt.reconnectDelay = 1...1
            var config = ControllerConfiguration(databasePath: db.path, mqtt: mqtt)
            config.metrics = metrics
            config.reports = nil
            config.alarms = nil  // the test stores its own alarm
            config.delivery?.streamProbe = nil
            config.ingest.statusInterval = 0.2
            let controller = try FleetController(config, database: db, logger: Logger(label: "test.obs"))
            self.controller = controller
            task = Task { try await controller.run() }
            try await waitUntil("controller connected") { controller.client.isConnected }
            metrics.observe(database: db)
        }

        func server(_ access: MetricsAccess) -> ControllerHTTPServer {
            var s = ControllerHTTPServer(library: MediaLibrary(root: dir.appendingPathComponent("media"), database: db), host: "127.0.0.1", port: 0)
            let client = controller.client, address = "127.0.0.1:\(broker.port)"
            s.observability = Observability(metrics: metrics, access: access,
                                            readiness: Readiness(database: db, links: { [(address, client.isConnected)] }))
            return s
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
            broker.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func waitUntil(_ what: String, timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for: \(what)")
        throw CancellationError()
    }

    /// A device's side of the broker.
    static func device(port: Int) async throws -> MQTTClient {
        let c = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "wf-obs-device-\(UUID().uuidString.prefix(6))"))
        try await c.connect()
        return c
    }

    static func publish(_ c: MQTTClient, _ device: String, _ kind: MessageKind, _ payload: [UInt8]) throws {
        try c.publish(topic: TopicAddress(commune: "cam-la", device: device, kind: kind).topic, payload: payload, qos: 1)
    }

    // MARK: the text format

    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Parses the Prometheus text format (0.0.4) strictly enough to catch a malformed line: every sample
    /// belongs to a family declared by `# TYPE`, names and labels are well formed, values are numbers.
    static func parse(_ text: String) throws -> (types: [String: String], samples: [Sample]) {
        var types: [String: String] = [:]
        var samples: [Sample] = []
        let name = /[a-zA-Z_:][a-zA-Z0-9_:]*/
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                try #require(parts.count == 4, "\(line)")
                try #require(["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]), "\(line)")
                try #require(types[String(parts[2])] == nil, "family declared twice: \(line)")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            let m = try #require(line.wholeMatch(of: /([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+0-9.eEInfNa]+)/), "malformed sample: \(line)")
            var labels: [String: String] = [:]
            if let body = m.3, !body.isEmpty {
                for pair in body.matches(of: /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/) { labels[String(pair.1)] = String(pair.2) }
                let rebuilt = labels.count
                try #require(rebuilt == body.matches(of: /="/).count, "malformed labels: \(line)")
            }
            let value = try #require(Double(String(m.4 == "+Inf" ? "inf" : m.4)), "value: \(line)")
            let sampleName = String(m.1)
            try #require(sampleName.wholeMatch(of: name) != nil)
            let family = types[sampleName] != nil ? sampleName
                : ["_bucket", "_sum", "_count"].compactMap { sampleName.hasSuffix($0) ? String(sampleName.dropLast($0.count)) : nil }.first { types[$0] != nil }
            try #require(family != nil, "sample without # TYPE: \(line)")
            samples.append(Sample(name: sampleName, labels: labels, value: value))
        }
        return (types, samples)
    }

    static func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = samples.filter { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }
        return matching.isEmpty ? nil : matching.map(\.value).reduce(0, +)
    }

    // MARK: tests

    /// Messages through the broker and requests through the server show in `/metrics`: every family the
    /// issue lists, with plausible values, in text that parses as the Prometheus format.
    @Test func metricsCoverEveryFamilyWithPlausibleValues() async throws {
        let w = try await World()
        let device = try await Self.device(port: w.broker.port)
        let now = Date()
        try Self.publish(device, "LOA-1", .birth, ProtocolEncoder.encode(Birth(
            device: "LOA-1", deviceClass: .speaker, model: "m", firmware: "f", capabilities: [], heartbeatSeconds: 30, boot: "b1", ts: now.unixMillis)))
        try Self.publish(device, "LOA-1", .telemetry, ProtocolEncoder.encode(TelemetryMessage(
            device: "LOA-1", boot: "b1", seq: 1, ts: now.unixMillis,
            speaker: SpeakerFields(volume: 50, ampOK: true, lineOK: true, playing: false, rssi: -70, power: .mains, batteryPct: nil))))
        try Self.publish(device, "LOA-1", .telemetry, Array("{không phải json".utf8))  // bad input: rejected, counted by reason
        try await Self.waitUntil("LOA-1 ok and the bad message counted") {
            let ok = await w.controller.ingestor.liveness("LOA-1")?.state == .ok
            let rejected = await w.controller.ingestor.counter(IngestCounter.rejected(.malformedJSON))
            return ok && rejected == 1
        }
        // A flush happened (its latency is recorded) once LOA-1's change is stored.
        try await Self.waitUntil("state stored") { try HealthQueries(w.db).statuses()["LOA-1"]?.liveness.state == .ok }
        // An open alarm to count by severity (a raised alarm, as the alarm service stores it).
        _ = try AlarmRepository(w.db).apply([.raised(Alarm(kind: .offline, severity: .major, deviceID: "CAM-1", deviceClass: .camera,
                                                           villageID: "thon", communeID: "cam-la", detail: "mất kết nối / offline",
                                                           since: now, raisedAt: now))], at: now)

        let app = Application(router: w.server(.token(Self.token)).observedRouter(),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let r1 = try await client.execute(uri: "/healthz", method: .get)
            #expect(r1.status == .ok)
            let r2 = try await client.execute(uri: "/media/\(String(repeating: "a", count: 64))", method: .get)
            #expect(r2.status == .notFound)
            let r3 = try await client.execute(uri: "/khong-co/123", method: .get)
            #expect(r3.status == .notFound)
            let r4 = try await client.execute(uri: "/metrics", method: .get)
            #expect(r4.status == .unauthorized)
            let r5 = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer sai"])
            #expect(r5.status == .unauthorized)
            let response = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.token)"])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let (types, s) = try Self.parse(String(buffer: response.body))
            typealias N = WardMetrics.Names

            // Ingest: received, processed, rejected by reason (every reason present, at zero or more).
            #expect((Self.value(s, N.received) ?? 0) >= 3)
            #expect((Self.value(s, N.processed) ?? 0) >= 2)
            #expect(Self.value(s, N.rejected, ["reason": "malformed_json"]) == 1)
            #expect(Set(s.filter { $0.name == N.rejected }.compactMap { $0.labels["reason"] }) == Set(RejectReason.allCases.map(\.rawValue)))
            // Queue depth and drops.
            #expect(Self.value(s, N.queueDepth) != nil && Self.value(s, N.queueDropped) == 0)
            #expect(Self.value(s, N.queueCapacity) == Double(MQTTConfiguration(clientID: "x").inboundCapacity))
            // Flush latency: a histogram with at least one flush, buckets cumulative up to +Inf = count.
            #expect(types[N.flushDuration] == "histogram")
            let buckets = s.filter { $0.name == N.flushDuration + "_bucket" }
            let count = try #require(Self.value(s, N.flushDuration + "_count"))
            #expect(count >= 1 && buckets.last?.labels["le"] == "+Inf" && buckets.last?.value == count)
            #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
            // Devices by class and state.
            #expect(Self.value(s, N.devices, ["class": "speaker", "state": "ok"]) == 1)
            #expect(Self.value(s, N.devices, ["class": "camera", "state": "unknown"]) == 1)
            #expect(Self.value(s, N.devices) == 2)
            // The broker link.
            #expect(Self.value(s, N.brokerConnected, ["broker": "127.0.0.1:\(w.broker.port)"]) == 1)
            // Open alarms by severity.
            #expect(Self.value(s, N.alarmsOpen, ["severity": "major"]) == 1)
            #expect(Self.value(s, N.alarmsOpen, ["severity": "minor"]) == 0)
            // Notification outcomes, delivery and playback counts: present from the start.
            for outcome in WardMetrics.NotificationOutcome.allCases { #expect(Self.value(s, N.notifications, ["outcome": outcome.rawValue]) == 0) }
            #expect(Self.value(s, N.agendasPublished) != nil && Self.value(s, N.agendaPublishFailures) == 0)
            #expect(Set(s.filter { $0.name == N.playbackReports }.compactMap { $0.labels["event"] }) == Set(PlaybackEvent.allCases.map(\.rawValue)))
            // CAP warnings received and refused: present from the start.
            #expect(Self.value(s, N.warningsReceived, ["status": "actual"]) == 0 && Self.value(s, N.warningsRefused, ["reason": "doctype"]) == 0)
            // A single controller: no commune without an owner.
            #expect(Self.value(s, N.communesUnowned) == 0)
            // HTTP by route template, method and status, with latency; never a raw path.
            #expect(Self.value(s, N.httpRequests, ["route": "/healthz", "method": "GET", "status": "200"]) == 1)
            #expect(Self.value(s, N.httpRequests, ["route": "/media/{hash}", "status": "404"]) == 1)
            #expect(Self.value(s, N.httpRequests, ["route": "other", "status": "404"]) == 1)
            #expect(Self.value(s, N.httpRequests, ["route": "/metrics", "status": "401"]) == 2)
            #expect(!s.contains { $0.labels["route"]?.contains("aaaa") == true || $0.labels["route"]?.contains("khong-co") == true })
            #expect(Self.value(s, N.httpDuration + "_count", ["route": "/healthz"]) == 1)
            // Every family named in WardMetrics.Names is there.
            #expect(Set(types.keys) == N.all, "missing: \(N.all.subtracting(types.keys)), unexpected: \(Set(types.keys).subtracting(N.all))")
        }
        device.disconnect()
        await w.stop()
    }

    /// `--metrics-loopback`: local scrapes only, and never one a proxy forwarded; off: 404.
    @Test func metricsAccessIsAChoice() async throws {
        let w = try await World()
        let local = Application(router: w.server(.loopback).observedRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await local.test(.live) { client in
            let r6 = try await client.execute(uri: "/metrics", method: .get)
            #expect(r6.status == .ok)
            let forwarded = try await client.execute(uri: "/metrics", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.7"])
            #expect(forwarded.status == .forbidden)
        }
        let off = Application(router: w.server(.off).observedRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await off.test(.live) { client in
            let r7 = try await client.execute(uri: "/metrics", method: .get)
            #expect(r7.status == .notFound)
        }
        await w.stop()
    }

    /// `/readyz`: 200 while the database takes a write and the broker link is up; 503 with the reason
    /// while the broker is gone; 200 again once the controller has reconnected.
    @Test func readyzFollowsTheBrokerLink() async throws {
        let w = try await World()
        let app = Application(router: w.server(.off).observedRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let r8 = try await client.execute(uri: "/readyz", method: .get)
            #expect(r8.status == .ok)
            let port = w.broker.port
            w.broker.kill()
            var reason = ""
            try await Self.waitUntil("/readyz 503") {
                let r = try await client.execute(uri: "/readyz", method: .get)
                reason = String(buffer: r.body)
                return r.status == .serviceUnavailable
            }
            #expect(reason.contains("broker") && reason.contains("not_ready"), "\(reason)")
            w.broker = try await LocalBroker.start(port: port)
            try await Self.waitUntil("/readyz 200 again") { try await client.execute(uri: "/readyz", method: .get).status == .ok }
        }
        await w.stop()
    }

    /// A server with nothing to be ready for says so (503), and `/healthz` stays a liveness check.
    @Test func readyzWithoutAControllerIsNotReady() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-obs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try WardDatabase(path: dir.appendingPathComponent("o.sqlite").path)
        let server = ControllerHTTPServer(library: MediaLibrary(root: dir, database: db), host: "127.0.0.1", port: 0)
        let app = Application(router: server.observedRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.router) { client in
            let r9 = try await client.execute(uri: "/readyz", method: .get)
            #expect(r9.status == .serviceUnavailable)
            let r10 = try await client.execute(uri: "/healthz", method: .get)
            #expect(r10.status == .ok)
            let r11 = try await client.execute(uri: "/metrics", method: .get)
            #expect(r11.status == .notFound)
        }
        // The database probe itself: a write taken and rolled back, nothing kept.
        try db.probeWrite()
        #expect(try db.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM settings WHERE key LIKE 'readyz%'") } == 0)
    }

    /// JSON logs: one valid object per line, UTC time, level, label, message and metadata; Vietnamese
    /// intact (not escaped), a newline or quote in a message never breaks the line.
    @Test func jsonLogsAreOneObjectPerLine() throws {
        final class Lines: @unchecked Sendable {
            let lock = NSLock()
            var all: [String] = []
            func add(_ s: String) { lock.withLock { all.append(s) } }
        }
        let lines = Lines()
        let at = Date(timeIntervalSince1970: 1_796_000_000.123)  // 2026-11-30T00:53:20.123Z
        var handler = JSONLogHandler(label: "wardfleet.controller", output: JSONLogOutput { lines.add($0) }, now: { at })
        handler.logLevel = .debug
        handler[metadataKey: "node"] = "nút-1"
        let logger = Logger(label: "wardfleet.controller") { _ in handler }
        logger.warning("thiết bị LOA-1: mất kết nối \"đột ngột\"\nlần 2", metadata: [
            "device": "LOA-1", "reason": "lỗi bộ khuếch đại (amply)", "counts": ["a": "1", "b": ["x", "y"]],
        ])
        logger.debug("không có siêu dữ liệu")
        #expect(lines.all.count == 2)
        let text = lines.all.joined()
        #expect(text.split(separator: "\n").count == 2 && text.hasSuffix("\n"))
        #expect(text.contains("mất kết nối") && text.contains("nút-1"))  // UTF-8 as it is, not \u escapes
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(first["time"] as? String == "2026-11-30T00:53:20.123Z")
        #expect(first["level"] as? String == "warning" && first["label"] as? String == "wardfleet.controller")
        #expect(first["message"] as? String == "thiết bị LOA-1: mất kết nối \"đột ngột\"\nlần 2")
        let metadata = try #require(first["metadata"] as? [String: Any])
        #expect(metadata["reason"] as? String == "lỗi bộ khuếch đại (amply)" && metadata["node"] as? String == "nút-1")
        #expect(((metadata["counts"] as? [String: Any])?["b"] as? [String]) == ["x", "y"])
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[1].utf8)) as? [String: Any])
        #expect(second["level"] as? String == "debug" && (second["metadata"] as? [String: Any])?["node"] as? String == "nút-1")
        // NFC survives: the message is the same scalars that went in.
        #expect((first["message"] as? String)?.unicodeScalars.elementsEqual("thiết bị LOA-1: mất kết nối \"đột ngột\"\nlần 2".unicodeScalars) == true)
    }

    /// deploy/prometheus: `promtool check rules` and `promtool check config` accept the files, the rules name
    /// the alerts the issue asks for, and every metric they use is one the controller exposes.
    @Test func prometheusFilesPassPromtool() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try #require(promtool, "promtool is missing: deploy/install-deps.sh installs Debian's prometheus package")
        let source = repo.appendingPathComponent("deploy/prometheus")
        let rules = try String(contentsOf: source.appendingPathComponent("wardfleet-rules.yml"), encoding: .utf8)
        // A copy whose token file exists, as it would on a prepared Prometheus host.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-prom-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.token.write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let config = try String(contentsOf: source.appendingPathComponent("wardfleet.yml"), encoding: .utf8)
        #expect(config.contains("/etc/prometheus/wardfleet-metrics.token"))
        try config.replacingOccurrences(of: "/etc/prometheus/wardfleet-metrics.token", with: dir.appendingPathComponent("token").path)
            .write(to: dir.appendingPathComponent("wardfleet.yml"), atomically: true, encoding: .utf8)
        try rules.write(to: dir.appendingPathComponent("wardfleet-rules.yml"), atomically: true, encoding: .utf8)

        func run(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let (rulesStatus, rulesOut) = try run(["check", "rules", dir.appendingPathComponent("wardfleet-rules.yml").path])
        #expect(rulesStatus == 0, "\(rulesOut)")
        let (configStatus, configOut) = try run(["check", "config", dir.appendingPathComponent("wardfleet.yml").path])
        #expect(configStatus == 0, "\(configOut)")

        for alert in ["WardfleetControllerDown", "WardfleetBrokerLinkDown", "WardfleetInboundQueueDrops", "WardfleetNotificationFailures",
                      "WardfleetCommuneWithoutOwner"] {
            #expect(rules.contains("alert: \(alert)"), "\(alert)")
        }
        let used = Set(rules.matches(of: /wardfleet_[a-z_]+/).map { String($0.0) })
        #expect(!used.isEmpty && used.isSubset(of: WardMetrics.Names.all), "unknown metrics in the rules: \(used.subtracting(WardMetrics.Names.all))")
    }
}
