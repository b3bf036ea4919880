import Foundation

/// A device's time within a window in whole milliseconds, by state, and the two "working" spans
/// the class KPIs read. Stored times are whole milliseconds, so parts of a window (a month's
/// roll-up, an open interval, the raw intervals of an edge) add up to exactly what the whole
/// window gives: the monthly report is the same number whichever way it is computed.
public struct UptimeMillis: Sendable, Hashable, Codable {
    /// Time covered by intervals in each state (gaps are not here: see `summary(span:)`).
    public var ok: Int64 = 0
    public var degraded: Int64 = 0
    public var offline: Int64 = 0
    public var unknown: Int64 = 0
    /// Online with no recording fault (a camera's working time).
    public var onlineRecording: Int64 = 0
    /// Online with the uplink up (an access point's working time).
    public var onlineUplink: Int64 = 0

    public init(ok: Int64 = 0, degraded: Int64 = 0, offline: Int64 = 0, unknown: Int64 = 0, onlineRecording: Int64 = 0,
                onlineUplink: Int64 = 0) {
        self.ok = ok
        self.degraded = degraded
        self.offline = offline
        self.unknown = unknown
        self.onlineRecording = onlineRecording
        self.onlineUplink = onlineUplink
    }

    public var covered: Int64 { ok + degraded + offline + unknown }

    /// Faults that keep a camera from working although online.
    public static let recordingFaults: Set<FaultCode> = [.notRecording, .retentionBelowRequired]

    /// Adds `ms` of an interval in `state` with `faults`.
    public mutating func add(_ state: HealthState, faults: [Fault], _ ms: Int64) {
        guard ms > 0 else { return }
        switch state {
        case .ok: ok += ms
        case .degraded: degraded += ms
        case .offline: offline += ms
        case .unknown: unknown += ms
        }
        guard state.isOnline else { return }
        if !faults.contains(where: { Self.recordingFaults.contains($0.code) }) { onlineRecording += ms }
        if !faults.contains(where: { $0.code == .uplinkDown }) { onlineUplink += ms }
    }

    public static func + (a: UptimeMillis, b: UptimeMillis) -> UptimeMillis {
        UptimeMillis(ok: a.ok + b.ok, degraded: a.degraded + b.degraded, offline: a.offline + b.offline, unknown: a.unknown + b.unknown,
                     onlineRecording: a.onlineRecording + b.onlineRecording, onlineUplink: a.onlineUplink + b.onlineUplink)
    }

    /// Seconds per state over a window of `span` ms: what intervals leave uncovered is unknown.
    public func summary(span: Int64) -> UptimeSummary {
        UptimeSummary(ok: Double(ok) / 1000, degraded: Double(degraded) / 1000, offline: Double(offline) / 1000,
                      unknown: Double(unknown + max(0, span - covered)) / 1000)
    }

    /// Whole milliseconds since 1970 (stored times are whole milliseconds).
    public static func ms(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }

    /// Milliseconds of [start, end) inside [lower, upper).
    public static func clipped(start: Int64, end: Int64, lower: Int64, upper: Int64) -> Int64 {
        max(0, min(end, upper) - max(start, lower))
    }
}

/// A device's figures over a reporting window, as the KPIs read them.
public struct DeviceUptime: Sendable, Hashable, Codable {
    public var millis: UptimeMillis
    /// The window clipped to the device's monitored span and to now, in ms (0 when empty).
    public var span: Int64
    public init(millis: UptimeMillis, span: Int64) {
        self.millis = millis
        self.span = span
    }

    public var summary: UptimeSummary { millis.summary(span: span) }

    /// The monitored part of `window` as [lower, upper) in ms, or nil when empty.
    public static func bounds(_ window: DateInterval, monitored: DateInterval?, now: Date) -> (lower: Int64, upper: Int64)? {
        let ms = UptimeMillis.ms
        let lower = max(ms(window.start), monitored.map { ms($0.start) } ?? .min)
        let upper = min(ms(window.end), ms(now), monitored.map { ms($0.end) } ?? .max)
        return upper > lower ? (lower, upper) : nil
    }

    /// From the raw intervals (open ones end at `now`).
    public static func of(_ intervals: [StateInterval], in window: DateInterval, monitored: DateInterval?, now: Date) -> DeviceUptime {
        guard let (lower, upper) = bounds(window, monitored: monitored, now: now) else { return DeviceUptime(millis: UptimeMillis(), span: 0) }
        var m = UptimeMillis()
        let nowMs = UptimeMillis.ms(now)
        for iv in intervals {
            let d = UptimeMillis.clipped(start: UptimeMillis.ms(iv.start), end: iv.end.map(UptimeMillis.ms) ?? nowMs, lower: lower, upper: upper)
            m.add(iv.state, faults: iv.faults, d)
        }
        return DeviceUptime(millis: m, span: upper - lower)
    }

    /// Seconds a device of `deviceClass` was working: online, and for cameras recording, for
    /// access points with the uplink up. Nil for classes whose working time is their availability.
    public func workingSeconds(_ deviceClass: DeviceClass) -> Double? {
        switch deviceClass {
        case .camera: Double(millis.onlineRecording) / 1000
        case .accessPoint: Double(millis.onlineUplink) / 1000
        default: nil
        }
    }
}
