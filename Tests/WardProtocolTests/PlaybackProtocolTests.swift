import Foundation
import Testing
import WardDomain
@testable import WardProtocol

@Suite struct PlaybackProtocolTests {
    let topic = "wardfleet/v1/cam-la/LOA-01/playback"
    func report(_ fields: String, device: String = "LOA-01") -> String {
        "{\"v\":1,\"device\":\"\(device)\",\"boot\":\"b1\",\"ts\":\(ts),\(fields)}"
    }

    @Test func aStartedReportBecomesALogLineAtTheDevicesTime() throws {
        guard case .success(let m) = decode(topic, report("\"play\":\"BT-1@1795000000000\",\"event\":\"started\"")),
              case .playback(let all, let boot) = m.inbound, all.count == 1, let e = all.first else { Issue.record("not decoded"); return }
        #expect(boot == "b1" && e.speaker == "LOA-01" && e.event == .started && e.at == Date(unixMillis: ts))
        #expect(e.key == PlayKey(item: "BT-1", start: Date(unixMillis: 1_795_000_000_000)))
    }

    @Test func interruptedNeedsAReasonAndByIsAPlay() throws {
        guard case .success(let m) = decode(topic, report("\"play\":\"BT-1@1\",\"event\":\"interrupted\",\"reason\":\"preempted\",\"by\":\"BT-2@5\"")),
              case .playback(let all, _) = m.inbound, let e = all.first else { Issue.record("not decoded"); return }
        #expect(e.reason == .preempted && e.by == "BT-2@5")
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"interrupted\"")) == .invalidField)
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"interrupted\",\"reason\":\"preempted\",\"by\":\"x\"")) == .invalidField)
    }

    @Test func reportsOfOneMomentTravelTogetherInMore() throws {
        let more = ",\"more\":[{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b1\",\"ts\":\(ts),\"play\":\"BT-1@1\",\"event\":\"media_ready\"},"
            + "{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b1\",\"ts\":\(ts + 3),\"play\":\"BT-1@1\",\"event\":\"started\"}]"
        guard case .success(let m) = decode(topic, report("\"play\":\"BT-1@1\",\"event\":\"received\"" + more)),
              case .playback(let all, _) = m.inbound else { Issue.record("not decoded"); return }
        #expect(all.map(\.event) == [.received, .mediaReady, .started])
        #expect(all.last?.at == Date(unixMillis: ts + 3))
        // Each one is checked like a report of its own: another device, another boot, nesting, too many.
        let other = ",\"more\":[{\"v\":1,\"device\":\"LOA-02\",\"boot\":\"b1\",\"ts\":\(ts),\"play\":\"BT-1@1\",\"event\":\"started\"}]"
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"received\"" + other)) == .identityMismatch)
        let boot = ",\"more\":[{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b2\",\"ts\":\(ts),\"play\":\"BT-1@1\",\"event\":\"started\"}]"
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"received\"" + boot)) == .invalidField)
        let inner = "{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b1\",\"ts\":\(ts),\"play\":\"BT-1@1\",\"event\":\"started\"}"
        let nested = ",\"more\":[{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b1\",\"ts\":\(ts),\"play\":\"BT-1@1\",\"event\":\"started\",\"more\":[\(inner)]}]"
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"received\"" + nested)) == .invalidField)
        let nine = ",\"more\":[" + Array(repeating: inner, count: 9).joined(separator: ",") + "]"
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"received\"" + nine)) == .outOfRange)
        let bad = ",\"more\":[{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b1\",\"ts\":\(ts),\"play\":\"BT-1@1\",\"event\":\"exploded\"}]"
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"received\"" + bad)) == .invalidField, "one bad report refuses the message")
    }

    @Test func badReportsAreRefusedWithTheirReason() {
        #expect(rejection(topic, report("\"play\":\"nope\",\"event\":\"started\"")) == .invalidField)
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"scheduled\"")) == .invalidField)  // the controller's word
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"exploded\"")) == .invalidField)
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"missed\",\"reason\":\"bored\"")) == .invalidField)
        // The controller's conclusions are not the speaker's to claim.
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"missed\",\"reason\":\"offline\"")) == .invalidField)
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"started\"", device: "LOA-02")) == .identityMismatch)
        #expect(rejection(topic, report("\"play\":\"BT-1@1\",\"event\":\"started\",\"detail\":\"\(String(repeating: "x", count: 600))\"")) == .outOfRange)
        #expect(rejection(topic, "{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b1\",\"ts\":1,\"play\":\"BT-1@1\",\"event\":\"started\"}") == .outOfRange)
    }

    @Test func schedulesSeenOnTheTreeAreNotForTheController() {
        guard case .success(let m) = decode("wardfleet/v1/cam-la/LOA-01/schedule", "{}") else { Issue.record("refused"); return }
        #expect(m.inbound == .command)
        #expect(MessageKind.schedule.fromDevice == false && MessageKind.playback.fromDevice)
    }

    @Test func scheduleMessagesRoundTrip() throws {
        let s = ScheduleMessage(device: "LOA-01", rev: 3, ts: ts, plays: [
            SchedulePlay(play: "BT-1@1", item: "BT-1", title: "Bản tin sáng", level: .emergency, start: 1, durationSeconds: 3.5,
                         latestStart: 3501, volume: 80, media: MediaReference(url: "http://h/media/ab", sha256: "ab", size: 10, format: "wav"),
                         stream: nil),
        ])
        let back = try JSONDecoder().decode(ScheduleMessage.self, from: Data(ProtocolEncoder.encode(s)))
        #expect(back == s)
        #expect(String(decoding: ProtocolEncoder.encode(s), as: UTF8.self).contains("\"latest_start\":3501"))
    }
}
