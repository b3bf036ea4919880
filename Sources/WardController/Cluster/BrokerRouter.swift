import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol

/// Publishes each message on the broker of the commune its topic names (other topics: the
/// default broker). The API's commands and a node's shared publications go through it.
public final class BrokerRouter: SchedulePublisher, Sendable {
    public let map: BrokerMap
    public let clients: [String: MQTTClient]

    public init(map: BrokerMap, clientPrefix: String, username: String?, password: String?, caFile: String?,
                logger: Logger = Logger(label: "wardfleet.brokers")) throws {
        self.map = map
        var clients: [String: MQTTClient] = [:]
        for b in map.brokers {
            guard let (host, port) = MQTTConfiguration.parseAddress(b.address) else {
                throw BrokerMapError("broker '\(b.name)': address '\(b.address)' is not HOST:PORT")
            }
            var c = MQTTConfiguration(host: host, port: port, clientID: "\(clientPrefix)-\(b.name)")
            c.username = username
            c.password = password
            c.caFile = caFile
            c.sharedNetworkLoop = true
            clients[b.name] = try MQTTClient(c, logger: logger)
        }
        self.clients = clients
    }

    public func connect() async throws {
        for c in clients.values { try await c.connect(timeout: nil) }
    }

    public func client(for topic: String) -> MQTTClient {
        let broker = Topics.commune(of: topic).map { map.broker(of: $0) } ?? map.broker(named: map.defaultBroker)!
        return clients[broker.name]!
    }

    public func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool) throws {
        try client(for: topic).publish(topic: topic, payload: payload, qos: qos, retain: retain)
    }

    public func close() async {
        for c in clients.values { await c.close() }
    }
}
