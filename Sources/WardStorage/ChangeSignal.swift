import Foundation
import Synchronization

/// Wakes in-process waiters when something they poll for has changed, so they need not wait for
/// their next poll. Waiters still poll: other processes writing the same database are only seen
/// that way. A poke with nobody waiting is kept for the next wait.
public final class ChangeSignal: Sendable {
    private struct State {
        var pending = false
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The schedule of broadcasts (any item, status or group write) committed in this process.
    public static let schedule = ChangeSignal()
    /// Command acknowledgements stored by this process's controller.
    public static let acks = ChangeSignal()
    /// Configuration reports and credential reports stored by this process's controller, and
    /// configuration sets and rotations made in this process.
    public static let fleetConfig = ChangeSignal()

    public func poke() {
        let woken = state.withLock { s in
            defer { s.waiters = [:] }
            if s.waiters.isEmpty { s.pending = true }
            return Array(s.waiters.values)
        }
        for w in woken { w.resume() }
    }

    /// Returns when poked (or already poked since the last wait) or after `timeout`.
    public func wait(upTo timeout: Duration) async {
        if state.withLock({ s in defer { s.pending = false }; return s.pending }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.next() }
            await group.next()
            group.cancelAll()
        }
    }

    private func next() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let early = state.withLock { s in
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    if Task.isCancelled { return true }  // onCancel already ran and found nobody
                    s.waiters[id] = c
                    return false
                }
                if early { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
