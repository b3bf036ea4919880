import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardDomain
import WardStorage
@testable import WardController
@testable import WardHTTP

/// The firmware routes through real HTTP: uploads, the preview, campaigns and their control, a device's
/// history and configuration; roles, and commune scope for a campaign inside one commune and one across two.
@Suite struct FirmwareAPITests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)

    struct World {
        var db: WardDatabase
        var app: Application<MethodGuard<Router<WardRequestContext>>.Responder>
        /// The live feed the event streams read (shared by every copy of the API).
        var feed: LiveFeed
    }

    func world() async throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-fwapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("f.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "dong", level: .village, name: "Thôn Đông", parentID: "an-phu"),
            Place(id: "cot", level: .site, name: "Cột loa", parentID: "dong", siteKind: .pole),
            Place(id: "binh-an", level: .commune, name: "Xã Bình An", parentID: "qn"),
            Place(id: "tay", level: .village, name: "Thôn Tây", parentID: "binh-an"),
            Place(id: "cot-b", level: .site, name: "Cột loa Tây", parentID: "tay", siteKind: .pole),
        ])
        try DeviceRepository(db).upsert([
            Device(id: "LOA-A1", deviceClass: .speaker, model: "WF-LOA", firmware: "1.0.0", siteID: "cot", registeredAt: now),
            Device(id: "LOA-A2", deviceClass: .speaker, model: "WF-LOA", firmware: "1.0.0", siteID: "cot", registeredAt: now),
            Device(id: "LOA-B1", deviceClass: .speaker, model: "WF-LOA", firmware: "1.0.0", siteID: "cot-b", registeredAt: now),
        ])
        let hash = try await OperatorAPI.hashPassword(CommuneScopeTests.password)
        for (name, role, communes) in [("admin", Role.admin, nil), ("admin-a", .admin, ["an-phu"]), ("ky-thuat-a", .technician, ["an-phu"]),
                                       ("van-hoa-a", .operator, ["an-phu"]), ("ky-thuat-b", .technician, ["binh-an"])] as [(String, Role, [String]?)] {
            try BroadcastRepository(db).addUser(User(name: name, role: role, createdAt: now))
            try AuthRepository(db).setPassword(name, hash: hash)
            try AuthRepository(db).setCommunes(name, communes)
        }
        let clock = ManualTimeSource(now)
        var api = OperatorAPI(database: db, clock: clock, library: MediaLibrary(root: dir.appendingPathComponent("media"), database: db))
        api.firmware = FirmwareLibrary(root: dir.appendingPathComponent("firmware"), database: db,
                                       keyPath: dir.appendingPathComponent("signing.key").path, clock: clock)
        api.eventStreamLifetime = .milliseconds(2_500)
        api.eventInterval = .milliseconds(100)
        let server = ControllerHTTPServer(library: api.library!, host: "127.0.0.1", port: 0, api: api)
        return World(db: db, app: Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0))),
                     feed: api.feed)
    }

    typealias Answer = (status: Int, json: Any?, text: String)

    static func call(_ client: any TestClientProtocol, _ h: HTTPFields, _ method: HTTPRequest.Method, _ uri: String,
                     _ body: String? = nil) async throws -> Answer {
        try await client.execute(uri: uri, method: method, headers: h, body: body.map { ByteBuffer(string: $0) }) { r in
            let text = String(buffer: r.body)
            return (Int(r.status.code), try? JSONSerialization.jsonObject(with: Data(text.utf8)), text)
        }
    }

    static func upload(_ client: any TestClientProtocol, _ h: HTTPFields, _ query: String, _ bytes: [UInt8]) async throws -> Answer {
        var headers = h
        headers[.contentType] = "application/octet-stream"
        return try await client.execute(uri: "/api/v1/firmware/images?\(query)", method: .post, headers: headers, body: ByteBuffer(bytes: bytes)) { r in
            let text = String(buffer: r.body)
            return (Int(r.status.code), try? JSONSerialization.jsonObject(with: Data(text.utf8)), text)
        }
    }

    @Test func imagesAreUploadedByAnUnlimitedAdminOnly() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let admin = try await CommuneScopeTests.login(client, "admin")
            let adminA = try await CommuneScopeTests.login(client, "admin-a")
            let tech = try await CommuneScopeTests.login(client, "ky-thuat-a")
            let bytes = Array("firmware 2.0.0 của loa".utf8)
            let q = "class=speaker&model=WF-LOA&version=2.0.0&notes=S%E1%BB%ADa%20l%E1%BB%97i"
            var a = try await Self.upload(client, admin, q, bytes)
            #expect(a.status == 201, "\(a.text)")
            let image = try #require(a.json as? [String: Any])
            #expect(image["version"] as? String == "2.0.0" && (image["signature"] as? String)?.isEmpty == false)
            #expect(image["notes"] as? String == "Sửa lỗi")
            a = try await Self.upload(client, admin, q, bytes)
            #expect(a.status == 200, "the same bytes again: \(a.text)")
            a = try await Self.upload(client, admin, q, Array("another file".utf8))
            #expect(a.status == 409, "another file under a version already there: \(a.text)")
            #expect(try await Self.upload(client, tech, q, bytes).status == 403)
            #expect(try await Self.upload(client, adminA, "class=speaker&model=WF-LOA&version=2.0.1", bytes).status == 403)
            #expect(try await Self.upload(client, admin, "model=WF-LOA&version=2.0.1", bytes).status == 400)
            #expect(try await Self.upload(client, admin, "class=toaster&model=WF-LOA&version=2.0.1", bytes).status == 400)
            #expect(try await Self.upload(client, admin, "class=speaker&model=WF-LOA&version=2.0.1", []).status == 422)
            a = try await Self.call(client, tech, .get, "/api/v1/firmware/images")
            #expect(a.status == 200 && (a.json as? [[String: Any]])?.count == 1, "\(a.text)")
        }
        #expect(try AuthRepository(w.db).auditLog(limit: 100).contains { $0.action == "firmware.add" && $0.user == "admin" })
    }

    @Test func aTechnicianPreviewsCreatesAndControlsACampaignOfTheirCommune() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let admin = try await CommuneScopeTests.login(client, "admin")
            let tech = try await CommuneScopeTests.login(client, "ky-thuat-a")
            let officer = try await CommuneScopeTests.login(client, "van-hoa-a")
            _ = try await Self.upload(client, admin, "class=speaker&model=WF-LOA&version=2.0.0", Array("fw".utf8))
            // The preview counts the caller's communes only, and creates nothing.
            var a = try await Self.call(client, tech, .post, "/api/v1/firmware/preview", #"{"class":"speaker","model":"WF-LOA","waves":"1,rest"}"#)
            #expect(a.status == 200, "\(a.text)")
            #expect((a.json as? [String: Any])?["devices"] as? Int == 2 && (a.json as? [String: Any])?["waves"] as? [Int] == [1, 1], "\(a.text)")
            a = try await Self.call(client, admin, .post, "/api/v1/firmware/preview", #"{"class":"speaker","model":"WF-LOA"}"#)
            #expect((a.json as? [String: Any])?["devices"] as? Int == 3, "\(a.text)")
            a = try await Self.call(client, tech, .post, "/api/v1/firmware/preview", #"{"class":"speaker","model":"WF-LOA","communes":["binh-an"]}"#)
            #expect(a.status == 403, "\(a.text)")
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/preview", #"{"model":"WF-LOA"}"#).status == 400)
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/preview", #"{"class":"speaker","model":"WF-LOA","x":1}"#).status == 400)
            #expect(try await Self.call(client, officer, .post, "/api/v1/firmware/preview", #"{"class":"speaker","model":"WF-LOA"}"#).status == 403)
            #expect(try FirmwareRepository(w.db).campaigns().isEmpty)

            // Created by the technician: their commune's devices, waiting for an admin.
            a = try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns",
                                    #"{"class":"speaker","model":"WF-LOA","image":"2.0.0","name":"Cập nhật loa An Phú","waves":"1,rest","rate_per_minute":30}"#)
            #expect(a.status == 201, "\(a.text)")
            let c = try #require(a.json as? [String: Any])
            let id = try #require(c["id"] as? Int)
            #expect(c["state"] as? String == "awaiting_approval" && c["devices"] as? Int == 2 && c["name"] as? String == "Cập nhật loa An Phú")
            #expect((c["target"] as? [String: Any])?["communes"] as? [String] == ["an-phu"])
            #expect((c["progress"] as? [[String: Any]])?.map { $0["total"] as? Int } == [1, 1])
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns",
                                        #"{"class":"speaker","model":"WF-LOA","image":"9.9.9"}"#).status == 422)
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns",
                                        #"{"class":"speaker","model":"WF-LOA","image":"2.0.0","window":"25:00-01:00"}"#).status == 422)
            // Approval is an admin's; then pause, resume, cancel; a wrong state is 409.
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns/\(id)/approve").status == 403)
            a = try await Self.call(client, admin, .post, "/api/v1/firmware/campaigns/\(id)/approve")
            #expect(a.status == 200 && (a.json as? [String: Any])?["state"] as? String == "running", "\(a.text)")
            #expect(try await Self.call(client, admin, .post, "/api/v1/firmware/campaigns/\(id)/approve").status == 409)
            #expect(try await Self.call(client, officer, .post, "/api/v1/firmware/campaigns/\(id)/pause").status == 403)
            #expect((try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns/\(id)/pause").json as? [String: Any])?["state"] as? String == "paused")
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns/\(id)/pause").status == 409)
            #expect((try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns/\(id)/resume").json as? [String: Any])?["state"] as? String == "running")
            a = try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns/\(id)/cancel")
            #expect((a.json as? [String: Any])?["state"] as? String == "cancelled", "\(a.text)")
            #expect(try await Self.call(client, tech, .post, "/api/v1/firmware/campaigns/\(id)/cancel").status == 409)
            #expect(try await Self.call(client, tech, .get, "/api/v1/firmware/campaigns/999").status == 404)
            #expect(try await Self.call(client, tech, .get, "/api/v1/firmware/campaigns/abc").status == 400)
            // A device's history shows the campaign.
            a = try await Self.call(client, officer, .get, "/api/v1/devices/LOA-A1/firmware")
            let history = try #require((a.json as? [String: Any])?["history"] as? [[String: Any]], "\(a.text)")
            #expect(history.first?["campaign"] as? Int == id && history.first?["version"] as? String == "2.0.0")
            #expect(history.first?["state"] as? String == "cancelled")
        }
        let actions = try AuthRepository(w.db).auditLog(limit: 100).map { "\($0.user) \($0.action)" }
        for line in ["ky-thuat-a firmware.campaign_create", "admin firmware.campaign_approve", "ky-thuat-a firmware.campaign_pause",
                     "ky-thuat-a firmware.campaign_resume", "ky-thuat-a firmware.campaign_cancel"] {
            #expect(actions.contains(line), "\(line) in \(actions)")
        }
    }

    @Test func aCampaignAcrossTwoCommunesShowsEachItsPartAndIsMovedOnlyByWhoCoversAll() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let admin = try await CommuneScopeTests.login(client, "admin")
            let techA = try await CommuneScopeTests.login(client, "ky-thuat-a")
            let techB = try await CommuneScopeTests.login(client, "ky-thuat-b")
            _ = try await Self.upload(client, admin, "class=speaker&model=WF-LOA&version=2.0.0", Array("fw".utf8))
            var a = try await Self.call(client, admin, .post, "/api/v1/firmware/campaigns",
                                        #"{"class":"speaker","model":"WF-LOA","image":"2.0.0","communes":["an-phu","binh-an"],"waves":"rest"}"#)
            let both = try #require((a.json as? [String: Any])?["id"] as? Int, "\(a.text)")
            a = try await Self.call(client, techB, .post, "/api/v1/firmware/campaigns", #"{"class":"speaker","model":"WF-LOA","image":"2.0.0"}"#)
            let onlyB = try #require((a.json as? [String: Any])?["id"] as? Int, "\(a.text)")
            #expect((a.json as? [String: Any])?["devices"] as? Int == 1)

            // A's technician: the shared campaign, their part only; B's own campaign does not exist for them.
            a = try await Self.call(client, techA, .get, "/api/v1/firmware/campaigns")
            let list = try #require(a.json as? [[String: Any]], "\(a.text)")
            #expect(list.map { $0["id"] as? Int } == [both])
            #expect(list.first?["devices"] as? Int == 2 && list.first?["partial"] as? Bool == true)
            #expect(!a.text.contains("LOA-B1") && !a.text.contains("binh-an"), "\(a.text)")
            a = try await Self.call(client, techA, .get, "/api/v1/firmware/campaigns/\(both)")
            #expect(a.status == 200 && !a.text.contains("binh-an") && !a.text.contains("LOA-B1"), "\(a.text)")
            #expect(((a.json as? [String: Any])?["target"] as? [String: Any])?["communes"] as? [String] == ["an-phu"])
            #expect(try await Self.call(client, techA, .get, "/api/v1/firmware/campaigns/\(onlyB)").status == 404)
            #expect(try await Self.call(client, techA, .post, "/api/v1/firmware/campaigns/\(onlyB)/cancel").status == 404)
            // Moving the shared campaign needs someone who covers both communes.
            a = try await Self.call(client, techA, .post, "/api/v1/firmware/campaigns/\(both)/cancel")
            #expect(a.status == 403 && !a.text.contains("binh-an"), "\(a.text)")
            #expect(try FirmwareRepository(w.db).campaign(Int64(both))?.state == .awaitingApproval)
            a = try await Self.call(client, admin, .get, "/api/v1/firmware/campaigns/\(both)")
            #expect((a.json as? [String: Any])?["devices"] as? Int == 3 && (a.json as? [String: Any])?["partial"] as? Bool == false)
            #expect(try await Self.call(client, admin, .post, "/api/v1/firmware/campaigns/\(both)/cancel").status == 200)
            // A device of another commune: its history and configuration are not found.
            #expect(try await Self.call(client, techA, .get, "/api/v1/devices/LOA-B1/firmware").status == 404)
            #expect(try await Self.call(client, techA, .get, "/api/v1/devices/LOA-B1/config").status == 404)
            #expect(try await Self.call(client, techA, .put, "/api/v1/devices/LOA-B1/config", #"{"heartbeat_s":60}"#).status == 404)
        }
    }

    /// The console's campaign page updates from the live stream: a `firmware` event names the campaign that
    /// changed, sent to the communes of its devices only.
    @Test func aCampaignChangeIsALiveEventForItsCommunesOnly() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let admin = try await CommuneScopeTests.login(client, "admin")
            let techA = try await CommuneScopeTests.login(client, "ky-thuat-a")
            let techB = try await CommuneScopeTests.login(client, "ky-thuat-b")
            _ = try await Self.upload(client, admin, "class=speaker&model=WF-LOA&version=2.0.0", Array("fw".utf8))
            let a = try await Self.call(client, techA, .post, "/api/v1/firmware/campaigns", #"{"class":"speaker","model":"WF-LOA","image":"2.0.0"}"#)
            let id = try #require((a.json as? [String: Any])?["id"] as? Int, "\(a.text)")
            // Two consoles at once, each on its own connection (the test client sends one request at a time, so its two
            // streams would run one after the other and the second would only ever see what came before it).
            let port = try #require(client.port)
            @Sendable func stream(_ h: HTTPFields) async throws -> String {
                var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/events")!)
                for f in h { r.setValue(f.value, forHTTPHeaderField: f.name.rawName) }
                r.timeoutInterval = 30
                return String(decoding: try await URLSession.shared.data(for: r).0, as: UTF8.self)
            }
            async let streamA = stream(techA)
            async let streamB = stream(techB)
            // Both streams listen, and the feed has looked at storage since (its measure of what changes): the
            // approval below is then a change for both. (A fixed sleep lost the race when a stream came late.)
            let deadline = ContinuousClock.now + .seconds(10)
            while w.feed.progress.listeners < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let looked = w.feed.progress.looks
            while w.feed.progress.looks <= looked, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try #require(w.feed.progress.listeners == 2 && w.feed.progress.looks > looked, "the event streams never both listened")
            // Approved meanwhile (as another process would: the test client's calls wait for the streams to end).
            _ = try FirmwareCampaigns(database: w.db).approve(Int64(id), by: "admin")
            let (textA, textB) = try await (streamA, streamB)
            #expect(textA.contains("event: firmware") && textA.contains(#"{"campaign":\#(id)}"#), "\(textA.suffix(400))")
            #expect(!textB.contains("event: firmware"), "\(textB.suffix(400))")
        }
    }

    @Test func aDevicesConfigurationIsSetAndItsDriftShown() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let tech = try await CommuneScopeTests.login(client, "ky-thuat-a")
            let officer = try await CommuneScopeTests.login(client, "van-hoa-a")
            var a = try await Self.call(client, officer, .get, "/api/v1/devices/LOA-A1/config")
            #expect(((a.json as? [String: Any])?["drift"] as? [String: Any])?["state"] as? String == "unset", "\(a.text)")
            #expect(try await Self.call(client, officer, .put, "/api/v1/devices/LOA-A1/config", #"{"heartbeat_s":60}"#).status == 403)
            a = try await Self.call(client, tech, .put, "/api/v1/devices/LOA-A1/config", #"{"heartbeat_s":60,"max_volume":80,"ntp":["pool.ntp.org"]}"#)
            #expect(a.status == 200, "\(a.text)")
            let c = try #require(a.json as? [String: Any])
            #expect(c["version"] as? Int == 1 && (c["desired"] as? [String: Any])?["max_volume"] as? Int == 80)
            #expect((c["drift"] as? [String: Any])?["state"] as? String == "pending" && (c["drift"] as? [String: Any])?["drifting"] as? Bool == true)
            #expect(try await Self.call(client, tech, .put, "/api/v1/devices/LOA-A1/config", #"{"retention_days":7}"#).status == 422)
            #expect(try await Self.call(client, tech, .put, "/api/v1/devices/LOA-A1/config", #"{"heartbeat_s":0}"#).status == 422)
            #expect(try await Self.call(client, tech, .put, "/api/v1/devices/LOA-A1/config", #"{"volume":10}"#).status == 400)
            #expect(try await Self.call(client, tech, .put, "/api/v1/devices/LOA-A1/config", "{}").status == 422)
            // The device applies version 1 but runs another volume: the field that differs is named.
            var batch = IngestBatch()
            batch.configReports = [ConfigReportRecord(deviceID: "LOA-A1", version: 1, result: .applied, detail: nil,
                                                      reported: DeviceSettings(heartbeatSeconds: 60, maxVolume: 70, ntp: ["pool.ntp.org"]),
                                                      receivedAt: now)]
            try IngestRepository(w.db).write(batch)
            a = try await Self.call(client, officer, .get, "/api/v1/devices/LOA-A1/config")
            let drift = try #require((a.json as? [String: Any])?["drift"] as? [String: Any], "\(a.text)")
            #expect(drift["state"] as? String == "differs" && drift["fields"] as? [String] == ["max_volume"], "\(a.text)")
        }
        #expect(try AuthRepository(w.db).auditLog(limit: 100).contains { $0.action == "device.config" && $0.user == "ky-thuat-a" })
    }
}
