import Foundation
import Testing
@testable import WardController
import WardDomain
import WardStorage

/// Issue 13 (3e): a kiosk that sends only telemetry counters has one-stop figures, on its device
/// page and in the monthly KPIs; one that also sends events is not counted twice.
@Suite struct KioskCountsTests {
    let t0 = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 10:06 in Việt Nam

    func database() throws -> WardDatabase {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-kiosk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("k.sqlite").path)
        try PlaceRepository(db).upsert([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "mot-cua", level: .site, name: "Bộ phận Một cửa", parentID: "an-phu", siteKind: .oneStopOffice),
        ])
        try DeviceRepository(db).upsert([Device(id: "kiosk-1", deviceClass: .kiosk, siteID: "mot-cua", registeredAt: t0 - 86_400)])
        return db
    }

    func reading(_ boot: String, _ seq: UInt64, at: Date, issued: Int, served: Int, ratings: String) -> TelemetryRecord {
        let ms = Int64(at.timeIntervalSince1970 * 1000)
        return TelemetryRecord(deviceID: "kiosk-1", receivedAt: at, deviceTime: at, boot: boot, seq: seq, payload: """
            {"v":1,"device":"kiosk-1","boot":"\(boot)","seq":\(seq),"ts":\(ms),"kiosk":{"printer_ok":true,"paper_low":false,\
            "paper_out":false,"tickets_issued":\(issued),"tickets_served":\(served),"ratings":\(ratings)}}
            """)
    }

    @Test func countersCountWhereNoEventsDidAndOnlyThere() throws {
        let db = try database()
        var batch = IngestBatch()
        batch.samples = [
            reading("k1", 1, at: t0, issued: 4, served: 2, ratings: #"{"satisfied":1}"#),
            reading("k1", 2, at: t0 + 60, issued: 6, served: 5, ratings: #"{"satisfied":1,"neutral":2}"#),
            reading("k2", 1, at: t0 + 120, issued: 2, served: 2, ratings: #"{}"#),       // rebooted: from zero
            reading("k3", 1, at: t0 + 180, issued: 1, served: 1, ratings: #"{"dissatisfied":1}"#),
        ]
        // Boot k3 sends its tickets as events too: its ticket counters repeat them.
        batch.events = [
            EventRecord(deviceID: "kiosk-1", boot: "k3", seq: 1, type: "ticket_issued", occurredAt: t0 + 170, receivedAt: t0 + 170),
            EventRecord(deviceID: "kiosk-1", boot: "k3", seq: 2, type: "ticket_served", occurredAt: t0 + 175, receivedAt: t0 + 175, waitSeconds: 90),
        ]
        try IngestRepository(db).write(batch)

        let detail = try #require(try DeviceDetail.build(db, id: "kiosk-1", now: t0 + 600))
        let day = try #require(detail.kioskDays.last)
        #expect(day.ticketsIssued == 6 + 2 + 1 && day.ticketsServed == 5 + 2 + 1)
        #expect(day.ratings == [.satisfied: 1, .neutral: 2, .dissatisfied: 1])
        #expect(day.meanWaitSeconds == 90)  // waits only from events

        let month = DateInterval(start: t0 - 86_400, end: t0 + 86_400)
        let k = try #require(try KPIService(db).load(period: month, now: t0 + 600).input.kiosk["kiosk-1"])
        #expect(k.issued == 9 && k.waits == [90] && k.servedWithoutWait == 7)
        #expect(k.ratings == [.satisfied: 1, .neutral: 2, .dissatisfied: 1])
    }
}
