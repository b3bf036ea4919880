import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MQTTClient
import WardDomain
import WardProtocol

/// How simulated devices apply firmware update orders (protocol §9), and how they fail.
struct SimOTAOptions: Sendable {
    /// Announce `ota` and apply orders.
    var enabled = true
    /// The pinned public key of the fleet's signing server; nil: every image is refused (`bad_signature`).
    var publicKey: Data?  // raw 32 bytes (the key type is not Sendable)
    /// Fractions of devices (chosen by a hash of their id, `FaultInjection`) whose download fails, whose install
    /// fails, and whose new firmware boot-loops (they come back on the old version and report `rolled_back`).
    var downloadFailures: Double = 0
    var installFailures: Double = 0
    var bootLoops: Double = 0
    /// How long an install takes.
    var installSeconds: Double = 1
}

/// The state a device keeps about updates (per SimDevice).
struct SimOTAState: Sendable {
    /// Jobs already taken up: a retained order seen again after a reconnect is not started twice.
    var handled = Set<String>()
    /// The firmware it runs after an update (nil: as in the fleet file).
    var firmware: String?
    /// A job whose new firmware boot-looped: `rolled_back` is reported once the device is back.
    var rolledBack: String?
    var busy = false
}

extension SimDevice {
    var otaCapabilities: [String] { options.ota.enabled ? [OTACapability.name] : [] }

    var modelName: String { device.model.isEmpty ? "WF-SIM-\(device.deviceClass.rawValue)" : device.model }
    var runningFirmware: String { ota.firmware ?? (device.firmware.isEmpty ? "sim-1.0.0" : device.firmware) }

    func publishOTAReport(_ job: String, _ state: JobState, _ reason: JobFailure? = nil, detail: String? = nil) {
        guard let c = client else { return }
        let r = OTAReport(device: device.id, boot: boot, ts: clock.now().unixMillis, job: job, state: state, reason: reason, detail: detail)
        try? c.publish(topic: topic(.otaReport), payload: ProtocolEncoder.encode(r), qos: 1)
    }

    /// After every connect: a rollback is reported once the device is back on its old version.
    func otaConnected() {
        if let job = ota.rolledBack {
            ota.rolledBack = nil
            publishOTAReport(job, .rolledBack, detail: "new firmware did not boot; back on \(runningFirmware)")
        }
    }

    func handleOTA(_ m: MQTTMessage) async {
        guard options.ota.enabled, !m.payload.isEmpty else { return }  // an empty retained payload: no order
        guard let order = try? SimDecoding.json.decode(OTAOrder.self, from: Data(m.payload)), order.device == device.id else {
            logger.warning("\(device.id): unreadable update order ignored")
            return
        }
        guard !ota.handled.contains(order.job), !ota.busy else { return }
        ota.handled.insert(order.job)
        if order.version == runningFirmware, order.model == modelName { return }  // already on it: the next birth says so
        publishOTAReport(order.job, .notified)
        let now = clock.now()
        if order.deadline < now.unixMillis { return publishOTAReport(order.job, .failed, .expired) }
        guard order.deviceClass == device.deviceClass.rawValue, order.model == modelName else {
            return publishOTAReport(order.job, .failed, .wrongModel, detail: "this is a \(modelName)")
        }
        if device.deviceClass == .speaker, current != nil || (playingUntil.map { $0 > now } ?? false) {
            // Never while on air: the controller asks again later.
            ota.handled.remove(order.job)
            return publishOTAReport(order.job, .failed, .busy, detail: "playing")
        }
        ota.busy = true
        Task { await self.apply(order) }
    }

    private func apply(_ order: OTAOrder) async {
        defer { ota.busy = false }
        publishOTAReport(order.job, .downloading)
        let data: Data
        do {
            guard let url = URL(string: order.url) else { throw SimOTAError("bad url") }
            if FaultInjection.chosen(device.id, rate: options.ota.downloadFailures, "download") { throw SimOTAError("injected: connection reset") }
            let (d, response) = try await URLSession.shared.data(from: url)
            if let h = response as? HTTPURLResponse, h.statusCode != 200 { throw SimOTAError("HTTP \(h.statusCode)") }
            data = d
        } catch {
            return publishOTAReport(order.job, .failed, .downloadFailed, detail: "\(error)")
        }
        publishOTAReport(order.job, .verifying)
        // What was received, not what the order claims: size, hash, then the signature over the manifest of these bytes.
        let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        guard Int64(data.count) == order.size, sha == order.sha256.lowercased() else {
            return publishOTAReport(order.job, .failed, .badHash, detail: "got \(data.count) B sha256 \(sha.prefix(12))…")
        }
        let manifest = FirmwareManifest.text(deviceClass: device.deviceClass, model: modelName, version: order.version, sha256: sha, size: Int64(data.count))
        guard let raw = options.ota.publicKey, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
              FirmwareSigning.verify(manifest, signature: order.signature, publicKey: key) else {
            return publishOTAReport(order.job, .failed, .badSignature,
                                    detail: options.ota.publicKey == nil ? "no pinned key" : "signature does not verify with the pinned key")
        }
        publishOTAReport(order.job, .installing)
        try? await Task.sleep(for: .seconds(options.ota.installSeconds))
        if FaultInjection.chosen(device.id, rate: options.ota.installFailures, "install") {
            return publishOTAReport(order.job, .failed, .installFailed, detail: "injected: flash write error")
        }
        publishOTAReport(order.job, .rebooting)
        try? await Task.sleep(for: .milliseconds(200))  // the report leaves before the link goes down
        if FaultInjection.chosen(device.id, rate: options.ota.bootLoops, "bootloop") {
            ota.rolledBack = order.job  // the bootloader gives up on the new image and starts the old one
        } else {
            ota.firmware = order.version
        }
        await begin(Behaviour(device: device.id, kind: .reboot, at: 0, duration: nil))
    }
}

struct SimOTAError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
