import FleetFile
import Foundation
import Testing
import WardDomain
@testable import WardStorage

let t0 = Date(timeIntervalSince1970: 1_795_000_000)

let yaml = """
province:
  id: qn
  name: Tỉnh Quảng Ninh
  communes:
    - id: cam-la
      name: Xã Cẩm La
      kind: xã
      sites:
        - {id: mot-cua, name: Bộ phận Một cửa, kind: one_stop_office}
      villages:
        - id: thon-cam-la
          name: Thôn Cẩm La
          kind: thôn
          sites:
            - id: nvh
              name: Nhà văn hóa thôn Cẩm La
              kind: cultural_house
              lat: 20.94
              lon: 106.82
              devices:
                - {id: LOA-01, class: speaker, model: "IP Loa 4G", installed: 2025-05-20, max_volume: 80}
                - {id: CAM-01, class: camera}
        - {id: kp-yen-giang, name: Khu phố Yên Giang, kind: khu phố}
        - {id: tdp-5, name: Tổ dân phố 5, kind: tổ dân phố}
devices:
  - {id: KIOSK-01, class: kiosk, site: mot-cua, kiosk_role: rating}
"""

@Suite struct FleetFileTests {
    @Test func yamlGivesPlacesAndDevices() throws {
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        #expect(f.places.map(\.id) == ["qn", "cam-la", "thon-cam-la", "nvh", "kp-yen-giang", "tdp-5", "mot-cua"])
        #expect(f.places.first { $0.id == "nvh" }?.coordinate == Coordinate(latitude: 20.94, longitude: 106.82))
        #expect(f.devices.map(\.id) == ["KIOSK-01", "LOA-01", "CAM-01"])
        let loa = try #require(f.devices.first { $0.id == "LOA-01" })
        #expect(loa.siteID == "nvh" && loa.config.maxVolume == 80 && loa.model == "IP Loa 4G")
        #expect(loa.installedOn == LocalCalendar.vietnam.day(named: "2025-05-20")?.start)
        #expect(f.devices.first { $0.id == "CAM-01" }?.config.requiredRetentionDays == 30)
        #expect(try f.communeOfDevices() == ["KIOSK-01": "cam-la", "LOA-01": "cam-la", "CAM-01": "cam-la"])
    }

    @Test func csvPlacesAndDevicesWithQuotesAndBOM() throws {
        let places = "\u{FEFF}level,id,name,parent,kind,lat,lon\r\nprovince,qn,Tỉnh Quảng Ninh,,,,\r\n"
            + "commune,cam-la,\"Xã Cẩm La, Quảng Yên\",qn,xã,,\r\nvillage,tdp-5,Tổ dân phố 5,cam-la,tổ dân phố,,\r\n"
            + "site,nvh,\"Nhà văn hóa \"\"Tổ 5\"\"\",tdp-5,cultural_house,20.9,106.8\r\n"
        let p = try FleetFileReader.parseCSV(places, registeredAt: t0)
        #expect(p.places.map(\.name) == ["Tỉnh Quảng Ninh", "Xã Cẩm La, Quảng Yên", "Tổ dân phố 5", "Nhà văn hóa \"Tổ 5\""])
        #expect(p.places[2].kindLabel == "tổ dân phố" && p.places[3].siteKind == .culturalHouse)
        let devices = "id,class,site,model,firmware,installed,required_retention_days,max_volume,kiosk_role\n"
            + "CAM-9,camera,nvh,Dahua,2.8,2025-06-03,45,,\nLOA-9,speaker,nvh,,,,,90,\n"
        let d = try FleetFileReader.parseCSV(devices, registeredAt: t0)
        #expect(d.devices.map(\.config.requiredRetentionDays) == [45, nil])
        #expect(d.devices.map(\.config.maxVolume) == [nil, 90])
    }

    @Test func errorsNameTheLineAndTheProblem() {
        let bad = "id,class,site\nLOA-1,speaker,nvh\nLOA-2,toaster,nvh\n"
        #expect(throws: FleetFileError.self) { try FleetFileReader.parseCSV(bad, registeredAt: t0) }
        do { _ = try FleetFileReader.parseCSV(bad, registeredAt: t0) } catch let e as FleetFileError {
            #expect(e.message.contains("line 3") && e.message.contains("toaster"))
        } catch { Issue.record("\(error)") }
        do { _ = try FleetFileReader.parseYAML("province: [", registeredAt: t0) } catch let e as FleetFileError {
            #expect(e.message.contains("YAML"))
        } catch { Issue.record("\(error)") }
        do {
            _ = try FleetFileReader.parseCSV("id,class,site,installed\nX,camera,s,21/11/2026\n", registeredAt: t0)
        } catch let e as FleetFileError {
            #expect(e.message.contains("YYYY-MM-DD"))
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct RepositoryTests {
    @Test(arguments: Backend.allCases) func vietnameseNamesRoundTrip(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        let (ins, upd) = try PlaceRepository(db).upsert(f.places)
        #expect(ins == 7 && upd == 0)
        let back = try PlaceRepository(db).all()
        for name in ["Thôn Cẩm La", "Khu phố Yên Giang", "Tổ dân phố 5", "Bộ phận Một cửa"] {
            let stored = try #require(back.first { $0.name == name })
            #expect(Array(stored.name.utf8) == Array(name.precomposedStringWithCanonicalMapping.utf8))
        }
        // Importing again updates in place.
        #expect(try PlaceRepository(db).upsert(f.places) == (inserted: 0, updated: 7))
    }

    @Test(arguments: Backend.allCases) func invalidImportsWriteNothing(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        try PlaceRepository(db).upsert(f.places)
        let orphan = Place(id: "x", level: .village, name: "Thôn X", parentID: "nowhere")
        #expect(throws: PlaceError.self) {
            try PlaceRepository(db).upsert([Place(id: "ok", level: .village, name: "Thôn Mới", parentID: "cam-la"), orphan])
        }
        #expect(try PlaceRepository(db).all().count == 7)
        var devices = f.devices
        devices.append(Device(id: "BAD", deviceClass: .speaker, siteID: "thon-cam-la", registeredAt: t0))
        #expect(throws: DeviceError.notASite(device: "BAD", place: "thon-cam-la")) { try DeviceRepository(db).upsert(devices) }
        #expect(try DeviceRepository(db).list().isEmpty)
    }

    @Test(arguments: Backend.allCases) func removalKeepsHistoryAndClosesTheOpenInterval(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        try PlaceRepository(db).upsert(f.places)
        try DeviceRepository(db).upsert(f.devices)
        var b = IngestBatch()
        b.changes = [StateChange(deviceID: "LOA-01", from: .unknown, to: .ok, faults: [], at: t0)]
        try IngestRepository(db).write(b)
        #expect(try DeviceRepository(db).remove("LOA-01", at: t0 + 60))
        #expect(try !DeviceRepository(db).remove("LOA-01", at: t0 + 61))
        #expect(try DeviceRepository(db).list().map(\.id).sorted() == ["CAM-01", "KIOSK-01"])
        #expect(try DeviceRepository(db).get("LOA-01")?.removedAt == t0 + 60)
        let iv = try HealthQueries(db).intervals(overlapping: DateInterval(start: t0, end: t0 + 3600))["LOA-01"]
        #expect(iv == [StateInterval(state: .ok, start: t0, end: t0 + 60)])
    }

    @Test(arguments: Backend.allCases) func ingestBatchesKeepIntervalsContiguousAndStatusRestorable(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        try PlaceRepository(db).upsert(f.places)
        try DeviceRepository(db).upsert(f.devices)
        let w = IngestRepository(db)
        let (run, prev) = try w.startRun(at: t0)
        #expect(prev == nil)  // no earlier run
        var l = DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: t0 + 20)
        l.state = .degraded
        l.faults = [Fault(.amplifierFault)]
        l.bootID = "b1"
        l.lastSeq = 42
        l.lastHeard = t0 + 30
        var b = IngestBatch()
        b.changes = [
            StateChange(deviceID: "LOA-01", from: .unknown, to: .ok, faults: [], at: t0 + 10),
            StateChange(deviceID: "LOA-01", from: .ok, to: .degraded, faults: [Fault(.amplifierFault)], at: t0 + 20),
        ]
        b.statuses = [DeviceStatusRecord(deviceID: "LOA-01", liveness: l, birth: "{}", lastTelemetry: "{\"v\":1}", lastTelemetryAt: t0 + 30)]
        b.pending = [PendingRecord(deviceID: "NEW-1", communeID: "cam-la", deviceClass: "speaker", firstSeen: t0, lastSeen: t0, messages: 2)]
        b.counters = ["received": 10]
        b.aliveAt = t0 + 30
        try w.write(b, run: run)
        var b2 = IngestBatch()
        b2.changes = [StateChange(deviceID: "LOA-01", from: .degraded, to: .offline, faults: [Fault(.lastWill)], at: t0 + 40)]
        b2.pending = [PendingRecord(deviceID: "NEW-1", communeID: "cam-la", firstSeen: t0 + 50, lastSeen: t0 + 50, messages: 3)]
        b2.rejections = [RejectionRecord(at: t0, reason: "malformed_json", topic: "t", detail: "d")]
        try w.write(b2, run: run)

        let q = HealthQueries(db)
        let iv = try q.intervals(devices: ["LOA-01"], overlapping: DateInterval(start: t0, end: t0 + 100))["LOA-01"] ?? []
        #expect(iv.map(\.state) == [.ok, .degraded, .offline])
        #expect(iv[0].end == iv[1].start && iv[1].end == iv[2].start && iv[2].end == nil)
        let status = try #require(try q.statuses()["LOA-01"])
        #expect(status.liveness.lastSeq == 42 && status.liveness.bootID == "b1")
        #expect(status.liveness.classFaults == [Fault(.amplifierFault)])
        let pending = try q.pending()
        #expect(pending.count == 1 && pending[0].messages == 5 && pending[0].firstSeen == t0 && pending[0].lastSeen == t0 + 50)
        #expect(pending[0].deviceClass == "speaker")
        #expect(try q.counters() == ["received": 10])
        #expect(try q.recentRejections().map(\.reason) == ["malformed_json"])
        #expect(try q.controllerLastAlive() == t0 + 30)
        // Registering a pending device settles it.
        try DeviceRepository(db).upsert([Device(id: "NEW-1", deviceClass: .speaker, siteID: "nvh", registeredAt: t0)])
        #expect(try q.pending().isEmpty)
    }

    @Test(arguments: Backend.allCases) func reopeningAnExistingDatabaseKeepsData(_ backend: Backend) throws {
        let db = try backend.open()
        try PlaceRepository(db).upsert([Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh")])
        let again = try WardDatabase.open(db.path)
        #expect(try PlaceRepository(again).all().map(\.name) == ["Tỉnh Quảng Ninh"])
        switch backend {
        case .sqlite:
            let mode = try again.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
        case .postgres:
            // Reopening applied no migration twice: the baseline and each shared one, once.
            let ids = try again.store.read { try String.fetchAll($0, sql: "SELECT id FROM schema_migrations") }
            #expect(ids.count == 1 + SharedMigrations.all.count && Set(ids).count == ids.count)
            let encoding = try again.store.read { try String.fetchOne($0, sql: "SHOW server_encoding") }
            #expect(encoding == "UTF8")
        }
    }

    @Test(arguments: Backend.allCases) func kioskActivityIsReadBack(_ backend: Backend) throws {
        let db = try backend.open()
        var b = IngestBatch()
        b.events = [
            EventRecord(deviceID: "K", boot: "b", seq: 1, type: "ticket_issued", occurredAt: t0, receivedAt: t0),
            EventRecord(deviceID: "K", boot: "b", seq: 2, type: "ticket_served", occurredAt: t0 + 1, receivedAt: t0 + 1, waitSeconds: 300),
            EventRecord(deviceID: "K", boot: "b", seq: 3, type: "rating_submitted", occurredAt: t0 + 2, receivedAt: t0 + 2, rating: .satisfied),
            EventRecord(deviceID: "K", boot: "b", seq: 4, type: "tamper", occurredAt: t0 + 3, receivedAt: t0 + 3),
        ]
        try IngestRepository(db).write(b)
        let a = try HealthQueries(db).kioskActivity(in: DateInterval(start: t0, end: t0 + 10))["K"]
        #expect(a == [.ticketIssued(at: t0), .ticketServed(at: t0 + 1, waitSeconds: 300), .rating(at: t0 + 2, level: .satisfied)])
    }
}

@Suite struct PlaybackLogStorageTests {
    @Test(arguments: Backend.allCases) func theLogIsAppendOnlyAndRepeatsAddNothing(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = PlaybackRepository(db)
        let k = PlayKey(item: "BT-1", start: t0)
        let lines = [PlaybackEntry(key: k, speaker: "L1", event: .scheduled, at: t0),
                     PlaybackEntry(key: k, speaker: "L1", event: .started, at: t0.addingTimeInterval(0.2), detail: "Thôn Cẩm La")]
        #expect(try repo.append(lines, recordedAt: t0) == 2)
        #expect(try repo.append(lines, recordedAt: t0) == 0)  // a QoS 1 redelivery
        #expect(try repo.entries(item: "BT-1") == lines)
        #expect(try repo.open(since: t0).map(\.1) == ["L1"])
        // SQLite's RAISE(ABORT) triggers and PostgreSQL's plpgsql ones refuse both.
        #expect(throws: (any Error).self) { try db.store.write { try $0.execute(sql: "DELETE FROM playback_log") } }
        #expect(throws: (any Error).self) { try db.store.write { try $0.execute(sql: "UPDATE playback_log SET event = 'finished'") } }
        #expect(try repo.entries(item: "BT-1") == lines)
        try repo.append([PlaybackEntry(key: k, speaker: "L1", event: .finished, at: t0.addingTimeInterval(3))], recordedAt: t0)
        #expect(try repo.open(since: t0).isEmpty)
    }

    @Test(arguments: Backend.allCases) func everyScheduleChangeBumpsTheRevision(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = BroadcastRepository(db)
        let r0 = try repo.revision()
        try repo.setGroup("Chợ", speakers: ["L1"], by: "lan", at: t0)
        #expect(try repo.revision() == r0 + 1)
    }
}

@Suite struct EventOnceTests {
    /// A kiosk's QoS 1 event delivered twice (the device re-sent it; after a crash the controller's
    /// stored sequence lagged) is stored once: tickets and ratings are not counted twice.
    @Test(arguments: Backend.allCases) func anEventDeliveredTwiceIsStoredOnce(_ backend: Backend) throws {
        let db = try backend.open()
        var batch = IngestBatch()
        let e = EventRecord(deviceID: "KIOSK-1", boot: "b1", seq: 7, type: "rating_submitted", occurredAt: t0, receivedAt: t0, rating: .satisfied)
        batch.events = [e, e]
        try IngestRepository(db).write(batch)
        batch.events = [e, EventRecord(deviceID: "KIOSK-1", boot: "b2", seq: 7, type: "rating_submitted", occurredAt: t0, receivedAt: t0,
                                       rating: .satisfied)]
        try IngestRepository(db).write(batch)
        let n = try db.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM device_events") }
        #expect(n == 2, "the same boot and sequence once, another boot's seq 7 is another event")
    }
}

/// A statement keeps its last arguments bound until it runs again, and a cached one lives as long as
/// its connection: large ones (a province's report body) are let go once it ran, small ones stay.
@Suite struct StatementArgumentTests {
    @Test func largeArgumentsAreLetGoOnceTheStatementRan() throws {
        let db = try Backend.sqlite.open()
        let store = try #require(db.store as? SQLiteStore)
        let body = Data((0..<300_000).map { UInt8($0 % 251) })
        for (i, size) in [300_000, 10, 300_000].enumerated() {
            try ReportRepository(db).save(month: "2026-1\(i)", scope: "*", format: "html", lang: "vi", body: body.prefix(size), at: t0, by: "t")
        }
        let saveSQL = """
            INSERT INTO monthly_reports (month, scope, format, lang, body, generated_at, generated_by)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (month, scope, format, lang) DO UPDATE SET body = excluded.body, generated_at = excluded.generated_at,
                generated_by = excluded.generated_by
            """
        try store.pool.write { g in
            let st = try g.cachedStatement(sql: saveSQL)
            #expect(st.arguments.isEmpty, "the last save's 300 kB body is not held")
            // What `letGo` leaves is a statement that runs again with new arguments.
            try st.execute(arguments: ["2026-13", "*", "html", "vi", Data([1, 2]), 1, "t"])
            GRDBSession.letGo(st, ["2026-13", "*", "html", "vi", Data([1, 2]), 1, "t"])
            #expect(!st.arguments.isEmpty, "small arguments stay (no work on every statement)")
        }
        for (i, size) in [300_000, 10, 300_000].enumerated() {
            #expect(try ReportRepository(db).body(month: "2026-1\(i)", scope: "*", format: "html", lang: "vi") == body.prefix(size))
        }
        #expect(try ReportRepository(db).body(month: "2026-13", scope: "*", format: "html", lang: "vi") == Data([1, 2]))
        // Reads too: a large text argument of a query is not kept by its cached statement.
        let big = String(repeating: "Thôn Cẩm La ", count: 10_000)
        _ = try db.store.read { try SQLRow.fetchAll($0, sql: "SELECT length(?) AS n", arguments: [big]) }
        let stillHeld = try store.pool.read { try !$0.cachedStatement(sql: "SELECT length(?) AS n").arguments.isEmpty }
        #expect(!stillHeld)
    }
}
