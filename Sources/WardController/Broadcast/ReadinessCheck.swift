import Foundation
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

/// Storm readiness (docs/warnings.md): the loudspeakers of a commune or an area are asked for a
/// `self_test` (those online whose birth lists it; the others are judged unreachable or on their latest
/// telemetry), their answers awaited until a deadline, and the verdict made per village by the pure
/// `ReadinessReport`. Used by `wardfleet warnings readiness` (its own broker client) and by
/// `POST /api/v1/warnings/readiness` (the controller's link; answers read back from storage).
public enum ReadinessCheck {
    public struct Request: Sendable {
        /// A commune id, or an area (CAP polygons/circles, GeoJSON polygons): one of them.
        public var commune: String?
        public var area: CAPArea?
        /// A short, quiet test tone of this many seconds (1–5) with the self-test; nil: none.
        public var toneSeconds: Double?
        /// How long answers are awaited.
        public var timeout: Duration

        public init(commune: String? = nil, area: CAPArea? = nil, toneSeconds: Double? = nil, timeout: Duration = .seconds(15)) {
            self.commune = commune
            self.area = area
            self.toneSeconds = toneSeconds
            self.timeout = timeout
        }
    }

    public enum Failure: Refusal, Equatable {
        case noSuchCommune(String)
        case bothOrNeither
        case badTone(Double)
        case nothingInArea

        public var description: String {
            switch self {
            case .noSuchCommune(let c): "không có xã \(c) / no commune \(c)"
            case .bothOrNeither: "cần đúng một trong xã hoặc vùng / give a commune or an area, not both"
            case .badTone(let s): "âm thử tối đa 5 s (nhận \(s)) / the test tone is 1–5 s (got \(s))"
            case .nothingInArea: "vùng không chứa thôn hay điểm nào / the area contains no village or site"
            }
        }
    }

    /// Who is asked, and what is known of everyone, before anything is sent.
    public struct Plan: Sendable {
        public var places: [ReadinessPlace]
        public var probes: [String: SpeakerProbe]
        /// Speakers to ask, with their commune (the topic's).
        public var ask: [(device: String, commune: String)]
        public var cannotBeTargeted: [String]
        /// Every commune with a place in the plan.
        public var communes: Set<String> { Set(places.map(\.commune)) }
    }

    /// The places and speakers of the request (limited to `scope` when given: places of other communes are
    /// left out, as if not in the area; a commune outside it is no such commune).
    public static func plan(_ r: Request, database: WardDatabase, scope: Set<String>? = nil) throws -> Plan {
        guard (r.commune == nil) != (r.area == nil) else { throw Failure.bothOrNeither }
        if let t = r.toneSeconds, !(1...CommandName.selfTestMaxToneSeconds).contains(t) { throw Failure.badTone(t) }
        let tree = try PlaceRepository(database).tree()
        let devices = try DeviceRepository(database).list()
        var places: [ReadinessPlace]
        var untargetable: [String] = []
        if let c = r.commune {
            guard tree[c]?.level == .commune, scope?.contains(c) ?? true else { throw Failure.noSuchCommune(c) }
            places = ReadinessPlace.resolve(communes: [c], villages: [], sites: [], tree: tree, devices: devices)
        } else {
            let t = WarningTargets.resolve(areas: [r.area!], tree: tree)
            places = ReadinessPlace.resolve(communes: t.wholeCommunes, villages: t.villages, sites: t.sites, tree: tree, devices: devices)
            untargetable = t.untargetable.filter { u in scope == nil || u.commune.map { scope!.contains($0) } == true }.map(\.placeID)
        }
        if let scope { places = places.filter { scope.contains($0.commune) } }
        guard !places.isEmpty else { throw Failure.nothingInArea }
        let wanted = Set(places.flatMap(\.speakers))
        let statuses = try HealthQueries(database).statuses().filter { wanted.contains($0.key) }
        var probes: [String: SpeakerProbe] = [:]
        var ask: [(device: String, commune: String)] = []
        for place in places {
            for id in place.speakers {
                let s = statuses[id]
                let capable = Birth.stored(s?.birth)?.capabilities.contains(CommandName.selfTest.rawValue) ?? false
                let p = SpeakerProbe(deviceID: id, state: s?.liveness.state ?? .unknown, lastHeard: s?.liveness.lastHeard, capable: capable,
                                     latest: s?.lastTelemetry.flatMap(speakerReading))
                probes[id] = p
                if p.shouldAsk { ask.append((device: id, commune: place.commune)) }
            }
        }
        return Plan(places: places, probes: probes, ask: ask, cannotBeTargeted: untargetable)
    }

    /// The speaker object of a stored telemetry payload.
    static func speakerReading(_ payload: String) -> SpeakerReading? {
        guard let t = try? JSONDecoder().decode(TelemetryMessage.self, from: Data(payload.utf8)), let s = t.speaker else { return nil }
        return SpeakerReading(volume: s.volume, amplifierOK: s.ampOK, speakerLineOK: s.lineOK, playing: s.playing, rssi: s.rssi,
                              powerSource: s.power, batteryPercent: s.batteryPct, batteryMinutes: s.batteryMinutes)
    }

    /// Sends the self-tests (one `cmd_id` for the whole check, echoed by every speaker), awaits the answers
    /// with `collect` until `deadline` (or until all came), and makes the report.
    public static func run(_ plan: Plan, request: Request, publisher: any SchedulePublisher, clock: any TimeSource,
                           collect: @Sendable (_ cmdID: String, _ devices: Set<String>, _ deadline: ContinuousClock.Instant) async -> [String: SelfTestAnswer])
        async throws -> ReadinessReport
    {
        let cmdID = "rdy-" + UUID().uuidString.prefix(12).lowercased()
        let now = clock.now()
        let seconds = Double(request.timeout.components.seconds) + Double(request.timeout.components.attoseconds) / 1e18
        let message = CommandMessage(cmdID: cmdID, command: .selfTest, ts: now.unixMillis,
                                     expires: now.addingTimeInterval(seconds).unixMillis, toneSeconds: request.toneSeconds)
        let payload = ProtocolEncoder.encode(message)
        let deadline = ContinuousClock.now + request.timeout
        var sent = Set<String>()
        for (device, commune) in plan.ask {
            do {
                try publisher.publish(topic: TopicAddress(commune: commune, device: device, kind: .cmd).topic, payload: payload, qos: 1, retain: false)
                sent.insert(device)
            } catch {
                continue  // not sent: it stays without an answer
            }
        }
        let answers = sent.isEmpty ? [:] : await collect(cmdID, sent, deadline)
        var probes = plan.probes
        for (id, a) in answers where sent.contains(id) { probes[id]?.answer = a }
        return ReadinessReport(at: clock.now(), places: plan.places, probes: probes, asked: sent.count, cannotBeTargeted: plan.cannotBeTargeted)
    }

    /// Answers read back from storage, where the controller writes acknowledgements as they come (the API's way).
    public static func storedAnswers(_ database: WardDatabase, cmdID: String, devices: Set<String>, until deadline: ContinuousClock.Instant)
        async -> [String: SelfTestAnswer]
    {
        var out: [String: SelfTestAnswer] = [:]
        while true {
            for a in (try? HealthQueries(database).acks(command: cmdID)) ?? [] where devices.contains(a.deviceID) && out[a.deviceID] == nil {
                out[a.deviceID] = SelfTestAnswer(result: a.result, detail: a.detail, findings: SelfTestFindings.stored(a.report), at: a.receivedAt)
            }
            if out.count >= devices.count || ContinuousClock.now >= deadline { return out }
            await ChangeSignal.acks.wait(upTo: .milliseconds(100))  // the poll covers a controller in another process
        }
    }

    /// Answers heard directly on the broker (the CLI's way): only acknowledgements the controller itself would
    /// accept (the same strict decoder, the device's own topic) count.
    public static func brokerAnswers(_ client: MQTTClient, cmdID: String, devices: Set<String>, until deadline: ContinuousClock.Instant)
        async -> [String: SelfTestAnswer]
    {
        let collected = Task<[String: SelfTestAnswer], Never> {
            let decoder = ProtocolDecoder()
            var out: [String: SelfTestAnswer] = [:]
            for await m in client.messages {
                let parts = m.topic.split(separator: "/")
                guard parts.count == 5 else { continue }
                let device = String(parts[3])
                guard devices.contains(device), out[device] == nil,
                      let a = decoder.acknowledgement(of: cmdID, by: device, topic: m.topic, payload: m.payload, now: Date()) else { continue }
                out[device] = SelfTestAnswer(result: a.result.rawValue, detail: a.detail, findings: a.selfTest, at: Date())
                if out.count >= devices.count { break }
            }
            return out
        }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            client.disconnect()  // ends the message stream
        }
        let out = await collected.value
        timer.cancel()
        return out
    }
}
