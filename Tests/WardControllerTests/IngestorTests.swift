import Foundation
import Logging
import MQTTClient
import Testing
import WardDomain
import WardProtocol
import WardStorage
@testable import WardController

/// The ingest path on a manual clock: exact times, no broker, no sleeps.
@Suite struct IngestorTests {
    let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    func setUp(sampleInterval: TimeInterval = 60, statusInterval: TimeInterval = 5) async throws -> (Ingestor, ManualTimeSource) {
        let clock = ManualTimeSource(t0)
        var settings = IngestSettings()
        settings.sampleInterval = sampleInterval
        settings.statusInterval = statusInterval
        let ingestor = Ingestor(clock: clock, settings: settings, logger: Logger(label: "test"))
        let tree = try PlaceTree([
            Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
            Place(id: "cl", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
            Place(id: "v", level: .village, name: "Thôn Cẩm La", parentID: "cl"),
            Place(id: "s", level: .site, name: "Nhà văn hóa", parentID: "v", siteKind: .culturalHouse),
        ])
        await ingestor.updateRegistry(tree: tree, devices: [
            Device(id: "LOA-1", deviceClass: .speaker, siteID: "s", registeredAt: t0),
            Device(id: "CAM-1", deviceClass: .camera, siteID: "s", registeredAt: t0),
        ])
        return (ingestor, clock)
    }

    func msg(_ device: String, _ kind: MessageKind, _ value: some Encodable, retained: Bool = false) -> MQTTMessage {
        MQTTMessage(topic: TopicAddress(commune: "cl", device: device, kind: kind).topic,
                    payload: ProtocolEncoder.encode(value), retained: retained)
    }

    func birth(_ device: String = "LOA-1", cls: DeviceClass = .speaker, heartbeat: Double = 10, boot: String = "b1") -> Birth {
        Birth(device: device, deviceClass: cls, model: "m", firmware: "f", capabilities: [], heartbeatSeconds: heartbeat,
              boot: boot, ts: t0.unixMillis)
    }

    func telemetry(_ device: String = "LOA-1", seq: UInt64, amp: Bool = true, boot: String = "b1", at: Date) -> TelemetryMessage {
        TelemetryMessage(device: device, boot: boot, seq: seq, ts: at.unixMillis, speaker: SpeakerFields(
            volume: 50, ampOK: amp, lineOK: true, playing: false, rssi: -70, power: .mains, batteryPct: nil))
    }

    @Test func aFloodingDeviceIsRateLimitedCountedAndFlagged() async throws {
        let (ing, clock) = try await setUp()
        await ing.ingest([msg("LOA-1", .birth, birth()), msg("CAM-1", .birth, birth("CAM-1", cls: .camera))])
        clock.advance(by: 1)
        // 400 readings at one instant: the full burst of 200 passes (the birth's token came back in the second since), the rest is dropped unread.
        await ing.ingest((1...400).map { msg("LOA-1", .telemetry, telemetry(seq: UInt64($0), at: t0 + 1)) })
        #expect(await ing.counter(IngestCounter.rejected(.rateLimited)) == 200)
        let obs = await ing.observations()
        #expect(obs.first { $0.deviceID == "LOA-1" }?.recentDrops == 200)
        #expect(obs.first { $0.deviceID == "CAM-1" }?.recentDrops == 0)  // the others are untouched
        #expect(AlarmConditions.of(obs.first { $0.deviceID == "LOA-1" }!, rules: .defaults, now: clock.now())[.flooding] != nil)
        // A flood is not listed message by message.
        #expect(await ing.takeBatch().rejections.isEmpty)
    }

    @Test func registrationOpensUnknownIntervalsAndBirthMakesOK() async throws {
        let (ing, clock) = try await setUp()
        let first = await ing.takeBatch()
        #expect(first.changes.map(\.deviceID).sorted() == ["CAM-1", "LOA-1"])
        #expect(first.changes.allSatisfy { $0.to == .unknown && $0.at == t0 })
        clock.advance(by: 2)
        await ing.ingest([msg("LOA-1", .birth, birth())])
        let b = await ing.takeBatch()
        #expect(b.changes == [StateChange(deviceID: "LOA-1", from: .unknown, to: .ok, faults: [], at: t0 + 2)])
        #expect(b.statuses.map(\.deviceID) == ["LOA-1"])  // changed devices are written back at once
        #expect(b.statuses.first?.birth?.contains("\"heartbeat_s\":10") == true)
    }

    @Test func silenceIsDatedAtTheDeadlineWhateverTheSweepTime() async throws {
        let (ing, clock) = try await setUp()
        await ing.ingest([msg("LOA-1", .birth, birth(heartbeat: 10))])
        clock.advance(by: 4)
        await ing.ingest([msg("LOA-1", .telemetry, telemetry(seq: 1, at: clock.now()))])
        clock.advance(by: 14.9)  // 4 + 14.9 < 4 + 15
        #expect(await ing.sweep().isEmpty)
        clock.advance(by: 60)
        let changes = await ing.sweep()
        #expect(changes.map(\.at) == [t0 + 4 + 15] && changes.map(\.to) == [.offline])
    }

    @Test func samplesAreStoredOncePerIntervalAndAtEveryChange() async throws {
        let (ing, clock) = try await setUp(sampleInterval: 60)
        await ing.ingest([msg("LOA-1", .birth, birth())])
        _ = await ing.takeBatch()
        var seq: UInt64 = 0
        var stored: [Date] = []
        for i in 0..<13 {  // one message every 10 s for 120 s; amplifier fails at 70 s
            seq += 1
            await ing.ingest([msg("LOA-1", .telemetry, telemetry(seq: seq, amp: i != 7, at: clock.now()))])
            stored += await ing.takeBatch().samples.map(\.receivedAt)
            clock.advance(by: 10)
        }
        // First message; a minute later; the fault at 70 s; the recovery at 80 s. The next
        // one would be due at 140 s, after the last message.
        #expect(stored == [t0, t0 + 60, t0 + 70, t0 + 80])
    }

    @Test func statusRowsWaitForTheirIntervalUnlessTheStateChanged() async throws {
        let (ing, clock) = try await setUp(statusInterval: 5)
        await ing.ingest([msg("LOA-1", .birth, birth())])
        _ = await ing.takeBatch()
        clock.advance(by: 1)
        await ing.ingest([msg("LOA-1", .telemetry, telemetry(seq: 1, at: clock.now()))])
        #expect(await ing.takeBatch().statuses.isEmpty)
        clock.advance(by: 5)
        let due = await ing.takeBatch()
        #expect(due.statuses.map(\.deviceID) == ["LOA-1"] && due.statuses.first?.liveness.lastSeq == 1)
        #expect(due.counters["processed"] == 2 && due.aliveAt == clock.now())
    }

    @Test func rejectionsAreCountedByReasonAndRecorded() async throws {
        let (ing, clock) = try await setUp()
        await ing.ingest([msg("LOA-1", .birth, birth())])
        let bad: [MQTTMessage] = [
            MQTTMessage(topic: "wardfleet/v1/cl/LOA-1/telemetry", payload: Array("{oops".utf8)),
            MQTTMessage(topic: "wardfleet/v1/cl/LOA-1/nonsense", payload: []),
            msg("LOA-1", .birth, birth(cls: .camera)),                                        // class mismatch
            MQTTMessage(topic: "wardfleet/v1/other/LOA-1/telemetry",
                        payload: ProtocolEncoder.encode(telemetry(seq: 1, at: clock.now()))),  // wrong commune
            msg("LOA-1", .telemetry, telemetry(seq: 5, at: clock.now())),
            msg("LOA-1", .telemetry, telemetry(seq: 5, at: clock.now())),                      // replay
        ]
        await ing.ingest(bad)
        for r: RejectReason in [.malformedJSON, .unknownTopic, .classMismatch, .identityMismatch, .replayedSequence] {
            #expect(await ing.counter(IngestCounter.rejected(r)) == 1, "\(r)")
        }
        #expect(await ing.counter(IngestCounter.processed) == 2)
        #expect(await ing.takeBatch().rejections.count == 5)
        #expect(await ing.liveness("LOA-1")?.lastSeq == 5)
    }

    /// Places are held as numbers renumbered with each registry: a device moved to another commune
    /// is known there at once, and its old commune's topic is refused as another commune's.
    @Test func aDeviceMovedToAnotherCommuneIsKnownThereOnly() async throws {
        let (ing, clock) = try await setUp()
        await ing.ingest([msg("LOA-1", .birth, birth()), msg("CAM-1", .birth, birth("CAM-1", cls: .camera))])
        #expect(await ing.observations().first { $0.deviceID == "LOA-1" }.map { [$0.communeID, $0.villageID] } == ["cl", "v"])
        let tree = try PlaceTree([
            Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
            Place(id: "ht", level: .commune, name: "Xã Hạ Long", parentID: "qn"),
            Place(id: "v2", level: .village, name: "Thôn Đông", parentID: "ht"),
            Place(id: "s2", level: .site, name: "Cột loa", parentID: "v2", siteKind: .pole),
            Place(id: "cl", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
            Place(id: "s", level: .site, name: "UBND xã", parentID: "cl", siteKind: .communeOffice),
        ])
        await ing.updateRegistry(tree: tree, devices: [
            Device(id: "LOA-1", deviceClass: .speaker, siteID: "s2", registeredAt: t0),
            Device(id: "CAM-1", deviceClass: .camera, siteID: "s", registeredAt: t0),
        ])
        let obs = await ing.observations()
        #expect(obs.first { $0.deviceID == "LOA-1" }.map { [$0.communeID, $0.villageID] } == ["ht", "v2"])
        #expect(obs.first { $0.deviceID == "CAM-1" }.map { [$0.communeID, $0.villageID] } == ["cl", nil])  // no village now
        _ = await ing.takeBatch()
        clock.advance(by: 1)
        await ing.ingest([msg("LOA-1", .telemetry, telemetry(seq: 1, at: t0 + 1))])  // on its old commune's topic
        #expect(await ing.counter(IngestCounter.rejected(.identityMismatch)) == 1)
        #expect(await ing.takeBatch().rejections.first?.detail.contains("belongs to commune ht") == true)
        await ing.ingest([MQTTMessage(topic: TopicAddress(commune: "ht", device: "LOA-1", kind: .telemetry).topic,
                                      payload: ProtocolEncoder.encode(telemetry(seq: 2, at: t0 + 1)))])
        #expect(await ing.counter(IngestCounter.rejected(.identityMismatch)) == 1)
        #expect(await ing.liveness("LOA-1")?.lastSeq == 2)
    }

    @Test func unregisteredDevicesArePendingWithTheirBirth() async throws {
        let (ing, _) = try await setUp()
        await ing.ingest([msg("NEW-9", .birth, birth("NEW-9")), msg("NEW-9", .telemetry, telemetry("NEW-9", seq: 1, at: t0))])
        let b = await ing.takeBatch()
        #expect(b.pending.map(\.deviceID) == ["NEW-9", "NEW-9"])
        #expect(b.pending.first?.deviceClass == "speaker" && b.pending.first?.communeID == "cl")
        #expect(await ing.liveness("NEW-9") == nil)
        #expect(await ing.counter(IngestCounter.pendingMessages) == 2)
    }

    /// Issue 13 (3e): a device that connected just before its registration lost its birth and
    /// stayed unknown. Registered, it is tracked from what it said while pending.
    @Test func aDeviceRegisteredAfterItConnectedIsTrackedFromItsBirth() async throws {
        let (ing, clock) = try await setUp()
        await ing.ingest([msg("NEW-9", .birth, birth("NEW-9", heartbeat: 20, boot: "nb")),
                          msg("NEW-9", .state, StateMessage(device: "NEW-9", state: .online, boot: "nb", reason: nil, ts: nil))])
        #expect(await ing.liveness("NEW-9") == nil)
        clock.advance(by: 1)
        let tree = try PlaceTree([
            Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
            Place(id: "cl", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
            Place(id: "v", level: .village, name: "Thôn Cẩm La", parentID: "cl"),
            Place(id: "s", level: .site, name: "Nhà văn hóa", parentID: "v", siteKind: .culturalHouse),
        ])
        await ing.updateRegistry(tree: tree, devices: [
            Device(id: "LOA-1", deviceClass: .speaker, siteID: "s", registeredAt: t0),
            Device(id: "CAM-1", deviceClass: .camera, siteID: "s", registeredAt: t0),
            Device(id: "NEW-9", deviceClass: .speaker, siteID: "s", registeredAt: t0 + 1),
        ])
        let l = await ing.liveness("NEW-9")
        #expect(l?.state == .ok && l?.bootID == "nb" && l?.heartbeat == 20)
        let b = await ing.takeBatch()
        #expect(b.statuses.first { $0.deviceID == "NEW-9" }?.birth?.contains("\"heartbeat_s\":20") == true)
        #expect(b.settledPending == ["NEW-9"])
    }

    /// Issue 13 (3d): an event of a type this controller does not know is counted as ignored,
    /// not as a rejection; its sequence number still counts.
    @Test func unknownEventTypesAreCountedAsIgnored() async throws {
        let (ing, clock) = try await setUp()
        await ing.ingest([msg("LOA-1", .birth, birth())])
        let json = "{\"v\":1,\"device\":\"LOA-1\",\"boot\":\"b1\",\"seq\":3,\"ts\":\(clock.now().unixMillis),\"event\":\"door_opened\"}"
        let m = MQTTMessage(topic: "wardfleet/v1/cl/LOA-1/event", payload: Array(json.utf8))
        await ing.ingest([m])
        #expect(await ing.counter("ignored.unknown_event") == 1)
        #expect(await ing.allCounters.filter { $0.key.hasPrefix("rejected.") }.values.reduce(0, +) == 0)
        #expect(await ing.takeBatch().rejections.isEmpty)
        await ing.ingest([m])  // a redelivery: the same seq, dropped as a duplicate, not bad input
        #expect(await ing.counter("ignored.duplicate_event") == 1)
        #expect(await ing.counter("rejected.replayed_sequence") == 0)
    }

    /// Retained births and "online" states are history: a device without a Last Will that died
    /// while the controller was down still has them at the broker (found by a vendor's test: it
    /// showed ok after every restart). It is unknown until heard; a retained Will is taken.
    @Test func retainedBirthAndOnlineStateAreNoSignOfLife() async throws {
        let (ing, _) = try await setUp()
        await ing.ingest([msg("LOA-1", .birth, birth(heartbeat: 3), retained: true)])
        #expect(await ing.liveness("LOA-1")?.state == .unknown)
        #expect(await ing.liveness("LOA-1")?.heartbeat == 3)
        await ing.ingest([msg("LOA-1", .state, StateMessage(device: "LOA-1", state: .online, boot: "b1", reason: nil, ts: nil),
                              retained: true)])
        #expect(await ing.liveness("LOA-1")?.state == .unknown)
        await ing.ingest([msg("LOA-1", .state, StateMessage(device: "LOA-1", state: .offline, boot: "b1", reason: .will, ts: nil),
                              retained: true)])
        #expect(await ing.liveness("LOA-1")?.state == .offline)
    }

    @Test func queueOverflowIsCountedAsRejection() async throws {
        let (ing, _) = try await setUp()
        let q = InboundQueue(capacity: 2)
        for i in 0..<5 { q.offer(MQTTMessage(topic: "t\(i)", payload: [])) }
        await ing.sweep(queue: q)
        #expect(await ing.counter(IngestCounter.rejected(.queueOverflow)) == 3)
        await ing.sweep(queue: q)  // counted once, not again
        #expect(await ing.counter(IngestCounter.rejected(.queueOverflow)) == 3)
    }
}

@Suite struct InboundQueueTests {
    @Test func boundedDropsAndBatches() async {
        let q = InboundQueue(capacity: 3)
        #expect((0..<5).map { q.offer(MQTTMessage(topic: "\($0)", payload: [])) } == [true, true, true, false, false])
        #expect(q.counts.accepted == 3 && q.counts.dropped == 2)
        #expect(await q.nextBatch()?.map(\.topic) == ["0", "1", "2"])
        q.offer(MQTTMessage(topic: "5", payload: []))
        q.finish()
        #expect(await q.nextBatch()?.map(\.topic) == ["5"])
        #expect(await q.nextBatch() == nil)
    }

    @Test func aWaitingConsumerIsWokenByTheProducer() async {
        let q = InboundQueue(capacity: 10)
        async let batch = q.nextBatch()
        let producer = Thread { q.offer(MQTTMessage(topic: "x", payload: [1])) }
        producer.start()
        #expect(await batch?.first?.payload == [1])
    }

    @Test func cancellingAWaitingConsumerEndsItsWait() async {
        let q = InboundQueue(capacity: 10)
        let t = Task { await q.nextBatch() }
        t.cancel()
        #expect(await t.value == nil)
    }
}
