import Foundation
import WardDomain

/// What the ingestor keeps of one monitored device: its class, where it is, and its latest
/// reading. Held densely (`DeviceTable`): one small value per device. Its id is the table's key
/// and its configuration is in its liveness (`DeviceLiveness.config`): neither is kept twice.
struct MonitoredDevice: Sendable {
    var deviceClass: DeviceClass
    var communeID: String?
    var villageID: String?
    var latestReading: Reading?
    var lastSampleAt: Date?
}

/// A device's birth and latest telemetry not yet written to its status row. Dropped once handed
/// to storage: the row keeps them (a status written without them leaves the stored ones), so the
/// controller does not hold every device's payloads for the whole run.
struct UnwrittenPayloads: Sendable {
    var birth: String?
    var telemetry: (payload: [UInt8], at: Date)?
}
