import Foundation
import MQTTClient
import Synchronization
import Testing
import WardController

extension RealBrokerTests {
    /// The MQTT wrapper against a real broker.
    @Suite struct MQTTClientTests {
        /// Past FD_SETSIZE (1024) descriptors in one process, where libmosquitto's own select() loop
        /// gives up: the shared epoll loop must carry every connection.
        @Test func oneProcessCarriesMoreConnectionsThanSelectCan() async throws {
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            var lim = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
            lim.rlim_cur = lim.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
            let count = min(1_200, Int(lim.rlim_max / 4))
            try #require(count * 3 > 1_024, "descriptor limit too low to exercise the case")

            let sink = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "sink"))
            try sink.subscribe("load/#", qos: 1)
            try await sink.connect()
            var clients: [MQTTClient] = []
            for i in 0..<count {
                var cfg = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "load-\(i)")
                cfg.sharedNetworkLoop = true
                let c = try MQTTClient(cfg)
                c.setConnectMessages([MQTTMessage(topic: "load/\(i)", payload: Array("hello".utf8), qos: 1)])
                try await c.connect(timeout: nil)
                clients.append(c)
            }
            var seen = Set<String>()
            let deadline = ContinuousClock.now + .seconds(60)
            while seen.count < count, ContinuousClock.now < deadline {
                let batch = await withTaskGroup(of: [MQTTMessage]?.self) { g in
                    g.addTask { await sink.messages.nextBatch() }
                    g.addTask { try? await Task.sleep(for: .seconds(1)); return nil }
                    let first = await g.next()!
                    g.cancelAll()
                    return first
                }
                for m in batch ?? [] { seen.insert(m.topic) }
            }
            #expect(seen.count == count)
            #expect(clients.allSatisfy { $0.isConnected })
            await withDiscardingTaskGroup { g in for c in clients { g.addTask { await c.close() } } }
            #expect(clients.allSatisfy { !$0.isConnected })
            sink.disconnect()
        }

        @Test func ownThreadClientsRefuseDescriptorsSelectCannotWatch() async throws {
            let broker = try await LocalBroker.start()
            defer { broker.stop() }
            var lim = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
            try #require(lim.rlim_max > 1_100)
            lim.rlim_cur = lim.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
            // Occupy descriptors up to 1024 so the next socket lands above FD_SETSIZE.
            var held: [Int32] = []
            while true {
                let fd = open("/dev/null", O_RDONLY)
                held.append(fd)
                if fd >= 1_030 { break }
            }
            defer { for fd in held { close(fd) } }
            let c = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "high-fd"))
            await #expect(throws: MQTTError.self) { try await c.connect(timeout: .seconds(5)) }
        }
    }
}
