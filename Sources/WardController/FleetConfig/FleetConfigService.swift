import Foundation
import Logging
import WardDomain
import WardProtocol
import WardStorage

/// Where a device's broker password is changed: the dynamic-security plugin in production.
public protocol DevicePasswords: Sendable {
    func setPassword(device: String, password: String) async throws
}

extension DynamicSecurityAccounts: DevicePasswords {}

public struct FleetConfigConfiguration: Sendable {
    /// How often the database is read for new desired versions and rotations (the CLI writes them
    /// from another process); a change made or a report stored in this process wakes it at once.
    public var poll: Duration = .seconds(1)
    /// Seals and opens device passwords at rest; nil: rotations are not sent (configuration still is).
    public var secrets: ServerSecrets?
    /// Where a stored rotation's password is set; nil: rotations stop at `stored`.
    public var passwords: (any DevicePasswords)?
    /// The communes this controller runs; nil: all.
    public var communes: Set<String>?
    public init() {}
}

/// Why a configuration set or a rotation was refused (CLI, API).
public struct FleetConfigRefusal: Refusal {
    public var description: String
}

/// Remote configuration and credential rotation (protocol §10, §11): the operations the CLI, the
/// API and the console call (`set`, `rotate`, `view`), and the controller's loop that publishes
/// desired versions and rotations and finishes acknowledged rotations.
public actor FleetConfigService {
    private let db: WardDatabase
    private let publisher: any SchedulePublisher
    private let clock: any TimeSource
    private let configuration: FleetConfigConfiguration
    private let logger: Logger
    private var lastBirthCheck: ContinuousClock.Instant?

    public init(database: WardDatabase, publisher: any SchedulePublisher, clock: any TimeSource,
                configuration: FleetConfigConfiguration = FleetConfigConfiguration(), logger: Logger = Logger(label: "wardfleet.fleet-config")) {
        db = database
        self.publisher = publisher
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: operations (no broker needed: they write the database; a running controller sends)

    /// A new desired version with the fields of `change` replaced. Validated against the device's class.
    public static func set(_ db: WardDatabase, device: String, change: DeviceSettings, by user: String, at now: Date) throws -> DeviceConfigRecord {
        guard let d = try DeviceRepository(db).get(device), d.removedAt == nil else {
            throw FleetConfigRefusal(description: "không có thiết bị đang hoạt động '\(device)' / no active device '\(device)'")
        }
        guard !change.isEmpty else { throw FleetConfigRefusal(description: "không có gì để đổi / nothing to change (give at least one setting)") }
        if let p = change.problem(for: d.deviceClass) { throw FleetConfigRefusal(description: p) }
        let before = try FleetConfigRepository(db).get(device)?.desired
        let r = try FleetConfigRepository(db).set(device: device, change: change, by: user, at: now)
        // Before and after as JSON objects of the wire names, as the audit log keeps changes (the console puts them in words).
        func json(_ s: DeviceSettings?) -> String? {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return s.flatMap { try? e.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        try AuthRepository(db).audit(user: user, action: "device.config", target: device, detail: "phiên bản / version \(r.version)",
                                     address: nil, at: now, before: json(before) ?? "{}", after: json(r.desired))
        ChangeSignal.fleetConfig.poke()
        return r
    }

    /// Starts a rotation: a new password, sealed at rest; the controller sends it (returns the rotation id).
    public static func rotate(_ db: WardDatabase, device: String, secrets: ServerSecrets, by user: String, at now: Date) throws -> String {
        guard let d = try DeviceRepository(db).get(device), d.removedAt == nil else {
            throw FleetConfigRefusal(description: "không có thiết bị đang hoạt động '\(device)' / no active device '\(device)'")
        }
        let repo = FleetConfigRepository(db)
        guard let current = try repo.secret(device: device), secrets.open(current, for: device) != nil else {
            throw FleetConfigRefusal(description: """
                máy chủ không biết mật khẩu hiện tại của \(device) (cấp lại bằng `devices provision`) / the server does not know \
                \(device)'s current password (provision it again with `devices provision`): the new one could not be sealed for it
                """)
        }
        let id = CredentialRotation.newID()
        try repo.createRotation(id: id, device: device, sealedPassword: try secrets.seal(BrokerPolicy.password(), for: device), by: user, at: now)
        try AuthRepository(db).audit(user: user, action: "device.rotate", target: device, detail: "tạo / created \(id)", address: nil, at: now)
        ChangeSignal.fleetConfig.poke()
        return id
    }

    /// The device's configuration record (desired, reported, drift) and its rotations, newest first.
    public static func view(_ db: WardDatabase, device: String) throws -> (config: DeviceConfigRecord, rotations: [CredentialRotation]) {
        let repo = FleetConfigRepository(db)
        return (try repo.get(device) ?? DeviceConfigRecord(deviceID: device), try repo.rotations(device: device))
    }

    // MARK: the controller's loop

    public func run() async {
        while !Task.isCancelled {
            await tick()
            await ChangeSignal.fleetConfig.wait(upTo: configuration.poll)
        }
    }

    /// One pass: publish new desired versions and new rotations to capable devices, finish
    /// acknowledged rotations, clear refused ones. Each step is idempotent (state in the database).
    public func tick() async {
        do {
            let repo = FleetConfigRepository(db)
            // Births' config_version is looked at every 10 s at most: a device away for days costs nothing per pass.
            let now = ContinuousClock.now  // pacing of the process, not a time of the domain
            let checkBirths = lastBirthCheck.map { now - $0 >= .seconds(10) } ?? true
            if checkBirths { lastBirthCheck = now }
            let configs = try repo.unpublished(), awaiting = checkBirths ? try repo.awaitingApply() : []
            let created = try repo.rotations(in: [.created]), stored = try repo.rotations(in: [.stored]), refused = try repo.refusedToClear()
            let ids = Set(configs.map(\.deviceID) + awaiting + created.map { $0.0.deviceID } + stored.map { $0.0.deviceID } + refused.map(\.deviceID))
            guard !ids.isEmpty else { return }  // nothing to do: the registry is not read
            let devices = try targets(ids)
            try publishConfigurations(configs, awaiting: awaiting, devices)
            try sendRotations(created, devices)
            await applyStored(stored, devices)
            try clearRefused(refused, devices)
        } catch {
            logger.error("fleet configuration pass failed, will retry", metadata: ["error": "\(error)"])
        }
    }

    struct Target {
        var commune: String
        var birth: Birth?
        func announces(_ capability: String) -> Bool { birth?.capabilities.contains(capability) ?? false }
    }

    /// These devices, when active and of this controller's communes, with their latest birth.
    private func targets(_ ids: Set<String>) throws -> [String: Target] {
        let tree = try PlaceRepository(db).tree()
        let births = try FleetConfigRepository(db).births(Array(ids))
        var out: [String: Target] = [:]
        for id in ids {
            guard let d = try DeviceRepository(db).get(id), d.removedAt == nil,
                  let commune = tree.ancestor(of: d.siteID, at: .commune)?.id else { continue }
            if let c = configuration.communes, !c.contains(commune) { continue }
            out[id] = Target(commune: commune, birth: births[id].flatMap { Birth.stored($0) })
        }
        return out
    }

    private func topic(_ device: String, _ t: Target, _ kind: MessageKind) -> String {
        TopicAddress(commune: t.commune, device: device, kind: kind).topic
    }

    private func publishConfigurations(_ configs: [DeviceConfigRecord], awaiting: [String], _ devices: [String: Target]) throws {
        let repo = FleetConfigRepository(db)
        for id in awaiting {
            if let v = devices[id]?.birth?.configVersion { try repo.noteBirthVersion(device: id, version: v) }
        }
        for r in configs {
            guard let t = devices[r.deviceID], t.announces(FleetCapability.config) else { continue }  // sent once it announces `config`
            let now = clock.now()
            let m = ConfigMessage(device: r.deviceID, version: r.version, ts: now.unixMillis, config: r.desired)
            try publisher.publish(topic: topic(r.deviceID, t, .config), payload: ProtocolEncoder.encode(m), qos: 1, retain: true)
            try repo.markPublished(device: r.deviceID, version: r.version, at: now)
            logger.info("configuration published", metadata: ["device": "\(r.deviceID)", "version": "\(r.version)"])
        }
    }

    private func sendRotations(_ created: [(CredentialRotation, sealedPassword: String)], _ devices: [String: Target]) throws {
        guard let secrets = configuration.secrets else { return }
        let repo = FleetConfigRepository(db)
        for (r, sealed) in created {
            guard let t = devices[r.deviceID], t.announces(FleetCapability.credentials) else { continue }
            guard let currentSealed = try repo.secret(device: r.deviceID), let current = secrets.open(currentSealed, for: r.deviceID),
                  let new = secrets.open(sealed, for: r.deviceID) else {
                logger.error("rotation cannot be sealed: the current or the new password does not open with this server's key",
                             metadata: ["device": "\(r.deviceID)", "rotation": "\(r.id)"])
                continue
            }
            let now = clock.now()
            let m = try RotationCrypto.message(device: r.deviceID, rotation: r.id, currentPassword: current, newPassword: new, at: now.unixMillis)
            let payload = ProtocolEncoder.encode(m)
            try publisher.publish(topic: topic(r.deviceID, t, .credentials), payload: payload, qos: 1, retain: true)
            try repo.markSent(r.id, message: String(decoding: payload, as: UTF8.self), at: now)
            try AuthRepository(db).audit(user: "controller", action: "device.rotate_sent", target: r.deviceID,
                                         detail: "\(r.id): gửi qua phiên hiện tại / sent over the current session", address: nil, at: now)
            logger.info("rotation sent", metadata: ["device": "\(r.deviceID)", "rotation": "\(r.id)"])
        }
    }

    /// The device stored the new password: only now does the broker take it (and stop taking the old one).
    private func applyStored(_ stored: [(CredentialRotation, sealedPassword: String)], _ devices: [String: Target]) async {
        guard let secrets = configuration.secrets, let passwords = configuration.passwords else { return }
        let repo = FleetConfigRepository(db)
        for (r, sealed) in stored {
            guard let t = devices[r.deviceID], let new = secrets.open(sealed, for: r.deviceID) else { continue }
            do {
                // Cleared first: a device reconnecting with its new password must not find the box sealed with its old one.
                try publisher.publish(topic: topic(r.deviceID, t, .credentials), payload: [], qos: 1, retain: true)
                try await passwords.setPassword(device: r.deviceID, password: new)
                let now = clock.now()
                try repo.markApplied(r.id, device: r.deviceID, sealedPassword: sealed, at: now)
                try AuthRepository(db).audit(user: "controller", action: "device.rotate_applied", target: r.deviceID,
                                             detail: "\(r.id): mật khẩu cũ hết hiệu lực / the old password no longer works", address: nil, at: now)
                logger.notice("rotation applied: the broker takes only the new password", metadata: ["device": "\(r.deviceID)", "rotation": "\(r.id)"])
            } catch {
                logger.error("rotation acknowledged but the broker did not take the new password; will retry",
                             metadata: ["device": "\(r.deviceID)", "rotation": "\(r.id)", "error": "\(error)"])
            }
        }
    }

    private func clearRefused(_ refused: [CredentialRotation], _ devices: [String: Target]) throws {
        let repo = FleetConfigRepository(db)
        for r in refused {
            guard let t = devices[r.deviceID] else { continue }
            let open = try repo.rotations(device: r.deviceID).contains { $0.state == .sent }
            // A superseded rotation's retained message is replaced by its successor's: only a refused one is cleared.
            if r.state == .refused, !open { try publisher.publish(topic: topic(r.deviceID, t, .credentials), payload: [], qos: 1, retain: true) }
            try repo.closeRefused(r.id)
            if r.state == .refused {
                try AuthRepository(db).audit(user: "device:\(r.deviceID)", action: "device.rotate_refused", target: r.deviceID,
                                             detail: "\(r.id): \(r.reason ?? "?")", address: nil, at: clock.now())
                logger.warning("rotation refused by the device", metadata: ["device": "\(r.deviceID)", "rotation": "\(r.id)",
                                                                           "reason": "\(r.reason ?? "")"])
            }
        }
    }
}
