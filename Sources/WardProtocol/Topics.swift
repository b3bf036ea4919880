import Foundation
import WardDomain

/// Protocol v1 topic tree: `wardfleet/v1/{commune}/{device}/{kind}`.
public enum MessageKind: String, Sendable, CaseIterable, Codable {
    /// device → controller
    case birth, state, telemetry, event, ack, playback
    /// controller → device
    case cmd, schedule
    /// Remote configuration (protocol §10): the desired document (retained) and the device's answer.
    case config, configReport = "config_report"
    /// Credential rotation (protocol §11): a new password sealed for the device (retained) and its answer.
    case credentials, credentialsReport = "credentials_report"
    /// Firmware updates (protocol §9): the device's current update order (retained) and its progress.
    case ota, otaReport = "ota_report"

    public var fromDevice: Bool {
        switch self {
        case .cmd, .schedule, .config, .credentials, .ota: false
        default: true
        }
    }
}

public struct TopicAddress: Sendable, Hashable {
    public var commune: String
    public var device: String
    public var kind: MessageKind

    public init(commune: String, device: String, kind: MessageKind) {
        self.commune = commune
        self.device = device
        self.kind = kind
    }

    public var topic: String { "\(Topics.root)/\(commune)/\(device)/\(kind.rawValue)" }
}

public enum Topics {
    public static let root = "wardfleet/v1"
    /// What the controller subscribes to: every device message of every commune.
    public static let allDeviceMessages = "\(root)/+/+/+"
    /// The same through a shared subscription, so several controller nodes split the load.
    public static func shared(group: String) -> String { "$share/\(group)/\(allDeviceMessages)" }

    /// Parses a topic; nil if it is not a v1 device topic.
    public static func parse(_ topic: String) -> TopicAddress? {
        // Byte-level split: this runs for every inbound message.
        let parts = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 5,
              parts[0].elementsEqual("wardfleet".utf8), parts[1].elementsEqual("v1".utf8),
              let commune = String(parts[2]), let device = String(parts[3]), let kindText = String(parts[4]),
              Identifier.isValid(commune), Identifier.isValid(device),
              let kind = MessageKind(rawValue: kindText)
        else { return nil }
        return TopicAddress(commune: commune, device: device, kind: kind)
    }
}
