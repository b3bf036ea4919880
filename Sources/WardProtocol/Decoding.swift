import Foundation
import WardDomain

/// Why an inbound message was refused. Raw values are the counter names shown to technicians.
public enum RejectReason: String, Sendable, CaseIterable, Codable, Comparable {
    case unknownTopic = "unknown_topic"
    case oversize
    case malformedJSON = "malformed_json"
    /// Not valid UTF-8 (raw bytes, or an escaped lone surrogate): one rule for every kind.
    case invalidUTF8 = "invalid_utf8"
    case invalidField = "invalid_field"
    case outOfRange = "out_of_range"
    case unsupportedVersion = "unsupported_version"
    case identityMismatch = "identity_mismatch"
    case classMismatch = "class_mismatch"
    case replayedSequence = "replayed_sequence"
    case staleBoot = "stale_boot"
    case queueOverflow = "queue_overflow"
    case nestingTooDeep = "nesting_too_deep"
    /// A device sent more than its message budget; the excess was dropped unread.
    case rateLimited = "rate_limited"
    /// A playback report for a play the controller never sent to that speaker.
    case unknownPlay = "unknown_play"
    /// An `ota_report` for an update order the controller never sent to that device.
    case unknownJob = "unknown_job"

    public static func < (a: RejectReason, b: RejectReason) -> Bool { a.rawValue < b.rawValue }

    public init(_ r: LivenessRejection) {
        switch r {
        case .replayedSequence: self = .replayedSequence
        case .classMismatch: self = .classMismatch
        case .staleBoot: self = .staleBoot
        }
    }
}

public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: RejectReason
    public var detail: String
    public init(_ reason: RejectReason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
    public var description: String { "\(reason.rawValue): \(detail)" }
}

public struct BirthInfo: Sendable, Hashable {
    public var device: String
    public var deviceClass: DeviceClass
    public var model: String
    public var firmware: String
    public var capabilities: [String]
    public var heartbeat: TimeInterval
    public var boot: String
    public var raw: Birth
}

public struct TelemetrySample: Sendable, Hashable {
    public var device: String
    public var boot: String
    public var seq: UInt64
    public var deviceTime: Date
    public var reading: Reading
}

public struct DeviceEvent: Sendable, Hashable {
    public var device: String
    public var boot: String
    public var seq: UInt64
    public var deviceTime: Date
    public var type: EventType
    public var ticket: String?
    public var waitSeconds: Double?
    public var rating: SatisfactionLevel?
    public var detail: String?
}

public enum Inbound: Sendable, Hashable {
    case birth(BirthInfo)
    case state(StateMessage)
    case telemetry(TelemetrySample)
    case event(DeviceEvent)
    case ack(AckMessage)
    /// A well-formed event of a type this controller does not know (a newer v1 device):
    /// checked like any event (its sequence counts), then counted as ignored, not rejected.
    case unknownEvent(type: String, boot: String, seq: UInt64)
    /// One report, or several made at the same moment (in the order sent).
    case playback([PlaybackEntry], boot: String)
    /// A controller → device message (command, schedule) seen on the shared tree; not for the controller.
    case command
    /// What a device made of a configuration version (protocol §10).
    case configReport(ConfigReportInfo)
    /// Whether a device stored a rotated password (protocol §11).
    case credentialsReport(CredentialsReportInfo)
    /// Progress of a firmware update order (protocol §9).
    case otaReport(OTAReportInfo)
}

public struct DecodedMessage: Sendable, Hashable {
    public var address: TopicAddress
    public var inbound: Inbound
}

/// Strict decoder for protocol v1. Not thread-safe: one per consuming task.
public final class ProtocolDecoder {
    private let json = JSONDecoder()
    /// Device clocks may drift; beyond this they are refused rather than trusted.
    public var maxClockAheadSeconds: TimeInterval = 86_400
    public static let earliestValidTime = Date(timeIntervalSince1970: 1_577_836_800)  // 2020-01-01
    /// Off only in tests, which check that both readers of playback reports give the same answers.
    var usesPlaybackFastPath = true

    public init() {}

    public func decode(topic: String, payload: some Collection<UInt8> & ContiguousBytes, now: Date)
        -> Result<DecodedMessage, Rejection>
    {
        decode(address: Topics.parse(topic), topic: topic, payload: payload, now: now)
    }

    /// As `decode(topic:…)`, with the topic already parsed by the caller (nil: not a v1 topic).
    public func decode(address: TopicAddress?, topic: String, payload: some Collection<UInt8> & ContiguousBytes, now: Date)
        -> Result<DecodedMessage, Rejection>
    {
        guard let address else {
            return .failure(Rejection(.unknownTopic, "topic '\(topic.prefix(120))'"))
        }
        if !address.kind.fromDevice { return .success(DecodedMessage(address: address, inbound: .command)) }
        guard payload.count <= ProtocolLimits.maxPayloadBytes else {
            return .failure(Rejection(.oversize, "\(payload.count) B > \(ProtocolLimits.maxPayloadBytes) B"))
        }
        guard payload.withUnsafeBytes({ Self.isValidUTF8($0) }) else {
            return .failure(Rejection(.invalidUTF8, "payload is not valid UTF-8"))
        }
        if address.kind == .playback, usesPlaybackFastPath, let r = payload.withUnsafeBytes({ PlaybackFastPath.report($0) }) {
            do {
                return .success(DecodedMessage(address: address, inbound: try playbackInbound(r, address, now)))
            } catch let r as Rejection {
                return .failure(r)
            } catch {
                return .failure(Rejection(.malformedJSON, "\(error)"))
            }
        }
        // One pass over the bytes for both the syntax and the nesting, before any decoding.
        switch payload.withUnsafeBytes({ JSONSyntax.problem($0) }) {
        case .tooDeep?: return .failure(Rejection(.nestingTooDeep, "more than \(ProtocolLimits.maxNesting) levels of nesting"))
        case .malformed(let problem)?: return .failure(Rejection(.malformedJSON, problem))
        case nil: break
        }
        let data = payload.withUnsafeBytes { Data($0) }
        do {
            let inbound: Inbound
            switch address.kind {
            case .birth: inbound = .birth(try birth(try parse(Birth.self, data), address))
            case .state: inbound = .state(try state(try parse(StateMessage.self, data), address))
            case .telemetry: inbound = .telemetry(try telemetry(try parse(TelemetryMessage.self, data), address, now))
            case .event: inbound = try event(try parse(EventMessage.self, data), address, now)
            case .ack: inbound = .ack(try ack(try parse(AckMessage.self, data), address, now))
            case .playback: inbound = try playbackInbound(try parse(PlaybackReport.self, data), address, now)
            case .configReport: inbound = .configReport(try configReport(try parse(ConfigReport.self, data), address, now))
            case .credentialsReport:
                inbound = .credentialsReport(try credentialsReport(try parse(CredentialsReport.self, data), address, now))
            case .otaReport: inbound = .otaReport(try otaReport(try parse(OTAReport.self, data), address, now))
            case .cmd, .schedule, .config, .credentials, .ota: inbound = .command
            }
            return .success(DecodedMessage(address: address, inbound: inbound))
        } catch let r as Rejection {
            return .failure(r)
        } catch {
            return .failure(Rejection(.malformedJSON, "\(error)"))
        }
    }

    /// Decodes a stored telemetry payload of `device` (e.g. the latest one kept in storage).
    public func telemetry(device: String, commune: String, payload: [UInt8], receivedAt: Date) -> TelemetrySample? {
        let topic = TopicAddress(commune: commune, device: device, kind: .telemetry).topic
        guard case .success(let m) = decode(topic: topic, payload: payload, now: receivedAt),
              case .telemetry(let t) = m.inbound else { return nil }
        return t
    }

    /// Whether the bytes are UTF-8, and no `\uD800`–`\uDFFF` escape stands alone (it would
    /// decode to U+FFFD): invalid text is refused whole rather than silently altered.
    public static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard String(validating: bytes, as: UTF8.self) != nil else { return false }
        // Escaped surrogates: a high one must be followed at once by an escaped low one.
        var i = 0, inString = false
        let n = bytes.count
        func hex4(_ at: Int) -> UInt16? {
            guard at + 4 <= n else { return nil }
            var v: UInt16 = 0
            for k in at..<at + 4 {
                let c = bytes[k]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: return nil
                }
                v = v << 4 | UInt16(d)
            }
            return v
        }
        while i < n {
            let b = bytes[i]
            if !inString {
                if b == UInt8(ascii: "\"") { inString = true }
                i += 1
                continue
            }
            if b == UInt8(ascii: "\"") { inString = false; i += 1; continue }
            guard b == UInt8(ascii: "\\") else { i += 1; continue }
            guard i + 1 < n, bytes[i + 1] == UInt8(ascii: "u"), let u = hex4(i + 2) else { i += 2; continue }
            i += 6
            if (0xDC00...0xDFFF).contains(u) { return false }
            if (0xD800...0xDBFF).contains(u) {
                guard i + 1 < n, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                      let low = hex4(i + 2), (0xDC00...0xDFFF).contains(low) else { return false }
                i += 6
            }
        }
        return true
    }

    private func parse<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do {
            return try json.decode(T.self, from: data)
        } catch let DecodingError.dataCorrupted(ctx) where ctx.codingPath.isEmpty {
            // Also thrown, without a path, for a number that does not fit its field (50.5 for
            // an integer): that is a field of the wrong type in valid JSON, not broken JSON.
            if (try? JSONSerialization.jsonObject(with: data)) is [String: Any] {
                throw Rejection(.invalidField, "a field has a value of the wrong type (\(ctx.debugDescription.prefix(120)))")
            }
            throw Rejection(.malformedJSON, "not valid JSON")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw Rejection(ctx.codingPath.isEmpty ? .malformedJSON : .invalidField,
                            "\(Self.path(ctx.codingPath)): expected \(t)")
        } catch let DecodingError.valueNotFound(t, ctx) {
            throw Rejection(.invalidField, "\(Self.path(ctx.codingPath)): null where \(t) is required")
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw Rejection(.invalidField, "\(Self.path(ctx.codingPath + [key])): missing")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw Rejection(.invalidField, "\(Self.path(ctx.codingPath)): \(ctx.debugDescription)")
        } catch {
            throw Rejection(.malformedJSON, "\(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    func checkHeader(version: Int, device: String, boot: String?, _ address: TopicAddress) throws {
        guard version == ProtocolLimits.version else {
            throw Rejection(.unsupportedVersion, "v=\(version), this controller speaks v1")
        }
        guard device == address.device else {
            throw Rejection(.identityMismatch, "payload device '\(device.prefix(64))' ≠ topic device '\(address.device)'")
        }
        if let boot {
            guard !boot.isEmpty, boot.count <= 64 else { throw Rejection(.invalidField, "boot: 1–64 characters") }
        }
    }

    func deviceTime(_ ts: Int64, now: Date) throws -> Date {
        let t = Date(unixMillis: ts)
        guard t >= Self.earliestValidTime, t <= now.addingTimeInterval(maxClockAheadSeconds) else {
            throw Rejection(.outOfRange, "ts \(ts) is not a plausible time (clock not synchronised?)")
        }
        return t
    }

    private func range<T: Comparable>(_ name: String, _ value: T, _ r: ClosedRange<T>) throws {
        guard r.contains(value) else { throw Rejection(.outOfRange, "\(name)=\(value) ∉ \(r.lowerBound)…\(r.upperBound)") }
    }

    private func finite(_ name: String, _ value: Double, _ r: ClosedRange<Double>) throws {
        guard value.isFinite else { throw Rejection(.outOfRange, "\(name) is not finite") }
        try range(name, value, r)
    }

    private func birth(_ b: Birth, _ a: TopicAddress) throws -> BirthInfo {
        try checkHeader(version: b.v, device: b.device, boot: b.boot, a)
        guard let cls = DeviceClass(rawValue: b.deviceClass) else {
            throw Rejection(.invalidField, "class '\(b.deviceClass.prefix(32))' is not one of "
                + DeviceClass.allCases.map(\.rawValue).joined(separator: ", "))
        }
        try finite("heartbeat_s", b.heartbeatSeconds, LivenessTracker.heartbeatRange)
        guard b.model.utf8.count <= 128, b.firmware.utf8.count <= 64, b.capabilities.count <= 64 else {
            throw Rejection(.outOfRange, "model ≤ 128 B, firmware ≤ 64 B, ≤ 64 capabilities")
        }
        if let cv = b.configVersion, cv < 0 { throw Rejection(.outOfRange, "config_version=\(cv) ∉ 0…") }
        return BirthInfo(device: b.device, deviceClass: cls, model: b.model.nfc, firmware: b.firmware,
                         capabilities: b.capabilities, heartbeat: b.heartbeatSeconds, boot: b.boot, raw: b)
    }

    private func state(_ s: StateMessage, _ a: TopicAddress) throws -> StateMessage {
        try checkHeader(version: s.v, device: s.device, boot: s.boot, a)
        if s.state == .offline, s.reason == nil {
            throw Rejection(.invalidField, "reason: missing (an offline state says will or shutdown)")
        }
        return s
    }

    private func telemetry(_ t: TelemetryMessage, _ a: TopicAddress, _ now: Date) throws -> TelemetrySample {
        try checkHeader(version: t.v, device: t.device, boot: t.boot, a)
        let time = try deviceTime(t.ts, now: now)
        try range("seq", t.seq, 0...Int64.max)
        let present = [t.speaker != nil, t.camera != nil, t.accessPoint != nil, t.kiosk != nil].filter { $0 }.count
        guard present == 1 else {
            throw Rejection(.invalidField, "exactly one of speaker, camera, access_point, kiosk must be present (found \(present))")
        }
        let reading: Reading
        if let s = t.speaker {
            try range("speaker.volume", s.volume, 0...100)
            if let r = s.rssi { try range("speaker.rssi", r, -150...0) }
            if let b = s.batteryPct { try range("speaker.battery_pct", b, 0...100) }
            if let m = s.batteryMinutes { try range("speaker.battery_minutes", m, 0...10_080) }
            reading = .speaker(SpeakerReading(volume: s.volume, amplifierOK: s.ampOK, speakerLineOK: s.lineOK,
                                              playing: s.playing, rssi: s.rssi, powerSource: s.power,
                                              batteryPercent: s.batteryPct, batteryMinutes: s.batteryMinutes))
        } else if let c = t.camera {
            try range("camera.storage_total_bytes", c.storageTotalBytes, 1...Int64(1) << 50)
            try range("camera.storage_used_bytes", c.storageUsedBytes, 0...c.storageTotalBytes)
            try finite("camera.write_rate_bps", c.writeRateBps, 0...10e9)
            var oldest: Date?
            if let o = c.oldestRecordingTs {
                let d = Date(unixMillis: o)
                guard d >= Self.earliestValidTime, d <= time.addingTimeInterval(60) else {
                    throw Rejection(.outOfRange, "camera.oldest_recording_ts \(o) is after the sample or before 2020")
                }
                oldest = d
            }
            reading = .camera(CameraReading(recording: c.recording, streamOK: c.streamOK,
                                            storageUsedBytes: c.storageUsedBytes, storageTotalBytes: c.storageTotalBytes,
                                            oldestRecording: oldest, writeRateBytesPerSecond: c.writeRateBps))
        } else if let p = t.accessPoint {
            try range("access_point.clients", p.clients, 0...100_000)
            try finite("access_point.rx_bps", p.rxBps, 0...1e12)
            try finite("access_point.tx_bps", p.txBps, 0...1e12)
            try finite("access_point.cpu_pct", p.cpuPct, 0...100)
            try finite("access_point.mem_pct", p.memPct, 0...100)
            reading = .accessPoint(AccessPointReading(uplinkOK: p.uplinkOK, clients: p.clients, rxBitsPerSecond: p.rxBps,
                                                      txBitsPerSecond: p.txBps, cpuPercent: p.cpuPct, memoryPercent: p.memPct))
        } else {
            let k = t.kiosk!
            try range("kiosk.tickets_issued", k.ticketsIssued, 0...10_000_000)
            try range("kiosk.tickets_served", k.ticketsServed, 0...10_000_000)
            var ratings: [SatisfactionLevel: Int] = [:]
            for (key, count) in k.ratings {
                guard let level = SatisfactionLevel(rawValue: key) else {
                    throw Rejection(.invalidField, "kiosk.ratings: unknown level '\(key.prefix(32))'")
                }
                try range("kiosk.ratings.\(key)", count, 0...10_000_000)
                ratings[level] = count
            }
            reading = .kiosk(KioskReading(printerOK: k.printerOK, paperLow: k.paperLow, paperOut: k.paperOut,
                                          ticketsIssued: k.ticketsIssued, ticketsServed: k.ticketsServed, ratings: ratings))
        }
        return TelemetrySample(device: t.device, boot: t.boot, seq: UInt64(t.seq), deviceTime: time, reading: reading)
    }

    private func event(_ e: EventMessage, _ a: TopicAddress, _ now: Date) throws -> Inbound {
        try checkHeader(version: e.v, device: e.device, boot: e.boot, a)
        let time = try deviceTime(e.ts, now: now)
        try range("seq", e.seq, 0...Int64.max)
        if let t = e.ticket, t.utf8.count > 32 { throw Rejection(.outOfRange, "ticket longer than 32 B") }
        if let d = e.detail, d.utf8.count > 1024 { throw Rejection(.outOfRange, "detail longer than 1024 B") }
        // New event types are an additive v1 change (§6): a newer device is not bad input.
        guard let type = EventType(rawValue: e.event) else {
            guard !e.event.isEmpty, e.event.count <= 64 else { throw Rejection(.invalidField, "event: 1–64 characters") }
            return .unknownEvent(type: e.event, boot: e.boot, seq: UInt64(e.seq))
        }
        var rating: SatisfactionLevel?
        switch type {
        case .ticketServed:
            guard let w = e.waitSeconds else { throw Rejection(.invalidField, "wait_s: missing") }
            try finite("wait_s", w, 0...86_400)
        case .ratingSubmitted:
            guard let r = e.rating else { throw Rejection(.invalidField, "rating: missing") }
            guard let level = SatisfactionLevel(rawValue: r) else {
                throw Rejection(.invalidField, "rating '\(r.prefix(32))' is not one of "
                    + SatisfactionLevel.allCases.map(\.rawValue).joined(separator: ", "))
            }
            rating = level
        case .ticketIssued, .storageFull, .tamper: break
        }
        return .event(DeviceEvent(device: e.device, boot: e.boot, seq: UInt64(e.seq), deviceTime: time, type: type,
                                  ticket: e.ticket, waitSeconds: e.waitSeconds, rating: rating, detail: e.detail?.nfc))
    }

    private func ack(_ k: AckMessage, _ a: TopicAddress, _ now: Date) throws -> AckMessage {
        try checkHeader(version: k.v, device: k.device, boot: k.boot, a)
        _ = try deviceTime(k.ts, now: now)
        guard !k.cmdID.isEmpty, k.cmdID.count <= 64 else { throw Rejection(.invalidField, "cmd_id: 1–64 characters") }
        if let d = k.detail, d.utf8.count > 1024 { throw Rejection(.outOfRange, "detail longer than 1024 B") }
        // A self-test's findings come whole: amp_ok, line_ok and power together, or none of them.
        let findings = [k.ampOK != nil, k.lineOK != nil, k.power != nil]
        if findings.contains(true), findings.contains(false) {
            throw Rejection(.invalidField, "amp_ok, line_ok, power: a self-test's findings come together")
        }
        if let b = k.batteryPct { try range("battery_pct", b, 0...100) }
        if let m = k.batteryMinutes { try range("battery_minutes", m, 0...10_080) }
        return k
    }

    /// The acknowledgement of command `cmdID` by `device`, if this message is one and passes
    /// every rule: a command's result is never taken from a message the controller would refuse.
    public func acknowledgement(of cmdID: String, by device: String, topic: String, payload: [UInt8], now: Date) -> AckMessage? {
        guard case .success(let m) = decode(topic: topic, payload: payload, now: now), m.address.device == device,
              case .ack(let a) = m.inbound, a.cmdID == cmdID else { return nil }
        return a
    }
}

extension ProtocolDecoder {
    /// A playback message's reports, checked one by one, whichever reader read them.
    fileprivate func playbackInbound(_ r: PlaybackReport, _ address: TopicAddress, _ now: Date) throws -> Inbound {
        let more = r.more ?? []
        guard more.count <= ProtocolLimits.maxPlaybackBatch else {
            throw Rejection(.outOfRange, "more: at most \(ProtocolLimits.maxPlaybackBatch) further reports")
        }
        var entries = [try playback(r, address, now)]
        for m in more {
            guard m.more == nil else { throw Rejection(.invalidField, "more: reports inside `more` cannot have their own") }
            guard m.boot == r.boot else { throw Rejection(.invalidField, "more: boot differs from the message's") }
            entries.append(try playback(m, address, now))
        }
        return .playback(entries, boot: r.boot)
    }

    fileprivate func playback(_ p: PlaybackReport, _ a: TopicAddress, _ now: Date) throws -> PlaybackEntry {
        guard p.v == ProtocolLimits.version else { throw Rejection(.unsupportedVersion, "v=\(p.v), this controller speaks v1") }
        guard p.device == a.device else {
            throw Rejection(.identityMismatch, "payload device '\(p.device.prefix(64))' ≠ topic device '\(a.device)'")
        }
        guard !p.boot.isEmpty, p.boot.count <= 64 else { throw Rejection(.invalidField, "boot: 1–64 characters") }
        let t = Date(unixMillis: p.ts)
        guard t >= Self.earliestValidTime, t <= now.addingTimeInterval(maxClockAheadSeconds) else {
            throw Rejection(.outOfRange, "ts \(p.ts) is not a plausible time (clock not synchronised?)")
        }
        guard p.play.utf8.count <= 128, let key = PlayKey(id: p.play) else {
            throw Rejection(.invalidField, "play '\(p.play.prefix(64))' is not ITEM@START_MS")
        }
        guard let event = PlaybackEvent(rawValue: p.event), event != .scheduled else {
            throw Rejection(.invalidField, "event '\(p.event.prefix(32))' is not one of "
                + PlaybackEvent.allCases.filter { $0 != .scheduled }.map(\.rawValue).joined(separator: ", "))
        }
        var reason: PlaybackReason?
        if let r = p.reason {
            guard let known = PlaybackReason(rawValue: r), PlaybackReason.deviceReported.contains(known) else {
                throw Rejection(.invalidField, "reason '\(r.prefix(32))' is not one of "
                    + PlaybackReason.allCases.filter(PlaybackReason.deviceReported.contains).map(\.rawValue).joined(separator: ", "))
            }
            reason = known
        }
        if event == .interrupted || event == .missed, reason == nil { throw Rejection(.invalidField, "reason: missing for \(event.rawValue)") }
        var by: PlayKey?
        if let b = p.by {
            guard b.utf8.count <= 128, let k = PlayKey(id: b) else { throw Rejection(.invalidField, "by '\(b.prefix(64))' is not ITEM@START_MS") }
            by = k
        }
        if let d = p.detail, d.utf8.count > 512 { throw Rejection(.outOfRange, "detail longer than 512 B") }
        return PlaybackEntry(key: key, speaker: p.device, event: event, at: t, reason: reason, by: by?.id, detail: p.detail?.nfc)
    }
}

/// Encoding shared by devices (firmware-sim) and the controller, so both speak identical bytes.
public enum ProtocolEncoder {
    // One configured encoder: encoding does not mutate it, so concurrent use is safe, and
    // building one per message was a measurable share of a 5,000-speaker emergency.
    nonisolated(unsafe) private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public static func encode(_ value: some Encodable) -> [UInt8] {
        Array(try! encoder.encode(value))  // the wire types hold only encodable values
    }
}
