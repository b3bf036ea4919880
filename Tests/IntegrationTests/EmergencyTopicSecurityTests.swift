import Foundation
import MQTTClient
import Testing
import WardController
import WardDomain
import WardProtocol

extension RealBrokerTests {
    /// Issue 16 item 5: the commune emergency topic on a broker set up as deploy/ does it (dynamic
    /// security, default deny). A speaker may read its own commune's topic, never write to it, and
    /// never read another commune's; the controller may write to every commune's.
    @Suite struct EmergencyTopicSecurity {
        func account(_ user: String, _ password: String, port: Int) -> MQTTConfiguration {
            var c = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: user)
            c.username = user
            c.password = password
            c.reconnectDelay = 1...1
            return c
        }

        /// The payloads `client` receives, in order, until one satisfies `last` (or 15 s pass).
        func received(_ client: MQTTClient, until last: @escaping @Sendable (MQTTMessage) -> Bool) async -> [MQTTMessage] {
            let collect = Task<[MQTTMessage], Never> {
                var got: [MQTTMessage] = []
                while let batch = await client.messages.nextBatch() {
                    got += batch
                    if batch.contains(where: last) { break }
                }
                return got
            }
            let timeout = Task {
                try await Task.sleep(for: .seconds(15))
                collect.cancel()
            }
            let got = await collect.value
            timeout.cancel()
            return got
        }

        @Test func speakersReadOnlyTheirOwnCommunesEmergencyTopic() async throws {
            try #require(LocalBroker.dynamicSecurityPlugin != nil, "mosquitto's dynamic-security plugin (apt-get install mosquitto)")
            let (broker, _) = try await LocalBroker.startSecured(adminPassword: "quan-tri-broker-2026")
            defer { broker.stop() }
            let security = try await DynamicSecurity.connect(account("admin", "quan-tri-broker-2026", port: broker.port))
            defer { security.close() }
            try await security.setUpController(password: "controller-pw-2026")
            try await security.provision(device: "LOA-1", commune: "cam-la", password: "loa-1-pw-2026")
            try await security.provision(device: "LOA-2", commune: "cam-la", password: "loa-2-pw-2026")

            var ctl = account(BrokerPolicy.controllerUser, "controller-pw-2026", port: broker.port)
            ctl.clientID = "wardfleet-controller-test"
            let controller = try MQTTClient(ctl)
            defer { controller.disconnect() }
            try controller.subscribe("wardfleet/v1/#", qos: 1)
            try await controller.connect()
            let loa1 = try MQTTClient(account("LOA-1", "loa-1-pw-2026", port: broker.port))
            defer { loa1.disconnect() }
            try loa1.subscribe(Topics.emergency(commune: "cam-la"), qos: 1)
            try loa1.subscribe(Topics.emergency(commune: "dong-ho"), qos: 1)  // denied by the broker
            try loa1.subscribe(TopicAddress(commune: "cam-la", device: "LOA-1", kind: .cmd).topic, qos: 1)
            try await loa1.connect()

            // The controller writes to both communes' topics; in order, so once cam-la's second message
            // is in, dong-ho's (sent before it) would be too, had the broker let LOA-1 read it.
            let other = EmergencyMessage.cancel("BT-DH@1796079605000", commune: "dong-ho", ts: 1)
            let mine = EmergencyMessage.cancel("BT-CL@1796079605000", commune: "cam-la", ts: 2)
            try controller.publish(topic: Topics.emergency(commune: "cam-la"), payload: ProtocolEncoder.encode(mine), qos: 1, retain: false)
            try controller.publish(topic: Topics.emergency(commune: "dong-ho"), payload: ProtocolEncoder.encode(other), qos: 1, retain: false)
            let probe = CommandMessage(cmdID: "after", command: .ping, ts: 3)
            try controller.publish(topic: TopicAddress(commune: "cam-la", device: "LOA-1", kind: .cmd).topic, payload: ProtocolEncoder.encode(probe),
                                   qos: 1, retain: false)
            let heard = await received(loa1) { $0.topic.hasSuffix("/cmd") }
            #expect(heard.map(\.topic) == [Topics.emergency(commune: "cam-la"), "wardfleet/v1/cam-la/LOA-1/cmd"])

            // LOA-2 forges an emergency for its commune: dropped. Its own telemetry topic after it
            // (on the same connection) reaches the controller, so the forgery would have too.
            let loa2 = try MQTTClient(account("LOA-2", "loa-2-pw-2026", port: broker.port))
            defer { loa2.disconnect() }
            try await loa2.connect()
            let forged = EmergencyMessage.cancel("BT-CL@1796079605000", commune: "cam-la", ts: 4)
            try loa2.publish(MQTTMessage(topic: Topics.emergency(commune: "cam-la"), payload: ProtocolEncoder.encode(forged), qos: 1, retained: false))
            try loa2.publish(MQTTMessage(topic: TopicAddress(commune: "cam-la", device: "LOA-2", kind: .state).topic,
                                         payload: Array(#"{"v":1}"#.utf8), qos: 1, retained: false))
            let seen = await received(controller) { $0.topic.hasSuffix("LOA-2/state") }
            #expect(seen.contains { $0.topic.hasSuffix("LOA-2/state") })
            #expect(!seen.contains { $0.topic == Topics.emergency(commune: "cam-la") && $0.payload == ProtocolEncoder.encode(forged) },
                    "a speaker cannot publish on its commune's emergency topic")
        }
    }
}
