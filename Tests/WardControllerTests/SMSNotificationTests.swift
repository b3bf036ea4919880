import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing
import WardDomain
import WardStorage
@testable import WardController

/// A stand-in Bulk-SMS gateway on a free loopback port: answers 200 with an error code in the
/// body (as Vietnamese gateways do) to its first `failures` requests, then accepts.
final class SMSGatewayStandIn: Sendable {
    struct Received: Sendable {
        var body: String
        var contentType: String?
        var apiKey: String?
    }
    let received = Mutex<[Received]>([])
    let failures: Int
    init(failures: Int = 0) { self.failures = failures }

    func start() async throws -> (url: URL, task: Task<Void, any Error>) {
        let router = Router()
        router.post("/sms/send") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let n = received.withLock { r in
                r.append(Received(body: String(buffer: body), contentType: request.headers[.contentType],
                                  apiKey: request.headers[HTTPField.Name("X-API-Key")!]))
                return r.count
            }
            let answer = n <= failures ? #"{"CodeResult":"99","ErrorMessage":"Brandname not active"}"# : #"{"CodeResult":"100","SMSID":"\#(n)"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        return try await serveOnLoopback(router, path: "/sms/send")
    }

    var bodies: [String] { received.withLock { $0.map(\.body) } }
}

@Suite struct SMSNotificationTests {
    let start = Date(timeIntervalSince1970: 1_790_000_000)

    func world() throws -> WardDatabase {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-sms-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("a.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "dong", level: .village, name: "Thôn Đông", parentID: "an-phu"),
            Place(id: "cot", level: .site, name: "Cột loa Đầu làng", parentID: "dong", siteKind: .pole),
            Place(id: "tay", level: .village, name: "Thôn Tây", parentID: "an-phu"),
            Place(id: "nvh", level: .site, name: "Nhà văn hóa Thôn Tây", parentID: "tay", siteKind: .culturalHouse),
        ])
        try DeviceRepository(db).upsert([Device(id: "loa-1", deviceClass: .speaker, siteID: "cot", registeredAt: start)]
            + (1...6).map { Device(id: "cam-\($0)", deviceClass: .camera, siteID: "nvh", registeredAt: start) })
        let sms = SMSRepository(db)
        try sms.upsert(SMSContact(phone: try PhoneNumber("0912345678"), name: "Kỹ thuật viên Minh", commune: "an-phu", level: 0), by: "quantri", at: start)
        try sms.upsert(SMSContact(phone: try PhoneNumber("0987654321"), name: "Phó chủ tịch Lan", commune: "an-phu", level: 1), by: "quantri", at: start)
        return db
    }

    func json(_ s: String) throws -> [String: String] { try JSONDecoder().decode([String: String].self, from: Data(s.utf8)) }

    @Test func escalatesUntilAcknowledgedRetriesAGatewayRefusalAndTellsTheClear() async throws {
        let gateway = SMSGatewayStandIn(failures: 1)
        let (url, server) = try await gateway.start()
        defer { server.cancel() }
        let db = try world()
        let clock = ManualTimeSource(start)
        let config = SMSConfiguration(
            gateway: SMSGateway(url: url, headers: [("X-API-Key", "khoa-bi-mat")], successMatch: #""CodeResult":"100""#),
            policy: SMSPolicy(brand: "UBND AN PHU", escalateAfter: 900), templates: try SMSTemplates())
        let notifier = SMSNotifier(database: db, clock: clock, configuration: config)
        let dispatcher = NotificationDispatcher(database: db, sinks: [notifier.sink], retry: RetryPolicy(first: 5, cap: 600, maxAttempts: 5), clock: clock)
        let service = AlarmService(database: db, clock: clock, configuration: AlarmConfiguration())
        await service.updateRegistry(tree: try PlaceRepository(db).tree(), devices: try DeviceRepository(db).list())
        let offline = [DeviceObservation(deviceID: "loa-1", deviceClass: .speaker, villageID: "dong", communeID: "an-phu",
                                         state: .offline, since: start, faults: [Fault(.lastWill)])]
        try await service.evaluate(offline)
        clock.advance(by: 300)
        try await service.evaluate(offline)
        let alarmID = try #require(try AlarmRepository(db).open().first?.id)

        // Level 0 is texted; the gateway's first answer is a refusal in its body: retried with backoff, recorded.
        let v1 = try await notifier.tick()
        #expect(v1.map(\.recipient.value) == ["+84912345678"])
        let v2 = try await notifier.tick()
        #expect(v2.isEmpty)
        let v3 = await dispatcher.deliverDue()
        #expect(v3 == 1)
        var outbox = try NotificationRepository(db).list()
        #expect(outbox.count == 1 && outbox[0].sink == "sms" && outbox[0].status == "retrying" && outbox[0].alarmID == alarmID)
        #expect(outbox[0].lastError?.contains("Brandname not active") == true)
        #expect(outbox[0].nextAttemptAt == clock.now() + 5)
        clock.advance(by: 5)
        let v4 = await dispatcher.deliverDue()
        #expect(v4 == 1)
        outbox = try NotificationRepository(db).list()
        #expect(outbox[0].status == "delivered" && outbox[0].attempts == 2)
        try #require(gateway.bodies.count >= 2, "\(gateway.bodies)")
        let first = try json(gateway.bodies[1])
        #expect(first["to"] == "+84912345678" && first["brandname"] == "UBND AN PHU")
        #expect(first["request_id"] == String(outbox[0].id))  // the same on the retry: the gateway can drop a duplicate
        #expect(gateway.bodies[0] == gateway.bodies[1])
        let text = try #require(first["message"])
        #expect(text.hasPrefix("UBND AN PHU: KHẨN - mất kết nối loa-1 tại Cột loa Đầu làng, Thôn Đông, Xã An Phú từ "))
        #expect(text == text.precomposedStringWithCanonicalMapping)
        #expect(gateway.received.withLock { $0.allSatisfy { $0.apiKey == "khoa-bi-mat" && $0.contentType?.hasPrefix("application/json") == true } })

        // Still unacknowledged 15 min after it was raised: the next level.
        clock.advance(by: 880)
        let v5 = try await notifier.tick()
        #expect(v5.isEmpty)
        clock.advance(by: 20)
        let escalated = try await notifier.tick()
        #expect(escalated.map(\.recipient.value) == ["+84987654321"])
        #expect(escalated[0].text.contains("CHƯA AI XỬ LÝ (báo cấp 2)"))
        await dispatcher.deliverDue()

        // Acknowledged: nobody further, however long it stays open.
        _ = try AlarmRepository(db).acknowledge(alarmID, by: "kt-minh", at: clock.now(), note: nil)
        clock.advance(by: 7200)
        try await service.evaluate(offline)
        let v6 = try await notifier.tick()
        #expect(v6.isEmpty)

        // Over: both who were texted hear so, once.
        let back = [DeviceObservation(deviceID: "loa-1", deviceClass: .speaker, villageID: "dong", communeID: "an-phu", state: .ok, since: clock.now())]
        try await service.evaluate(back)
        clock.advance(by: 120)
        try await service.evaluate(back)
        let cleared = try await notifier.tick()
        #expect(Set(cleared.map(\.recipient.value)) == ["+84912345678", "+84987654321"])
        #expect(cleared.allSatisfy { $0.text.hasPrefix("UBND AN PHU: ĐÃ HẾT: mất kết nối loa-1") })
        let v7 = try await notifier.tick()
        #expect(v7.isEmpty)
        await dispatcher.deliverDue()
        #expect(gateway.bodies.count == 5)
        let v8 = try NotificationRepository(db).list()
        #expect(v8.allSatisfy { $0.status == "delivered" })
    }

    @Test func aStormIsOneUnaccentedFormSummaryAndTheHourlyLimitHolds() async throws {
        let gateway = SMSGatewayStandIn()
        let (url, server) = try await gateway.start()
        defer { server.cancel() }
        let db = try world()
        let clock = ManualTimeSource(start)
        let config = SMSConfiguration(
            gateway: SMSGateway(url: url, format: .form, body: "u=wardfleet&phone={to_local}&sms={text}&sender={brand}"),
            policy: SMSPolicy(brand: "UBND AN PHU", unaccented: true, perRecipientPerHour: 2, stormThreshold: 3, escalateAfter: nil),
            templates: try SMSTemplates())
        let notifier = SMSNotifier(database: db, clock: clock, configuration: config)
        let dispatcher = NotificationDispatcher(database: db, sinks: [notifier.sink], clock: clock)
        func raise(_ ids: ClosedRange<Int>) throws {
            try AlarmRepository(db).apply(ids.map { i in
                .raised(Alarm(kind: i % 2 == 0 ? .diskNearlyFull : .offline, severity: .minor, deviceID: "cam-\(i)", deviceClass: .camera,
                              villageID: "tay", communeID: "an-phu", since: clock.now(), raisedAt: clock.now()))
            }, at: clock.now())
        }
        // Five cameras at once: one text for the level-0 contact, not five.
        try raise(1...5)
        let storm = try await notifier.tick()
        #expect(storm.count == 1 && storm[0].isSummary && storm[0].covers.count == 5)
        await dispatcher.deliverDue()
        let body = try #require(gateway.bodies.first)
        #expect(body.hasPrefix("u=wardfleet&phone=0912345678&sms="))
        #expect(body.hasSuffix("&sender=UBND%20AN%20PHU"))
        let sms = try #require(URLComponents(string: "http://x/?" + body)?.queryItems?.first { $0.name == "sms" }?.value)
        #expect(sms == "UBND AN PHU: 5 canh bao cung luc tai Thon Tay: 3 mat ket noi, 2 o luu tru sap day. Xem bang dieu khien WardFleet.")

        // One more: within the storm window, so a (one-alarm) text; then the hourly limit (2) is reached.
        clock.advance(by: 60)
        try raise(6...6)
        let v9 = try await notifier.tick()
        #expect(v9.count == 1)
        clock.advance(by: 60)
        _ = try AlarmRepository(db).acknowledge(try AlarmRepository(db).open().first { $0.deviceID == "cam-1" }!.id!, by: "kt", at: clock.now(), note: nil)
        try AlarmRepository(db).apply([.cleared({ var a = try! AlarmRepository(db).open().first { $0.deviceID == "cam-2" }!; a.clearedAt = clock.now(); return a }())],
                                      at: clock.now())
        let v10 = try await notifier.tick()
        #expect(v10.isEmpty) // held: the limit is 2 an hour
        clock.advance(by: 3600)
        let later = try await notifier.tick()
        #expect(later.count == 1 && later[0].covers.map(\.event) == [.cleared])
        #expect(later[0].text == "UBND AN PHU: DA HET: o luu tru sap day cam-2 tai Nha van hoa Thon Tay, Thon Tay, Xa An Phu.")
    }
}
