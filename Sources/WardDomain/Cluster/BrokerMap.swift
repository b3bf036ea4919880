import Foundation

/// Which mosquitto broker serves which communes. One broker serves all communes unless the
/// configuration shards them; a commune not listed goes to the default broker.
public struct BrokerMap: Sendable, Hashable, Codable {
    public struct Broker: Sendable, Hashable, Codable {
        public var name: String
        /// HOST:PORT as devices and nodes reach it.
        public var address: String
        public var communes: [String]
        public init(name: String, address: String, communes: [String] = []) {
            self.name = name
            self.address = address
            self.communes = communes
        }
    }

    public var brokers: [Broker]
    /// The broker of communes no broker lists (the first one when unset).
    public var defaultBroker: String

    public init(brokers: [Broker], defaultBroker: String? = nil) throws {
        guard let first = brokers.first else { throw BrokerMapError("cần ít nhất một broker / at least one broker is needed") }
        var names = Set<String>(), owner = [String: String]()
        for b in brokers {
            guard Identifier.isValid(b.name) else { throw BrokerMapError("tên broker không hợp lệ / invalid broker name '\(b.name)'") }
            guard names.insert(b.name).inserted else { throw BrokerMapError("broker '\(b.name)' khai báo hai lần / declared twice") }
            for c in b.communes {
                if let other = owner.updateValue(b.name, forKey: c) {
                    throw BrokerMapError("xã '\(c)' thuộc cả '\(other)' và '\(b.name)' / commune '\(c)' is on both '\(other)' and '\(b.name)'")
                }
            }
        }
        let d = defaultBroker ?? first.name
        guard names.contains(d) else { throw BrokerMapError("broker mặc định '\(d)' không có / default broker '\(d)' is not declared") }
        self.brokers = brokers
        self.defaultBroker = d
    }

    /// One broker for everything.
    public static func single(address: String) -> BrokerMap {
        try! BrokerMap(brokers: [Broker(name: "main", address: address)])
    }

    public func broker(of commune: String) -> Broker {
        brokers.first { $0.communes.contains(commune) } ?? broker(named: defaultBroker)!
    }
    public func broker(named name: String) -> Broker? { brokers.first { $0.name == name } }
}

public struct BrokerMapError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
