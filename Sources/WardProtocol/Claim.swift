import Crypto
import Foundation
import WardDomain

/// One-time claim codes: a device that holds its code asks for its broker credentials once,
/// over the shared provisioning topics (protocol §7).
///
/// The code never crosses the network. The device proves it knows it (an HMAC over a fresh
/// nonce) and the controller seals the credentials with a key only the code's holder can
/// derive, so whoever else may read the provisioning topics learns nothing and cannot burn
/// someone else's code.
public enum ClaimCode {
    /// Crockford's base32: no I, L, O or U, so a code read off a label is hard to mistype.
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    static let length = 12  // 60 bits

    /// A new code, as printed for the installer: `XXXX-XXXX-XXXX`.
    public static func generate<G: RandomNumberGenerator>(using rng: inout G) -> String {
        let chars = (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
        return stride(from: 0, to: length, by: 4).map { String(chars[$0..<$0 + 4]) }.joined(separator: "-")
    }

    public static func generate() -> String {
        var g = SystemRandomNumberGenerator()
        return generate(using: &g)
    }

    /// The code as typed (any case, dashes or spaces, O for 0, I or L for 1) in canonical form;
    /// nil when it is not a code.
    public static func normalize(_ typed: String) -> String? {
        var out = ""
        for ch in typed.uppercased() where ch != "-" && ch != " " {
            let c: Character = switch ch {
            case "O": "0"
            case "I", "L": "1"
            default: ch
            }
            guard alphabet.contains(c) else { return nil }
            out.append(c)
        }
        return out.count == length ? out : nil
    }

    /// What the controller stores and both sides key with: a hash of the code, so the database
    /// does not hold the code as printed.
    public static func secret(_ code: String) -> [UInt8]? {
        guard let n = normalize(code) else { return nil }
        return Array(SHA256.hash(data: Data("wardfleet-claim-v1:\(n)".utf8)))
    }
}

/// Device → controller on `wardfleet/provision/{device}/request`.
public struct ClaimRequest: Codable, Sendable, Hashable {
    public var v: Int
    public var device: String
    /// 16 random bytes, base64; new for every request.
    public var nonce: String
    /// HMAC-SHA256(secret, "device|nonce"), hex.
    public var proof: String

    public init(device: String, secret: [UInt8], nonce: String) {
        v = ProtocolLimits.version
        self.device = device
        self.nonce = nonce
        proof = ClaimCrypto.proof(secret: secret, device: device, nonce: nonce)
    }
}

/// Controller → device on `wardfleet/provision/{device}/response`.
public struct ClaimResponse: Codable, Sendable, Hashable {
    public enum Result: String, Codable, Sendable {
        case ok, refused
    }
    /// Why a claim was refused; the device shows it to the installer.
    public enum Reason: String, Codable, Sendable, CaseIterable {
        /// No code was issued for this device (or it was removed).
        case noCode = "no_code"
        case used, expired
        /// The proof did not match: a wrong code.
        case wrongCode = "wrong_code"
        /// Wrong codes came in a row: the next proof is looked at after `retry_after_s`
        /// seconds (the real code then works; a new code starts afresh).
        case locked
        /// The broker could not create the account; the code is still valid.
        case tryAgain = "try_again"
    }

    public var v: Int
    public var device: String
    public var nonce: String
    public var result: Result
    public var reason: Reason?
    /// AES-GCM box (nonce ‖ ciphertext ‖ tag), base64, of `ClaimCredentials` as JSON.
    public var sealed: String?
    /// With `locked`: whole seconds until the next proof is looked at.
    public var retryAfter: Int?

    enum CodingKeys: String, CodingKey {
        case v, device, nonce, result, reason, sealed
        case retryAfter = "retry_after_s"
    }

    public init(device: String, nonce: String, result: Result, reason: Reason? = nil, sealed: String? = nil, retryAfter: Int? = nil) {
        v = ProtocolLimits.version
        self.device = device
        self.nonce = nonce
        self.result = result
        self.reason = reason
        self.sealed = sealed
        self.retryAfter = retryAfter
    }
}

/// What a successful claim hands the device.
public struct ClaimCredentials: Codable, Sendable, Hashable {
    public var username: String
    public var password: String
    public var clientID: String
    public var topicPrefix: String

    enum CodingKeys: String, CodingKey {
        case username, password
        case clientID = "client_id"
        case topicPrefix = "topic_prefix"
    }

    public init(username: String, password: String, clientID: String, topicPrefix: String) {
        self.username = username
        self.password = password
        self.clientID = clientID
        self.topicPrefix = topicPrefix
    }
}

public enum ClaimCrypto {
    public static func newNonce() -> String {
        var g = SystemRandomNumberGenerator()
        return Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }).base64EncodedString()
    }

    public static func proof(secret: [UInt8], device: String, nonce: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(device)|\(nonce)".utf8), using: SymmetricKey(data: secret))
        return Data(mac).map { String(format: "%02x", $0) }.joined()
    }

    /// Constant-time comparison of the proof.
    public static func verify(_ request: ClaimRequest, secret: [UInt8]) -> Bool {
        let expected = Array(proof(secret: secret, device: request.device, nonce: request.nonce).utf8)
        let got = Array(request.proof.lowercased().utf8)
        guard expected.count == got.count else { return false }
        return zip(expected, got).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func key(secret: [UInt8], device: String, nonce: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), salt: Data(nonce.utf8),
                               info: Data("wardfleet-claim-v1 credentials \(device)".utf8), outputByteCount: 32)
    }

    public static func seal(_ c: ClaimCredentials, secret: [UInt8], device: String, nonce: String) throws -> String {
        let box = try AES.GCM.seal(Data(ProtocolEncoder.encode(c)), using: key(secret: secret, device: device, nonce: nonce))
        return box.combined!.base64EncodedString()  // combined is non-nil with the default 12-byte nonce
    }

    /// Nil when the box does not open with this code (wrong code, or tampered with).
    public static func open(_ sealed: String, secret: [UInt8], device: String, nonce: String) -> ClaimCredentials? {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: key(secret: secret, device: device, nonce: nonce)) else { return nil }
        return try? JSONDecoder().decode(ClaimCredentials.self, from: plain)
    }
}

extension Topics {
    public static let provisionRoot = "wardfleet/provision"
    /// What the controller subscribes to when it accepts claims.
    public static let claimRequests = "\(provisionRoot)/+/request"
    public static func claimRequest(_ device: String) -> String { "\(provisionRoot)/\(device)/request" }
    public static func claimResponse(_ device: String) -> String { "\(provisionRoot)/\(device)/response" }

    /// The device of a claim request topic; nil for anything else.
    public static func claimRequestDevice(_ topic: String) -> String? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "wardfleet", parts[1] == "provision", parts[3] == "request",
              Identifier.isValid(String(parts[2])) else { return nil }
        return String(parts[2])
    }
}
