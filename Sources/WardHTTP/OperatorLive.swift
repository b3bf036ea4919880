import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension OperatorAPI {
    struct CommandBody: Decodable {
        var command: String
        var volume: Int?
        var seconds: Double?
    }

    /// Sends a command through the controller's broker link and waits (10 s) for the device's
    /// acknowledgement, which the controller stores as it arrives.
    func sendCommand(_ call: Call) async throws -> Response {
        guard let publisher else { throw APIError(.serviceUnavailable, "máy chủ này không gửi lệnh / this server sends no commands") }
        let id = try call.parameter("id")
        let b = try Self.decode(CommandBody.self, call.body, allowed: ["command", "volume", "seconds"])
        guard let name = CommandName(rawValue: b.command) else {
            throw APIError(.badRequest, "command: " + CommandName.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let tree = try self.tree()
        guard let device = try DeviceRepository(database).get(id), device.removedAt == nil,
              let commune = tree.ancestor(of: device.siteID, at: .commune), call.principal!.covers(commune: commune.id) else {
            throw APIError(.notFound, "không có thiết bị / no device \(id)")
        }
        if name == .setVolume {
            guard let v = b.volume, (0...(device.config.maxVolume ?? 100)).contains(v) else {
                throw APIError(.badRequest, "volume: 0…\(device.config.maxVolume ?? 100)")
            }
        }
        if name == .testTone, let s = b.seconds, !(1...60).contains(s) { throw APIError(.badRequest, "seconds: 1…60") }
        let cmdID = "api-" + UUID().uuidString.prefix(12).lowercased()
        let now = clock.now()
        try publisher.publish(topic: TopicAddress(commune: commune.id, device: id, kind: .cmd).topic,
                              payload: ProtocolEncoder.encode(CommandMessage(cmdID: cmdID, command: name, volume: b.volume, seconds: b.seconds,
                                                                             ts: now.unixMillis, expires: now.addingTimeInterval(10).unixMillis)),
                              qos: 1, retain: false)
        try audit(call, "device.command", target: id, detail: name.rawValue + (b.volume.map { " \($0)" } ?? ""))
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let ack = try HealthQueries(database).acks(command: cmdID).first {
                return try Self.json(["command": name.rawValue, "result": ack.result, "detail": ack.detail ?? ""])
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw APIError(.gatewayTimeout, "không có xác nhận sau 10 s (thiết bị mất kết nối?) / no acknowledgement within 10 s (device offline?)")
    }

    /// Server-Sent Events: device states, alarms and playback as they change, read from storage
    /// once a second (the controller writes state changes at once), so any node can serve it.
    func events(_ call: Call) -> Response {
        let db = database
        let principal = call.principal!
        let interval = eventInterval
        let end = ContinuousClock.now + eventStreamLifetime
        let body = ResponseBody { writer in
            var states: [String: String] = [:]
            var alarms: [Int64: String] = [:]
            var playback: Int64 = (try? await db.pool.read { try Int64.fetchOne($0, sql: "SELECT max(id) FROM playback_log") }) ?? 0
            var first = true
            let tree = try? PlaceRepository(db).tree()
            let communeOf = Dictionary(((try? DeviceRepository(db).list()) ?? []).map { d in
                (d.id, tree?.ancestor(of: d.siteID, at: .commune)?.id)
            }, uniquingKeysWith: { a, _ in a })
            func send(_ event: String, _ data: some Encodable) async throws {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                e.dateEncodingStrategy = .iso8601
                e.keyEncodingStrategy = .convertToSnakeCase
                let text = "event: \(event)\ndata: \(String(decoding: try e.encode(data), as: UTF8.self))\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            struct DeviceEvent: Encodable { var id: String; var state: HealthState; var since: Date; var faults: [String] }
            struct PlaybackEvent: Encodable { var newEntries: Int64 }
            try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
            while !Task.isCancelled {
                for (id, s) in (try? HealthQueries(db).statuses()) ?? [:] where principal.covers(commune: communeOf[id] ?? nil) {
                    let key = "\(s.liveness.state.rawValue)|\(s.liveness.since.timeIntervalSince1970)"
                    if states[id] != key {
                        states[id] = key
                        if !first {
                            try await send("device", DeviceEvent(id: id, state: s.liveness.state, since: s.liveness.since,
                                                                 faults: s.liveness.faults.map(\.text)))
                        }
                    }
                }
                for a in (try? AlarmRepository(db).list(limit: 100)) ?? [] where principal.covers(commune: a.communeID) {
                    let key = "\(a.status.rawValue)|\(a.detail)"
                    if let id = a.id, alarms[id] != key {
                        alarms[id] = key
                        if !first { try await send("alarm", a) }
                    }
                }
                let latest = (try? await db.pool.read { try Int64.fetchOne($0, sql: "SELECT max(id) FROM playback_log") }) ?? 0
                if latest > playback {
                    try await send("playback", PlaybackEvent(newEntries: latest - playback))
                    playback = latest
                }
                if first {
                    first = false
                    try await send("ready", ["devices": states.count])
                } else {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                }
                guard ContinuousClock.now < end else { break }
                try await Task.sleep(for: interval)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                                               HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }
}
