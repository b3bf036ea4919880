import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

/// Where claimed accounts are made: the broker's dynamic-security plugin in production.
public protocol DeviceAccounts: Sendable {
    func provision(device: String, commune: String, password: String) async throws
    /// Deletes the device's account (the broker disconnects it if connected).
    func revoke(device: String) async throws
}

extension DynamicSecurity: DeviceAccounts {}

/// Makes dynamic-security sessions on demand, with the controller's own account, so a broker
/// restart or a dropped session does not stop claims for good.
public actor DynamicSecurityAccounts: DeviceAccounts {
    private let configuration: MQTTConfiguration
    private var session: DynamicSecurity?

    public init(_ configuration: MQTTConfiguration) { self.configuration = configuration }

    public func provision(device: String, commune: String, password: String) async throws {
        try await withSession { try await $0.provision(device: device, commune: commune, password: password) }
    }

    public func revoke(device: String) async throws {
        try await withSession { try await $0.revoke(device: device) }
    }

    /// Replaces a device's password (credential rotation, once the device has stored the new one).
    public func setPassword(device: String, password: String) async throws {
        try await withSession { try await $0.setPassword(device, password) }
    }

    public func close() {
        session?.close()
        session = nil
    }

    private func withSession(_ body: (DynamicSecurity) async throws -> Void) async throws {
        let s: DynamicSecurity
        if let session { s = session } else {
            s = try await DynamicSecurity.connect(configuration)
            session = s
        }
        do {
            try await body(s)
        } catch {
            s.close()
            session = nil  // the next call starts a fresh session
            throw error
        }
    }
}

/// Why a claim code was not issued.
public struct ClaimCodeRefusal: Refusal {
    public var description: String
}

/// One-time claim codes as the CLI and the API issue them.
public enum ClaimCodes {
    public static let validHours: ClosedRange<Double> = 0.01...(24 * 90)

    /// A new code for an active device (replacing an earlier one); the code is returned once and
    /// only its hash is stored.
    public static func issue(_ db: WardDatabase, device: String, by user: String, validHours hours: Double = 72,
                             now: Date) throws -> (code: String, expires: Date) {
        guard validHours.contains(hours) else {
            throw ClaimCodeRefusal(description: "thời hạn 0–2160 giờ / validity must be 0–2160 hours")
        }
        guard try DeviceRepository(db).get(device).map({ $0.removedAt == nil }) == true else {
            throw ClaimCodeRefusal(description: "không có thiết bị đang hoạt động '\(device)' / no active device '\(device)'")
        }
        let code = ClaimCode.generate()
        let expires = now.addingTimeInterval(hours * 3600)
        try ClaimRepository(db).issue(device: device, secret: ClaimCode.secret(code)!, by: user, at: now, expires: expires)
        return (code, expires)
    }
}

/// Counter names for claims, kept with the ingest counters (shown by `wardfleet health`).
public enum ClaimCounter {
    public static let granted = "claims.granted"
    public static let unreadable = "claims.unreadable"
    public static func refused(_ r: ClaimResponse.Reason) -> String { "claims.refused.\(r.rawValue)" }
}

/// Answers claim requests (protocol §7): checks the code's proof, takes the code once, makes the
/// device's own broker account and sends its credentials sealed with the code.
public actor ClaimService {
    private let db: WardDatabase
    private let publisher: any SchedulePublisher
    private let accounts: any DeviceAccounts
    private let clock: any TimeSource
    private let logger: Logger
    /// Counts each outcome (`ClaimCounter` names); the controller adds them to its ingest counters.
    private let tally: @Sendable (String) async -> Void
    /// Seals the claimed password at rest, so the device's password can later be rotated (nil: not kept).
    private let secrets: ServerSecrets?

    public init(database: WardDatabase, publisher: any SchedulePublisher, accounts: any DeviceAccounts, clock: any TimeSource,
                logger: Logger = Logger(label: "wardfleet.claims"), secrets: ServerSecrets? = nil, tally: @escaping @Sendable (String) async -> Void) {
        db = database
        self.secrets = secrets
        self.publisher = publisher
        self.accounts = accounts
        self.clock = clock
        self.logger = logger
        self.tally = tally
    }

    public func handle(_ m: MQTTMessage) async {
        guard let device = Topics.claimRequestDevice(m.topic), m.payload.count <= 1_024,
              let r = try? JSONDecoder().decode(ClaimRequest.self, from: Data(m.payload)),
              r.device == device, r.v == ProtocolLimits.version, !r.nonce.isEmpty, r.nonce.utf8.count <= 64
        else {
            await tally(ClaimCounter.unreadable)
            logger.warning("claim request unreadable or not for its topic: ignored", metadata: ["topic": "\(m.topic.prefix(120))"])
            return
        }
        let now = clock.now()
        let repo = ClaimRepository(db)
        do {
            let secret: [UInt8]
            switch try repo.lookup(device: device, at: now) {
            case .none: return await refuse(r, .noCode)
            case .used: return await refuse(r, .used)
            case .expired: return await refuse(r, .expired)
            case .delayed(let until):
                // Not looked at: the wait bounds how fast anyone can try codes for this device.
                return await refuse(r, .locked, retryAfter: Int(until.timeIntervalSince(now).rounded(.up)))
            case .open(let s): secret = s
            }
            guard ClaimCrypto.verify(r, secret: secret) else {
                let failures = try repo.noteFailure(device: device, at: now)
                if failures == ClaimThrottle.alarmAfter {
                    logger.warning("claim: wrong codes in a row for this device; its technician is alarmed", metadata: ["device": "\(device)"])
                }
                let wait = ClaimThrottle.delay(afterFailures: failures)
                return await refuse(r, .wrongCode, retryAfter: wait > 0 ? Int(wait.rounded(.up)) : nil)
            }
            guard let d = try DeviceRepository(db).get(device), d.removedAt == nil,
                  let commune = try PlaceRepository(db).tree().ancestor(of: d.siteID, at: .commune)?.id else {
                return await refuse(r, .noCode)  // removed since the code was issued
            }
            guard try repo.take(device: device, at: now) else { return await refuse(r, .used) }
            let password = BrokerPolicy.password()
            do {
                try await accounts.provision(device: device, commune: commune, password: password)
            } catch {
                try repo.release(device: device)
                logger.error("claim: the broker could not make the account; the code stays valid", metadata: [
                    "device": "\(device)", "error": "\(error)"])
                return await refuse(r, .tryAgain)
            }
            if let secrets {
                try FleetConfigRepository(db).storeSecret(device: device, sealed: try secrets.seal(password, for: device), at: now)
            }
            let credentials = ClaimCredentials(username: device, password: password, clientID: device,
                                               topicPrefix: "\(Topics.root)/\(commune)/\(device)/")
            let sealed = try ClaimCrypto.seal(credentials, secret: secret, device: device, nonce: r.nonce)
            send(ClaimResponse(device: device, nonce: r.nonce, result: .ok, sealed: sealed))
            await tally(ClaimCounter.granted)
            try? AuthRepository(db).audit(user: "device:\(device)", action: "device.claim", target: device,
                                          detail: "tài khoản MQTT đã cấp / broker account granted", address: nil, at: now)
            logger.info("device claimed its broker account", metadata: ["device": "\(device)"])
        } catch {
            logger.error("claim failed", metadata: ["device": "\(device)", "error": "\(error)"])
            await refuse(r, .tryAgain)
        }
    }

    private func refuse(_ r: ClaimRequest, _ reason: ClaimResponse.Reason, retryAfter: Int? = nil) async {
        await tally(ClaimCounter.refused(reason))
        logger.warning("claim refused", metadata: ["device": "\(r.device)", "reason": "\(reason.rawValue)"])
        send(ClaimResponse(device: r.device, nonce: r.nonce, result: .refused, reason: reason, retryAfter: retryAfter))
    }

    private func send(_ response: ClaimResponse) {
        do {
            try publisher.publish(topic: Topics.claimResponse(response.device), payload: ProtocolEncoder.encode(response), qos: 1, retain: false)
        } catch {
            logger.error("claim answer not sent", metadata: ["device": "\(response.device)", "error": "\(error)"])
        }
    }
}
