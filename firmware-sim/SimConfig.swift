import Foundation
import MQTTClient
import WardDomain
import WardProtocol

/// What simulated devices keep across restarts, as real devices keep it in flash: each one's
/// broker password (and a rotated one not yet confirmed by a successful connect) and the
/// configuration it applied. One JSON file for the fleet (`--state FILE`), written atomically.
final class SimStateFile: Sendable {
    struct Entry: Codable, Sendable {
        var password: String?
        var pending: String?
        var pendingRotation: String?
        var configVersion: Int64?
        var config: DeviceSettings?
        enum CodingKeys: String, CodingKey {
            case password, pending, pendingRotation = "pending_rotation", configVersion = "config_version", config
        }
    }

    let path: String
    private let lock = NSLock()

    init(path: String) { self.path = path }

    func read(_ device: String) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        return all()[device]
    }

    func update(_ device: String, _ change: (inout Entry) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        do {
            var everything = all()
            var e = everything[device] ?? Entry()
            change(&e)
            everything[device] = e
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            if let data = try? encoder.encode(everything) {
                FileManager.default.createFile(atPath: path + ".tmp", contents: data, attributes: [.posixPermissions: 0o600])
                _ = rename(path + ".tmp", path)
            }
        }
    }

    private func all() -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }
}

extension SimDevice {
    /// Capabilities of protocol §10 and §11: every class applies configuration; rotation needs a password.
    var fleetCapabilities: [String] {
        [FleetCapability.config] + (password != nil ? [FleetCapability.credentials] : [])
    }

    /// The volume cap: the applied configuration's, else the registered one.
    var maxVolume: Int { settings.maxVolume ?? device.config.maxVolume ?? 100 }

    /// The running values, as `config_report.reported` carries them.
    var reportedSettings: DeviceSettings {
        var s = settings
        s.heartbeatSeconds = Int(heartbeat.rounded())
        if device.deviceClass == .speaker { s.maxVolume = maxVolume } else { s.maxVolume = nil }
        return s
    }

    func loadState() {
        guard let e = options.state?.read(device.id) else { return }
        password = e.password ?? password
        if let v = e.configVersion, v > configVersion, let c = e.config {
            configVersion = v
            settings = c
            if let hb = c.heartbeatSeconds { heartbeat = Double(hb) }
        }
    }

    // MARK: configuration (protocol §10)

    func handleConfig(_ m: MQTTMessage) async {
        guard let c = client, !m.payload.isEmpty else { return }
        guard let msg = try? JSONDecoder().decode(ConfigMessage.self, from: Data(m.payload)), msg.device == device.id, msg.v == 1 else {
            logger.warning("\(device.id): unreadable configuration ignored")
            return
        }
        // The retained document arrives again at every connect: a version already applied is not re-applied.
        guard msg.version > configVersion else { return }
        func report(_ result: ConfigResult, _ detail: String?) {
            try? c.publish(topic: topic(.configReport), payload: ProtocolEncoder.encode(ConfigReport(
                device: device.id, boot: boot, ts: clock.now().unixMillis, version: msg.version, result: result, detail: detail,
                reported: reportedSettings)), qos: 1)
        }
        if activeFaults.contains(.rejectConfig) {
            logger.info("\(device.id): configuration \(msg.version) rejected (injected failure)")
            return report(.rejected, "flash write failed (injected)")
        }
        if let problem = msg.config.problem(for: device.deviceClass) {
            logger.info("\(device.id): configuration \(msg.version) rejected: \(problem)")
            return report(.rejected, problem)
        }
        let heartbeatChanged = msg.config.heartbeatSeconds.map { Double($0) != heartbeat } ?? false
        settings = msg.config
        configVersion = msg.version
        if let hb = msg.config.heartbeatSeconds { heartbeat = Double(hb) }
        volume = min(volume, maxVolume)
        options.state?.update(device.id) { e in
            e.configVersion = msg.version
            e.config = msg.config
        }
        logger.info("\(device.id): configuration \(msg.version) applied")
        report(.applied, nil)
        // A new heartbeat changes the liveness rule: announced in a new birth (kept for later connects too).
        let birth = MQTTMessage(topic: topic(.birth), payload: ProtocolEncoder.encode(currentBirth()), qos: 1, retained: true)
        c.setConnectMessages([birth, MQTTMessage(topic: topic(.state), payload: ProtocolEncoder.encode(StateMessage(
            device: device.id, state: .online, boot: boot, reason: nil, ts: clock.now().unixMillis)), qos: 1, retained: true)])
        if heartbeatChanged { try? c.publish(birth) }
    }

    // MARK: credentials (protocol §11)

    func handleCredentials(_ m: MQTTMessage) async {
        guard let c = client, !m.payload.isEmpty else { return }  // empty: the controller cleared it
        guard let msg = try? JSONDecoder().decode(CredentialsMessage.self, from: Data(m.payload)), msg.device == device.id, msg.v == 1 else {
            logger.warning("\(device.id): unreadable credentials message ignored")
            return
        }
        func report(_ result: CredentialsReport.Result, _ reason: String?) {
            try? c.publish(topic: topic(.credentialsReport), payload: ProtocolEncoder.encode(CredentialsReport(
                device: device.id, boot: boot, ts: clock.now().unixMillis, rotation: msg.rotation, result: result, reason: reason)), qos: 1)
        }
        guard let current = password else { return report(.refused, "no_password: this device has no broker password to open it with") }
        guard let new = RotationCrypto.open(msg, currentPassword: current) else {
            logger.warning("\(device.id): rotation \(msg.rotation) does not open with the current password")
            return report(.refused, "cannot_open: the box does not open with the current password")
        }
        if new == current { return }  // already the password in use (applied before this message was cleared)
        pendingPassword = (msg.rotation, new)
        options.state?.update(device.id) { e in
            e.pending = new
            e.pendingRotation = msg.rotation
        }
        logger.info("\(device.id): rotation \(msg.rotation) stored, pending until the broker takes it")
        report(.stored, nil)
    }

    /// Watches the link: once a new password is pending, the next loss of the connection (the
    /// broker disconnects the device when its password changes) reconnects with the new one,
    /// falling back to the old once if the broker refuses it (the controller may not have had the report).
    func watchLink(_ c: MQTTClient) {
        linkTask?.cancel()
        linkTask = Task { [weak self] in
            for await event in c.events {
                switch event {
                case .disconnected, .refused:
                    guard let self, await self.pendingPassword != nil else { continue }
                    await self.switchPassword(from: c)
                    return
                case .connected: continue
                }
            }
        }
    }

    private func switchPassword(from old: MQTTClient) async {
        guard client === old, let pending = pendingPassword, !switchingPassword else { return }
        switchingPassword = true
        defer { switchingPassword = false }
        client = nil
        connected = false
        commandTask?.cancel()
        await old.close(abrupt: true)
        if await connect(password: pending.password, timeout: .seconds(5)) {
            let previous = password
            password = pending.password
            pendingPassword = nil
            options.state?.update(device.id) { e in
                e.password = pending.password
                e.pending = nil
                e.pendingRotation = nil
            }
            logger.info("\(device.id): connected with the rotated password (\(pending.rotation))", metadata: ["old": "\(previous != nil)"])
        } else {
            logger.warning("\(device.id): the broker refused the rotated password; back to the old one once")
            pendingPassword = nil
            options.state?.update(device.id) { e in
                e.pending = nil
                e.pendingRotation = nil
            }
            await connect(password: password)
        }
    }
}
