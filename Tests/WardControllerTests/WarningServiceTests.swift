import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
import WardDomain
import WardStorage
@testable import WardController
@testable import WardHTTP

/// Issue 20: CAP intake as a service over a real SQLite store and the real media library (TTS): who
/// may post, refusals counted and changing nothing, one alert per identifier, Actual on air on the
/// targeted villages only, priority to the inbox, Test and Exercise never on air, Update and Cancel.
@Suite struct WarningServiceTests {
    static let token = "kttv-token-0123456789abcdef0123456789"
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/cap")

    /// A fixture moved to the test world's days (2026-11-23, 08:00 in Vietnam).
    static func fixture(_ name: String) -> Data {
        let text = (try? String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)) ?? ""
        return Data(text.replacingOccurrences(of: "2026-09-06", with: "2026-11-23").replacingOccurrences(of: "2026-09-07", with: "2026-11-24")
            .utf8)
    }

    final class Tally: Sendable {
        let names = Mutex<[String: Int]>([:])
        subscript(_ n: String) -> Int { names.withLock { $0[n] ?? 0 } }
    }

    struct World {
        let w: BroadcastServiceTests.World
        let tally = Tally()
        let service: WarningService

        init(policy: WarningPolicy = .standard) throws {
            w = try BroadcastServiceTests.World()
            // Thôn Cẩm La's site inside the fixtures' polygon; Yên Giang's inside their circle.
            _ = try PlaceRepository(w.db).upsert([
                Place(id: "s1", level: .site, name: "Nhà văn hóa", parentID: "thon-cam-la", siteKind: .culturalHouse,
                      coordinate: Coordinate(latitude: 21.01, longitude: 107.30)),
                Place(id: "s2", level: .site, name: "Chợ Yên Giang", parentID: "yen-giang", siteKind: .market,
                      coordinate: Coordinate(latitude: 21.105, longitude: 107.401)),
            ])
            try WarningRepository(w.db).saveSource(WarningSource(user: "kttv", name: "Đài KTTV tỉnh Quảng Ninh",
                                                                 senders: ["canhbao@kttv-quangninh.gov.vn"], createdAt: w.clock.now(),
                                                                 updatedAt: w.clock.now()),
                                                   tokenHash: OperatorAPI.sha256(WarningServiceTests.token))
            let library = MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db, clock: w.clock)
            let tally = self.tally
            service = WarningService(database: w.db, library: library, clock: w.clock, policy: policy,
                                     tally: { n in tally.names.withLock { $0[n, default: 0] += 1 } })
        }

        /// The inbox over this world (a warning's priority bulletin is scheduled from it).
        var upstream: UpstreamService {
            UpstreamService(database: w.db, library: MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db, clock: w.clock),
                            clock: w.clock)
        }

        /// The operator API over this world as a live test app; lan (operator) and hung (approver) sign in with the test password.
        func app() async throws -> some ApplicationProtocol {
            let hash = try await OperatorAPI.hashPassword(OperatorAPITests.password)
            try AuthRepository(w.db).setPassword("lan", hash: hash)
            try AuthRepository(w.db).setPassword("hung", hash: hash)
            var api = OperatorAPI(database: w.db, clock: w.clock, library: MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db))
            api.warnings = service
            let server = ControllerHTTPServer(library: MediaLibrary(root: w.dir.appendingPathComponent("media"), database: w.db),
                                              host: "127.0.0.1", port: 0, api: api)
            return Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        }

        func refusal(_ data: Data, from user: String = "kttv") async -> WarningRefusal? {
            do {
                _ = try await service.receive(data, from: user)
                return nil
            } catch { return error as? WarningRefusal }
        }
    }

    @Test func refusalsAreCountedByReasonAndChangeNothing() async throws {
        let x = try World()
        let polygon = Self.fixture("alert-polygon.xml")
        #expect(await x.refusal(polygon, from: "lan")?.kind == .notASource("lan"))
        let other = await x.refusal(Self.fixture("other-sender.xml"))
        #expect(other?.kind == .senderNotAllowed("someone@elsewhere.example") && other?.httpStatus == 403)
        let missing = await x.refusal(Self.fixture("missing-urgency.xml"))
        #expect(missing?.httpStatus == 422 && missing?.description.contains("alert/info[1]/urgency") == true)
        #expect(await x.refusal(Self.fixture("bad-severity.xml"))?.reason == "bad_enumeration")
        #expect(await x.refusal(Self.fixture("bad-sent.xml"))?.reason == "bad_time")
        let laughs = await x.refusal(Self.fixture("entity-expansion.xml"))
        #expect(laughs?.reason == "doctype" && laughs?.httpStatus == 400)
        #expect(await x.refusal(Self.fixture("external-entity.xml"))?.reason == "doctype")
        let huge = await x.refusal(Data(repeating: 0x20, count: CAPXML.defaultMaxBytes + 1))
        #expect(huge?.reason == "too_large" && huge?.httpStatus == 413)
        // Expired on arrival: the fixture's own September dates, now in November.
        let expired = await x.refusal(Self.fixture("expired.xml"))
        #expect(expired?.httpStatus == 422 && expired?.description.contains("alert/info[1]/expires") == true)
        let cancelUnknown = await x.refusal(Self.fixture("cancel.xml"))
        #expect(cancelUnknown?.reason == "unknown_reference")

        #expect(x.tally["refused.not_a_source"] == 1 && x.tally["refused.sender_not_allowed"] == 1 && x.tally["refused.missing_element"] == 1)
        #expect(x.tally["refused.doctype"] == 2 && x.tally["refused.too_large"] == 1 && x.tally["refused.bad_value"] == 1)
        #expect(try WarningRepository(x.w.db).list().isEmpty)
        #expect(try UpstreamRepository(x.w.db).list(all: true).isEmpty)
        #expect(try BroadcastRepository(x.w.db).list().isEmpty)
    }

    /// The polygon covers Thôn Cẩm La alone: Extreme and Immediate, so an emergency on air at once on
    /// LOA-1 and not LOA-2, spoken from the Vietnamese info; posting it again is the same alert.
    @Test func anActualExtremeAlertGoesOnAirOnTheTargetedVillageOnly() async throws {
        let x = try World()
        let (alert, isNew) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        #expect(isNew && alert.state == .active && alert.level == .emergency && alert.risk == .five && alert.mode == .live)
        #expect(alert.targets.villages == ["thon-cam-la"] && alert.targets.communes == ["cam-la"])
        let bulletin = try UpstreamRepository(x.w.db).get(try #require(alert.bulletinID))
        #expect(bulletin.status == .onAir && bulletin.level == .emergency && bulletin.source == "cap")
        #expect(bulletin.sourceID == "canhbao@kttv-quangninh.gov.vn/KTTV-QN-2026-0906-001" && bulletin.communes == ["cam-la"])
        let item = try BroadcastRepository(x.w.db).get(try #require(bulletin.itemID))
        #expect(item.item.level == .emergency && item.status == .approved && item.createdBy == "cap:kttv")
        #expect(item.item.target == BroadcastTarget(villages: ["thon-cam-la"]))
        let speakers = try BroadcastService(x.w.db, clock: x.w.clock).directory().resolve(item.item.target).speakers
        #expect(speakers == ["LOA-1"])
        if case .media(let sha) = bulletin.programme {
            let media = try #require(try MediaRepository(x.w.db).get(sha))
            if case .tts(_, let text) = media.source {
                #expect(text.hasPrefix("Bão số 3. Cấp độ rủi ro thiên tai 5. Bão số 3 đổ bộ vào Quảng Ninh"))
            } else { Issue.record("not speech: \(media.source)") }
        } else { Issue.record("not media") }

        let (again, againNew) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        #expect(!againNew && again.id == alert.id && x.tally["duplicate"] == 1 && x.tally["received.actual"] == 1)
        #expect(try BroadcastRepository(x.w.db).list().count == 1 && UpstreamRepository(x.w.db).list(all: true).count == 1)

        // The Update replaces it (and goes on air itself); the Cancel ends the update.
        let (update, _) = try await x.service.receive(Self.fixture("update.xml"), from: "kttv")
        #expect(update.msgType == .update && update.state == .active && update.bulletinID != nil)
        #expect(try WarningRepository(x.w.db).get(alert.id).state == .replaced && WarningRepository(x.w.db).get(alert.id).replacedBy == update.id)
        let (cancel, _) = try await x.service.receive(Self.fixture("cancel.xml"), from: "kttv")
        #expect(cancel.msgType == .cancel && cancel.state == .recorded)
        #expect(try WarningRepository(x.w.db).get(update.id).state == .cancelled)
        #expect(try WarningRepository(x.w.db).get(alert.id).state == .replaced)
    }

    @Test func moderateGoesToTheInboxAndTestOrExerciseNeverOnAir() async throws {
        let x = try World()
        let (circle, _) = try await x.service.receive(Self.fixture("alert-circle.xml"), from: "kttv")
        #expect(circle.level == .priority && circle.targets.villages == ["yen-giang"])
        let inbox = try UpstreamRepository(x.w.db).get(try #require(circle.bulletinID))
        #expect(inbox.status == .inbox && inbox.level == .priority && inbox.communes == ["cam-la"])

        let (test, _) = try await x.service.receive(Self.fixture("status-test.xml"), from: "kttv")
        #expect(test.state == .recorded && test.mode == .recordOnly && test.bulletinID == nil)
        let (drill, _) = try await x.service.receive(Self.fixture("status-exercise.xml"), from: "kttv")
        #expect(drill.state == .active && drill.mode == .drill && drill.bulletinID == nil)
        #expect(try UpstreamRepository(x.w.db).list(all: true).count == 1 && BroadcastRepository(x.w.db).list().isEmpty)
        #expect(x.tally["received.test"] == 1 && x.tally["received.exercise"] == 1)
    }

    /// Over real HTTP: the source's own token, the media type, the status and code of each refusal, the receipt.
    @Test func theEndpointAuthenticatesTheSourceAndAnswersWhatHappened() async throws {
        let x = try World()
        var server = ControllerHTTPServer(library: MediaLibrary(root: x.w.dir.appendingPathComponent("media"), database: x.w.db, clock: x.w.clock),
                                          host: "127.0.0.1", port: 0)
        server.warnings = x.service
        let (base, task) = try await ControllerHTTPServerTests.start(server)
        defer { task.cancel() }
        func post(_ body: Data, token: String? = WarningServiceTests.token, type: String = "application/cap+xml") async throws -> (Int, [String: Any]) {
            var r = URLRequest(url: URL(string: base + "/api/v1/warnings/cap")!)
            r.timeoutInterval = 600  // speech is rendered in the request
            r.httpMethod = "POST"
            r.httpBody = body
            r.setValue(type, forHTTPHeaderField: "Content-Type")
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, resp) = try await URLSession.shared.data(for: r)
            return ((resp as? HTTPURLResponse)?.statusCode ?? 0, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
        }
        let polygon = Self.fixture("alert-polygon.xml")
        #expect(try await post(polygon, token: nil).0 == 401)
        #expect(try await post(polygon, token: "not-a-source-token").0 == 401)
        #expect(try await post(polygon, type: "application/json").0 == 415)
        let (missingStatus, missing) = try await post(Self.fixture("missing-urgency.xml"))
        #expect(missingStatus == 422 && missing["code"] as? String == "missing_element")
        #expect((missing["error"] as? String)?.contains("alert/info[1]/urgency") == true, "\(missing)")
        let (laughsStatus, laughs) = try await post(Self.fixture("entity-expansion.xml"), type: "application/xml; charset=utf-8")
        #expect(laughsStatus == 400 && laughs["code"] as? String == "doctype")
        #expect(try await post(Data(repeating: 0x20, count: CAPXML.defaultMaxBytes + 10)).0 == 413)
        #expect(try await post(Self.fixture("other-sender.xml")).0 == 403)
        #expect(try WarningRepository(x.w.db).list().isEmpty)
        #expect(x.tally["refused.unauthorised"] == 2 && x.tally["refused.media_type"] == 1 && x.tally["refused.too_large"] == 1)

        let (created, receipt) = try await post(polygon)
        #expect(created == 201 && receipt["state"] as? String == "active" && receipt["level"] as? String == "emergency")
        #expect(receipt["risk_level"] as? Int == 5 && receipt["risk_colour"] as? String == "#7B1FA2")
        #expect(receipt["villages"] as? [String] == ["thon-cam-la"] && receipt["msg_type"] as? String == "Alert")
        let (again, same) = try await post(polygon)
        #expect(again == 200 && same["id"] as? Int == receipt["id"] as? Int)
    }

    static let allClearPolicy: WarningPolicy = {
        let p = WarningPolicy.standard
        return try! WarningPolicy(rules: p.rules, otherwise: p.otherwise, riskBySeverity: p.riskBySeverity, repeatMinutes: p.repeatMinutes,
                                  horizonHours: p.horizonHours, allClearOnCancel: true)
    }()

    /// Issue 20, second part: repeats through the emergency path at the plan's times, from storage alone
    /// (a new repeater — a restarted controller — neither skips nor doubles one); an Update cuts what of
    /// the old alert plays and takes over; a Cancel stops the repeats and plays the all-clear.
    @Test func repeatsAndUpdateAndCancelActOnAir() async throws {
        let x = try World(policy: Self.allClearPolicy)
        let clock = x.w.clock
        let repo = WarningRepository(x.w.db)
        let broadcasts = BroadcastRepository(x.w.db)
        let (alert, _) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        #expect(try repo.plays(alert.id).map(\.number) == [1])
        let plan = try #require(try repo.get(alert.id).plan)
        #expect(plan.interval == 1800 && plan.anchor == clock.now() && plan.until == alert.expiresAt)
        let first = try broadcasts.get(try repo.plays(alert.id)[0].itemID)
        #expect(first.id == (try UpstreamRepository(x.w.db).get(try #require(alert.bulletinID)).itemID))

        let repeater = WarningRepeater(database: x.w.db, clock: clock)
        #expect(try await repeater.tick().isEmpty)
        clock.advance(by: 1799)
        #expect(try await repeater.tick().isEmpty)
        clock.advance(by: 1)
        let made = try await repeater.tick()
        #expect(made.map(\.number) == [2])
        let second = try broadcasts.get(made[0].itemID)
        #expect(second.item.level == .emergency && second.status == .approved && second.createdBy == "cap:kttv")
        #expect(second.item.target == first.item.target && second.programme == first.programme && second.item.title.hasSuffix("(lần 2)"))
        // A restarted controller: a new repeater over the same store makes nothing twice…
        #expect(try await WarningRepeater(database: x.w.db, clock: clock).tick().isEmpty)
        // …and skips nothing: the next slot, made once whichever repeater comes first.
        clock.advance(by: 1805)
        #expect(try await WarningRepeater(database: x.w.db, clock: clock).tick().map(\.number) == [3])
        #expect(try await repeater.tick().isEmpty)
        let third = try #require(try repo.plays(alert.id).last).itemID
        #expect(third == WarningPlay.itemID(alert: alert.id, number: 3, day: LocalCalendar.vietnam.localDay(of: clock.now())))

        // The Update while the third plays: the third is cancelled (speakers stop it), the old alert makes no more.
        clock.advance(by: 10)
        let (update, _) = try await x.service.receive(Self.fixture("update.xml"), from: "kttv")
        #expect(try broadcasts.get(third).status == .cancelled && broadcasts.get(first.id).status == .approved)
        let replaced = try repo.get(alert.id)
        #expect(replaced.state == .replaced && replaced.replacedBy == update.id && replaced.plan?.cancelledAt == clock.now())
        #expect(try repo.plays(update.id).map(\.number) == [1] && repo.get(update.id).plan?.anchor == clock.now())
        clock.advance(by: 1800)
        let afterUpdate = try await repeater.tick()
        #expect(afterUpdate.map(\.alertID) == [update.id] && afterUpdate.map(\.number) == [2])
        #expect(try repo.plays(alert.id).count == 3)

        // The Cancel: the update's repeats stop, what plays of it is cut, the all-clear goes to the same speakers.
        clock.advance(by: 5)
        let updateSecond = try #require(afterUpdate.first).itemID
        let (cancel, _) = try await x.service.receive(Self.fixture("cancel.xml"), from: "kttv")
        #expect(try cancel.state == .recorded && repo.get(update.id).state == .cancelled)
        #expect(try broadcasts.get(updateSecond).status == .cancelled)
        let plays = try repo.plays(update.id)
        #expect(plays.map(\.kind) == [.allClear, .play, .play])
        let allClear = try broadcasts.get(plays[0].itemID)
        #expect(allClear.item.level == .emergency && allClear.status == .approved && allClear.item.target == first.item.target)
        if case .media(let sha) = allClear.programme, case .tts(_, let text)? = try MediaRepository(x.w.db).get(sha)?.source {
            #expect(text.hasPrefix("Hết cảnh báo Bão số 3."), "\(text)")
        } else { Issue.record("the all-clear is not speech") }
        // The replaced alert gets no all-clear of its own (it was no longer in force).
        #expect(try repo.plays(alert.id).allSatisfy { $0.kind == .play })
        clock.advance(by: 3 * 3600)
        #expect(try await repeater.tick().isEmpty)
    }

    // MARK: repeats of priority warnings (issue 20, item 4)

    /// The circle fixture (Moderate, Expected: priority, risk level 2, every 60 min, expires 21:00) with its
    /// identifier, type and references replaced: an Update or a Cancel of it.
    static func circle(_ msgType: String, identifier: String, references: String) -> Data {
        let text = String(decoding: fixture("alert-circle.xml"), as: UTF8.self)
            .replacingOccurrences(of: "<identifier>KTTV-QN-2026-0906-002</identifier>", with: "<identifier>\(identifier)</identifier>")
            .replacingOccurrences(of: "<msgType>Alert</msgType>",
                                  with: "<msgType>\(msgType)</msgType>" + (references.isEmpty ? "" : "\n  <references>\(references)</references>"))
        return Data(text.utf8)
    }
    static let circleRef = "canhbao@kttv-quangninh.gov.vn,KTTV-QN-2026-0906-002,2026-11-23T09:00:00+07:00"

    /// 2026-11-23 at `time` in Vietnam.
    static func at(_ time: String) -> Date { LocalCalendar.vietnam.date(LocalDay("2026-11-23")!, LocalTime(time)!) }

    /// A priority warning waits in the inbox and does not repeat there; once the commune's item is approved it repeats
    /// at the interval of its risk level from that play (each repeat made ahead of its time, on the same targets, quiet
    /// hours or not); a restarted repeater neither skips nor doubles one; an approver's cancel stops the queued repeat.
    /// An Actual alert whose area reaches no place here (a polygon at sea) is recorded, never in force, and counted.
    @Test func anAlertReachingNoPlaceIsRecordedNotInForce() async throws {
        let x = try World()
        let sea = String(decoding: Self.fixture("alert-polygon.xml"), as: UTF8.self)
            .replacingOccurrences(of: "KTTV-QN-2026-0906-001", with: "KTTV-QN-SEA-1")
        let alert = try CAPXML.alert(from: Data(sea.utf8))
        var moved = alert
        for i in moved.infos.indices {
            for a in moved.infos[i].areas.indices {
                moved.infos[i].areas[a].polygons = [GeoPolygon(points: [Coordinate(latitude: 10, longitude: 110), Coordinate(latitude: 10, longitude: 111),
                                                                        Coordinate(latitude: 11, longitude: 111), Coordinate(latitude: 10, longitude: 110)])]
                moved.infos[i].areas[a].geocodes = []
            }
        }
        let (w, isNew) = try await x.service.receive(Data(CAPWriter.xml(moved).utf8), from: "kttv")
        #expect(isNew && w.state == .recorded && w.targets.isEmpty && x.tally["untargeted"] == 1)
        #expect(try WarningRepository(x.w.db).plays(w.id).isEmpty && WarningRepository(x.w.db).get(w.id).plan == nil)
        #expect(WarningReceipt(w).note?.contains("không nơi nào") == true)
    }

    /// A warning's bulletin scheduled from the inbox without a target goes where the alert's area reaches in the
    /// officer's communes (its village), not to the whole commune; a named target is kept.
    @Test func aWarningScheduledFromTheInboxGoesWhereItsAreaReaches() async throws {
        let x = try World()
        let clock = x.w.clock
        let upstream = x.upstream
        let (alert, _) = try await x.service.receive(Self.fixture("alert-circle.xml"), from: "kttv")
        #expect(alert.level == .priority && alert.targets.villages == ["yen-giang"])
        let item = try upstream.schedule(try #require(alert.bulletinID), recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("10:00")!),
                                         by: "hung")
        #expect(item.item.target == BroadcastTarget(villages: ["yen-giang"]))
    }

    @Test func aPriorityWarningRepeatsFromTheCommunesApprovedPlay() async throws {
        let x = try World()
        let clock = x.w.clock
        let repo = WarningRepository(x.w.db)
        let broadcasts = BroadcastRepository(x.w.db)
        let upstream = x.upstream
        let (alert, _) = try await x.service.receive(Self.fixture("alert-circle.xml"), from: "kttv")
        #expect(alert.level == .priority && alert.risk == .two && alert.plan == nil)
        let bulletin = try #require(alert.bulletinID)
        let repeater = WarningRepeater(database: x.w.db, clock: clock)
        // In the inbox: nothing repeats, whatever the time.
        clock.advance(by: 3600)
        #expect(try await repeater.tick().isEmpty)

        // The operator schedules it for 10:00 in Thôn Yên Giang; it waits for approval, and so do its repeats.
        let scheduled = try upstream.schedule(bulletin, recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("10:00")!),
                                              target: BroadcastTarget(villages: ["yen-giang"]), by: "lan")
        #expect(scheduled.status == .pendingApproval)
        clock.set(Self.at("10:58"))
        #expect(try await repeater.tick().isEmpty)
        // Approved (before its time: clock back to 09:30, as the test's world allows).
        clock.set(Self.at("09:30"))
        _ = try BroadcastService(x.w.db, clock: clock).approve(scheduled.id, by: "hung")
        #expect(try await repeater.tick().isEmpty)
        // Quiet hours over the 11:00 slot hold nothing back.
        try broadcasts.setQuietHours(commune: "cam-la", QuietHours(start: LocalTime("10:50")!, end: LocalTime("11:10")!))

        // 10:58, two minutes ahead of 11:00 (the approved play + 60 min): repeat 2, a priority item on the same targets.
        clock.set(Self.at("10:57:59"))
        #expect(try await repeater.tick().isEmpty)
        clock.set(Self.at("10:58"))
        let made = try await repeater.tick()
        #expect(made.map(\.number) == [2] && made.map(\.alertID) == [alert.id])
        let second = try broadcasts.get(made[0].itemID)
        #expect(second.item.level == .priority && second.status == .approved && second.approvedBy == "hung" && second.createdBy == "hung")
        #expect(second.item.target == BroadcastTarget(villages: ["yen-giang"]) && second.programme == scheduled.programme)
        #expect(second.item.title.hasSuffix("(lần 2)") && second.item.recurrence == .once(LocalDay("2026-11-23")!, at: LocalTime("11:00")!))
        #expect(try repo.approvedPlays(alert.id).map(\.play.number) == [2] && repo.plays(alert.id).isEmpty)
        #expect(second.id == WarningApprovedPlay.itemID(alert: alert.id, approvedItem: scheduled.id, number: 2, day: LocalDay("2026-11-23")!))

        // A restarted controller: a new repeater over the same store makes nothing twice…
        #expect(try await WarningRepeater(database: x.w.db, clock: clock).tick().isEmpty)
        // …and skips nothing: 12:00's, once, whichever repeater comes first.
        clock.set(Self.at("11:58"))
        #expect(try await WarningRepeater(database: x.w.db, clock: clock).tick().map(\.number) == [3])
        #expect(try await repeater.tick().isEmpty)
        // A controller down over 13:00 and 14:00 plays the latest once, late (at once), not both.
        clock.set(Self.at("14:20"))
        let late = try await WarningRepeater(database: x.w.db, clock: clock).tick()
        #expect(late.map(\.number) == [5])
        let lateItem = try broadcasts.get(try #require(late.first).itemID)
        #expect(lateItem.item.recurrence.nextStart(after: clock.now(), calendar: .vietnam) == clock.now().addingTimeInterval(1))
        #expect(try repo.approvedPlays(alert.id).map(\.play.number) == [2, 3, 5])
        // Reach per commune: the approved play and its repeats, over Cẩm La's targeted places.
        let reach = try WarningReachReport.build(x.w.db, alert: alert.id, now: clock.now())
        #expect(reach.plays.map(\.number) == [1, 2, 3, 5] && reach.plays.allSatisfy { $0.commune == "cam-la" && $0.communeName == "Xã Cẩm La" })
        #expect(reach.plays.map(\.item) == [scheduled.id] + (try repo.approvedPlays(alert.id).map(\.play.itemID)))
        #expect(reach.plays.allSatisfy { $0.places.map(\.id) == ["yen-giang"] }, "\(reach.plays.map { $0.places.map(\.id) })")
        #expect(reach.summary.hasPrefix("Lần 1 tại Xã Cẩm La:"), "\(reach.summary)")
        #expect(reach.upcoming.first == Self.at("15:00"), "\(reach.upcoming)")

        // 14:58: the 15:00 repeat is made ahead; the approver cancels the warning at 14:59: it is cancelled, no more come.
        clock.set(Self.at("14:58"))
        let queued = try #require(try await repeater.tick().first)
        #expect(queued.number == 6)
        clock.set(Self.at("14:59"))
        _ = try await x.service.cancel(alert.id, by: "hung")
        #expect(try broadcasts.get(queued.itemID).status == .cancelled)
        // What played stays as it played.
        #expect(try broadcasts.get(scheduled.id).status == .approved && broadcasts.get(second.id).status == .approved)
        clock.set(Self.at("16:30"))
        #expect(try await repeater.tick().isEmpty)
        #expect(try repo.approvedPlays(alert.id).map(\.play.number) == [2, 3, 5, 6])
    }

    /// An Update of a priority warning replaces its repeats: the queued one is cancelled, the old warning makes no
    /// more, and the update repeats from its own approved play. A CAP Cancel then stops the update's repeats.
    @Test func anUpdateReplacesAPriorityWarningsRepeatsAndACancelStopsThem() async throws {
        let x = try World()
        let clock = x.w.clock
        let repo = WarningRepository(x.w.db)
        let broadcasts = BroadcastRepository(x.w.db)
        let upstream = x.upstream
        let repeater = WarningRepeater(database: x.w.db, clock: clock)
        let (alert, _) = try await x.service.receive(Self.fixture("alert-circle.xml"), from: "kttv")
        // The approver schedules it: approved at once, for 09:00.
        let first = try upstream.schedule(try #require(alert.bulletinID), recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("09:00")!),
                                          by: "hung")
        #expect(first.status == .approved)
        clock.set(Self.at("09:58"))
        let queued = try #require(try await repeater.tick().first)
        #expect(queued.number == 2 && queued.dueAt == Self.at("10:00"))

        // 09:59: the Update (priority too): the queued 10:00 repeat is cancelled, the old warning is replaced.
        clock.set(Self.at("09:59"))
        let (update, _) = try await x.service.receive(Self.circle("Update", identifier: "KTTV-QN-2026-0906-002-U1", references: Self.circleRef),
                                                      from: "kttv")
        #expect(try update.level == .priority && update.state == .active && repo.get(alert.id).state == .replaced)
        #expect(try broadcasts.get(queued.itemID).status == .cancelled && broadcasts.get(first.id).status == .approved)
        clock.set(Self.at("10:58"))
        #expect(try await repeater.tick().isEmpty)
        // The update waits in the inbox until the commune approves it; the old bulletin is no longer to be had.
        let updateBulletin = try #require(update.bulletinID)
        #expect(try updateBulletin != alert.bulletinID && UpstreamRepository(x.w.db).get(updateBulletin).status == .inbox)
        let next = try upstream.schedule(updateBulletin, recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("11:30")!), by: "hung")
        clock.set(Self.at("12:27"))
        #expect(try await repeater.tick().isEmpty)
        clock.set(Self.at("12:28"))
        let fromUpdate = try await repeater.tick()
        #expect(fromUpdate.map(\.alertID) == [update.id] && fromUpdate.map(\.number) == [2] && fromUpdate.first?.dueAt == Self.at("12:30"))
        #expect(try broadcasts.get(try #require(fromUpdate.first).itemID).item.title == next.item.title + " (lần 2)")
        #expect(try repo.approvedPlays(alert.id).map(\.play.number) == [2])

        // A CAP Cancel at 12:29: the queued 12:30 repeat is cancelled, and so is nothing that played.
        clock.set(Self.at("12:29"))
        let (cancel, _) = try await x.service.receive(
            Self.circle("Cancel", identifier: "KTTV-QN-2026-0906-002-C",
                        references: "canhbao@kttv-quangninh.gov.vn,KTTV-QN-2026-0906-002-U1,2026-11-23T09:00:00+07:00"), from: "kttv")
        #expect(try cancel.state == .recorded && repo.get(update.id).state == .cancelled)
        #expect(try broadcasts.get(try #require(fromUpdate.first).itemID).status == .cancelled && broadcasts.get(next.id).status == .approved)
        clock.set(Self.at("15:00"))
        #expect(try await repeater.tick().isEmpty)
        #expect(try repo.approvedPlays(update.id).count == 1)
    }

    /// A Cancel also cancels a commune's approved play of the warning that has not sounded yet, and one awaiting approval.
    @Test func aCancelCancelsAPriorityWarningsApprovedPlayNotYetPlayed() async throws {
        let x = try World()
        let clock = x.w.clock
        let broadcasts = BroadcastRepository(x.w.db)
        let upstream = x.upstream
        let (alert, _) = try await x.service.receive(Self.fixture("alert-circle.xml"), from: "kttv")
        let later = try upstream.schedule(try #require(alert.bulletinID), recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("15:00")!),
                                          by: "hung")
        clock.set(Self.at("10:00"))
        _ = try await x.service.cancel(alert.id, by: "hung")
        #expect(try broadcasts.get(later.id).status == .cancelled)
        clock.set(Self.at("16:00"))
        #expect(try await WarningRepeater(database: x.w.db, clock: clock).tick().isEmpty)

        // A warning replaced while still in the inbox: its bulletin can no longer be scheduled (the update's can).
        let (other, _) = try await x.service.receive(Self.circle("Alert", identifier: "KTTV-QN-2026-0906-003", references: ""), from: "kttv")
        let (newer, _) = try await x.service.receive(
            Self.circle("Update", identifier: "KTTV-QN-2026-0906-003-U1",
                        references: "canhbao@kttv-quangninh.gov.vn,KTTV-QN-2026-0906-003,2026-11-23T09:00:00+07:00"), from: "kttv")
        #expect(throws: ScheduleRefusal.self) {
            try upstream.schedule(try #require(other.bulletinID), recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("18:00")!), by: "hung")
        }
        #expect(try upstream.schedule(try #require(newer.bulletinID), recurrence: .once(LocalDay("2026-11-23")!, at: LocalTime("18:00")!),
                                      by: "hung").status == .approved)
    }

    /// An approver ends a warning from WardFleet: the same path as a CAP Cancel, who did it recorded;
    /// an operator may not; a warning past its `expires` ends by itself.
    @Test func anApproverCancelsAndExpiryEnds() async throws {
        let x = try World()
        let repo = WarningRepository(x.w.db)
        let (alert, _) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        await #expect(throws: ApprovalError.self) { try await x.service.cancel(alert.id, by: "lan") }
        let done = try await x.service.cancel(alert.id, by: "hung", reason: "bão tan")
        #expect(done.state == .cancelled && done.cancelledBy == "hung" && x.tally["cancelled.operator"] == 1)
        #expect(try BroadcastRepository(x.w.db).get(try repo.plays(alert.id)[0].itemID).status == .cancelled)
        #expect(try repo.plays(alert.id).count == 1)  // the standard policy: no all-clear
        await #expect(throws: WarningCancelRefusal.notInForce(alert.id, .cancelled)) { try await x.service.cancel(alert.id, by: "hung") }

        // An Update of an alert no longer in force is one more alert on air; at its `expires` it ends.
        let (later, _) = try await x.service.receive(Self.fixture("update.xml"), from: "kttv")
        let plan = try #require(try repo.get(later.id).plan)
        x.w.clock.set(plan.until)
        #expect(try await WarningRepeater(database: x.w.db, clock: x.w.clock).tick().isEmpty)
        #expect(try repo.get(later.id).state == .ended && repo.plays(later.id).count == 1)
    }


    /// `GET /api/v1/warnings/{id}/reach` (JSON and the printable report) from the playback log, and an
    /// approver's `POST /api/v1/warnings/{id}/cancel` (an operator is refused).
    @Test func reachAndCancelOverTheAPI() async throws {
        let x = try World()
        let (alert, _) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        let item = try WarningRepository(x.w.db).plays(alert.id)[0].itemID
        let start = try #require(try BroadcastRepository(x.w.db).get(item).item.recurrence.occurrences(
            of: 30, overlapping: DateInterval(start: x.w.clock.now() - 60, duration: 3600), calendar: .vietnam).first).start
        let key = PlayKey(item: item, start: start)
        _ = try PlaybackRepository(x.w.db).append([
            PlaybackEntry(key: key, speaker: "LOA-1", event: .scheduled, at: x.w.clock.now()),
            PlaybackEntry(key: key, speaker: "LOA-1", event: .started, at: start + 0.5),
            PlaybackEntry(key: key, speaker: "LOA-1", event: .finished, at: start + 20),
        ], recordedAt: x.w.clock.now())
        let app = try await x.app()
        try await app.test(.live) { client in
            let lan = try #require(try await OperatorAPITests.login(client, "lan"))
            let hung = try #require(try await OperatorAPITests.login(client, "hung"))
            let reach = try await client.execute(uri: "/api/v1/warnings/\(alert.id)/reach", method: .get, headers: lan.headers) { r in
                #expect(r.status == .ok)
                return try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any] ?? [:]
            }
            let plays = try #require(reach["plays"] as? [[String: Any]])
            let places = try #require(plays.first?["places"] as? [[String: Any]])
            #expect(places.map { $0["id"] as? String } == ["thon-cam-la"])
            let speaker = try #require((places.first?["speakers"] as? [[String: Any]])?.first)
            #expect(speaker["id"] as? String == "LOA-1" && speaker["outcome"] as? String == "played")
            #expect((speaker["delay_from_receipt"] as? Double).map { abs($0 - start.timeIntervalSince(alert.receivedAt) - 0.5) < 0.01 } == true)
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/reach?format=html", method: .get, headers: lan.headers) { r in
                #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix("text/html") == true)
                let page = String(buffer: r.body)
                #expect(page.contains("BÁO CÁO MỨC ĐỘ TIẾP NHẬN CẢNH BÁO THIÊN TAI") && page.contains("Thôn Cẩm La") && page.contains("đã phát trọn"))
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/reach?format=pdf", method: .get, headers: lan.headers) { r in
                #expect(r.status == .badRequest)
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/cancel", method: .post, headers: lan.headers) { r in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/cancel", method: .post, headers: hung.headers,
                                     body: ByteBuffer(string: #"{"reason":"bão đã tan"}"#)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let w = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
                #expect(w?["state"] as? String == "cancelled" && w?["cancelled_by"] as? String == "hung")
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/cancel", method: .post, headers: hung.headers) { r in
                #expect(r.status == .conflict)
            }
        }
        #expect(try AuthRepository(x.w.db).auditLog().contains { $0.action == "warning.cancel" && $0.user == "hung" })
    }


    /// An approver's `POST /api/v1/warnings/{id}/update`: WardFleet writes a CAP Update of the stored alert
    /// with the new words (the approver named in its note), and it acts as a source's Update does: the old
    /// alert is replaced, the new one goes on air at once with the new speech and repeats on its own plan.
    /// The detail carries the alert's polygon for the console's map.
    @Test func anApproverUpdatesOverTheAPI() async throws {
        let x = try World()
        let repo = WarningRepository(x.w.db)
        let (alert, _) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        let app = try await x.app()
        x.w.clock.advance(by: 600)
        let expires = CAPTime(date: x.w.clock.now() + 7200, offset: 25_200)
        let updatedID = Mutex<Int64>(0)
        try await app.test(.live) { client in
            let lan = try #require(try await OperatorAPITests.login(client, "lan"))
            let hung = try #require(try await OperatorAPITests.login(client, "hung"))
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)", method: .get, headers: lan.headers) { r in
                let w = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
                let area = try #require((w?["areas"] as? [[String: Any]])?.first)
                let ring = try #require((area["polygons"] as? [[[Double]]])?.first)
                #expect(ring.count >= 4 && ring.first == ring.last, "\(area)")
                #expect(w?["reaches_other_communes"] as? Bool == false && (w?["description"] as? String)?.isEmpty == false)
            }
            let body = #"{"headline":"Bão số 3 đổi hướng, gió giật cấp 14","expires":"\#(expires.text)","reason":"tin mới của đài"}"#
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/update", method: .post, headers: lan.headers, body: ByteBuffer(string: body)) { r in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/update", method: .post, headers: hung.headers, body: ByteBuffer(string: "{}")) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("nothing_changed"), "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/update", method: .post, headers: hung.headers,
                                     body: ByteBuffer(string: #"{"expires":"2020-01-01T00:00:00+07:00"}"#)) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("expires"))
            }
            // The words it already says: nothing to change, nothing goes on air again.
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/update", method: .post, headers: hung.headers,
                                     body: ByteBuffer(string: #"{"headline":"\#(alert.headline ?? "")"}"#)) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("nothing_changed"), "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/update", method: .post, headers: hung.headers, body: ByteBuffer(string: body)) { r in
                #expect(r.status == .created, "\(String(buffer: r.body))")
                let w = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
                #expect(w?["msg_type"] as? String == "Update" && w?["state"] as? String == "active" && w?["headline"] as? String == "Bão số 3 đổi hướng, gió giật cấp 14")
                updatedID.withLock { $0 = Int64(w?["id"] as? Int ?? 0) }
            }
            try await client.execute(uri: "/api/v1/warnings/\(alert.id)/update", method: .post, headers: hung.headers, body: ByteBuffer(string: body)) { r in
                #expect(r.status == .conflict)
            }
        }
        let old = try repo.get(alert.id)
        let new = try repo.get(updatedID.withLock { $0 })
        #expect(old.state == .replaced && old.replacedBy == new.id && new.sourceUser == "kttv" && new.sender == alert.sender)
        #expect(new.expiresAt == expires.date && new.plan?.anchor == x.w.clock.now() && new.plan?.until == expires.date)
        let written = try CAPXML.alert(from: Data(try #require(try repo.document(new.id)).utf8))
        #expect(written.msgType == .update && written.references.map(\.identifier) == [alert.identifier])
        #expect(written.note?.contains("hung") == true && written.note?.contains("tin mới của đài") == true)
        // On air at once with the new words.
        let play = try #require(try repo.plays(new.id).first)
        let item = try BroadcastRepository(x.w.db).get(play.itemID)
        if case .media(let sha) = item.programme, case .tts(_, let text)? = try MediaRepository(x.w.db).get(sha)?.source {
            #expect(text.contains("Bão số 3 đổi hướng, gió giật cấp 14"), "\(text)")
        } else { Issue.record("the update is not speech") }
        #expect(x.tally["updated.operator"] == 1)
        #expect(try AuthRepository(x.w.db).auditLog().contains { $0.action == "warning.update" && $0.user == "hung" && $0.target == "\(new.id)" })
    }

    /// The reach of each play goes back to a source with an Ack URL as a CAP 1.2 Ack (to a local stand-in),
    /// once every speaker's outcome is known, once.
    @Test func aCAPAckCarriesTheReachBackToTheSource() async throws {
        let x = try World()
        let received = Mutex<[Data]>([])
        let router = Router()
        router.post("/cap-ack") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            received.withLock { $0.append(Data(buffer: body)) }
            return Response(status: .ok)
        }
        let (url, task) = try await serveOnLoopback(router, path: "/cap-ack")
        defer { task.cancel() }
        let repo = WarningRepository(x.w.db)
        var source = try #require(try repo.source(user: "kttv"))
        source.ackURL = url.absoluteString
        try repo.saveSource(source, tokenHash: OperatorAPI.sha256(Self.token))
        #expect(try repo.source(user: "kttv")?.ackURL == url.absoluteString)

        let (alert, _) = try await x.service.receive(Self.fixture("alert-polygon.xml"), from: "kttv")
        let acks = WarningAcknowledger(database: x.w.db, clock: x.w.clock)
        #expect(await acks.sendDue() == 0)  // nothing sent to a speaker yet: nothing to report
        let item = try repo.plays(alert.id)[0].itemID
        let key = PlayKey(item: item, start: x.w.clock.now() + 1)
        _ = try PlaybackRepository(x.w.db).append([PlaybackEntry(key: key, speaker: "LOA-1", event: .scheduled, at: x.w.clock.now()),
                                                   PlaybackEntry(key: key, speaker: "LOA-1", event: .started, at: key.start)],
                                                  recordedAt: x.w.clock.now())
        #expect(await acks.sendDue() == 0)  // still playing
        _ = try PlaybackRepository(x.w.db).append([PlaybackEntry(key: key, speaker: "LOA-1", event: .finished, at: key.start + 20)],
                                                  recordedAt: x.w.clock.now())
        #expect(await acks.sendDue() == 1)
        #expect(await acks.sendDue() == 0)
        let body = try #require(received.withLock { $0.first })
        let ack = try CAPXML.alert(from: body)
        #expect(ack.msgType == .ack && ack.status == .actual && ack.sender == WarningAcknowledger.sender)
        #expect(ack.references.map(\.identifier) == ["KTTV-QN-2026-0906-001"] && ack.references.first?.sender == "canhbao@kttv-quangninh.gov.vn")
        #expect(ack.note == "Lần 1: 1/1 loa phát trọn", "\(ack.note ?? "")")
    }

}
