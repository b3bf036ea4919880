import Synchronization

public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int32
    public var retained: Bool

    public init(topic: String, payload: [UInt8], qos: Int32 = 0, retained: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retained = retained
    }
}

/// Bounded hand-off from the libmosquitto network thread to one consuming task.
/// The producer never blocks: past `capacity` it drops and counts. The consumer takes
/// everything waiting at once, which is what lets it batch its work.
public final class InboundQueue: Sendable {
    private struct State {
        var buffer: [MQTTMessage] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var accepted: UInt64 = 0
        var dropped: UInt64 = 0
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Called on the network thread. Returns false when the message was dropped.
    @discardableResult
    public func offer(_ message: MQTTMessage) -> Bool {
        let (ok, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !s.finished, s.buffer.count < capacity else {
                s.dropped &+= 1
                return (false, nil)
            }
            s.buffer.append(message)
            s.accepted &+= 1
            let w = s.waiter
            s.waiter = nil
            return (true, w)
        }
        waiter?.resume()
        return ok
    }

    /// Ends the sequence once the buffer is drained.
    public func finish() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }

    public var counts: (accepted: UInt64, dropped: UInt64, waiting: Int) {
        state.withLock { ($0.accepted, $0.dropped, $0.buffer.count) }
    }

    /// Everything waiting, or suspends until something arrives; nil when finished (or cancelled).
    public func nextBatch() async -> [MQTTMessage]? {
        while true {
            let (batch, done) = state.withLock { s -> ([MQTTMessage]?, Bool) in
                if !s.buffer.isEmpty {
                    var b: [MQTTMessage] = []
                    b.reserveCapacity(Swift.min(s.buffer.count * 2, capacity))
                    swap(&b, &s.buffer)
                    return (b, false)
                }
                return (nil, s.finished)
            }
            if let batch { return batch }
            if done || Task.isCancelled { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        if !s.buffer.isEmpty || s.finished || Task.isCancelled { return true }
                        s.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
                    defer { s.waiter = nil }
                    return s.waiter
                }
                w?.resume()
            }
        }
    }
}

extension InboundQueue: AsyncSequence {
    public typealias Element = MQTTMessage

    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: InboundQueue
        var batch: [MQTTMessage] = []
        var index = 0

        public mutating func next() async -> MQTTMessage? {
            if index >= batch.count {
                guard let b = await queue.nextBatch() else { return nil }
                batch = b
                index = 0
            }
            defer { index += 1 }
            return batch[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: self) }
}
