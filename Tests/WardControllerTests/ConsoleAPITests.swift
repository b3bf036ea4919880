import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardDomain
import WardStorage
@testable import WardController
@testable import WardHTTP

/// What the console needs from the API (issue 14): errors with a code in one language, users
/// edited and disabled, a paged and filtered audit log with before/after, an emergency's
/// acknowledgements, and recordings uploaded as WAV.
@Suite struct ConsoleAPITests {
    typealias Session = OperatorAPITests.Session
    static let body = OperatorAPITests.body

    static func json(_ r: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any] ?? [:]
    }

    static func list(_ r: TestResponse) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [[String: Any]] ?? []
    }

    @Test func errorsCarryAStableCodeAndOneLanguage() async throws {
        let f = try await OperatorAPITests().fixture()
        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            func get(_ uri: String, _ extra: HTTPFields = [:]) async throws -> (Int, [String: Any], String?) {
                var h = admin.headers
                for f in extra { h.append(f) }
                return try await client.execute(uri: uri, method: .get, headers: h) { r in
                    (r.status.code, Self.json(r), r.headers[.contentLanguage])
                }
            }
            var (st, e, lang) = try await get("/api/v1/devices/khong-co")
            #expect(st == 404 && e["code"] as? String == "not_found" && lang == "vi")
            #expect(e["error"] as? String == "không có thiết bị khong-co", "\(e)")
            (st, e, lang) = try await get("/api/v1/devices/khong-co", [.acceptLanguage: "en-US,en;q=0.9,vi;q=0.5"])
            #expect(e["error"] as? String == "no device khong-co" && lang == "en", "\(e)")
            (st, e, _) = try await get("/api/v1/devices/khong-co?lang=en", [.acceptLanguage: "vi"])
            #expect(e["error"] as? String == "no device khong-co", "the lang parameter wins: \(e)")
            (st, e, _) = try await get("/api/v1/devices/khong-co", [.acceptLanguage: "mul"])
            #expect(e["error"] as? String == "không có thiết bị khong-co / no device khong-co", "\(e)")
            (st, e, _) = try await get("/api/v1/devices?class=toaster", [.acceptLanguage: "en"])
            #expect(st == 400 && e["code"] as? String == "invalid_request" && (e["error"] as? String)?.hasPrefix("class: ") == true, "\(e)")
            // Finer codes where the throw site knows more.
            let unknown = try await client.execute(uri: "/api/v1/broadcasts", method: .post, headers: admin.headers,
                                                   body: Self.body(#"{"title":"x","admin":true}"#)) { Self.json($0) }
            #expect(unknown["code"] as? String == "unknown_field" && unknown["error"] as? String == "trường không hỗ trợ: admin", "\(unknown)")
            let anonymous = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.acceptLanguage: "en"]) { Self.json($0) }
            #expect(anonymous["code"] as? String == "unauthorized" && anonymous["error"] as? String == "sign in first", "\(anonymous)")
            let viewer = try #require(try await OperatorAPITests.login(client, "u-viewer"))
            let forbidden = try await client.execute(uri: "/api/v1/users", method: .get, headers: viewer.headers) { ($0.status, Self.json($0)) }
            #expect(forbidden.0 == .forbidden && forbidden.1["code"] as? String == "role_forbidden", "\(forbidden)")
            let wrong = try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json", .acceptLanguage: "en"],
                                                 body: Self.body(#"{"user":"u-admin","password":"sai-mat-khau-99"}"#)) { Self.json($0) }
            #expect(wrong["code"] as? String == "wrong_credentials" && wrong["error"] as? String == "wrong user name or password")
            let method = try await client.execute(uri: "/api/v1/me", method: .delete, headers: [.acceptLanguage: "en"]) { Self.json($0) }
            #expect(method["code"] as? String == "method_not_allowed" && (method["error"] as? String)?.hasPrefix("method not allowed") == true)
            let media = try await client.execute(uri: "/media/not-a-hash", method: .get, headers: [.acceptLanguage: "en"]) { Self.json($0) }
            #expect(media["code"] as? String == "invalid_hash" && media["error"] as? String == "the id must be a SHA-256 (64 hex digits)")
        }
    }

    @Test func usersAreEditedDisabledAndAuditedWithBeforeAndAfter() async throws {
        let f = try await OperatorAPITests().fixture()
        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, as s: Session? = nil) async throws -> (Int, TestResponse) {
                try await client.execute(uri: uri, method: method, headers: (s ?? admin).headers, body: body.map(Self.body)) { ($0.status.code, $0) }
            }
            var (st, r) = try await call(.post, "/api/v1/users", #"{"name":"lan","role":"operator","password":"\#(OperatorAPITests.password)","communes":["an-phu"]}"#)
            #expect(st == 201)
            (st, r) = try await call(.get, "/api/v1/users")
            let lan = try #require(Self.list(r).first { $0["name"] as? String == "lan" })
            #expect(lan["disabled"] as? Bool == false && lan["communes"] as? [String] == ["an-phu"])
            #expect(lan["commune_names"] as? [String: String] == ["an-phu": "Xã An Phú"])
            #expect(Self.list(r).first { $0["name"] as? String == "u-admin" }?["communes"] == nil, "no limit: every commune")
            let session = try #require(try await OperatorAPITests.login(client, "lan"))
            (st, r) = try await call(.post, "/api/v1/users/lan/tokens", #"{"label":"máy tính bảng"}"#)
            let token = try #require(Self.json(r)["token"] as? String)

            // Display name, role and communes in one change, recorded before and after.
            (st, r) = try await call(.patch, "/api/v1/users/lan", #"{"display_name":"Chị Lan","role":"approver","communes":["an-phu","binh-an"]}"#)
            #expect(st == 200, "\(String(buffer: r.body))")
            var entry = try #require(try AuthRepository(f.db).auditLog().first { $0.action == "user.change" && $0.target == "lan" })
            let beforeText = try #require(entry.before), afterText = try #require(entry.after)
            let before = try JSONSerialization.jsonObject(with: Data(beforeText.utf8)) as? [String: Any]
            let after = try JSONSerialization.jsonObject(with: Data(afterText.utf8)) as? [String: Any]
            #expect(before?["role"] as? String == "operator" && before?["display_name"] as? String == "lan" && before?["communes"] as? [String] == ["an-phu"])
            #expect(after?["role"] as? String == "approver" && after?["display_name"] as? String == "Chị Lan")
            #expect(after?["communes"] as? [String] == ["an-phu", "binh-an"] && after?["disabled"] as? Bool == false)
            #expect(try AuthRepository(f.db).credentials("lan")?.user.displayName == "Chị Lan")

            // Disabled: no sign-in, no session, no token; then enabled again.
            let again = try #require(try await OperatorAPITests.login(client, "lan"))  // the role change ended the first session
            _ = session
            (st, r) = try await call(.patch, "/api/v1/users/lan", #"{"disabled":true}"#)
            #expect(st == 200 && String(buffer: r.body).contains("disabled"))
            (st, r) = try await call(.get, "/api/v1/me", as: again)
            #expect(st == 401)
            let byToken = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(token)"]) { ($0.status.code, Self.json($0)) }
            #expect(byToken.0 == 401, "disabling a user ends their tokens: \(byToken)")
            let login = try await client.execute(uri: "/api/v1/login", method: .post, headers: [.contentType: "application/json"],
                                                 body: Self.body(#"{"user":"lan","password":"\#(OperatorAPITests.password)"}"#)) { ($0.status.code, Self.json($0)) }
            #expect(login.0 == 403 && login.1["code"] as? String == "user_disabled")
            (st, r) = try await call(.get, "/api/v1/users")
            #expect(Self.list(r).first { $0["name"] as? String == "lan" }?["disabled"] as? Bool == true)
            entry = try #require(try AuthRepository(f.db).auditLog().first { $0.target == "lan" })
            #expect(entry.action == "user.disable" && entry.before?.contains(#""disabled":false"#) == true && entry.after?.contains(#""disabled":true"#) == true)
            (st, r) = try await call(.patch, "/api/v1/users/lan", #"{"disabled":false}"#)
            #expect(st == 200)
            #expect(try AuthRepository(f.db).auditLog().first?.action == "user.enable")
            #expect(try await OperatorAPITests.login(client, "lan") != nil)
            // Enabled again, the token stays ended (issue 19: disabling ends tokens as it ends sessions).
            let tokenAgain = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(token)"]) { $0.status.code }
            #expect(tokenAgain == 401)

            // Nobody disables themselves; a display name must say something.
            (st, r) = try await call(.patch, "/api/v1/users/u-admin", #"{"disabled":true}"#)
            #expect(st == 409 && Self.json(r)["code"] as? String == "self_disable")
            (st, r) = try await call(.patch, "/api/v1/users/lan", #"{"display_name":"   "}"#)
            #expect(st == 400)
            (st, r) = try await call(.patch, "/api/v1/users/lan", #"{"disabled":"yes"}"#)
            #expect(st == 400 && Self.json(r)["code"] as? String == "invalid_body")
        }
    }

    @Test func theAuditLogIsFilteredAndPaged() async throws {
        let f = try await OperatorAPITests().fixture()
        let auth = AuthRepository(f.db)
        let day = 86_400.0
        let base = Date(timeIntervalSince1970: 1_790_000_000)  // 2026-09-21 21:13 in Hà Nội
        for i in (0..<12).reversed() {  // oldest first, as the log is written
            try auth.audit(user: i % 3 == 0 ? "u-operator" : "u-approver", action: i % 2 == 0 ? "broadcast.schedule" : "broadcast.approve",
                           target: "item-\(i)", detail: nil, address: nil, at: base - Double(i) * day)
        }
        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            func get(_ uri: String) async throws -> (Int, [[String: Any]], String?) {
                try await client.execute(uri: uri, method: .get, headers: admin.headers) { ($0.status.code, Self.list($0), $0.headers[HTTPField.Name("X-Next-Before")!]) }
            }
            func targets(_ l: [[String: Any]]) -> [String] { l.compactMap { $0["target"] as? String } }
            var (st, page, next) = try await get("/api/v1/audit?action=broadcast.*&limit=5")
            #expect(st == 200 && targets(page) == (0..<5).map { "item-\($0)" } && next != nil)
            (st, page, next) = try await get("/api/v1/audit?action=broadcast.*&limit=5&before=\(next!)")
            #expect(targets(page) == (5..<10).map { "item-\($0)" })
            (st, page, next) = try await get("/api/v1/audit?action=broadcast.*&limit=5&before=\(next!)")
            #expect(targets(page) == ["item-10", "item-11"] && next == nil, "the last page is short")
            (st, page, _) = try await get("/api/v1/audit?action=broadcast.*&limit=5&offset=10")
            #expect(targets(page) == ["item-10", "item-11"])
            (st, page, _) = try await get("/api/v1/audit?user=u-operator&action=broadcast.schedule")
            #expect(targets(page) == ["item-0", "item-6"])
            // Local days, both ends included: 2026-09-19 … 2026-09-20 are items 1 and 2.
            (st, page, _) = try await get("/api/v1/audit?action=broadcast.*&from=2026-09-19&to=2026-09-20")
            #expect(targets(page) == ["item-1", "item-2"], "\(targets(page))")
            (st, page, _) = try await get("/api/v1/audit")
            #expect(page.count == 12 + 1, "default page: 50, newest first (the sign-in is newest)")
            for (uri, status) in [("/api/v1/audit?from=2026-09-21&to=2026-09-20", 422), ("/api/v1/audit?limit=501", 400),
                                  ("/api/v1/audit?action=DROP%20TABLE", 400), ("/api/v1/audit?before=0", 400), ("/api/v1/audit?from=21/09/2026", 400)] {
                #expect(try await get(uri).0 == status, "\(uri)")
            }
        }
    }

    @Test func anEmergencysAcknowledgementsArriveSpeakerBySpeaker() async throws {
        let f = try await OperatorAPITests().fixture()
        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let item = try await client.execute(uri: "/api/v1/emergency", method: .post, headers: admin.headers,
                                                body: Self.body(#"{"title":"Lũ quét","stream":"http://dai.tinh.vn/live","minutes":5,"communes":["an-phu"]}"#)) { r in
                #expect(r.status == .created, "\(String(buffer: r.body))")
                return (Self.json(r)["item"] as? [String: Any])?["id"] as? String
            }
            let id = try #require(item)
            func delivery(_ s: Session? = nil) async throws -> (Int, [String: Any]) {
                try await client.execute(uri: "/api/v1/broadcasts/\(id)/delivery", method: .get, headers: (s ?? admin).headers) { ($0.status.code, Self.json($0)) }
            }
            var (st, d) = try await delivery()
            #expect(st == 200, "\(d)")
            var counts = d["counts"] as? [String: Int]
            #expect(counts?["targeted"] == 1 && counts?["acknowledged"] == 0 && counts?["pending"] == 1, "\(d)")
            var speaker = (d["speakers"] as? [[String: Any]])?.first
            #expect(speaker?["device_id"] as? String == "loa-1" && speaker?["village_name"] as? String == "Thôn Đông" && speaker?["outcome"] as? String == "pending")
            let play = try #require(d["play"] as? String)
            let key = try #require(PlayKey(id: play))
            try PlaybackRepository(f.db).append([
                PlaybackEntry(key: key, speaker: "loa-1", event: .scheduled, at: key.start),
                PlaybackEntry(key: key, speaker: "loa-1", event: .received, at: key.start + 1),
                PlaybackEntry(key: key, speaker: "loa-1", event: .started, at: key.start + 2.5),
            ], recordedAt: key.start + 3)
            (st, d) = try await delivery()
            counts = d["counts"] as? [String: Int]
            #expect(counts?["targeted"] == 1 && counts?["acknowledged"] == 1 && counts?["started"] == 1, "\(d)")
            speaker = (d["speakers"] as? [[String: Any]])?.first
            #expect(speaker?["outcome"] as? String == "playing" && speaker?["acknowledged"] as? Bool == true && speaker?["late_seconds"] as? Double == 2.5)
            // Another commune's people do not learn of it.
            _ = try await client.execute(uri: "/api/v1/users", method: .post, headers: admin.headers,
                                         body: Self.body(#"{"name":"binh","role":"viewer","password":"\#(OperatorAPITests.password)","communes":["binh-an"]}"#)) { $0.status }
            let binh = try #require(try await OperatorAPITests.login(client, "binh"))
            #expect(try await delivery(binh).0 == 404)
            let unknown = try await client.execute(uri: "/api/v1/broadcasts/khong-co/delivery", method: .get, headers: admin.headers) { $0.status.code }
            #expect(unknown == 404)
        }
    }

    /// The live stream's playback event names the items whose lines are new, so a console
    /// following an emergency refetches its delivery.
    @Test func playbackEventsNameTheirItems() async throws {
        let f = try await OperatorAPITests().fixture { api in
            api.eventStreamLifetime = .milliseconds(2_500)
            api.eventInterval = .milliseconds(100)
        }
        let key = PlayKey(item: "khan-cap-1", start: Date(timeIntervalSince1970: 1_790_000_000))
        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            // New lines keep coming while the stream is open (however late its first look at the log).
            let done = ManagedFlag()
            let writer = Task {
                var i = 0.0
                while !done.isSet {
                    try await Task.sleep(for: .milliseconds(150))
                    i += 1
                    let k = PlayKey(item: key.item, start: key.start + i)
                    try PlaybackRepository(f.db).append([PlaybackEntry(key: k, speaker: "loa-1", event: .received, at: k.start)], recordedAt: k.start)
                }
            }
            let text = try await client.execute(uri: "/api/v1/events", method: .get, headers: admin.headers) { String(buffer: $0.body) }
            done.set()
            try await writer.value
            #expect(text.contains(#"event: playback"#) && text.contains(#""items":["khan-cap-1"]"#) && text.contains(#""new_entries":"#), "\(text)")
        }
    }

    /// Answers of the API are gzip-compressed when the client takes it (the monthly report here).
    @Test func apiAnswersAreCompressedWhenAsked() async throws {
        let f = try await OperatorAPITests().fixture()
        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            var headers = admin.headers
            let plain = try await client.execute(uri: "/api/v1/reports/2026-08?format=html", method: .get, headers: headers) { r in
                #expect(r.headers[.contentEncoding] == nil)
                return Data(buffer: r.body)
            }
            headers[.acceptEncoding] = "gzip, deflate"
            try await client.execute(uri: "/api/v1/reports/2026-08?format=html", method: .get, headers: headers) { r in
                #expect(r.status == .ok && r.headers[.contentEncoding] == "gzip" && r.headers[.vary]?.contains("Accept-Encoding") == true)
                #expect(r.body.readableBytes < plain.count / 2)
                #expect(Gzip.decompress(Data(buffer: r.body)) == plain)
            }
            // Small answers and the live stream are left as they are.
            try await client.execute(uri: "/api/v1/me", method: .get, headers: headers) { r in #expect(r.headers[.contentEncoding] == nil) }
        }
    }

    /// A browser recording converted to 16-bit PCM mono WAV goes through the same upload and checks.
    @Test func aRecordingUploadedAsWavEntersTheLibrary() async throws {
        let f = try await OperatorAPITests().fixture()
        try await f.app.test(.live) { client in
            let s = try #require(try await OperatorAPITests.login(client, "u-operator"))
            var headers = s.headers
            headers[.contentType] = "audio/wav"
            let title = "Thông báo ghi âm".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!
            let (st, item) = try await client.execute(uri: "/api/v1/media?file_name=ghi-am-20261203.wav&title=\(title)", method: .post, headers: headers,
                                                      body: ByteBuffer(data: Self.wav(seconds: 1.5))) { ($0.status.code, Self.json($0)) }
            #expect(st == 201, "\(item)")
            #expect(item["format"] as? String == "wav" && item["title"] as? String == "Thông báo ghi âm", "\(item)")
            let (bad, why) = try await client.execute(uri: "/api/v1/media?file_name=ghi-am.wav", method: .post, headers: headers,
                                                      body: ByteBuffer(data: Data("RIFF....WAVEfmt nonsense".utf8))) { ($0.status.code, Self.json($0)) }
            #expect(bad == 422 && (why["code"] as? String).map { $0 != "server_error" } == true, "\(why)")
        }
    }

    /// What the console's recorder sends: RIFF/WAVE, PCM, 16-bit, mono, 16 kHz.
    static func wav(seconds: Double, rate: Int = 16_000) -> Data {
        let samples = (0..<Int(seconds * Double(rate))).map { i in Int16(8_000 * sin(2 * Double.pi * 440 * Double(i) / Double(rate))) }
        var d = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
        d.append(contentsOf: Array("RIFF".utf8)); u32(36 + samples.count * 2); d.append(contentsOf: Array("WAVE".utf8))
        d.append(contentsOf: Array("fmt ".utf8)); u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16)
        d.append(contentsOf: Array("data".utf8)); u32(samples.count * 2)
        for s in samples { withUnsafeBytes(of: s.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }
}
