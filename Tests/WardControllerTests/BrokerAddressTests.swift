import MQTTClient
import Testing

@Suite struct BrokerAddressTests {
    @Test func hostAndPort() {
        #expect(MQTTConfiguration.parseAddress("127.0.0.1:1883")! == ("127.0.0.1", 1883))
        #expect(MQTTConfiguration.parseAddress("broker.xa-cam-la.vn:8883")! == ("broker.xa-cam-la.vn", 8883))
        #expect(MQTTConfiguration.parseAddress("::1:1883")! == ("::1", 1883))  // the last colon separates the port
        for bad in ["localhost", ":1883", "host:0", "host:70000", "host:port", ""] {
            #expect(MQTTConfiguration.parseAddress(bad) == nil, "\(bad)")
        }
    }
}
