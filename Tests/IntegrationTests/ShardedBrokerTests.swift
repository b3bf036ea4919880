import Foundation
import MQTTClient
import Testing
import WardController
import WardDomain
import WardStorage

extension RealBrokerTests {
    /// Two dynamic-security brokers, each serving some communes (a brokers file): the controller
    /// account is set up on both with one password, and each device's account is made on its own
    /// commune's broker only.
    @Suite(.serialized) struct ShardedBrokers {
        static let fleet = """
            province:
              id: qn
              name: Tỉnh Quảng Ninh
              communes:
                - id: xa-bac
                  name: Xã Bắc
                  villages:
                    - id: thon-bac
                      name: Thôn Bắc
                      sites:
                        - {id: nvh-bac, name: Nhà văn hóa thôn Bắc, kind: cultural_house, devices: [{id: LOA-BAC, class: speaker}]}
                - id: xa-nam
                  name: Xã Nam
                  villages:
                    - id: thon-nam
                      name: Thôn Nam
                      sites:
                        - {id: nvh-nam, name: Nhà văn hóa thôn Nam, kind: cultural_house, devices: [{id: LOA-NAM, class: speaker}]}
            """

        func canConnect(_ id: String, _ password: String, port: Int) async -> Bool {
            var c = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: id)
            c.username = id
            c.password = password
            c.reconnectDelay = 1...1
            guard let client = try? MQTTClient(c) else { return false }
            defer { client.disconnect() }
            return (try? await client.connect(timeout: .seconds(4))) != nil
        }

        @Test func eachDeviceAccountIsMadeOnItsCommunesBroker() async throws {
            try #require(LocalBroker.dynamicSecurityPlugin != nil, "mosquitto's dynamic-security plugin (apt-get install mosquitto)")
            let admin = "quan-tri-broker-2026"
            let (north, _) = try await LocalBroker.startSecured(adminPassword: admin)
            defer { north.stop() }
            let (south, _) = try await LocalBroker.startSecured(adminPassword: admin)
            defer { south.stop() }
            let h = try await Harness(fleet: Self.fleet)
            defer { Task { await h.stop() } }
            let brokers = h.file("brokers.yaml")
            try h.write("brokers.yaml", """
                brokers:
                  - {name: bac, address: "127.0.0.1:\(north.port)", communes: [xa-bac]}
                  - {name: nam, address: "127.0.0.1:\(south.port)", communes: [xa-nam]}
                """)

            let ctrlFile = h.file("controller.password")
            var (st, out) = try await h.run("wardfleet", ["broker", "setup", "--brokers", brokers, "--username", "admin", "--password", admin,
                                                          "--password-file", ctrlFile])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let ctrlPassword = try String(contentsOfFile: ctrlFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            // One controller account, the same on both brokers.
            #expect(await canConnect(BrokerPolicy.controllerUser, ctrlPassword, port: north.port))
            #expect(await canConnect(BrokerPolicy.controllerUser, ctrlPassword, port: south.port))

            let sheet = h.file("credentials.csv")
            (st, out) = try await h.run("wardfleet", ["devices", "provision", "--all", "--brokers", brokers, "--sheet", sheet, "--db", h.dbPath,
                                                      "--username", BrokerPolicy.controllerUser, "--password", ctrlPassword])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let rows = try String(contentsOfFile: sheet, encoding: .utf8).split(separator: "\r\n").map { $0.split(separator: ",").map(String.init) }
            #expect(rows.first?.last == "mqtt_broker")
            let byID = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[0], $0) })
            let bac = try #require(byID["LOA-BAC"]), nam = try #require(byID["LOA-NAM"])
            #expect(bac.last == "127.0.0.1:\(north.port)" && nam.last == "127.0.0.1:\(south.port)")
            // Each account works on its own broker and does not exist on the other.
            #expect(await canConnect("LOA-BAC", bac[7], port: north.port))
            #expect(await !canConnect("LOA-BAC", bac[7], port: south.port))
            #expect(await canConnect("LOA-NAM", nam[7], port: south.port))
            #expect(await !canConnect("LOA-NAM", nam[7], port: north.port))
        }
    }
}
