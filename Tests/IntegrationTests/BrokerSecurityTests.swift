import Foundation
import MQTTClient
import Testing
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension RealBrokerTests {
    /// A broker set up as deploy/ does it: no anonymous access, accounts and roles in the
    /// dynamic-security plugin, a TLS listener with the commune server's own CA.
    @Suite(.serialized) struct BrokerSecurity {
        static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        static func certs(_ dir: URL) async throws {
            let p = try ChildProcess.spawn("/bin/bash", [repo.appendingPathComponent("deploy/make-certs.sh").path, dir.path, "xa-cam-la.local"],
                                           stdout: .null, stderr: .null)
            #expect(await p.wait(timeout: .seconds(60)) == 0, "make-certs.sh")
            // mosquitto started as root reads the key after dropping to its own user (deploy/ gives it the group instead).
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir.appendingPathComponent("server.key").path)
        }

        func device(_ id: String, _ password: String?, port: Int, caFile: String? = nil) -> MQTTConfiguration {
            var c = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: id)
            c.username = password == nil ? nil : id
            c.password = password
            c.caFile = caFile
            c.reconnectDelay = 1...1
            return c
        }

        func canConnect(_ c: MQTTConfiguration) async -> Bool {
            guard let client = try? MQTTClient(c) else { return false }
            defer { client.disconnect() }
            return (try? await client.connect(timeout: .seconds(4))) != nil
        }

        @Test func devicesSpeakOnlyAsThemselvesOnADynamicSecurityBroker() async throws {
            try #require(LocalBroker.dynamicSecurityPlugin != nil, "mosquitto's dynamic-security plugin (apt-get install mosquitto)")
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-sec-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try await Self.certs(dir.appendingPathComponent("pki"))
            try await Self.certs(dir.appendingPathComponent("other-pki"))
            let pki = dir.appendingPathComponent("pki").path
            let (broker, tlsPort) = try await LocalBroker.startSecured(
                adminPassword: "quan-tri-broker-2026", tls: (ca: pki + "/ca.crt", cert: pki + "/server.crt", key: pki + "/server.key"))
            defer { broker.stop() }
            let h = try await Harness()  // registry through the CLI; its own anonymous broker is not used here
            defer { Task { await h.stop() } }
            let at = "127.0.0.1:\(broker.port)"

            // Anonymous connections are refused.
            #expect(await !canConnect(device("anon", nil, port: broker.port)))

            // The controller's least-privilege account, made once with the plugin's admin.
            let ctrlFile = dir.appendingPathComponent("controller.password").path
            let claimFile = dir.appendingPathComponent("claim.password").path
            var (st, out) = try await h.run("wardfleet", ["broker", "setup", "--broker", at, "--username", "admin", "--password", "quan-tri-broker-2026",
                                                          "--password-file", ctrlFile, "--claim-password-file", claimFile])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let ctrlPassword = try String(contentsOfFile: ctrlFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let ctrl = ["--broker", at, "--username", BrokerPolicy.controllerUser, "--password", ctrlPassword]

            // Bulk provisioning with the controller's account writes the installers' sheet.
            let sheet = dir.appendingPathComponent("credentials.csv").path
            (st, out) = try await h.run("wardfleet", ["devices", "provision", "LOA-1", "CAM-1", "--sheet", sheet, "--db", h.dbPath] + ctrl)
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let rows = try String(contentsOfFile: sheet, encoding: .utf8).split(separator: "\r\n").map { $0.split(separator: ",").map(String.init) }
            #expect(rows.first?.contains("mqtt_password") == true && rows.count == 3)
            let pw = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[0], $0[7]) })
            let perms = try FileManager.default.attributesOfItem(atPath: sheet)[.posixPermissions] as? Int
            #expect(perms == 0o600)

            // The controller runs with its own account and sees a provisioned device's telemetry.
            let httpPort = try OutsideToolTests.Browser.freePort()
            let run = try ChildProcess.spawn(Harness.binary("wardfleet"), ["run", "--db", h.dbPath, "--http-host", "127.0.0.1", "--http-port", "\(httpPort)",
                                                                             "--status-interval", "0.5", "--accept-claims"] + ctrl,
                                             stdout: .file(h.file("secure-controller.log")), stderr: .file(h.file("secure-controller.log")))
            defer { run.terminateBlocking(grace: .seconds(5)) }
            try await h.waitUntil("controller connected") { try HealthQueries(h.db).controllerLink()?.connected == true }
            let loa = try MQTTClient(device("LOA-1", pw["LOA-1"], port: broker.port))
            defer { loa.disconnect() }
            try await loa.connect()
            let now = Date()
            func send(_ device: String, _ kind: MessageKind, _ value: some Encodable) throws {
                try loa.publish(MQTTMessage(topic: TopicAddress(commune: "cam-la", device: device, kind: kind).topic, payload: ProtocolEncoder.encode(value), retained: false))
            }
            try send("LOA-1", .birth, Birth(device: "LOA-1", deviceClass: .speaker, model: "m", firmware: "f", capabilities: [], heartbeatSeconds: 30, boot: "b1", ts: now.unixMillis))
            // Posing as CAM-1 on CAM-1's topic: the broker drops it, the controller never sees it.
            try send("CAM-1", .birth, Birth(device: "CAM-1", deviceClass: .camera, model: "m", firmware: "f", capabilities: [], heartbeatSeconds: 30, boot: "x", ts: now.unixMillis))
            // A message after it on the same connection: once that is in, the forged one would have been too.
            try send("LOA-1", .telemetry, TelemetryMessage(device: "LOA-1", boot: "b1", seq: 1, ts: now.unixMillis, speaker: SpeakerFields(
                volume: 50, ampOK: true, lineOK: true, playing: false, rssi: -70, power: .mains, batteryPct: nil)))
            try await h.waitUntil("LOA-1's telemetry seen") { try h.status("LOA-1")?.lastTelemetry != nil }
            #expect(try h.state("LOA-1") == .ok)
            #expect(try h.state("CAM-1") == .unknown)
            #expect(try HealthQueries(h.db).pending().isEmpty)

            // Subscribing to everything is denied by the broker.
            let sub = try ChildProcess.spawn("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-i", "CAM-1", "-u", "CAM-1",
                                                                         "-P", pw["CAM-1"]!, "-t", "#", "-C", "1", "-W", "10"],
                                             stdout: .file(h.file("sub.log")), stderr: .file(h.file("sub.log")))
            _ = await sub.wait(timeout: .seconds(20))
            #expect(try String(contentsOfFile: h.file("sub.log"), encoding: .utf8).contains("denied"))

            // A one-time claim code: AP-1 receives its own account once, and only once.
            let claimPassword = try String(contentsOfFile: claimFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            func issue(_ id: String) async throws -> String {
                let (st, out) = try await h.run("wardfleet", ["devices", "claim-code", id, "--db", h.dbPath])
                #expect(st == 0, "\(h.lastStderr)")
                return String(out.split(separator: "\t").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            }
            func claim(_ id: String, _ code: String, out file: String? = nil) async throws -> (Int32, String) {
                let (st, _) = try await h.run("firmware-sim", ["claim", "--broker", at, "--device", id, "--code", code, "--password", claimPassword]
                                              + (file.map { ["--out", $0] } ?? []))
                return (st, h.lastStderr)
            }
            let code = try await issue("AP-1")
            #expect(ClaimCode.normalize(code) != nil, "\(code)")
            let credsFile = dir.appendingPathComponent("ap-1.json").path
            var (claimed, said) = try await claim("AP-1", code, out: credsFile)
            #expect(claimed == 0, "\(said)")
            let creds = try JSONDecoder().decode(ClaimCredentials.self, from: Data(contentsOf: URL(fileURLWithPath: credsFile)))
            #expect(creds.username == "AP-1" && creds.clientID == "AP-1" && creds.topicPrefix == "wardfleet/v1/cam-la/AP-1/")
            #expect(await canConnect(device("AP-1", creds.password, port: broker.port)))
            (claimed, said) = try await claim("AP-1", code)
            #expect(claimed != 0 && said.contains("used"), "\(said)")
            #expect(await canConnect(device("AP-1", creds.password, port: broker.port)), "a refused second claim leaves the account as it was")
            // A wrong code is refused and does not use up the device's real one; no code, no account.
            let kioskCode = try await issue("KIOSK-1")
            (claimed, said) = try await claim("KIOSK-1", ClaimCode.generate())
            #expect(claimed != 0 && said.contains("wrong_code"), "\(said)")
            (claimed, said) = try await claim("KIOSK-1", kioskCode)
            #expect(claimed == 0, "\(said)")
            (claimed, said) = try await claim("LOA-LA-99", ClaimCode.generate())
            #expect(claimed != 0 && said.contains("no_code"), "\(said)")
            // The claim account itself can do nothing else: it cannot pose as a device.
            var asClaim = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "claim-probe")
            asClaim.username = BrokerPolicy.claimUser
            asClaim.password = claimPassword
            let probe = try MQTTClient(asClaim)
            defer { probe.disconnect() }
            try probe.subscribe(Topics.claimResponse("LOA-LA-99"), qos: 1)
            try await probe.connect()
            try probe.publish(MQTTMessage(topic: TopicAddress(commune: "cam-la", device: "CAM-1", kind: .state).topic,
                                          payload: ProtocolEncoder.encode(StateMessage(device: "CAM-1", state: .online, boot: "x", reason: nil, ts: now.unixMillis)),
                                          retained: false))
            // Proof it was dropped, in order: a claim request on the same connection, after the forgery, is answered (so the
            // controller has had everything before it); then LOA-1 reports; once that is stored, so would the forgery be.
            try probe.publish(MQTTMessage(topic: Topics.claimRequest("LOA-LA-99"), payload: ProtocolEncoder.encode(
                ClaimRequest(device: "LOA-LA-99", secret: ClaimCode.secret(ClaimCode.generate())!, nonce: "probe")), qos: 1, retained: false))
            let answered = Task { await probe.messages.nextBatch()?.first.flatMap { try? JSONDecoder().decode(ClaimResponse.self, from: Data($0.payload)) } }
            let timeout = Task { try await Task.sleep(for: .seconds(20)); answered.cancel() }
            let answer = await answered.value
            timeout.cancel()
            #expect(answer?.reason == .noCode, "the probe's request was answered")
            try send("LOA-1", .telemetry, TelemetryMessage(device: "LOA-1", boot: "b1", seq: 2, ts: Date().unixMillis, speaker: SpeakerFields(
                volume: 55, ampOK: true, lineOK: true, playing: false, rssi: -70, power: .mains, batteryPct: nil)))
            try await h.waitUntil("LOA-1's second telemetry seen") { try h.status("LOA-1")?.lastTelemetry?.contains("\"seq\":2") == true }
            #expect(try h.state("CAM-1") == .unknown)
            // Every claim outcome is counted with the ingest counters (`wardfleet health` shows them).
            try await h.waitUntil("claims counted") {
                let c = try HealthQueries(h.db).counters()
                return c[ClaimCounter.granted] == 2 && c[ClaimCounter.refused(.used)] == 1 && c[ClaimCounter.refused(.wrongCode)] == 1
                    && c[ClaimCounter.refused(.noCode)] == 2
            }

            // TLS with the commune's CA works; with another CA it does not.
            #expect(await canConnect(device("CAM-1", pw["CAM-1"], port: tlsPort!, caFile: pki + "/ca.crt")))
            #expect(await !canConnect(device("CAM-1", pw["CAM-1"], port: tlsPort!, caFile: dir.appendingPathComponent("other-pki/ca.crt").path)))

            // Rotation: the new password works, the old one does not.
            (st, out) = try await h.run("wardfleet", ["devices", "rotate", "CAM-1", "--immediate", "--db", h.dbPath] + ctrl)
            #expect(st == 0, "\(h.lastStderr)")
            let newPassword = String(out.split(separator: "\t").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(await !canConnect(device("CAM-1", pw["CAM-1"], port: broker.port)))
            #expect(await canConnect(device("CAM-1", newPassword, port: broker.port)))

            // Removing a device revokes it: it can no longer connect.
            (st, _) = try await h.run("wardfleet", ["devices", "remove", "CAM-1", "--db", h.dbPath] + ctrl)
            #expect(st == 0, "\(h.lastStderr)")
            #expect(await !canConnect(device("CAM-1", newPassword, port: broker.port)))

            // Removing through the API (the console's way) takes the same path: LOA-1, connected
            // now, is disconnected, cannot come back with its password and is not pending.
            try BroadcastRepository(h.db).addUser(User(name: "kythuat", role: .technician, createdAt: Date()))
            let (_, token) = try await h.run("wardfleet", ["users", "token", "kythuat", "--db", h.dbPath])
            let remote = ["--server", "http://127.0.0.1:\(httpPort)", "--token", token.trimmingCharacters(in: .whitespacesAndNewlines)]
            (st, out) = try await h.run("wardfleet", ["devices", "remove", "LOA-1"] + remote)
            #expect(st == 0, "\(out) \(h.lastStderr)")
            #expect(await !canConnect(device("LOA-1", pw["LOA-1"], port: broker.port)))
            try await h.waitUntil("LOA-1's connection closed by the broker") { !loa.isConnected }
            #expect(try HealthQueries(h.db).pending().isEmpty)
            #expect(try DeviceRepository(h.db).get("LOA-1")?.removedAt != nil)
        }
    }
}
