import Foundation
import WardDomain

/// The commune-wide emergency topic (protocol §4, `emergency`): one publish that the broker fans
/// out to every loudspeaker cluster of a commune subscribed to it, instead of one agenda per
/// speaker. Not retained: the speakers' agendas (retained, brought up to date right after) stay
/// the durable record, so a speaker that was offline finds the emergency there when it returns.
extension Topics {
    /// The last segment of a commune's emergency topic.
    public static let emergencyKind = "emergency"
    /// The capability a speaker announces in its birth when it subscribes to its commune's
    /// emergency topic. Speakers without it get every emergency through their own agenda only.
    public static let emergencyCapability = "emergency_topic"

    /// `wardfleet/v1/{commune}/emergency`.
    public static func emergency(commune: String) -> String { "\(root)/\(commune)/\(emergencyKind)" }

    /// The commune of an emergency topic; nil for any other topic.
    public static func emergencyCommune(_ topic: String) -> String? {
        let parts = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].elementsEqual("wardfleet".utf8), parts[1].elementsEqual("v1".utf8),
              parts[3].elementsEqual(emergencyKind.utf8), let commune = String(parts[2]), Identifier.isValid(commune)
        else { return nil }
        return commune
    }

    /// The commune a v1 topic is about: a device's topic or a commune's emergency topic.
    public static func commune(of topic: String) -> String? { parse(topic)?.commune ?? emergencyCommune(topic) }
}

/// Controller → every speaker of one commune, QoS 1, not retained, on `wardfleet/v1/{commune}/emergency`.
/// `play`: an emergency the speakers it concerns add to their agenda at once (`entry`, the very
/// entry their next agenda lists). `cancel`: the play stops wherever it is known.
public struct EmergencyMessage: Codable, Sendable, Hashable {
    public enum Action: String, Codable, Sendable {
        case play, cancel
    }

    public var v: Int
    public var commune: String
    /// Controller time when sent (UTC ms). An agenda older than this does not take the play away.
    public var ts: Int64
    public var action: Action
    /// The play id (`ITEM@START_MS`), for both actions.
    public var play: String
    /// With `play`: the agenda entry, exactly as in a `schedule` message's `plays[]`.
    public var entry: SchedulePlay?
    /// Only these speakers act on it (device ids).
    public var speakers: [String]?
    /// Every speaker of the commune but these acts on it.
    public var except: [String]?

    public init(commune: String, ts: Int64, action: Action, play: String, entry: SchedulePlay? = nil,
                speakers: [String]? = nil, except: [String]? = nil) {
        v = ProtocolLimits.version
        self.commune = commune
        self.ts = ts
        self.action = action
        self.play = play
        self.entry = entry
        self.speakers = speakers
        self.except = except
    }

    public static func play(_ entry: SchedulePlay, commune: String, ts: Int64, audience: FanoutAudience) -> EmergencyMessage {
        var m = EmergencyMessage(commune: commune, ts: ts, action: .play, play: entry.play, entry: entry)
        switch audience {
        case .everyone: break
        case .only(let ids): m.speakers = ids
        case .except(let ids): m.except = ids
        }
        return m
    }

    public static func cancel(_ play: String, commune: String, ts: Int64) -> EmergencyMessage {
        EmergencyMessage(commune: commune, ts: ts, action: .cancel, play: play)
    }

    /// Whether the speaker `device` acts on it (a cancel concerns whoever holds the play).
    public func concerns(_ device: String) -> Bool {
        if action == .cancel { return true }
        if let only = speakers { return only.contains(device) }
        if let but = except { return !but.contains(device) }
        return true
    }

    public struct Unreadable: Error, CustomStringConvertible {
        public var description: String
    }

    /// What a speaker accepts on its commune's emergency topic (the rules of the protocol's field
    /// table); anything else is ignored by it (its agenda will carry what concerns it anyway).
    public static func read(_ payload: some Collection<UInt8>, topic: String) throws -> EmergencyMessage {
        guard let commune = Topics.emergencyCommune(topic) else { throw Unreadable(description: "not an emergency topic: \(topic)") }
        let m: EmergencyMessage
        do {
            m = try JSONDecoder().decode(EmergencyMessage.self, from: Data(payload))
        } catch {
            throw Unreadable(description: "not an emergency message: \(error)")
        }
        guard m.v == ProtocolLimits.version else { throw Unreadable(description: "v \(m.v)") }
        guard m.commune == commune else { throw Unreadable(description: "commune \(m.commune) on the topic of \(commune)") }
        guard PlayKey(id: m.play) != nil else { throw Unreadable(description: "play id \(m.play)") }
        guard m.speakers == nil || m.except == nil else { throw Unreadable(description: "both speakers and except") }
        switch m.action {
        case .play:
            guard let e = m.entry else { throw Unreadable(description: "play without entry") }
            guard e.play == m.play, e.level == .emergency else { throw Unreadable(description: "entry is not the emergency \(m.play)") }
            guard (e.media == nil) != (e.stream == nil) else { throw Unreadable(description: "entry needs exactly one of media and stream") }
        case .cancel:
            guard m.entry == nil else { throw Unreadable(description: "cancel with an entry") }
        }
        return m
    }
}
