import Foundation
import Testing
@testable import WardDomain

/// The restore logic under crashes at any moment: a model of what the controller persists
/// (state changes every flush with the changed devices' status rows; every device's status and
/// the last-alive mark only every status interval), a crash that loses what was not flushed,
/// a restore from what was persisted, and so on, many times per seed. Whatever the timing, each
/// device's stored history must stay a chain: dated in order, each change starting from the
/// state the previous one left, and the restored state equal to the last stored change.
@Suite struct RestorePropertyTests {
    struct Persisted {
        var statuses: [String: DeviceLiveness] = [:]
        var changes: [StateChange] = []
        var lastAlive: Date?
    }

    static let ids = (1...6).map { "D\($0)" }

    /// One controller run from `start`, ending in a crash at `crash`: returns the new persisted picture.
    static func run(_ p: Persisted, from start: Date, crash: Date, rng: inout SeededRandom, checkResume: (StateChange, DeviceLiveness?) -> Void)
        -> Persisted
    {
        var p = p
        var tracker = LivenessTracker()
        for id in ids {
            tracker.track(id, p.statuses[id] ?? DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: start))
        }
        var unflushed: [StateChange] = []
        if let lastAlive = p.lastAlive {
            let before = tracker.devices
            for c in tracker.resume(lastAlive: lastAlive, now: start) {
                checkResume(c, before[c.deviceID])
                unflushed.append(c)
            }
        }
        var boots = [String: String]()
        var seqs = [String: UInt64]()
        var now = start, lastFlush = start, lastStatus = start
        while true {
            now += rng.unit() * 2  // events are dense: several per flush, several per status interval
            if now >= crash { break }
            let id = ids[Int(rng.next() % UInt64(ids.count))]
            switch rng.next() % 10 {
            case 0, 1:
                let boot = rng.next() % 3 == 0 ? rng.hex(4) : (boots[id] ?? rng.hex(4))
                boots[id] = boot
                seqs[id] = 0
                if let c = tracker.birth(id, bootID: boot, heartbeat: [1, 2, 5][Int(rng.next() % 3)], at: now).change { unflushed.append(c) }
            case 2...6:
                let boot = boots[id] ?? "x"
                seqs[id, default: 0] += 1
                let r = Reading.speaker(SpeakerReading(volume: 50, amplifierOK: rng.next() % 4 != 0, speakerLineOK: rng.next() % 5 != 0,
                                                       playing: false))
                if case .success(let o) = tracker.telemetry(id, bootID: boot, seq: seqs[id]!, reading: r, at: now), let c = o.change {
                    unflushed.append(c)
                }
            case 7:
                if case .success(let o) = tracker.offline(id, bootID: boots[id], reason: rng.next() % 2 == 0 ? .lastWill : .shutdown, at: now),
                   let c = o.change { unflushed.append(c) }
            default:
                break
            }
            unflushed += tracker.sweep(now: now)
            // The ingest flush: changes, with the status rows of the devices they touch.
            if now.timeIntervalSince(lastFlush) >= 0.25 {
                lastFlush = now
                for c in unflushed { p.statuses[c.deviceID] = tracker[c.deviceID] }
                p.changes += unflushed
                unflushed = []
                // The status flush: every device, and the last-alive mark, in the same transaction.
                if now.timeIntervalSince(lastStatus) >= 5 {
                    lastStatus = now
                    for id in ids { p.statuses[id] = tracker[id] }
                    p.lastAlive = now
                }
            }
        }
        return p  // the crash: unflushed is lost
    }

    @Test(arguments: 1...40)
    func historyStaysAChainAcrossCrashesAtAnyMoment(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var p = Persisted()
        var at = Date(timeIntervalSince1970: 1_795_000_000)
        for id in Self.ids { p.changes.append(StateChange(deviceID: id, from: .unknown, to: .unknown, faults: [], at: at)) }
        for _ in 0..<12 {
            let crash = at + 1 + rng.unit() * 30
            p = Self.run(p, from: at, crash: crash, rng: &rng) { c, before in
                // Restore never reaches back before what is stored, nor forward past now.
                #expect(c.at >= before!.since, "seed \(seed): \(c) before \(before!.since)")
                #expect(c.from == before!.state)
                #expect(c.to == .unknown || c.to == .offline)
            }
            at = crash + rng.unit() * 10  // down for a while
        }
        for id in Self.ids {
            let mine = p.changes.filter { $0.deviceID == id }
            for (a, b) in zip(mine, mine.dropFirst()) {
                #expect(b.at >= a.at, "seed \(seed) \(id): \(b) dated before \(a)")
                #expect(b.from == a.to, "seed \(seed) \(id): \(b) does not follow \(a)")
            }
            if let last = mine.last, let s = p.statuses[id] {
                #expect(s.state == last.to && s.since == last.at, "seed \(seed) \(id): status \(s.state)@\(s.since) vs \(last)")
            }
        }
    }

    @Test func restoreStartsTheUnknownGapAfterChangesStoredLaterThanTheLastAliveMark() {
        var t = LivenessTracker()
        t.track("A", DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: t0))
        _ = t.birth("A", bootID: "a", heartbeat: 30, at: t0 + 10)
        _ = t.telemetry("A", bootID: "a", seq: 1, reading: speaker(amp: false), at: t0 + 12)  // degraded at +12, stored
        // The last-alive mark is older (+8) than the stored change (+12): the gap starts after it.
        let changes = t.resume(lastAlive: t0 + 8, now: t0 + 60)
        #expect(changes == [StateChange(deviceID: "A", from: .degraded, to: .unknown, faults: [], at: t0 + 12)])
    }
}
