import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing
import WardDomain
import WardStorage
@testable import WardController

/// Runs `router` on a free loopback port and answers the URL of `path` once it listens: the stand-in servers'
/// one start-up (a loaded test process can take a while to run the server's task, hence the generous deadline).
func serveOnLoopback(_ router: Router<BasicRequestContext>, path: String) async throws -> (url: URL, task: Task<Void, any Error>) {
    let port = Mutex(0)
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
    let task = Task { try await app.runService() }
    let deadline = ContinuousClock.now + .seconds(90)
    while port.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    try #require(port.withLock { $0 } != 0, "the stand-in server did not start")
    return (URL(string: "http://127.0.0.1:\(port.withLock { $0 })\(path)")!, task)
}

/// A webhook receiver on a free loopback port that fails its first `failures` requests.
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var body: Data
        var signature: String?
        var timestamp: String?
        var delivery: String?
        var event: String?
    }
    let received = Mutex<[Received]>([])
    let failures: Int
    init(failures: Int) { self.failures = failures }

    func start() async throws -> (url: URL, task: Task<Void, any Error>) {
        let router = Router()
        router.post("/hook") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let n = received.withLock { r in
                r.append(Received(body: Data(buffer: body), signature: request.headers[HTTPField.Name("X-WardFleet-Signature")!],
                                  timestamp: request.headers[HTTPField.Name("X-WardFleet-Timestamp")!],
                                  delivery: request.headers[HTTPField.Name("X-WardFleet-Delivery")!],
                                  event: request.headers[HTTPField.Name("X-WardFleet-Event")!]))
                return r.count
            }
            return Response(status: n <= failures ? .serviceUnavailable : .noContent)
        }
        return try await serveOnLoopback(router, path: "/hook")
    }
}

@Suite struct AlarmNotificationTests {
    let start = Date(timeIntervalSince1970: 1_790_000_000)
    let secret = "bi-mat-cua-xa-an-phu-2026"

    func database() throws -> WardDatabase {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-alarm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try WardDatabase(path: dir.appendingPathComponent("a.sqlite").path)
    }

    @Test func webhookIsRetriedWithBackoffUntilDeliveredAndSigned() async throws {
        let receiver = WebhookReceiver(failures: 2)
        let (url, server) = try await receiver.start()
        defer { server.cancel() }
        let db = try database()
        let clock = ManualTimeSource(start)
        let sink = WebhookSink(url: url, secret: secret, clock: clock)
        let dispatcher = NotificationDispatcher(database: db, sinks: [sink], retry: RetryPolicy(first: 5, cap: 600, maxAttempts: 5), clock: clock)
        let repo = NotificationRepository(db)
        try repo.enqueue(alarm: 1, event: "raised", sinks: ["webhook"], payload: #"{"text_vi":"Mất kết nối: loa-1"}"#, at: start)

        #expect(await dispatcher.deliverDue() == 1)          // attempt 1: 503
        #expect(try repo.list()[0].status == "retrying" && repo.list()[0].nextAttemptAt == start + 5)
        #expect(await dispatcher.deliverDue() == 0)          // not due before the backoff
        clock.advance(by: 5)
        #expect(await dispatcher.deliverDue() == 1)          // attempt 2: 503, next after 10 s
        #expect(try repo.list()[0].nextAttemptAt == start + 15 && repo.list()[0].lastError == "HTTP 503")
        clock.advance(by: 9)
        #expect(await dispatcher.deliverDue() == 0)
        clock.advance(by: 1)
        #expect(await dispatcher.deliverDue() == 1)          // attempt 3: delivered
        let n = try repo.list()[0]
        #expect(n.status == "delivered" && n.attempts == 3 && n.deliveredAt == start + 15)

        let got = receiver.received.withLock { $0 }
        #expect(got.count == 3)
        #expect(Set(got.map(\.delivery)) == [String(n.id)])   // same id on every retry
        for r in got {
            #expect(r.signature == WebhookSink.signature(body: r.body, timestamp: r.timestamp ?? "", secret: secret))
            #expect(r.signature != WebhookSink.signature(body: r.body, timestamp: r.timestamp ?? "", secret: "another-secret-entirely"))
            #expect(String(decoding: r.body, as: UTF8.self).contains("Mất kết nối"))
        }
    }

    /// A receiver that answers 307 towards another address (here a second receiver on loopback)
    /// does not get the controller to post there: the delivery fails at once, with the reason.
    @Test func webhookRedirectIsRefusedNotFollowed() async throws {
        let target = WebhookReceiver(failures: 0)
        let (targetURL, targetServer) = try await target.start()
        defer { targetServer.cancel() }
        let redirects = Mutex(0)
        let router = Router()
        router.post("/hook") { _, _ -> Response in
            redirects.withLock { $0 += 1 }
            return Response(status: .temporaryRedirect, headers: [.location: targetURL.absoluteString])
        }
        let port = Mutex(0)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        // A loaded test process (many tests blocking the pool) can take a while to run the server's task.
        let deadline = ContinuousClock.now + .seconds(90)
        while port.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(port.withLock { $0 } != 0, "the stand-in server did not start")

        let db = try database()
        let clock = ManualTimeSource(start)
        let sink = WebhookSink(url: URL(string: "http://127.0.0.1:\(port.withLock { $0 })/hook")!, secret: secret, clock: clock)
        let dispatcher = NotificationDispatcher(database: db, sinks: [sink], retry: RetryPolicy(first: 5, cap: 600, maxAttempts: 5), clock: clock)
        let repo = NotificationRepository(db)
        try repo.enqueue(alarm: 1, event: "raised", sinks: ["webhook"], payload: #"{"text_vi":"Mất kết nối: loa-1"}"#, at: start)
        #expect(await dispatcher.deliverDue() == 1)
        let n = try repo.list()[0]
        #expect(redirects.withLock { $0 } == 1)
        #expect(target.received.withLock { $0 }.isEmpty, "the redirect's target got the notification")
        #expect(n.status == "failed" && n.deliveredAt == nil, "\(n.status)")
        #expect(n.lastError == "redirect 307 to \(targetURL.absoluteString) refused", "\(n.lastError ?? "-")")
        #expect(await dispatcher.delivered == 0)
        #expect(await dispatcher.gaveUp == 1)
    }

    @Test func unreachableSinkGivesUpVisibly() async throws {
        let db = try database()
        let clock = ManualTimeSource(start)
        // Port 9 on loopback: nothing listens.
        let sink = WebhookSink(url: URL(string: "http://127.0.0.1:9/hook")!, secret: secret, timeout: 5, clock: clock)
        let dispatcher = NotificationDispatcher(database: db, sinks: [sink], retry: RetryPolicy(first: 1, cap: 1, maxAttempts: 2), clock: clock)
        let repo = NotificationRepository(db)
        try repo.enqueue(alarm: nil, event: "raised", sinks: ["webhook", "sms"], payload: "{}", at: start)
        await dispatcher.deliverDue()
        clock.advance(by: 1)
        await dispatcher.deliverDue()
        let counts = try repo.counts()
        #expect(counts["failed"] == 2)  // the webhook after 2 attempts; "sms" is not configured at all
        #expect(try repo.list().allSatisfy { $0.lastError != nil && $0.gaveUpAt != nil })
        #expect(await dispatcher.gaveUp == 2)
    }

    @Test func serviceNotifiesRaiseAcknowledgeRemindersAndClear() async throws {
        let db = try database()
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "dong", level: .village, name: "Thôn Đông", parentID: "an-phu"),
            Place(id: "cot", level: .site, name: "Cột loa Đầu làng", parentID: "dong", siteKind: .pole),
        ])
        try DeviceRepository(db).upsert([Device(id: "loa-1", deviceClass: .speaker, siteID: "cot", registeredAt: start)])
        try BroadcastRepository(db).addUser(User(name: "kt-minh", role: .technician, displayName: "Minh", createdAt: start))
        let clock = ManualTimeSource(start)
        var config = AlarmConfiguration()
        config.sinks = ["webhook"]
        config.reminders = ReminderPolicy(after: 1800, every: 1800)
        let service = AlarmService(database: db, clock: clock, configuration: config)
        await service.updateRegistry(tree: try PlaceRepository(db).tree(), devices: try DeviceRepository(db).list())
        let offline = [DeviceObservation(deviceID: "loa-1", deviceClass: .speaker, villageID: "dong", communeID: "an-phu",
                                         state: .offline, since: start, faults: [Fault(.lastWill)])]
        let events = { try NotificationRepository(db).list(limit: 100).reversed().map(\.event) }

        try await service.evaluate(offline)
        clock.advance(by: 300)
        let raised = try await service.evaluate(offline)
        #expect(raised.count == 1 && raised[0].alarm.id != nil)
        #expect(try events() == ["raised"])
        let payload = try NotificationRepository(db).list()[0].payload
        #expect(payload.contains("Cột loa Đầu làng, Thôn Đông, Xã An Phú") && payload.contains("\"kind\":\"offline\""))

        // Unacknowledged for 30 min: reminded, then every 30 min.
        clock.advance(by: 1800)
        try await service.evaluate(offline)
        clock.advance(by: 600)
        try await service.evaluate(offline)
        clock.advance(by: 1200)
        try await service.evaluate(offline)
        #expect(try events() == ["raised", "reminder", "reminder"])
        #expect(try AlarmRepository(db).open()[0].reminders == 2)

        // A technician acknowledges (from the CLI, i.e. straight in storage): announced once, no more reminders.
        _ = try AlarmRepository(db).acknowledge(raised[0].alarm.id!, by: "kt-minh", at: clock.now(), note: "đang đi sửa")
        try await service.evaluate(offline)
        clock.advance(by: 3600)
        try await service.evaluate(offline)
        #expect(try events() == ["raised", "reminder", "reminder", "acknowledged"])

        // Back online for longer than the tolerance: cleared, with who acknowledged it.
        let back = [DeviceObservation(deviceID: "loa-1", deviceClass: .speaker, villageID: "dong", communeID: "an-phu",
                                      state: .ok, since: clock.now())]
        try await service.evaluate(back)
        clock.advance(by: 120)
        try await service.evaluate(back)
        #expect(try events() == ["raised", "reminder", "reminder", "acknowledged", "cleared"])
        let a = try AlarmRepository(db).list(status: .cleared)[0]
        #expect(a.ackedBy == "kt-minh" && a.clearedAt == clock.now() - 120)
    }
}
