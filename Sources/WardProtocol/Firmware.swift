import Crypto
import Foundation
import WardDomain

// Firmware updates (protocol §9): the retained order on `…/{device}/ota` and the device's `ota_report`.

/// controller → device, retained on `…/{device}/ota`: the device's current update order. An empty retained
/// payload clears it.
public struct OTAOrder: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var campaign: Int64
    public var job: String
    public var deviceClass: String
    public var model: String
    public var version: String
    public var url: String
    public var sha256: String
    public var size: Int64
    /// Ed25519 over the manifest (`FirmwareManifest.text`), base64.
    public var signature: String
    /// The signing key's fingerprint (`FirmwareSigning.fingerprint`).
    public var key: String
    public var ts: Int64
    /// Unix ms: a device that receives the order later answers `failed`/`expired` and does nothing.
    public var deadline: Int64

    enum CodingKeys: String, CodingKey {
        case v, device, campaign, job, deviceClass = "class", model, version, url, sha256, size, signature, key, ts, deadline
    }

    public init(device: String, campaign: Int64, job: String, image: FirmwareImage, url: String, ts: Int64, deadline: Int64) {
        v = ProtocolLimits.version
        self.device = device
        self.campaign = campaign
        self.job = job
        deviceClass = image.deviceClass.rawValue
        model = image.model
        version = image.version
        self.url = url
        sha256 = image.sha256
        size = image.size
        signature = image.signature
        key = image.keyFingerprint
        self.ts = ts
        self.deadline = deadline
    }

    public var manifest: String? {
        DeviceClass(rawValue: deviceClass).map { FirmwareManifest.text(deviceClass: $0, model: model, version: version, sha256: sha256, size: size) }
    }
}

/// device → controller on `…/{device}/ota_report`: progress of an order.
public struct OTAReport: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var boot: String
    public var ts: Int64
    public var job: String
    public var state: String
    public var reason: String?
    public var detail: String?

    public init(device: String, boot: String, ts: Int64, job: String, state: JobState, reason: JobFailure? = nil, detail: String? = nil) {
        v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.ts = ts
        self.job = job
        self.state = state.rawValue
        self.reason = reason?.rawValue
        self.detail = detail
    }
}

/// A checked `ota_report`.
public struct OTAReportInfo: Sendable, Hashable {
    public var device: String
    public var boot: String
    public var job: String
    public var state: JobState
    public var reason: JobFailure?
    public var detail: String?
    public var deviceTime: Date
}

/// Ed25519 signing of firmware manifests (swift-crypto), shared by the controller (signs) and devices (verify).
public enum FirmwareSigning {
    /// The short fingerprint people compare: the first 8 bytes of SHA-256 of the raw public key, hex in pairs.
    public static func fingerprint(publicKey raw: Data) -> String {
        SHA256.hash(data: raw).prefix(8).map { String(format: "%02x", $0) }.joined(separator: ":")
    }

    public static func sign(_ manifest: String, with key: Curve25519.Signing.PrivateKey) throws -> String {
        try key.signature(for: Data(manifest.utf8)).base64EncodedString()
    }

    /// Whether `signature` (base64) is the key's over `manifest`.
    public static func verify(_ manifest: String, signature: String, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let sig = Data(base64Encoded: signature) else { return false }
        return publicKey.isValidSignature(sig, for: Data(manifest.utf8))
    }

    /// A public key from its base64 text (32 raw bytes), as `wardfleet firmware key` prints it.
    public static func publicKey(base64: String) -> Curve25519.Signing.PublicKey? {
        guard let d = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: d)
    }
}

extension ProtocolDecoder {
    func otaReport(_ r: OTAReport, _ a: TopicAddress, _ now: Date) throws -> OTAReportInfo {
        try checkHeader(version: r.v, device: r.device, boot: r.boot, a)
        let t = try deviceTime(r.ts, now: now)
        guard !r.job.isEmpty, r.job.utf8.count <= 64 else { throw Rejection(.invalidField, "job: 1–64 characters") }
        guard let state = JobState(rawValue: r.state), JobState.reported.contains(state) else {
            throw Rejection(.invalidField, "state '\(r.state.prefix(32))' is not one of " + JobState.reported.map(\.rawValue).joined(separator: ", "))
        }
        var reason: JobFailure?
        if let text = r.reason {
            guard let known = JobFailure(rawValue: text), JobFailure.deviceReported.contains(known) else {
                throw Rejection(.invalidField, "reason '\(text.prefix(32))' is not one of "
                    + JobFailure.deviceReported.map(\.rawValue).joined(separator: ", "))
            }
            reason = known
        }
        if state == .failed, reason == nil { throw Rejection(.invalidField, "reason: missing for failed") }
        if let d = r.detail, d.utf8.count > 512 { throw Rejection(.outOfRange, "detail longer than 512 B") }
        return OTAReportInfo(device: r.device, boot: r.boot, job: r.job, state: state, reason: reason, detail: r.detail?.nfc, deviceTime: t)
    }

}
