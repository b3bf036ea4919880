import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Synchronization
import Testing
import WardController
import WardDomain
import WardStorage

/// Issue 20 end to end: a CAP alert posted over HTTP to `wardfleet run`, with its polygon over two of a
/// commune's four places, goes on air on those two villages' simulated speakers alone (real broker,
/// firmware-sim processes, the playback log).
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

        @Test("an Extreme alert repeats, an Update replaces its repeats, a Cancel stops them with an all-clear; reach equals the log")
        func repeatsUpdateCancelAndReach() async throws {
            // The source's stand-in: it takes the CAP Acks with the reach of each play.
            let acks = Mutex<[Data]>([])
            let router = Router()
            router.post("/cap-ack") { request, _ -> Response in
                let body = Data(buffer: try await request.body.collect(upTo: 1 << 20))
                acks.withLock { $0.append(body) }
                return Response(status: .ok)
            }
            let port = Mutex(0)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
            let server = Task { try await app.runService() }
            defer { server.cancel() }
            let h = try await Harness(fleet: Self.fleet)
            do {
                try await h.waitUntil("the source's stand-in listening") { port.withLock { $0 } != 0 }
                try await Self.inForce(h, ackURL: "http://127.0.0.1:\(port.withLock { $0 })/cap-ack", acks: { acks.withLock { $0 } })
            } catch {
                await h.stop()
                throw error
            }
            await h.stop()
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

        static func inForce(_ h: Harness, ackURL: String, acks: () -> [Data]) async throws {
            let (st, out) = try await h.run("wardfleet", ["warnings", "sources", "add", "kttv-qn", "--name", "Đài KTTV tỉnh Quảng Ninh",
                                                          "--sender", "canhbao@kttv-quangninh.gov.vn", "--ack-url", ackURL, "--db", h.dbPath])
            try #require(st == 0, "\(h.lastStderr)")
            let token = try #require(out.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("wfw_") }.map(String.init))
            let port = try OutsideToolTests.Browser.freePort()
            let controller = try await h.startController(["--http-port", "\(port)", "--warning-all-clear"])
            try h.startSim([])
            try await h.waitUntil("every speaker online") { try Self.all.allSatisfy { try h.state($0)?.isOnline == true } }
            let repo = WarningRepository(h.db)
            let log = PlaybackRepository(h.db)
            let targeted: Set<String> = ["LOA-M1", "LOA-M2", "LOA-H1"]
            func finishedEverywhere(_ item: String) throws -> Bool {
                Set(try log.entries(item: item).filter { $0.event == .finished }.map(\.speaker)) == targeted
            }
            func play(_ alert: Int64, _ number: Int, kind: WarningPlay.Kind = .play) throws -> WarningPlay? {
                try repo.plays(alert).first { $0.number == number && $0.kind == kind }
            }

            // The alert: on air at once in the two villages only.
            let first = try await Self.post(h, port: port, token: token, try Self.fixture("alert-polygon.xml", now: h.clock.now()))
            let a = Int64(try #require(first["id"] as? Int))
            try await h.waitUntil("play 1 finished in Thôn Một and Thôn Hai", timeout: .seconds(90)) {
                try play(a, 1).map { try finishedEverywhere($0.itemID) } == true
            }
            // Half an hour later (risk level 5: every 30 min) it plays again, on the same speakers.
            let planA = try #require(try repo.get(a).plan)
            #expect(planA.interval == 1800)
            try h.setClock(to: planA.anchor.addingTimeInterval(1800 + 1))
            try await h.waitUntil("repeat 2 finished", timeout: .seconds(90)) { try play(a, 2).map { try finishedEverywhere($0.itemID) } == true }

            // The controller stops; slot 3 passes while it is down. The restarted one plays it once (late),
            // from the stored plan and plays alone.
            await controller.terminate()
            try h.setClock(to: planA.anchor.addingTimeInterval(3600 + 5))
            try await h.startController(["--http-port", "\(port)", "--warning-all-clear"])
            try await h.waitUntil("repeat 3 finished after the restart", timeout: .seconds(90)) {
                try play(a, 3).map { try finishedEverywhere($0.itemID) } == true
            }
            #expect(try repo.plays(a).map(\.number) == [1, 2, 3])

            // The Update: on air at once; the alert it replaces makes no more plays.
            let updated = try await Self.post(h, port: port, token: token, try Self.fixture("update.xml", now: h.clock.now()))
            let u = Int64(try #require(updated["id"] as? Int))
            #expect(try repo.get(a).state == .replaced)
            try await h.waitUntil("the update finished", timeout: .seconds(90)) { try play(u, 1).map { try finishedEverywhere($0.itemID) } == true }
            let planU = try #require(try repo.get(u).plan)
            // Past both the old plan's next slot (4) and the update's: only the update repeats.
            try h.setClock(to: planU.anchor.addingTimeInterval(1800 + 1))
            try await h.waitUntil("the update's repeat finished", timeout: .seconds(90)) {
                try play(u, 2).map { try finishedEverywhere($0.itemID) } == true
            }
            #expect(try repo.plays(a).map(\.number) == [1, 2, 3])

            // The Cancel: no more repeats, the all-clear on the same speakers.
            _ = try await Self.post(h, port: port, token: token, try Self.fixture("cancel.xml", now: h.clock.now()))
            #expect(try repo.get(u).state == .cancelled)
            try await h.waitUntil("the all-clear finished", timeout: .seconds(90)) {
                try play(u, 0, kind: .allClear).map { try finishedEverywhere($0.itemID) } == true
            }
            let next = planU.anchor.addingTimeInterval(3600)
            try h.setClock(to: next.addingTimeInterval(1))
            try await h.waitUntil("the controller ran past the cancelled slot") {
                (try HealthQueries(h.db).controllerLastAlive() ?? .distantPast) > next.addingTimeInterval(4)
            }
            #expect(try repo.plays(u).map(\.number) == [0, 1, 2] && repo.plays(a).map(\.number) == [1, 2, 3])
            // Nothing of it anywhere else.
            for p in try repo.plays(a) + repo.plays(u) {
                #expect(Set(try log.entries(item: p.itemID).map(\.speaker)) == targeted)
            }

            // Reach, through the CLI: per play, per village, speaker by speaker what the log holds.
            for alert in [a, u] {
                let (rs, json) = try await h.run("wardfleet", ["warnings", "reach", "\(alert)", "--json", "--db", h.dbPath])
                try #require(rs == 0, "\(h.lastStderr)")
                let reach = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
                let plays = try #require(reach["plays"] as? [[String: Any]])
                #expect(plays.count == (try repo.plays(alert).count))
                for p in plays {
                    let item = try #require(p["itemID"] as? String ?? p["item"] as? String)
                    let rows = PlaybackRow.fold(try log.entries(item: item))
                    let places = try #require(p["places"] as? [[String: Any]])
                    #expect(Set(places.compactMap { $0["id"] as? String }) == ["thon-mot", "thon-hai"])
                    var seen: [String: String] = [:]
                    for place in places {
                        for s in place["speakers"] as? [[String: Any]] ?? [] { seen[s["id"] as? String ?? ""] = s["outcome"] as? String }
                    }
                    let expected = Dictionary(rows.map { r -> (String, String) in
                        let outcome = switch r.outcome {
                        case .finished: "played"
                        case .playing: "playing"
                        case .interrupted: "interrupted"
                        case .missed: "missed"
                        case .pending: "pending"
                        }
                        return (r.speaker, outcome)
                    }, uniquingKeysWith: { a, _ in a })
                    #expect(seen == expected, "play \(item): \(seen) vs the log \(expected)")
                    #expect(Set(seen.keys) == targeted && seen.values.allSatisfy { $0 == "played" })
                }
            }
            // Sent back: one CAP Ack per play (the alert's three, the update's two and its all-clear), each naming
            // its alert and carrying that play's reach.
            try await h.waitUntil("a CAP Ack for every play", timeout: .seconds(60)) { acks().count == 6 }
            let received = try acks().map { try CAPXML.alert(from: $0) }
            #expect(received.allSatisfy { $0.msgType == .ack && $0.references.count == 1 })
            #expect(Set(received.map(\.identifier)).count == 6)
            #expect(received.filter { $0.references[0].identifier == "KTTV-QN-2026-0906-001" }.count == 3)
            #expect(received.allSatisfy { $0.note?.contains("3/3 loa phát trọn") == true }, "\(received.map(\.note))")

            let (ls, list) = try await h.run("wardfleet", ["warnings", "list", "--db", h.dbPath])
            #expect(ls == 0 && list.contains("đã hủy") && list.contains("đã được cập nhật"), "\(list)")
            let page = h.file("reach.html")
            let (hs, _) = try await h.run("wardfleet", ["warnings", "reach", "\(u)", "--html", page, "--db", h.dbPath])
            let printed = try String(contentsOfFile: page, encoding: .utf8)
            #expect(hs == 0 && printed.contains("Thông báo hết cảnh báo"))
        }
    }
}
