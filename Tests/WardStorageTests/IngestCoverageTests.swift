import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// The ingest write path and every health query read back from it, on both backends.
@Suite struct IngestCoverageTests {
    @Test(arguments: Backend.allCases) func controllerRunsAndBrokerLink(_ backend: Backend) throws {
        let db = try backend.open()
        let w = IngestRepository(db), q = HealthQueries(db)
        #expect(try q.controllerLink() == nil && q.controllerLastAlive() == nil && q.controllerRuns().isEmpty)
        let (run, prev) = try w.startRun(at: t0)
        #expect(prev == nil)
        #expect(try q.controllerLink() == ControllerLink(connected: false, since: nil))
        var b = IngestBatch()
        b.brokerLink = (connected: true, at: at(5))
        b.aliveAt = at(30)
        try w.write(b, run: run)
        #expect(try q.controllerLink() == ControllerLink(connected: true, since: at(5)))
        #expect(try q.controllerLastAlive() == at(30))
        try w.stopRun(run, at: at(40))
        #expect(try q.controllerLink() == ControllerLink(connected: false, since: at(40)))
        let (run2, prev2) = try w.startRun(at: at(50))
        #expect(run2 > run && prev2 == at(40))
        #expect(try q.controllerRuns() == [
            .init(id: run, startedAt: t0, lastAlive: at(40), stoppedAt: at(40)),
            .init(id: run2, startedAt: at(50), lastAlive: at(50), stoppedAt: nil),
        ])
        #expect(try q.controllerLastAlive() == at(50))
    }

    @Test(arguments: Backend.allCases) func statusesAreRestoredOneOrAll(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        var l = DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: at(20), heartbeat: 45.5)
        l.state = .degraded
        l.faults = [Fault(.amplifierFault, "quá nhiệt")]
        l.bootID = "b-1"
        l.lastSeq = UInt64(1) << 63 + 7  // past Int64.max: stored by its bit pattern
        l.lastEventSeq = 3
        l.lastHeard = at(30.25)
        var cam = DeviceLiveness(deviceClass: .camera, config: .defaults(for: .camera), since: at(1))
        cam.state = .ok
        var b = IngestBatch()
        b.statuses = [DeviceStatusRecord(deviceID: "LOA-01", liveness: l, birth: "{\"model\":\"IP Loa 4G\"}",
                                         lastTelemetry: "{\"amp_temp_c\":81}", lastTelemetryAt: at(30)),
                      DeviceStatusRecord(deviceID: "CAM-01", liveness: cam)]
        try IngestRepository(db).write(b)
        // A later status without birth or telemetry keeps the stored ones.
        l.lastHeard = at(60)
        b.statuses = [DeviceStatusRecord(deviceID: "LOA-01", liveness: l)]
        try IngestRepository(db).write(b)

        let q = HealthQueries(db)
        #expect(Set(try q.statuses().keys) == ["LOA-01", "CAM-01"])
        let only = try q.statuses(only: "LOA-01")
        #expect(Array(only.keys) == ["LOA-01"])
        let s = try #require(only["LOA-01"])
        #expect(s.liveness.state == .degraded && s.liveness.faults == [Fault(.amplifierFault, "quá nhiệt")])
        #expect(s.liveness.classFaults == s.liveness.faults)
        #expect(s.liveness.lastSeq == UInt64(1) << 63 + 7 && s.liveness.lastEventSeq == 3 && s.liveness.bootID == "b-1")
        #expect(s.liveness.lastHeard == at(60) && s.liveness.since == at(20) && s.liveness.heartbeat == 45.5)
        #expect(s.birth == "{\"model\":\"IP Loa 4G\"}" && s.lastTelemetry == "{\"amp_temp_c\":81}" && s.lastTelemetryAt == at(30))
        #expect(try q.statuses()["CAM-01"]?.liveness.state == .ok && q.statuses()["CAM-01"]?.birth == nil)
        #expect(try q.statuses(only: "KIOSK-01").isEmpty)
    }

    @Test(arguments: Backend.allCases) func intervalsOverWindowsAndHistory(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        var b = IngestBatch()
        b.changes = [
            StateChange(deviceID: "LOA-01", from: .unknown, to: .ok, faults: [], at: at(10)),
            StateChange(deviceID: "CAM-01", from: .unknown, to: .ok, faults: [], at: at(15)),
            StateChange(deviceID: "LOA-01", from: .ok, to: .degraded, faults: [Fault(.speakerLineFault)], at: at(20)),
            StateChange(deviceID: "LOA-01", from: .degraded, to: .offline, faults: [Fault(.lastWill)], at: at(40)),
        ]
        try IngestRepository(db).write(b)
        let q = HealthQueries(db)
        let all = try q.intervals(overlapping: window(0, 100))
        #expect(all["LOA-01"] == [StateInterval(state: .ok, start: at(10), end: at(20)),
                                  StateInterval(state: .degraded, start: at(20), end: at(40), faults: [Fault(.speakerLineFault)]),
                                  StateInterval(state: .offline, start: at(40), end: nil, faults: [Fault(.lastWill)])])
        #expect(all["CAM-01"] == [StateInterval(state: .ok, start: at(15), end: nil)])
        // Only intervals overlapping the window: ended at its start or starting at its end are out.
        #expect(try q.intervals(devices: ["LOA-01"], overlapping: window(20, 40))["LOA-01"]?.map(\.state) == [.degraded])
        #expect(try q.intervals(devices: ["LOA-01", "CAM-01"], overlapping: window(0, 10)).isEmpty)
        #expect(try q.intervals(devices: ["CAM-01"], overlapping: window(1000, 2000))["CAM-01"]?.map(\.state) == [.ok])
        #expect(try q.intervals(devices: [], overlapping: window(0, 100)).isEmpty)

        #expect(try q.history(device: "LOA-01").map(\.state) == [.offline, .degraded, .ok])
        #expect(try q.history(device: "LOA-01", limit: 1) == [StateInterval(state: .offline, start: at(40), end: nil, faults: [Fault(.lastWill)])])
        #expect(try q.history(device: "KIOSK-01").isEmpty)
    }

    @Test(arguments: Backend.allCases) func rebootsAndTelemetrySamples(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        var b = IngestBatch()
        b.reboots = [RebootRecord(deviceID: "LOA-01", previousBoot: nil, boot: "b1", at: at(1)),
                     RebootRecord(deviceID: "LOA-01", previousBoot: "b1", boot: "b2", at: at(2))]
        b.samples = (1...5).map {
            TelemetryRecord(deviceID: "LOA-01", receivedAt: at(Double($0)), deviceTime: at(Double($0) - 0.5), boot: "b2",
                            seq: UInt64.max - UInt64($0), payload: "{\"ghi_chú\":\"mẫu \($0)\"}")
        }
        b.samples.append(TelemetryRecord(deviceID: "CAM-01", receivedAt: at(3), deviceTime: at(3), boot: "c", seq: 1, payload: "{}"))
        try IngestRepository(db).write(b)
        let q = HealthQueries(db)
        #expect(try q.reboots(device: "LOA-01") == [RebootRecord(deviceID: "LOA-01", previousBoot: "b1", boot: "b2", at: at(2)),
                                                    RebootRecord(deviceID: "LOA-01", previousBoot: nil, boot: "b1", at: at(1))])
        #expect(try q.reboots(device: "LOA-01", limit: 1).map(\.boot) == ["b2"])
        let newest = try q.samples(device: "LOA-01", limit: 2)
        #expect(newest.map(\.receivedAt) == [at(5), at(4)])
        #expect(newest[0] == TelemetryRecord(deviceID: "LOA-01", receivedAt: at(5), deviceTime: at(4.5), boot: "b2",
                                             seq: UInt64.max - 5, payload: "{\"ghi_chú\":\"mẫu 5\"}"))
        // Oldest first, the newest `limit` kept.
        #expect(try q.samples(device: "LOA-01", in: window(0, 10), limit: 3).map(\.receivedAt) == [at(3), at(4), at(5)])
        #expect(try q.samples(device: "LOA-01", in: window(2, 4)).map(\.receivedAt) == [at(2), at(3)])
        #expect(try q.sampleCount() == 6)
    }

    @Test(arguments: Backend.allCases) func kioskCounterSamplesAreTheLastOfEachBootAndDay(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let day = 86_400.0
        func s(_ t: Double, _ boot: String, _ seq: UInt64) -> TelemetryRecord {
            TelemetryRecord(deviceID: "KIOSK-01", receivedAt: at(t), deviceTime: at(t), boot: boot, seq: seq,
                            payload: "{\"tickets_issued\":\(seq)}")
        }
        var b = IngestBatch()
        b.samples = [s(-100, "b1", 1), s(10, "b1", 2), s(20, "b1", 3), s(30, "b2", 1), s(day + 10, "b2", 2), s(day + 20, "b2", 3)]
        try IngestRepository(db).write(b)
        let (base, samples) = try HealthQueries(db).kioskCounterSamples(device: "KIOSK-01", in: window(0, 2 * day), calendar: .vietnam)
        #expect(base == s(-100, "b1", 1))
        // t0 is 18:06 in Hà Nội: a day later is the next local day.
        #expect(samples == [s(20, "b1", 3), s(30, "b2", 1), s(day + 20, "b2", 3)])
        let none = try HealthQueries(db).kioskCounterSamples(device: "KIOSK-01", in: window(-1000, -500), calendar: .vietnam)
        #expect(none.base == nil && none.samples.isEmpty)
    }

    @Test(arguments: Backend.allCases) func kioskEventsTotalsAndBoots(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        func e(_ device: String, _ boot: String, _ seq: UInt64, _ type: String, _ t: Double, wait: Double? = nil,
               rating: SatisfactionLevel? = nil) -> EventRecord {
            EventRecord(deviceID: device, boot: boot, seq: seq, type: type, occurredAt: at(t), receivedAt: at(t + 1),
                        ticket: type.hasPrefix("ticket") ? "A\(seq)" : nil, waitSeconds: wait, rating: rating)
        }
        var b = IngestBatch()
        b.events = [
            e("KIOSK-01", "b1", 1, "ticket_issued", 1), e("KIOSK-01", "b1", 2, "ticket_issued", 2),
            e("KIOSK-01", "b1", 3, "ticket_served", 3, wait: 120.5), e("KIOSK-01", "b2", 1, "ticket_served", 4, wait: 30),
            e("KIOSK-01", "b2", 2, "rating_submitted", 5, rating: .verySatisfied),
            e("KIOSK-01", "b2", 3, "rating_submitted", 6, rating: .verySatisfied),
            e("KIOSK-01", "b2", 4, "rating_submitted", 7, rating: .dissatisfied),
            e("KIOSK-01", "b2", 5, "rating_submitted", 500, rating: .neutral),  // after the window
            e("K-2", "x", 1, "ticket_issued", 2),
        ]
        try IngestRepository(db).write(b)
        let q = HealthQueries(db)
        let totals = try q.kioskTotals(devices: ["KIOSK-01"], in: window(0, 100))
        #expect(Array(totals.keys) == ["KIOSK-01"])
        let k = try #require(totals["KIOSK-01"])
        #expect(k.issued == 2 && k.waits.sorted() == [30, 120.5])
        #expect(k.ratings == [.verySatisfied: 2, .dissatisfied: 1])
        #expect(try q.kioskTotals(devices: [], in: window(0, 100)).isEmpty)

        let activity = try q.kioskActivity(devices: ["KIOSK-01"], in: window(0, 5))
        #expect(activity["KIOSK-01"] == [.ticketIssued(at: at(1)), .ticketIssued(at: at(2)), .ticketServed(at: at(3), waitSeconds: 120.5),
                                         .ticketServed(at: at(4), waitSeconds: 30)])
        #expect(try q.kioskActivity(in: window(0, 5))["K-2"] == [.ticketIssued(at: at(2))])
        #expect(try q.kioskActivity(devices: [], in: window(0, 5)).isEmpty)

        let boots = try q.kioskEventBoots(device: "KIOSK-01", boots: ["b1", "b2", "b3"])
        #expect(boots == KioskEventBoots(issued: ["b1"], served: ["b1", "b2"], rated: ["b2"]))
        #expect(try q.kioskEventBoots(device: "KIOSK-01", boots: ["b3"]) == KioskEventBoots())
        #expect(try q.kioskEventBoots(device: "KIOSK-01", boots: []) == KioskEventBoots())
        #expect(try q.eventCount(device: "KIOSK-01", type: "rating_submitted") == 4)
        #expect(try q.eventCount(device: "KIOSK-01", type: "tamper") == 0)
    }

    @Test(arguments: Backend.allCases) func incidentsAndClaimAttempts(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        var b = IngestBatch()
        b.events = [
            EventRecord(deviceID: "CAM-01", boot: "c", seq: 1, type: "tamper", occurredAt: at(4), receivedAt: at(5), detail: "bị che"),
            EventRecord(deviceID: "CAM-01", boot: "c", seq: 2, type: "storage_full", occurredAt: at(6), receivedAt: at(6)),
            EventRecord(deviceID: "CAM-01", boot: "c", seq: 3, type: "tamper", occurredAt: at(7), receivedAt: at(7), detail: "bị xoay"),
            EventRecord(deviceID: "CAM-01", boot: "c", seq: 4, type: "ticket_issued", occurredAt: at(8), receivedAt: at(8)),
        ]
        try IngestRepository(db).write(b)
        let claims = ClaimRepository(db)
        try claims.issue(device: "LOA-01", secret: [1, 2, 3], by: "kythuat", at: t0, expires: at(3600))
        for _ in 1...ClaimThrottle.alarmAfter { try claims.noteFailure(device: "LOA-01", at: at(8)) }
        try claims.issue(device: "CAM-01", secret: [4], by: "kythuat", at: t0, expires: at(3600))
        try claims.noteFailure(device: "CAM-01", at: at(8))  // one typo: no incident

        let q = HealthQueries(db)
        let latest = try q.latestIncidents(since: at(6))
        #expect(latest["CAM-01"]?["tamper"] == DeviceIncident(type: "tamper", occurredAt: at(7), receivedAt: at(7), detail: "bị xoay"))
        #expect(latest["CAM-01"]?["storage_full"]?.receivedAt == at(6))
        #expect(latest["CAM-01"]?.count == 2)
        let claim = try #require(latest["LOA-01"]?["claim_attempts"])
        #expect(claim.receivedAt == at(8) && claim.detail == "\(ClaimThrottle.alarmAfter) lần sai mã liên tiếp / wrong codes in a row")
        #expect(try q.latestIncidents(since: at(9)).isEmpty)
        #expect(try q.incidents(device: "CAM-01").map(\.detail) == ["bị xoay", nil, "bị che"])
        #expect(try q.incidents(device: "CAM-01", limit: 1).map(\.type) == ["tamper"])
    }

    @Test(arguments: Backend.allCases) func pendingRecordsMergeAndNameTheirCommune(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let w = IngestRepository(db)
        var b = IngestBatch()
        b.pending = [PendingRecord(deviceID: "LOA-9", communeID: "cam-la", deviceClass: "speaker", model: "Loa Bắc Ninh",
                                   firstSeen: at(10), lastSeen: at(20), messages: 2)]
        try w.write(b)
        // A late flush of older news: first seen and the latest time are kept, messages add up.
        b.pending = [PendingRecord(deviceID: "LOA-9", communeID: "yen-giang", firmware: "3.1", firstSeen: at(5), lastSeen: at(15), messages: 3)]
        try w.write(b)
        let q = HealthQueries(db)
        let p = try #require(try q.pending().first)
        #expect(p.firstSeen == at(10) && p.lastSeen == at(20) && p.messages == 5)
        #expect(p.deviceClass == "speaker" && p.model == "Loa Bắc Ninh" && p.firmware == "3.1" && p.communeID == "yen-giang")
        #expect(try q.pendingCommune(of: "LOA-9", ifNot: "cam-la") == "yen-giang")
        #expect(try q.pendingCommune(of: "LOA-9", ifNot: "yen-giang") == nil)
        #expect(try q.pendingCommune(of: "LOA-404", ifNot: "cam-la") == nil)
        // Twice in one flush (an upsert may not touch a row twice in one statement): both count.
        let again = PendingRecord(deviceID: "LOA-9", communeID: "yen-giang", firstSeen: at(30), lastSeen: at(30), messages: 1)
        b.pending = [again, again]
        try w.write(b)
        #expect(try q.pending().first?.messages == 7 && q.pending().first?.lastSeen == at(30))
    }

    @Test(arguments: Backend.allCases) func acksAreReadPerCommandAndDevice(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        var b = IngestBatch()
        b.acks = [AckRecord(deviceID: "LOA-01", cmdID: "cmd-1", result: "ok", detail: nil, receivedAt: at(1)),
                  AckRecord(deviceID: "CAM-01", cmdID: "cmd-1", result: "error", detail: "không hỗ trợ", receivedAt: at(2)),
                  AckRecord(deviceID: "LOA-01", cmdID: "cmd-2", result: "ok", detail: nil, receivedAt: at(3)),
                  // A self-test's findings (v26) kept beside its result.
                  AckRecord(deviceID: "LOA-01", cmdID: "rdy-1", result: "ok", detail: "amply tốt", receivedAt: at(4),
                            report: SelfTestFindings(amplifierOK: true, speakerLineOK: true, power: .battery, batteryPercent: 45,
                                                     batteryMinutes: 270).json)]
        try IngestRepository(db).write(b)
        let q = HealthQueries(db)
        #expect(try q.acks(command: "cmd-1") == Array(b.acks.prefix(2)))
        #expect(try q.acks(command: "cmd-1", device: "CAM-01") == [b.acks[1]])
        #expect(try q.acks(command: "cmd-1", device: "KIOSK-01").isEmpty)
        #expect(try q.acks(command: "cmd-3").isEmpty)
        #expect(try q.acks(command: "rdy-1") == [b.acks[3]])
        #expect(SelfTestFindings.stored(try q.acks(command: "rdy-1").first?.report)?.batteryMinutes == 270)
        #expect(try q.acks(command: "cmd-2").first?.report == nil)
    }

    @Test(arguments: Backend.allCases) func rejectionsAreKeptBoundedAndFoundByDevice(_ backend: Backend) throws {
        let db = try backend.open()
        let w = IngestRepository(db)
        func r(_ topic: String, _ reason: String = "malformed_json") -> RejectionRecord {
            RejectionRecord(at: t0, reason: reason, topic: topic, detail: "chi tiết: \(topic)")
        }
        var b = IngestBatch()
        b.rejections = [r("wardfleet/v1/cam-la/LOA_01/telemetry"), r("wardfleet/v1/cam-la/LOAX01/telemetry"),
                        r("wardfleet/v1/yen-giang/LOA_01/events", "replayed_seq"), r("wardfleet/v1/cam-la/loa_01/birth"),
                        r("wardfleet/v1/cam-la/LOA_01"), r("other/LOA_01/x")]
        try w.write(b)
        let q = HealthQueries(db)
        // Any commune; `_` is no wildcard; ids differ by case; the device is a whole topic level.
        #expect(try q.recentRejections(device: "LOA_01").map(\.topic) == ["wardfleet/v1/yen-giang/LOA_01/events",
                                                                          "wardfleet/v1/cam-la/LOA_01/telemetry"])
        #expect(try q.recentRejections(device: "LOA_01", limit: 1).map(\.reason) == ["replayed_seq"])
        #expect(try q.recentRejections(device: "loa_01").map(\.topic) == ["wardfleet/v1/cam-la/loa_01/birth"])
        #expect(try q.recentRejections(device: "LOA%").isEmpty)
        #expect(try q.recentRejections(limit: 2).map(\.topic) == ["other/LOA_01/x", "wardfleet/v1/cam-la/LOA_01"])
        #expect(try q.recentRejections().first == r("other/LOA_01/x"))

        // Only the latest `keptRejections` stay.
        b.rejections = (0..<IngestRepository.keptRejections).map { r("wardfleet/v1/cam-la/D\($0)/x") }
        try w.write(b)
        #expect(try db.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM rejections") } == IngestRepository.keptRejections)
        #expect(try q.recentRejections(device: "LOA_01").isEmpty)
        #expect(try q.recentRejections(limit: 1).map(\.topic) == ["wardfleet/v1/cam-la/D\(IngestRepository.keptRejections - 1)/x"])
    }

    @Test(arguments: Backend.allCases) func countersKeepTheLatestValues(_ backend: Backend) throws {
        let db = try backend.open()
        var b = IngestBatch()
        b.counters = ["received": 10, "rejected.malformed_json": 2, "huge": UInt64.max]
        b.aliveAt = at(1)
        try IngestRepository(db).write(b)
        b.counters = ["received": 12]
        try IngestRepository(db).write(b)
        #expect(try HealthQueries(db).counters() == ["received": 12, "rejected.malformed_json": 2, "huge": UInt64(Int64.max)])
        // A cluster node's commune units count apart ("name@unit"), summed when shown.
        b.counters = ["received@cam-la": 4, "received@cam_la": 1, "received@Cam-La": 2, "dropped@cam-la": 3]
        try IngestRepository(db).write(b)
        #expect(try HealthQueries(db).counters()["received"] == 19)
        #expect(try HealthQueries(db).counters(unit: "cam-la") == ["received": 4, "dropped": 3])
        #expect(try HealthQueries(db).counters(unit: "cam_la") == ["received": 1])
        #expect(try HealthQueries(db).counters(unit: "dong-ha").isEmpty)
    }

    @Test(arguments: Backend.allCases) func playbackReportsNeedTheirScheduledLine(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        let k = PlayKey(item: "BT-1", start: at(100))
        try PlaybackRepository(db).append([PlaybackEntry(key: k, speaker: "LOA-01", event: .scheduled, at: at(1))], recordedAt: at(1))
        var b = IngestBatch()
        let started = PlaybackEntry(key: k, speaker: "LOA-01", event: .started, at: at(100.2))
        let stranger = PlaybackEntry(key: k, speaker: "LOA-02", event: .started, at: at(100.3))
        b.playback = [(started, at(101)), (stranger, at(101)), (started, at(102))]
        let refused = try IngestRepository(db).write(b)
        #expect(refused == [stranger])
        #expect(try PlaybackRepository(db).entries(item: "BT-1").map(\.event) == [.scheduled, .started])
        #expect(try IngestRepository(db).write(IngestBatch()).isEmpty)
    }
}
