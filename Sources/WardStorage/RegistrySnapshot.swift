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
///
/// A province's snapshot is large (50 MB at 100,000 devices), so a long-running process lets it go
/// once unused for a while (`releaseIfIdle`): reports and pages in a burst share it, an idle
/// controller does not keep it.
final class RegistryCache: Sendable {
    private struct Held {
        var snapshot: RegistrySnapshot?
        /// Last handed out (process housekeeping, not a time of the domain).
        var used = ContinuousClock.now
    }
    private let held = Mutex(Held())

    func snapshot(_ db: WardDatabase) throws -> RegistrySnapshot {
        // The revision is read before the rows: rows newer than their revision only cause one more read later.
        let rev = try DeviceRepository(db).revision()
        let cached = held.withLock { h -> RegistrySnapshot? in
            guard let s = h.snapshot, s.revision == rev else { return nil }
            h.used = .now
            return s
        }
        if let cached { return cached }
        let s = RegistrySnapshot(revision: rev, tree: try PlaceRepository(db).tree(), devices: try DeviceRepository(db).list(includeRemoved: true))
        held.withLock { h in
            if (h.snapshot?.revision ?? .min) <= rev { h.snapshot = s }
            h.used = .now
        }
        return s
    }

    /// Drops the snapshot when it was not handed out for `idle`; returns whether it did.
    @discardableResult
    func releaseIfIdle(_ idle: Duration) -> Bool {
        held.withLock { h in
            guard h.snapshot != nil, ContinuousClock.now - h.used >= idle else { return false }
            h.snapshot = nil
            return true
        }
    }

    var isHeld: Bool { held.withLock { $0.snapshot != nil } }
}

extension WardDatabase {
    /// The registry as of its current revision, read again only after a change.
    public func registry() throws -> RegistrySnapshot { try registryCache.snapshot(self) }

    /// Lets the registry snapshot go if no report or page used it for `idle` (a long-running
    /// process calls this now and then; the next use reads the registry again).
    @discardableResult
    public func releaseIdleRegistry(after idle: Duration) -> Bool { registryCache.releaseIfIdle(idle) }

    /// Whether a registry snapshot is held (tests).
    public var holdsRegistry: Bool { registryCache.isHeld }
}
