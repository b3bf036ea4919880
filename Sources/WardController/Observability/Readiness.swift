import Dispatch
import Foundation
import Synchronization
import WardStorage

/// Whether this process can do its work now (`GET /readyz`): the database takes a write and every
/// broker link it needs is connected (a cluster node: its commune units' links and its API's).
public struct Readiness: Sendable {
    public var database: WardDatabase
    /// The broker links that must be up: a name (the broker's address or name) and whether it is.
    public var links: @Sendable () async -> [(name: String, connected: Bool)]
    /// A database that has not answered within this is reported not ready (the probe goes on in the background).
    public var timeout: Duration = .seconds(3)

    public init(database: WardDatabase, links: @escaping @Sendable () async -> [(name: String, connected: Bool)]) {
        self.database = database
        self.links = links
    }

    /// What is wrong, in short operator words (Vietnamese / English); empty: ready.
    public func problems() async -> [String] {
        var out: [String] = []
        switch await Self.probe(database, timeout: timeout) {
        case .success: break
        case .failure(let e):
            out.append("cơ sở dữ liệu không ghi được / database does not accept writes: \(String(describing: e).prefix(200))")
        }
        let links = await links()
        if links.isEmpty { out.append("không có kết nối broker / no broker link") }
        for l in links where !l.connected { out.append("mất kết nối broker \(l.name) / broker link down: \(l.name)") }
        return out
    }

    private final class Once: Sendable {
        let slot = Mutex<CheckedContinuation<Result<Void, any Error>, Never>?>(nil)
    }

    struct TimedOut: Error, CustomStringConvertible {
        var description: String { "no answer in time" }
    }

    /// The write probe on a thread of its own (it blocks), never the concurrency pool; gives up waiting after `timeout`.
    static func probe(_ db: WardDatabase, timeout: Duration) async -> Result<Void, any Error> {
        let once = Once()
        return await withCheckedContinuation { c in
            once.slot.withLock { $0 = c }
            DispatchQueue.global().async {
                let r = Result { try db.probeWrite() }
                once.slot.withLock { $0.take() }?.resume(returning: r)
            }
            let (s, atto) = timeout.components
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(s * 1_000_000_000 + atto / 1_000_000_000))) {
                once.slot.withLock { $0.take() }?.resume(returning: .failure(TimedOut()))
            }
        }
    }
}
