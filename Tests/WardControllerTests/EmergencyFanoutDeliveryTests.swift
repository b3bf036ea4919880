import Foundation
import Logging
import MQTTClient
import Synchronization
import Testing
import WardDomain
import WardProtocol
import WardStorage
@testable import WardController

/// Issue 16 item 5: an emergency goes out as one publish on its commune's topic to the speakers
/// that announce it, then every targeted speaker's agenda; old firmware gets its agenda first.
@Suite struct EmergencyFanoutDeliveryTests {
    /// Everything published, in order.
    final class Wire: SchedulePublisher {
        struct Sent { var topic: String; var payload: [UInt8]; var retain: Bool }
        let sent = Mutex<[Sent]>([])
        /// Called with each topic before it counts as sent.
        let beforeSend = Mutex<(@Sendable (String) -> Void)?>(nil)
        func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool) throws {
            #expect(qos == 1)
            beforeSend.withLock { $0 }?(topic)
            sent.withLock { $0.append(Sent(topic: topic, payload: payload, retain: retain)) }
        }
        func drain() -> [Sent] { sent.withLock { s in defer { s = [] }; return s } }
    }

    static func schedule(_ s: Wire.Sent) -> ScheduleMessage? {
        s.topic.hasSuffix("/schedule") ? try? JSONDecoder().decode(ScheduleMessage.self, from: Data(s.payload)) : nil
    }

    static func emergency(_ s: Wire.Sent) -> EmergencyMessage? {
        s.topic == Topics.emergency(commune: "cam-la") ? try? EmergencyMessage.read(s.payload, topic: s.topic) : nil
    }

    /// The service's world (LOA-1 in Thôn Cẩm La, LOA-2 in Yên Giang) plus LOA-3 in Thôn Cẩm La on old firmware.
    static func world(fanout: Bool = true) async throws -> (BroadcastServiceTests.World, Wire, BroadcastDelivery) {
        let w = try BroadcastServiceTests.World()
        try DeviceRepository(w.db).upsert([Device(id: "LOA-3", deviceClass: .speaker, siteID: "s1", registeredAt: w.clock.now())])
        let wire = Wire()
        var config = DeliveryConfiguration()
        config.mediaBaseURL = { "http://10.0.0.2:8080" }
        config.streamProbe = nil
        config.fanout = fanout
        config.capableSpeakers = { ["LOA-1", "LOA-2"] }
        let delivery = BroadcastDelivery(database: w.db, publisher: wire, clock: w.clock, configuration: config)
        try await delivery.refresh()
        await delivery.evaluate()  // a starting controller's empty agendas
        _ = wire.drain()
        return (w, wire, delivery)
    }

    @Test func theCommuneTopicGoesFirstThenOldFirmwareThenTheRest() async throws {
        let (w, wire, delivery) = try await Self.world()
        let e = try w.service.sendEmergency(title: "Cảnh báo lũ quét", programme: .media(sha256: String(repeating: "a", count: 64)),
                                            target: BroadcastTarget(communes: ["cam-la"]), by: "hung")
        try await delivery.refresh()
        await delivery.evaluate()
        let sent = wire.drain()
        // One commune message, first, not retained (the agendas are the durable record).
        let first = try #require(sent.first)
        let m = try #require(Self.emergency(first), "\(first.topic)")
        #expect(!first.retain)
        #expect(m.action == .play && m.speakers == nil && m.except == nil, "the whole commune")
        #expect(sent.filter { $0.topic.hasSuffix("/emergency") }.count == 1)
        // The play was logged as sent to every speaker before anything went out.
        let logged = try PlaybackRepository(w.db).entries(item: e.id)
        #expect(Set(logged.filter { $0.event == .scheduled }.map(\.speaker)) == ["LOA-1", "LOA-2", "LOA-3"])
        // Then the agendas: old firmware's at once; those of the speakers reached follow a little later
        // (they already play it). Every one lists the very entry of the commune message.
        var agendas = sent.dropFirst().compactMap(Self.schedule)
        #expect(agendas.map(\.device) == ["LOA-3"])
        w.clock.advance(by: 1)
        await delivery.evaluate()
        #expect(wire.drain().isEmpty, "held for 2 s")
        w.clock.advance(by: 1)
        await delivery.evaluate()
        agendas += wire.drain().compactMap(Self.schedule)
        #expect(agendas.map(\.device).sorted() == ["LOA-1", "LOA-2", "LOA-3"])
        for a in agendas { #expect(a.plays == [m.entry!], "\(a.device)") }
        #expect(m.play == PlayKey(item: e.id, start: w.cal.date(e.item.recurrence.firstDay, e.item.recurrence.startTime)).id)
        #expect(await delivery.fanouts == 1)

        // Nothing new: nothing sent again.
        await delivery.evaluate()
        #expect(wire.drain().isEmpty)

        // Cancelled: stopped on the commune topic first, then empty agendas.
        w.clock.advance(by: 3)
        _ = try w.service.cancel(e.id, by: "hung", reason: "báo nhầm")
        try await delivery.refresh()
        await delivery.evaluate()
        let after = wire.drain()
        let cancel = try #require(after.first.flatMap(Self.emergency))
        #expect(cancel.action == .cancel && cancel.play == m.play && cancel.ts > m.ts)
        #expect(after.dropFirst().compactMap(Self.schedule).allSatisfy { $0.plays.isEmpty })
        #expect(Set(after.dropFirst().compactMap(Self.schedule).map(\.device)) == ["LOA-1", "LOA-2", "LOA-3"])
        await delivery.evaluate()
        #expect(wire.drain().isEmpty, "cancelled once")
        #expect(await delivery.fanouts == 2)
    }

    /// Logged before it is sent: the commune message goes out once its dispatch row is stored (the
    /// speakers' lines follow it); a controller stopped in between writes those lines at its next start.
    @Test func theDispatchIsStoredBeforeTheCommuneMessageAndRepairedAfterACrash() async throws {
        let (w, wire, delivery) = try await Self.world()
        let seenAtSend = Mutex<[EmergencyDispatch]?>(nil)
        let db = w.db
        wire.beforeSend.withLock {
            $0 = { topic in
                guard topic == Topics.emergency(commune: "cam-la") else { return }
                let stored = try? PlaybackRepository(db).incompleteDispatches()
                seenAtSend.withLock { if $0 == nil { $0 = stored } }
            }
        }
        let e = try w.service.sendEmergency(title: "Cảnh báo sạt lở", programme: .media(sha256: String(repeating: "a", count: 64)),
                                            target: BroadcastTarget(communes: ["cam-la"]), by: "hung")
        try await delivery.refresh()
        await delivery.evaluate()
        let key = PlayKey(item: e.id, start: w.cal.date(e.item.recurrence.firstDay, e.item.recurrence.startTime))
        let dispatch = try #require(seenAtSend.withLock { $0 }?.first, "a dispatch row was stored when the message went out")
        #expect(dispatch.key == key && dispatch.commune == "cam-la" && dispatch.speakers == ["LOA-1", "LOA-2", "LOA-3"])
        // Then the lines: complete before the evaluation ends.
        #expect(try PlaybackRepository(w.db).incompleteDispatches().isEmpty)
        let lines = try PlaybackRepository(w.db).entries(item: e.id).filter { $0.event == .scheduled }
        #expect(lines.map(\.speaker).sorted() == ["LOA-1", "LOA-2", "LOA-3"])

        // A controller killed after the message and before the lines: only the dispatch is stored.
        let other = PlayKey(item: "KC-9", start: w.clock.now())
        try PlaybackRepository(w.db).dispatch([], announcing: [EmergencyDispatch(key: other, commune: "cam-la", at: w.clock.now(),
                                                                                 speakers: ["LOA-1", "LOA-3"], detail: nil)],
                                             recordedAt: w.clock.now())
        var config = DeliveryConfiguration()
        config.mediaBaseURL = { "http://10.0.0.2:8080" }
        config.streamProbe = nil
        let restarted = BroadcastDelivery(database: w.db, publisher: Wire(), clock: w.clock, configuration: config)
        let run = Task { await restarted.run() }
        defer { run.cancel() }
        try await ObservabilityTests.waitUntil("the restarted delivery wrote the dispatch's lines") {
            try PlaybackRepository(w.db).incompleteDispatches().isEmpty
        }
        #expect(try PlaybackRepository(w.db).entries(item: "KC-9").map(\.speaker).sorted() == ["LOA-1", "LOA-3"])
        try await ObservabilityTests.waitUntil("those plays are open, to be closed by the log") { await restarted.openPlays >= 2 }
        _ = delivery
    }

    @Test func aVillageEmergencyNamesWhomItIsFor() async throws {
        let (w, wire, delivery) = try await Self.world()
        _ = try w.service.sendEmergency(title: "Sạt lở Thôn Cẩm La", programme: .media(sha256: String(repeating: "a", count: 64)),
                                        target: BroadcastTarget(villages: ["thon-cam-la"]), by: "hung")
        try await delivery.refresh()
        await delivery.evaluate()
        let sent = wire.drain()
        let m = try #require(sent.first.flatMap(Self.emergency))
        // LOA-3 (old firmware) does not listen there; LOA-2 is not targeted.
        #expect(m.speakers == ["LOA-1"] && m.except == nil)
        #expect(["LOA-1", "LOA-2", "LOA-3"].filter { m.concerns($0) } == ["LOA-1"])
        #expect(sent.compactMap(Self.schedule).map(\.device) == ["LOA-3"])
        w.clock.advance(by: 2)
        await delivery.evaluate()
        #expect(wire.drain().compactMap(Self.schedule).map(\.device) == ["LOA-1"], "LOA-2 had nothing and still has nothing")
    }

    @Test func withoutCapableSpeakersOrWhenOffEveryAgendaCarriesIt() async throws {
        for fanout in [false, true] {
            let (w, wire, delivery) = try await Self.world(fanout: fanout)
            _ = try w.service.sendEmergency(title: "Cảnh báo bão", programme: .media(sha256: String(repeating: "a", count: 64)),
                                            target: BroadcastTarget(speakers: fanout ? ["LOA-3"] : ["LOA-1", "LOA-2", "LOA-3"]), by: "hung")
            try await delivery.refresh()
            await delivery.evaluate()
            let sent = wire.drain()
            #expect(!sent.contains { $0.topic.hasSuffix("/emergency") }, "fanout \(fanout)")
            #expect(sent.allSatisfy { $0.retain } && !sent.isEmpty)
            #expect(await delivery.fanouts == 0)
        }
    }

    /// The controller hears its own commune message back on `wardfleet/v1/#`: an echo, not bad input.
    @Test func theControllerIgnoresItsOwnCommuneMessage() async throws {
        let ingestor = Ingestor(clock: ManualTimeSource(Date()), logger: Logger(label: "test"))
        let payload = ProtocolEncoder.encode(EmergencyMessage.cancel("BT-1@1796079605000", commune: "cam-la", ts: 1))
        await ingestor.ingest([MQTTMessage(topic: Topics.emergency(commune: "cam-la"), payload: payload, qos: 1)])
        #expect(await ingestor.counter(IngestCounter.commandEchoes) == 1)
        #expect(await ingestor.allCounters.keys.filter { $0.hasPrefix("rejected.") }.isEmpty)
    }
}
