import Crypto
import Foundation

/// The server's secrets key: 32 random bytes in a file only the service reads (mode 0600). It
/// seals at rest what the controller must be able to read back, i.e. each device's current broker
/// password, which it needs to seal a rotated one for the device (protocol §11, docs/security.md).
/// AES-256-GCM, with the device id as associated data: a sealed value moved to another device's
/// row does not open.
public struct ServerSecrets: Sendable {
    /// The key's bytes (SymmetricKey itself is not Sendable).
    let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(key: SymmetricKey) { keyBytes = key.withUnsafeBytes { Array($0) } }

    /// Reads the key file; with `create`, makes it (mode 0600) when it does not exist yet.
    public static func load(path: String, create: Bool) throws -> ServerSecrets {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
                throw Failure(description: "tệp khoá \(path) không hợp lệ / the secrets key file \(path) is not 32 bytes of base64")
            }
            return ServerSecrets(key: SymmetricKey(data: data))
        }
        guard create else {
            throw Failure(description: "không có tệp khoá bí mật \(path) / no secrets key file \(path) (made by `devices provision`)")
        }
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "không tạo được / cannot create \(path)")
        }
        return ServerSecrets(key: key)
    }

    public func seal(_ secret: String, for device: String) throws -> String {
        try AES.GCM.seal(Data(secret.utf8), using: key, authenticating: Data(device.utf8)).combined!.base64EncodedString()
    }

    /// Nil when it does not open (another key, another device's value, tampered with).
    public func open(_ sealed: String, for device: String) -> String? {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: key, authenticating: Data(device.utf8)) else { return nil }
        return String(data: plain, encoding: .utf8)
    }
}
