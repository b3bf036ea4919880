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

/// The direct reader of playback reports (`PlaybackFastPath`) answers exactly as the general path
/// (strict syntax pass, then JSONDecoder) on valid, odd and hostile payloads: same reports, same
/// refusals with the same words.
@Suite struct PlaybackFastPathTests {
    static let topic = "wardfleet/v1/cam-la/LOA-01/playback"
    static let inner = #"{"v":1,"device":"LOA-01","boot":"b1","ts":\#(ts + 2),"play":"BT-1@1","event":"media_ready"}"#
    static let seeds: [String] = [
        #"{"v":1,"device":"LOA-01","boot":"b1","ts":\#(ts),"play":"BT-1@1795000000000","event":"started"}"#,
        #"{"boot":"b1","by":"BT-2@5","device":"LOA-01","event":"interrupted","play":"BT-1@1","reason":"preempted","ts":\#(ts),"v":1}"#,
        #"{"v":1,"device":"LOA-01","boot":"b1","ts":\#(ts),"play":"BT-1@1","event":"received","more":[\#(inner),\#(inner)]}"#,
        #" { "v" : 1 , "device" : "LOA-01" , "boot" : "b1" , "ts" : \#(ts) , "play" : "BT-1@1" , "event" : "missed" , "reason" : "download_failed" , "detail" : "tải lỗi: 404" , "more" : [ ] } "#,
        #"{"v":1,"device":"LOA-01","boot":"b1","ts":\#(ts),"play":"BT-1@1","event":"started","reason":null,"by":null,"detail":null,"more":null}"#,
        #"{"v":1,"device":"LOA-01","boot":"b1","ts":\#(ts),"play":"BT-1@1","event":"started","detail":"a\"b\\c\n"}"#,
        #"{"v":1,"device":"LOA-01","boot":"b1","ts":\#(ts),"play":"BT-1@1","event":"started","extra":{"x":[1,2.5,true]}}"#,
    ]
    static let tokens: [String] = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "-0", "01", "1.0", "1e3", "-", " ",
                                   "9223372036854775807", "9223372036854775808", "\"v\":1,", "\"ts\":1,", "\"more\":[],",
                                   "\"more\":[\(inner)],", "\"reason\":\"preempted\",", "\u{7F}", "\t", "\"thôn\""]

    static func results(_ payload: [UInt8]) -> (Result<DecodedMessage, Rejection>, Result<DecodedMessage, Rejection>) {
        let fast = ProtocolDecoder(), general = ProtocolDecoder()
        general.usesPlaybackFastPath = false
        let now = Date(unixMillis: ts + 60_000)
        return (fast.decode(topic: topic, payload: payload, now: now), general.decode(topic: topic, payload: payload, now: now))
    }

    @Test func theSeedsDecodeTheSameBothWays() {
        for s in Self.seeds {
            let (a, b) = Self.results(Array(s.utf8))
            #expect(a == b, "\(s)")
            if case .failure(let r) = a { Issue.record("seed refused: \(r) \(s)") }
        }
    }

    @Test func mutatedPayloadsDecodeTheSameBothWays() {
        var rng = SeededRandom(seed: 20261203)
        var accepted = 0
        for n in 0..<30_000 {
            var b = Array(Self.seeds[n % Self.seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0x20...0x7E, using: &rng)
                case 1: b.insert(contentsOf: Array(Self.tokens.randomElement(using: &rng)!.utf8), at: Int.random(in: 0...b.count, using: &rng))
                case 2 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
                default:
                    // Swap a key's place: the general path does not care about order, nor may the direct one.
                    if let i = b.firstIndex(of: UInt8(ascii: ",")) { b.insert(contentsOf: Array(" ".utf8), at: i) }
                }
            }
            let (a, c) = Self.results(b)
            if case .success = a { accepted += 1 }
            #expect(a == c, "\(String(decoding: b, as: UTF8.self))")
        }
        #expect(accepted > 1_000, "the mutations still reach valid reports")
    }
}

extension PlaybackFastPathTests {
    /// The simulator's direct writer gives the general encoder's bytes, plain text or not.
    @Test func theDirectWriterGivesTheGeneralEncodersBytes() {
        let texts: [String?] = [nil, "", "tải lỗi: 404", "a\"b", "c\\d", "dòng\nmới", "\u{1}", "/đường/dẫn", "🔊 loa"]
        var rng = SeededRandom(seed: 7)
        for n in 0..<2_000 {
            var r = PlaybackReport(device: "LOA-\(n)", boot: (texts.randomElement(using: &rng)! ?? "b1"), ts: Int64(n) * 7_919 - 5,
                                   play: "BT-\(n)@\(n * 1000)", event: PlaybackEvent.allCases.randomElement(using: &rng)!)
            r.reason = texts.randomElement(using: &rng)!
            r.by = n % 3 == 0 ? nil : "BT-9@\(n)"
            r.detail = texts.randomElement(using: &rng)!
            if n % 4 == 0 {
                var m = r
                m.detail = texts.randomElement(using: &rng)!
                r.more = n % 8 == 0 ? [] : [m, m]
            }
            #expect(r.encoded() == ProtocolEncoder.encode(r), "\(n)")
        }
    }
}
