import Foundation

/// Something a simulated device does at a set time after the simulator starts.
struct Behaviour: Sendable, Hashable {
    enum Kind: String, Sendable, CaseIterable {
        /// Connection cut without DISCONNECT: the broker publishes the Last Will.
        case offlineWill = "offline-will"
        /// Connection ends with nothing published (as a device without a Last Will would).
        case offlineSilent = "offline-silent"
        /// Stays connected but stops sending: a hung application.
        case hang
        /// Graceful shutdown, then a new boot.
        case reboot
        case ampFault = "amp-fault"
        case lineFault = "line-fault"
        case diskFill = "disk-fill"
        case notRecording = "not-recording"
        case uplinkLoss = "uplink-loss"
        case paperOut = "paper-out"
        case printerFault = "printer-fault"
        /// One `tamper` event (enclosure opened; for a camera, moved or covered).
        case tamper
        /// One `storage_full` event (cameras).
        case storageFull = "storage-full"
        /// Configuration documents are rejected while it lasts (a failing flash write).
        case rejectConfig = "reject-config"
        /// Loudspeakers: the mains supply is cut (a storm). The speaker runs on its battery, which drains
        /// at `--storm-drain` %/h from `--storm-battery` %; at 0 % it goes dark (connection cut, the broker
        /// publishes the Last Will) and stays dark. When it ends, mains are back (a dark speaker starts again, new boot).
        case mainsCut = "mains-cut"
        /// The link drops (4G cell down, cable cut): connection cut without DISCONNECT, and no reconnect
        /// until it ends (unlike offline-will, which is the same, but under that name for the storm).
        case linkLoss = "link-loss"
    }

    var device: String
    var kind: Kind
    /// Seconds after start.
    var at: Double
    /// How long it lasts; nil: until the simulator stops.
    var duration: Double?

    /// Parses `DEVICE:KIND@START[+DURATION]`, e.g. `LOA-01:offline-will@20+30`.
    static func parse(_ text: String) throws -> Behaviour {
        let usage = "behaviour '\(text)': expected DEVICE:KIND@START[+DURATION], KIND one of "
            + Kind.allCases.map(\.rawValue).joined(separator: ", ")
        let colon = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard colon.count == 2 else { throw ValidationFailure(usage) }
        let at = colon[1].split(separator: "@", maxSplits: 1).map(String.init)
        guard at.count == 2, let kind = Kind(rawValue: at[0]) else { throw ValidationFailure(usage) }
        let times = at[1].split(separator: "+", maxSplits: 1).map(String.init)
        guard let start = Double(times[0]), start >= 0 else { throw ValidationFailure(usage) }
        var duration: Double?
        if times.count == 2 {
            guard let d = Double(times[1]), d > 0 else { throw ValidationFailure(usage) }
            duration = d
        }
        return Behaviour(device: colon[0], kind: kind, at: start, duration: duration)
    }
}

struct ValidationFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
