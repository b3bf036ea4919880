import CEventLoop
import CMosquitto
import Dispatch
import Foundation
import Synchronization

/// Drives many MQTT connections from one thread with epoll, through libmosquitto's external-loop
/// API. For processes holding thousands of connections (the device simulator): libmosquitto's
/// own loop spends a thread per connection and uses select(), which fails past descriptor 1024.
///
/// Other threads only queue requests here; every libmosquitto read, write, keepalive and
/// reconnect happens on the loop thread.
final class MQTTNetworkLoop: @unchecked Sendable {
    // @unchecked: `entries` and `byFD` are confined to the loop thread; requests cross over
    // through `requests` (a Mutex) and an eventfd.
    static let shared = MQTTNetworkLoop()

    enum Request {
        case attach(MQTTClient)
        case detach(MQTTClient, abrupt: Bool, done: @Sendable () -> Void)
    }

    private struct Requests {
        var queue: [Request] = []
        var dirty: [ObjectIdentifier: MQTTClient] = [:]
    }

    private struct Entry {
        let client: MQTTClient
        var fd: Int32 = -1
        /// The epoll interest last registered for `fd`, so unchanged interest costs no syscall.
        var events: UInt32 = 0
        var attempts = 0
        /// The first connect stores host and port; later ones reconnect with them.
        var initialized = false
        var detaching: (@Sendable () -> Void)?
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private let requests = Mutex(Requests())
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var byFD: [Int32: ObjectIdentifier] = [:]
    /// Connections waiting to reconnect, apart from `entries`: the loop looks at these on every
    /// wake-up, and scanning thousands of healthy connections each time was the simulator's
    /// bottleneck under an emergency fan-out.
    private var reconnects: [ObjectIdentifier: ContinuousClock.Instant] = [:]

    private init() {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: wakeFD))
        epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &ev)
        let t = Thread { [unowned self] in self.run() }
        t.name = "mqtt-network-loop"
        t.start()
    }

    func submit(_ r: Request) {
        requests.withLock { $0.queue.append(r) }
        wake()
    }

    /// Packets were queued from another thread: write them out soon.
    func flush(_ c: MQTTClient) {
        let first = requests.withLock { s in
            defer { s.dirty[ObjectIdentifier(c)] = c }
            return s.dirty.isEmpty && s.queue.isEmpty
        }
        if first { wake() }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: loop thread

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var nextMisc = ContinuousClock.now + .seconds(1)
        while true {
            let now = ContinuousClock.now
            var wait = nextMisc - now
            for at in reconnects.values where at - now < wait { wait = at - now }
            let timeout = max(0, Int32(wait.inMilliseconds))
            let n = epoll_wait(epfd, &events, Int32(events.count), timeout)
            if n > 0 {
                for i in 0..<Int(n) {
                    let fd = events[i].data.fd
                    if fd == wakeFD {
                        var v: UInt64 = 0
                        _ = read(wakeFD, &v, 8)
                    } else if let id = byFD[fd] {
                        service(id, readable: events[i].events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0)
                    }
                }
            }
            let (queue, dirty) = requests.withLock { s in
                defer { s.queue = []; s.dirty = [:] }
                return (s.queue, s.dirty)
            }
            for r in queue { handle(r) }
            for id in dirty.keys where entries[id] != nil { service(id, readable: false) }
            let after = ContinuousClock.now
            if after >= nextMisc {
                nextMisc = after + .seconds(1)
                for id in Array(entries.keys) {
                    guard let e = entries[id], e.fd >= 0 else { continue }
                    mosquitto_loop_misc(e.client.handle)  // keepalive pings and their timeouts
                    service(id, readable: false)
                }
            }
            if !reconnects.isEmpty {
                for (id, at) in reconnects where at <= after { connect(id) }
            }
        }
    }

    private func handle(_ r: Request) {
        switch r {
        case .attach(let c):
            let id = ObjectIdentifier(c)
            guard entries[id] == nil else { return }
            entries[id] = Entry(client: c)
            connect(id)
        case .detach(let c, let abrupt, let done):
            let id = ObjectIdentifier(c)
            guard var e = entries[id] else { return done() }
            if e.fd < 0 {
                entries[id] = nil
                return done()
            }
            e.detaching = done
            entries[id] = e
            if abrupt {
                // As a power cut: no DISCONNECT, the broker publishes the Last Will.
                shutdown(e.fd, Int32(SHUT_RDWR))
                mosquitto_loop_read(c.handle, 1)  // sees the closed socket, lets libmosquitto clean up
            } else {
                mosquitto_disconnect(c.handle)
                mosquitto_loop_write(c.handle, 16)  // the DISCONNECT; libmosquitto closes after it
            }
            settle(id)
            if entries[id] != nil { finish(id) }  // still open: stop serving it regardless
        }
    }

    /// Blocking TCP connect: this loop serves loopback and LAN brokers (the simulator's case).
    private func connect(_ id: ObjectIdentifier) {
        reconnects[id] = nil
        guard var e = entries[id] else { return }
        let c = e.client
        if e.fd >= 0 {  // the new socket may get the old number: register it afresh
            epoll_ctl(epfd, EPOLL_CTL_DEL, e.fd, nil)
            byFD[e.fd] = nil
            e.fd = -1
        }
        let rc = e.initialized
            ? mosquitto_reconnect(c.handle)
            : mosquitto_connect(c.handle, c.configuration.host, Int32(c.configuration.port), c.configuration.keepAlive)
        e.initialized = true
        entries[id] = e
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            scheduleReconnect(id)
            return
        }
        settle(id)
        service(id, readable: false)  // send CONNECT
    }

    private func scheduleReconnect(_ id: ObjectIdentifier) {
        guard var e = entries[id] else { return }
        let cfg = e.client.configuration.reconnectDelay
        let delay = min(Double(cfg.upperBound), Double(cfg.lowerBound) * pow(2, Double(e.attempts)))
        e.attempts += 1
        entries[id] = e
        reconnects[id] = ContinuousClock.now + .milliseconds(Int(delay * 1000))
    }

    private func service(_ id: ObjectIdentifier, readable: Bool) {
        guard let e = entries[id], e.fd >= 0 else { return }
        let h = e.client.handle
        if readable { mosquitto_loop_read(h, 64) }
        if mosquitto_socket(h) >= 0, mosquitto_want_write(h) { mosquitto_loop_write(h, 64) }
        settle(id)
    }

    /// Aligns epoll with libmosquitto's socket after whatever it just did.
    private func settle(_ id: ObjectIdentifier) {
        guard var e = entries[id] else { return }
        let h = e.client.handle
        let fd = mosquitto_socket(h)
        if fd != e.fd, e.fd >= 0 {
            epoll_ctl(epfd, EPOLL_CTL_DEL, e.fd, nil)
            byFD[e.fd] = nil
            e.fd = -1
        }
        if e.client.isConnected { e.attempts = 0 }
        if fd < 0 {
            entries[id] = e
            if e.detaching != nil { return finish(id) }
            if reconnects[id] == nil { scheduleReconnect(id) }  // lost: try again with backoff
            return
        }
        let wanted = EPOLLIN.rawValue | (mosquitto_want_write(h) ? EPOLLOUT.rawValue : 0)
        if e.fd == fd, e.events == wanted { return entries[id] = e }
        var ev = epoll_event(events: wanted, data: epoll_data_t(fd: fd))
        // A reused descriptor number may name a new socket the kernel already dropped from
        // epoll with the old one: MOD then fails with ENOENT, and ADD is right.
        if e.fd < 0 || epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0 {
            epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
            byFD[fd] = id
            e.fd = fd
        }
        e.events = wanted
        entries[id] = e
    }

    private func finish(_ id: ObjectIdentifier) {
        guard let e = entries[id] else { return }
        if e.fd >= 0 {
            epoll_ctl(epfd, EPOLL_CTL_DEL, e.fd, nil)
            byFD[e.fd] = nil
        }
        entries[id] = nil
        reconnects[id] = nil
        e.detaching?()
    }
}

extension Duration {
    var inMilliseconds: Int64 {
        let c = components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
}
