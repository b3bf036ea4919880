import Foundation
import HTTPStream
import WardDomain

/// Whether a relay's source answers. Behind a protocol so unit tests need no network.
public protocol StreamSourceProbe: Sendable {
    /// nil when the source answers (2xx and the first bytes of audio), else why it does not.
    func problem(with url: String) async -> String?
}

/// The real check: opens the stream as a speaker would (HTTP GET) and closes it at the first bytes.
public struct HTTPStreamProbe: StreamSourceProbe {
    public var timeout: TimeInterval
    public init(timeout: TimeInterval = 3) { self.timeout = timeout }

    public func problem(with url: String) async -> String? {
        switch await HTTPStream.open(url, timeout: timeout, userAgent: "WardFleet controller (relay source check)") {
        case .success(let s):
            s.close()
            return nil
        case .failure(let f): return f.description
        }
    }
}

public enum RelayCheck {
    /// What the officer who schedules `b` should know before it goes on air (bilingual; empty when
    /// it is no relay or its source answers). A warning, not a refusal: the source may be started
    /// only for the broadcast.
    public static func warnings(for b: ScheduledBroadcast, probe: any StreamSourceProbe) async -> [String] {
        guard case .stream(let url) = b.programme, let why = await probe.problem(with: url) else { return [] }
        return ["không mở được nguồn tiếp sóng \(url) (\(why)): loa sẽ không phát được nếu đến giờ phát nguồn vẫn không"
            + " có tín hiệu / the relay source \(url) cannot be opened (\(why)): speakers will not play it unless it is on air"
            + " by then"]
    }
}

/// A scheduled item as the schedule and emergency answers give it: the item, and warnings when there are any.
public struct ScheduleAnswer: Encodable, Sendable {
    public var broadcast: ScheduledBroadcast
    public var warnings: [String]

    public init(_ broadcast: ScheduledBroadcast, warnings: [String]) {
        self.broadcast = broadcast
        self.warnings = warnings
    }

    private enum Key: String, CodingKey { case warnings }

    public func encode(to encoder: any Encoder) throws {
        try broadcast.encode(to: encoder)
        guard !warnings.isEmpty else { return }
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(warnings, forKey: .warnings)
    }
}
