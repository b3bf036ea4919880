import Crypto
import Foundation
import WardDomain
import WardProtocol
import WardStorage

/// The server's Ed25519 signing key: generated on first use and kept in a 0600 file beside the database
/// (or where `--signing-key` says). Devices pin its public key (docs/firmware.md).
public struct FirmwareSigningKey: Sendable {
    /// The 32-byte seed (the key type itself is not Sendable).
    let raw: Data
    public let path: String
    public var privateKey: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: raw) }

    public var publicKeyBase64: String { privateKey.publicKey.rawRepresentation.base64EncodedString() }
    public var fingerprint: String { FirmwareSigning.fingerprint(publicKey: privateKey.publicKey.rawRepresentation) }

    public static func defaultPath(databasePath: String) -> String {
        if WardDatabase.isPostgres(databasePath) { return "firmware-signing.key" }
        return URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("firmware-signing.key").path
    }

    public struct KeyFileError: Refusal {
        public var description: String
    }

    /// Reads the key (base64 of the 32 raw bytes), or makes one and writes it (mode 0600) when the file does not exist.
    public static func loadOrCreate(_ path: String) throws -> FirmwareSigningKey {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
                throw KeyFileError(description: "không đọc được khóa ký \(path) / cannot read the signing key \(path)")
            }
            if let mode = (try? fm.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
                throw KeyFileError(description: "khóa ký \(path) để người khác đọc được (chmod 600) / the signing key \(path) is readable by others (chmod 600)")
            }
            return FirmwareSigningKey(raw: key.rawRepresentation, path: path)
        }
        let key = Curve25519.Signing.PrivateKey()
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        // Created 0600 before the secret is written, then moved into place: never readable by others, never half written.
        let tmp = path + ".partial-\(UUID().uuidString.prefix(8))"
        guard fm.createFile(atPath: tmp, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw KeyFileError(description: "không tạo được \(path) / cannot create \(path)")
        }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
        try h.write(contentsOf: Data((key.rawRepresentation.base64EncodedString() + "\n").utf8))
        try h.synchronize()
        try h.close()
        guard link(tmp, path) == 0 else {  // never over a key another process made meanwhile
            unlink(tmp)
            return try loadOrCreate(path)
        }
        unlink(tmp)
        return FirmwareSigningKey(raw: key.rawRepresentation, path: path)
    }
}

/// The firmware library: images stored once under their SHA-256 (like media), each signed for its class,
/// model and version. Devices download by hash (`GET /firmware/{sha256}`) and verify size, hash and signature.
public struct FirmwareLibrary: Sendable {
    public let root: URL
    let repository: FirmwareRepository
    let database: WardDatabase
    let keyPath: String
    let clock: any TimeSource

    public init(root: URL, database: WardDatabase, keyPath: String, clock: any TimeSource = SystemTimeSource()) {
        self.root = root
        repository = FirmwareRepository(database)
        self.database = database
        self.keyPath = keyPath
        self.clock = clock
    }

    /// `<db folder>/firmware` (with PostgreSQL: ./firmware, shared storage in a cluster, like media).
    public static func defaultRoot(databasePath: String) -> URL {
        if WardDatabase.isPostgres(databasePath) { return URL(fileURLWithPath: "firmware") }
        return URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("firmware")
    }

    public func signingKey() throws -> FirmwareSigningKey { try FirmwareSigningKey.loadOrCreate(keyPath) }

    public func file(of sha256: String) -> URL {
        root.appendingPathComponent(String(sha256.prefix(2))).appendingPathComponent("\(sha256).bin")
    }

    public enum AddError: Refusal {
        case notFound(String)
        case empty
        case badText(String)
        public var description: String {
            switch self {
            case .notFound(let p): "không có tệp: \(p) / no such file: \(p)"
            case .empty: "tệp rỗng / the file is empty"
            case .badText(let what): "\(what): 1–64 ký tự, không xuống dòng / 1–64 characters, no line breaks"
            }
        }
    }

    /// Adds an image: hashed, signed, stored. The same bytes again return the stored image (isNew false).
    public func add(file path: String, deviceClass: DeviceClass, model: String, version: String, notes: String? = nil,
                    by user: String? = nil) throws -> (image: FirmwareImage, isNew: Bool) {
        for (what, text) in [("model", model), ("version", version)] {
            guard !text.isEmpty, text.count <= 64, !text.contains(where: \.isNewline) else { throw AddError.badText(what) }
        }
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              (attrs[.type] as? FileAttributeType) == .typeRegular else { throw AddError.notFound(path) }
        let size = (attrs[.size] as? NSNumber)?.int64Value ?? 0
        guard size > 0 else { throw AddError.empty }
        let hash = try MediaLibrary.sha256(of: path)
        if let existing = try repository.image(hash) { return (existing, false) }
        let key = try signingKey()
        let model = model.nfc
        let manifest = FirmwareManifest.text(deviceClass: deviceClass, model: model, version: version, sha256: hash, size: size)
        let image = FirmwareImage(sha256: hash, deviceClass: deviceClass, model: model, version: version, size: size,
                                  notes: notes?.nfc, uploadedBy: user, uploadedAt: clock.now(),
                                  signature: try FirmwareSigning.sign(manifest, with: key.privateKey), keyFingerprint: key.fingerprint)
        try store(path, as: file(of: hash))
        let added = try repository.add(image)
        if added.isNew {
            try? AuthRepository(database).audit(user: user ?? "cli", action: "firmware.add", target: "\(deviceClass.rawValue) \(model) \(version)",
                                                     detail: "sha256 \(hash), \(size) B", address: nil, at: clock.now())
        }
        return added
    }

    public func list() throws -> [FirmwareImage] { try repository.images() }
    public func get(_ sha256: String) throws -> FirmwareImage? { try repository.image(sha256) }

    private func store(_ path: String, as target: URL) throws { try storeContentAddressed(path, as: target) }
}
