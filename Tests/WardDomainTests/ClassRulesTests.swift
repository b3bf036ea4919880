import Foundation
import Testing
@testable import WardDomain

@Suite struct CameraStorageTests {
    let day = 86_400.0
    let tb: Int64 = 1_000_000_000_000

    func camera(used: Double, rate: Double, oldestDaysAgo: Double?, now: Date) -> CameraReading {
        CameraReading(recording: true, streamOK: true, storageUsedBytes: Int64(Double(tb) * used), storageTotalBytes: tb,
                      oldestRecording: oldestDaysAgo.map { now - $0 * day }, writeRateBytesPerSecond: rate)
    }

    @Test func retentionCapacityAndRunway() {
        // 1 TB at 231,481.48 B/s = 20 GB/day: 50 days capacity; 40% used -> 30 days until full.
        let rate = 20e9 / day
        let s = CameraStorage.assess(camera(used: 0.4, rate: rate, oldestDaysAgo: 20, now: t0), requiredDays: 30, now: t0)
        #expect(abs(s.capacityDays! - 50) < 1e-9)
        #expect(abs(s.daysUntilFull! - 30) < 1e-9)
        #expect(abs(s.retainedDays! - 20) < 1e-9)
        // Not yet looping: what counts is what the disk can hold, so a new camera is fine.
        #expect(s.effectiveRetentionDays == s.capacityDays && !s.belowRequired)
    }

    @Test func loopingDiskIsJudgedByFootageActuallyKept() {
        let s = CameraStorage.assess(camera(used: 0.95, rate: 20e9 / day, oldestDaysAgo: 12.5, now: t0), requiredDays: 30, now: t0)
        #expect(s.belowRequired && s.effectiveRetentionDays == 12.5)
        let faults = HealthRules.faults(of: .camera(camera(used: 0.95, rate: 20e9 / day, oldestDaysAgo: 12.5, now: t0)),
                                        config: DeviceConfig(requiredRetentionDays: 30), now: t0)
        #expect(faults == [Fault(.retentionBelowRequired, "12.5 d < 30 d"), Fault(.diskNearlyFull, "95%")])
    }

    @Test func diskTooSmallForTheRequirementIsBelowEvenWhenNew() {
        let s = CameraStorage.assess(camera(used: 0.1, rate: 50e9 / day, oldestDaysAgo: 2, now: t0), requiredDays: 30, now: t0)
        #expect(s.capacityDays == 20 && s.belowRequired)
    }

    @Test func idleCameraHasNoRunway() {
        let s = CameraStorage.assess(camera(used: 0.5, rate: 0, oldestDaysAgo: 40, now: t0), requiredDays: 30, now: t0)
        #expect(s.daysUntilFull == nil && s.capacityDays == nil && !s.belowRequired)
    }

    /// Issue 13 (3f): a camera writing nothing overwrites nothing, so before its disk loops its
    /// capacity is unlimited, however young its oldest footage.
    @Test func idleCameraIsNotBelowItsRequiredRetention() {
        let reading = camera(used: 0.2, rate: 0, oldestDaysAgo: 2, now: t0)
        let s = CameraStorage.assess(reading, requiredDays: 30, now: t0)
        #expect(!s.belowRequired && s.capacityDays == nil)
        #expect(HealthRules.faults(of: .camera(reading), config: DeviceConfig(requiredRetentionDays: 30), now: t0).isEmpty)
        // Once the disk loops, what it keeps is what counts, writing or not.
        #expect(CameraStorage.assess(camera(used: 0.95, rate: 0, oldestDaysAgo: 2, now: t0), requiredDays: 30, now: t0).belowRequired)
    }
}

@Suite struct HealthRulesTests {
    let cfg = DeviceConfig()

    @Test func eachClassFault() {
        #expect(HealthRules.faults(of: .speaker(SpeakerReading(volume: 1, amplifierOK: true, speakerLineOK: false, playing: false)),
                                   config: cfg, now: t0).map(\.code) == [.speakerLineFault])
        #expect(HealthRules.faults(of: .camera(CameraReading(recording: false, streamOK: false, storageUsedBytes: 0,
                                                             storageTotalBytes: 100, oldestRecording: nil, writeRateBytesPerSecond: 0)),
                                   config: cfg, now: t0).map(\.code) == [.notRecording, .streamDown])
        #expect(HealthRules.faults(of: .accessPoint(AccessPointReading(uplinkOK: false, clients: 0, rxBitsPerSecond: 0,
                                                                      txBitsPerSecond: 0, cpuPercent: 1, memoryPercent: 1)),
                                   config: cfg, now: t0).map(\.code) == [.uplinkDown])
        #expect(HealthRules.faults(of: .kiosk(KioskReading(printerOK: false, paperLow: true, paperOut: true, ticketsIssued: 0,
                                                            ticketsServed: 0)), config: cfg, now: t0).map(\.code)
                == [.printerFault, .paperOut])
        // Paper low alone is a warning for later alarms, not degraded.
        #expect(HealthRules.faults(of: .kiosk(KioskReading(printerOK: true, paperLow: true, paperOut: false, ticketsIssued: 0,
                                                            ticketsServed: 0)), config: cfg, now: t0).isEmpty)
    }

    @Test func runningOnBatteryIsDegradedSolarIsNot() {
        func speaker(_ p: PowerSource, _ pct: Int?, _ min: Int?) -> [Fault] {
            HealthRules.faults(of: .speaker(SpeakerReading(volume: 1, amplifierOK: true, speakerLineOK: true, playing: false,
                                                           powerSource: p, batteryPercent: pct, batteryMinutes: min)), config: cfg, now: t0)
        }
        #expect(speaker(.battery, 45, 270) == [Fault(.onBattery, "45%, ~4.5 h")])
        #expect(speaker(.battery, 90, 1500) == [Fault(.onBattery, "90%, ~25 h")])
        #expect(speaker(.battery, nil, nil) == [Fault(.onBattery)])
        #expect(speaker(.solar, 30, 600).isEmpty)
        #expect(speaker(.mains, 10, nil).isEmpty)
        #expect(Fault(.onBattery, "45%, ~4.5 h").text == "chạy pin (mất điện lưới) / running on battery (mains lost) (45%, ~4.5 h)")
    }

    @Test func everyFaultHasBothLanguages() {
        for c in FaultCode.allCases { #expect(!c.vietnamese.isEmpty && !c.english.isEmpty && c.vietnamese != c.english) }
    }
}

@Suite struct KioskTests {
    @Test func satisfactionCountsTheTopTwoLevels() {
        #expect(KioskFigures.satisfaction([.verySatisfied: 6, .satisfied: 3, .neutral: 1]) == 0.9)
        #expect(KioskFigures.satisfaction([.veryDissatisfied: 1]) == 0)
        #expect(KioskFigures.satisfaction([:]) == nil)
    }

    @Test func nearestRankPercentile() {
        let v = (1...10).map(Double.init)
        #expect(KioskFigures.percentile(v, 0.9) == 9)
        #expect(KioskFigures.percentile([5], 0.9) == 5)
        #expect(KioskFigures.percentile((1...11).map(Double.init), 0.9) == 10)
        #expect(KioskFigures.percentile([], 0.9) == nil)
    }

    @Test func dailyFiguresFollowLocalDays() throws {
        let utc = ISO8601DateFormatter()
        let lateOct31 = try #require(utc.date(from: "2026-10-31T16:30:00Z"))  // 23:30 local
        let earlyNov1 = try #require(utc.date(from: "2026-10-31T17:30:00Z"))  // 00:30 local
        let days = KioskFigures.daily([
            .ticketIssued(at: lateOct31), .ticketServed(at: lateOct31, waitSeconds: 100),
            .ticketServed(at: lateOct31, waitSeconds: 300), .rating(at: lateOct31, level: .satisfied),
            .rating(at: lateOct31, level: .dissatisfied), .ticketIssued(at: earlyNov1),
        ], calendar: .vietnam)
        #expect(days.map(\.day) == ["2026-10-31", "2026-11-01"])
        #expect(days[0].ticketsIssued == 1 && days[0].ticketsServed == 2)
        #expect(days[0].meanWaitSeconds == 200 && days[0].p90WaitSeconds == 300)
        #expect(days[0].satisfactionRate == 0.5)
        #expect(days[1].ticketsIssued == 1 && days[1].meanWaitSeconds == nil && days[1].satisfactionRate == nil)
    }

    @Test func levelsCarryTheMinistryWording() {
        #expect(SatisfactionLevel.allCases.map(\.vietnamese)
                == ["Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng", "Rất không hài lòng"])
    }
}

@Suite struct PlacesTests {
    let places = [
        Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
        Place(id: "cl", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
        Place(id: "v1", level: .village, name: "Thôn Cẩm La", parentID: "cl"),
        Place(id: "s1", level: .site, name: "Nhà văn hóa", parentID: "v1", siteKind: .culturalHouse),
        Place(id: "s2", level: .site, name: "Bộ phận Một cửa", parentID: "cl", siteKind: .oneStopOffice),
    ]

    @Test func namesAreStoredInNFC() {
        let decomposed = "Khu pho\u{0302}\u{0301} Yên Giang"  // "phố" typed as o + circumflex + acute
        let p = Place(id: "kp", level: .village, name: decomposed, parentID: "cl")
        #expect(p.name == "Khu phố Yên Giang")
        #expect(p.name.unicodeScalars.count == "Khu phố Yên Giang".unicodeScalars.count)
    }

    @Test func ancestorsAndChildren() throws {
        let tree = try PlaceTree(places)
        #expect(tree.ancestor(of: "s1", at: .commune)?.name == "Xã Cẩm La")
        #expect(tree.ancestor(of: "s2", at: .village) == nil)
        #expect(tree.children(of: "cl").map(\.id) == ["s2", "v1"])
        #expect(tree.topologicalOrder.map(\.level) == [.province, .commune, .village, .site, .site])
    }

    @Test func invalidTreesAreRefusedWithTheReason() {
        #expect(throws: PlaceError.unknownParent(id: "v9", parent: "nope")) {
            try PlaceTree(places + [Place(id: "v9", level: .village, name: "Tổ dân phố 5", parentID: "nope")])
        }
        #expect(throws: PlaceError.wrongParentLevel(id: "v9", level: .village, parentLevel: .province)) {
            try PlaceTree(places + [Place(id: "v9", level: .village, name: "Tổ dân phố 5", parentID: "qn")])
        }
        #expect(throws: PlaceError.duplicateID("v1")) { try PlaceTree(places + [places[2]]) }
        #expect(throws: PlaceError.invalidID("thôn 1")) {
            try PlaceTree(places + [Place(id: "thôn 1", level: .village, name: "x", parentID: "cl")])
        }
        #expect(throws: PlaceError.siteWithoutKind(id: "s9")) {
            try PlaceTree(places + [Place(id: "s9", level: .site, name: "x", parentID: "v1")])
        }
        #expect(throws: PlaceError.missingParent(id: "c2", level: .commune)) {
            try PlaceTree(places + [Place(id: "c2", level: .commune, name: "x")])
        }
    }

    @Test func devicesMustSitOnASiteWithSaneConfig() throws {
        let tree = try PlaceTree(places)
        func dev(_ id: String, site: String, _ c: DeviceConfig = DeviceConfig()) -> Device {
            Device(id: id, deviceClass: .camera, siteID: site, config: c, registeredAt: t0)
        }
        #expect(throws: Never.self) { try dev("CAM-1", site: "s1").validate(in: tree) }
        #expect(dev("CAM-1", site: "s1").config.requiredRetentionDays == 30)
        #expect(throws: DeviceError.notASite(device: "CAM-1", place: "v1")) { try dev("CAM-1", site: "v1").validate(in: tree) }
        #expect(throws: DeviceError.unknownSite(device: "CAM-1", site: "zz")) { try dev("CAM-1", site: "zz").validate(in: tree) }
        #expect(throws: DeviceError.invalidID("CAM/1")) { try dev("CAM/1", site: "s1").validate(in: tree) }
        #expect(throws: DeviceError.invalidConfig(device: "CAM-1", reason: "required_retention_days 0 ∉ 1…3650")) {
            try dev("CAM-1", site: "s1", DeviceConfig(requiredRetentionDays: 0)).validate(in: tree)
        }
    }
}

/// Issue 13 (3e): a kiosk that sends only telemetry counters has figures; one that sends both
/// is not counted twice.
@Suite struct KioskCounterTests {
    func reading(_ boot: String, _ at: TimeInterval, issued: Int, served: Int, satisfied: Int = 0) -> KioskCounterReading {
        KioskCounterReading(boot: boot, at: t0 + at, issued: issued, served: served, ratings: satisfied > 0 ? [.satisfied: satisfied] : [:])
    }

    @Test func countersGiveFiguresAcrossReadingsAndReboots() {
        let readings = [reading("a", 60, issued: 3, served: 2, satisfied: 1), reading("a", 120, issued: 5, served: 4, satisfied: 2),
                        reading("b", 180, issued: 1, served: 0)]  // rebooted: counts from zero again
        let activity = KioskCounters.increases(base: reading("a", 0, issued: 2, served: 2), readings, eventBoots: KioskEventBoots())
        let days = KioskFigures.daily(activity, calendar: .vietnam)
        #expect(days.count == 1)
        #expect(days[0].ticketsIssued == 1 + 2 + 1 && days[0].ticketsServed == 0 + 2 + 0)
        #expect(days[0].ratings == [.satisfied: 2] && days[0].meanWaitSeconds == nil)
    }

    @Test func aBootThatSentEventsIsCountedFromItsEventsOnly() {
        let events: [KioskActivity] = [.ticketIssued(at: t0 + 50), .ticketServed(at: t0 + 55, waitSeconds: 30)]
        let readings = [reading("a", 60, issued: 1, served: 1, satisfied: 1)]
        let counted = KioskCounters.increases(base: nil, readings, eventBoots: KioskEventBoots(issued: ["a"], served: ["a"]))
        let day = KioskFigures.daily(events + counted, calendar: .vietnam)[0]
        // Tickets from the events (once); the rating, never sent as an event by this boot, from the counter.
        #expect(day.ticketsIssued == 1 && day.ticketsServed == 1 && day.meanWaitSeconds == 30 && day.ratings == [.satisfied: 1])
    }
}
