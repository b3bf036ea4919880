import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing
import WardController
import WardDomain
import WardStorage

extension RealBrokerTests {
    /// In a cluster the leader delivers notifications: an alarm raised by the node that owns a
    /// commune reaches the webhook and the SMS gateway (contacts, templates) given to the nodes.
    @Suite(.serialized) struct ClusterNotificationTests {
        @Test func anAlarmInACommuneReachesTheLeadersWebhookAndSMSGateway() async throws {
            let received = Mutex<[(path: String, body: String)]>([])
            let router = Router()
            for path in ["/hook", "/sms"] {
                router.post(RouterPath(stringLiteral: path)) { request, _ -> Response in
                    let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
                    received.withLock { $0.append((path, body)) }
                    return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"CodeResult":"100"}"#)))
                }
            }
            let port = Mutex(0)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
            let server = Task { try await app.runService() }
            defer { server.cancel() }

            let w = try await ClusterWorld()
            do {
                let commune = "xa-1"
                try w.write("fleet.yaml", ClusterTests.fleet([commune]))
                _ = try await w.cli(["places", "import", w.file("fleet.yaml"), "--with-devices"])
                _ = try await w.cli(["users", "add", "admin-an", "--role", "admin"])
                _ = try await w.cli(["alarms", "rules", "--kind", "amplifier_fault", "--severity", "major", "--duration", "0", "--tolerance", "0",
                                     "--user", "admin-an"])
                _ = try await w.cli(["alarms", "contacts", "add", "0912345678", "--name", "Kỹ thuật viên Minh", "--commune", commune,
                                     "--user", "admin-an"])
                try await w.waitUntil("stand-in receiver listening") { port.withLock { $0 } != 0 }
                let base = "http://127.0.0.1:\(port.withLock { $0 })"
                try w.startNode("n1", ["--webhook", "\(base)/hook", "--webhook-secret", "xa-1-webhook-secret-16", "--sms-gateway", "\(base)/sms", "--sms-success", "\"CodeResult\":\"100\"",
                                       "--sms-brand", "UBND XA 1"])
                try await w.waitUntil("n1 owns the commune and leads", timeout: .seconds(90)) {
                    try w.owners()[commune] == "n1" && w.leader() == "n1"
                }
                let speaker = ClusterTests.speakers(commune)[0]
                try w.write("sim-bac.yaml", ClusterTests.fleet([commune]))
                w.sims.append(try ChildProcess.spawn(
                    Harness.binary("firmware-sim"),
                    ["run", "--file", w.file("sim-bac.yaml"), "--broker", "127.0.0.1:\(w.brokers["bac"]!.port)", "--only", speaker,
                     "--behave", "\(speaker):amp-fault@3", "--heartbeat", "\(ClusterTests.heartbeat)", "--exit-with-parent"],
                    stdout: .file(w.file("sim.log")), stderr: .file(w.file("sim.log"))))
                try await w.waitUntil("the amplifier alarm raised by the commune's owner", timeout: .seconds(90)) {
                    try AlarmRepository(w.db).open().contains { $0.kind == .amplifierFault && $0.deviceID == speaker }
                }
                try await w.waitUntil("the webhook and the SMS gateway received it", timeout: .seconds(90)) {
                    let got = received.withLock { $0 }
                    return got.contains { $0.path == "/hook" && $0.body.contains(speaker) }
                        && got.contains { $0.path == "/sms" && ($0.body.contains("0912345678") || $0.body.contains("84912345678")) }
                }
                let outbox = try await w.cli(["alarms", "notifications", "--json"])
                let lines = try #require(try JSONSerialization.jsonObject(with: Data(outbox.utf8)) as? [[String: Any]], "\(outbox)")
                #expect(Set(lines.compactMap { $0["sink"] as? String }) == ["webhook", "sms"], "\(outbox)")
                #expect(lines.allSatisfy { $0["deliveredAt"] is String }, "every notification delivered: \(outbox)")
            } catch {
                print(w.log("n1"))
                await w.stop()
                throw error
            }
            await w.stop()
        }
    }
}
