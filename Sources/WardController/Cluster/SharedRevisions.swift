import Foundation
import Synchronization
import WardStorage

/// The registry's and the schedule's revisions (one row each), read at most once per `interval` for
/// the whole process. A node runs one commune unit per commune it owns, and each polls both
/// revisions several times a second; shared, a node with 2,000 communes costs the database a few
/// reads a second instead of tens of thousands. Changes made in this process still wake the
/// units at once (ChangeSignal); another node's are seen within `interval` plus one poll.
public final class SharedRevisions: Sendable {
    private struct Cached {
        var registry: (value: Int64, at: ContinuousClock.Instant)?
        var schedule: (value: Int64, at: ContinuousClock.Instant)?
    }
    private let database: WardDatabase
    private let interval: Duration
    private let cache = Mutex(Cached())

    public init(database: WardDatabase, interval: Duration = .milliseconds(200)) {
        self.database = database
        self.interval = interval
    }

    public func registry() throws -> Int64 {
        try cache.withLock { c in
            if let r = c.registry, ContinuousClock.now - r.at < interval { return r.value }
            let v = try DeviceRepository(database).revision()
            c.registry = (v, .now)
            return v
        }
    }

    public func schedule() throws -> Int64 {
        try cache.withLock { c in
            if let r = c.schedule, ContinuousClock.now - r.at < interval { return r.value }
            let v = try BroadcastRepository(database).revision()
            c.schedule = (v, .now)
            return v
        }
    }
}
