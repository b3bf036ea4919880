import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing
import WardController
import WardDomain
import WardStorage

extension RealBrokerTests {
    /// A simulated speaker loses its connection and gets an amplifier fault: the running
    /// controller raises both alarms, a technician acknowledges from the CLI, the speaker comes
    /// back, and a real webhook receives every step, signed.
    @Suite(.serialized) struct Alarms {
        @Test func offlineAndFaultAlarmsReachAWebhookThroughTheirLifecycle() async throws {
            let secret = "xa-cam-la-webhook-secret"
            let events = Mutex<[(event: String, body: String, valid: Bool)]>([])
            let router = Router()
            router.post("/hook") { request, _ -> Response in
                let body = Data(buffer: try await request.body.collect(upTo: 1 << 20))
                let ts = request.headers[HTTPField.Name("X-WardFleet-Timestamp")!] ?? ""
                let valid = request.headers[HTTPField.Name("X-WardFleet-Signature")!] == WebhookSink.signature(body: body, timestamp: ts, secret: secret)
                events.withLock { $0.append((request.headers[HTTPField.Name("X-WardFleet-Event")!] ?? "", String(decoding: body, as: UTF8.self), valid)) }
                return Response(status: .noContent)
            }
            let port = Mutex(0)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
            let server = Task { try await app.runService() }
            defer { server.cancel() }

            try await withHarness { h in
                try await h.waitUntil("webhook receiver listening") { port.withLock { $0 } != 0 }
                // Short rules so the test does not wait 5 minutes: set by an admin through the CLI.
                for args in [["users", "add", "admin-an", "--role", "admin"], ["users", "add", "kt-minh", "--role", "technician"],
                             ["alarms", "rules", "--kind", "offline", "--class", "speaker", "--duration", "0", "--tolerance", "0", "--user", "admin-an"],
                             ["alarms", "rules", "--kind", "amplifier_fault", "--duration", "0", "--tolerance", "0", "--user", "admin-an"]] {
                    let (st, _) = try await h.run("wardfleet", args + ["--db", h.dbPath])
                    #expect(st == 0, "\(args): \(h.lastStderr)")
                }
                try await h.startController(["--webhook", "http://127.0.0.1:\(port.withLock { $0 })/hook", "--webhook-secret", secret])
                try h.startSim(["--only", "LOA-1", "--behave", "LOA-1:amp-fault@2", "--behave", "LOA-1:offline-will@8+12"])
                let alarms = AlarmRepository(h.db)
                try await h.waitUntil("amplifier alarm raised", timeout: .seconds(60)) { try alarms.open().contains { $0.kind == .amplifierFault } }
                try await h.waitUntil("offline alarm raised", timeout: .seconds(60)) { try alarms.open().contains { $0.kind == .offline } }
                let offline = try #require(try alarms.open().first { $0.kind == .offline })
                #expect(offline.deviceID == "LOA-1")
                #expect(offline.villageID == "thon-cam-la" && offline.communeID == "cam-la")

                let (st, out) = try await h.run("wardfleet", ["alarms", "ack", "\(offline.id!)", "--user", "kt-minh", "--note", "đã gọi VNPT", "--db", h.dbPath])
                #expect(st == 0 && out.contains("#\(offline.id!)"), "\(h.lastStderr)")
                try await h.waitUntil("back online and the offline alarm cleared", timeout: .seconds(60)) {
                    try alarms.get(offline.id!)?.clearedAt != nil
                }
                try await h.waitUntil("raised, acknowledged and cleared delivered", timeout: .seconds(60)) {
                    let got = events.withLock { $0 }.filter { $0.body.contains("\"kind\":\"offline\"") }.map(\.event)
                    return got.contains("raised") && got.contains("acknowledged") && got.contains("cleared")
                }
                let got = events.withLock { $0 }
                let allSigned = got.allSatisfy { $0.valid }
                let namedPlace = got.contains { $0.event == "raised" && $0.body.contains("Mất kết nối: LOA-1 (Nhà văn hóa thôn Cẩm La, Thôn Cẩm La, Xã Cẩm La)") }
                let amplifier = got.contains { $0.event == "raised" && $0.body.contains("\"kind\":\"amplifier_fault\"") }
                #expect(allSigned && namedPlace && amplifier)
                let stored = try alarms.get(offline.id!)
                let cleared = try #require(stored)
                #expect(cleared.ackedBy == "kt-minh" && cleared.ackNote == "đã gọi VNPT")
                let (_, list) = try await h.run("wardfleet", ["alarms", "list", "--status", "all", "--db", h.dbPath])
                #expect(list.contains("kt-minh") && list.contains("LOA-1"))
                // raised ×2, acknowledged, cleared: all delivered, none failed or waiting.
                let counts = try NotificationRepository(h.db).counts()
                #expect((counts["delivered"] ?? 0) >= 4 && counts["failed"] == nil && counts["retrying"] == nil, "\(counts)")
                let (_, sent) = try await h.run("wardfleet", ["alarms", "notifications", "--db", h.dbPath])
                #expect(sent.contains("delivered \(counts["delivered"]!)"), "\(sent)")
            }
        }
    }
}
