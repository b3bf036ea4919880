import Foundation

/// A device's remotely managed settings (protocol §10). Every field is optional: the desired
/// document holds what an operator set; a report holds what the device runs.
public struct DeviceSettings: Codable, Sendable, Hashable {
    /// Telemetry interval and the liveness rule's heartbeat, seconds (1–3600).
    public var heartbeatSeconds: Int?
    /// Loudspeakers: the highest volume a `set_volume` may reach (0–100).
    public var maxVolume: Int?
    /// Cameras: days of recordings kept (1–365).
    public var retentionDays: Int?
    /// Where the device fetches media (http or https).
    public var mediaBaseURL: String?
    /// NTP servers, 1–4 host names.
    public var ntp: [String]?

    enum CodingKeys: String, CodingKey {
        case heartbeatSeconds = "heartbeat_s", maxVolume = "max_volume", retentionDays = "retention_days",
             mediaBaseURL = "media_base_url", ntp
    }

    public init(heartbeatSeconds: Int? = nil, maxVolume: Int? = nil, retentionDays: Int? = nil, mediaBaseURL: String? = nil,
                ntp: [String]? = nil) {
        self.heartbeatSeconds = heartbeatSeconds
        self.maxVolume = maxVolume
        self.retentionDays = retentionDays
        self.mediaBaseURL = mediaBaseURL
        self.ntp = ntp
    }

    public static let heartbeatRange = 1...3600
    public static let volumeRange = 0...100
    public static let retentionRange = 1...365
    public static let ntpCount = 1...4

    /// Field names in the order documents and tables show them.
    public static let fieldNames = ["heartbeat_s", "max_volume", "retention_days", "media_base_url", "ntp"]

    public var isEmpty: Bool { self == DeviceSettings() }

    /// The fields set, by wire name, as display text.
    public var fields: [(name: String, value: String)] {
        var out: [(String, String)] = []
        if let v = heartbeatSeconds { out.append(("heartbeat_s", "\(v)")) }
        if let v = maxVolume { out.append(("max_volume", "\(v)")) }
        if let v = retentionDays { out.append(("retention_days", "\(v)")) }
        if let v = mediaBaseURL { out.append(("media_base_url", v)) }
        if let v = ntp { out.append(("ntp", v.joined(separator: ","))) }
        return out
    }

    /// `self` with every field `change` sets replaced (a set changes only the fields given).
    public func merging(_ change: DeviceSettings) -> DeviceSettings {
        DeviceSettings(heartbeatSeconds: change.heartbeatSeconds ?? heartbeatSeconds, maxVolume: change.maxVolume ?? maxVolume,
                       retentionDays: change.retentionDays ?? retentionDays, mediaBaseURL: change.mediaBaseURL ?? mediaBaseURL,
                       ntp: change.ntp ?? ntp)
    }

    /// Why these values cannot be sent to a device of this class; nil when they can. Bilingual.
    public func problem(for deviceClass: DeviceClass?) -> String? {
        if let v = heartbeatSeconds, !Self.heartbeatRange.contains(v) {
            return "heartbeat_s phải 1–3600 / heartbeat_s must be 1–3600 (got \(v))"
        }
        if let v = maxVolume {
            guard Self.volumeRange.contains(v) else { return "max_volume phải 0–100 / max_volume must be 0–100 (got \(v))" }
            if let c = deviceClass, c != .speaker { return "max_volume chỉ cho cụm loa / max_volume is for speakers only" }
        }
        if let v = retentionDays {
            guard Self.retentionRange.contains(v) else { return "retention_days phải 1–365 / retention_days must be 1–365 (got \(v))" }
            if let c = deviceClass, c != .camera { return "retention_days chỉ cho camera / retention_days is for cameras only" }
        }
        if let v = mediaBaseURL, !Self.isMediaURL(v) {
            return "media_base_url phải là URL http/https / media_base_url must be an http or https URL (got '\(v.prefix(80))')"
        }
        if let v = ntp {
            guard Self.ntpCount.contains(v.count) else { return "ntp: 1–4 máy chủ / ntp: 1–4 servers (got \(v.count))" }
            if let bad = v.first(where: { !Self.isHostName($0) }) {
                return "ntp: '\(bad.prefix(80))' không phải tên máy / is not a host name"
            }
        }
        return nil
    }

    public static func isMediaURL(_ s: String) -> Bool {
        guard s.utf8.count <= 512, let u = URLComponents(string: s), let scheme = u.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = u.host, !host.isEmpty,
              u.user == nil, u.password == nil else { return false }
        return true
    }

    /// RFC 1123 host name or dotted IPv4: labels of letters, digits and hyphens, ≤ 253 bytes.
    public static func isHostName(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-"
                && l.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" }
        }
    }
}

/// What a device said of a configuration version (`config_report.result`).
public enum ConfigResult: String, Codable, Sendable, CaseIterable {
    case applied, rejected
}

/// The desired configuration of one device and what it reported, as stored.
public struct DeviceConfigRecord: Sendable, Hashable {
    public var deviceID: String
    /// 0: nothing desired yet (only reports known).
    public var version: Int64
    public var desired: DeviceSettings
    public var updatedAt: Date?
    public var updatedBy: String?
    /// The highest version sent to the device (retained on its `config` topic).
    public var publishedVersion: Int64
    public var publishedAt: Date?
    /// The version the device last applied (from a report, or its birth's `config_version`).
    public var appliedVersion: Int64?
    /// The values the device runs (its latest report).
    public var reported: DeviceSettings?
    /// The latest report: which version, what result, why.
    public var lastReportVersion: Int64?
    public var lastResult: ConfigResult?
    public var lastDetail: String?
    public var reportedAt: Date?

    public init(deviceID: String, version: Int64 = 0, desired: DeviceSettings = DeviceSettings(), updatedAt: Date? = nil,
                updatedBy: String? = nil, publishedVersion: Int64 = 0, publishedAt: Date? = nil, appliedVersion: Int64? = nil,
                reported: DeviceSettings? = nil, lastReportVersion: Int64? = nil, lastResult: ConfigResult? = nil,
                lastDetail: String? = nil, reportedAt: Date? = nil) {
        self.deviceID = deviceID
        self.version = version
        self.desired = desired
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
        self.publishedVersion = publishedVersion
        self.publishedAt = publishedAt
        self.appliedVersion = appliedVersion
        self.reported = reported
        self.lastReportVersion = lastReportVersion
        self.lastResult = lastResult
        self.lastDetail = lastDetail
        self.reportedAt = reportedAt
    }

    public var drift: ConfigDrift { ConfigDrift.of(self) }
}

/// Whether a device runs its desired configuration (pure: from the stored record alone).
public enum ConfigDrift: Sendable, Hashable {
    /// Nothing desired: nothing to drift from.
    case unset
    /// The device runs the desired version with the desired values.
    case inSync
    /// The desired version is not yet applied (not sent, or sent and not answered).
    case pending(desired: Int64, applied: Int64?)
    /// The device refused the desired version.
    case rejected(version: Int64, detail: String?)
    /// The version matches but a reported value differs from the desired one.
    case differs(fields: [String])

    public var isDrift: Bool {
        switch self {
        case .unset, .inSync: false
        default: true
        }
    }

    public static func of(_ r: DeviceConfigRecord) -> ConfigDrift {
        guard r.version > 0 else { return .unset }
        if r.lastResult == .rejected, r.lastReportVersion == r.version { return .rejected(version: r.version, detail: r.lastDetail) }
        guard r.appliedVersion == r.version else { return .pending(desired: r.version, applied: r.appliedVersion) }
        let differing = differences(desired: r.desired, reported: r.reported ?? DeviceSettings())
        return differing.isEmpty ? .inSync : .differs(fields: differing)
    }

    /// The desired fields whose reported value is not the desired one (a field not reported differs).
    public static func differences(desired d: DeviceSettings, reported r: DeviceSettings) -> [String] {
        var out: [String] = []
        if let v = d.heartbeatSeconds, r.heartbeatSeconds != v { out.append("heartbeat_s") }
        if let v = d.maxVolume, r.maxVolume != v { out.append("max_volume") }
        if let v = d.retentionDays, r.retentionDays != v { out.append("retention_days") }
        if let v = d.mediaBaseURL, r.mediaBaseURL != v { out.append("media_base_url") }
        if let v = d.ntp, r.ntp != v { out.append("ntp") }
        return out
    }

    /// Bilingual one-line text for the CLI and the console.
    public var text: String {
        switch self {
        case .unset: "chưa đặt cấu hình / no configuration set"
        case .inSync: "khớp / in sync"
        case .pending(let d, let a):
            "LỆCH: chờ thiết bị áp dụng phiên bản \(d) (đang chạy \(a.map(String.init) ?? "?")) / DRIFT: waiting for the device to apply version \(d) (running \(a.map(String.init) ?? "?"))"
        case .rejected(let v, let detail):
            "LỆCH: thiết bị từ chối phiên bản \(v) / DRIFT: the device rejected version \(v)" + (detail.map { ": \($0)" } ?? "")
        case .differs(let f):
            "LỆCH: giá trị khác / DRIFT: values differ: " + f.joined(separator: ", ")
        }
    }
}
