import Foundation
import MQTTClient
import Testing
import WardController
import WardDomain
import WardStorage

/// Issue 13, item 3: what a device built from docs/protocol.md alone found. Real broker, real
/// `wardfleet run`, the device played by a plain MQTT client publishing literal JSON.
extension RealBrokerTests {
    @Suite struct FieldTrustTests {
        static func device(_ h: Harness, _ id: String) async throws -> MQTTClient {
            let c = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: h.broker.port, clientID: id))
            try await c.connect()
            return c
        }
        static var nowMs: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

        /// 3e: a device that connected ~2 s before `devices add` lost its birth and stayed unknown.
        @Test func registrationReachesARunningControllerAtOnce() async throws {
            try await withHarness { h in
                try await h.startController()
                let dev = try await Self.device(h, "LOA-MOI-01")
                let topic = "wardfleet/v1/cam-la/LOA-MOI-01/"
                try dev.publish(topic: topic + "birth", payload: Array(#"{"v":1,"device":"LOA-MOI-01","class":"speaker","model":"Loa mới","firmware":"1.0","capabilities":["ping"],"heartbeat_s":600,"boot":"nb1"}"#.utf8), qos: 1, retain: true)
                try dev.publish(topic: topic + "state", payload: Array(#"{"v":1,"device":"LOA-MOI-01","state":"online","boot":"nb1"}"#.utf8), qos: 1, retain: true)
                try await h.waitUntil("recorded as pending") { try HealthQueries(h.db).pending().contains { $0.deviceID == "LOA-MOI-01" } }
                let (status, out) = try await h.run("wardfleet", ["devices", "add", "LOA-MOI-01", "--class", "speaker", "--site", "nvh", "--db", h.dbPath])
                #expect(status == 0, "\(out)")
                // The device says nothing more (its heartbeat is 10 minutes): its birth must count.
                try await h.waitUntil("online from the birth it sent while pending") { try h.state("LOA-MOI-01") == .ok }
                #expect(try h.status("LOA-MOI-01")?.liveness.bootID == "nb1")
                #expect(try HealthQueries(h.db).pending().isEmpty)
                dev.disconnect()
            }
        }

        /// 3e: a kiosk that sends only telemetry counters had no figures; one that sends events too
        /// must not be counted twice.
        @Test func aKioskSendingOnlyTelemetryHasFiguresCountedOnce() async throws {
            try await withHarness { h in
                try await h.startController()
                let dev = try await Self.device(h, "KIOSK-1")
                let topic = "wardfleet/v1/cam-la/KIOSK-1/"
                var seq = 0
                func reading(_ boot: String, issued: Int, served: Int, ratings: String) throws {
                    seq += 1
                    try dev.publish(topic: topic + "telemetry", payload: Array(#"{"v":1,"device":"KIOSK-1","boot":"\#(boot)","seq":\#(seq),"ts":\#(Self.nowMs),"kiosk":{"printer_ok":true,"paper_low":false,"paper_out":false,"tickets_issued":\#(issued),"tickets_served":\#(served),"ratings":\#(ratings)}}"#.utf8), qos: 1)
                }
                try reading("k1", issued: 2, served: 1, ratings: #"{"satisfied":1}"#)
                try reading("k1", issued: 5, served: 3, ratings: #"{"satisfied":2,"very_satisfied":1}"#)
                seq = 0
                try reading("k2", issued: 1, served: 1, ratings: #"{}"#)  // rebooted: counters from zero
                // A newer firmware sends events too: its counters then repeat them and are not used.
                try dev.publish(topic: topic + "event", payload: Array(#"{"v":1,"device":"KIOSK-1","boot":"k3","seq":1,"ts":\#(Self.nowMs),"event":"ticket_issued","ticket":"A001"}"#.utf8), qos: 1)
                seq = 0
                try reading("k3", issued: 1, served: 0, ratings: #"{}"#)
                func today() async throws -> [String: Any]? {
                    let (status, json) = try await h.run("wardfleet", ["devices", "show", "KIOSK-1", "--json", "--db", h.dbPath])
                    #expect(status == 0)
                    let detail = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
                    return (detail?["kioskDays"] as? [[String: Any]])?.last
                }
                try await h.waitUntil("the last reading stored") {
                    try HealthQueries(h.db).samples(device: "KIOSK-1").first?.boot == "k3"
                }
                let day = try #require(try await today())
                #expect(day["ticketsIssued"] as? Int == 5 + 1 + 1)
                #expect(day["ticketsServed"] as? Int == 3 + 1)
                #expect(day["ratings"] as? [String: Int] == ["satisfied": 2, "very_satisfied": 1], "\(day["ratings"] ?? "none")")
                dev.disconnect()
            }
        }

        /// 3b: `devices command` printed "ok — device mismatch" (exit 0) for acknowledgements the
        /// controller itself refused: another device in the payload, and "v":2.
        @Test func aCommandsResultComesOnlyFromAnAcknowledgementThatPassesTheDecoder() async throws {
            try await withHarness { h in
                try await h.startController()
                let dev = try await Self.device(h, "LOA-1")
                let topic = "wardfleet/v1/cam-la/LOA-1/"
                try dev.subscribe(topic + "cmd", qos: 1)
                try dev.publish(topic: topic + "birth", payload: Array(#"{"v":1,"device":"LOA-1","class":"speaker","model":"M","firmware":"1","capabilities":["ping"],"heartbeat_s":30,"boot":"b1"}"#.utf8), qos: 1, retain: true)
                try await h.waitUntil("birth stored") { try h.status("LOA-1")?.birth != nil }
                let cli = Task { try await h.run("wardfleet", ["devices", "command", "LOA-1", "ping", "--db", h.dbPath, "--broker", h.brokerAddress, "--timeout", "30"]) }
                let cmd = try #require(await withTaskGroup(of: MQTTMessage?.self) { g in
                    g.addTask { await dev.messages.nextBatch()?.first }
                    g.addTask { try? await Task.sleep(for: .seconds(30)); return nil }  // a deadline, not a wait
                    let first = await g.next()!
                    g.cancelAll()
                    return first
                }, "no command reached the device")
                let cmdID = try #require((try JSONSerialization.jsonObject(with: Data(cmd.payload)) as? [String: Any])?["cmd_id"] as? String)
                func ack(_ json: String) throws { try dev.publish(topic: topic + "ack", payload: Array(json.utf8), qos: 1) }
                try ack(#"{"v":1,"device":"LOA-2","boot":"b1","cmd_id":"\#(cmdID)","result":"ok","detail":"device mismatch","ts":\#(Self.nowMs)}"#)
                try ack(#"{"v":2,"device":"LOA-1","boot":"b1","cmd_id":"\#(cmdID)","result":"ok","detail":"v2","ts":\#(Self.nowMs)}"#)
                try ack(#"{"v":1,"device":"LOA-1","boot":"b1","cmd_id":"\#(cmdID)","result":"error","detail":"loa bận","ts":\#(Self.nowMs)}"#)
                let (status, out) = try await cli.value
                #expect(status == 2 && out.contains("LOA-1: không thực hiện được / error — loa bận"), "\(out)")
                #expect(!out.contains("mismatch") && !out.contains("v2"), "\(out)")
                try await h.waitUntil("the controller refused both") {
                    let r = try HealthQueries(h.db).recentRejections(limit: 50).filter { $0.topic == topic + "ack" }.map(\.reason)
                    return Set(r) == ["identity_mismatch", "unsupported_version"]
                }
                dev.disconnect()
            }
        }

        /// 3h: the model and firmware a device reports were not shown ("—").
        @Test func devicesShowPrintsReportedModelAndFirmwareAndFlagsAMismatch() async throws {
            try await withHarness { h in
                try await h.startController()
                let (added, out) = try await h.run("wardfleet", ["devices", "add", "LOA-1", "--class", "speaker", "--site", "nvh",
                                                                 "--model", "Loa Viettel", "--firmware", "2.3.1", "--db", h.dbPath])
                #expect(added == 0, "\(out)")
                let dev = try await Self.device(h, "LOA-1")
                try dev.publish(topic: "wardfleet/v1/cam-la/LOA-1/birth", payload: Array(#"{"v":1,"device":"LOA-1","class":"speaker","model":"VNPT iSpeaker 4G","firmware":"2.3.1","capabilities":["ping","set_volume"],"heartbeat_s":30,"boot":"b1"}"#.utf8), qos: 1, retain: true)
                try await h.waitUntil("birth stored") { try h.status("LOA-1")?.birth?.contains("VNPT") == true }
                let (status, text) = try await h.run("wardfleet", ["devices", "show", "LOA-1", "--db", h.dbPath])
                #expect(status == 0)
                #expect(text.contains("Loa Viettel") && text.contains("VNPT iSpeaker 4G"), "\(text)")
                #expect(text.contains("Model khác với đăng ký / model differs"), "\(text)")
                #expect(!text.contains("Firmware khác"), "\(text)")
                #expect(text.contains("ping, set_volume"), "\(text)")
                dev.disconnect()
            }
        }
    }
}
