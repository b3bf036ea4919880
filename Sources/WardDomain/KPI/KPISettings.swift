import Foundation

/// The KPIs the plans measure, with stable ids used in JSON, CSV and settings.
public enum KPIID: String, Codable, Sendable, CaseIterable, CodingKeyRepresentable {
    case loudspeakerCoverage = "loudspeaker_coverage"
    case villageBulletin = "village_bulletin"
    case cameraCoverage = "camera_coverage"
    case wifiCoverage = "wifi_coverage"
    case satisfaction
    case broadcastReach = "broadcast_reach"
    case speakerAvailability = "availability_speaker"
    case cameraAvailability = "availability_camera"
    case accessPointAvailability = "availability_access_point"
    case kioskAvailability = "availability_kiosk"

    public static func availability(_ c: DeviceClass) -> KPIID {
        switch c {
        case .speaker: .speakerAvailability
        case .camera: .cameraAvailability
        case .accessPoint: .accessPointAvailability
        case .kiosk: .kioskAvailability
        }
    }

    public var vietnamese: String {
        switch self {
        case .loudspeakerCoverage: "Tỷ lệ thôn có loa nhận và phát chương trình của xã"
        case .villageBulletin: "Tỷ lệ thôn phát được bản tin riêng của thôn"
        case .cameraCoverage: "Tỷ lệ thôn có camera an ninh hoạt động, đủ ngày lưu trữ"
        case .wifiCoverage: "Tỷ lệ điểm công cộng có Wi-Fi miễn phí hoạt động"
        case .satisfaction: "Tỷ lệ người dân hài lòng với Bộ phận Một cửa"
        case .broadcastReach: "Tỷ lệ phát đến loa (đã phát / được giao)"
        case .speakerAvailability: "Độ sẵn sàng: cụm loa"
        case .cameraAvailability: "Độ sẵn sàng: camera"
        case .accessPointAvailability: "Độ sẵn sàng: điểm Wi-Fi"
        case .kioskAvailability: "Độ sẵn sàng: kiosk Một cửa"
        }
    }

    public var english: String {
        switch self {
        case .loudspeakerCoverage: "Villages whose loudspeakers receive and play the commune programme"
        case .villageBulletin: "Villages able to play their own bulletin"
        case .cameraCoverage: "Villages with a working, recording camera keeping enough days"
        case .wifiCoverage: "Public sites with working free Wi-Fi"
        case .satisfaction: "Citizens satisfied with the one-stop office"
        case .broadcastReach: "Broadcast reach (played / targeted)"
        case .speakerAvailability: "Availability: loudspeaker clusters"
        case .cameraAvailability: "Availability: cameras"
        case .accessPointAvailability: "Availability: Wi-Fi APs"
        case .kioskAvailability: "Availability: one-stop kiosks"
        }
    }

    /// KPIs whose numerator and denominator count places or plays (availability counts seconds).
    public var isCount: Bool {
        switch self {
        case .speakerAvailability, .cameraAvailability, .accessPointAvailability, .kioskAvailability: false
        default: true
        }
    }

    /// Where the target comes from.
    public var source: String {
        switch self {
        case .loudspeakerCoverage, .villageBulletin: "KH 003"
        case .cameraCoverage: "KH 000, 004"
        case .wifiCoverage: "KH 000"
        case .satisfaction: "KH 004"
        default: "WardFleet"
        }
    }
}

/// A target and how a value is compared with it ("> 80%" in plan 003 is strict).
public struct KPITarget: Codable, Sendable, Hashable {
    public var value: Double
    public var strict: Bool

    public init(_ value: Double, strict: Bool = false) {
        self.value = value
        self.strict = strict
    }

    public func met(by v: Double) -> Bool { strict ? v > value + 1e-12 : v >= value - 1e-12 }
    public var symbol: String { strict ? ">" : "≥" }
}

/// Targets and the thresholds behind the KPI definitions; all configurable.
public struct KPISettings: Codable, Sendable, Hashable {
    public var targets: [KPIID: KPITarget]
    /// A device counts as "available" for coverage when online at least this share of the period.
    public var availabilityThreshold: Double
    /// A speaker "played the commune programme" when it started at least this share of the
    /// commune-wide plays it was given.
    public var programmeShare: Double
    /// Site kinds designated for free public Wi-Fi (plan 000).
    public var wifiSiteKinds: [SiteKind]

    public init(targets: [KPIID: KPITarget] = KPISettings.defaultTargets, availabilityThreshold: Double = 0.95,
                programmeShare: Double = 0.8, wifiSiteKinds: [SiteKind] = KPISettings.defaultWifiSiteKinds) {
        self.targets = targets
        self.availabilityThreshold = availabilityThreshold
        self.programmeShare = programmeShare
        self.wifiSiteKinds = wifiSiteKinds
    }

    public static let defaultTargets: [KPIID: KPITarget] = [
        .loudspeakerCoverage: KPITarget(0.8, strict: true),
        .villageBulletin: KPITarget(0.8, strict: true),
        .cameraCoverage: KPITarget(1.0),
        .wifiCoverage: KPITarget(1.0),
        .satisfaction: KPITarget(0.9),
        .broadcastReach: KPITarget(0.95),
        .speakerAvailability: KPITarget(0.95),
        .cameraAvailability: KPITarget(0.95),
        .accessPointAvailability: KPITarget(0.95),
        .kioskAvailability: KPITarget(0.95),
    ]

    public static let defaultWifiSiteKinds: [SiteKind] = [
        .culturalHouse, .market, .school, .playArea, .heritageSite, .healthStation, .communeOffice,
    ]

    public func target(_ id: KPIID) -> KPITarget? { targets[id] }

    public enum SettingError: Refusal, Equatable {
        case unknown(String)
        case outOfRange(String, Double)
        public var description: String {
            switch self {
            case .unknown(let k): "không có chỉ tiêu '\(k)' / unknown setting '\(k)'"
            case .outOfRange(let k, let v): "\(k) = \(v) ngoài khoảng 0…1 / out of range 0…1"
            }
        }
    }

    /// Every value `set` accepts, by its key.
    public var values: [String: Double] {
        var out = ["availability_threshold": availabilityThreshold, "programme_share": programmeShare]
        for (id, t) in targets { out[id.rawValue] = t.value }
        return out
    }

    /// Sets `key` (a KPI id, `availability_threshold` or `programme_share`) to a fraction 0…1.
    public mutating func set(_ key: String, _ value: Double) throws(SettingError) {
        guard (0...1).contains(value) else { throw .outOfRange(key, value) }
        switch key {
        case "availability_threshold": availabilityThreshold = value
        case "programme_share": programmeShare = value
        default:
            guard let id = KPIID(rawValue: key) else { throw .unknown(key) }
            targets[id] = KPITarget(value, strict: targets[id]?.strict ?? false)
        }
    }
}
