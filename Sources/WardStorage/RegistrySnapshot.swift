import Foundation
import Synchronization
import WardDomain

/// The place tree and every device (removed ones included), as of one registry revision.
public struct RegistrySnapshot: Sendable {
    public var revision: Int64
    public var tree: PlaceTree
    /// All devices, removed ones included, by id.
    public var devices: [Device]
}

/// The registry read once per revision: reports and KPI pages read the whole tree and all devices,
/// which a province holds by the tens of thousands and changes rarely. Every write to `devices` or
/// `places` bumps `registry_revision` (a trigger, by any process), so a snapshot is reused only
/// while that row is unchanged.
final class RegistryCache: Sendable {
    private let held = Mutex<RegistrySnapshot?>(nil)

    func snapshot(_ db: WardDatabase) throws -> RegistrySnapshot {
        // The revision is read before the rows: rows newer than their revision only cause one more read later.
        let rev = try DeviceRepository(db).revision()
        if let s = held.withLock({ $0 }), s.revision == rev { return s }
        let s = RegistrySnapshot(revision: rev, tree: try PlaceRepository(db).tree(), devices: try DeviceRepository(db).list(includeRemoved: true))
        held.withLock { current in
            if (current?.revision ?? .min) <= rev { current = s }
        }
        return s
    }
}

extension WardDatabase {
    /// The registry as of its current revision, read again only after a change.
    public func registry() throws -> RegistrySnapshot { try registryCache.snapshot(self) }
}
