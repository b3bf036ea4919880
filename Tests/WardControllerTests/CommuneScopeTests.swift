import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardDomain
import WardProtocol
import WardStorage
@testable import WardController
@testable import WardHTTP

/// Commune scoping, driven by the route table: two communes, every kind of fleet data in both,
/// and commune B's data all marked "bzz". A user limited to commune A, with every permission,
/// calls every route: no GET answer may show anything of B, and no change may touch B's data.
/// A route added later is walked the same way; if it shows the unlimited admin nothing of B
/// either, the test asks for it to be seeded or declared free of commune data.
@Suite struct CommuneScopeTests {
    static let password = "mat-khau-dai-2026"
    static let marker = "bzz"
    let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-19
    var day: LocalDay { LocalCalendar.vietnam.localDay(of: now) }
    static let month = "2026-11"
    /// Routes whose answers carry no commune's data: settings of the whole deployment and the caller.
    static let noCommuneData: Set<String> = ["/api/v1/me", "/api/v1/alarms/rules", "/api/v1/kpi/targets", "/api/v1/me/tokens",
                                              "/api/v1/firmware/images"]

    struct World {
        var db: WardDatabase
        var api: OperatorAPI
        var app: Application<MethodGuard<Router<WardRequestContext>>.Responder>
        /// Ids of commune A's and commune B's things, by kind, for path parameters.
        var a: [String: String]
        var b: [String: String]
    }

    func world() async throws -> World {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-scope-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("s.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "dong", level: .village, name: "Thôn Đông", parentID: "an-phu"),
            Place(id: "cot", level: .site, name: "Cột loa", parentID: "dong", siteKind: .pole),
            Place(id: "xa-bzz", level: .commune, name: "Xã Bzz", parentID: "qn"),
            Place(id: "thon-bzz", level: .village, name: "Thôn Bzz", parentID: "xa-bzz"),
            Place(id: "cot-bzz", level: .site, name: "Cột loa Bzz", parentID: "thon-bzz", siteKind: .pole),
        ])
        try DeviceRepository(db).upsert([
            Device(id: "LOA-A1", deviceClass: .speaker, siteID: "cot", registeredAt: now - 86_400 * 30),
            Device(id: "LOA-BZZ-1", deviceClass: .speaker, siteID: "cot-bzz", registeredAt: now - 86_400 * 30),
        ])
        // States, history, telemetry, pending devices, a rejected message: both communes.
        var batch = IngestBatch()
        for (id, state, fault) in [("LOA-A1", HealthState.degraded, FaultCode.amplifierFault), ("LOA-BZZ-1", .offline, .lastWill)] {
            var l = DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: now - 3_600)
            l.state = state
            l.faults = [Fault(fault)]
            batch.changes.append(StateChange(deviceID: id, from: .unknown, to: state, faults: [Fault(fault)], at: now - 3_600))
            batch.statuses.append(DeviceStatusRecord(deviceID: id, liveness: l, birth: #"{"device":"\#(id)"}"#))
            batch.samples.append(TelemetryRecord(deviceID: id, receivedAt: now - 600, deviceTime: now - 600, boot: "b", seq: 1,
                                                 payload: #"{"device":"\#(id)","speaker":{"volume":70,"amp_ok":false,"line_ok":true,"playing":false,"power":"mains"}}"#))
        }
        batch.pending = [PendingRecord(deviceID: "PENDING-A", communeID: "an-phu", firstSeen: now - 60, lastSeen: now - 60, messages: 1),
                         PendingRecord(deviceID: "PENDING-BZZ", communeID: "xa-bzz", firstSeen: now - 60, lastSeen: now - 60, messages: 1)]
        batch.rejections = [RejectionRecord(at: now - 30, reason: "invalid_field", topic: "wardfleet/v1/xa-bzz/LOA-BZZ-1/telemetry", detail: "x"),
                            RejectionRecord(at: now - 30, reason: "invalid_field", topic: "wardfleet/v1/an-phu/LOA-A1/telemetry", detail: "x")]
        try IngestRepository(db).write(batch)
        // People: the unlimited admin, a limited admin of A (every permission), one of B's officers.
        let hash = try await OperatorAPI.hashPassword(Self.password)
        for (name, role, communes) in [("admin", Role.admin, nil), ("admin-a", .admin, ["an-phu"]), ("nguoi-bzz", .operator, ["xa-bzz"]),
                                       ("nguoi-a", .operator, ["an-phu"]), ("ky-thuat-a", .technician, ["an-phu"])] as [(String, Role, [String]?)] {
            try BroadcastRepository(db).addUser(User(name: name, role: role, createdAt: now))
            try AuthRepository(db).setPassword(name, hash: hash)
            try AuthRepository(db).setCommunes(name, communes)
        }
        // Media, items, playback, inbox, groups, quiet hours.
        var shaOf: [String: String] = [:]
        for (c, by) in [("a", "nguoi-a"), (Self.marker, "nguoi-bzz")] {
            let sha = String(repeating: c == "a" ? "a" : "b", count: 64)
            shaOf[c] = sha
            _ = try MediaRepository(db).add(MediaItem(sha256: sha, title: "Âm thanh \(c)", format: .wav, codec: "pcm_s16le", duration: 30,
                                                      sizeBytes: 1_000, sampleRate: 16_000, channels: 1, source: .upload(fileName: "\(c).wav"),
                                                      addedAt: now, addedBy: by))
        }
        let service = BroadcastService(db, clock: ManualTimeSource(now))
        let tomorrow = LocalCalendar.vietnam.adding(days: 1, to: day)
        let itemA = try service.schedule(.init(title: "Bản tin An Phú", level: .normal, programme: .media(sha256: shaOf["a"]!),
                                               recurrence: .once(tomorrow, at: LocalTime(hour: 6, minute: 0)),
                                               target: BroadcastTarget(communes: ["an-phu"])), by: "admin")
        let itemB = try service.schedule(.init(title: "Bản tin Bzz", level: .normal, programme: .media(sha256: shaOf[Self.marker]!),
                                               recurrence: .once(tomorrow, at: LocalTime(hour: 6, minute: 0)),
                                               target: BroadcastTarget(communes: ["xa-bzz"])), by: "admin")
        let today6 = LocalCalendar.vietnam.date(day, LocalTime(hour: 6, minute: 0))
        for (item, speaker) in [(itemA.id, "LOA-A1"), (itemB.id, "LOA-BZZ-1")] {
            let key = PlayKey(item: item, start: today6)
            try PlaybackRepository(db).append([PlaybackEntry(key: key, speaker: speaker, event: .scheduled, at: today6 - 600),
                                                PlaybackEntry(key: key, speaker: speaker, event: .started, at: today6)], recordedAt: today6)
        }
        var inbox: [String: Int64] = [:]
        for (c, commune) in [("a", "an-phu"), (Self.marker, "xa-bzz")] {
            inbox[c] = try UpstreamRepository(db).receive(UpstreamBulletin(source: "tinh", sourceID: "s-\(c)", title: "Tin nguồn \(c)", level: .normal,
                                                                           communes: [commune], programme: .media(sha256: shaOf[c]!),
                                                                           duration: 30, receivedAt: now)).0.id
        }
        // One bulletin sent to both communes: each handles it for itself.
        _ = try UpstreamRepository(db).receive(UpstreamBulletin(source: "tinh", sourceID: "chung", title: "Tin chung của tỉnh", level: .normal,
                                                                communes: ["an-phu", "xa-bzz"], programme: .media(sha256: shaOf["a"]!),
                                                                duration: 30, receivedAt: now))
        try BroadcastRepository(db).setGroup("nhom-a", speakers: ["LOA-A1"], by: "admin", at: now)
        try BroadcastRepository(db).setGroup("nhom-bzz", speakers: ["LOA-BZZ-1"], by: "admin", at: now)
        try BroadcastRepository(db).setQuietHours(commune: "xa-bzz", QuietHours(start: LocalTime(hour: 21, minute: 0), end: LocalTime(hour: 5, minute: 0)))
        try BroadcastRepository(db).setQuietHours(commune: "an-phu", QuietHours(start: LocalTime(hour: 22, minute: 0), end: LocalTime(hour: 5, minute: 0)))
        // Alarms with their notifications, kept reports, audit lines of each commune's people.
        var alarmIDs: [String: Int64] = [:]
        for (c, device, commune, village) in [("a", "LOA-A1", "an-phu", "dong"), (Self.marker, "LOA-BZZ-1", "xa-bzz", "thon-bzz")] {
            let stored = try AlarmRepository(db).apply([.raised(Alarm(kind: .offline, severity: .major, deviceID: device, deviceClass: .speaker,
                                                                      villageID: village, communeID: commune, detail: "mất kết nối \(c)",
                                                                      since: now - 3_600, raisedAt: now - 3_000))],
                                                       notifying: ["webhook"], at: now - 3_000) { a, e in "{\"\(e)\":\"\(a.deviceID!)\"}" }
            alarmIDs[c] = stored.first?.alarm.id
        }
        try ReportScheduler.generate(db, month: Self.month, commune: "xa-bzz", now: now, by: "admin", directory: nil)
        try ReportScheduler.generate(db, month: Self.month, commune: "an-phu", now: now, by: "admin", directory: nil)
        // An API token of each commune's officer: B's named so that showing it shows B.
        let tokenA = try AuthRepository(db).createToken(tokenHash: OperatorAPI.sha256("wft_a"), user: "nguoi-a", label: "script a", at: now)
        let tokenB = try AuthRepository(db).createToken(tokenHash: OperatorAPI.sha256("wft_bzz"), user: "nguoi-bzz", label: "script bzz", at: now)
        try AuthRepository(db).audit(user: "nguoi-bzz", action: "broadcast.schedule", target: itemB.id, detail: "Bản tin Bzz", address: nil, at: now)
        try AuthRepository(db).audit(user: "nguoi-a", action: "broadcast.schedule", target: itemA.id, detail: "Bản tin An Phú", address: nil, at: now)

        // A CAP warning targeting each commune (B's village named so that showing it shows B).
        var warnings: [String: Int64] = [:]
        for (c, commune, village) in [("a", "an-phu", "dong"), (Self.marker, "xa-bzz", "thon-bzz")] {
            warnings[c] = try WarningRepository(db).record(WarningRecord(
                sender: "kttv@qn", identifier: "W-\(c)", sent: now, sourceUser: "kttv", status: .actual, msgType: .alert, event: "Lũ quét \(c)",
                level: .priority, risk: .three, mode: .live, expiresAt: now + 3_600, state: .active, receivedAt: now,
                targets: WarningTargets(communes: [commune], wholeCommunes: [], villages: [village], sites: [], untargetable: [])),
                document: "<alert/>").0.id
        }

        // Two controller nodes, one owning each commune: B's shows B's commune to the unlimited admin only.
        let cluster = ClusterRepository(db)
        for (node, commune) in [("nut-1", "an-phu"), ("nut-2", "xa-bzz")] {
            try cluster.heartbeat(node: node, apiURL: nil, startedAt: now - 60, brokers: [BrokerLink(name: "main", address: "10.0.0.1:1883",
                                                                                                     connected: true, communes: 1)], at: now)
            _ = try cluster.acquire(ClusterRepository.communeScope(commune), node: node, now: now, duration: 3_600)
        }

        // A firmware image (the library is deployment-wide), a campaign in each commune, a configuration for each device.
        let image = FirmwareImage(sha256: String(repeating: "f", count: 64), deviceClass: .speaker, model: "LOA-X", version: "2.0.0", size: 10,
                                  notes: "bản chung", uploadedBy: "admin", uploadedAt: now, signature: "c2ln", keyFingerprint: "ab12")
        _ = try FirmwareRepository(db).add(image)
        var campaignIDs: [String: String] = [:]
        for (c, commune, device) in [("a", "an-phu", "LOA-A1"), (Self.marker, "xa-bzz", "LOA-BZZ-1")] {
            let campaign = try FirmwareRepository(db).create(Campaign(id: 0, name: "Cập nhật loa \(c)", image: image,
                                                                      target: CampaignTarget(deviceClass: .speaker, model: "LOA-X", communes: [commune]),
                                                                      waves: [.rest], policy: CampaignPolicy(), createdBy: "admin", createdAt: now)) { id in
                CampaignPlanner.jobs(campaign: id, devices: [device], waves: [.rest], at: now)
            }
            campaignIDs[c] = "\(campaign.id)"
            _ = try FleetConfigRepository(db).set(device: device, change: DeviceSettings(heartbeatSeconds: 60), by: "admin", at: now)
        }
        let library = MediaLibrary(root: dir.appendingPathComponent("media"), database: db)
        var api = OperatorAPI(database: db, clock: ManualTimeSource(now), library: library)
        api.eventStreamLifetime = .milliseconds(1_500)
        api.eventInterval = .milliseconds(100)
        let server = ControllerHTTPServer(library: library, host: "127.0.0.1", port: 0, api: api)
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return World(db: db, api: api, app: app,
                     a: ["device": "LOA-A1", "item": itemA.id, "alarm": "\(alarmIDs["a"]!)", "inbox": "\(inbox["a"]!)", "pending": "PENDING-A",
                         "commune": "an-phu", "user": "nguoi-a", "group": "nhom-a", "site": "cot", "token": tokenA.id, "node": "nut-1",
                         "campaign": campaignIDs["a"]!, "warning": "\(warnings["a"]!)"],
                     b: ["device": "LOA-BZZ-1", "item": itemB.id, "alarm": "\(alarmIDs[Self.marker]!)", "inbox": "\(inbox[Self.marker]!)",
                         "pending": "PENDING-BZZ", "commune": "xa-bzz", "user": "nguoi-bzz", "group": "nhom-bzz", "site": "cot-bzz",
                         "token": tokenB.id, "node": "nut-2", "campaign": campaignIDs[Self.marker]!, "warning": "\(warnings[Self.marker]!)"])
    }

    /// The thing a path parameter names, from the path segment before it.
    static func kind(of parameter: String, in path: String) -> String? {
        let parts = path.split(separator: "/").map(String.init)
        guard let i = parts.firstIndex(of: "{\(parameter)}") else { return nil }
        if parameter == "month" { return "month" }
        if parameter == "commune" { return "commune" }
        switch parts[i - 1] {
        case "devices": return "device"
        case "broadcasts": return "item"
        case "alarms": return "alarm"
        case "inbox": return "inbox"
        case "pending": return "pending"
        case "users": return "user"
        case "groups": return "group"
        case "tokens": return "token"  // an API token of that commune's user
        case "nodes": return "node"  // a controller node owning that commune
        case "campaigns": return "campaign"  // a firmware campaign of that commune's devices
        case "warnings": return "warning"  // a CAP alert targeting that commune
        default: return nil
        }
    }

    /// The route's path with every parameter filled from `ids`; nil (and a recorded issue) when
    /// the test does not know what a parameter names yet.
    static func fill(_ path: String, _ ids: [String: String]) -> String? {
        var out = path
        for p in path.split(separator: "/") where p.hasPrefix("{") {
            let name = String(p.dropFirst().dropLast())
            guard let kind = kind(of: name, in: path) else {
                Issue.record("CommuneScopeTests does not know what {\(name)} names in \(path): teach `kind(of:in:)`")
                return nil
            }
            out = out.replacingOccurrences(of: "{\(name)}", with: kind == "month" ? month : ids[kind]!)
        }
        return out
    }

    /// Query parameters of every route, filled with one commune's ids (unused ones are ignored).
    func query(_ ids: [String: String]) -> String {
        "?commune=\(ids["commune"]!)&scope=\(ids["commune"]!)&item=\(ids["item"]!)&all=true&status=all&date=\(day)&month=\(Self.month)"
    }

    static func login(_ client: any TestClientProtocol, _ user: String) async throws -> HTTPFields {
        try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                                 body: ByteBuffer(string: #"{"user":"\#(user)","password":"\#(password)"}"#)) { r in
            let set = try #require(r.headers[.setCookie], "login \(user): \(r.status)")
            let csrf = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["csrf"] as? String ?? ""
            return [.cookie: String(set.split(separator: ";")[0]), HTTPField.Name("X-CSRF-Token")!: csrf, .contentType: "application/json"]
        }
    }

    /// Moves both communes' devices to a new state, so a live stream has something to tell.
    static func touch(_ db: WardDatabase, at: Date, round: Int) throws {
        var batch = IngestBatch()
        for id in ["LOA-A1", "LOA-BZZ-1"] {
            var l = DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: at + Double(round))
            l.state = round % 2 == 0 ? .ok : .offline
            batch.statuses.append(DeviceStatusRecord(deviceID: id, liveness: l))
        }
        try IngestRepository(db).write(batch)
    }

    @Test func aUserOfOneCommuneSeesNothingOfAnotherOnAnyGetRoute() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let admin = try await Self.login(client, "admin")
            let limited = try await Self.login(client, "admin-a")
            var walked = 0
            for route in w.api.routes where route.method == .get {
                guard let pathA = Self.fill(route.path, w.a), let pathB = Self.fill(route.path, w.b) else { continue }
                var adminSawB = false
                // Through the path (a B device's page) or a query (commune=B): either way it is B's.
                let pathNamesB = pathB != pathA
                for (uri, aimedAtB) in [(pathA, false), (pathA + query(w.a), false), (pathB, pathNamesB), (pathB + query(w.b), true)] {
                    // Both calls at once while the fleet changes, so live streams carry news of both communes.
                    let done = ManagedFlag()
                    async let forAdmin = client.execute(uri: uri, method: .get, headers: admin) { ($0.status, String(buffer: $0.body)) }
                    async let forLimited = client.execute(uri: uri, method: .get, headers: limited) { ($0.status, String(buffer: $0.body)) }
                    let toucher = Task {
                        var round = 0
                        while !done.isSet {
                            round += 1
                            try? Self.touch(w.db, at: now, round: round)
                            try? await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    let (a, l) = try await (forAdmin, forLimited)
                    done.set()
                    await toucher.value
                    if a.0.code < 300, a.1.lowercased().contains(Self.marker) || (pathNamesB && uri.hasPrefix(pathB)) { adminSawB = true }
                    if pathNamesB, uri.hasPrefix(pathB) {
                        #expect(l.0 == .notFound || l.0 == .forbidden, "GET \(uri) answers a user of commune A with \(l.0)")
                    }
                    if l.0.code < 300 {
                        #expect(!Self.othersThan("admin-a", l.1).lowercased().contains(Self.marker),
                                "GET \(uri) shows commune B to a user of commune A: \(l.1.prefix(400))")
                    } else if !aimedAtB {
                        #expect(l.0 != .internalServerError, "GET \(uri): \(l.0) \(l.1.prefix(200))")
                    }
                }
                walked += 1
                if !Self.noCommuneData.contains(route.path) {
                    #expect(adminSawB, "GET \(route.path) shows the unlimited admin nothing of commune B: seed its data, or list it in noCommuneData")
                }
            }
            #expect(walked >= 25)
        }
    }

    /// The answer without the audit lines of `user`: what people typed themselves (the ids they
    /// probed) is theirs to see again.
    static func othersThan(_ user: String, _ body: String) -> String {
        guard let lines = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]],
              lines.allSatisfy({ $0["action"] != nil && $0["user"] != nil }) else { return body }
        let others = lines.filter { $0["user"] as? String != user }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: others)) ?? Data(), as: UTF8.self)
    }

    /// Every row of every table that mentions commune B, as text: what no call by A's user may change.
    static func snapshotOfB(_ db: WardDatabase) throws -> [String] {
        try db.pool.read { db in
            var out: [String] = []
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            where !["sessions", "audit_log", "api_tokens"].contains(table) {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"") {
                    let text = row.description
                    if text.lowercased().contains(marker) { out.append("\(table): \(text)") }
                }
            }
            return out.sorted()
        }
    }

    @Test func aUserOfOneCommuneChangesNothingOfAnotherThroughAnyRoute() async throws {
        let w = try await world()
        // Bodies that aim at commune B, one per kind of change; each route gets every one, so
        // whichever it understands is the one that must be refused.
        let b = w.b
        let bodies: [String] = [
            #"{"title":"x","media":"\#(String(repeating: "a", count: 64))","day":"2026-11-21","time":"06:00","communes":["\#(b["commune"]!)"]}"#,
            #"{"title":"x","media":"\#(String(repeating: "a", count: 64))","speakers":["\#(b["device"]!)"]}"#,
            #"{"day":"2026-11-21","time":"07:00","communes":["\#(b["commune"]!)"]}"#,
            #"{"day":"2026-11-21","time":"07:00"}"#,
            #"{"id":"LOA-NEW-BZZ","device_class":"speaker","site":"\#(b["site"]!)"}"#,
            #"{"site":"\#(b["site"]!)"}"#, #"{"site":"\#(b["site"]!)","device_class":"speaker"}"#,
            #"{"site":"\#(w.a["site"]!)","device_class":"speaker"}"#,
            #"{"name":"moi-bzz","role":"admin","password":"mat-khau-dai-2026-x","communes":["\#(b["commune"]!)"]}"#,
            #"{"name":"moi-tat-ca","role":"admin","password":"mat-khau-dai-2026-x"}"#,
            #"{"communes":[]}"#, #"{"role":"viewer"}"#, #"{"password":"mat-khau-moi-2026-x"}"#,
            #"{"speakers":["\#(w.a["device"]!)"]}"#, #"{"from":"20:00","to":"06:00"}"#,
            #"{"commune":"\#(b["commune"]!)"}"#, #"{"note":"x"}"#, #"{"reason":"x"}"#, #"{"label":"x"}"#,
            #"{"kind":"offline","device_class":"speaker","duration":1}"#, #"{"loudspeaker_coverage":0.1}"#,
            #"{"command":"ping"}"#, #"{"valid_hours":1}"#, "{}",
            // Registering B's device id on A's site would move it into A.
            #"{"id":"\#(b["device"]!)","device_class":"speaker","site":"\#(w.a["site"]!)"}"#,
        ]
        let importB = """
            province:
              id: qn
              name: Quảng Ninh
              communes:
                - id: xa-bzz
                  name: Xã Bzz
                  villages:
                    - {id: thon-moi-bzz, name: Thôn mới}
            """
        let before = try Self.snapshotOfB(w.db)
        try await w.app.test(.live) { client in
            let limited = try await Self.login(client, "admin-a")
            var walked = 0
            for route in w.api.routes where route.method != .get && !["/api/v1/login", "/api/v1/logout"].contains(route.path) {
                guard let pathB = Self.fill(route.path, b), let pathA = Self.fill(route.path, w.a) else { continue }
                walked += 1
                // Both sides of a change: B's thing named in the path (whatever the body), and A's
                // own thing with a body that would put it into B (a move, an adoption, a retarget).
                for path in pathA == pathB ? [pathA] : [pathB, pathA] {
                    var headers = limited
                    let payloads: [String]
                    if route.path == "/api/v1/places/import" {
                        headers[.contentType] = "text/csv"
                        // A place's new parent is not all that counts: moving B's village or site into A
                        // (and its devices with it) changes B.
                        payloads = ["level,id,name,parent,kind,lat,lon\nvillage,thon-bzz,Thôn Bzz,an-phu,thôn,,\n",
                                    "level,id,name,parent,kind,lat,lon\nsite,cot-bzz,Cột loa Bzz,dong,pole,,\n",
                                    "id,class,site\n\(b["device"]!),speaker,\(w.a["site"]!)\n"]
                    } else {
                        payloads = bodies
                    }
                    for body in payloads {
                        let (status, text) = try await client.execute(uri: path + "?commune=\(b["commune"]!)&with_devices=true", method: route.method,
                                                                       headers: headers, body: ByteBuffer(string: body)) { ($0.status, String(buffer: $0.body)) }
                        // A path naming B's thing is refused whatever the body; other calls may succeed on
                        // A's own things (the snapshot below proves B's untouched).
                        if path != Self.fill(route.path, w.a) {
                            #expect(status.code >= 400, "\(route.method) \(path) with \(body.prefix(80)) by a user of A: \(status) \(text.prefix(200))")
                        }
                        #expect(status != .internalServerError, "\(route.method) \(path): \(text.prefix(200))")
                    }
                }
            }
            #expect(walked >= 20)
        }
        let after = try Self.snapshotOfB(w.db)
        let changed = Set(after).symmetricDifference(before)
        #expect(changed.isEmpty, "commune B's data changed: \(changed.prefix(5))")
        #expect(try DeviceRepository(w.db).get("LOA-BZZ-1")?.siteID == "cot-bzz", "B's device stays where it is")
        #expect(try PlaceRepository(w.db).tree()["thon-bzz"]?.parentID == "xa-bzz", "B's village stays in B")
        #expect(try AuthRepository(w.db).tokens(of: "nguoi-bzz").map(\.id) == [b["token"]!], "B's officer keeps their API token")
        // Refusals are in the audit log, so someone probing another commune is seen.
        #expect(try AuthRepository(w.db).auditLog(limit: 10_000).contains { $0.user == "admin-a" && $0.action == "access.denied" })
    }

    /// The attacks of the second field trial, as a technician of A sent them: each is refused and
    /// B's device, pending device, alarms and quiet hours stay B's.
    @Test func aTechnicianOfOneCommuneCannotTakeAnotherCommunesDevices() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let tech = try await Self.login(client, "ky-thuat-a")
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String = "") async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: uri, method: method, headers: tech, body: ByteBuffer(string: body)) { ($0.status, String(buffer: $0.body)) }
            }
            // Re-registering B's device on A's site would move it into A.
            let move = try await call(.post, "/api/v1/devices", #"{"id":"LOA-BZZ-1","device_class":"speaker","site":"cot"}"#)
            #expect(move.0 == .conflict, "\(move)")
            #expect(try await call(.delete, "/api/v1/devices/LOA-BZZ-1").0 == .notFound)
            // Adopting A's pending device into a site of B, and B's pending device anywhere.
            let adopt = try await call(.post, "/api/v1/pending/PENDING-A/adopt", #"{"site":"cot-bzz","device_class":"speaker"}"#)
            #expect(adopt.0.code >= 400 && adopt.0 != .internalServerError, "\(adopt)")
            #expect(try await call(.post, "/api/v1/pending/PENDING-BZZ/adopt", #"{"site":"cot","device_class":"speaker"}"#).0 == .notFound)
            // B's alarm payloads and quiet hours are not shown.
            let notes = try await call(.get, "/api/v1/alarms/notifications")
            #expect(notes.0 == .ok && !notes.1.contains("LOA-BZZ-1"), "\(notes)")
            #expect(try await call(.get, "/api/v1/quiet-hours/xa-bzz").0 == .notFound)
        }
        #expect(try DeviceRepository(w.db).get("LOA-BZZ-1")?.siteID == "cot-bzz")
        #expect(try DeviceRepository(w.db).get("PENDING-A") == nil)
    }

    /// Another commune's things do not exist for a limited user: the same 404 as an id that names
    /// nothing, without naming the other commune; its audio cannot be found, used or seen.
    @Test func anotherCommunesThingsAreNotFoundAndItsAudioIsNotUsable() async throws {
        let w = try await world()
        try await w.app.test(.live) { client in
            let limited = try await Self.login(client, "admin-a")
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String = "{}") async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: uri, method: method, headers: limited, body: ByteBuffer(string: body)) { ($0.status, String(buffer: $0.body)) }
            }
            for (method, uri) in [(HTTPRequest.Method.post, "/api/v1/broadcasts/\(w.b["item"]!)/approve"), (.post, "/api/v1/broadcasts/\(w.b["item"]!)/cancel"),
                                  (.patch, "/api/v1/broadcasts/\(w.b["item"]!)"), (.post, "/api/v1/inbox/\(w.b["inbox"]!)/dismiss"),
                                  (.put, "/api/v1/quiet-hours/xa-bzz"), (.post, "/api/v1/pending/PENDING-BZZ/reject")] {
                let (status, text) = try await call(method, uri, method == .put ? #"{"from":"21:00","to":"05:00"}"# : "{}")
                #expect(status == .notFound, "\(method) \(uri): \(status) \(text)")
                #expect(!text.contains("outside your communes") && !text.contains("ngoài phạm vi"), "\(uri) tells it exists: \(text)")
            }
            // B's audio by hash or prefix is "no such media", like a hash that names nothing.
            let bSha = String(repeating: "b", count: 64)
            for media in [bSha, "bbbb"] {
                let (status, text) = try await call(.post, "/api/v1/broadcasts",
                                                    #"{"title":"x","media":"\#(media)","day":"2026-11-21","time":"06:00","communes":["an-phu"]}"#)
                #expect(status == .unprocessableContent && text.contains("không có tệp âm thanh"), "\(status) \(text)")
            }
            // The same bytes added by someone of A (the same text read out) are A's, under A's title.
            _ = try MediaRepository(w.db).add(MediaItem(sha256: bSha, title: "Thông báo của thôn Đông", format: .wav, codec: "pcm_s16le", duration: 30,
                                                        sizeBytes: 1_000, sampleRate: 16_000, channels: 1, source: .upload(fileName: "dong.wav"),
                                                        addedAt: now, addedBy: "nguoi-a"))
            let (_, media) = try await call(.get, "/api/v1/media")
            #expect(media.contains("Thông báo của thôn Đông") && !media.lowercased().contains(Self.marker), "\(media)")
        }
    }

    /// A bulletin sent to both communes is each one's to handle: A scheduling it leaves it in B's
    /// inbox, B can still schedule it, and A cannot handle it twice.
    @Test func aSharedBulletinIsHandledPerCommune() async throws {
        let w = try await world()
        let shared = try #require(try UpstreamRepository(w.db).list().first { $0.title == "Tin chung của tỉnh" }?.id)
        try await w.app.test(.live) { client in
            let a = try await Self.login(client, "admin-a"), b = try await Self.login(client, "nguoi-bzz")
            func call(_ h: HTTPFields, _ method: HTTPRequest.Method, _ uri: String, _ body: String = "{}") async throws -> (Int, String) {
                try await client.execute(uri: uri, method: method, headers: h, body: ByteBuffer(string: body)) { ($0.status.code, String(buffer: $0.body)) }
            }
            let when = #"{"day":"2026-11-21","time":"08:00"}"#
            var (st, text) = try await call(a, .post, "/api/v1/inbox/\(shared)/schedule", when)
            #expect(st == 201, "\(text)")
            #expect(text.contains("an-phu") && !text.contains("xa-bzz"), "A's item plays in A only: \(text)")
            (st, text) = try await call(b, .get, "/api/v1/inbox")
            #expect(text.contains("Tin chung của tỉnh"), "still in B's inbox: \(text)")
            (st, text) = try await call(a, .get, "/api/v1/inbox")
            #expect(!text.contains("Tin chung của tỉnh"), "no longer in A's inbox: \(text)")
            (st, text) = try await call(a, .get, "/api/v1/inbox?all=true")
            #expect(text.contains(#""status":"scheduled""#) && !text.lowercased().contains(Self.marker), "\(text)")
            (st, text) = try await call(b, .post, "/api/v1/inbox/\(shared)/schedule", #"{"day":"2026-11-21","time":"09:00"}"#)
            #expect(st == 201, "B schedules its own: \(text)")
            (st, _) = try await call(a, .post, "/api/v1/inbox/\(shared)/schedule", when)
            #expect(st == 409)
            #expect(try UpstreamRepository(w.db).get(shared).status == .scheduled, "handled by both: out of every inbox")
        }
    }

    @Test func aCommuneLimitMustNameCommunes() async throws {
        let w = try await world()
        let tree = try PlaceRepository(w.db).tree()
        // A name typed instead of the id is refused, and the id is suggested.
        #expect(throws: CommuneLimitError.self) { try CommuneLimitError.check(["Bzz"], in: tree) }
        do { _ = try CommuneLimitError.check(["Xã An Phú"], in: tree) } catch {
            #expect(error.description.contains("an-phu"), "\(error.description)")
        }
        #expect(throws: CommuneLimitError.self) { try CommuneLimitError.check(["dong"], in: tree) }  // a village is not a commune
        #expect(try CommuneLimitError.check(["an-phu", "an-phu"], in: tree) == ["an-phu"])
        try await w.app.test(.live) { client in
            let admin = try await Self.login(client, "admin")
            // A name is not even an id (400); a well-formed id that names nothing is unknown (422).
            for (method, uri, body, expected, hint) in [
                (HTTPRequest.Method.post, "/api/v1/users", #"{"name":"go-nham","role":"viewer","password":"mat-khau-dai-2026-x","communes":["Xã An Phú"]}"#,
                 HTTPResponse.Status.badRequest, "an-phu"),
                (.patch, "/api/v1/users/nguoi-a", #"{"communes":["an-phu","typo"],"role":"viewer"}"#, .unprocessableContent, "typo"),
            ] {
                let (status, text) = try await client.execute(uri: uri, method: method, headers: admin, body: ByteBuffer(string: body)) {
                    ($0.status, String(buffer: $0.body))
                }
                #expect(status == expected, "\(uri): \(status) \(text)")
                #expect(text.contains("không có xã") && text.contains(hint), "\(text)")
            }
            // Nothing was stored on the way.
            #expect(try BroadcastRepository(w.db).users().contains { $0.name == "go-nham" } == false)
            #expect(try AuthRepository(w.db).principal("nguoi-a")?.communes == ["an-phu"])
            #expect(try AuthRepository(w.db).principal("nguoi-a")?.user.role == .operator, "a refused change changes nothing")
        }
    }
}

/// A flag set once from one task and read from another.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
