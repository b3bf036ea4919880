import Foundation
import WardDomain

// Wire formats of protocol v1 (docs/protocol.md is the reference). Field names are the JSON keys.
// Decoding ignores unknown keys so that v1 devices may add fields; `v` must be 1.

public enum ProtocolLimits {
    /// Largest payload a device may send, in bytes.
    public static let maxPayloadBytes = 16 * 1024
    /// Deepest nesting of objects and arrays a message may have (v1 messages need 3).
    public static let maxNesting = 8
    /// Further playback reports one message may carry in `more`.
    public static let maxPlaybackBatch = 8
    public static let version = 1
}

/// Announces a connection: who the device is and what it can do.
public struct Birth: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var deviceClass: String
    public var model: String
    public var firmware: String
    public var capabilities: [String]
    public var heartbeatSeconds: Double
    public var boot: String
    public var ts: Int64?
    /// The configuration version the device runs (protocol §10); nil from devices without `config`.
    public var configVersion: Int64?

    enum CodingKeys: String, CodingKey {
        case v, device, deviceClass = "class", model, firmware, capabilities, heartbeatSeconds = "heartbeat_s", boot, ts
        case configVersion = "config_version"
    }

    public init(device: String, deviceClass: DeviceClass, model: String, firmware: String, capabilities: [String],
                heartbeatSeconds: Double, boot: String, ts: Int64?) {
        self.v = ProtocolLimits.version
        self.device = device
        self.deviceClass = deviceClass.rawValue
        self.model = model
        self.firmware = firmware
        self.capabilities = capabilities
        self.heartbeatSeconds = heartbeatSeconds
        self.boot = boot
        self.ts = ts
    }
}

extension Birth {
    /// A birth as the controller stored it (already checked when it arrived); nil when absent.
    public static func stored(_ json: String?) -> Birth? {
        json.flatMap { try? JSONDecoder().decode(Birth.self, from: Data($0.utf8)) }
    }
}

/// Retained online/offline state. The Last Will is a `state` with reason "will".
public struct StateMessage: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable { case online, offline }
    public enum Reason: String, Codable, Sendable { case will, shutdown }
    public var v: Int
    public var device: String
    public var state: State
    public var boot: String
    public var reason: Reason?
    public var ts: Int64?

    public init(device: String, state: State, boot: String, reason: Reason?, ts: Int64?) {
        self.v = ProtocolLimits.version
        self.device = device
        self.state = state
        self.boot = boot
        self.reason = reason
        self.ts = ts
    }
}

public struct SpeakerFields: Codable, Sendable, Hashable {
    public var volume: Int
    public var ampOK: Bool
    public var lineOK: Bool
    public var playing: Bool
    public var rssi: Int?
    public var power: PowerSource
    public var batteryPct: Int?
    /// Estimated minutes of running left on the battery (0–10080), optional.
    public var batteryMinutes: Int?
    public init(volume: Int, ampOK: Bool, lineOK: Bool, playing: Bool, rssi: Int?, power: PowerSource, batteryPct: Int?,
                batteryMinutes: Int? = nil) {
        self.volume = volume
        self.ampOK = ampOK
        self.lineOK = lineOK
        self.playing = playing
        self.rssi = rssi
        self.power = power
        self.batteryPct = batteryPct
        self.batteryMinutes = batteryMinutes
    }
    enum CodingKeys: String, CodingKey {
        case volume, ampOK = "amp_ok", lineOK = "line_ok", playing, rssi, power, batteryPct = "battery_pct", batteryMinutes = "battery_minutes"
    }
}

public struct CameraFields: Codable, Sendable, Hashable {
    public var recording: Bool
    public var streamOK: Bool
    public var storageUsedBytes: Int64
    public var storageTotalBytes: Int64
    /// Unix ms of the oldest recording on disk.
    public var oldestRecordingTs: Int64?
    public var writeRateBps: Double
    public init(recording: Bool, streamOK: Bool, storageUsedBytes: Int64, storageTotalBytes: Int64,
                oldestRecordingTs: Int64?, writeRateBps: Double) {
        self.recording = recording
        self.streamOK = streamOK
        self.storageUsedBytes = storageUsedBytes
        self.storageTotalBytes = storageTotalBytes
        self.oldestRecordingTs = oldestRecordingTs
        self.writeRateBps = writeRateBps
    }
    enum CodingKeys: String, CodingKey {
        case recording, streamOK = "stream_ok", storageUsedBytes = "storage_used_bytes",
             storageTotalBytes = "storage_total_bytes", oldestRecordingTs = "oldest_recording_ts",
             writeRateBps = "write_rate_bps"
    }
}

public struct AccessPointFields: Codable, Sendable, Hashable {
    public var uplinkOK: Bool
    public var clients: Int
    public var rxBps: Double
    public var txBps: Double
    public var cpuPct: Double
    public var memPct: Double
    public init(uplinkOK: Bool, clients: Int, rxBps: Double, txBps: Double, cpuPct: Double, memPct: Double) {
        self.uplinkOK = uplinkOK
        self.clients = clients
        self.rxBps = rxBps
        self.txBps = txBps
        self.cpuPct = cpuPct
        self.memPct = memPct
    }
    enum CodingKeys: String, CodingKey {
        case uplinkOK = "uplink_ok", clients, rxBps = "rx_bps", txBps = "tx_bps", cpuPct = "cpu_pct", memPct = "mem_pct"
    }
}

public struct KioskFields: Codable, Sendable, Hashable {
    public var printerOK: Bool
    public var paperLow: Bool
    public var paperOut: Bool
    public var ticketsIssued: Int
    public var ticketsServed: Int
    public var ratings: [String: Int]
    public init(printerOK: Bool, paperLow: Bool, paperOut: Bool, ticketsIssued: Int, ticketsServed: Int, ratings: [String: Int]) {
        self.printerOK = printerOK
        self.paperLow = paperLow
        self.paperOut = paperOut
        self.ticketsIssued = ticketsIssued
        self.ticketsServed = ticketsServed
        self.ratings = ratings
    }
    enum CodingKeys: String, CodingKey {
        case printerOK = "printer_ok", paperLow = "paper_low", paperOut = "paper_out",
             ticketsIssued = "tickets_issued", ticketsServed = "tickets_served", ratings
    }
}

/// Periodic telemetry; exactly one class object is present.
public struct TelemetryMessage: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var boot: String
    /// Per boot, from 1. Signed on the wire so a negative value is reported as out of range.
    public var seq: Int64
    public var ts: Int64
    public var speaker: SpeakerFields?
    public var camera: CameraFields?
    public var accessPoint: AccessPointFields?
    public var kiosk: KioskFields?
    enum CodingKeys: String, CodingKey {
        case v, device, boot, seq, ts, speaker, camera, accessPoint = "access_point", kiosk
    }

    public init(device: String, boot: String, seq: UInt64, ts: Int64, speaker: SpeakerFields? = nil,
                camera: CameraFields? = nil, accessPoint: AccessPointFields? = nil, kiosk: KioskFields? = nil) {
        self.v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.seq = Int64(clamping: seq)
        self.ts = ts
        self.speaker = speaker
        self.camera = camera
        self.accessPoint = accessPoint
        self.kiosk = kiosk
    }
}

public enum EventType: String, Codable, Sendable, CaseIterable {
    case ticketIssued = "ticket_issued"
    case ticketServed = "ticket_served"
    case ratingSubmitted = "rating_submitted"
    case storageFull = "storage_full"
    case tamper

    /// Who may send it (the event table's "Sent by"): a camera's ticket is another class's event.
    public var classes: Set<DeviceClass> {
        switch self {
        case .ticketIssued, .ticketServed, .ratingSubmitted: [.kiosk]
        case .storageFull: [.camera]
        case .tamper: Set(DeviceClass.allCases)
        }
    }
}

public struct EventMessage: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var boot: String
    public var seq: Int64
    public var ts: Int64
    public var event: String
    public var ticket: String?
    public var waitSeconds: Double?
    public var rating: String?
    public var detail: String?
    enum CodingKeys: String, CodingKey {
        case v, device, boot, seq, ts, event, ticket, waitSeconds = "wait_s", rating, detail
    }

    public init(device: String, boot: String, seq: UInt64, ts: Int64, event: EventType, ticket: String? = nil,
                waitSeconds: Double? = nil, rating: SatisfactionLevel? = nil, detail: String? = nil) {
        self.v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.seq = Int64(clamping: seq)
        self.ts = ts
        self.event = event.rawValue
        self.ticket = ticket
        self.waitSeconds = waitSeconds
        self.rating = rating?.rawValue
        self.detail = detail
    }
}

public enum CommandName: String, Codable, Sendable, CaseIterable {
    case setVolume = "set_volume"
    case testTone = "test_tone"
    case reboot
    case ping
    /// Loudspeakers: check the amplifier and the speaker line, answer with the findings and the power supply.
    case selfTest = "self_test"

    /// The classes the command is for (the command table of docs/protocol.md).
    public var classes: [DeviceClass] {
        switch self {
        case .ping, .reboot: DeviceClass.allCases
        case .setVolume, .testTone, .selfTest: [.speaker]
        }
    }

    /// The longest quiet test tone a `self_test` may ask for, seconds.
    public static let selfTestMaxToneSeconds: Double = 5
}

/// Why a command is not sent: the device would not execute it, so sending it would only wait
/// for an `unsupported` acknowledgement, or for nothing.
public enum CommandRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// No birth heard from the device yet: what it can do is unknown.
    case capabilitiesUnknown(device: String)
    case notForClass(CommandName, DeviceClass)
    case notDeclared(CommandName, device: String, capabilities: [String])

    public var description: String {
        switch self {
        case .capabilitiesUnknown(let d):
            "chưa biết thiết bị \(d) làm được lệnh nào (chưa nhận bản tin birth); lệnh không được gửi / "
                + "capabilities of \(d) unknown (no birth heard yet); the command was not sent"
        case .notForClass(let c, let cls):
            "lệnh \(c.rawValue) không dành cho \(cls.vietnamese); lệnh không được gửi / "
                + "\(c.rawValue) is not a command for a \(cls.english); the command was not sent"
        case .notDeclared(let c, let d, let caps):
            "thiết bị \(d) không khai báo lệnh \(c.rawValue) (có: \(caps.isEmpty ? "không lệnh nào" : caps.joined(separator: ", "))); lệnh không được gửi / "
                + "\(d) does not declare \(c.rawValue) (it declares: \(caps.isEmpty ? "none" : caps.joined(separator: ", "))); the command was not sent"
        }
    }

    /// Checks `command` against the device's class and the capabilities of its latest birth
    /// (the stored JSON; nil when none was heard). Nil: it may be sent.
    public static func check(_ command: CommandName, device: String, deviceClass: DeviceClass, birth: String?) -> CommandRefusal? {
        guard command.classes.contains(deviceClass) else { return .notForClass(command, deviceClass) }
        guard let caps = Birth.stored(birth)?.capabilities else { return .capabilitiesUnknown(device: device) }
        guard caps.contains(command.rawValue) else { return .notDeclared(command, device: device, capabilities: caps) }
        return nil
    }
}

/// A command to one device (QoS 1). Devices ignore commands past `expires`.
public struct CommandMessage: Codable, Sendable, Hashable {
    public var v: Int
    public var cmdID: String
    public var command: String
    public var volume: Int?
    public var seconds: Double?
    /// `self_test`: also play a short, quiet test tone of this many seconds (1–5); absent: no tone.
    public var toneSeconds: Double?
    public var ts: Int64
    public var expires: Int64?
    enum CodingKeys: String, CodingKey {
        case v, cmdID = "cmd_id", command, volume, seconds, toneSeconds = "tone_seconds", ts, expires
    }

    public init(cmdID: String, command: CommandName, volume: Int? = nil, seconds: Double? = nil, ts: Int64,
                expires: Int64? = nil, toneSeconds: Double? = nil) {
        self.v = ProtocolLimits.version
        self.cmdID = cmdID
        self.command = command.rawValue
        self.volume = volume
        self.seconds = seconds
        self.toneSeconds = toneSeconds
        self.ts = ts
        self.expires = expires
    }
}

public struct AckMessage: Codable, Sendable, Hashable {
    public enum Result: String, Codable, Sendable, CaseIterable {
        case ok, error, unsupported, expired

        public var vietnamese: String {
            switch self {
            case .ok: "đã thực hiện"
            case .error: "không thực hiện được"
            case .unsupported: "thiết bị không hỗ trợ"
            case .expired: "lệnh đã hết hạn"
            }
        }
    }
    public var v: Int
    public var device: String
    public var boot: String
    public var cmdID: String
    public var result: Result
    public var detail: String?
    public var ts: Int64
    // The findings of a `self_test` (docs/protocol.md, ack): absent in other acknowledgements.
    public var ampOK: Bool?
    public var lineOK: Bool?
    public var power: PowerSource?
    public var batteryPct: Int?
    public var batteryMinutes: Int?
    enum CodingKeys: String, CodingKey {
        case v, device, boot, cmdID = "cmd_id", result, detail, ts
        case ampOK = "amp_ok", lineOK = "line_ok", power, batteryPct = "battery_pct", batteryMinutes = "battery_minutes"
    }

    public init(device: String, boot: String, cmdID: String, result: Result, detail: String?, ts: Int64, selfTest: SelfTestFindings? = nil) {
        self.v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.cmdID = cmdID
        self.result = result
        self.detail = detail
        self.ts = ts
        ampOK = selfTest?.amplifierOK
        lineOK = selfTest?.speakerLineOK
        power = selfTest?.power
        batteryPct = selfTest?.batteryPercent
        batteryMinutes = selfTest?.batteryMinutes
    }

    /// The self-test's findings, when the acknowledgement carries them (all of `amp_ok`, `line_ok`, `power`).
    public var selfTest: SelfTestFindings? {
        guard let ampOK, let lineOK, let power else { return nil }
        return SelfTestFindings(amplifierOK: ampOK, speakerLineOK: lineOK, power: power, batteryPercent: batteryPct, batteryMinutes: batteryMinutes)
    }
}

/// The retained agenda of one loudspeaker cluster (controller → device, QoS 1, retained). Each
/// message replaces the previous one whole: a play that disappears was cancelled or withdrawn.
public struct ScheduleMessage: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    /// Increases with every message to this device.
    public var rev: Int64
    public var ts: Int64
    public var plays: [SchedulePlay]
    /// In the first agenda a restarted controller sends: it may have lost the reports that
    /// reached it after this moment (UTC ms), so the speaker publishes those again.
    public var resendSince: Int64?

    public init(device: String, rev: Int64, ts: Int64, plays: [SchedulePlay], resendSince: Int64? = nil) {
        self.v = ProtocolLimits.version
        self.device = device
        self.rev = rev
        self.ts = ts
        self.plays = plays
        self.resendSince = resendSince
    }

    enum CodingKeys: String, CodingKey {
        case v, device, rev, ts, plays
        case resendSince = "resend_since"
    }
}

public struct MediaReference: Codable, Sendable, Hashable {
    public var url: String
    public var sha256: String
    public var size: Int64
    public var format: String
    public init(url: String, sha256: String, size: Int64, format: String) {
        self.url = url
        self.sha256 = sha256
        self.size = size
        self.format = format
    }
}

public struct SchedulePlay: Codable, Sendable, Hashable {
    /// `ITEM@SCHEDULED_START_MS`: the id every report about this play carries.
    public var play: String
    public var item: String
    public var title: String
    public var level: BroadcastLevel
    /// When to start (UTC ms): the scheduled start, or later when it waits behind a higher item.
    public var start: Int64
    public var durationSeconds: Double
    /// Do not start after this (UTC ms); report `missed` with reason `late` instead.
    public var latestStart: Int64
    /// 0–100, or absent for the speaker's own setting.
    public var volume: Int?
    /// Exactly one of `media` and `stream`.
    public var media: MediaReference?
    public var stream: String?

    enum CodingKeys: String, CodingKey {
        case play, item, title, level, start, durationSeconds = "duration_s", latestStart = "latest_start", volume, media, stream
    }

    public init(play: String, item: String, title: String, level: BroadcastLevel, start: Int64, durationSeconds: Double,
                latestStart: Int64, volume: Int?, media: MediaReference?, stream: String?) {
        self.play = play
        self.item = item
        self.title = title
        self.level = level
        self.start = start
        self.durationSeconds = durationSeconds
        self.latestStart = latestStart
        self.volume = volume
        self.media = media
        self.stream = stream
    }
}

/// A speaker's report about one play (device → controller, QoS 1).
public struct PlaybackReport: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var boot: String
    /// When it happened on the device (UTC ms); for `started`, the actual start.
    public var ts: Int64
    public var play: String
    public var event: String
    public var reason: String?
    public var by: String?
    public var detail: String?
    /// Further reports of the same device made at the same moment, sent in this one message
    /// (e.g. received, media_ready and started of an emergency); at most 8, not nested.
    public var more: [PlaybackReport]?

    public init(device: String, boot: String, ts: Int64, play: String, event: PlaybackEvent, reason: PlaybackReason? = nil,
                by: String? = nil, detail: String? = nil) {
        self.v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.ts = ts
        self.play = play
        self.event = event.rawValue
        self.reason = reason?.rawValue
        self.by = by
        self.detail = detail
    }
}

extension Date {
    public var unixMillis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    public init(unixMillis: Int64) { self.init(timeIntervalSince1970: Double(unixMillis) / 1000) }
}
