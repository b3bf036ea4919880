import Foundation

public enum PowerSource: String, Codable, Sendable, CaseIterable {
    case mains, battery, solar

    public var vietnamese: String {
        switch self {
        case .mains: "điện lưới"
        case .battery: "chạy pin"
        case .solar: "năng lượng mặt trời"
        }
    }
}

/// How a battery figure is said: "45%" and, with the device's estimate, "~5 h" (hours, one decimal under 10).
public enum BatteryText {
    public static func hours(minutes: Int) -> String {
        let h = Double(minutes) / 60
        return h < 10 ? String(format: "%.1f h", h) : "\(Int(h.rounded())) h"
    }

    public static func describe(percent: Int?, minutes: Int?) -> String? {
        let parts = [percent.map { "\($0)%" }, minutes.map { "~" + hours(minutes: $0) }].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}

public struct SpeakerReading: Codable, Sendable, Hashable {
    public var volume: Int
    public var amplifierOK: Bool
    public var speakerLineOK: Bool
    public var playing: Bool
    public var rssi: Int?
    public var powerSource: PowerSource
    public var batteryPercent: Int?
    /// Estimated running time left on the battery, minutes (the device's own estimate).
    public var batteryMinutes: Int?

    public init(volume: Int, amplifierOK: Bool, speakerLineOK: Bool, playing: Bool, rssi: Int? = nil,
                powerSource: PowerSource = .mains, batteryPercent: Int? = nil, batteryMinutes: Int? = nil) {
        self.batteryMinutes = batteryMinutes
        self.volume = volume
        self.amplifierOK = amplifierOK
        self.speakerLineOK = speakerLineOK
        self.playing = playing
        self.rssi = rssi
        self.powerSource = powerSource
        self.batteryPercent = batteryPercent
    }
}

public struct CameraReading: Codable, Sendable, Hashable {
    public var recording: Bool
    public var streamOK: Bool
    public var storageUsedBytes: Int64
    public var storageTotalBytes: Int64
    public var oldestRecording: Date?
    public var writeRateBytesPerSecond: Double

    public init(recording: Bool, streamOK: Bool, storageUsedBytes: Int64, storageTotalBytes: Int64,
                oldestRecording: Date?, writeRateBytesPerSecond: Double) {
        self.recording = recording
        self.streamOK = streamOK
        self.storageUsedBytes = storageUsedBytes
        self.storageTotalBytes = storageTotalBytes
        self.oldestRecording = oldestRecording
        self.writeRateBytesPerSecond = writeRateBytesPerSecond
    }
}

public struct AccessPointReading: Codable, Sendable, Hashable {
    public var uplinkOK: Bool
    public var clients: Int
    public var rxBitsPerSecond: Double
    public var txBitsPerSecond: Double
    public var cpuPercent: Double
    public var memoryPercent: Double

    public init(uplinkOK: Bool, clients: Int, rxBitsPerSecond: Double, txBitsPerSecond: Double,
                cpuPercent: Double, memoryPercent: Double) {
        self.uplinkOK = uplinkOK
        self.clients = clients
        self.rxBitsPerSecond = rxBitsPerSecond
        self.txBitsPerSecond = txBitsPerSecond
        self.cpuPercent = cpuPercent
        self.memoryPercent = memoryPercent
    }
}

public struct KioskReading: Codable, Sendable, Hashable {
    public var printerOK: Bool
    public var paperLow: Bool
    public var paperOut: Bool
    /// Counters since boot.
    public var ticketsIssued: Int
    public var ticketsServed: Int
    public var ratings: [SatisfactionLevel: Int]

    public init(printerOK: Bool, paperLow: Bool, paperOut: Bool, ticketsIssued: Int, ticketsServed: Int,
                ratings: [SatisfactionLevel: Int] = [:]) {
        self.printerOK = printerOK
        self.paperLow = paperLow
        self.paperOut = paperOut
        self.ticketsIssued = ticketsIssued
        self.ticketsServed = ticketsServed
        self.ratings = ratings
    }
}

/// One telemetry sample's class-specific content.
public enum Reading: Sendable, Hashable {
    case speaker(SpeakerReading)
    case camera(CameraReading)
    case accessPoint(AccessPointReading)
    case kiosk(KioskReading)

    public var deviceClass: DeviceClass {
        switch self {
        case .speaker: .speaker
        case .camera: .camera
        case .accessPoint: .accessPoint
        case .kiosk: .kiosk
        }
    }
}

/// What a loudspeaker's `self_test` found (its acknowledgement, docs/protocol.md): the amplifier and the
/// speaker line as tested just now, and the power it runs on.
public struct SelfTestFindings: Codable, Sendable, Hashable {
    public var amplifierOK: Bool
    public var speakerLineOK: Bool
    public var power: PowerSource
    public var batteryPercent: Int?
    public var batteryMinutes: Int?

    public init(amplifierOK: Bool, speakerLineOK: Bool, power: PowerSource, batteryPercent: Int? = nil, batteryMinutes: Int? = nil) {
        self.amplifierOK = amplifierOK
        self.speakerLineOK = speakerLineOK
        self.power = power
        self.batteryPercent = batteryPercent
        self.batteryMinutes = batteryMinutes
    }

    enum CodingKeys: String, CodingKey {
        case amplifierOK = "amp_ok", speakerLineOK = "line_ok", power, batteryPercent = "battery_pct", batteryMinutes = "battery_minutes"
    }

    /// As stored with the acknowledgement (JSON, sorted keys).
    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public static func stored(_ json: String?) -> SelfTestFindings? {
        json.flatMap { try? JSONDecoder().decode(SelfTestFindings.self, from: Data($0.utf8)) }
    }

    /// For people: "amply tốt, đường dây tốt, chạy pin 45%, ~4.5 h".
    public var vietnamese: String {
        var parts = [amplifierOK ? "amply tốt" : "lỗi amply", speakerLineOK ? "đường dây loa tốt" : "lỗi đường dây loa", power.vietnamese]
        if power != .mains, let b = BatteryText.describe(percent: batteryPercent, minutes: batteryMinutes) { parts[2] += " " + b }
        return parts.joined(separator: ", ")
    }
}
