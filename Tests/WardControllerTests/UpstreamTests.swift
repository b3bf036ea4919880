import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WardDomain
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

    @Test func theEndpointWantsTheTokenAndSaysWhatHappened() async throws {
        let w = try BroadcastServiceTests.World()
        let library = MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db, clock: w.clock)
        let token = "a-long-shared-secret-0123456789"
        let (base, task) = try await ControllerHTTPServerTests.start(ControllerHTTPServer(
            library: library, host: "127.0.0.1", port: 0, upstream: (UpstreamService(database: w.db, library: library, clock: w.clock), token)))
        defer { task.cancel() }
        let url = URL(string: base + "/api/v1/upstream/bulletins")!
        func post(_ body: String, token: String?) async throws -> (Int, String) {
            var r = URLRequest(url: url)
            r.httpMethod = "POST"
            r.httpBody = Data(body.utf8)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, resp) = try await URLSession.shared.data(for: r)
            return ((resp as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let ok = #"{"source":"tinh-qn","id":"QN-9","title":"Lịch tiếp dân","level":"priority","communes":["cam-la"],"text":"Lịch tiếp công dân tuần tới."}"#
        #expect(try await post(ok, token: nil).0 == 401)
        #expect(try await post(ok, token: "wrong").0 == 401)
        let (st, body) = try await post(ok, token: token)
        #expect(st == 201 && body.contains("\"status\":\"inbox\""), "\(body)")
        #expect(try await post(ok, token: token).0 == 200)
        #expect(try await post("{not json", token: token).0 == 400)
        #expect(try await post(#"{"source":"tinh-qn","id":"QN-10","title":"x","level":"loud","communes":["cam-la"],"text":"a"}"#, token: token).0 == 400)
        let (st2, body2) = try await post(#"{"source":"tinh-qn","id":"QN-11","title":"x","level":"normal","communes":["nowhere"],"text":"a"}"#, token: token)
        #expect(st2 == 422 && body2.contains("nowhere"), "\(body2)")
    }
}
