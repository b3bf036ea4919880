import Foundation
import Testing
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension OutsideToolTests {
    /// The API contract checked by an outside tool: schemathesis (PyPI, in .build/browser-venv)
    /// generates requests from docs/openapi.yaml, valid and invalid, and runs every check it has
    /// (`--checks all`) against a real `wardfleet run` with a seeded database, live simulated
    /// devices (so commands are acknowledged) and one unregistered device (so a device is pending).
    /// It must find no failure and no server error. Its settings and the reason for each are in
    /// Tests/contract/schemathesis.toml: no operation is excluded; one check is off for one
    /// operation (use_after_free on GET /devices/{id}: a removed device keeps its record and
    /// history, so it is still shown, with removed_at). The output is kept in
    /// .build/test-artifacts/contract/schemathesis.txt.
    @Suite(.serialized) struct APIContract {
        static let repo = Browser.repo
        /// Bounds the run (about two minutes on a 2-core machine); the seed makes it repeatable.
        static let examplesPerOperation = 20
        static let seed = 20261202

        @Test func schemathesisFindsNoFailureAgainstARunningServer() async throws {
            let python = Self.repo.appendingPathComponent(".build/browser-venv/bin/python").path
            try #require(FileManager.default.isExecutableFile(atPath: python),
                         "schemathesis is installed by deploy/install-deps.sh into .build/browser-venv (run the README's test command)")
            try await withHarness { h in
                // People and an API token, as an administrator makes them: the admin's token through the CLI.
                try BroadcastRepository(h.db).addUser(User(name: "quantri", role: .admin, displayName: "Quản trị", createdAt: Date()))
                try AuthRepository(h.db).setPassword("quantri", hash: try await OperatorAPI.hashPassword("mat-khau-quan-tri-xa"))
                let (ts, out) = try await h.run("wardfleet", ["users", "token", "quantri", "--label", "schemathesis", "--db", h.dbPath])
                try #require(ts == 0, "\(h.lastStderr)")
                let token = out.trimmingCharacters(in: .whitespacesAndNewlines)
                let upstreamToken = "upstream-token-for-the-contract-test"
                // A disaster-warning source and its token, as `wardfleet warnings sources add` makes them.
                let (ws, wout) = try await h.run("wardfleet", ["warnings", "sources", "add", "kttv", "--name", "Đài KTTV",
                                                               "--sender", "canhbao@kttv.example", "--db", h.dbPath])
                try #require(ws == 0, "\(h.lastStderr)")
                let warningToken = try #require(wout.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("wfw_") }.map(String.init))

                let port = try Browser.freePort()
                try await h.startController(["--http-port", "\(port)", "--upstream-token", upstreamToken])
                try h.startSim([])
                try h.startSim([], file: h.file("stranger.yaml"))
                try await h.waitUntil("the devices online and one pending", timeout: .seconds(60)) {
                    try ["LOA-1", "AP-1", "CAM-1", "KIOSK-1"].allSatisfy { try h.state($0) == .ok }
                        && (try HealthQueries(h.db).pending().contains { $0.deviceID == "LOA-LA-99" })
                }

                let artifacts = Self.repo.appendingPathComponent(".build/test-artifacts/contract")
                try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
                let log = artifacts.appendingPathComponent("schemathesis.txt").path
                try? FileManager.default.removeItem(atPath: log)
                let started = ContinuousClock.now
                let run = try ChildProcess.spawn(python, [
                    "-m", "schemathesis.cli", "--config-file", Self.repo.appendingPathComponent("Tests/contract/schemathesis.toml").path,
                    "run", Self.repo.appendingPathComponent("docs/openapi.yaml").path,
                    "--url", "http://127.0.0.1:\(port)", "--checks", "all",
                    "--max-examples", "\(Self.examplesPerOperation)", "--seed", "\(Self.seed)",
                    // A command waits up to 10 s for its acknowledgement: give it room before calling it a network error.
                    "--request-timeout", "15",
                    "--generation-database", "none", "--no-color",
                ], stdout: .file(log), stderr: .file(log), environment: [
                    "WF_TOKEN": token, "WF_UPSTREAM_TOKEN": upstreamToken, "WF_WARNING_TOKEN": warningToken, "HOME": h.dir.path, "COLUMNS": "120",
                ])
                h.children.append(run)
                let status = await run.wait(timeout: .seconds(600))
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                // "N generated, N passed, N skipped" and the closing "== … in Ns ==" line.
                let summary = output.split(separator: "\n").filter { line in
                    let t = line.trimmingCharacters(in: .whitespaces)
                    return (t.first?.isNumber == true && t.contains(" generated")) || (t.hasPrefix("==") && t.contains(" in "))
                }
                print("schemathesis (\(ContinuousClock.now - started)): \(summary.joined(separator: " | "))")
                #expect(status == 0, "schemathesis failed (exit \(status.map(String.init) ?? "timeout")):\n\(output.suffix(6000))")
                // Exit 0 alone could also mean nothing ran: every operation must have been tested.
                let operations = OperatorAPI(database: h.db).routes.count + 7  // and /healthz, /readyz, /metrics, /media/{hash}, /firmware/{hash}, upstream bulletins, CAP warnings
                #expect(output.contains("Selected: \(operations)/\(operations)") && output.contains("Tested: \(operations)"), "\(output.prefix(3000))")
                #expect(!output.contains("Server error") && !output.contains("Network Error"), "\(output.suffix(6000))")
            }
        }
    }
}
