import Foundation
import Testing
@testable import WardDomain

@Suite struct DeliveryPlannerTests {
    func item(_ id: String, _ level: BroadcastLevel = .normal, start: String = "06:00", seconds: Double = 300,
              first: String = "2026-11-23", rule: RepeatRule = .daily, volume: Int? = nil) -> BroadcastItem {
        BroadcastItem(id: id, title: "Bản tin \(id)", level: level, duration: seconds,
                      recurrence: Recurrence(rule: rule, firstDay: day(first), startTime: time(start)),
                      target: BroadcastTarget(communes: ["cl"]), volume: volume)
    }

    @Test func playKeysRoundTripAndRefuseJunk() {
        let k = PlayKey(item: "BT-20261123-abc123", start: at("2026-11-23", "06:00"))
        #expect(k.id == "BT-20261123-abc123@\(k.startMillis)")
        #expect(PlayKey(id: k.id) == k)
        for bad in ["", "@123", "BT-1@", "BT-1@x", "BT 1@5", "BT-1@-5"] { #expect(PlayKey(id: bad) == nil, "\(bad)") }
    }

    @Test func onlyPlaysWithinTheLeadAreSentWithTheirLatestStart() {
        let items = [item("A", start: "06:00"), item("B", start: "06:30")]
        let audiences = ["A": Set(["L1", "L2"]), "B": Set(["L2"])]
        let a = DeliveryPlanner.agendas(items: items, audiences: audiences, now: at("2026-11-23", "05:52"))
        #expect(a.keys.sorted() == ["L1", "L2"])
        let p = try! #require(a["L1"]?.plays.first)
        #expect(a["L2"]?.plays.map(\.key.item) == ["A"])  // B is 38 minutes away: not yet
        #expect(p.start == at("2026-11-23", "06:00") && p.latestStart == at("2026-11-23", "06:01"))
        #expect(DeliveryPlanner.agendas(items: items, audiences: audiences, now: at("2026-11-23", "05:49")).isEmpty)
    }

    @Test func anEmergencyCutsInAndMayStartLateUntilItsEnd() {
        let now = at("2026-11-23", "06:02")
        let items = [item("A", start: "06:00", seconds: 600), item("E", .emergency, start: "06:02", seconds: 120, rule: .once)]
        let plays = DeliveryPlanner.agendas(items: items, audiences: ["A": ["L1"], "E": ["L1"]], now: now)["L1"]!.plays
        #expect(plays.map(\.key.item) == ["A", "E"])
        #expect(plays[1].latestStart == at("2026-11-23", "06:04"))
    }

    @Test func aNormalItemDueWhileAnEmergencyHoldsTheSpeakerIsSkippedAndNotSent() {
        let items = [item("E", .emergency, start: "05:58", seconds: 600, rule: .once), item("N", start: "06:00")]
        let agenda = DeliveryPlanner.agendas(items: items, audiences: ["E": ["L1"], "N": ["L1"]], now: at("2026-11-23", "05:59"))["L1"]!
        #expect(agenda.plays.map(\.key.item) == ["E"])
        #expect(agenda.skipped == [PlayKey(item: "N", start: at("2026-11-23", "06:00")): PlayKey(item: "E", start: at("2026-11-23", "05:58"))])
    }

    @Test func aPriorityItemWaitsBehindAnEmergencyWithAMovedStart() {
        let items = [item("E", .emergency, start: "05:58", seconds: 600, rule: .once), item("P", .priority, start: "06:00")]
        let plays = DeliveryPlanner.agendas(items: items, audiences: ["E": ["L1"], "P": ["L1"]], now: at("2026-11-23", "05:59"))["L1"]!.plays
        let p = plays.first { $0.key.item == "P" }!
        #expect(p.start == at("2026-11-23", "06:08") && p.key.start == at("2026-11-23", "06:00"))
        #expect(p.latestStart == at("2026-11-23", "06:09"))
    }

    @Test func cancelledItemsAndSpeakersOutsideTheAudienceGetNothing() {
        var c = item("A")
        c.cancelled = true
        #expect(DeliveryPlanner.agendas(items: [c], audiences: ["A": ["L1"]], now: at("2026-11-23", "05:59")).isEmpty)
        #expect(DeliveryPlanner.agendas(items: [item("A")], audiences: [:], now: at("2026-11-23", "05:59")).isEmpty)
    }
}

@Suite struct PlaybackLogTests {
    let k = PlayKey(item: "A", start: at("2026-11-23", "06:00"))
    func e(_ ev: PlaybackEvent, _ s: String = "L1", _ t: String = "06:00", reason: PlaybackReason? = nil, by: String? = nil) -> PlaybackEntry {
        PlaybackEntry(key: k, speaker: s, event: ev, at: at("2026-11-23", t), reason: reason, by: by)
    }

    @Test func foldTellsEachSpeakersStory() {
        let rows = PlaybackRow.fold([
            e(.scheduled, "L1", "05:50"), e(.received, "L1", "05:50"), e(.mediaReady, "L1", "05:51"), e(.started, "L1", "06:00"),
            e(.finished, "L1", "06:05"),
            e(.scheduled, "L2", "05:50"), e(.started, "L2", "06:00"), e(.interrupted, "L2", "06:02", reason: .preempted, by: "E@1"),
            e(.scheduled, "L3", "05:50"), e(.missed, "L3", "06:07", reason: .offline),
            e(.scheduled, "L4", "05:50"),
        ])
        #expect(rows.map(\.speaker) == ["L1", "L2", "L3", "L4"])
        #expect(rows[0].outcome == .finished && rows[0].startOffset == 0 && rows[0].deliveredAt == at("2026-11-23", "05:50"))
        #expect(rows[1].outcome == .interrupted(.preempted, by: "E@1"))
        #expect(rows[2].outcome == .missed(.offline, by: nil))
        #expect(rows[3].outcome == .pending)
    }

    @Test func aLateReportThatItStartedBeatsTheControllersMissed() {
        let rows = PlaybackRow.fold([e(.scheduled, "L1", "05:50"), e(.missed, "L1", "06:07", reason: .offline), e(.started, "L1", "06:00"),
                                     e(.finished, "L1", "06:05")])
        #expect(rows.first?.outcome == .finished)
    }

    @Test func reachCountsPlayedOverTargetedPerVillage() {
        let rows = PlaybackRow.fold([e(.scheduled, "L1"), e(.started, "L1"), e(.scheduled, "L2"), e(.missed, "L2", reason: .offline),
                                     e(.scheduled, "L3"), e(.started, "L3"), e(.interrupted, "L3", reason: .preempted)])
        let (total, byVillage) = Reach.of(rows) { ["L1": "v1", "L2": "v1", "L3": "v2"][$0] }
        // L3 was cut off by a priority item: heard in part, not reached (it counted as played before).
        #expect(total == Reach(targeted: 3, played: 1, interrupted: 1) && total.ratio == 1.0 / 3)
        #expect(byVillage == ["v1": Reach(targeted: 2, played: 1), "v2": Reach(targeted: 1, played: 0, interrupted: 1)])
        #expect(Reach().ratio == nil)
    }

    @Test func closingPicksTheReasonAnOfficerCanActOn() {
        func close(_ events: [PlaybackEvent], _ c: PlaybackClosure.Context = .init()) -> PlaybackEntry? {
            PlaybackClosure.close(events.map { e($0) }, key: k, speaker: "L1", context: c, at: at("2026-11-23", "06:07"))
        }
        #expect(close([.scheduled, .received, .started, .finished]) == nil)
        #expect(close([.scheduled, .received, .started])?.reason == .noReport)
        #expect(close([.scheduled, .received, .started])?.event == .interrupted)
        #expect(close([.scheduled, .received, .downloadFailed])?.reason == .downloadFailed)
        #expect(close([.scheduled], .init(skippedBy: "E@1"))?.by == "E@1")
        #expect(close([.scheduled, .received], .init(itemCancelled: true))?.reason == .cancelled)
        #expect(close([.scheduled, .received], .init(stillPlanned: false))?.reason == .withdrawn)
        #expect(close([.scheduled])?.reason == .offline)
        #expect(close([.scheduled, .received, .mediaReady])?.reason == .noReport)
        // Never acknowledged and its start come: offline, whatever became of the item after (a warning cancelled or
        // updated while a speaker was dark did not make it miss); before its start, the cancellation is why.
        #expect(close([.scheduled], .init(itemCancelled: true))?.reason == .offline)
        #expect(close([.scheduled], .init(stillPlanned: false))?.reason == .offline)
        let early = PlaybackClosure.close([e(.scheduled)], key: k, speaker: "L1", context: .init(itemCancelled: true),
                                          at: k.start.addingTimeInterval(-60))
        #expect(early?.reason == .cancelled)
    }
}
