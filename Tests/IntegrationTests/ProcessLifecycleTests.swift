import Foundation
import MQTTClient
import Testing
import WardController

extension RealBrokerTests {
    /// How the executables live and die when scripts and people start them.
    @Suite struct ProcessLifecycle {
        /// Starts `firmware-sim run` in the background of a shell that ends at once; returns its pid.
        static func simFromAScript(_ h: Harness, extra: String) async throws -> pid_t {
            let sim = Harness.binary("firmware-sim")
            let script = "'\(sim)' run --file '\(h.file("commune.yaml"))' --only LOA-1 --broker \(h.brokerAddress) --heartbeat 1 \(extra)"
                + " > '\(h.file("bg-sim.log"))' 2>&1 & echo $!"
            let shell = try ChildProcess.spawn("/bin/sh", ["-c", script], stdout: .pipe, environment: h.environment)
            let out = String(decoding: shell.output!.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(await shell.wait(timeout: .seconds(10)) == 0, "the script ends")
            return try #require(pid_t(out), "pid from the script: \(out)")
        }

        /// Running, not a zombie waiting for whoever adopted it to reap it.
        static func alive(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
        }

        /// A fleet started from a script keeps running after the script ends (it publishes on);
        /// with `--exit-with-parent` it stops with the script instead.
        @Test func firmwareSimOutlivesTheScriptThatStartedItUnlessAsked() async throws {
            let h = try await Harness()
            defer { Task { await h.stop() } }
            let listener = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: h.broker.port, clientID: "listener"))
            try listener.subscribe("wardfleet/v1/cam-la/LOA-1/telemetry", qos: 0)
            try await listener.connect()
            defer { listener.disconnect() }

            let pid = try await Self.simFromAScript(h, extra: "")
            defer { kill(pid, SIGKILL) }
            // Three heartbeats after its parent is gone: the orphan check (every second) has run.
            var heard = 0
            while heard < 3 {
                guard let batch = await listener.messages.nextBatch() else { break }
                heard += batch.count
            }
            #expect(heard >= 3)
            #expect(Self.alive(pid), "firmware-sim stopped when the script that started it ended")
            kill(pid, SIGTERM)

            let watched = try await Self.simFromAScript(h, extra: "--exit-with-parent")
            defer { kill(watched, SIGKILL) }
            try await h.waitUntil("firmware-sim --exit-with-parent stops with its parent", timeout: .seconds(20)) { !Self.alive(watched) }
        }

        /// A commune limit must name communes by id: a name typed instead ("Cẩm La") is refused
        /// with the id suggested, and no user is left behind with a limit that matches nothing.
        @Test func usersAddRefusesALimitThatNamesNoCommune() async throws {
            let h = try await Harness()
            defer { Task { await h.stop() } }
            let (status, _) = try await h.run("wardfleet", ["users", "add", "lan", "--role", "technician", "--communes", "Cẩm La", "--db", h.dbPath])
            #expect(status != 0)
            #expect(h.lastStderr.contains("cam-la"), "the id is suggested: \(h.lastStderr)")
            let (_, list) = try await h.run("wardfleet", ["users", "list", "--db", h.dbPath])
            #expect(!list.contains("lan"), "nothing stored: \(list)")
            #expect(try await h.run("wardfleet", ["users", "add", "lan", "--role", "technician", "--communes", "cam-la", "--db", h.dbPath]).0 == 0)
        }

        /// `--share-group` made each node see part of every device's messages and call healthy
        /// devices silent: the flag is gone, and asking for it is an error, not a silent default.
        @Test func runRefusesTheSharedSubscriptionFlag() async throws {
            let h = try await Harness()
            defer { Task { await h.stop() } }
            let (status, _) = try await h.run("wardfleet", ["run", "--db", h.dbPath, "--broker", h.brokerAddress, "--share-group", "nodes"])
            #expect(status != 0)
            #expect(h.lastStderr.contains("share-group"), "\(h.lastStderr)")
        }
    }
}
