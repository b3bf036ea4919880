import Foundation

public enum PowerSource: String, Codable, Sendable, CaseIterable {
    case mains, battery, solar
}

public struct SpeakerReading: Codable, Sendable, Hashable {
    public var volume: Int
    public var amplifierOK: Bool
    public var speakerLineOK: Bool
    public var playing: Bool
    public var rssi: Int?
    public var powerSource: PowerSource
    public var batteryPercent: Int?

    public init(volume: Int, amplifierOK: Bool, speakerLineOK: Bool, playing: Bool, rssi: Int? = nil,
                powerSource: PowerSource = .mains, batteryPercent: Int? = nil) {
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
