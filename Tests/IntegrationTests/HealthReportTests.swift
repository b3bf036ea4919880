import Foundation
import Testing
import WardController
import WardDomain
import WardStorage

/// The technician's report on a constructed history (SQLite, no broker), figures by hand.
@Suite struct HealthReportTests {
    let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    let h = 3600.0

    @Test func availabilityByClassVillageAndCommuneIsDeviceTimeWeighted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try WardDatabase(path: dir.appendingPathComponent("r.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
            Place(id: "cl", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
            Place(id: "v1", level: .village, name: "Thôn Cẩm La", parentID: "cl"),
            Place(id: "v2", level: .village, name: "Tổ dân phố 5", parentID: "cl"),
            Place(id: "s1", level: .site, name: "Nhà văn hóa", parentID: "v1", siteKind: .culturalHouse),
            Place(id: "s2", level: .site, name: "Chợ", parentID: "v2", siteKind: .market),
        ])
        // Window: t0 … t0+10h.
        //   LOA-A (v1): ok 10 h                                   → 10 of 10 h
        //   LOA-B (v2): ok 6 h, offline 4 h                       →  6 of 10 h
        //   CAM-C (v2): installed at t0+5h, ok 5 h                →  5 of  5 h
        //   CAM-D (v1): ok 2 h, removed at t0+2h                  →  2 of  2 h (removed: no state)
        try DeviceRepository(db).upsert([
            Device(id: "LOA-A", deviceClass: .speaker, siteID: "s1", registeredAt: t0),
            Device(id: "LOA-B", deviceClass: .speaker, siteID: "s2", registeredAt: t0),
            Device(id: "CAM-C", deviceClass: .camera, siteID: "s2", installedOn: t0 + 5 * h, registeredAt: t0),
            Device(id: "CAM-D", deviceClass: .camera, siteID: "s1", registeredAt: t0),
        ])
        var b = IngestBatch()
        b.changes = [
            StateChange(deviceID: "LOA-A", from: .unknown, to: .ok, faults: [], at: t0),
            StateChange(deviceID: "LOA-B", from: .unknown, to: .ok, faults: [], at: t0),
            StateChange(deviceID: "LOA-B", from: .ok, to: .offline, faults: [Fault(.lastWill)], at: t0 + 6 * h),
            StateChange(deviceID: "CAM-C", from: .unknown, to: .ok, faults: [], at: t0 + 5 * h),
            StateChange(deviceID: "CAM-D", from: .unknown, to: .ok, faults: [], at: t0),
        ]
        var offline = DeviceLiveness(deviceClass: .speaker, config: DeviceConfig(), since: t0 + 6 * h)
        offline.state = .offline
        offline.faults = [Fault(.lastWill)]
        b.statuses = [DeviceStatusRecord(deviceID: "LOA-B", liveness: offline)]
        try IngestRepository(db).write(b)
        _ = try DeviceRepository(db).remove("CAM-D", at: t0 + 2 * h)

        let now = t0 + 10 * h
        let r = try HealthReport.build(db, now: now, window: DateInterval(start: t0, end: now))
        #expect(r.uptime.availability == 23.0 / 27.0)
        #expect(r.uptimeByClass["speaker"]?.availability == 16.0 / 20.0)
        #expect(r.uptimeByClass["camera"]?.availability == 1)
        #expect(r.byVillage.first { $0.id == "v1" }?.uptime.availability == 1)        // 12 of 12 h
        #expect(r.byVillage.first { $0.id == "v2" }?.uptime.availability == 11.0 / 15.0)
        #expect(r.byCommune.map(\.uptime.availability) == [23.0 / 27.0])
        #expect(r.counts.total == 3)  // CAM-D removed
        #expect(r.problems.map(\.device) == ["LOA-B"])
        #expect(r.problems.first?.since == t0 + 6 * h)
    }
}
