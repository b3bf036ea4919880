import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import WardController
import WardDomain
import WardProtocol
import WardStorage

/// Devices told to reboot (acknowledged) that have not come back with a new boot: a command to one
/// would wait its 10 s for nothing. Kept in this process, for two minutes at most.
final class AwaitedRestarts: Sendable {
    private let waiting = Mutex<[String: (boot: String?, until: ContinuousClock.Instant)]>([:])

    func expect(_ device: String, boot: String?) {
        waiting.withLock { $0[device] = (boot, .now + .seconds(120)) }
    }

    /// Whether `device`, now on `boot`, is still the one told to reboot.
    func awaited(_ device: String, boot: String?) -> Bool {
        waiting.withLock { w in
            guard let r = w[device] else { return false }
            guard r.boot == boot, ContinuousClock.now < r.until else {
                w[device] = nil
                return false
            }
            return true
        }
    }
}

extension OperatorAPI {
    struct CommandBody: Decodable {
        var command: String
        var volume: Int?
        var seconds: Double?
        var toneSeconds: Double?
    }

    struct CommandAnswer: Encodable {
        var command: String
        var result: String
        var detail: String
        /// `self_test`: what the speaker found.
        var selfTest: SelfTestFindings?
    }

    /// Sends a command through the controller's broker link and waits (10 s) for the device's
    /// acknowledgement, which the controller stores as it arrives (and signals, in this process).
    func sendCommand(_ call: Call) async throws -> Response {
        guard let publisher else { throw APIError(.serviceUnavailable, "máy chủ này không gửi lệnh / this server sends no commands") }
        let id = try call.parameter("id")
        let b = try Self.decode(CommandBody.self, call.body, allowed: ["command", "volume", "seconds", "tone_seconds"])
        guard let name = CommandName(rawValue: b.command) else {
            throw APIError(.badRequest, "command: " + CommandName.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let v = b.volume, !(0...100).contains(v) { throw APIError(.badRequest, "volume: âm lượng 0…100 / volume 0…100") }
        if let s = b.seconds, !(1...60).contains(s) { throw APIError(.badRequest, "seconds: 1…60") }
        if let s = b.toneSeconds, !(1...CommandName.selfTestMaxToneSeconds).contains(s) { throw APIError(.badRequest, "tone_seconds: 1…5") }
        let (device, place, _) = try scopedDevice(call, active: true)
        guard let commune = place else { throw APIError(.notFound, "không có thiết bị \(id) / no device \(id)") }
        // Not sent when the device would not execute it (class, or the capabilities of its birth).
        if let refusal = CommandRefusal.check(name, device: id, deviceClass: device.deviceClass,
                                              birth: try HealthQueries(database).statuses(only: id)[id]?.birth) {
            throw APIError(.unprocessableContent, refusal.description, code: APIError.code(of: refusal, fallback: "refused"))
        }
        if name == .setVolume {
            // Needed for this command, and the device's own limit: well formed, refused by the rule.
            guard let v = b.volume, (0...(device.config.maxVolume ?? 100)).contains(v) else {
                throw APIError(.unprocessableContent, "volume: âm lượng tối đa của thiết bị là \(device.config.maxVolume ?? 100) / at most the device's maximum, \(device.config.maxVolume ?? 100)")
            }
        }
        let liveness = try HealthQueries(database).statuses(only: id)[id]?.liveness
        if let why = (liveness?.state ?? .unknown).commandRefusal(device: id) { throw APIError(.conflict, why) }
        // Told to reboot and not back with a new boot yet: its stored state is still the old one.
        if restarts.awaited(id, boot: liveness?.bootID) {
            throw APIError(.conflict, "\(id) đang khởi động lại; thử lại khi thiết bị kết nối lại / \(id) is restarting; try again once it is back")
        }
        let cmdID = "api-" + UUID().uuidString.prefix(12).lowercased()
        let now = clock.now()
        try publisher.publish(topic: TopicAddress(commune: commune.id, device: id, kind: .cmd).topic,
                              payload: ProtocolEncoder.encode(CommandMessage(cmdID: cmdID, command: name, volume: b.volume, seconds: b.seconds,
                                                                             ts: now.unixMillis, expires: now.addingTimeInterval(10).unixMillis,
                                                                             toneSeconds: name == .selfTest ? b.toneSeconds : nil)),
                              qos: 1, retain: false)
        try audit(call, "device.command", target: id, detail: name.rawValue + (b.volume.map { " \($0)" } ?? ""))
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let ack = try HealthQueries(database).acks(command: cmdID, device: id).first {
                if name == .reboot { restarts.expect(id, boot: liveness?.bootID) }
                return try Self.json(CommandAnswer(command: name.rawValue, result: ack.result, detail: ack.detail ?? "",
                                                   selfTest: SelfTestFindings.stored(ack.report)))
            }
            await ChangeSignal.acks.wait(upTo: .milliseconds(100))  // the poll covers a controller in another process
        }
        throw APIError(.gatewayTimeout, "không có xác nhận sau 10 s (thiết bị mất kết nối?) / no acknowledgement within 10 s (device offline?)")
    }

    /// Server-Sent Events: device states, alarms and playback as they change. One shared
    /// `LiveFeed` reads storage for all open consoles; each stream only filters by commune.
    func events(_ call: Call) -> Response {
        let principal = call.principal!
        let end = ContinuousClock.now + eventStreamLifetime
        let (id, stream) = feed.subscribe(database: database, interval: eventInterval)
        let feed = self.feed
        let body = ResponseBody { writer in
            defer { feed.unsubscribe(id) }
            try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
            for await e in stream {
                if let c = e.commune, !principal.covers(commune: c) { continue }
                try await writer.write(ByteBuffer(string: e.text))
                if ContinuousClock.now >= end { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                                               HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }
}

/// Reads what changed (device states, alarms, new playback lines) once per interval while any
/// console listens, and hands the same events to every listener.
final class LiveFeed: Sendable {
    struct Event: Sendable {
        /// Listeners limited to communes see it only when it is theirs; nil: everyone.
        var commune: String??
        var text: String
    }

    private struct State {
        var listeners: [UUID: AsyncStream<Event>.Continuation] = [:]
        var poller: Task<Void, Never>?
        /// Looks at storage made so far (what a change is measured against): tests wait on it, not on time.
        var looks = 0
    }
    private let state = Mutex(State())

    /// How many consoles listen, and how many looks the poller has made.
    var progress: (listeners: Int, looks: Int) { state.withLock { ($0.listeners.count, $0.looks) } }

    func subscribe(database: WardDatabase, interval: Duration) -> (UUID, AsyncStream<Event>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1000))
        continuation.yield(Event(commune: nil, text: "event: ready\ndata: {}\n\n"))
        state.withLock { s in
            s.listeners[id] = continuation
            if s.poller == nil { s.poller = Task { [weak self] in await self?.poll(database, every: interval) } }
        }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        state.withLock { s in
            s.listeners.removeValue(forKey: id)?.finish()
            if s.listeners.isEmpty {
                s.poller?.cancel()
                s.poller = nil
            }
        }
    }

    private func send(_ e: Event) {
        for c in state.withLock({ Array($0.listeners.values) }) { c.yield(e) }
    }

    static func event(_ name: String, _ data: some Encodable) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase
        return "event: \(name)\ndata: \(String(decoding: (try? e.encode(data)) ?? Data("{}".utf8), as: UTF8.self))\n\n"
    }

    private func poll(_ db: WardDatabase, every interval: Duration) async {
        struct DeviceEvent: Encodable { var id: String; var state: HealthState; var since: Date; var faults: [String]; var reasons: [Fault] }
        /// New playback lines for a commune, and the items they are of (to refetch their delivery).
        struct PlaybackEvent: Encodable { var newEntries: Int64; var items: [String] }
        var states: [String: String] = [:], alarms: [Int64: String] = [:]
        var playback: Int64 = 0
        var communeOf: [String: String?] = [:]
        var first = true
        var firmware = FirmwareWatch()
        while !Task.isCancelled {
            if first || communeOf.isEmpty {
                let tree = try? PlaceRepository(db).tree()
                communeOf = Dictionary(((try? DeviceRepository(db).list()) ?? []).map { ($0.id, tree?.ancestor(of: $0.siteID, at: .commune)?.id) },
                                       uniquingKeysWith: { a, _ in a })
            }
            for (id, s) in (try? HealthQueries(db).statuses()) ?? [:] {
                let key = "\(s.liveness.state.rawValue)|\(s.liveness.since.timeIntervalSince1970)"
                guard states.updateValue(key, forKey: id) != key, !first else { continue }
                if communeOf[id] == nil { communeOf = [:] }  // a new device: re-read the registry next time
                send(Event(commune: .some(communeOf[id] ?? nil), text: Self.event("device", DeviceEvent(
                    id: id, state: s.liveness.state, since: s.liveness.since, faults: s.liveness.faults.map(\.text), reasons: s.liveness.faults))))
            }
            for a in (try? AlarmRepository(db).list(limit: 100)) ?? [] {
                let key = "\(a.status.rawValue)|\(a.detail)"
                guard let id = a.id, alarms.updateValue(key, forKey: id) != key, !first else { continue }
                send(Event(commune: .some(a.communeID), text: Self.event("alarm", a)))
            }
            // New playback lines, counted per commune of their speakers: each console hears of its own.
            let since = playback
            if first { playback = (try? db.store.read { try Int64.fetchOne($0, sql: "SELECT max(id) FROM playback_log") } ?? 0) ?? 0 }
            var fresh: [(speaker: String, item: String, n: Int64, last: Int64)] = []
            if !first {
                fresh = (try? db.store.read { db in
                    try SQLRow.fetchAll(db, sql: """
                        SELECT speaker_id, item_id, count(*) AS n, max(id) AS last FROM playback_log WHERE id > ? GROUP BY speaker_id, item_id
                        """, arguments: [since]).map {
                        (speaker: $0["speaker_id"] as String, item: $0["item_id"] as String, n: $0["n"] as Int64, last: $0["last"] as Int64)
                    }
                }) ?? []
            }
            if !first {
                var perCommune: [String?: (n: Int64, items: Set<String>)] = [:]
                for f in fresh {
                    perCommune[communeOf[f.speaker] ?? nil, default: (0, [])].n += f.n
                    perCommune[communeOf[f.speaker] ?? nil, default: (0, [])].items.insert(f.item)
                }
                for (commune, p) in perCommune {
                    send(Event(commune: .some(commune), text: Self.event("playback", PlaybackEvent(newEntries: p.n, items: p.items.sorted()))))
                }
            }
            playback = max(playback, fresh.map(\.last).max() ?? playback)
            if let changed = try? firmware.changes(db), !first {
                for id in changed {
                    for commune in (try? firmware.communes(of: id, db, communeOf: communeOf)) ?? [] {
                        send(Event(commune: .some(commune), text: Self.event("firmware", ["campaign": id])))
                    }
                }
            }
            if !first { send(Event(commune: nil, text: ": keep-alive\n\n")) }
            first = false
            state.withLock { $0.looks += 1 }
            try? await Task.sleep(for: interval)
        }
    }
}


/// Which firmware campaigns changed (state, or any job's state) since the last look: those not over, those
/// with orders still out, and those that were one of these last time (so their last change is seen).
struct FirmwareWatch {
    private var keys: [Int64: String] = [:]
    private var followed: Set<Int64> = []
    private var devices: [Int64: [String]] = [:]

    mutating func changes(_ db: WardDatabase) throws -> [Int64] {
        let rows = try db.store.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT id, state, updated_at FROM firmware_campaigns WHERE state IN ('awaiting_approval', 'running', 'paused')
                    OR id IN (SELECT campaign_id FROM firmware_jobs WHERE state IN ('notified', 'downloading', 'verifying', 'installing', 'rebooting'))
                """).map { ($0["id"] as Int64, "\($0["state"] as String)|\($0["updated_at"] as Int64)") }
        }
        var watch = Dictionary(rows, uniquingKeysWith: { a, _ in a })
        let extra = followed.subtracting(watch.keys)
        if !extra.isEmpty {
            let list = extra.map(String.init).joined(separator: ",")
            for (id, key) in try db.store.read({ db in
                try SQLRow.fetchAll(db, sql: "SELECT id, state, updated_at FROM firmware_campaigns WHERE id IN (\(list))")
                    .map { ($0["id"] as Int64, "\($0["state"] as String)|\($0["updated_at"] as Int64)") }
            }) { watch[id] = key }
        }
        guard !watch.isEmpty else {
            followed = []
            return []
        }
        let list = watch.keys.map(String.init).joined(separator: ",")
        let jobs = try db.store.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT campaign_id, state, count(*) AS n, max(updated_at) AS u FROM firmware_jobs WHERE campaign_id IN (\(list))
                GROUP BY campaign_id, state ORDER BY campaign_id, state
                """).map { ($0["campaign_id"] as Int64, "\($0["state"] as String)=\($0["n"] as Int64)@\($0["u"] as Int64)") }
        }
        for (id, part) in jobs { watch[id, default: ""] += ";" + part }
        var changed: [Int64] = []
        for (id, key) in watch.sorted(by: { $0.key < $1.key }) where keys.updateValue(key, forKey: id) != key { changed.append(id) }
        followed = Set(watch.keys)
        return changed
    }

    /// The communes of a campaign's devices (nil for a device outside any commune).
    mutating func communes(of id: Int64, _ db: WardDatabase, communeOf: [String: String?]) throws -> Set<String?> {
        if devices[id] == nil {
            devices[id] = try db.store.read { try String.fetchAll($0, sql: "SELECT device_id FROM firmware_jobs WHERE campaign_id = ?", arguments: [id]) }
        }
        return Set((devices[id] ?? []).map { communeOf[$0] ?? nil })
    }
}
