import Foundation

/// One access rule of mosquitto's dynamic-security plugin.
public struct BrokerACL: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        case publishClientSend, publishClientReceive, subscribeLiteral, subscribePattern, unsubscribeLiteral, unsubscribePattern
    }
    public var acltype: Kind
    public var topic: String
    public var allow: Bool
    public init(_ acltype: Kind, _ topic: String, allow: Bool = true) {
        self.acltype = acltype
        self.topic = topic
        self.allow = allow
    }
}

/// Who may publish and subscribe where on the broker. Everything not granted here is denied:
/// the broker's default ACL access denies publishing and subscribing to everyone.
public enum BrokerPolicy {
    /// Topics a device publishes to: its own, one per message kind it sends.
    static let deviceKinds = ["birth", "state", "telemetry", "event", "ack", "playback"]
        + ["config_report", "credentials_report"]  // remote configuration and credential rotation (protocol §10, §11)
        + ["ota_report"]  // firmware updates (protocol §9)
    /// Controller → device kinds a device subscribes to on its own topic.
    static let deviceSubscriptions = ["cmd", "schedule"]
        + ["config", "credentials"]
        + ["ota"]

    public static func deviceRoleName(_ device: String) -> String { "device-\(device)" }

    /// A device speaks only as itself: its own publish topics, its own `cmd` and `schedule`, and
    /// its own commune's emergency topic (read only: it may subscribe, never publish there).
    /// Its broker username and client id are both its device id, bound by the plugin.
    public static func deviceACLs(device: String, commune: String) -> [BrokerACL] {
        let base = "wardfleet/v1/\(commune)/\(device)/"
        return deviceKinds.map { BrokerACL(.publishClientSend, base + $0) }
            + deviceSubscriptions.map { BrokerACL(.subscribeLiteral, base + $0) }
            + [BrokerACL(.subscribeLiteral, "wardfleet/v1/\(commune)/emergency")]
    }

    public static let controllerUser = "wardfleet-controller"
    public static let controllerRole = "wardfleet-controller"

    /// The controller reads the fleet tree, writes only commands and schedules, and manages
    /// device accounts through the plugin's control topic. It cannot pose as a device (it
    /// never publishes a device's own topics) and has no access to `$SYS` or other trees.
    public static let controllerACLs: [BrokerACL] = [
        BrokerACL(.subscribePattern, "wardfleet/v1/#"),
        BrokerACL(.publishClientSend, "wardfleet/v1/+/+/cmd"),
        BrokerACL(.publishClientSend, "wardfleet/v1/+/+/schedule"),
        BrokerACL(.publishClientSend, "wardfleet/v1/+/+/config"),
        BrokerACL(.publishClientSend, "wardfleet/v1/+/+/credentials"),
        BrokerACL(.publishClientSend, "wardfleet/v1/+/+/ota"),
        BrokerACL(.publishClientSend, "wardfleet/v1/+/emergency"),
        BrokerACL(.publishClientSend, "$CONTROL/dynamic-security/v1"),
        BrokerACL(.subscribePattern, "$CONTROL/dynamic-security/v1/response"),
        // `$` topics are outside the default "receive allowed": grant it explicitly.
        BrokerACL(.publishClientReceive, "$CONTROL/dynamic-security/v1/response"),
        // One-time claim codes (protocol §7): hears requests, answers them.
        BrokerACL(.subscribePattern, "wardfleet/provision/+/request"),
        BrokerACL(.publishClientSend, "wardfleet/provision/+/response"),
    ]

    /// The shared account devices use once, to claim their own account with a one-time code.
    /// Its password is no secret worth much: it can only ask, and answers are sealed with the
    /// device's code.
    public static let claimUser = "wardfleet-claim"
    public static let claimRole = "wardfleet-claim"
    public static let claimACLs: [BrokerACL] = [
        BrokerACL(.publishClientSend, "wardfleet/provision/+/request"),
        BrokerACL(.subscribePattern, "wardfleet/provision/+/response"),
    ]

    /// A broker password: 24 random bytes, URL-safe base64 (32 characters, 192 bits), never
    /// starting with '-' or '_': one that did would be read as an option on a command line
    /// (`--password -x…`), by our CLI and by the tools installers use.
    public static func password<G: RandomNumberGenerator>(using rng: inout G) -> String {
        while true {
            let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let p = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            if let first = p.first, first.isLetter || first.isNumber { return p }
        }
    }

    public static func password() -> String {
        var g = SystemRandomNumberGenerator()
        return password(using: &g)
    }
}
