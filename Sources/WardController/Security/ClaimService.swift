import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

/// Where claimed accounts are made: the broker's dynamic-security plugin in production.
public protocol DeviceAccounts: Sendable {
    func provision(device: String, commune: String, password: String) async throws
}

extension DynamicSecurity: DeviceAccounts {}

/// Makes dynamic-security sessions on demand, with the controller's own account, so a broker
/// restart or a dropped session does not stop claims for good.
public actor DynamicSecurityAccounts: DeviceAccounts {
    private let configuration: MQTTConfiguration
    private var session: DynamicSecurity?

    public init(_ configuration: MQTTConfiguration) { self.configuration = configuration }

    public func provision(device: String, commune: String, password: String) async throws {
        let s: DynamicSecurity
        if let session { s = session } else {
            s = try await DynamicSecurity.connect(configuration)
            session = s
        }
        do {
            try await s.provision(device: device, commune: commune, password: password)
        } catch {
            s.close()
            session = nil  // the next claim starts a fresh session
            throw error
        }
    }
}

/// Answers claim requests (protocol §7): checks the code's proof, takes the code once, makes the
/// device's own broker account and sends its credentials sealed with the code.
public actor ClaimService {
    private let db: WardDatabase
    private let publisher: any SchedulePublisher
    private let accounts: any DeviceAccounts
    private let clock: any TimeSource
    private let logger: Logger
    public private(set) var granted = 0
    public private(set) var refused: [ClaimResponse.Reason: Int] = [:]
    public private(set) var malformed = 0

    public init(database: WardDatabase, publisher: any SchedulePublisher, accounts: any DeviceAccounts, clock: any TimeSource,
                logger: Logger = Logger(label: "wardfleet.claims")) {
        db = database
        self.publisher = publisher
        self.accounts = accounts
        self.clock = clock
        self.logger = logger
    }

    public func handle(_ m: MQTTMessage) async {
        guard let device = Topics.claimRequestDevice(m.topic), m.payload.count <= 1_024,
              let r = try? JSONDecoder().decode(ClaimRequest.self, from: Data(m.payload)),
              r.device == device, r.v == ProtocolLimits.version, !r.nonce.isEmpty, r.nonce.utf8.count <= 64
        else {
            malformed += 1
            logger.warning("claim request unreadable or not for its topic: ignored", metadata: ["topic": "\(m.topic.prefix(120))"])
            return
        }
        let now = clock.now()
        let repo = ClaimRepository(db)
        do {
            let secret: [UInt8]
            switch try repo.lookup(device: device, at: now) {
            case .none: return refuse(r, .noCode)
            case .used: return refuse(r, .used)
            case .expired: return refuse(r, .expired)
            case .locked: return refuse(r, .locked)
            case .open(let s): secret = s
            }
            guard ClaimCrypto.verify(r, secret: secret) else {
                try repo.noteFailure(device: device)
                return refuse(r, .wrongCode)
            }
            guard let d = try DeviceRepository(db).get(device), d.removedAt == nil,
                  let commune = try PlaceRepository(db).tree().ancestor(of: d.siteID, at: .commune)?.id else {
                return refuse(r, .noCode)  // removed since the code was issued
            }
            guard try repo.take(device: device, at: now) else { return refuse(r, .used) }
            let password = BrokerPolicy.password()
            do {
                try await accounts.provision(device: device, commune: commune, password: password)
            } catch {
                try repo.release(device: device)
                logger.error("claim: the broker could not make the account; the code stays valid", metadata: [
                    "device": "\(device)", "error": "\(error)"])
                return refuse(r, .tryAgain)
            }
            let credentials = ClaimCredentials(username: device, password: password, clientID: device,
                                               topicPrefix: "\(Topics.root)/\(commune)/\(device)/")
            let sealed = try ClaimCrypto.seal(credentials, secret: secret, device: device, nonce: r.nonce)
            send(ClaimResponse(device: device, nonce: r.nonce, result: .ok, sealed: sealed))
            granted += 1
            try? AuthRepository(db).audit(user: "device:\(device)", action: "device.claim", target: device,
                                          detail: "tài khoản MQTT đã cấp / broker account granted", address: nil, at: now)
            logger.info("device claimed its broker account", metadata: ["device": "\(device)"])
        } catch {
            logger.error("claim failed", metadata: ["device": "\(device)", "error": "\(error)"])
            refuse(r, .tryAgain)
        }
    }

    private func refuse(_ r: ClaimRequest, _ reason: ClaimResponse.Reason) {
        refused[reason, default: 0] += 1
        logger.warning("claim refused", metadata: ["device": "\(r.device)", "reason": "\(reason.rawValue)"])
        send(ClaimResponse(device: r.device, nonce: r.nonce, result: .refused, reason: reason))
    }

    private func send(_ response: ClaimResponse) {
        do {
            try publisher.publish(topic: Topics.claimResponse(response.device), payload: ProtocolEncoder.encode(response), qos: 1, retain: false)
        } catch {
            logger.error("claim answer not sent", metadata: ["device": "\(response.device)", "error": "\(error)"])
        }
    }
}
