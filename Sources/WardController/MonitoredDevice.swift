import Foundation
import WardDomain

/// What the ingestor keeps of one monitored device: its class, where it is, and its latest
/// reading. Held densely (`DeviceTable`): one small value per device. Its id is the table's key
/// and its configuration is in its liveness (`DeviceLiveness.config`): neither is kept twice.
/// Its commune and village are numbers of the ingestor's `PlaceNumbers` (96 bytes a device, not 120).
struct MonitoredDevice: Sendable {
    var deviceClass: DeviceClass
    var commune: PlaceNumbers.Number = 0
    var village: PlaceNumbers.Number = 0
    var latestReading: Reading?
    var lastSampleAt: Date?
}

/// The communes and villages of the monitored fleet, numbered: a province's few thousand place ids
/// held once, where each device would otherwise keep two strings (32 bytes) of its own.
struct PlaceNumbers: Sendable {
    /// 0: none (a device whose site is under no commune or village); n: the n-th id.
    typealias Number = UInt32
    private var ids: [String] = []
    private var numbers: [String: Number] = [:]

    mutating func number(_ id: String?) -> Number {
        guard let id else { return 0 }
        if let n = numbers[id] { return n }
        ids.append(id)
        let n = Number(ids.count)
        numbers[id] = n
        return n
    }

    func id(_ n: Number) -> String? { n == 0 ? nil : ids[Int(n) - 1] }
}

/// A device's birth and latest telemetry not yet written to its status row. Dropped once handed
/// to storage: the row keeps them (a status written without them leaves the stored ones), so the
/// controller does not hold every device's payloads for the whole run.
struct UnwrittenPayloads: Sendable {
    var birth: String?
    var telemetry: (payload: [UInt8], at: Date)?
}
