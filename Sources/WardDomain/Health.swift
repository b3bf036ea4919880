import Foundation

/// What a technician needs first: is it working, and if not, why.
public enum HealthState: String, Codable, Sendable, CaseIterable {
    case unknown, ok, degraded, offline

    public var isOnline: Bool { self == .ok || self == .degraded }

    /// Why a command is not sent to a device in this state (it could not acknowledge), or nil.
    /// Said at once, by the API and the CLI alike, rather than after the acknowledgement timeout.
    public func commandRefusal(device id: String) -> String? {
        switch self {
        case .offline: "thiết bị \(id) đang mất kết nối / \(id) is offline"
        case .unknown: "thiết bị \(id) chưa kết nối / \(id) has not connected yet"
        case .ok, .degraded: nil
        }
    }

    public var vietnamese: String {
        switch self {
        case .unknown: "chưa rõ"
        case .ok: "hoạt động tốt"
        case .degraded: "suy giảm"
        case .offline: "mất kết nối"
        }
    }
}

/// Why a device is degraded or offline. Raw values are stable codes stored in the database.
public enum FaultCode: String, Codable, Sendable, CaseIterable, Comparable {
    // degraded
    case amplifierFault = "amplifier_fault"
    case speakerLineFault = "speaker_line_fault"
    case notRecording = "not_recording"
    case streamDown = "stream_down"
    case retentionBelowRequired = "retention_below_required"
    case diskNearlyFull = "disk_nearly_full"
    case uplinkDown = "uplink_down"
    case printerFault = "printer_fault"
    case paperOut = "paper_out"
    /// A loudspeaker running on its battery (mains cut): it still plays, for as long as the battery lasts.
    case onBattery = "on_battery"
    // offline
    case lastWill = "last_will"
    case silent = "silent"
    case shutdown = "shutdown"

    public static func < (a: FaultCode, b: FaultCode) -> Bool { a.rawValue < b.rawValue }

    public var vietnamese: String {
        switch self {
        case .amplifierFault: "lỗi bộ khuếch đại (amply)"
        case .speakerLineFault: "lỗi đường dây loa"
        case .notRecording: "camera không ghi hình"
        case .streamDown: "mất luồng hình"
        case .retentionBelowRequired: "không đủ số ngày lưu trữ"
        case .diskNearlyFull: "ổ lưu trữ sắp đầy"
        case .uplinkDown: "mất đường truyền Internet"
        case .printerFault: "lỗi máy in phiếu"
        case .paperOut: "hết giấy in phiếu"
        case .onBattery: "chạy pin (mất điện lưới)"
        case .lastWill: "mất kết nối đột ngột"
        case .silent: "không gửi tín hiệu"
        case .shutdown: "đã tắt"
        }
    }

    public var english: String {
        switch self {
        case .amplifierFault: "amplifier fault"
        case .speakerLineFault: "speaker line fault"
        case .notRecording: "not recording"
        case .streamDown: "stream down"
        case .retentionBelowRequired: "retention below required"
        case .diskNearlyFull: "disk nearly full"
        case .uplinkDown: "uplink down"
        case .printerFault: "printer fault"
        case .paperOut: "paper out"
        case .onBattery: "running on battery (mains lost)"
        case .lastWill: "connection lost (Last Will)"
        case .silent: "silent (no heartbeat)"
        case .shutdown: "shut down"
        }
    }
}

public struct Fault: Codable, Sendable, Hashable {
    public var code: FaultCode
    /// Figures behind the fault, e.g. "12.5 d < 30 d".
    public var detail: String?

    public init(_ code: FaultCode, _ detail: String? = nil) {
        self.code = code
        self.detail = detail
    }

    public var text: String {
        let base = "\(code.vietnamese) / \(code.english)"
        return detail.map { "\(base) (\($0))" } ?? base
    }
}

/// Class faults found in one reading; an empty list means the device is ok.
public enum HealthRules {
    public static let diskNearlyFullFraction = 0.9

    public static func faults(of reading: Reading, config: DeviceConfig, now: Date) -> [Fault] {
        var faults: [Fault] = []
        switch reading {
        case .speaker(let s):
            if !s.amplifierOK { faults.append(Fault(.amplifierFault)) }
            if !s.speakerLineOK { faults.append(Fault(.speakerLineFault)) }
            // Solar is the installation's own supply; battery means the mains supply is gone.
            if s.powerSource == .battery {
                faults.append(Fault(.onBattery, BatteryText.describe(percent: s.batteryPercent, minutes: s.batteryMinutes)))
            }
        case .camera(let c):
            if !c.recording { faults.append(Fault(.notRecording)) }
            if !c.streamOK { faults.append(Fault(.streamDown)) }
            let storage = CameraStorage.assess(c, requiredDays: config.requiredRetentionDays ?? 30, now: now)
            if storage.belowRequired {
                faults.append(Fault(.retentionBelowRequired, String(
                    format: "%.1f d < %d d", storage.effectiveRetentionDays ?? 0, storage.requiredDays)))
            }
            if storage.usedFraction >= diskNearlyFullFraction {
                faults.append(Fault(.diskNearlyFull, String(format: "%.0f%%", storage.usedFraction * 100)))
            }
        case .accessPoint(let a):
            if !a.uplinkOK { faults.append(Fault(.uplinkDown)) }
        case .kiosk(let k):
            if !k.printerOK { faults.append(Fault(.printerFault)) }
            if k.paperOut { faults.append(Fault(.paperOut)) }
        }
        return faults
    }
}
