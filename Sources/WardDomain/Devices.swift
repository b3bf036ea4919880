import Foundation

public enum DeviceClass: String, Codable, Sendable, CaseIterable {
    case speaker
    case camera
    case accessPoint = "access_point"
    case kiosk

    public var vietnamese: String {
        switch self {
        case .speaker: "Cụm loa truyền thanh"
        case .camera: "Camera an ninh"
        case .accessPoint: "Điểm phát Wi-Fi công cộng"
        case .kiosk: "Kiosk Một cửa"
        }
    }

    public var english: String {
        switch self {
        case .speaker: "Loudspeaker cluster"
        case .camera: "Security camera"
        case .accessPoint: "Public Wi-Fi AP"
        case .kiosk: "One-stop kiosk"
        }
    }
}

/// A one-stop kiosk is a queue-ticket dispenser, a satisfaction-rating terminal, or both.
public enum KioskRole: String, Codable, Sendable, CaseIterable {
    case queue, rating, both
}

/// Class-specific configuration, with the defaults the plans imply.
public struct DeviceConfig: Codable, Sendable, Hashable {
    /// Camera: days of footage the commune must keep (plans 000, 004 imply 30).
    public var requiredRetentionDays: Int?
    /// Speaker: the loudest volume (0–100) the cluster may be set to.
    public var maxVolume: Int?
    public var kioskRole: KioskRole?

    public init(requiredRetentionDays: Int? = nil, maxVolume: Int? = nil, kioskRole: KioskRole? = nil) {
        self.requiredRetentionDays = requiredRetentionDays
        self.maxVolume = maxVolume
        self.kioskRole = kioskRole
    }

    public static func defaults(for cls: DeviceClass) -> DeviceConfig {
        switch cls {
        case .speaker: DeviceConfig(maxVolume: 100)
        case .camera: DeviceConfig(requiredRetentionDays: 30)
        case .accessPoint: DeviceConfig()
        case .kiosk: DeviceConfig(kioskRole: .both)
        }
    }

    /// Fills unset fields from the class defaults.
    public func completed(for cls: DeviceClass) -> DeviceConfig {
        let d = Self.defaults(for: cls)
        return DeviceConfig(
            requiredRetentionDays: requiredRetentionDays ?? d.requiredRetentionDays,
            maxVolume: maxVolume ?? d.maxVolume,
            kioskRole: kioskRole ?? d.kioskRole
        )
    }
}

public struct Device: Codable, Sendable, Hashable, Identifiable {
    public var id: String
    public var deviceClass: DeviceClass
    public var model: String
    public var firmware: String
    public var siteID: String
    public var installedOn: Date?
    public var config: DeviceConfig
    public var registeredAt: Date
    public var removedAt: Date?

    public init(
        id: String, deviceClass: DeviceClass, model: String = "", firmware: String = "", siteID: String,
        installedOn: Date? = nil, config: DeviceConfig = DeviceConfig(), registeredAt: Date, removedAt: Date? = nil
    ) {
        self.id = id
        self.deviceClass = deviceClass
        self.model = model.nfc
        self.firmware = firmware
        self.siteID = siteID
        self.installedOn = installedOn
        self.config = config.completed(for: deviceClass)
        self.registeredAt = registeredAt
        self.removedAt = removedAt
    }

    /// A registration laid over what is registered under the same id: what it leaves out (nil)
    /// stays as it was, so moving a device to another site does not reset its model or limits.
    public static func registering(_ id: String, _ deviceClass: DeviceClass, site: String, model: String?, firmware: String?,
                                   installedOn: Date?, retentionDays: Int?, maxVolume: Int?, kioskRole: KioskRole?,
                                   over existing: Device?, at now: Date) -> Device {
        Device(id: id, deviceClass: deviceClass, model: model ?? existing?.model ?? "", firmware: firmware ?? existing?.firmware ?? "",
               siteID: site, installedOn: installedOn ?? existing?.installedOn,
               config: DeviceConfig(requiredRetentionDays: retentionDays ?? existing?.config.requiredRetentionDays,
                                    maxVolume: maxVolume ?? existing?.config.maxVolume, kioskRole: kioskRole ?? existing?.config.kioskRole),
               registeredAt: now)
    }

    /// When this device entered the fleet: the span availability is measured over starts here.
    public var monitoredFrom: Date {
        if let installedOn, installedOn > registeredAt { return installedOn }
        return registeredAt
    }
}

public enum DeviceError: Refusal, Equatable {
    case invalidID(String)
    case unknownSite(device: String, site: String)
    case notASite(device: String, place: String)
    case invalidConfig(device: String, reason: String)
    case duplicate(String)

    public var description: String {
        switch self {
        case .invalidID(let id):
            "mã thiết bị '\(id)' không hợp lệ (chữ, số, '-', '_', '.', tối đa 64) / invalid device id '\(id)' (letters, digits, '-', '_', '.', at most 64)"
        case .unknownSite(let d, let s): "\(d): không có điểm lắp đặt \(s) / unknown site \(s)"
        case .notASite(let d, let p): "\(d): \(p) không phải điểm lắp đặt / \(p) is not a site"
        case .invalidConfig(let d, let r): "\(d): cấu hình sai: \(r) / invalid config: \(r)"
        case .duplicate(let d): "thiết bị \(d) đã có / device \(d) already registered"
        }
    }
}

extension Device {
    /// Checks a device against the place tree before it may join the fleet.
    public func validate(in tree: PlaceTree) throws(DeviceError) {
        guard Identifier.isValid(id) else { throw .invalidID(id) }
        guard let site = tree[siteID] else { throw .unknownSite(device: id, site: siteID) }
        guard site.level == .site else { throw .notASite(device: id, place: siteID) }
        if let r = config.requiredRetentionDays, !(1...3650).contains(r) {
            throw .invalidConfig(device: id, reason: "required_retention_days \(r) ∉ 1…3650")
        }
        if let v = config.maxVolume, !(0...100).contains(v) {
            throw .invalidConfig(device: id, reason: "max_volume \(v) ∉ 0…100")
        }
    }
}
