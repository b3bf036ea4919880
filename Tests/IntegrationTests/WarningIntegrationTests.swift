import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WardController
import WardDomain
import WardStorage

/// Issue 20 end to end: a CAP alert posted over HTTP to `wardfleet run`, with its polygon over two of a
/// commune's four places, goes on air on those two villages' simulated speakers alone (real broker,
/// firmware-sim processes, the playback log). Repetition, Update, Cancel, the all-clear, a controller
/// restart between repeats, reach against the log and the CAP Acks are in issue 20's storm
/// (`RealBrokerTests.Readiness.stormOf200Speakers`).
extension RealBrokerTests {
    @Suite struct Warnings {
        static let fleet = """
            province:
              id: qn
              name: Tỉnh Quảng Ninh
              code: "22"
              communes:
                - id: cam-la
                  name: Xã Cẩm La
                  code: "22300"
                  sites:
                    - {id: ubnd, name: Trụ sở UBND xã, kind: commune_office, lat: 21.20, lon: 107.50, devices: [{id: LOA-UB, class: speaker}]}
                  villages:
                    - id: thon-mot
                      name: Thôn Một
                      sites:
                        - id: nvh-mot
                          name: Nhà văn hóa thôn Một
                          kind: cultural_house
                          lat: 21.01
                          lon: 107.30
                          devices: [{id: LOA-M1, class: speaker}, {id: LOA-M2, class: speaker}]
                    - id: thon-hai
                      name: Thôn Hai
                      sites:
                        - {id: cot-hai, name: Cột loa thôn Hai, kind: pole, lat: 21.02, lon: 107.31, devices: [{id: LOA-H1, class: speaker}]}
                    - id: thon-ba
                      name: Thôn Ba
                      sites:
                        - {id: cot-ba, name: Cột loa thôn Ba, kind: pole, lat: 21.10, lon: 107.40, devices: [{id: LOA-B1, class: speaker}]}
            """
        static let all = ["LOA-UB", "LOA-M1", "LOA-M2", "LOA-H1", "LOA-B1"]
        static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/cap")

        @Test("a CAP alert with a polygon over two villages goes on air on those villages' speakers alone; a local cancel honours the policy file's all-clear")
        func polygonOverTwoVillages() async throws {
            let h = try await Harness(fleet: Self.fleet)
            do {
                try await Self.scenario(h)
            } catch {
                await h.stop()
                throw error
            }
            await h.stop()
        }

        static func scenario(_ h: Harness) async throws {
            let (st, out) = try await h.run("wardfleet", ["warnings", "sources", "add", "kttv-qn", "--name", "Đài KTTV tỉnh Quảng Ninh",
                                                          "--sender", "canhbao@kttv-quangninh.gov.vn", "--db", h.dbPath])
            try #require(st == 0, "\(h.lastStderr)")
            let token = try #require(out.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("wfw_") }.map(String.init))
            let port = try OutsideToolTests.Browser.freePort()
            try await h.startController(["--http-port", "\(port)"])
            try h.startSim([])
            try await h.waitUntil("every speaker online") { try Self.all.allSatisfy { try h.state($0)?.isOnline == true } }

            // The fixture, sent now and expiring tomorrow.
            let now = h.clock.now()
            let text = try String(contentsOf: Self.fixtures.appendingPathComponent("alert-polygon.xml"), encoding: .utf8)
                .replacingOccurrences(of: "2026-09-06T08:00:00+07:00", with: CAPTime(date: now, offset: 25_200).text)
                .replacingOccurrences(of: "2026-09-07T08:00:00+07:00", with: CAPTime(date: now + 86_400, offset: 25_200).text)
            var post = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/warnings/cap")!)
            post.httpMethod = "POST"
            post.timeoutInterval = 600
            post.setValue("application/cap+xml", forHTTPHeaderField: "Content-Type")
            post.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            post.httpBody = Data(text.utf8)
            let (body, response) = try await URLSession.shared.data(for: post)
            try #require((response as? HTTPURLResponse)?.statusCode == 201, "\(String(decoding: body, as: UTF8.self))")
            let receipt = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            #expect(receipt["villages"] as? [String] == ["thon-hai", "thon-mot"] && receipt["level"] as? String == "emergency")

            let bulletin = try UpstreamRepository(h.db).get(Int64(try #require(receipt["bulletin"] as? Int)))
            #expect(bulletin.status == .onAir)
            let item = try #require(bulletin.itemID)
            let targeted = ["LOA-M1", "LOA-M2", "LOA-H1"]
            try await h.waitUntil("the warning finished on \(targeted)", timeout: .seconds(90)) {
                Set(try PlaybackRepository(h.db).entries(item: item).filter { $0.event == .finished }.map(\.speaker)) == Set(targeted)
            }
            #expect(Set(try PlaybackRepository(h.db).entries(item: item).map(\.speaker)) == Set(targeted))
            let stored = try #require(try WarningRepository(h.db).find(sender: "canhbao@kttv-quangninh.gov.vn", identifier: "KTTV-QN-2026-0906-001"))
            #expect(stored.state == .active && stored.risk == .five && stored.targets.untargetable.isEmpty)

            // An approver's cancel on the database with the deployment's policy file (`--warning-policy`, as `run` reads
            // it): a wrong file is refused naming the key and cancels nothing; its `all_clear_on_cancel: true` is honoured.
            let (us, _) = try await h.run("wardfleet", ["users", "add", "hung", "--role", "approver", "--db", h.dbPath])
            try #require(us == 0, "\(h.lastStderr)")
            try h.write("bad-policy.yaml", "otherwise: normal\n")
            let (bs, _) = try await h.run("wardfleet", ["warnings", "cancel", "\(stored.id)", "--as", "hung", "--warning-policy",
                                                        h.file("bad-policy.yaml"), "--db", h.dbPath])
            #expect(bs != 0 && h.lastStderr.contains("--warning-policy") && h.lastStderr.contains("otherwise"), "\(h.lastStderr)")
            #expect(try WarningRepository(h.db).get(stored.id).state == .active)
            try h.write("policy.yaml", "all_clear_on_cancel: true\n")
            let (cs, _) = try await h.run("wardfleet", ["warnings", "cancel", "\(stored.id)", "--as", "hung", "--warning-policy",
                                                        h.file("policy.yaml"), "--db", h.dbPath])
            try #require(cs == 0, "\(h.lastStderr)")
            let cancelled = try WarningRepository(h.db).get(stored.id)
            #expect(cancelled.state == .cancelled && cancelled.cancelledBy == "hung")
            let allClear = try #require(try WarningRepository(h.db).plays(stored.id).first { $0.kind == .allClear })
            try await h.waitUntil("the all-clear finished on \(targeted)", timeout: .seconds(90)) {
                Set(try PlaybackRepository(h.db).entries(item: allClear.itemID).filter { $0.event == .finished }.map(\.speaker)) == Set(targeted)
            }
            #expect(Set(try PlaybackRepository(h.db).entries(item: allClear.itemID).map(\.speaker)) == Set(targeted))
        }

        /// A fixture moved to the test's days: its first day today (Vietnam), its second tomorrow.
        static func fixture(_ name: String, now: Date) throws -> Data {
            let cal = LocalCalendar.vietnam
            let today = cal.localDay(of: now)
            return Data(try String(contentsOf: Self.fixtures.appendingPathComponent(name), encoding: .utf8)
                .replacingOccurrences(of: "2026-09-06", with: today.description)
                .replacingOccurrences(of: "2026-09-07", with: cal.adding(days: 1, to: today).description).utf8)
        }

        static func post(_ h: Harness, port: Int, token: String, _ body: Data) async throws -> [String: Any] {
            var post = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/warnings/cap")!)
            post.httpMethod = "POST"
            post.timeoutInterval = 600
            post.setValue("application/cap+xml", forHTTPHeaderField: "Content-Type")
            post.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            post.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: post)
            try #require((response as? HTTPURLResponse)?.statusCode == 201, "\(String(decoding: data, as: UTF8.self))")
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
    }
}
