import Crypto
import Foundation
import WardDomain

// Remote configuration (protocol §10) and credential rotation (protocol §11).

/// Capability names a device announces in its birth.
public enum FleetCapability {
    /// Applies `config` documents and answers `config_report`.
    public static let config = "config"
    /// Accepts sealed passwords on `credentials` and answers `credentials_report`.
    public static let credentials = "credentials"
}

/// controller → device, retained on `…/{device}/config`: the whole desired configuration.
public struct ConfigMessage: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var version: Int64
    public var ts: Int64
    public var config: DeviceSettings

    public init(device: String, version: Int64, ts: Int64, config: DeviceSettings) {
        v = ProtocolLimits.version
        self.device = device
        self.version = version
        self.ts = ts
        self.config = config
    }
}

/// device → controller on `…/{device}/config_report`: what became of a version.
public struct ConfigReport: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var boot: String
    public var ts: Int64
    public var version: Int64
    public var result: String
    public var detail: String?
    /// The values the device runs now (after applying, or still, after rejecting).
    public var reported: DeviceSettings

    public init(device: String, boot: String, ts: Int64, version: Int64, result: ConfigResult, detail: String?, reported: DeviceSettings) {
        v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.ts = ts
        self.version = version
        self.result = result.rawValue
        self.detail = detail
        self.reported = reported
    }
}

/// A checked `config_report`.
public struct ConfigReportInfo: Sendable, Hashable {
    public var device: String
    public var boot: String
    public var version: Int64
    public var result: ConfigResult
    public var detail: String?
    public var reported: DeviceSettings
}

/// controller → device, retained on `…/{device}/credentials`: a new password sealed with the
/// device's current one.
public struct CredentialsMessage: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    public var rotation: String
    public var ts: Int64
    /// 16 random bytes, base64: the HKDF salt.
    public var nonce: String
    /// base64 of AES-256-GCM's combined box (12-byte IV ‖ ciphertext ‖ 16-byte tag) of `{"password":"…"}`.
    public var sealed: String

    public init(device: String, rotation: String, ts: Int64, nonce: String, sealed: String) {
        v = ProtocolLimits.version
        self.device = device
        self.rotation = rotation
        self.ts = ts
        self.nonce = nonce
        self.sealed = sealed
    }
}

/// device → controller on `…/{device}/credentials_report`.
public struct CredentialsReport: Codable, Sendable, Hashable {
    public enum Result: String, Codable, Sendable, CaseIterable { case stored, refused }
    public var v: Int
    public var device: String
    public var boot: String
    public var ts: Int64
    public var rotation: String
    public var result: String
    public var reason: String?

    public init(device: String, boot: String, ts: Int64, rotation: String, result: Result, reason: String?) {
        v = ProtocolLimits.version
        self.device = device
        self.boot = boot
        self.ts = ts
        self.rotation = rotation
        self.result = result.rawValue
        self.reason = reason
    }
}

/// A checked `credentials_report`.
public struct CredentialsReportInfo: Sendable, Hashable {
    public var device: String
    public var boot: String
    public var rotation: String
    public var stored: Bool
    public var reason: String?
}

/// The sealed box of a rotation: AES-256-GCM under HKDF-SHA256(input = the device's current
/// password, salt = the message's 16-byte nonce, info = "wardfleet-rotate-v1 {device}").
public enum RotationCrypto {
    struct Secret: Codable { var password: String }

    static func key(currentPassword: String, device: String, nonce: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: Data(currentPassword.utf8)), salt: Data(nonce),
                               info: Data("wardfleet-rotate-v1 \(device)".utf8), outputByteCount: 32)
    }

    public static func newNonce() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    /// The message that delivers `newPassword` to `device`, sealed with its current password.
    public static func message(device: String, rotation: String, currentPassword: String, newPassword: String, nonce: [UInt8] = newNonce(),
                               at ts: Int64) throws -> CredentialsMessage {
        let box = try AES.GCM.seal(Data(ProtocolEncoder.encode(Secret(password: newPassword))),
                                   using: key(currentPassword: currentPassword, device: device, nonce: nonce))
        return CredentialsMessage(device: device, rotation: rotation, ts: ts, nonce: Data(nonce).base64EncodedString(),
                                  sealed: box.combined!.base64EncodedString())
    }

    /// The new password, or nil when the box does not open with `currentPassword` (wrong
    /// password, another device's message, tampered with, or a nonce that is not 16 bytes).
    public static func open(_ m: CredentialsMessage, currentPassword: String) -> String? {
        guard let nonce = Data(base64Encoded: m.nonce), nonce.count == 16, let data = Data(base64Encoded: m.sealed),
              let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: key(currentPassword: currentPassword, device: m.device, nonce: Array(nonce))),
              let s = try? JSONDecoder().decode(Secret.self, from: plain), !s.password.isEmpty else { return nil }
        return s.password
    }
}

extension ProtocolDecoder {
    func configReport(_ r: ConfigReport, _ a: TopicAddress, _ now: Date) throws -> ConfigReportInfo {
        try checkHeader(version: r.v, device: r.device, boot: r.boot, a)
        _ = try deviceTime(r.ts, now: now)
        guard r.version >= 0 else { throw Rejection(.outOfRange, "version=\(r.version) ∉ 0…") }
        guard let result = ConfigResult(rawValue: r.result) else {
            throw Rejection(.invalidField, "result '\(r.result.prefix(32))' is not one of applied, rejected")
        }
        if let d = r.detail, d.utf8.count > 512 { throw Rejection(.outOfRange, "detail longer than 512 B") }
        if result == .rejected, (r.detail ?? "").isEmpty { throw Rejection(.invalidField, "detail: missing for rejected (say why)") }
        if let problem = r.reported.problem(for: nil) { throw Rejection(.outOfRange, "reported: \(problem)") }
        return ConfigReportInfo(device: r.device, boot: r.boot, version: r.version, result: result, detail: r.detail?.nfc, reported: r.reported)
    }

    func credentialsReport(_ r: CredentialsReport, _ a: TopicAddress, _ now: Date) throws -> CredentialsReportInfo {
        try checkHeader(version: r.v, device: r.device, boot: r.boot, a)
        _ = try deviceTime(r.ts, now: now)
        guard !r.rotation.isEmpty, r.rotation.utf8.count <= 64 else { throw Rejection(.invalidField, "rotation: 1–64 characters") }
        guard let result = CredentialsReport.Result(rawValue: r.result) else {
            throw Rejection(.invalidField, "result '\(r.result.prefix(32))' is not one of stored, refused")
        }
        if let d = r.reason, d.utf8.count > 256 { throw Rejection(.outOfRange, "reason longer than 256 B") }
        if result == .refused, (r.reason ?? "").isEmpty { throw Rejection(.invalidField, "reason: missing for refused") }
        return CredentialsReportInfo(device: r.device, boot: r.boot, rotation: r.rotation, stored: result == .stored, reason: r.reason?.nfc)
    }
}
