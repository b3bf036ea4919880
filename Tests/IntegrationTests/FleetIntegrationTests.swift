import Foundation
import MQTTClient
import Testing
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension RealBrokerTests {
    /// Real broker, real SQLite, real `wardfleet run` and `firmware-sim` processes.
    /// Serialized: each test drives several processes and the machine has two cores.
    @Suite struct FleetIntegrationTests {
        @Test func birthsRegisterTelemetryUpdatesStateAndFaultsShowWithReasons() async throws {
            try await withHarness { h in
                try await h.startController()
                try h.startSim(["--always-open", "--kiosk-interval", "0.3",
                                "--behave", "LOA-1:amp-fault@4", "--behave", "CAM-1:disk-fill@4", "--behave", "AP-1:reboot@3"])
                // Each has been ok (the scripted faults start a few seconds in, so not necessarily all at once).
                try await h.waitUntil("all four devices have been ok") {
                    try ["LOA-1", "CAM-1", "AP-1", "KIOSK-1"].allSatisfy { id in
                        try HealthQueries(h.db).history(device: id, limit: 50).contains { $0.state == .ok }
                    }
                }
                let birth = try #require(try h.status("LOA-1")?.birth)
                #expect(birth.contains("\"class\":\"speaker\"") && birth.contains("\"heartbeat_s\":1"))

                try await h.waitUntil("amplifier fault shows as degraded") {
                    try h.status("LOA-1")?.liveness.faults.map(\.code) == [.amplifierFault]
                }
                #expect(try h.state("LOA-1") == .degraded)
                try await h.waitUntil("camera disk filling shows as degraded") {
                    try h.status("CAM-1")?.liveness.faults.map(\.code).contains(.diskNearlyFull) == true
                }
                try await h.waitUntil("AP reboot recorded") { try !HealthQueries(h.db).reboots(device: "AP-1").isEmpty }
                try await h.waitUntil("kiosk events stored") {
                    try HealthQueries(h.db).eventCount(device: "KIOSK-1", type: "ticket_served") >= 2
                }

                // The technician's view, through the real CLI.
                let (status, json) = try await h.run("wardfleet", ["health", "--json", "--db", h.dbPath])
                #expect(status == 0)
                let report = try JSONDecoder.iso.decode(HealthReport.self, from: Data(json.utf8))
                #expect(report.counts.total == 4 && report.controllerRunning)
                #expect(report.problems.contains { $0.device == "LOA-1" && $0.reasons.map(\.code) == [.amplifierFault] })
                #expect(report.byVillage.map(\.name).contains("Khu phố Yên Giang"))
                let (s2, text) = try await h.run("wardfleet", ["health", "--db", h.dbPath])
                #expect(s2 == 0 && text.contains("lỗi bộ khuếch đại (amply) / amplifier fault") && text.contains("Thôn Cẩm La"))

                let (s3, detailJSON) = try await h.run("wardfleet", ["devices", "show", "KIOSK-1", "--json", "--db", h.dbPath])
                #expect(s3 == 0)
                let detail = try JSONDecoder.iso.decode(DeviceDetail.self, from: Data(detailJSON.utf8))
                #expect(detail.kioskDays.last.map { $0.ticketsServed >= 2 && $0.meanWaitSeconds != nil } == true)
                #expect(detail.uptime.last24h.availability != nil)
                let (s4, camJSON) = try await h.run("wardfleet", ["devices", "show", "CAM-1", "--json", "--db", h.dbPath])
                #expect(s4 == 0)
                let cam = try JSONDecoder.iso.decode(DeviceDetail.self, from: Data(camJSON.utf8))
                #expect(cam.cameraStorage.map { $0.usedFraction >= 0.9 && $0.daysUntilFull != nil } == true)
            }
        }

        @Test func lostConnectionGoesOfflineAtOnceWithAWillAndAfterSilenceWithout() async throws {
            try await withHarness { h in
                try await h.startController()
                let noWill = try h.startSim(["--only", "LOA-1", "--no-will"])
                let withWill = try h.startSim(["--only", "CAM-1"])
                try await h.waitUntil("both online") { try h.state("LOA-1") == .ok && h.state("CAM-1") == .ok }

                // Power cut: the processes die without a word.
                noWill.send(SIGKILL)
                withWill.send(SIGKILL)

                try await h.waitUntil("camera offline by its Last Will") { try h.state("CAM-1") == .offline }
                #expect(try h.status("CAM-1")?.liveness.faults.map(\.code) == [.lastWill])

                try await h.waitUntil("speaker offline by silence") { try h.state("LOA-1") == .offline }
                let loa = try #require(try h.status("LOA-1")?.liveness)
                #expect(loa.faults.map(\.code) == [.silent])
                // Dated at the bound itself: last heard + 1.5 × the declared 1 s heartbeat.
                let lastHeard = try #require(loa.lastHeard)
                #expect(abs(loa.since.timeIntervalSince(lastHeard) - 1.5) < 0.002)
            }
        }

        @Test func scriptedConnectionDropGoesOfflineByWillAndComesBack() async throws {
            try await withHarness { h in
                try await h.startController()
                try h.startSim(["--only", "LOA-1", "--behave", "LOA-1:offline-will@2+2"])
                try await h.waitUntil("offline by the Last Will") {
                    try h.state("LOA-1") == .offline && h.status("LOA-1")?.liveness.faults.map(\.code) == [.lastWill]
                }
                try await h.waitUntil("back online on the same boot") {
                    try h.state("LOA-1") == .ok && HealthQueries(h.db).history(device: "LOA-1").count >= 4
                }
                #expect(try HealthQueries(h.db).reboots(device: "LOA-1").isEmpty)  // a lost link is not a reboot
            }
        }

        @Test func unregisteredDeviceBecomesPendingNotAFleetMember() async throws {
            try await withHarness { h in
                try await h.startController()
                try h.startSim([], file: h.file("stranger.yaml"))
                try await h.waitUntil("stranger recorded as pending") {
                    try HealthQueries(h.db).pending().first { $0.deviceID == "LOA-LA-99" }?.deviceClass == "speaker"
                }
                let pending = try #require(try HealthQueries(h.db).pending().first)
                #expect(pending.communeID == "cam-la" && pending.model == "Loa Lạ 4G")
                #expect(try DeviceRepository(h.db).get("LOA-LA-99") == nil)
                #expect(try h.status("LOA-LA-99") == nil)
                let (_, out) = try await h.run("wardfleet", ["devices", "pending", "--db", h.dbPath])
                #expect(out.contains("LOA-LA-99"))

                // Once a technician registers it, the running controller adopts it.
                let (st, _) = try await h.run("wardfleet", ["devices", "add", "LOA-LA-99", "--class", "speaker", "--site", "nvh", "--db", h.dbPath])
                #expect(st == 0)
                try await h.waitUntil("registered device tracked") { try h.state("LOA-LA-99") == .ok }
                #expect(try HealthQueries(h.db).pending().isEmpty)
            }
        }

        @Test func badInputIsRejectedCountedAndTheRestKeepsFlowing() async throws {
            try await withHarness { h in
                let controller = try await h.startController()
                try h.startSim(["--only", "LOA-1"])
                try await h.waitUntil("speaker flowing") { try (h.status("LOA-1")?.liveness.lastSeq ?? 0) >= 2 }
                let boot = try #require(try h.status("LOA-1")?.liveness.bootID)

                let evil = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: h.broker.port, clientID: "evil"))
                try await evil.connect()
                let tel = "wardfleet/v1/cam-la/LOA-1/telemetry"
                let ts = Date().unixMillis
                func speaker(_ volume: String, seq: Int = 1_000_000, device: String = "LOA-1") -> [UInt8] {
                    Array("{\"v\":1,\"device\":\"\(device)\",\"boot\":\"\(boot)\",\"seq\":\(seq),\"ts\":\(ts),\"speaker\":{\"volume\":\(volume),\"amp_ok\":true,\"line_ok\":true,\"playing\":false,\"power\":\"mains\"}}".utf8)
                }
                try evil.publish(topic: tel, payload: Array("{\"v\":1,\"device\":".utf8))                      // malformed JSON
                try evil.publish(topic: tel, payload: speaker("\"loud\""))                                     // wrong type
                try evil.publish(topic: tel, payload: speaker("250"))                                          // out of range
                try evil.publish(topic: tel, payload: [UInt8](repeating: 0x20, count: 20_000) + speaker("5"))  // oversize
                try evil.publish(topic: "wardfleet/v1/cam-la/LOA-1/gossip", payload: speaker("5"))             // unknown topic
                try evil.publish(topic: tel + "/extra", payload: speaker("5"))                                 // unknown topic
                try evil.publish(topic: tel, payload: speaker("5", seq: 1))                                    // replayed sequence
                try evil.publish(topic: tel, payload: speaker("5", device: "LOA-2"))                           // identity mismatch
                try evil.publish(topic: "wardfleet/v1/other-commune/LOA-1/telemetry", payload: speaker("5"))   // wrong commune
                let expected: [RejectReason: UInt64] = [.malformedJSON: 1, .invalidField: 1, .outOfRange: 1, .oversize: 1,
                                                        .unknownTopic: 2, .replayedSequence: 1, .identityMismatch: 3]
                // identity_mismatch: the payload naming another device, plus the topic under the wrong
                // commune (whose payload also names LOA-1 in a topic of another commune: one rejection).
                try await h.waitUntil("every bad message counted") {
                    try expected.allSatisfy { reason, n in try h.counter(IngestCounter.rejected(reason)) >= min(n, 1) }
                }
                #expect(try h.counter(IngestCounter.rejected(.identityMismatch)) == 2)
                #expect(try h.counter(IngestCounter.rejected(.unknownTopic)) == 2)
                #expect(try HealthQueries(h.db).recentRejections(limit: 50).count >= 9)

                // Nothing else was lost: the real device keeps flowing and stays ok.
                let seqAfter = try #require(try h.status("LOA-1")?.liveness.lastSeq)
                try await h.waitUntil("telemetry still processed") { try (h.status("LOA-1")?.liveness.lastSeq ?? 0) >= seqAfter + 2 }
                #expect(try h.state("LOA-1") == .ok)
                #expect(controller.isRunning)
                evil.disconnect()
            }
        }

        @Test func commandsReachTheDeviceAndAreAcknowledged() async throws {
            try await withHarness { h in
                try await h.startController()
                try h.startSim(["--only", "LOA-1"])
                try await h.waitUntil("speaker online") { try h.state("LOA-1") == .ok }
                let (status, out) = try await h.run("wardfleet", ["devices", "command", "LOA-1", "set_volume", "--volume", "40",
                                                                  "--db", h.dbPath, "--broker", h.brokerAddress])
                #expect(status == 0 && out.contains("LOA-1: đã thực hiện / ok"))
                let (refused, _) = try await h.run("wardfleet", ["devices", "command", "LOA-1", "set_volume", "--volume", "95",
                                                                 "--db", h.dbPath, "--broker", h.brokerAddress])
                #expect(refused != 0)  // above this cluster's max_volume 90: refused before sending
                try await h.waitUntil("new volume reported") {
                    try h.status("LOA-1")?.lastTelemetry?.contains("\"volume\":40") == true
                }
            }
        }

        @Test func brokerRestartIsSurvivedByReconnectAndResubscription() async throws {
            try await withHarness { h in
                try await h.startController()
                try h.startSim(["--only", "LOA-1,CAM-1"])
                try await h.waitUntil("devices sending telemetry") {
                    try ["LOA-1", "CAM-1"].allSatisfy { try h.status($0)?.lastTelemetryAt != nil }
                }
                try await h.restartBroker()
                let restarted = Date()
                // The new broker has no sessions and no subscriptions: telemetry received after it
                // came up proves both sides reconnected and the controller subscribed again.
                try await h.waitUntil("telemetry through the new broker", timeout: .seconds(60)) {
                    try ["LOA-1", "CAM-1"].allSatisfy { try (h.status($0)?.lastTelemetryAt ?? .distantPast) > restarted }
                }
                #expect(try h.state("LOA-1") == .ok && h.state("CAM-1") == .ok)
            }
        }

        @Test func controllerRestartKeepsHistoryAndMarksTheGapUnknown() async throws {
            try await withHarness { h in
                let first = try await h.startController()
                try h.startSim(["--only", "LOA-1"])
                try await h.waitUntil("speaker online") { try h.state("LOA-1") == .ok }
                await first.terminate()
                try await h.startController()
                try await h.waitUntil("speaker online again after restart") {
                    try HealthQueries(h.db).history(device: "LOA-1").count >= 4
                        && HealthQueries(h.db).history(device: "LOA-1").first?.state == .ok
                }
                // Registered → heard → nobody listening (not an outage) → heard again.
                let history = try HealthQueries(h.db).history(device: "LOA-1").reversed()
                #expect(history.map(\.state) == [.unknown, .ok, .unknown, .ok])
                let gap = Array(history)[2]
                let lastAlive = try #require(try HealthQueries(h.db).controllerRuns().first?.lastAlive)
                #expect(gap.start == lastAlive)  // the gap starts when the first run stopped listening
                #expect(!history.contains { $0.state == .offline })
            }
        }
    }
}

/// Runs `body` in a fresh harness and always stops it, whether the test passed or not.
func withHarness(_ body: (Harness) async throws -> Void) async throws {
    let h = try await Harness()
    do {
        try await body(h)
    } catch {
        await h.stop()
        throw error
    }
    await h.stop()
}

extension JSONDecoder {
    static let iso: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
