import CMosquitto
import Dispatch
import Foundation
import Logging
import Synchronization

public struct MQTTWill: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int32
    public var retain: Bool
    public init(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = true) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

public struct MQTTConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    public var username: String?
    public var password: String?
    /// CA certificate (PEM) to verify the broker with; enables TLS.
    public var caFile: String?
    public var keepAlive: Int32 = 30
    public var cleanSession = true
    public var will: MQTTWill?
    /// Reconnect delay doubles from the lower bound up to the upper one.
    public var reconnectDelay: ClosedRange<UInt32> = 1...30
    public var inboundCapacity = 100_000
    /// Served by one process-wide epoll thread instead of a thread of its own: for processes
    /// with hundreds or thousands of connections (libmosquitto's own loop stops at fd 1024).
    public var sharedNetworkLoop = false
    /// Called on the network thread as each message arrives, before it is queued: where a
    /// benchmark's listener stamps arrival times, not when its task next gets a thread.
    public var onArrival: (@Sendable (MQTTMessage) -> Void)?

    /// Parses "HOST:PORT" (the last colon separates the port).
    public static func parseAddress(_ s: String) -> (host: String, port: Int)? {
        guard let i = s.lastIndex(of: ":"), i != s.startIndex, let port = Int(s[s.index(after: i)...]),
              (1...65535).contains(port) else { return nil }
        return (String(s[..<i]), port)
    }

    public init(host: String = "127.0.0.1", port: Int = 1883, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }
}

public struct MQTTError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32
    public var description: String {
        let text = code == MOSQ_ERR_ERRNO.rawValue
            ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(code))
        return "MQTT \(operation) failed: \(text) (\(code))"
    }
}

public enum MQTTConnectionEvent: Sendable, Equatable {
    case connected
    case refused(code: Int32)
    case disconnected(code: Int32)
}

private let libraryInit: Void = {
    mosquitto_lib_init()
    signal(SIGPIPE, SIG_IGN)  // a peer closing the socket must not kill the process
}()

/// One MQTT connection over libmosquitto, driven by libmosquitto's own network thread.
///
/// The network thread only copies inbound messages into `messages` (a bounded queue) and
/// re-sends subscriptions and connect messages after a reconnect; all real work happens in
/// whoever consumes `messages`.
public final class MQTTClient: @unchecked Sendable {
    // @unchecked: `handle` is only used through libmosquitto calls that are safe with loop_start;
    // every Swift-side mutable field is behind `shared`.
    private struct Shared {
        var subscriptions: [String: Int32] = [:]
        var connectMessages: [MQTTMessage] = []
        var connected = false
        var started = false
        var connects = 0
        var lastRefusal: Int32?
        var eventContinuation: AsyncStream<MQTTConnectionEvent>.Continuation?
        /// Callbacks for QoS ≥ 1 publishes waiting for the broker's acknowledgement, by message id.
        var awaitingAck: [Int32: @Sendable () -> Void] = [:]
        /// Acknowledgements that arrived before their publish call had registered its callback, newest
        /// last. QoS 0 publishes report here too; message ids count up, so one is reused only
        /// 65,535 publishes later and a short list cannot confuse two messages.
        var earlyAcks: [Int32] = []
    }

    public let configuration: MQTTConfiguration
    public let messages: InboundQueue
    public let events: AsyncStream<MQTTConnectionEvent>
    let handle: OpaquePointer
    private let shared = Mutex(Shared())
    private let logger: Logger

    public init(_ configuration: MQTTConfiguration, logger: Logger = Logger(label: "wardfleet.mqtt")) throws {
        _ = libraryInit
        self.configuration = configuration
        self.logger = logger
        messages = InboundQueue(capacity: configuration.inboundCapacity)
        let (stream, continuation) = AsyncStream<MQTTConnectionEvent>.makeStream(bufferingPolicy: .bufferingNewest(64))
        events = stream
        guard let h = mosquitto_new(configuration.clientID, configuration.cleanSession, nil) else {
            throw MQTTError(operation: "create", code: MOSQ_ERR_NOMEM.rawValue)
        }
        handle = h
        shared.withLock { $0.eventContinuation = continuation }
        mosquitto_user_data_set(h, Unmanaged.passUnretained(self).toOpaque())
        if configuration.sharedNetworkLoop { mosquitto_threaded_set(h, true) }  // packets queue; the loop writes
        mosquitto_int_option(h, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_reconnect_delay_set(h, configuration.reconnectDelay.lowerBound,
                                      configuration.reconnectDelay.upperBound, true)
        if let u = configuration.username {
            try check("credentials", mosquitto_username_pw_set(h, u, configuration.password))
        }
        if let ca = configuration.caFile {
            try check("tls", mosquitto_tls_set(h, ca, nil, nil, nil, nil))
        }
        if let w = configuration.will {
            try check("will", w.payload.withUnsafeBytes {
                mosquitto_will_set(h, w.topic, Int32($0.count), $0.baseAddress, w.qos, w.retain)
            })
        }
        installCallbacks()
    }

    deinit {
        if !configuration.sharedNetworkLoop { mosquitto_loop_stop(handle, true) }
        mosquitto_destroy(handle)
    }

    private func check(_ op: String, _ rc: Int32) throws {
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(operation: op, code: rc) }
    }

    private static func client(_ obj: UnsafeMutableRawPointer?) -> MQTTClient {
        Unmanaged<MQTTClient>.fromOpaque(obj!).takeUnretainedValue()
    }

    private func installCallbacks() {
        mosquitto_connect_callback_set(handle) { mosq, obj, rc in
            MQTTClient.client(obj).didConnect(mosq!, rc)
        }
        mosquitto_disconnect_callback_set(handle) { _, obj, rc in
            MQTTClient.client(obj).didDisconnect(rc)
        }
        mosquitto_publish_callback_set(handle) { _, obj, mid in
            MQTTClient.client(obj).didPublish(mid)
        }
        mosquitto_message_callback_set(handle) { _, obj, msg in
            guard let m = msg?.pointee, let topic = m.topic else { return }
            let payload = m.payloadlen > 0
                ? Array(UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen))) : []
            let client = MQTTClient.client(obj)
            let message = MQTTMessage(topic: String(cString: topic), payload: payload, qos: m.qos, retained: m.retain)
            client.configuration.onArrival?(message)
            if !client.messages.offer(message) {
                client.noteDrop()
            }
        }
    }

    // Network thread: re-establish what a fresh session lacks, nothing else.
    private func didConnect(_ mosq: OpaquePointer, _ rc: Int32) {
        guard rc == 0 else {
            let c = shared.withLock { s in
                s.lastRefusal = rc
                return s.eventContinuation
            }
            c?.yield(.refused(code: rc))
            return
        }
        // Subscriptions and connect messages are queued before the client counts as connected,
        // so nothing its user publishes after `connect()` returns can overtake them (a request
        // whose answer would come before its subscription exists).
        let (subs, msgs) = shared.withLock { ($0.subscriptions, $0.connectMessages) }
        for (filter, qos) in subs { mosquitto_subscribe(mosq, nil, filter, qos) }
        for m in msgs { publishRaw(m) }
        let (late, cont) = shared.withLock { s in
            s.connected = true
            s.connects += 1
            s.lastRefusal = nil
            return (s.subscriptions.filter { subs[$0.key] == nil }, s.eventContinuation)
        }
        for (filter, qos) in late { mosquitto_subscribe(mosq, nil, filter, qos) }  // added meanwhile, while not yet "connected"
        cont?.yield(.connected)
    }

    private func didDisconnect(_ rc: Int32) {
        let c = shared.withLock { s in
            s.connected = false
            return s.eventContinuation
        }
        c?.yield(.disconnected(code: rc))
    }

    /// Logs the first drop and then every 10,000th, so a full queue is visible but cannot
    /// flood the log from the network thread.
    private func noteDrop() {
        let dropped = messages.counts.dropped
        if dropped == 1 || dropped % 10_000 == 0 {
            logger.error("MQTT inbound queue full: messages dropped", metadata: [
                "client": "\(configuration.clientID)", "dropped_total": "\(dropped)", "capacity": "\(messages.capacity)",
            ])
        }
    }

    public var isConnected: Bool { shared.withLock { $0.connected } }
    /// How many times a connection was established (1 + reconnects).
    public var connectCount: Int { shared.withLock { $0.connects } }

    /// Messages published on every (re)connect before anything else: births and online states.
    public func setConnectMessages(_ list: [MQTTMessage]) { shared.withLock { $0.connectMessages = list } }

    /// Starts the network thread. With `timeout` it waits for the first accepted connection;
    /// without it, it returns at once and keeps trying in the background.
    public func connect(timeout: Duration? = .seconds(10)) async throws {
        let alreadyStarted = shared.withLock { s in
            defer { s.started = true }
            return s.started
        }
        if !alreadyStarted, configuration.sharedNetworkLoop {
            MQTTNetworkLoop.shared.submit(.attach(self))
        } else if !alreadyStarted {
            let rc = mosquitto_connect_async(handle, configuration.host, Int32(configuration.port), configuration.keepAlive)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                // Unreachable broker: the loop retries with backoff; remember why for the log.
                logger.warning("MQTT first connect attempt failed, retrying", metadata: [
                    "error": "\(MQTTError(operation: "connect", code: rc))", "client": "\(configuration.clientID)",
                ])
            }
            // libmosquitto's own loop uses select(): past FD_SETSIZE its thread would end silently.
            if mosquitto_socket(handle) >= FD_SETSIZE {
                shared.withLock { $0.started = false }
                throw MQTTError(operation: "connect (descriptor ≥ \(FD_SETSIZE): use sharedNetworkLoop for many connections)",
                                code: MOSQ_ERR_INVAL.rawValue)
            }
            try check("loop start", mosquitto_loop_start(handle))
        }
        guard let timeout else { return }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (up, refused) = shared.withLock { ($0.connected, $0.lastRefusal) }
            if up { return }
            if let refused {
                throw MQTTError(operation: "connect (broker refused: \(String(cString: mosquitto_connack_string(refused))))",
                                code: MOSQ_ERR_CONN_REFUSED.rawValue)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw MQTTError(operation: "connect to \(configuration.host):\(configuration.port) (timed out)",
                        code: MOSQ_ERR_NO_CONN.rawValue)
    }

    /// Subscribes now (if connected) and again after every reconnect.
    public func subscribe(_ filter: String, qos: Int32 = 1) throws {
        let up = shared.withLock { s in
            s.subscriptions[filter] = qos
            return s.connected
        }
        if up {
            try check("subscribe \(filter)", mosquitto_subscribe(handle, nil, filter, qos))
            if configuration.sharedNetworkLoop { MQTTNetworkLoop.shared.flush(self) }
        }
    }

    public func publish(_ message: MQTTMessage) throws {
        try check("publish \(message.topic)", publishRaw(message))
        if configuration.sharedNetworkLoop { MQTTNetworkLoop.shared.flush(self) }
    }

    public func publish(topic: String, payload: [UInt8], qos: Int32 = 0, retain: Bool = false) throws {
        try publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retained: retain))
    }

    /// Publishes at QoS 1 or 2 and calls `acknowledged` (on the network thread: keep it short)
    /// once the broker has acknowledged the message: what the sender may count as delivered.
    public func publish(_ message: MQTTMessage, acknowledged: @escaping @Sendable () -> Void) throws {
        precondition(message.qos > 0, "only QoS 1 and 2 are acknowledged")
        var mid: Int32 = 0
        let rc = message.payload.withUnsafeBytes {
            mosquitto_publish(handle, &mid, message.topic, Int32($0.count), $0.baseAddress, message.qos, message.retained)
        }
        try check("publish \(message.topic)", rc)
        // The acknowledgement may already have come on the network thread: never hold the lock
        // while calling into libmosquitto, so the two threads cannot wait on each other.
        let early = shared.withLock { s in
            if let i = s.earlyAcks.lastIndex(of: mid) {
                s.earlyAcks.remove(at: i)
                return true
            }
            s.awaitingAck[mid] = acknowledged
            return false
        }
        if early { acknowledged() }
        if configuration.sharedNetworkLoop { MQTTNetworkLoop.shared.flush(self) }
    }

    // Network thread.
    private func didPublish(_ mid: Int32) {
        let callback = shared.withLock { s -> (@Sendable () -> Void)? in
            if let c = s.awaitingAck.removeValue(forKey: mid) { return c }
            s.earlyAcks.append(mid)
            if s.earlyAcks.count > 256 { s.earlyAcks.removeFirst(s.earlyAcks.count - 256) }
            return nil
        }
        callback?()
    }

    @discardableResult
    private func publishRaw(_ m: MQTTMessage) -> Int32 {
        m.payload.withUnsafeBytes {
            mosquitto_publish(handle, nil, m.topic, Int32($0.count), $0.baseAddress, m.qos, m.retained)
        }
    }

    /// Graceful: sends DISCONNECT (the broker discards the Last Will) and stops the thread.
    public func disconnect() {
        guard shared.withLock({ s in defer { s.started = false }; return s.started }) else { return finish() }
        if configuration.sharedNetworkLoop { return detach(abrupt: false) }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        finish()
    }

    /// Abrupt: closes the socket without DISCONNECT, as a power cut would; the broker then
    /// publishes the Last Will, if one was set.
    public func abort() {
        guard shared.withLock({ s in defer { s.started = false }; return s.started }) else { return finish() }
        if configuration.sharedNetworkLoop { return detach(abrupt: true) }
        let fd = mosquitto_socket(handle)
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        finish()
    }

    private func detach(abrupt: Bool) {
        let done = DispatchSemaphore(value: 0)
        MQTTNetworkLoop.shared.submit(.detach(self, abrupt: abrupt, done: { done.signal() }))
        _ = done.wait(timeout: .now() + 5)
        finish()
    }

    /// Graceful (`disconnect`) or abrupt (`abort`) close that suspends instead of blocking, so
    /// thousands of shared-loop connections can be closed at once.
    public func close(abrupt: Bool = false) async {
        guard configuration.sharedNetworkLoop else { return abrupt ? abort() : disconnect() }
        guard shared.withLock({ s in defer { s.started = false }; return s.started }) else { return finish() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            MQTTNetworkLoop.shared.submit(.detach(self, abrupt: abrupt, done: { c.resume() }))
        }
        finish()
    }

    private func finish() {
        let c = shared.withLock { s in
            s.connected = false
            defer { s.eventContinuation = nil }
            return s.eventContinuation
        }
        c?.finish()
        messages.finish()
    }
}
