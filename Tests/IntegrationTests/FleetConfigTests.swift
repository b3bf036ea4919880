import Foundation
import MQTTClient
import Testing
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension RealBrokerTests {
    /// Issue 17 items 3 and 4 (tests 8.5 and 8.6): remote configuration and credential rotation,
    /// with a real broker, `wardfleet run`, the CLI and firmware-sim devices.
    @Suite(.serialized) struct FleetConfigTests {
        func config(_ h: Harness, _ id: String) throws -> DeviceConfigRecord? { try FleetConfigRepository(h.db).get(id) }

        @Test func aConfigurationChangeIsAppliedAndAcknowledgedAndDriftShowsUntilItIs() async throws {
            let h = try await Harness()
            defer { Task { await h.stop() } }
            try await h.startController()

            // Set while the devices have never connected: stored as version 1, drift shown, nothing sent yet.
            var (st, out) = try await h.run("wardfleet", ["devices", "config", "set", "LOA-1", "--heartbeat", "2", "--max-volume", "60",
                                                          "--ntp", "0.vn.pool.ntp.org,10.0.0.1", "--db", h.dbPath])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            #expect(out.contains("version 1"), "\(out)")
            (st, out) = try await h.run("wardfleet", ["devices", "config", "get", "LOA-1", "--db", h.dbPath])
            #expect(st == 0 && out.contains("DRIFT") && out.contains("LỆCH"), "\(out)")
            #expect(try config(h, "LOA-1")?.drift == .pending(desired: 1, applied: nil))
            #expect(try config(h, "LOA-1")?.publishedVersion == 0)

            // Refused before anything is stored: out of range, or not for the class.
            (st, _) = try await h.run("wardfleet", ["devices", "config", "set", "CAM-1", "--max-volume", "50", "--db", h.dbPath])
            #expect(st != 0 && h.lastStderr.contains("speakers only"), "\(h.lastStderr)")
            (st, _) = try await h.run("wardfleet", ["devices", "config", "set", "LOA-1", "--heartbeat", "0", "--db", h.dbPath])
            #expect(st != 0 && h.lastStderr.contains("1–3600"), "\(h.lastStderr)")
            #expect(try config(h, "LOA-1")?.version == 1)

            // CAM-1 will fail to write its configuration (injected): it rejects with its reason.
            (st, out) = try await h.run("wardfleet", ["devices", "config", "set", "CAM-1", "--retention-days", "45", "--db", h.dbPath])
            #expect(st == 0, "\(out) \(h.lastStderr)")

            var sim = try h.startSim(["--only", "LOA-1,CAM-1", "--behave", "CAM-1:reject-config@0"])
            try await h.waitUntil("LOA-1 applied version 1") { try config(h, "LOA-1")?.drift == .inSync }
            let applied = try #require(try config(h, "LOA-1"))
            #expect(applied.publishedVersion == 1 && applied.appliedVersion == 1 && applied.lastResult == .applied)
            #expect(applied.reported?.heartbeatSeconds == 2 && applied.reported?.maxVolume == 60 && applied.reported?.ntp == ["0.vn.pool.ntp.org", "10.0.0.1"])
            (st, out) = try await h.run("wardfleet", ["devices", "config", "get", "LOA-1", "--db", h.dbPath])
            #expect(out.contains("in sync") && !out.contains("DRIFT"), "\(out)")

            // The new heartbeat reaches the liveness rule through the device's new birth.
            try await h.waitUntil("LOA-1's birth announces heartbeat 2") { try Birth.stored(h.status("LOA-1")?.birth)?.heartbeatSeconds == 2 }
            #expect(try Birth.stored(h.status("LOA-1")?.birth)?.configVersion == 1)
            try await h.waitUntil("the controller's liveness uses heartbeat 2") { try h.status("LOA-1")?.liveness.heartbeat == 2 }
            #expect(try h.state("LOA-1") == .ok)

            // The volume cap holds on the device.
            (st, out) = try await h.run("wardfleet", ["devices", "command", "LOA-1", "set_volume", "--volume", "70", "--db", h.dbPath,
                                                      "--broker", h.brokerAddress])
            #expect(st != 0 && (out + h.lastStderr).contains("0…60"), "\(out) \(h.lastStderr)")

            // The camera's rejection is drift with its reason.
            try await h.waitUntil("CAM-1 rejected version 1") { try config(h, "CAM-1")?.lastResult == .rejected }
            #expect(try config(h, "CAM-1")?.drift == .rejected(version: 1, detail: "flash write failed (injected)"))
            (st, out) = try await h.run("wardfleet", ["devices", "config", "get", "CAM-1", "--db", h.dbPath])
            #expect(out.contains("rejected version 1") && out.contains("injected"), "\(out)")

            // Offline when it changes: published retained at once, applied when the device returns.
            await sim.terminate(grace: .seconds(5))
            try await h.waitUntil("LOA-1 offline") { try h.state("LOA-1") == .offline }
            (st, out) = try await h.run("wardfleet", ["devices", "config", "set", "LOA-1", "--heartbeat", "3", "--db", h.dbPath])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            try await h.waitUntil("version 2 published while LOA-1 is away") { try config(h, "LOA-1")?.publishedVersion == 2 }
            #expect(try config(h, "LOA-1")?.drift == .pending(desired: 2, applied: 1))
            sim = try h.startSim(["--only", "LOA-1"])
            try await h.waitUntil("LOA-1 applied version 2 on return") { try config(h, "LOA-1")?.drift == .inSync }
            #expect(try config(h, "LOA-1")?.desired == DeviceSettings(heartbeatSeconds: 3, maxVolume: 60, ntp: ["0.vn.pool.ntp.org", "10.0.0.1"]))
            try await h.waitUntil("the controller's liveness uses heartbeat 3") { try h.status("LOA-1")?.liveness.heartbeat == 3 }
            _ = sim
        }

        @Test func aRotatedPasswordReachesTheDeviceAndTheOldOneStopsWorkingOnlyAfterTheAcknowledgement() async throws {
            try #require(LocalBroker.dynamicSecurityPlugin != nil, "mosquitto's dynamic-security plugin (apt-get install mosquitto)")
            let (broker, _) = try await LocalBroker.startSecured(adminPassword: "quan-tri-broker-2026")
            defer { broker.stop() }
            let h = try await Harness()  // registry through the CLI; its own anonymous broker is not used here
            defer { Task { await h.stop() } }
            let at = "127.0.0.1:\(broker.port)"
            func device(_ password: String) -> MQTTConfiguration {
                var c = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "LOA-1")
                c.username = "LOA-1"
                c.password = password
                c.reconnectDelay = 1...1
                return c
            }
            func canConnect(_ password: String) async -> Bool {
                guard let client = try? MQTTClient(device(password)) else { return false }
                defer { client.disconnect() }
                return (try? await client.connect(timeout: .seconds(4))) != nil
            }

            let ctrlFile = h.file("controller.password")
            var (st, out) = try await h.run("wardfleet", ["broker", "setup", "--broker", at, "--username", "admin", "--password", "quan-tri-broker-2026",
                                                          "--password-file", ctrlFile])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let ctrlPassword = try String(contentsOfFile: ctrlFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let ctrl = ["--broker", at, "--username", BrokerPolicy.controllerUser, "--password", ctrlPassword]

            // Provisioning keeps the password sealed with the server's key (made now, beside the database).
            (st, out) = try await h.run("wardfleet", ["devices", "provision", "LOA-1", "--db", h.dbPath] + ctrl)
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let old = String(out.split(separator: "\t").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let keyFile = h.file("wardfleet-secrets.key")
            #expect((try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600)
            #expect(try FleetConfigRepository(h.db).secret(device: "LOA-1").map { !$0.contains(old) } == true, "stored sealed, not in clear")

            // A device the server knows no password of cannot be rotated (nothing to seal the new one with).
            (st, _) = try await h.run("wardfleet", ["devices", "rotate", "CAM-1", "--db", h.dbPath])
            #expect(st != 0 && h.lastStderr.contains("current password"), "\(h.lastStderr)")

            let stateFile = h.file("sim-state.json")
            try h.write("sim-state.json", #"{"LOA-1":{"password":"\#(old)"}}"#)
            let run = try ChildProcess.spawn(Harness.binary("wardfleet"), ["run", "--db", h.dbPath, "--http-host", "127.0.0.1", "--http-port", "0",
                                                                             "--status-interval", "0.5"] + ctrl,
                                             stdout: .file(h.file("controller.log")), stderr: .file(h.file("controller.log")), environment: h.environment)
            defer { run.terminateBlocking(grace: .seconds(5)) }
            try await h.waitUntil("controller connected") { try HealthQueries(h.db).controllerLink()?.connected == true }
            func startDevice() throws -> ChildProcess {
                try ChildProcess.spawn(Harness.binary("firmware-sim"), ["run", "--file", h.file("commune.yaml"), "--broker", at, "--heartbeat", "1",
                                                                        "--seed", "7", "--exit-with-parent", "--only", "LOA-1", "--state", stateFile],
                                       stdout: .file(h.file("sim.log")), stderr: .file(h.file("sim.log")), environment: h.environment)
            }
            var sim = try startDevice()
            try await h.waitUntil("LOA-1 online with its provisioned password, announcing credentials") {
                try h.state("LOA-1") == .ok && Birth.stored(h.status("LOA-1")?.birth)?.capabilities.contains("credentials") == true
            }

            // The device goes away; the rotation is made and sent (retained) while it is away.
            await sim.terminate(grace: .seconds(5))
            try await h.waitUntil("LOA-1 offline") { try h.state("LOA-1") == .offline }
            (st, out) = try await h.run("wardfleet", ["devices", "rotate", "LOA-1", "--db", h.dbPath])
            #expect(st == 0, "\(out) \(h.lastStderr)")
            let rotation = try #require(try FleetConfigRepository(h.db).rotations(device: "LOA-1").first)
            try await h.waitUntil("rotation sent") { try FleetConfigRepository(h.db).rotation(rotation.id)?.state == .sent }

            // Before the acknowledgement the old password still works.
            #expect(await canConnect(old), "the old password works until the device acknowledges")
            #expect(try FleetConfigRepository(h.db).rotation(rotation.id)?.state == .sent)

            // The device returns: it gets the retained box, opens it with its password, stores the new one,
            // acknowledges; the controller then sets it on the broker; the device reconnects with it.
            sim = try startDevice()
            try await h.waitUntil("rotation applied", timeout: .seconds(60)) { try FleetConfigRepository(h.db).rotation(rotation.id)?.state == .applied }
            struct Entry: Decodable { var password: String?; var pending: String? }
            try await h.waitUntil("the device runs on the new password", timeout: .seconds(60)) {
                let s = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))["LOA-1"]
                return s?.password != nil && s?.password != old && s?.pending == nil
            }
            let new = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))["LOA-1"]!.password!
            // The server's sealed copy is the new password now (a next rotation is sealed with it).
            let secrets = try ServerSecrets.load(path: keyFile, create: false)
            #expect(try FleetConfigRepository(h.db).secret(device: "LOA-1").flatMap { secrets.open($0, for: "LOA-1") } == new)

            // After the acknowledgement the old password is refused; the device keeps working on the new one.
            #expect(await !canConnect(old), "the old password stops working after the acknowledgement")
            let appliedAt = try #require(try FleetConfigRepository(h.db).rotation(rotation.id)?.appliedAt)
            try await h.waitUntil("LOA-1 online and heard after the rotation") {
                let s = try h.status("LOA-1")
                return s?.liveness.state == .ok && (s?.liveness.lastHeard ?? .distantPast) > appliedAt.addingTimeInterval(2)
            }
            let actions = try h.db.store.read { try String.fetchAll($0, sql: "SELECT action FROM audit_log WHERE target = 'LOA-1' ORDER BY id") }
            #expect(actions.contains("device.rotate") && actions.contains("device.rotate_sent") && actions.contains("device.rotate_applied"), "\(actions)")

            // Again while the device is online: sealed with the password it uses now, applied, the device follows.
            (st, out) = try await h.run("wardfleet", ["devices", "rotate", "LOA-1", "--db", h.dbPath, "--wait", "60"])
            #expect(st == 0 && out.contains("applied"), "\(out) \(h.lastStderr)")
            try await h.waitUntil("the device runs on the second new password", timeout: .seconds(60)) {
                let s = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))["LOA-1"]
                return s?.password != nil && s?.password != new && s?.password != old && s?.pending == nil
            }
            let newer = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))["LOA-1"]!.password!
            #expect(await !canConnect(new), "the first rotated password stopped working after the second acknowledgement")

            // A box the device cannot open (the server's copy of its password is wrong) is refused with a reason:
            // nothing changes on the broker, the device keeps its password.
            try FleetConfigRepository(h.db).storeSecret(device: "LOA-1", sealed: try secrets.seal("not-its-password", for: "LOA-1"), at: Date())
            (st, out) = try await h.run("wardfleet", ["devices", "rotate", "LOA-1", "--db", h.dbPath, "--wait", "60"])
            #expect(st != 0 && out.contains("refused") && out.contains("cannot_open"), "\(out) \(h.lastStderr)")
            try await h.waitUntil("the refusal is audited") {
                try h.db.store.read { try String.fetchAll($0, sql: "SELECT action FROM audit_log WHERE target = 'LOA-1'") }.contains("device.rotate_refused")
            }
            let kept = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))["LOA-1"]
            #expect(kept?.password == newer && kept?.pending == nil)
            try await h.waitUntil("LOA-1 still heard on its password") {
                let s = try h.status("LOA-1")
                return s?.liveness.state == .ok && (s?.liveness.lastHeard ?? .distantPast) > Date().addingTimeInterval(-1.5)
            }
            _ = sim
        }
    }
}
