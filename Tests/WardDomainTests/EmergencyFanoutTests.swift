import Foundation
import Testing
@testable import WardDomain

/// Issue 16 item 5: which new emergency plays go out as one publish per commune, and to whom.
@Suite struct EmergencyFanoutTests {
    let t0 = Date(timeIntervalSince1970: 1_796_079_600)
    var key: PlayKey { PlayKey(item: "BT-20261201-e7f001", start: t0) }

    func entry(start offset: TimeInterval = 0, _ level: BroadcastLevel = .emergency) -> AgendaEntry {
        AgendaEntry(key: key, level: level, start: t0.addingTimeInterval(offset), duration: 30,
                    latestStart: t0.addingTimeInterval(600), volume: nil)
    }

    /// Ten speakers in `cam-la`, two in `dong-ho`.
    var communeOf: [String: String] {
        var m: [String: String] = [:]
        for i in 1...10 { m["LOA-\(i)"] = "cam-la" }
        m["DH-1"] = "dong-ho"
        m["DH-2"] = "dong-ho"
        return m
    }

    func new(_ speakers: [String], _ e: AgendaEntry? = nil) -> [String: [AgendaEntry]] {
        Dictionary(uniqueKeysWithValues: speakers.map { ($0, [e ?? entry()]) })
    }

    @Test func aWholeCommuneIsOneMessageForEveryone() throws {
        let all = (1...10).map { "LOA-\($0)" }
        let plans = EmergencyFanout.plan(new: new(all), communeOf: communeOf, capable: Set(all))
        let p = try #require(plans.first)
        #expect(plans.count == 1)
        #expect(p.commune == "cam-la" && p.key == key && p.entry == entry())
        #expect(p.audience == .everyone)
        #expect(p.reached == Set(all))
    }

    @Test func theShorterListNamesTheAudience() throws {
        // Eight of ten targeted: "all but these two" is shorter than eight names.
        let eight = (1...8).map { "LOA-\($0)" }
        var p = try #require(EmergencyFanout.plan(new: new(eight), communeOf: communeOf, capable: Set(communeOf.keys)).first)
        #expect(p.audience == .except(["LOA-10", "LOA-9"]))
        // Two of ten: their names.
        p = try #require(EmergencyFanout.plan(new: new(["LOA-3", "LOA-1"]), communeOf: communeOf, capable: Set(communeOf.keys)).first)
        #expect(p.audience == .only(["LOA-1", "LOA-3"]))
    }

    @Test func oldFirmwareIsNeitherReachedNorListed() throws {
        let all = (1...10).map { "LOA-\($0)" }
        let capable = Set(all).subtracting(["LOA-4", "LOA-5"])
        let p = try #require(EmergencyFanout.plan(new: new(all), communeOf: communeOf, capable: capable).first)
        #expect(p.audience == .everyone, "old firmware does not listen there: no need to exclude it")
        #expect(p.reached == capable, "LOA-4 and LOA-5 get it in their agenda only")
        // Targeting only old firmware: no commune message at all.
        #expect(EmergencyFanout.plan(new: new(["LOA-4", "LOA-5"]), communeOf: communeOf, capable: capable).isEmpty)
        #expect(EmergencyFanout.plan(new: new(all), communeOf: communeOf, capable: []).isEmpty)
    }

    @Test func aSpeakerWithAnotherEntryGetsItsOwnThroughItsAgenda() throws {
        // LOA-2 still plays an earlier emergency: its entry starts later. The message carries the
        // entry most share, and lists LOA-2 among those it is not for.
        var n = new((1...10).map { "LOA-\($0)" })
        n["LOA-2"] = [entry(start: 20)]
        let p = try #require(EmergencyFanout.plan(new: n, communeOf: communeOf, capable: Set(communeOf.keys)).first)
        #expect(p.entry == entry())
        #expect(p.audience == .except(["LOA-2"]))
        #expect(!p.reached.contains("LOA-2"))
    }

    @Test func oneMessagePerCommuneAndOnlyEmergencies() {
        var n = new(["LOA-1", "DH-1", "DH-2"])
        n["LOA-2"] = [entry(.priority)]
        let plans = EmergencyFanout.plan(new: n, communeOf: communeOf, capable: Set(communeOf.keys))
        #expect(plans.map(\.commune) == ["cam-la", "dong-ho"])
        #expect(plans.map(\.audience) == [.only(["LOA-1"]), .everyone])
        // An unregistered speaker (no commune) is never reached.
        #expect(EmergencyFanout.plan(new: new(["LOA-X"]), communeOf: communeOf, capable: ["LOA-X"]).isEmpty)
    }

    /// The broker's rules for the topic: a speaker reads its own commune's, writes none; the controller writes every commune's.
    @Test func brokerRules() {
        let acls = BrokerPolicy.deviceACLs(device: "LOA-1", commune: "cam-la")
        #expect(acls.filter { $0.topic.hasSuffix("/emergency") } == [BrokerACL(.subscribeLiteral, "wardfleet/v1/cam-la/emergency")])
        #expect(BrokerPolicy.controllerACLs.contains(BrokerACL(.publishClientSend, "wardfleet/v1/+/emergency")))
    }
}
