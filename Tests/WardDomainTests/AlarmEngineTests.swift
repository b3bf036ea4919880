import Foundation
import Testing
@testable import WardDomain

@Suite struct AlarmEngineTests {
    let start = Date(timeIntervalSince1970: 1_790_000_000)

    func obs(_ id: String, _ state: HealthState, since: Date, village: String? = "thon-dong", cls: DeviceClass = .speaker,
             reading: Reading? = nil, faults: [Fault] = []) -> DeviceObservation {
        DeviceObservation(deviceID: id, deviceClass: cls, villageID: village, communeID: "xa", state: state, since: since, faults: faults,
                          reading: reading)
    }

    /// Issue 13 (3g): tamper and storage-full events raise alarms at once (a camera's tamper is
    /// major), hold an hour after the latest one, also while the device is offline, then clear.
    @Test func tamperAndStorageFullEventsRaiseAlarmsHeldAnHour() {
        var e = AlarmEngine()
        var cam = obs("cam-1", .ok, since: start, cls: .camera)
        cam.incidents[.tamper] = .init(at: start, detail: "Camera bị che")
        cam.incidents[.storageFull] = .init(at: start, detail: nil)
        var loa = obs("loa-1", .ok, since: start)
        loa.incidents[.tamper] = .init(at: start, detail: "Vỏ bị mở")
        let raised = e.evaluate([cam, loa], now: start + 1).compactMap { t -> Alarm? in
            if case .raised(let a) = t { return a }
            return nil
        }
        let tamper = raised.first { $0.deviceID == "cam-1" && $0.kind == .tamper }
        #expect(tamper?.severity == .major && tamper?.detail == "Camera bị che")
        #expect(raised.first { $0.deviceID == "cam-1" && $0.kind == .storageFull }?.severity == .major)
        #expect(raised.first { $0.deviceID == "loa-1" && $0.kind == .tamper }?.severity == .minor)
        // Unplugged right after: still a tamper alarm (beside the offline one).
        cam.state = .offline
        #expect(e.evaluate([cam, loa], now: start + 1800).allSatisfy { if case .cleared = $0 { false } else { true } })
        #expect(e.alarm(.device("cam-1", .tamper)) != nil)
        // An hour after the event, without another one, it clears.
        let cleared = e.evaluate([cam, loa], now: start + AlarmConditions.eventHold + 1).compactMap { t -> AlarmKind? in
            if case .cleared(let a) = t, a.deviceID == "cam-1" { return a.kind }
            return nil
        }
        #expect(Set(cleared) == [.tamper, .storageFull])
    }

    @Test func offlineShorterThanDurationRaisesNothingThenRaisesWithOnset() {
        var e = AlarmEngine()
        let off = start
        #expect(e.evaluate([obs("loa-1", .offline, since: off)], now: off + 10).isEmpty)
        #expect(e.evaluate([obs("loa-1", .offline, since: off)], now: off + 299).isEmpty)
        let t = e.evaluate([obs("loa-1", .offline, since: off)], now: off + 300)
        #expect(t.count == 1)
        guard case .raised(let a) = t.first else { Issue.record("not raised"); return }
        #expect(a.kind == .offline && a.severity == .major && a.since == off && a.raisedAt == off + 300 && a.deviceID == "loa-1")
        // Still offline: nothing new.
        #expect(e.evaluate([obs("loa-1", .offline, since: off)], now: off + 400).isEmpty)
    }

    @Test func anUnknownDeviceNeitherClearsNorRaisesItsAlarms() {
        // A controller restart makes devices unknown until heard: that is no news of recovery.
        var e = AlarmEngine()
        let fault = Reading.speaker(SpeakerReading(volume: 50, amplifierOK: false, speakerLineOK: true, playing: false))
        #expect(e.evaluate([obs("loa-1", .degraded, since: start, reading: fault)], now: start).isEmpty)
        let raised = e.evaluate([obs("loa-1", .degraded, since: start, reading: fault)], now: start + 600)
        #expect(raised.count == 1)
        var restarted = AlarmEngine()
        restarted.restore(raised.map(\.alarm))
        // Unknown far beyond the tolerance: still open, and not raised a second time.
        #expect(restarted.evaluate([obs("loa-1", .unknown, since: start + 700)], now: start + 700).isEmpty)
        #expect(restarted.evaluate([obs("loa-1", .unknown, since: start + 700)], now: start + 5_000).isEmpty)
        // Heard again with the fault: the same alarm goes on.
        #expect(restarted.evaluate([obs("loa-1", .degraded, since: start + 5_001, reading: fault)], now: start + 5_001).isEmpty)
        #expect(restarted.openAlarms.count == 1)
        // And a condition first seen before the restart is not raised while nothing is known.
        var fresh = AlarmEngine()
        _ = fresh.evaluate([obs("loa-2", .offline, since: start)], now: start)
        #expect(fresh.evaluate([obs("loa-2", .unknown, since: start + 100)], now: start + 1_000).isEmpty)
    }

    @Test func flappingDeviceMakesOneAlarmAndClearsOnlyAfterTolerance() {
        var e = AlarmEngine()  // offline: 5 min duration, 2 min tolerance
        var raised: [Alarm] = [], cleared: [Alarm] = []
        func step(_ state: HealthState, since: Date, at: Date) {
            for t in e.evaluate([obs("loa-1", state, since: since)], now: at) {
                if case .raised(let a) = t { raised.append(a) }
                if case .cleared(let a) = t { cleared.append(a) }
            }
        }
        // Offline 3 min, back for 60 s (< tolerance), offline again: the onset stays the first one.
        step(.offline, since: start, at: start)
        step(.ok, since: start + 180, at: start + 180)
        step(.ok, since: start + 180, at: start + 230)
        step(.offline, since: start + 240, at: start + 240)
        step(.offline, since: start + 240, at: start + 299)
        #expect(raised.isEmpty)
        step(.offline, since: start + 240, at: start + 300)
        #expect(raised.count == 1 && raised[0].since == start)
        // Flaps while raised: no new alarm, no clear.
        step(.ok, since: start + 400, at: start + 400)
        step(.offline, since: start + 450, at: start + 450)
        step(.ok, since: start + 500, at: start + 500)
        step(.ok, since: start + 500, at: start + 619)
        #expect(raised.count == 1 && cleared.isEmpty)
        // Gone for the whole tolerance: cleared at the moment it came back.
        step(.ok, since: start + 500, at: start + 620)
        #expect(cleared.count == 1 && cleared[0].clearedAt == start + 500 && cleared[0].clearReason == "recovered")
    }

    @Test func villageStormBecomesOneVillageAlarmClearedWhenAllReturn() {
        var e = AlarmEngine()
        let onsets: [(String, TimeInterval)] = [("loa-1", 0), ("cam-1", 20), ("ap-1", 40), ("loa-2", 70)]
        func picture(at now: TimeInterval, back: Set<String> = []) -> [DeviceObservation] {
            onsets.map { id, o in
                back.contains(id) ? obs(id, .ok, since: start + now) : obs(id, now >= o ? .offline : .ok, since: start + (now >= o ? o : 0))
            } + [obs("loa-x", .offline, since: start + 10, village: "thon-tay")]
        }
        var all: [AlarmTransition] = []
        for t in stride(from: 0.0, through: 400, by: 10) { all += e.evaluate(picture(at: t), now: start + t) }
        let raised = all.compactMap { if case .raised(let a) = $0 { a } else { nil } }
        let village = raised.filter { $0.kind == .villageOutage }
        #expect(village.count == 1)
        #expect(Set(village[0].members) == ["loa-1", "cam-1", "ap-1", "loa-2"])
        #expect(village[0].villageID == "thon-dong" && village[0].since == start && village[0].raisedAt == start + 300)
        // No per-device alarm for the grouped ones; the lone device of another village has its own.
        #expect(raised.filter { $0.kind == .offline }.map(\.deviceID) == ["loa-x"])

        // Three come back: the village alarm narrows but stays.
        var later: [AlarmTransition] = []
        let back: Set<String> = ["loa-1", "cam-1", "ap-1"]
        for t in stride(from: 500.0, through: 700, by: 10) { later += e.evaluate(picture(at: t, back: back), now: start + t) }
        #expect(!later.contains { if case .cleared = $0 { true } else { false } })
        #expect(e.alarm(.village("thon-dong"))?.detail.hasPrefix("1/4") == true)
        // The last one returns: cleared once its tolerance has passed, at its return time.
        var end: [AlarmTransition] = []
        for t in stride(from: 800.0, through: 1000, by: 10) { end += e.evaluate(picture(at: t, back: back.union(["loa-2"])), now: start + t) }
        let cleared = end.compactMap { if case .cleared(let a) = $0 { a } else { nil } }
        #expect(cleared.count == 1 && cleared[0].kind == .villageOutage && cleared[0].clearedAt == start + 800)
    }

    @Test func devicesGoingOfflineFarApartAreNotAStorm() {
        var e = AlarmEngine()
        let onsets: [(String, TimeInterval)] = [("a", 0), ("b", 100), ("c", 200)]
        var raised: [Alarm] = []
        for t in stride(from: 0.0, through: 600, by: 10) {
            let p = onsets.map { id, o in obs(id, t >= o ? .offline : .ok, since: start + (t >= o ? o : 0)) }
            for x in e.evaluate(p, now: start + t) { if case .raised(let a) = x { raised.append(a) } }
        }
        #expect(raised.map(\.kind) == [.offline, .offline, .offline])
    }

    /// Storm readiness (issue 20): a speaker on battery below the threshold raises the warning after the rule's
    /// duration, and it clears once back on mains, or once the charge is above the threshold again.
    @Test func batteryLowRaisesOnBatteryAndClearsOnMainsOrAboveTheThreshold() {
        func speaker(_ p: PowerSource, _ pct: Int) -> Reading {
            .speaker(SpeakerReading(volume: 50, amplifierOK: true, speakerLineOK: true, playing: false, powerSource: p, batteryPercent: pct,
                                    batteryMinutes: pct * 6))
        }
        for recovery in [speaker(.mains, 12), speaker(.battery, 21)] {
            var e = AlarmEngine()
            #expect(e.evaluate([obs("loa", .degraded, since: start, reading: speaker(.battery, 19))], now: start).isEmpty)
            let raised = e.evaluate([obs("loa", .degraded, since: start, reading: speaker(.battery, 18))], now: start + 300)
            guard case .raised(let a)? = raised.first else { Issue.record("not raised: \(raised)"); return }
            #expect(a.kind == .batteryLow && a.severity == .warning && a.detail == "18%" && a.since == start)
            #expect(AlarmKind.batteryLow.vietnamese == "pin yếu khi đang chạy pin")
            // Back (mains, or charged above 20 %): gone for the tolerance (600 s), then cleared.
            #expect(e.evaluate([obs("loa", .ok, since: start + 310, reading: recovery)], now: start + 310).isEmpty)
            let cleared = e.evaluate([obs("loa", .ok, since: start + 310, reading: recovery)], now: start + 910)
            guard case .cleared(let c)? = cleared.first else { Issue.record("not cleared: \(cleared)"); return }
            #expect(c.kind == .batteryLow)
        }
    }

    @Test func classConditionsFollowRulesAndThresholds() {
        let now = start
        let battery = Reading.speaker(SpeakerReading(volume: 50, amplifierOK: false, speakerLineOK: true, playing: false,
                                                     powerSource: .battery, batteryPercent: 15))
        var c = AlarmConditions.of(obs("loa", .degraded, since: now, reading: battery), rules: .defaults, now: now)
        #expect(Set(c.keys) == [.amplifierFault, .batteryLow] && c[.batteryLow] == "15%")
        // On mains power a low battery is no alarm.
        let mains = Reading.speaker(SpeakerReading(volume: 50, amplifierOK: true, speakerLineOK: true, playing: false, batteryPercent: 15))
        #expect(AlarmConditions.of(obs("loa", .ok, since: now, reading: mains), rules: .defaults, now: now).isEmpty)
        // Offline: class faults of the last reading are not raised on top.
        #expect(Set(AlarmConditions.of(obs("loa", .offline, since: now, reading: battery), rules: .defaults, now: now).keys) == [.offline])
        // Disk threshold is the rule's, not the health rule's 90%.
        let cam = Reading.camera(CameraReading(recording: true, streamOK: true, storageUsedBytes: 85, storageTotalBytes: 100,
                                               oldestRecording: now - 40 * 86_400, writeRateBytesPerSecond: 0.00001))
        #expect(AlarmConditions.of(obs("cam", .ok, since: now, cls: .camera, reading: cam), rules: .defaults, now: now).isEmpty)
        var rules = AlarmRules.defaults
        var r = rules.rule(.diskNearlyFull, .camera)!
        r.threshold = 0.8
        try? rules.set(r)
        c = AlarmConditions.of(obs("cam", .ok, since: now, cls: .camera, reading: cam), rules: rules, now: now)
        #expect(c[.diskNearlyFull] == "85%")
        // Disabled rules raise nothing.
        r.enabled = false
        try? rules.set(r)
        #expect(AlarmConditions.of(obs("cam", .ok, since: now, cls: .camera, reading: cam), rules: rules, now: now).isEmpty)
        // Rules are checked: a kind for another class, a bad threshold.
        #expect(throws: AlarmRuleError.notApplicable(.paperOut, .speaker)) { try rules.set(AlarmRule(.paperOut, .speaker, .minor, duration: 0)) }
        #expect(throws: AlarmRuleError.badThreshold(.diskNearlyFull, 90)) {
            try rules.set(AlarmRule(.diskNearlyFull, .camera, .minor, threshold: 90, duration: 0))
        }
    }

    @Test func anOperatorsRuleChangeNamesItsRuleAndKeepsWhatItLeavesOut() throws {
        var rules = AlarmRules.defaults
        // disk_nearly_full applies to cameras only: the class may be left out.
        let r = try rules.apply(AlarmRuleChange(kind: "disk_nearly_full", threshold: 0.85))
        #expect(r.deviceClass == .camera && r.threshold == 0.85 && r.severity == .minor && r.duration == 600)
        #expect(rules.rule(.diskNearlyFull, .camera) == r)
        #expect(throws: AlarmRuleError.classNeeded(.offline)) { try rules.apply(AlarmRuleChange(kind: "offline", duration: 60)) }
        #expect(throws: AlarmRuleError.unknownKind("village_outage")) { try rules.apply(AlarmRuleChange(kind: "village_outage")) }
        #expect(throws: AlarmRuleError.negative("duration")) {
            try rules.apply(AlarmRuleChange(kind: "offline", deviceClass: .speaker, duration: -1))
        }
        #expect(rules.rule(.offline, .speaker)?.duration == 300)  // a refused change leaves the rule as it was
    }

    @Test func paperOutRaisesAtOnceAsMinor() {
        var e = AlarmEngine()
        let k = Reading.kiosk(KioskReading(printerOK: true, paperLow: true, paperOut: true, ticketsIssued: 0, ticketsServed: 0))
        let t = e.evaluate([obs("kiosk", .degraded, since: start, cls: .kiosk, reading: k)], now: start)
        #expect(t.map(\.alarm.kind) == [.paperOut] && t.first?.alarm.severity == .minor)
    }

    @Test func removedDeviceClearsAndRestoredAlarmIsNotRaisedAgain() {
        var e = AlarmEngine()
        _ = e.evaluate([obs("loa-1", .offline, since: start)], now: start + 300)
        let open = e.openAlarms
        #expect(open.count == 1)
        // A new run picks the open alarm up: no second raise while the device stays offline.
        var again = AlarmEngine()
        var stored = open[0]
        stored.id = 7
        again.restore([stored])
        #expect(again.evaluate([obs("loa-1", .offline, since: start)], now: start + 900).isEmpty)
        // Removed from the registry: cleared as such.
        let t = again.evaluate([], now: start + 1000)
        #expect(t.count == 1 && t[0].alarm.clearReason == "removed" && t[0].alarm.id == 7)
    }

    @Test func remindersRepeatUntilAcknowledged() {
        let policy = ReminderPolicy(after: 1800, every: 1800, minSeverity: .minor)
        var a = Alarm(kind: .offline, severity: .major, deviceID: "loa", since: start, raisedAt: start)
        #expect(!Reminders.isDue(a, policy: policy, now: start + 1799))
        #expect(Reminders.isDue(a, policy: policy, now: start + 1800))
        a.lastRemindedAt = start + 1800
        a.reminders = 1
        #expect(!Reminders.isDue(a, policy: policy, now: start + 3599))
        #expect(Reminders.isDue(a, policy: policy, now: start + 3600))
        a.ackedAt = start + 3000
        #expect(!Reminders.isDue(a, policy: policy, now: start + 9999))
        // Warnings are below the policy's minimum severity; never repeated.
        let w = Alarm(kind: .batteryLow, severity: .warning, deviceID: "loa", since: start, raisedAt: start)
        #expect(!Reminders.isDue(w, policy: policy, now: start + 99_999))
        #expect(!Reminders.isDue(a, policy: ReminderPolicy(after: nil), now: start + 99_999))
    }
}
