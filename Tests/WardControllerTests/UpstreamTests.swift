import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WardDomain
import Yams
import WardStorage
@testable import WardController
@testable import WardHTTP

/// Bulletins from the provincial source system: inbox for normal ones, on air for emergencies.
@Suite struct UpstreamTests {
    @Test func normalGoesToTheInboxEmergencyOnAirRepeatsOnceBadOnesRefused() async throws {
        let w = try BroadcastServiceTests.World()
        let library = MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db, clock: w.clock)
        let up = UpstreamService(database: w.db, library: library, clock: w.clock)
        let normal = UpstreamRequest(source: "tinh-qn", id: "QN-001", title: "Tin nông nghiệp tuần này", level: .normal,
                                     communes: ["cam-la"], text: "Bà con chú ý phòng trừ sâu bệnh cho lúa.")
        let (b, isNew) = try await up.receive(normal)
        #expect(isNew && b.status == .inbox && b.title == "Tin nông nghiệp tuần này")
        #expect(try await up.receive(normal).isNew == false)  // sent twice, stored once
        #expect(try UpstreamRepository(w.db).list().count == 1)

        let item = try up.schedule(b.id, recurrence: .once(LocalDay("2026-11-24")!, at: LocalTime("17:00")!), by: "hung")
        #expect(item.item.target == BroadcastTarget(communes: ["cam-la"]) && item.status == .approved)
        #expect(try UpstreamRepository(w.db).get(b.id).status == .scheduled)

        let (e, _) = try await up.receive(UpstreamRequest(source: "tinh-qn", id: "QN-002", title: "Cảnh báo bão số 9", level: .emergency,
                                                          communes: ["cam-la"], text: "Bão số 9 sắp đổ bộ, bà con chằng chống nhà cửa."))
        #expect(e.status == .onAir)
        let onAir = try BroadcastRepository(w.db).get(try #require(e.itemID))
        #expect(onAir.item.level == .emergency && onAir.status == .approved && onAir.createdBy == "upstream:tinh-qn")

        for bad in [UpstreamRequest(source: "tinh-qn", id: "X", title: "T", level: .normal, communes: ["khong-co"], text: "a"),
                    UpstreamRequest(source: "tinh qn", id: "X", title: "T", level: .normal, communes: ["cam-la"], text: "a"),
                    UpstreamRequest(source: "tinh-qn", id: "X", title: "T", level: .normal, communes: ["cam-la"], text: "a", streamURL: "http://x/y"),
                    UpstreamRequest(source: "tinh-qn", id: "X", title: "T", level: .normal, communes: ["cam-la"], audioBase64: "AAAA")] {
            await #expect(throws: ScheduleRefusal.self) { try await up.receive(bad) }
        }
    }

    static let token = "a-long-shared-secret-0123456789"

    /// The upstream endpoint on a real server over a fresh world (kept alive by the caller: it
    /// owns the database's folder); its base URL and its task.
    static func endpoint() async throws -> (String, Task<Void, any Error>, BroadcastServiceTests.World) {
        let w = try BroadcastServiceTests.World()
        let library = MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db, clock: w.clock)
        let (base, task) = try await ControllerHTTPServerTests.start(ControllerHTTPServer(
            library: library, host: "127.0.0.1", port: 0, upstream: (UpstreamService(database: w.db, library: library, clock: w.clock), token)))
        return (base, task, w)
    }

    static func post(_ base: String, _ body: String, token: String?, lang: String? = nil) async throws -> (Int, Data) {
        var r = URLRequest(url: URL(string: base + "/api/v1/upstream/bulletins" + (lang.map { "?lang=\($0)" } ?? ""))!)
        r.timeoutInterval = 600  // speech is rendered in the request: slow when every core is busy
        r.httpMethod = "POST"
        r.httpBody = Data(body.utf8)
        r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, resp) = try await URLSession.shared.data(for: r)
        return ((resp as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    @Test func theEndpointWantsTheTokenAndSaysWhatHappened() async throws {
        let (base, task, w) = try await Self.endpoint()
        defer { task.cancel(); withExtendedLifetime(w) {} }
        func post(_ body: String, token: String?) async throws -> (Int, String) {
            let (st, data) = try await Self.post(base, body, token: token)
            return (st, String(decoding: data, as: UTF8.self))
        }
        let ok = #"{"source":"tinh-qn","id":"QN-9","title":"Lịch tiếp dân","level":"priority","communes":["cam-la"],"text":"Lịch tiếp công dân tuần tới."}"#
        #expect(try await post(ok, token: nil).0 == 401)
        #expect(try await post(ok, token: "wrong").0 == 401)
        let (st, body) = try await post(ok, token: Self.token)
        #expect(st == 201 && body.contains("\"status\":\"inbox\""), "\(body)")
        #expect(try await post(ok, token: Self.token).0 == 200)
        #expect(try await post("{not json", token: Self.token).0 == 400)
        #expect(try await post(#"{"source":"tinh-qn","id":"QN-10","title":"x","level":"loud","communes":["cam-la"],"text":"a"}"#, token: Self.token).0 == 400)
        let (st2, body2) = try await post(#"{"source":"tinh-qn","id":"QN-11","title":"x","level":"normal","communes":["nowhere"],"text":"a"}"#, token: Self.token)
        #expect(st2 == 422 && body2.contains("nowhere"), "\(body2)")
    }

    /// Issue 19 item 9: the endpoint follows the operators' API rules, and its words name the field, never a Swift type.
    @Test func aBadBodyIsNamedByFieldWithoutTypeNames() async throws {
        let (base, task, w) = try await Self.endpoint()
        defer { task.cancel(); withExtendedLifetime(w) {} }
        func post(_ body: String, lang: String) async throws -> (Int, code: String?, error: String) {
            let (st, data) = try await Self.post(base, body, token: Self.token, lang: lang)
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            return (st, json?["code"] as? String, json?["error"] as? String ?? "")
        }
        let fields = #""source":"tinh-qn","id":"QN-20","title":"Tin","communes":["cam-la"],"text":"Bà con chú ý.""#
        for lang in ["en", "vi"] {
            // A missing field is named (not "invalid JSON").
            var (st, code, error) = try await post("{\(fields)}", lang: lang)
            #expect(st == 400 && code == "missing_field" && error.hasPrefix("level:"), "\(error)")
            // A level outside the list gives the list, not the type.
            (st, code, error) = try await post(#"{\#(fields),"level":"loud"}"#, lang: lang)
            #expect(st == 400 && code == "invalid_value" && error.contains("'loud'") && error.contains("normal, priority, emergency"),
                    "\(error)")
            // Unknown fields are refused by name, as the README says.
            (st, code, error) = try await post(#"{\#(fields),"level":"normal","colour":"red"}"#, lang: lang)
            #expect(st == 400 && code == "unknown_field" && error.contains("colour"), "\(error)")
            (st, code, error) = try await post(#"{\#(fields),"level":"normal","voice":null}"#, lang: lang)
            #expect(st == 400 && code == "null_field" && error.contains("voice"), "\(error)")
            (st, code, error) = try await post(#"{\#(fields),"level":"normal","duration_s":"long"}"#, lang: lang)
            #expect(st == 400 && code == "invalid_body" && error.contains("duration_s"), "\(error)")
            (st, code, _) = try await post("[1]", lang: lang)
            #expect(st == 400 && code == "invalid_json")
        }
        // Each refusal above, in both languages, without the decoder's own words.
        let noCommunes = #""source":"tinh-qn","id":"QN-21","title":"Tin","level":"normal","text":"Bà con chú ý.""#
        for body in ["{\(fields)}", #"{\#(fields),"level":"loud"}"#, #"{\#(fields),"level":"normal","voice":"deep"}"#,
                     #"{\#(noCommunes),"communes":"cam-la"}"#, #"{\#(noCommunes),"communes":[7]}"#] {
            for lang in ["en", "vi", "both"] {
                let (st, _, error) = try await post(body, lang: lang)
                #expect(st == 400, "\(body)")
                for word in ["Cannot initialize", "BroadcastLevel", "TTSVoice", "UpstreamRequest", "CodingKeys", "Array<", "Swift.",
                             "keyNotFound", "debugDescription"] {
                    #expect(!error.contains(word), "\(lang) \(body): \(error)")
                }
            }
        }
        #expect(try await post(#"{\#(fields),"level":"normal"}"#, lang: "en").0 == 201)
    }

    /// The document describes the body the endpoint takes, field for field.
    @Test func theDocumentDescribesTheBody() throws {
        let doc = try OperatorAPITests.openAPIDocument()
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
        let body = try #require(schemas["UpstreamBulletin"])
        #expect(Set((body["properties"] as? [String: Any] ?? [:]).keys) == UpstreamRequest.fields)
        #expect(body["additionalProperties"] as? Bool == false)
        #expect(Set(body["required"] as? [String] ?? []) == ["source", "id", "title", "level", "communes"])
        #expect(body["example"] != nil)
        let paths = try #require(doc["paths"] as? [String: Any])
        let op = try #require((paths["/api/v1/upstream/bulletins"] as? [String: Any])?["post"] as? [String: Any])
        #expect(Set((op["responses"] as? [String: Any] ?? [:]).keys) == ["200", "201", "400", "401", "404", "413", "422"])
    }

    /// YAML 1.1 reads on, off, yes, no, y, n as booleans (a schedule's `on` became `true`): none may be
    /// left unquoted where the document means a name or a value.
    @Test func theDocumentHasNoKeyOrEnumValueReadAsABoolean() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text))
        var problems: [String] = []
        func walk(_ node: Any, _ path: String) {
            if let map = node as? [AnyHashable: Any] {
                for (k, v) in map {
                    guard let key = k.base as? String else {
                        problems.append("\(path): key \(k.base) (\(type(of: k.base)))")
                        continue
                    }
                    if key == "enum", let values = v as? [Any], values.contains(where: { $0 is Bool }) {
                        problems.append("\(path).enum: \(values)")
                    }
                    walk(v, path + "." + key)
                }
            } else if let list = node as? [Any] {
                for (i, v) in list.enumerated() { walk(v, "\(path)[\(i)]") }
            }
        }
        walk(root, "")
        #expect(problems.isEmpty, "\(problems)")
        // The schedule bodies do have the field `on`, a string key.
        let schemas = try #require(((root as? [String: Any])?["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let schedule = try #require((schemas["Schedule"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(schedule["on"] != nil)
    }

    /// Issue 19 item 12: the inbox shows what a text bulletin says.
    @Test func theInboxCarriesATextBulletinsText() async throws {
        let w = try BroadcastServiceTests.World()
        let library = MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db, clock: w.clock)
        let up = UpstreamService(database: w.db, library: library, clock: w.clock)
        let said = "Bà con chú ý phòng trừ sâu bệnh cho lúa."
        let (b, _) = try await up.receive(UpstreamRequest(source: "tinh-qn", id: "QN-T1", title: "Tin nông nghiệp", level: .normal,
                                                          communes: ["cam-la"], text: said))
        let (relay, _) = try await up.receive(UpstreamRequest(source: "tinh-qn", id: "QN-T2", title: "Tiếp sóng", level: .normal,
                                                              communes: ["cam-la"], streamURL: "http://dai.tinh.vn/live", durationSeconds: 600))
        let repo = UpstreamRepository(w.db)
        #expect(try repo.get(b.id).text == said)
        #expect(try repo.get(relay.id).text == nil)
        let listed = try repo.list()
        #expect(listed.first { $0.id == b.id }?.text == said && listed.first { $0.id == relay.id }?.text == nil)
        // As the API answers it.
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = try JSONSerialization.jsonObject(with: encoder.encode(listed)) as? [[String: Any]]
        #expect(json?.contains { $0["text"] as? String == said } == true)
    }
}
