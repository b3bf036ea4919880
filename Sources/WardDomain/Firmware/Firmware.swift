import Foundation

/// A firmware image of the library: content-addressed by SHA-256, signed for one class, model and version.
public struct FirmwareImage: Codable, Sendable, Hashable {
    public var sha256: String
    public var deviceClass: DeviceClass
    public var model: String
    public var version: String
    public var size: Int64
    public var notes: String?
    public var uploadedBy: String?
    public var uploadedAt: Date
    /// Ed25519 signature over `FirmwareManifest.text(...)`, base64.
    public var signature: String
    /// The signing key's short fingerprint (see `FirmwareManifest.fingerprint`).
    public var keyFingerprint: String

    public init(sha256: String, deviceClass: DeviceClass, model: String, version: String, size: Int64, notes: String?,
                uploadedBy: String?, uploadedAt: Date, signature: String, keyFingerprint: String) {
        self.sha256 = sha256
        self.deviceClass = deviceClass
        self.model = model
        self.version = version
        self.size = size
        self.notes = notes
        self.uploadedBy = uploadedBy
        self.uploadedAt = uploadedAt
        self.signature = signature
        self.keyFingerprint = keyFingerprint
    }

    public var manifest: String { FirmwareManifest.text(deviceClass: deviceClass, model: model, version: version, sha256: sha256, size: size) }
}

/// What is signed: the image's identity, so a signature cannot be moved to another version, model or file.
public enum FirmwareManifest {
    public static let prefix = "wardfleet-firmware-v1"

    public static func text(deviceClass: DeviceClass, model: String, version: String, sha256: String, size: Int64) -> String {
        "\(prefix)\n\(deviceClass.rawValue)\n\(model)\n\(version)\n\(sha256.lowercased())\n\(size)"
    }
}

/// Where one device's update stands in a campaign (issue 17: queued … rolled back).
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, notified, downloading, verifying, installing, rebooting, succeeded, failed
    case rolledBack = "rolled_back"
    /// Not sent: the campaign was cancelled or aborted first.
    case cancelled
    /// Not sent: the device's birth does not announce `ota`.
    case skipped

    public var isTerminal: Bool { [.succeeded, .failed, .rolledBack, .cancelled, .skipped].contains(self) }
    /// An order is out at the device.
    public var isSent: Bool { [.notified, .downloading, .verifying, .installing, .rebooting].contains(self) }
    /// Counts as finished for the abort rule.
    public var isFinished: Bool { [.succeeded, .failed, .rolledBack].contains(self) }
    public var isFailure: Bool { self == .failed || self == .rolledBack }
    /// States a device reports on `ota_report`.
    public static let reported: [JobState] = [.notified, .downloading, .verifying, .installing, .rebooting, .failed, .rolledBack]

    public var vietnamese: String {
        switch self {
        case .queued: "chờ" case .notified: "đã gửi lệnh" case .downloading: "đang tải"
        case .verifying: "đang kiểm tra" case .installing: "đang cài" case .rebooting: "đang khởi động lại"
        case .succeeded: "thành công" case .failed: "thất bại" case .rolledBack: "đã quay lại bản cũ"
        case .cancelled: "đã hủy" case .skipped: "bỏ qua (không hỗ trợ ota)"
        }
    }
}

/// Why a device's update failed.
public enum JobFailure: String, Codable, Sendable, CaseIterable {
    // Reported by the device.
    case downloadFailed = "download_failed"
    case badHash = "bad_hash"
    case badSignature = "bad_signature"
    case installFailed = "install_failed"
    case busy
    case wrongModel = "wrong_model"
    case expired
    // Decided by the controller.
    case cameBackOldVersion = "came_back_old_version"
    case timeout

    public static let deviceReported: [JobFailure] = [.downloadFailed, .badHash, .badSignature, .installFailed, .busy, .wrongModel, .expired]

    public var vietnamese: String {
        switch self {
        case .downloadFailed: "tải về thất bại" case .badHash: "sai mã băm" case .badSignature: "sai chữ ký"
        case .installFailed: "cài đặt thất bại" case .busy: "thiết bị đang bận" case .wrongModel: "sai kiểu máy"
        case .expired: "lệnh hết hạn" case .cameBackOldVersion: "khởi động lại vẫn bản cũ" case .timeout: "quá thời gian"
        }
    }
}

/// What the controller hears that moves jobs: a device's live birth, or its `ota_report`.
public enum FirmwareSignal: Sendable, Hashable {
    case birth(device: String, firmware: String, capabilities: [String], at: Date)
    case report(device: String, job: String, state: JobState, reason: JobFailure?, at: Date)
    case offline(device: String, at: Date)

    public var device: String {
        switch self {
        case .birth(let d, _, _, _), .report(let d, _, _, _, _), .offline(let d, _): d
        }
    }
}

/// An `ota_report` as the firmware campaigns check it: which device, which job id.
public struct FirmwareReportRef: Sendable, Hashable {
    public var device: String
    public var job: String
    public init(device: String, job: String) {
        self.device = device
        self.job = job
    }
}

/// The capability a device's birth lists when it applies update orders.
public enum OTACapability {
    public static let name = "ota"
}

/// Which simulated devices fail on purpose (firmware-sim's `--ota-*-failures RATE`): a hash of the device id, so the
/// same devices fail in every run and a test can name them in advance.
public enum FaultInjection {
    public static func chosen(_ device: String, rate: Double, _ what: String) -> Bool {
        guard rate > 0 else { return false }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64
        for b in "\(what):\(device)".utf8 {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        // splitmix64's finaliser: FNV alone leaves the high bits of similar ids alike.
        h ^= h >> 30
        h &*= 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27
        h &*= 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return Double(h >> 11) / Double(UInt64(1) << 53) < rate
    }
}
