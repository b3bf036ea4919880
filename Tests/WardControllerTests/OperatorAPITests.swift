import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
import WardDomain
import WardProtocol
import WardStorage
import Yams
@testable import WardController
@testable import WardHTTP

/// The operators' API over a real HTTP server: roles, sessions, CSRF, lockout, bad input, audit.
@Suite struct OperatorAPITests {
    static let password = "mat-khau-dai-2026"
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    struct Fixture {
        var db: WardDatabase
        var api: OperatorAPI
        var app: Application<MethodGuard<Router<WardRequestContext>>.Responder>
    }

    func fixture(publisher: (any SchedulePublisher)? = nil, configure: (inout OperatorAPI) -> Void = { _ in }) async throws -> Fixture {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("a.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "binh-an", level: .commune, name: "Xã Bình An", parentID: "qn"),
            Place(id: "dong", level: .village, name: "Thôn Đông", parentID: "an-phu"),
            Place(id: "cot", level: .site, name: "Cột loa", parentID: "dong", siteKind: .pole),
        ])
        try DeviceRepository(db).upsert([Device(id: "loa-1", deviceClass: .speaker, siteID: "cot", registeredAt: now)])
        let hash = try await OperatorAPI.hashPassword(Self.password)
        for role in Role.allCases {
            try BroadcastRepository(db).addUser(User(name: "u-\(role.rawValue)", role: role, createdAt: now))
            try AuthRepository(db).setPassword("u-\(role.rawValue)", hash: hash)
        }
        let library = MediaLibrary(root: dir.appendingPathComponent("media"), database: db)
        var api = OperatorAPI(database: db, clock: ManualTimeSource(now), library: library, publisher: publisher)
        api.eventStreamLifetime = .zero  // one pass, so requests in tests end
        api.streamProbe = DeadSourceProbe()  // no network in unit tests: sources named "dead" do not answer
        configure(&api)
        let server = ControllerHTTPServer(library: library, host: "127.0.0.1", port: 0, api: api)
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return Fixture(db: db, api: api, app: app)
    }

    struct Session {
        var cookie: String
        var csrf: String
        var headers: HTTPFields { [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf, .contentType: "application/json"] }
    }

    static func body(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    static func login(_ client: any TestClientProtocol, _ user: String, _ password: String = password) async throws -> Session? {
        try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                                 body: body(#"{"user":"\#(user)","password":"\#(password)"}"#)) { r in
            guard r.status == .ok, let set = r.headers[.setCookie] else { return nil }
            let json = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
            #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict"))
            return Session(cookie: String(set.split(separator: ";")[0]), csrf: json?["csrf"] as? String ?? "")
        }
    }

    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: "{id}", with: "x").replacingOccurrences(of: "{month}", with: "2026-10")
            .replacingOccurrences(of: "{name}", with: "nobody").replacingOccurrences(of: "{commune}", with: "an-phu")
            .replacingOccurrences(of: "/tokens/{id}", with: "/tokens/tok-0")
    }

    @Test func roleMatrixEveryRoleCanDoWhatItShouldAndNothingMore() async throws {
        let f = try await fixture()
        try await f.app.test(.live) { client in
            var sessions: [Role: Session] = [:]
            for role in Role.allCases { sessions[role] = try #require(try await Self.login(client, "u-\(role.rawValue)")) }
            for route in f.api.routes where route.permission != nil && route.path != "/api/v1/logout" {
                let uri = Self.concrete(route.path)
                // Signed out: 401 everywhere.
                let anonymous = try await client.execute(uri: uri, method: route.method, headers: [.contentType: "application/json"],
                                                         body: Self.body("{}")) { $0.status }
                #expect(anonymous == .unauthorized, "\(route.method) \(route.path) signed out")
                for role in Role.allCases {
                    let status = try await client.execute(uri: uri, method: route.method, headers: sessions[role]!.headers,
                                                          body: route.method == .get ? nil : Self.body("{}")) { $0.status }
                    if role.can(route.permission!) {
                        #expect(status != .forbidden && status != .unauthorized, "\(role) \(route.method) \(route.path): \(status)")
                    } else {
                        #expect(status == .forbidden, "\(role) \(route.method) \(route.path): \(status)")
                    }
                }
            }
        }
        // The matrix itself, spelled out.
        #expect(Role.viewer.permissions == [.view])
        #expect(Role.operator.can(.schedule) && !Role.operator.can(.approve) && !Role.operator.can(.sendEmergency))
        #expect(Role.approver.can(.approve) && Role.approver.can(.sendEmergency) && !Role.approver.can(.manageDevices))
        #expect(Role.technician.can(.manageDevices) && Role.technician.can(.acknowledgeAlarms) && !Role.technician.can(.schedule))
        #expect(Role.admin.can(.manageUsers) && Role.admin.can(.viewAudit) && !Role.approver.can(.viewAudit))
    }

    @Test func csrfTokensBearerTokensAndLockout() async throws {
        let f = try await fixture { $0.throttle = LoginThrottle(maxFailures: 3, lockout: 900) }
        try await f.app.test(.live) { client in
            let admin = try #require(try await Self.login(client, "u-admin"))
            // A change without the CSRF header is refused even with a valid session cookie.
            let noCSRF = try await client.execute(uri: "/api/v1/alarms/1/ack", method: .post,
                                                  headers: [.cookie: admin.cookie, .contentType: "application/json"], body: Self.body("{}")) { $0.status }
            #expect(noCSRF == .forbidden)
            // API token for scripts: no cookie, no CSRF.
            let token = try await client.execute(uri: "/api/v1/users/u-viewer/tokens", method: .post, headers: admin.headers,
                                                 body: Self.body(#"{"label":"báo cáo tự động"}"#)) { r in
                (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["token"] as? String
            }
            let me = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(try #require(token))"]) { r in
                String(buffer: r.body)
            }
            #expect(me.contains("u-viewer"))
            let badToken = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer wft_nope"]) { $0.status }
            #expect(badToken == .unauthorized)

            // Three wrong passwords lock the account; then even the right one is refused (423).
            for _ in 0..<3 { #expect(try await Self.login(client, "u-operator", "sai-mat-khau-1") == nil) }
            let locked = try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                                                  body: Self.body(#"{"user":"u-operator","password":"\#(Self.password)"}"#)) { $0.status.code }
            #expect(locked == 423)
            // Logging out ends the session.
            _ = try await client.execute(uri: "/api/v1/logout", method: .post, headers: admin.headers, body: Self.body("{}")) { $0.status }
            let after = try await client.execute(uri: "/api/v1/me", method: .get, headers: admin.headers) { $0.status }
            #expect(after == .unauthorized)
        }
        let audit = try AuthRepository(f.db).auditLog()
        #expect(audit.contains { $0.action == "login.lockout" && $0.user == "u-operator" })
        #expect(audit.contains { $0.action == "user.token" && $0.target == "u-viewer" })
    }

    @Test func loginAttemptsAreRateLimitedPerAddress() async throws {
        let f = try await fixture { $0.loginsPerMinute = 4 }
        try await f.app.test(.live) { client in
            var statuses: [Int] = []
            for i in 0..<6 {
                statuses.append(try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                                                         body: Self.body(#"{"user":"u-x\#(i)","password":"whatever-long"}"#)) { $0.status.code })
            }
            #expect(statuses == [401, 401, 401, 401, 429, 429])
        }
    }

    @Test func badInputIsRefusedOrRenderedInert() async throws {
        let f = try await fixture()
        try await f.app.test(.live) { client in
            let s = try #require(try await Self.login(client, "u-admin"))
            func post(_ uri: String, _ body: ByteBuffer) async throws -> (Int, String) {
                try await client.execute(uri: uri, method: .post, headers: s.headers, body: body) { r in
                    #expect(r.headers[.contentType] == "application/json; charset=utf-8")
                    #expect(r.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                    return (r.status.code, String(buffer: r.body))
                }
            }
            var (st, text) = try await post("/api/v1/broadcasts", Self.body("{not json"))
            #expect(st == 400 && text.contains("\"error\""))
            (st, text) = try await post("/api/v1/broadcasts", Self.body(#"{"title": 42}"#))
            #expect(st == 400 && text.contains("title"))
            (st, text) = try await post("/api/v1/broadcasts", Self.body(#"{"title":"x","admin":true}"#))
            #expect(st == 400 && text.contains("admin"))
            (st, text) = try await post("/api/v1/broadcasts", Self.body("[1,2,3]"))
            #expect(st == 400)
            (st, _) = try await post("/api/v1/broadcasts", ByteBuffer(repeating: UInt8(ascii: " "), count: OperatorAPI.maxBody + 10))
            #expect(st == 413)
            // SQL and script in text fields are stored as text and come back escaped.
            let evil = #"<script>alert(1)</script>'; DROP TABLE users;--"#
            (st, text) = try await post("/api/v1/broadcasts", Self.body("""
                {"title": \(String(decoding: try JSONEncoder().encode(evil), as: UTF8.self)), "stream": "http://dai.huyen.vn/live", "minutes": 5,
                 "day": "2026-09-25", "time": "07:00", "communes": ["an-phu"]}
                """))
            #expect(st == 201, "\(text)")
            // As data it stays exactly what was typed (JSON, nosniff: never run); HTML pages escape it.
            #expect(ReportRenderer().esc(evil) == "&lt;script&gt;alert(1)&lt;/script&gt;&#39;; DROP TABLE users;--")
            let stored = try BroadcastRepository(f.db).list().first
            #expect(stored?.item.title == evil)
            #expect(try BroadcastRepository(f.db).users().count == Role.allCases.count)  // the users table is intact
            (st, text) = try await post("/api/v1/users", Self.body(#"{"name":"x'; DROP TABLE users;--","role":"admin","password":"aaaaaaaaaaaa"}"#))
            #expect(st == 400)
            (st, text) = try await post("/api/v1/users", Self.body(#"{"name":"kt-lan","role":"superuser","password":"aaaaaaaaaaaa"}"#))
            #expect(st == 400 && text.contains("role"))
            (st, text) = try await post("/api/v1/users", Self.body(#"{"name":"kt-lan","role":"technician","password":"ngan"}"#))
            #expect(st == 400 && text.contains("10"))
        }
        let audit = try AuthRepository(f.db).auditLog()
        #expect(audit.contains { $0.action == "broadcast.schedule" && $0.user == "u-admin" })
        #expect(throws: (any Error).self) { try f.db.pool.write { try $0.execute(sql: "DELETE FROM audit_log") } }
    }

    /// The rest of the CLI through the API: registration, telemetry, edits, groups, quiet hours,
    /// alarm rules, KPI targets, kept reports, user changes; each change in the audit log.
    /// Stands in for the controller: each command published is acknowledged by the device and
    /// stored the way the ingest flush stores it, a moment later.
    final class AcknowledgingBroker: SchedulePublisher {
        let db = Mutex<WardDatabase?>(nil)
        let commands = Mutex<[String]>([])
        func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool) throws {
            let cmd = try JSONDecoder().decode(CommandMessage.self, from: Data(payload))
            commands.withLock { $0.append(topic) }
            let db = self.db.withLock { $0 }!
            Task.detached {
                try await Task.sleep(for: .milliseconds(30))
                var batch = IngestBatch()
                batch.acks = [AckRecord(deviceID: "loa-1", cmdID: cmd.cmdID, result: "ok", detail: "volume \(cmd.volume ?? -1)", receivedAt: Date())]
                let repo = IngestRepository(db)
                try repo.write(batch, run: try repo.startRun(at: Date()).0)
            }
        }
    }

    /// What the ingest path stores when `loa-1` sends this birth.
    func born(_ db: WardDatabase, capabilities: [String], model: String = "M", firmware: String = "1.0") throws {
        var batch = IngestBatch()
        let birth = #"{"boot":"b1","capabilities":[\#(capabilities.map { "\"\($0)\"" }.joined(separator: ","))],"class":"speaker","device":"loa-1","firmware":"\#(firmware)","heartbeat_s":30,"model":"\#(model)","v":1}"#
        var l = DeviceLiveness(deviceClass: .speaker, config: DeviceConfig(), since: now)
        l.state = .ok  // connected: commands go only to devices that are
        batch.statuses = [DeviceStatusRecord(deviceID: "loa-1", liveness: l, birth: birth)]
        try IngestRepository(db).write(batch)
    }

    @Test func aCommandWaitsForItsAcknowledgement() async throws {
        let broker = AcknowledgingBroker()
        let f = try await fixture(publisher: broker)
        broker.db.withLock { $0 = f.db }
        try born(f.db, capabilities: ["set_volume", "ping"])
        let db = f.db, now = self.now
        @Sendable func record(_ state: HealthState) throws {
            var l = DeviceLiveness(deviceClass: .speaker, config: DeviceConfig(), since: now)
            l.state = state
            var batch = IngestBatch()
            batch.statuses = [DeviceStatusRecord(deviceID: "loa-1", liveness: l)]
            try IngestRepository(db).write(batch, run: try IngestRepository(db).startRun(at: now).0)
        }
        try await f.app.test(.live) { client in
            let tech = try #require(try await Self.login(client, "u-technician"))
            // Not connected (never, or not now): refused at once, nothing sent.
            for state in [HealthState.unknown, .offline] {
                try record(state)
                let (st, text) = try await client.execute(uri: "/api/v1/devices/loa-1/commands", method: .post, headers: tech.headers,
                                                          body: Self.body(#"{"command":"ping"}"#)) { ($0.status.code, String(buffer: $0.body)) }
                #expect(st == 409 && text.contains("thiết bị") && text.contains(#""code":"conflict""#), "\(state): \(text)")
            }
            #expect(broker.commands.withLock { $0 }.isEmpty)
            try record(.ok)
            let (st, text) = try await client.execute(uri: "/api/v1/devices/loa-1/commands", method: .post, headers: tech.headers,
                                                      body: Self.body(#"{"command":"set_volume","volume":60}"#)) { ($0.status.code, String(buffer: $0.body)) }
            #expect(st == 200 && text.contains("\"result\":\"ok\"") && text.contains("volume 60"), "\(text)")
            #expect(broker.commands.withLock { $0 } == ["wardfleet/v1/an-phu/loa-1/cmd"])
            let refused = try await client.execute(uri: "/api/v1/devices/loa-1/commands", method: .post, headers: tech.headers,
                                                   body: Self.body(#"{"command":"set_volume","volume":101}"#)) { $0.status.code }
            #expect(refused == 400)
            #expect(broker.commands.withLock { $0.count } == 1, "a refused command is not sent")
        }
    }

    /// A device that acknowledged a reboot restarts: a command sent before it is back with a new
    /// boot is refused at once (409), not left to wait 10 s for an answer that cannot come.
    @Test func aRestartingDeviceIsRefusedUntilItIsBackWithANewBoot() async throws {
        let broker = AcknowledgingBroker()
        let f = try await fixture(publisher: broker)
        broker.db.withLock { $0 = f.db }
        try born(f.db, capabilities: ["reboot", "ping"])
        let db = f.db, now = self.now
        @Sendable func record(boot: String) throws {
            var l = DeviceLiveness(deviceClass: .speaker, config: DeviceConfig(), since: now)
            l.state = .ok
            l.bootID = boot
            var batch = IngestBatch()
            batch.statuses = [DeviceStatusRecord(deviceID: "loa-1", liveness: l)]
            try IngestRepository(db).write(batch, run: try IngestRepository(db).startRun(at: now).0)
        }
        try record(boot: "b-1")
        try await f.app.test(.live) { client in
            let tech = try #require(try await Self.login(client, "u-technician"))
            func send(_ command: String) async throws -> (Int, String) {
                try await client.execute(uri: "/api/v1/devices/loa-1/commands", method: .post, headers: tech.headers,
                                         body: Self.body(#"{"command":"\#(command)"}"#)) { (Int($0.status.code), String(buffer: $0.body)) }
            }
            #expect(try await send("reboot").0 == 200)
            let (st, text) = try await send("ping")
            #expect(st == 409 && text.contains("khởi động lại"), "\(text)")
            #expect(broker.commands.withLock { $0.count } == 1, "nothing sent to a restarting device")
            try record(boot: "b-2")
            #expect(try await send("ping").0 == 200, "back with a new boot")
        }
    }

    /// Issue 13 (3i, 3h): a command the device did not declare is refused with 422 and not sent;
    /// the device page shows what the device reports beside what was registered.
    @Test func commandsOutsideTheCapabilitiesAreRefusedAndTheBirthIsShown() async throws {
        let broker = AcknowledgingBroker()
        let f = try await fixture(publisher: broker)
        broker.db.withLock { $0 = f.db }
        try await f.app.test(.live) { client in
            let tech = try #require(try await Self.login(client, "u-technician"))
            func send(_ body: String) async throws -> (Int, String) {
                try await client.execute(uri: "/api/v1/devices/loa-1/commands", method: .post, headers: tech.headers,
                                         body: Self.body(body)) { ($0.status.code, String(buffer: $0.body)) }
            }
            // No birth heard: nothing is sent.
            let (unknown, why) = try await send(#"{"command":"ping"}"#)
            #expect(unknown == 422 && why.contains("chưa biết") && why.contains(#""code":"capabilities_unknown""#), "\(why)")
            try born(f.db, capabilities: ["ping"], model: "VNPT iSpeaker 4G", firmware: "2.3.1")
            let (undeclared, why2) = try await send(#"{"command":"reboot"}"#)
            #expect(undeclared == 422 && why2.contains("reboot") && why2.contains("ping"), "\(why2)")
            #expect(broker.commands.withLock { $0.isEmpty }, "a refused command was sent")
            let (ok, _) = try await send(#"{"command":"ping"}"#)
            #expect(ok == 200 && broker.commands.withLock { $0.count } == 1)

            try DeviceRepository(f.db).upsert([Device(id: "loa-1", deviceClass: .speaker, model: "Loa Viettel", firmware: "2.3.1", siteID: "cot",
                                                      registeredAt: now)])
            let page = try await client.execute(uri: "/api/v1/devices/loa-1", method: .get, headers: tech.headers) { r in
                try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
            }
            let reported = page?["reported"] as? [String: Any]
            #expect(page?["model"] as? String == "Loa Viettel" && reported?["model"] as? String == "VNPT iSpeaker 4G")
            #expect(reported?["model_mismatch"] as? Bool == true && reported?["firmware_mismatch"] as? Bool == false)
            #expect(page?["commands"] as? [String] == ["ping"])
        }
    }

    @Test func everythingTheCLIDoesIsDoableThroughTheAPI() async throws {
        let f = try await fixture()
        // Two telemetry samples an hour apart, as the ingestor stores them.
        var batch = IngestBatch()
        for (i, v) in [40, 65].enumerated() {
            let at = now.addingTimeInterval(Double(i - 2) * 3600)
            batch.samples.append(TelemetryRecord(deviceID: "loa-1", receivedAt: at, deviceTime: at, boot: "b1", seq: UInt64(i + 1),
                                                   payload: #"{"v":1,"ts":1,"seq":\#(i + 1),"speaker":{"volume":\#(v),"amp_ok":true,"label":"x"}}"#))
        }
        try IngestRepository(f.db).write(batch, run: try IngestRepository(f.db).startRun(at: now).0)
        try await f.app.test(.live) { client in
            let admin = try #require(try await Self.login(client, "u-admin"))
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, _ s: Session? = nil) async throws -> (Int, String) {
                try await client.execute(uri: uri, method: method, headers: (s ?? admin).headers, body: body.map(Self.body)) { r in
                    (r.status.code, String(buffer: r.body))
                }
            }
            // Places and registration.
            var (st, text) = try await call(.post, "/api/v1/places/import", """
                province:
                  id: qn
                  name: Quảng Ninh
                  communes:
                    - id: an-phu
                      name: Xã An Phú
                      villages:
                        - id: tay
                          name: Thôn Tây
                          sites:
                            - {id: nvh-tay, name: Nhà văn hóa thôn Tây, kind: cultural_house}
                """)
            #expect(st == 200 && text.contains("\"places_new\":2"), "\(text)")
            (st, text) = try await call(.post, "/api/v1/devices", #"{"id":"cam-tay","device_class":"camera","site":"nvh-tay","retention_days":30}"#)
            #expect(st == 201, "\(text)")
            (st, text) = try await call(.post, "/api/v1/devices", #"{"id":"cam-2","device_class":"camera","site":"khong-co"}"#)
            #expect(st == 422 && text.contains("khong-co"))
            (st, _) = try await call(.delete, "/api/v1/devices/cam-tay")
            #expect(st == 200)
            #expect(try DeviceRepository(f.db).get("cam-tay")?.removedAt != nil)
            (st, _) = try await call(.delete, "/api/v1/devices/cam-tay")
            #expect(st == 404)
            // A one-time claim code, shown once; only its hash is kept.
            (st, text) = try await call(.post, "/api/v1/devices/loa-1/claim-code", #"{"valid_hours":24}"#)
            #expect(st == 201, "\(text)")
            let issued = try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
            let code = try #require(issued["code"])
            #expect(try ClaimRepository(f.db).lookup(device: "loa-1", at: now) == .open(secret: try #require(ClaimCode.secret(code))))
            #expect(try AuthRepository(f.db).auditLog().contains { $0.action == "device.claim_code" && $0.target == "loa-1" })
            (st, text) = try await call(.post, "/api/v1/devices/loa-1/claim-code", #"{"valid_hours":0}"#)
            #expect(st == 422 && text.contains("2160"), "\(text)")
            (st, _) = try await call(.post, "/api/v1/devices/cam-tay/claim-code", "{}")
            #expect(st == 404, "a removed device gets no code")
            (st, _) = try await call(.post, "/api/v1/devices", #"{"id":"ap-tay","device_class":"access_point","site":"nvh-tay"}"#)
            (st, _) = try await call(.post, "/api/v1/devices/ap-tay/claim-code", "{}")
            #expect(st == 201)
            (st, _) = try await call(.delete, "/api/v1/devices/ap-tay")
            #expect(st == 200)
            #expect(try ClaimRepository(f.db).lookup(device: "ap-tay", at: now) == ClaimRepository.Lookup.none, "its unused code went with it")
            // Telemetry charts: numeric fields only (booleans as 0/1), oldest first.
            (st, text) = try await call(.get, "/api/v1/devices/loa-1/telemetry?hours=24")
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let series = try decoder.decode([TelemetrySeries].self, from: Data(text.utf8))
            #expect(series.map(\.field) == ["speaker.amp_ok", "speaker.volume"])
            #expect(series.last?.points.map(\.value) == [40, 65])

            // The radio: an item, edited by its operator (back to approval), a group, quiet hours.
            let op = try #require(try await Self.login(client, "u-operator"))
            (st, text) = try await call(.post, "/api/v1/broadcasts", """
                {"title":"Lịch tiêm chủng","stream":"http://dai.huyen.vn/live","minutes":10,"day":"2026-09-25","time":"07:00","communes":["an-phu"]}
                """, op)
            #expect(st == 201, "\(text)")
            let id = try #require(try BroadcastRepository(f.db).list().first?.id)
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"title":"Lịch tiêm chủng (sửa)","volume":60}"#, op)
            #expect(st == 200 && text.contains("Lịch tiêm chủng (sửa)") && text.contains("pending_approval"), "\(text)")
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"time":"25:00","day":"2026-09-25"}"#, op)
            #expect(st == 400, "\(text)")
            (st, _) = try await call(.patch, "/api/v1/broadcasts/khong-co", #"{"volume":10}"#, op)
            #expect(st == 404)
            (st, text) = try await call(.put, "/api/v1/groups/Ch%E1%BB%A3", #"{"speakers":["loa-1"]}"#, op)
            #expect(st == 200, "\(text)")
            #expect(try BroadcastRepository(f.db).groups()["Chợ"] == ["loa-1"])
            (st, _) = try await call(.put, "/api/v1/quiet-hours/an-phu", #"{"from":"22:00","to":"05:00"}"#, op)
            #expect(st == 403)  // a commune's quiet hours are the approver's
            (st, text) = try await call(.put, "/api/v1/quiet-hours/an-phu", #"{"from":"22:00","to":"05:00"}"#)
            #expect(st == 200 && text.contains("22:00"))

            // Settings: an alarm rule, KPI targets (out of range refused).
            (st, text) = try await call(.put, "/api/v1/alarms/rules", #"{"kind":"disk_nearly_full","threshold":0.85}"#)
            #expect(st == 200 && text.contains("0.85"), "\(text)")
            #expect(try SettingsRepository(f.db).alarmRules().rule(.diskNearlyFull, .camera)?.threshold == 0.85)
            (st, text) = try await call(.put, "/api/v1/kpi/targets", #"{"satisfaction":0.92}"#)
            #expect(st == 200 && text.contains("0.92"))
            (st, text) = try await call(.put, "/api/v1/kpi/targets", #"{"satisfaction":1.5}"#)
            #expect(st == 422 && text.contains("1.5"))
            (st, text) = try await call(.put, "/api/v1/kpi/targets", #"{"vui_ve":0.5}"#)
            #expect(st == 400 && text.contains("vui_ve"))

            // Reports: keep a month, list, download the kept HTML.
            (st, text) = try await call(.post, "/api/v1/reports/2026-08/keep", "{}")
            #expect(st == 201, "\(text)")
            (st, text) = try await call(.get, "/api/v1/reports")
            #expect(text.contains("2026-08"))
            (st, text) = try await call(.get, "/api/v1/reports/2026-08/kept?format=html&lang=vi")
            #expect(st == 200 && text.contains("<html"))

            // Users: a role change ends that user's sessions; changing one's own password needs the current one.
            (st, _) = try await call(.patch, "/api/v1/users/u-operator", #"{"role":"viewer"}"#)
            #expect(st == 200)
            (st, _) = try await call(.get, "/api/v1/me", nil, op)
            #expect(st == 401)
            (st, _) = try await call(.patch, "/api/v1/users/u-admin", #"{"role":"viewer"}"#)
            #expect(st == 409)
            let tech = try #require(try await Self.login(client, "u-technician"))
            (st, _) = try await call(.post, "/api/v1/me/password", #"{"current":"sai-roi-nhe","new":"mat-khau-moi-2026"}"#, tech)
            #expect(st == 403)
            (st, _) = try await call(.post, "/api/v1/me/password", #"{"current":"\#(Self.password)","new":"mat-khau-moi-2026"}"#, tech)
            #expect(st == 200)
            #expect(try await Self.login(client, "u-technician", "mat-khau-moi-2026") != nil)
        }
        let actions = Set(try AuthRepository(f.db).auditLog().map(\.action))
        for a in ["places.import", "device.register", "device.remove", "broadcast.edit", "group.set", "quiet_hours.set", "alarm_rule.set",
                  "kpi_targets.set", "report.keep", "user.change", "user.password"] {
            #expect(actions.contains(a), "audit: \(a)")
        }
    }

    @Test func communeLimitedUsersSeeAndTouchOnlyTheirCommunes() async throws {
        let f = try await fixture()
        try AuthRepository(f.db).setCommunes("u-approver", ["binh-an"])
        try await f.app.test(.live) { client in
            let s = try #require(try await Self.login(client, "u-approver"))
            let devices = try await client.execute(uri: "/api/v1/devices", method: .get, headers: s.headers) { String(buffer: $0.body) }
            #expect(devices == "[]")  // loa-1 is in An Phú
            let st = try await client.execute(uri: "/api/v1/emergency", method: .post, headers: s.headers, body: Self.body("""
                {"title":"Bão số 3","stream":"http://dai.tinh.vn/live","minutes":5,"communes":["an-phu"]}
                """)) { $0.status }
            #expect(st == .forbidden)
        }
    }

    /// Issue 19, item 7: a relay of a source where nothing listens went on the schedule without a word.
    /// The answer now warns, in the caller's language; a source that answers gets no warning.
    @Test func schedulingARelayWhoseSourceDoesNotAnswerWarns() async throws {
        let f = try await fixture()
        try await f.app.test(.live) { client in
            let s = try #require(try await Self.login(client, "u-approver"))
            func schedule(_ url: String, _ time: String, lang: String = "vi") async throws -> [String: Any] {
                try await client.execute(uri: "/api/v1/broadcasts?lang=\(lang)", method: .post, headers: s.headers, body: Self.body("""
                    {"title":"Tiếp sóng","stream":"\(url)","minutes":10,"day":"2026-09-25","time":"\(time)","communes":["an-phu"]}
                    """)) { r in
                    #expect(r.status == .created, "\(String(buffer: r.body))")
                    return try #require(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
                }
            }
            #expect(try await schedule("http://dai.huyen.vn/live", "07:00")["warnings"] == nil)
            let vi = try #require(try await schedule("http://dead.huyen.vn/live", "08:00")["warnings"] as? [String])
            #expect(vi.count == 1 && vi[0].contains("không mở được nguồn tiếp sóng") && !vi[0].contains(" / "), "\(vi)")
            let en = try #require(try await schedule("http://dead.huyen.vn/live", "09:00", lang: "en")["warnings"] as? [String])
            #expect(en.count == 1 && en[0].contains("cannot be opened") && en[0].contains("connection refused"), "\(en)")
            let e = try await client.execute(uri: "/api/v1/emergency", method: .post, headers: s.headers, body: Self.body("""
                {"title":"Bão số 3","stream":"http://dead.tinh.vn/live","minutes":5,"communes":["an-phu"]}
                """)) { String(buffer: $0.body) }
            #expect(e.contains("\"warnings\""), "\(e)")
        }
    }

    @Test func liveEventsStreamDeviceChanges() async throws {
        let f = try await fixture {
            $0.eventStreamLifetime = .seconds(3)
            $0.eventInterval = .milliseconds(100)
        }
        try await f.app.test(.live) { client in
            let s = try #require(try await Self.login(client, "u-viewer"))
            let db = f.db
            // While the stream is open, the speaker goes offline and back (as the controller would
            // record it), again and again until the stream ends: whenever the stream starts on a
            // loaded machine, it sees the speaker go offline.
            let done = ManagedFlag()
            let change = Task {
                var round = 0
                while !done.isSet {
                    round += 1
                    var l = DeviceLiveness(deviceClass: .speaker, config: DeviceConfig(), since: Date(timeIntervalSince1970: 1_790_000_100))
                    l.state = round % 2 == 1 ? .offline : .ok
                    l.faults = round % 2 == 1 ? [Fault(.lastWill)] : []
                    var batch = IngestBatch()
                    batch.statuses = [DeviceStatusRecord(deviceID: "loa-1", liveness: l)]
                    try IngestRepository(db).write(batch, run: try IngestRepository(db).startRun(at: Date()).0)
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            let text = try await client.execute(uri: "/api/v1/events", method: .get, headers: s.headers) { r in
                #expect(r.headers[.contentType] == "text/event-stream; charset=utf-8")
                return String(buffer: r.body)
            }
            done.set()
            try await change.value
            #expect(text.contains("event: ready"))
            #expect(text.contains("event: device\ndata: {\"faults\":[\"mất kết nối đột ngột"), "\(text)")
            #expect(text.contains("\"id\":\"loa-1\"") && text.contains("\"state\":\"offline\""))
        }
    }

    /// An edit changes only what its body gives: a new day alone kept to be weekly on Wednesdays
    /// and Fridays (it used to become "once"). A start in the past is refused with 422 and words;
    /// an item that began last week can still be renamed, but not left with nothing ahead.
    @Test func editsKeepWhatTheyLeaveOutAndPastStartsAreRefused() async throws {
        let f = try await fixture()
        let clock = try #require(f.api.clock as? ManualTimeSource)  // Monday 2026-09-21, 21:13 local
        try await f.app.test(.live) { client in
            var admin = try #require(try await Self.login(client, "u-admin"))
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String) async throws -> (Int, String) {
                try await client.execute(uri: uri, method: method, headers: admin.headers, body: Self.body(body)) { r in (r.status.code, String(buffer: r.body)) }
            }
            var (st, text) = try await call(.post, "/api/v1/broadcasts", """
                {"title":"Tin nông nghiệp","stream":"http://dai.huyen.vn/live","minutes":10,"day":"2026-09-23","time":"07:00",
                 "repeat":"weekly","on":["t4","t6"],"until":"2026-12-31","communes":["an-phu"]}
                """)
            #expect(st == 201, "\(text)")
            let id = try #require(try BroadcastRepository(f.db).list().first?.id)
            // Day and time without a repeat (what the console sent) kept to be weekly too.
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"day":"2026-09-25","time":"07:00"}"#)
            #expect(st == 200, "\(text)")
            #expect(try BroadcastRepository(f.db).get(id).item.recurrence.rule == .weekly([.wednesday, .friday]))
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"day":"2026-09-30"}"#)
            #expect(st == 200, "\(text)")
            #expect(try BroadcastRepository(f.db).get(id).item.recurrence
                    == Recurrence(rule: .weekly([.wednesday, .friday]), firstDay: LocalDay("2026-09-30")!, startTime: LocalTime("07:00")!,
                                  until: LocalDay("2026-12-31")!))
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"time":"07:15","repeat":"weekdays"}"#)
            #expect(st == 200 && text.contains(#""weekdays""#) && text.contains(#""first_day":"2026-09-30""#), "\(text)")

            // A start already past: refused, in the language asked for (Vietnamese by default), nothing stored.
            let past = """
                {"title":"Họp thôn","stream":"http://dai.huyen.vn/live","minutes":10,"day":"2026-09-21","time":"07:00","communes":["an-phu"]}
                """
            (st, text) = try await call(.post, "/api/v1/broadcasts", past)
            #expect(st == 422 && text.contains("21/09/2026 07:00") && text.contains("đã qua") && !text.contains("already past"), "\(text)")
            (st, text) = try await call(.post, "/api/v1/broadcasts?lang=en", past)
            #expect(st == 422 && text.contains("2026-09-21 07:00") && text.contains("already past") && !text.contains("đã qua"), "\(text)")
            #expect(try BroadcastRepository(f.db).list().count == 1)

            // A week and a half later the item has been playing: a new title is fine, a first day
            // moved into the past or an end that leaves nothing ahead is not.
            clock.advance(by: 10 * 86_400)  // Thursday 2026-10-01
            admin = try #require(try await Self.login(client, "u-admin"))  // the session ended after 12 h
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"title":"Tin nông nghiệp (mới)"}"#)
            #expect(st == 200 && text.contains("Tin nông nghiệp (mới)"), "\(text)")
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"day":"2026-09-29"}"#)
            #expect(st == 422 && text.contains("đã qua"), "\(text)")
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)?lang=en", #"{"until":"2026-10-01"}"#)
            #expect(st == 422 && text.contains("nothing is left to play"), "\(text)")
            (st, text) = try await call(.patch, "/api/v1/broadcasts/\(id)", #"{"time":"06:30"}"#)
            #expect(st == 200, "\(text)")
            // Emergencies are now, whatever the clock.
            (st, text) = try await call(.post, "/api/v1/emergency", #"{"title":"Bão số 3","stream":"http://dai.tinh.vn/live","minutes":5,"communes":["an-phu"]}"#)
            #expect(st == 201, "\(text)")
        }
    }

    /// `GET /nodes`: the cluster as `wardfleet nodes` shows it, a node alive within its lease duration,
    /// communes limited to the caller's; drain and undrain by an unlimited admin, audited with before and after.
    @Test func controllerNodesAreShownAndDrainedByAnAdmin() async throws {
        let f = try await fixture()
        try await f.app.test(.live) { client in
            let admin = try #require(try await Self.login(client, "u-admin"))
            let viewer = try #require(try await Self.login(client, "u-viewer"))
            func call(_ method: HTTPRequest.Method, _ uri: String, _ s: Session) async throws -> (Int, [String: Any]) {
                try await client.execute(uri: uri, method: method, headers: s.headers) { r in
                    (r.status.code, (try? JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]) ?? [:])
                }
            }
            // A single controller: no node, and no commune called unowned.
            var (st, view) = try await call(.get, "/api/v1/nodes", viewer)
            #expect(st == 200 && (view["nodes"] as? [Any])?.isEmpty == true && (view["unowned"] as? [Any])?.isEmpty == true, "\(view)")

            // nut-1 beat 2 s ago and holds an-phu on a 6 s lease; nut-2 beat 8 s ago (more than its lease: down),
            // and its lease on binh-an has run out.
            let cluster = ClusterRepository(f.db)
            let link = BrokerLink(name: "bac", address: "10.0.0.11:1883", connected: true, communes: 1)
            try cluster.heartbeat(node: "nut-1", apiURL: "http://10.0.0.21:8080", startedAt: now - 600, brokers: [link], at: now - 2)
            _ = try cluster.acquire(ClusterRepository.communeScope("an-phu"), node: "nut-1", now: now - 2, duration: 6)
            try cluster.heartbeat(node: "nut-2", apiURL: nil, startedAt: now - 600, brokers: [], at: now - 8)
            _ = try cluster.acquire(ClusterRepository.communeScope("binh-an"), node: "nut-2", now: now - 8, duration: 6)
            (st, view) = try await call(.get, "/api/v1/nodes", viewer)
            #expect(st == 200)
            let nodes = try #require(view["nodes"] as? [[String: Any]])
            #expect(nodes.map { $0["id"] as? String } == ["nut-1", "nut-2"])
            #expect(nodes.map { $0["alive"] as? Bool } == [true, false], "alive within the lease duration, not a fixed 10 s")
            #expect((nodes[0]["communes"] as? [[String: Any]])?.map { $0["id"] as? String } == ["an-phu"])
            #expect((nodes[0]["communes"] as? [[String: Any]])?.first?["lease_age_s"] as? Double == 2)
            #expect((nodes[0]["brokers"] as? [[String: Any]])?.first?["connected"] as? Bool == true)
            #expect(nodes[0]["api_url"] as? String == "http://10.0.0.21:8080" && nodes[0]["heartbeat_age_s"] as? Double == 2)
            let unowned = try #require(view["unowned"] as? [[String: Any]])
            #expect(unowned.map { $0["id"] as? String } == ["binh-an"] && unowned.first?["last_node"] as? String == "nut-2", "\(unowned)")
            // A user limited to an-phu sees every node but only an-phu.
            try AuthRepository(f.db).setCommunes("u-viewer", ["an-phu"])
            (st, view) = try await call(.get, "/api/v1/nodes", viewer)
            #expect(st == 200 && (view["unowned"] as? [Any])?.isEmpty == true && (view["nodes"] as? [Any])?.count == 2, "\(view)")

            // Drain and undrain: the node's flag, the answer, the audit log.
            (st, view) = try await call(.post, "/api/v1/nodes/nut-1/drain", admin)
            #expect(st == 200 && view["id"] as? String == "nut-1" && view["draining"] as? Bool == true, "\(view)")
            #expect(try cluster.nodes().first { $0.id == "nut-1" }?.draining == true)
            (st, view) = try await call(.post, "/api/v1/nodes/nut-1/undrain", admin)
            #expect(st == 200 && view["draining"] as? Bool == false)
            #expect(try cluster.nodes().first { $0.id == "nut-1" }?.draining == false)
            #expect(try await call(.post, "/api/v1/nodes/khong-co/drain", admin).0 == 404)
            #expect(try await call(.post, "/api/v1/nodes/nut-1/drain", viewer).0 == 403)
            // An admin limited to communes may not move every commune's owner.
            try AuthRepository(f.db).setCommunes("u-admin", ["an-phu"])
            #expect(try await call(.post, "/api/v1/nodes/nut-1/drain", admin).0 == 403)
            #expect(try cluster.nodes().first { $0.id == "nut-1" }?.draining == false)
        }
        let audit = try AuthRepository(f.db).auditLog()
        let drain = try #require(audit.first { $0.action == "node.drain" })
        #expect(drain.user == "u-admin" && drain.target == "nut-1" && drain.before == #"{"draining":false}"# && drain.after == #"{"draining":true}"#)
        #expect(audit.contains { $0.action == "node.undrain" && $0.target == "nut-1" })
    }

    static func openAPIDocument() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
        return try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
    }

    @Test func openAPIFileMatchesTheRoutes() throws {
        let doc = try Self.openAPIDocument()
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, ops) in paths { for m in ops.keys { documented.insert("\(m.uppercased()) \(path)") } }
        let api = OperatorAPI(database: try WardDatabase(path: FileManager.default.temporaryDirectory
            .appendingPathComponent("wf-openapi-\(UUID().uuidString).sqlite").path))
        var served = Set(api.routes.map { "\($0.method.rawValue) \($0.path)" })
        served.formUnion(["GET /healthz", "GET /readyz", "GET /metrics", "GET /media/{hash}", "GET /firmware/{hash}", "POST /api/v1/upstream/bulletins",
                         "POST /api/v1/warnings/cap"])
        #expect(documented == served, "only documented: \(documented.subtracting(served)), only served: \(served.subtracting(documented))")
        // Each documented permission is the one the route checks.
        for r in api.routes {
            let op = paths[r.path]?[r.method.rawValue.lowercased()] as? [String: Any]
            #expect(op?["x-permission"] as? String == r.permission?.rawValue, "\(r.path)")
        }

        // The statuses each route's plumbing can answer are documented, every error with the Error schema.
        let components = try #require(doc["components"] as? [String: Any])
        let sharedResponses = try #require(components["responses"] as? [String: [String: Any]])
        func resolve(_ r: Any?) -> [String: Any]? {
            guard let r = r as? [String: Any] else { return nil }
            if let ref = r["$ref"] as? String { return sharedResponses[String(ref.split(separator: "/").last!)] }
            return r
        }
        for (path, ops) in paths {
            for (method, value) in ops {
                let op = try #require(value as? [String: Any]), name = "\(method.uppercased()) \(path)"
                let responses = try #require(op["responses"] as? [String: Any], "\(name)")
                var needed: Set<String> = []
                if op["x-permission"] != nil || op["security"] != nil { needed.formUnion(["401"]) }
                if op["x-permission"] != nil { needed.formUnion(["403"]) }
                // A path parameter that names something stored: it may not exist. (Reports are made for
                // any month; PUT /groups/{name} creates the group.)
                if path.replacingOccurrences(of: "{month}", with: "").contains("{"), name != "PUT /api/v1/groups/{name}" { needed.insert("404") }
                if method != "get", path.hasPrefix("/api/") { needed.insert("413") }  // every change reads a bounded body
                if op["requestBody"] != nil || (op["parameters"] as? [[String: Any]] ?? []).contains(where: { $0["in"] as? String == "query" }) {
                    needed.insert("400")
                }
                #expect(needed.isSubset(of: Set(responses.keys)), "\(name) does not document \(needed.subtracting(responses.keys).sorted())")
                for (status, response) in responses where status.hasPrefix("4") || status.hasPrefix("5") {
                    let schema = ((resolve(response)?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                    #expect(schema?["$ref"] as? String == "#/components/schemas/Error", "\(name) \(status)")
                }
            }
        }

        // Enums are the server's own.
        let schemas = try #require(components["schemas"] as? [String: [String: Any]])
        func values(_ name: String) -> Set<String> { Set(schemas[name]?["enum"] as? [String] ?? []) }
        func all<T: CaseIterable & RawRepresentable>(_: T.Type) -> Set<String> where T.RawValue == String { Set(T.allCases.map(\.rawValue)) }
        #expect(values("DeviceClass") == all(DeviceClass.self))
        #expect(values("Role") == all(Role.self))
        #expect(values("Level") == all(BroadcastLevel.self))
        #expect(values("BroadcastStatus") == all(BroadcastStatus.self))
        #expect(values("KioskRole") == all(KioskRole.self))
        #expect(values("Voice") == all(TTSVoice.self))
        #expect(values("Severity") == all(AlarmSeverity.self))
        #expect(values("AlarmKind") == all(AlarmKind.self).subtracting([AlarmKind.villageOutage.rawValue]))
        #expect(values("AlarmFilter") == all(AlarmStatus.self).union(["open", "all"]))
        #expect(values("ReportFormat") == all(ReportFormat.self))
        #expect(values("Language") == all(ReportLanguage.self))
        #expect(values("CommandName") == all(CommandName.self))
        #expect(values("HealthState") == all(HealthState.self))
        #expect(values("CampaignState") == all(CampaignState.self))
        #expect(values("JobState") == all(JobState.self))
        #expect(values("JobFailure") == all(JobFailure.self))
        #expect(values("RepeatRule") == APIInput.repeatRules)
        #expect(values("Weekday") == APIInput.weekdays)
        #expect(APIInput.weekdays.allSatisfy { Weekday.named($0) != nil })
        let kpiKeys = Set((schemas["KPITargets"]?["properties"] as? [String: Any] ?? [:]).keys)
        #expect(kpiKeys == all(KPIID.self).union(["availability_threshold", "programme_share"]))
        // Request bodies refuse unknown fields, as the server does.
        for name in ["Login", "OwnPassword", "NewDevice", "Command", "ClaimCodeRequest", "Adopt", "Speech", "Reason", "Ack", "Schedule",
                     "Emergency", "Edit", "InboxSchedule", "Group", "QuietHours", "AlarmRule", "KPITargets", "Keep", "NewUser", "UserChange",
                     "NewToken", "CampaignTarget", "NewCampaign", "DeviceSettings"] {
            #expect(schemas[name]?["additionalProperties"] as? Bool == false, "\(name)")
        }
        #expect(Set((schemas["Schedule"]?["properties"] as? [String: Any] ?? [:]).keys) == OperatorAPI.scheduleKeys)
        #expect(Set((schemas["CampaignTarget"]?["properties"] as? [String: Any] ?? [:]).keys) == OperatorAPI.previewKeys)
        #expect(Set((schemas["NewCampaign"]?["properties"] as? [String: Any] ?? [:]).keys) == OperatorAPI.campaignKeys)
        #expect(Set((schemas["DeviceSettings"]?["properties"] as? [String: Any] ?? [:]).keys) == Set(DeviceSettings.fieldNames))
        #expect(Set((schemas["Emergency"]?["properties"] as? [String: Any] ?? [:]).keys) == OperatorAPI.scheduleKeys)
        #expect(Set((schemas["Edit"]?["properties"] as? [String: Any] ?? [:]).keys) == OperatorAPI.editKeys)
        #expect(Set((schemas["InboxSchedule"]?["properties"] as? [String: Any] ?? [:]).keys) == OperatorAPI.editKeys.subtracting(["title", "priority_order"]))
    }

    /// A known path asked with a method it does not have: 405 with Allow (TRACE too), before any
    /// sign-in; OPTIONS lists the methods; an unknown path stays 404.
    @Test func unsupportedMethodsAnswer405WithAllow() async throws {
        let f = try await fixture()
        try await f.app.test(.live) { client in
            for (method, uri, status, allow) in [
                (HTTPRequest.Method.trace, "/api/v1/me", 405, "GET"), (.trace, "/api/v1/devices", 405, "GET, POST"),
                (.put, "/api/v1/devices/loa-1", 405, "DELETE, GET"), (.delete, "/api/v1/login", 405, "POST"),
                (.patch, "/api/v1/broadcasts/upcoming", 405, "GET"), (.trace, "/healthz", 405, "GET"),
                (.post, "/media/\(String(repeating: "a", count: 64))", 405, "GET"), (.get, "/api/v1/upstream/bulletins", 405, "POST"),
                (.options, "/api/v1/quiet-hours/an-phu", 204, "DELETE, GET, PUT"), (.init("QUERY")!, "/api/v1/alarms", 405, "GET"),
                (.trace, "/api/v1/khong-co", 404, nil), (.get, "/api/v1/devices/loa-1/khong-co", 404, nil),
            ] as [(HTTPRequest.Method, String, Int, String?)] {
                try await client.execute(uri: uri, method: method) { r in
                    #expect(r.status.code == status, "\(method) \(uri)")
                    #expect(r.headers[.allow] == allow, "\(method) \(uri)")
                    if status == 405 { #expect(String(buffer: r.body).contains("\"error\""), "\(method) \(uri)") }
                }
            }
        }
    }

    /// What docs/openapi.yaml calls malformed is refused (400) instead of being ignored or
    /// guessed at; a well-formed request refused by a rule is 422; a state conflict is 409.
    @Test func requestsOutsideTheDocumentAreRefusedAndConflictsAre409() async throws {
        let f = try await fixture()
        try await f.app.test(.live) { client in
            let s = try #require(try await Self.login(client, "u-admin"))
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (Int, String) {
                try await client.execute(uri: uri, method: method, headers: s.headers, body: body.map(Self.body)) { r in
                    (r.status.code, String(buffer: r.body))
                }
            }
            let item = #"{"title":"Tiếp sóng","stream":"http://dai.huyen.vn/live","minutes":5,"day":"2026-09-25","time":"07:00","communes":["an-phu"]}"#
            for (method, uri, body, expected) in [
                (HTTPRequest.Method.get, "/api/v1/devices?class=toaster", nil, 400),
                (.get, "/api/v1/broadcasts?all=yes", nil, 400),
                (.get, "/api/v1/inbox?all=1", nil, 400),
                (.get, "/api/v1/broadcasts/upcoming?days=0", nil, 400),
                (.get, "/api/v1/broadcasts/upcoming?from=2026-9-1", nil, 400),
                (.get, "/api/v1/devices/loa-1/telemetry?hours=abc", nil, 400),
                (.get, "/api/v1/alarms/notifications?limit=0", nil, 400),
                (.get, "/api/v1/audit?limit=-1", nil, 400),
                (.get, "/api/v1/playback?date=2026-02-30", nil, 400),
                (.get, "/api/v1/reports/2026-1", nil, 400),
                (.get, "/api/v1/reports/2026-10?lang=fr", nil, 400),
                (.get, "/api/v1/reports/2026-10/kept?scope=a%20b", nil, 400),
                (.get, "/api/v1/kpi?commune=a%20b", nil, 400),
                (.get, "/api/v1/kpi?from=2026-10-05&to=2026-10-01", nil, 422),
                (.get, "/api/v1/reports/2099-01", nil, 422),
                (.get, "/api/v1/quiet-hours/khong-co", nil, 404),
                (.delete, "/api/v1/quiet-hours/khong-co", nil, 404),
                (.put, "/api/v1/quiet-hours/an-phu", #"{"from":"7:5","to":"05:30"}"#, 400),
                (.put, "/api/v1/alarms/rules", #"{"kind":"offline","device_class":"kiosk","enabled":null}"#, 400),
                (.patch, "/api/v1/users/u-viewer", #"{"role":"viewer","password":null}"#, 400),
                (.post, "/api/v1/media/tts", #"{"text":" \u2003 "}"#, 400),
                (.post, "/api/v1/places/import", "{}", 422),
                (.post, "/api/v1/media?file_name=.wav", "", 422),
                (.post, "/api/v1/users", #"{"name":"lan","role":"viewer","password":"mat-khau-cua-lan"}"#, 422),
                (.post, "/api/v1/users", #"{"name":"lan","role":"viewer","password":"mat-khau-dai-2026","communes":["khong-co"]}"#, 422),
                (.post, "/api/v1/broadcasts", item.replacingOccurrences(of: "07:00", with: "7:00"), 400),
                (.post, "/api/v1/broadcasts", item.replacingOccurrences(of: #""time":"07:00","#, with: ""), 422),
            ] as [(HTTPRequest.Method, String, String?, Int)] {
                let (st, text) = try await call(method, uri, body)
                #expect(st == expected, "\(method) \(uri) \(body ?? ""): \(st) \(text)")
                #expect(text.contains("\"error\""), "\(method) \(uri)")
            }
            // An admin's item is approved at once: approving it again, or cancelling it twice, conflicts with its state.
            let (st, text) = try await call(.post, "/api/v1/broadcasts", item)
            #expect(st == 201, "\(text)")
            let id = try #require(try BroadcastRepository(f.db).list().first?.id)
            #expect(try await call(.post, "/api/v1/broadcasts/\(id)/approve").0 == 409)
            #expect(try await call(.post, "/api/v1/broadcasts/\(id)/cancel").0 == 200)
            #expect(try await call(.post, "/api/v1/broadcasts/\(id)/cancel").0 == 409)
        }
    }
}

/// A relay source check without network: a source whose address says "dead" does not answer.
struct DeadSourceProbe: StreamSourceProbe {
    func problem(with url: String) async -> String? { url.contains("dead") ? "connection refused" : nil }
}
