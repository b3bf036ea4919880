import Foundation
import Logging
import MQTTClient
import WardDomain

/// mosquitto's dynamic-security plugin, driven over its control topic: commands go to
/// `$CONTROL/dynamic-security/v1`, answers come back on `…/response` with our correlation data.
/// The account used needs exactly those two topics (see `BrokerPolicy.controllerACLs`).
public final class DynamicSecurity: Sendable {
    public static let topic = "$CONTROL/dynamic-security/v1"
    let client: MQTTClient

    public struct Failure: Error, CustomStringConvertible {
        public var command: String
        public var error: String
        public var description: String { "mosquitto từ chối / the broker refused \(command): \(error)" }
    }

    struct RoleRef: Encodable { var rolename: String }
    struct Command: Encodable {
        var command: String
        var username: String?
        var password: String?
        var clientid: String?
        var rolename: String?
        var roles: [RoleRef]?
        var acls: [BrokerACL]?
        var correlationData: String?
    }
    struct Responses: Decodable {
        struct One: Decodable { var command: String; var error: String?; var correlationData: String? }
        var responses: [One]
    }

    public static func connect(_ configuration: MQTTConfiguration) async throws -> DynamicSecurity {
        let client = try MQTTClient(configuration)
        try client.subscribe(topic + "/response", qos: 1)
        try await client.connect()
        return DynamicSecurity(client: client)
    }

    init(client: MQTTClient) { self.client = client }

    public func close() { client.disconnect() }

    /// Sends the commands in one message and waits (10 s) for their answers; throws the first
    /// refusal, except those listed in `tolerating` (e.g. "already exists" when re-applying).
    func run(_ commands: [Command], tolerating: Set<String> = []) async throws {
        let id = UUID().uuidString
        let tagged = commands.enumerated().map { i, c in
            var c = c
            c.correlationData = "\(id)-\(i)"
            return c
        }
        try client.publish(MQTTMessage(topic: Self.topic, payload: Array(try JSONEncoder().encode(["commands": tagged])), retained: false))
        let wait = Task<[Responses.One], Never> {
            var got: [Responses.One] = []
            for await m in client.messages {
                guard let r = try? JSONDecoder().decode(Responses.self, from: Data(m.payload)) else { continue }
                got += r.responses.filter { $0.correlationData?.hasPrefix(id) == true }
                if got.count >= commands.count { break }
            }
            return got
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(10))
            wait.cancel()
        }
        let answers = await wait.value
        timer.cancel()
        guard answers.count >= commands.count else {
            throw Failure(command: commands.map(\.command).joined(separator: ","), error: "no answer within 10 s (is the plugin loaded, may this account use $CONTROL?)")
        }
        for a in answers {
            if let e = a.error, !tolerating.contains(where: { e.localizedCaseInsensitiveContains($0) }) { throw Failure(command: a.command, error: e) }
        }
    }

    // MARK: what WardFleet asks of it

    /// A device account: username and client id both the device id, its own role only. Two
    /// round trips whatever existed before (a re-provisioned device gets a fresh account).
    public func provision(device: String, commune: String, password: String) async throws {
        try await account(device, clientID: device, password: password, role: BrokerPolicy.deviceRoleName(device),
                          acls: BrokerPolicy.deviceACLs(device: device, commune: commune))
    }

    public func setPassword(_ username: String, _ password: String) async throws {
        try await run([Command(command: "setClientPassword", username: username, password: password)])
    }

    /// Deletes the account and its role; the broker also disconnects it if connected.
    public func revoke(device: String) async throws {
        try await run([Command(command: "deleteClient", username: device), Command(command: "deleteRole", rolename: BrokerPolicy.deviceRoleName(device))],
                      tolerating: ["not found"])
    }

    /// The controller's own account with least privilege (re-created: a new password, and a
    /// running controller is disconnected until it uses it).
    public func setUpController(password: String) async throws {
        try await account(BrokerPolicy.controllerUser, clientID: nil, password: password, role: BrokerPolicy.controllerRole,
                          acls: BrokerPolicy.controllerACLs)
    }

    /// The shared claim account (see `BrokerPolicy.claimACLs`), re-created with `password`.
    public func setUpClaimAccount(password: String) async throws {
        try await account(BrokerPolicy.claimUser, clientID: nil, password: password, role: BrokerPolicy.claimRole,
                          acls: BrokerPolicy.claimACLs)
    }

    /// Replaces an account and its own role in two round trips.
    func account(_ user: String, clientID: String?, password: String, role: String, acls: [BrokerACL]) async throws {
        try await run([Command(command: "deleteClient", username: user), Command(command: "deleteRole", rolename: role)], tolerating: ["not found"])
        try await run([Command(command: "createRole", rolename: role, acls: acls),
                       Command(command: "createClient", username: user, password: password, clientid: clientID, roles: [RoleRef(rolename: role)])])
    }
}
