import Foundation
import Testing
import WardDomain
import WardProtocol

/// The commune-wide emergency topic (protocol §4, `emergency`): topics, bytes, and what a speaker accepts.
@Suite struct EmergencyMessageTests {
    static let topic = "wardfleet/v1/cam-la/emergency"
    static let entry = SchedulePlay(
        play: "BT-20261201-e7f001@1796079605000", item: "BT-20261201-e7f001", title: "Cảnh báo lũ quét", level: .emergency,
        start: 1_796_079_605_000, durationSeconds: 12.5, latestStart: 1_796_079_617_500, volume: 100,
        media: MediaReference(url: "http://10.0.0.2:8080/media/5d41402a", sha256: "5d41402a", size: 200_044, format: "wav"), stream: nil)

    @Test func topics() {
        #expect(Topics.emergency(commune: "cam-la") == Self.topic)
        #expect(Topics.emergencyCommune(Self.topic) == "cam-la")
        #expect(Topics.parse(Self.topic) == nil, "not a device topic: nothing on it is a device's message")
        #expect(Topics.commune(of: Self.topic) == "cam-la")
        #expect(Topics.commune(of: "wardfleet/v1/dong-ho/LOA-1/schedule") == "dong-ho")
        for t in ["wardfleet/v1/cam-la/LOA-1/emergency", "wardfleet/v1/cam la/emergency", "wardfleet/v2/cam-la/emergency",
                  "wardfleet/v1/cam-la/emergencies", "wardfleet/v1//emergency"] {
            #expect(Topics.emergencyCommune(t) == nil, "\(t)")
        }
    }

    /// The bytes of the protocol's examples (docs/protocol.md, `emergency`).
    @Test func encodesAsDocumented() {
        let play = EmergencyMessage.play(Self.entry, commune: "cam-la", ts: 1_796_079_604_210, audience: .except(["LOA-CL-07"]))
        #expect(String(decoding: ProtocolEncoder.encode(play), as: UTF8.self) == """
            {"action":"play","commune":"cam-la","entry":{"duration_s":12.5,"item":"BT-20261201-e7f001","latest_start":1796079617500,\
            "level":"emergency","media":{"format":"wav","sha256":"5d41402a","size":200044,"url":"http://10.0.0.2:8080/media/5d41402a"},\
            "play":"BT-20261201-e7f001@1796079605000","start":1796079605000,"title":"Cảnh báo lũ quét","volume":100},\
            "except":["LOA-CL-07"],"play":"BT-20261201-e7f001@1796079605000","ts":1796079604210,"v":1}
            """)
        let cancel = EmergencyMessage.cancel(Self.entry.play, commune: "cam-la", ts: 1_796_079_609_000)
        #expect(String(decoding: ProtocolEncoder.encode(cancel), as: UTF8.self) == """
            {"action":"cancel","commune":"cam-la","play":"BT-20261201-e7f001@1796079605000","ts":1796079609000,"v":1}
            """)
        let everyone = EmergencyMessage.play(Self.entry, commune: "cam-la", ts: 1, audience: .everyone)
        #expect(everyone.speakers == nil && everyone.except == nil)
    }

    @Test func roundTripsAndSaysWhomItConcerns() throws {
        for audience in [FanoutAudience.everyone, .only(["LOA-1", "LOA-2"]), .except(["LOA-3"])] {
            let m = EmergencyMessage.play(Self.entry, commune: "cam-la", ts: 1_796_079_604_210, audience: audience)
            let back = try EmergencyMessage.read(ProtocolEncoder.encode(m), topic: Self.topic)
            #expect(back == m)
            let concerned = ["LOA-1", "LOA-2", "LOA-3", "LOA-4"].filter { back.concerns($0) }
            switch audience {
            case .everyone: #expect(concerned == ["LOA-1", "LOA-2", "LOA-3", "LOA-4"])
            case .only: #expect(concerned == ["LOA-1", "LOA-2"])
            case .except: #expect(concerned == ["LOA-1", "LOA-2", "LOA-4"])
            }
        }
        let cancel = try EmergencyMessage.read(ProtocolEncoder.encode(EmergencyMessage.cancel(Self.entry.play, commune: "cam-la", ts: 5)),
                                               topic: Self.topic)
        #expect(cancel.action == .cancel && cancel.concerns("anyone"))
        // Unknown fields are ignored (§3), as everywhere in v1.
        let extra = #"{"action":"cancel","commune":"cam-la","play":"BT-1@1796079605000","ts":5,"v":1,"x_vendor":true}"#
        #expect(try EmergencyMessage.read(Array(extra.utf8), topic: Self.topic).play == "BT-1@1796079605000")
    }

    /// What a speaker ignores (its agenda will carry what concerns it anyway).
    @Test func speakersIgnoreWhatBreaksTheRules() {
        let good = EmergencyMessage.play(Self.entry, commune: "cam-la", ts: 1, audience: .everyone)
        func refused(_ m: EmergencyMessage, topic: String = Self.topic) -> Bool {
            (try? EmergencyMessage.read(ProtocolEncoder.encode(m), topic: topic)) == nil
        }
        #expect(!refused(good))
        #expect(refused(good, topic: "wardfleet/v1/dong-ho/emergency"), "another commune's message on this commune's topic")
        #expect(refused(good, topic: "wardfleet/v1/cam-la/LOA-1/schedule"))
        var m = good
        m.v = 2
        #expect(refused(m))
        m = good
        m.speakers = ["LOA-1"]
        m.except = ["LOA-2"]
        #expect(refused(m), "both lists")
        m = good
        m.entry = nil
        #expect(refused(m), "play without its entry")
        m = good
        m.entry?.level = .priority
        #expect(refused(m), "only emergencies travel this way")
        m = good
        m.play = "BT-20261201-e7f001@1796079600000"
        #expect(refused(m), "entry of another play")
        m = good
        m.entry?.stream = "http://10.0.0.2:8000/live"
        #expect(refused(m), "media and stream")
        m = EmergencyMessage.cancel("not a play id", commune: "cam-la", ts: 1)
        #expect(refused(m))
        #expect((try? EmergencyMessage.read(Array(#"{"v":1}"#.utf8), topic: Self.topic)) == nil)
        #expect((try? EmergencyMessage.read(Array("not json".utf8), topic: Self.topic)) == nil)
    }
}
