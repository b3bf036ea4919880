import Foundation
import Testing
@testable import WardDomain

/// Issue 20, second part: which repeat is due from a stored plan and the plays made (so a restart
/// neither skips nor doubles one), an Update's plan taking over, and reach per place from log rows.
@Suite struct WarningRepeatTests {
    let t0 = Date(timeIntervalSince1970: 1_795_400_000)

    @Test func theDueRepeatComesFromThePlanAndThePlaysMade() {
        let plan = RepetitionPlan(anchor: t0, interval: 1800, until: t0 + 3 * 3600)
        #expect(plan.due(made: [], now: t0 - 1) == nil)
        #expect(plan.due(made: [], now: t0)! == (1, t0))
        #expect(plan.due(made: [1], now: t0 + 1799) == nil)
        #expect(plan.due(made: [1], now: t0 + 1800)! == (2, t0 + 1800))
        #expect(plan.due(made: [1, 2], now: t0 + 2000) == nil)
        // Down across two slots: the latest stands for them, once; the one before is not made up.
        #expect(plan.due(made: [1, 2], now: t0 + 5500)! == (4, t0 + 5400))
        #expect(plan.due(made: [1, 2, 4], now: t0 + 5500) == nil)
        // The last slot before `until`, and nothing at or after it.
        #expect(plan.due(made: [1], now: t0 + 3 * 3600 - 1)! == (6, t0 + 5 * 1800))
        #expect(plan.due(made: [1], now: t0 + 3 * 3600) == nil)
        // A cancelled plan makes nothing more, even a slot that was due before the cancel.
        let cancelled = plan.cancelled(at: t0 + 3000)
        #expect(cancelled.due(made: [1, 2], now: t0 + 3600) == nil)
        #expect(cancelled.upcoming(after: t0 + 2000).isEmpty)
        #expect(plan.upcoming(after: t0 + 2000).map(\.number) == [3, 4, 5, 6])
        #expect(plan.upcoming(after: t0 + 2000, limit: 2).map(\.at) == [t0 + 3600, t0 + 5400])
        // Plays once: only the anchor.
        let once = RepetitionPlan(anchor: t0, interval: nil, until: t0 + 3600)
        #expect(once.due(made: [], now: t0 + 100)! == (1, t0) && once.due(made: [1], now: t0 + 3000) == nil)
        #expect(once.upcoming(after: t0 - 10).map(\.number) == [1] && once.upcoming(after: t0).isEmpty)
    }

    /// An emergency Update at t0+40 min: the old alert made plays 1 and 2 and makes no more; the new
    /// plan starts with the update's own play, so the old 60-min slot is not played twice.
    @Test func anUpdateTakesOverWithoutAGapOrADoublePlay() {
        let old = RepetitionPlan(anchor: t0, interval: 1800, until: t0 + 86_400)
        let update = old.updated(at: t0 + 2400, interval: 1800, until: t0 + 86_400, playsNow: true)
        let stopped = old.cancelled(at: t0 + 2400)
        var times: [Date] = [t0, t0 + 1800]  // the old alert's plays
        times.append(t0 + 2400)  // the update, at once
        var made: Set<Int> = [1]
        var now = t0 + 2400
        while now < t0 + 4 * 3600 {
            #expect(stopped.due(made: [1, 2], now: now) == nil)
            if let d = update.due(made: made, now: now) {
                made.insert(d.number)
                times.append(d.at)
            }
            now += 60
        }
        let gaps = zip(times, times.dropFirst()).map { $1.timeIntervalSince($0) }
        #expect(gaps.allSatisfy { $0 > 0 && $0 <= 1800 }, "\(gaps)")
        #expect(Set(times).count == times.count)
    }

    @Test func reachIsCountedPerPlaceFromTheLogRows() {
        let play = WarningPlay(alertID: 7, number: 2, kind: .play, itemID: "BT-1", dueAt: t0, madeAt: t0)
        let key = PlayKey(item: "BT-1", start: t0 + 1)
        func line(_ s: String, _ e: PlaybackEvent, _ at: Double, _ r: PlaybackReason? = nil) -> PlaybackEntry {
            PlaybackEntry(key: key, speaker: s, event: e, at: t0 + at, reason: r)
        }
        let rows = PlaybackRow.fold([
            line("A1", .scheduled, 0), line("A1", .started, 2), line("A1", .finished, 30),
            line("A2", .scheduled, 0), line("A2", .started, 3), line("A2", .interrupted, 10, .cancelled),
            line("B1", .scheduled, 0), line("B1", .missed, 200, .offline),
            line("C1", .scheduled, 0),
            line("X9", .scheduled, 0), line("X9", .started, 2),  // outside what the caller may see
            PlaybackEntry(key: PlayKey(item: "BT-other", start: t0), speaker: "A1", event: .finished, at: t0),
        ])
        let a = WarningReach.Location(id: "thon-a", name: "Thôn A", level: .village, commune: "xa")
        let b = WarningReach.Location(id: "thon-b", name: "Thôn B", level: .village, commune: "xa")
        let office = WarningReach.Location(id: "ubnd", name: "Trụ sở UBND", level: .site, commune: "xa")
        let empty = WarningReach.Location(id: "thon-d", name: "Thôn D", level: .village, commune: "xa")
        let places = ["A1": a, "A2": a, "B1": b, "C1": office]
        let r = WarningReach.play(play, rows: rows, receivedAt: t0 - 10, locate: { places[$0] }, targeted: [a, b, empty])
        #expect(r.tally.sent == 4 && r.tally.played == 1 && r.tally.interrupted == 1 && r.tally.missed == 1 && r.tally.pending == 1)
        #expect(r.tally.reasons == ["cancelled": 1, "offline": 1])
        #expect(r.places.map(\.id) == ["thon-a", "thon-b", "thon-d", "ubnd"])
        let thonA = r.places[0]
        #expect(thonA.targeted && thonA.tally.played == 1 && thonA.speakers.map(\.outcome) == [.played, .interrupted])
        #expect(thonA.speakers[0].delayFromReceipt == 12 && thonA.speakers[0].delayFromStart == 1)
        #expect(thonA.speakers[1].reason == .cancelled && thonA.speakers[1].reasonText == "đã hủy")
        #expect(r.places[1].speakers.first?.reason == .offline && r.places[2].speakers.isEmpty && !r.places[3].targeted)
        let summary = WarningReach(alert: 7, receivedAt: t0, plays: [r]).summary
        #expect(summary == "Lần 2: 1/4 loa phát trọn, 1 bị ngắt, 1 không phát, 1 chưa xong; chưa nghe: Thôn B, Thôn D, Trụ sở UBND", "\(summary)")
    }

    @Test func theAllClearNamesTheEvent() {
        #expect(WarningSpeech.allClear(event: "Bão số 3", info: nil) == "Hết cảnh báo Bão số 3.")
        #expect(WarningSpeech.allClear(event: nil, info: nil) == "Hết cảnh báo.")
        #expect(WarningPlay.itemID(alert: 12, number: 3, day: LocalDay("2026-11-23")!) == "BT-20261123-w12r3")
    }
}
