import Foundation
import Testing
@testable import WardDomain

let t0 = Date(timeIntervalSince1970: 1_795_000_000)

func speaker(amp: Bool = true, line: Bool = true) -> Reading {
    .speaker(SpeakerReading(volume: 70, amplifierOK: amp, speakerLineOK: line, playing: false))
}

func tracker(_ ids: String..., cls: DeviceClass = .speaker) -> LivenessTracker {
    var t = LivenessTracker()
    for id in ids { t.track(id, DeviceLiveness(deviceClass: cls, config: .defaults(for: cls), since: t0)) }
    return t
}

@Suite struct LivenessTests {
    /// Issue 13 (3e): the broker publishes a dead connection's Will only after 1.5 × keepalive,
    /// often after the controller already marked the device silent. The first reason and its
    /// onset stand: no second offline interval, no later start.
    @Test func aWillAfterSilenceKeepsTheSilentReasonAndItsOnset() throws {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b1", heartbeat: 2, at: t0)
        let silent = t.sweep(now: t0 + 10)
        #expect(silent.map(\.faults.first?.code) == [.silent] && silent.first?.at == t0 + 3)
        let will = try t.offline("A", bootID: "b1", reason: .lastWill, at: t0 + 12).get()
        #expect(will.change == nil)
        #expect(t["A"]?.faults.map(\.code) == [.silent] && t["A"]?.since == t0 + 3)
        #expect(try t.offline("A", bootID: "b1", reason: .shutdown, at: t0 + 13).get().change == nil)
    }

    @Test func birthMakesAnUnknownDeviceOK() {
        var t = tracker("A")
        let o = t.birth("A", bootID: "b1", heartbeat: 30, at: t0)
        #expect(o.change == StateChange(deviceID: "A", from: .unknown, to: .ok, faults: [], at: t0))
        #expect(o.reboot?.previous == nil && o.reboot?.current == "b1")
        #expect(t["A"]?.state == .ok)
    }

    @Test func telemetryWithAFaultDegradesAndNamesTheReason() throws {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b1", heartbeat: 30, at: t0)
        let o = try t.telemetry("A", bootID: "b1", seq: 1, reading: speaker(amp: false), at: t0 + 5).get()
        #expect(o.change?.to == .degraded)
        #expect(o.change?.faults.map(\.code) == [.amplifierFault])
        // Same fault again: no new history row.
        #expect(try t.telemetry("A", bootID: "b1", seq: 2, reading: speaker(amp: false), at: t0 + 10).get().change == nil)
        // A second fault is a change of reason.
        let both = try t.telemetry("A", bootID: "b1", seq: 3, reading: speaker(amp: false, line: false), at: t0 + 15).get()
        #expect(both.change?.faults.map(\.code) == [.amplifierFault, .speakerLineFault])
        #expect(try t.telemetry("A", bootID: "b1", seq: 4, reading: speaker(), at: t0 + 20).get().change?.to == .ok)
    }

    @Test func replayedSequenceIsRejectedWithinABootButNotAcrossBoots() {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b1", heartbeat: 30, at: t0)
        #expect((try? t.telemetry("A", bootID: "b1", seq: 5, reading: speaker(), at: t0).get()) != nil)
        #expect(t.telemetry("A", bootID: "b1", seq: 5, reading: speaker(), at: t0 + 1) == .failure(.replayedSequence))
        #expect(t.telemetry("A", bootID: "b1", seq: 4, reading: speaker(), at: t0 + 1) == .failure(.replayedSequence))
        let o = try? t.telemetry("A", bootID: "b2", seq: 1, reading: speaker(), at: t0 + 2).get()
        #expect(o?.reboot?.previous == "b1" && o?.reboot?.current == "b2")
    }

    /// Issue 19, item 10: a device that restarts with the same boot id (a seeded simulator, firmware
    /// without entropy) and counts from 1 again was refused as replayed for good. A live birth opens
    /// a new sequence window; without one (a retained birth, an `online` state) the window stands.
    @Test func aLiveBirthWithTheSameBootOpensANewSequenceWindow() {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b1", heartbeat: 30, at: t0, newSession: true)
        #expect((try? t.telemetry("A", bootID: "b1", seq: 50, reading: speaker(), at: t0 + 1).get()) != nil)
        #expect((try? t.event("A", bootID: "b1", seq: 9, at: t0 + 1).get()) != nil)
        _ = t.birth("A", bootID: "b1", heartbeat: 30, at: t0 + 2)  // an online state: same session
        #expect(t.telemetry("A", bootID: "b1", seq: 1, reading: speaker(), at: t0 + 3) == .failure(.replayedSequence))
        let o = t.birth("A", bootID: "b1", heartbeat: 30, at: t0 + 4, newSession: true)
        #expect(o.reboot == nil, "the same boot id is not a reboot")
        #expect((try? t.telemetry("A", bootID: "b1", seq: 1, reading: speaker(), at: t0 + 5).get()) != nil)
        #expect((try? t.event("A", bootID: "b1", seq: 1, at: t0 + 5).get()) != nil)
        #expect(t.telemetry("A", bootID: "b1", seq: 1, reading: speaker(), at: t0 + 6) == .failure(.replayedSequence))
        #expect(t["A"]?.state == .ok)
    }

    @Test func eventsHaveTheirOwnSequence() {
        var t = tracker("K", cls: .kiosk)
        _ = t.birth("K", bootID: "b1", heartbeat: 30, at: t0)
        #expect((try? t.event("K", bootID: "b1", seq: 1, at: t0).get()) != nil)
        if case .failure(let r) = t.event("K", bootID: "b1", seq: 1, at: t0) { #expect(r == .replayedSequence) } else {
            Issue.record("replayed event accepted")
        }
        #expect((try? t.event("K", bootID: "b1", seq: 2, at: t0).get()) != nil)
    }

    /// Found by the conformance suite: a kiosk heard only through events (no birth yet) had its
    /// repeated events accepted, its boot being unknown.
    @Test func aRepeatedEventIsAReplayEvenBeforeAnyBirth() {
        var t = tracker("K", cls: .kiosk)
        #expect((try? t.event("K", bootID: "b1", seq: 5, at: t0).get()) != nil)
        for seq: UInt64 in [5, 4] {
            guard case .failure(.replayedSequence) = t.event("K", bootID: "b1", seq: seq, at: t0) else {
                Issue.record("event seq \(seq) accepted again")
                continue
            }
        }
    }

    @Test func readingOfAnotherClassIsRefused() {
        var t = tracker("A")
        let cam = Reading.camera(CameraReading(recording: true, streamOK: true, storageUsedBytes: 1, storageTotalBytes: 10,
                                               oldestRecording: nil, writeRateBytesPerSecond: 0))
        #expect(t.telemetry("A", bootID: "b1", seq: 1, reading: cam, at: t0) == .failure(.classMismatch))
    }

    @Test func lastWillTakesItOfflineAtOnce() throws {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b1", heartbeat: 30, at: t0)
        let o = try t.offline("A", bootID: "b1", reason: .lastWill, at: t0 + 3).get()
        #expect(o.change == StateChange(deviceID: "A", from: .ok, to: .offline, faults: [Fault(.lastWill)], at: t0 + 3))
    }

    @Test func aWillFromAnEarlierBootIsStale() {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b2", heartbeat: 30, at: t0)
        #expect(t.offline("A", bootID: "b1", reason: .lastWill, at: t0 + 1) == .failure(.staleBoot))
        #expect(t["A"]?.state == .ok)
    }

    @Test func silenceGoesOfflineExactlyAtOneAndAHalfHeartbeats() {
        var t = tracker("A", "B")
        _ = t.birth("A", bootID: "a", heartbeat: 10, at: t0)
        _ = t.birth("B", bootID: "b", heartbeat: 60, at: t0)
        #expect(t.nextDeadline == t0 + 15)
        #expect(t.sweep(now: t0 + 14.999).isEmpty)
        let changes = t.sweep(now: t0 + 40)
        #expect(changes.count == 1)
        #expect(changes[0].deviceID == "A" && changes[0].to == .offline && changes[0].at == t0 + 15)
        #expect(changes[0].faults.map(\.code) == [.silent])
        #expect(t.sweep(now: t0 + 90).map(\.deviceID) == ["B"])
        #expect(t.sweep(now: t0 + 1000).isEmpty)  // already offline: no repeat
    }

    @Test func telemetryPostponesTheSilenceDeadline() {
        var t = tracker("A")
        _ = t.birth("A", bootID: "a", heartbeat: 10, at: t0)
        _ = try? t.telemetry("A", bootID: "a", seq: 1, reading: speaker(), at: t0 + 10).get()
        #expect(t.sweep(now: t0 + 20).isEmpty)
        #expect(t.sweep(now: t0 + 25).first?.at == t0 + 25)
    }

    @Test func reconnectAfterOfflineRestoresClassFaultsNotTheOfflineReason() throws {
        var t = tracker("A")
        _ = t.birth("A", bootID: "b1", heartbeat: 30, at: t0)
        _ = try t.telemetry("A", bootID: "b1", seq: 1, reading: speaker(amp: false), at: t0 + 1).get()
        _ = try t.offline("A", bootID: "b1", reason: .lastWill, at: t0 + 2).get()
        let back = t.birth("A", bootID: "b1", heartbeat: 30, at: t0 + 3)
        #expect(back.change?.to == .degraded && back.change?.faults.map(\.code) == [.amplifierFault])

        var u = tracker("B")
        _ = u.birth("B", bootID: "b1", heartbeat: 30, at: t0)
        _ = try u.offline("B", bootID: "b1", reason: .lastWill, at: t0 + 2).get()
        #expect(u.birth("B", bootID: "b1", heartbeat: 30, at: t0 + 3).change?.to == .ok)
        #expect(u["B"]?.faults == [])
    }

    @Test func heartbeatIsClampedToTheProtocolRange() {
        var t = tracker("A")
        _ = t.birth("A", bootID: "a", heartbeat: 0.01, at: t0)
        #expect(t["A"]?.heartbeat == 1)
    }

    @Test func controllerDowntimeIsUnknownNotOffline() {
        var t = tracker("A", "B", "C")
        _ = t.birth("A", bootID: "a", heartbeat: 10, at: t0)       // silent before the controller stopped
        _ = t.birth("B", bootID: "b", heartbeat: 10, at: t0 + 95)  // still fine when it stopped at t0+100
        let changes = t.resume(lastAlive: t0 + 100, now: t0 + 500)
        #expect(changes == [
            StateChange(deviceID: "A", from: .ok, to: .offline, faults: [Fault(.silent, "> 15 s")], at: t0 + 15),
            StateChange(deviceID: "B", from: .ok, to: .unknown, faults: [], at: t0 + 100),
        ])
        #expect(t["C"]?.state == .unknown)
    }

    /// A commune taken over from a node that died: its stored "last heard" times may be older than
    /// what that node knew, so the new owner judges no silence from them; the gap is unknown.
    @Test func aTakeoverJudgesNoSilenceFromStoredTimes() {
        var t = tracker("A", "B")
        _ = t.birth("A", bootID: "a", heartbeat: 10, at: t0)       // stored as last heard long before the owner died
        _ = t.birth("B", bootID: "b", heartbeat: 10, at: t0 + 95)
        let changes = t.resume(lastAlive: t0 + 100, now: t0 + 110, judgeSilence: false)
        #expect(changes == [
            StateChange(deviceID: "A", from: .ok, to: .unknown, faults: [], at: t0 + 100),
            StateChange(deviceID: "B", from: .ok, to: .unknown, faults: [], at: t0 + 100),
        ])
    }

    /// A vendor replayed a kiosk's captured reading of an earlier boot after a reboot: it was taken,
    /// switched the boot back and cut the day's ticket count. A replaced boot is history.
    @Test func aReplacedBootCannotComeBack() {
        var t = tracker("K", cls: .kiosk)
        let kiosk = Reading.kiosk(KioskReading(printerOK: true, paperLow: false, paperOut: false, ticketsIssued: 5, ticketsServed: 5, ratings: [:]))
        _ = t.birth("K", bootID: "a", heartbeat: 30, at: t0)
        #expect((try? t.telemetry("K", bootID: "a", seq: 100, reading: kiosk, at: t0 + 1).get()) != nil)
        #expect((try? t.telemetry("K", bootID: "b", seq: 1, reading: kiosk, at: t0 + 2).get())?.reboot?.current == "b")
        #expect(t.telemetry("K", bootID: "a", seq: 50, reading: kiosk, at: t0 + 3) == .failure(.staleBoot))
        #expect(t.telemetry("K", bootID: "a", seq: 101, reading: kiosk, at: t0 + 3) == .failure(.staleBoot))
        #expect(t["K"]?.bootID == "b")
        // An event the device kept from its earlier boot and sent late is fine, and switches nothing.
        #expect((try? t.event("K", bootID: "a", seq: 7, at: t0 + 4).get()) != nil)
        #expect(t["K"]?.bootID == "b" && t.isEarlierBoot("K", "a"))
    }

    /// After a restart a device that was online is unknown until heard, and offline (silent) if it
    /// is not heard within 1.5 heartbeats of the restart: never unknown for ever, out of sight.
    @Test func aDeviceNotHeardAfterARestartGoesOfflineAtItsDeadline() {
        var t = tracker("A", "B")
        _ = t.birth("A", bootID: "a", heartbeat: 10, at: t0)
        _ = t.birth("B", bootID: "b", heartbeat: 10, at: t0)
        _ = t.resume(lastAlive: t0 + 5, now: t0 + 100)
        #expect(t["A"]?.state == .unknown && t.nextDeadline == t0 + 115)
        _ = t.telemetry("B", bootID: "b", seq: 1, reading: speaker(), at: t0 + 108)
        let changes = t.sweep(now: t0 + 120)
        #expect(changes == [StateChange(deviceID: "A", from: .unknown, to: .offline, faults: [Fault(.silent, "> 15 s")], at: t0 + 115)])
        #expect(t["B"]?.state == .ok)
    }
}
