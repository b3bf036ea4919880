import Foundation
import Testing
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension OutsideToolTests {
    /// The web console in a real headless Chromium (Tests/browser/console_scenario.py, Selenium), the
    /// journeys at a phone width (390 px) and a desktop width (1366 px): the operator schedules a
    /// weekday village bulletin from the landing page in at most 6 taps and a confirmation says when,
    /// where and how often; a bulletin recorded from the (fake) microphone is listened back, saved and
    /// scheduled; the approver approves from the landing page's badge after a preview; an emergency
    /// shows its acknowledgements arriving live; the monthly report is shown inline and printed (PDF
    /// kept); the technician finds a device that just went offline (seen without reload) in one tap.
    /// Then conflicts, edits, past starts, weekday moves, the KPI month and English. The first load
    /// over a throttled 1.6 Mbit/s, 150 ms link is measured and printed. Screenshots and the PDF:
    /// .build/test-artifacts/browser/.
    @Suite(.serialized) struct Browser {
        static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        static func freePort() throws -> Int {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            return Int(UInt16(bigEndian: addr.sin_port))
        }

        @Test func consoleScenarioInHeadlessChromium() async throws {
            let python = Self.repo.appendingPathComponent(".build/browser-venv/bin/python").path
            try #require(FileManager.default.isExecutableFile(atPath: python),
                         "Selenium is installed by deploy/install-deps.sh into .build/browser-venv (run the README's test command)")
            try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver: deploy/install-deps.sh")
            try await withHarness { h in
                let password = "mat-khau-xa-cam-la"
                let hash = try await OperatorAPI.hashPassword(password)
                for (name, role) in [("kt-minh", Role.technician), ("vanhoa", .operator), ("chutich", .approver)] {
                    try BroadcastRepository(h.db).addUser(User(name: name, role: role, displayName: name, createdAt: Date()))
                    try AuthRepository(h.db).setPassword(name, hash: hash)
                }
                let port = try Self.freePort()
                try await h.startController(["--http-port", "\(port)"])
                let sim = try h.startSim(["--only", "LOA-1"])
                try await h.waitUntil("LOA-1 online") { try h.state("LOA-1") == .ok }
                let shots = Self.repo.appendingPathComponent(".build/test-artifacts/browser").path
                let cal = LocalCalendar.vietnam
                let tomorrow = cal.dayKey(h.clock.now().addingTimeInterval(86_400))
                let scenario = try ChildProcess.spawn(
                    python, [Self.repo.appendingPathComponent("Tests/browser/console_scenario.py").path],
                    stdout: .file(h.file("browser.log")), stderr: .file(h.file("browser.log")),
                    environment: ["WF_URL": "http://127.0.0.1:\(port)", "WF_SIM_PID": "\(sim.pid)", "WF_SHOTS": shots,
                                  "WF_PASSWORD": password, "WF_DAY": tomorrow, "PATH": "/usr/bin:/bin",
                                  "HOME": FileManager.default.temporaryDirectory.path])
                let status = await scenario.wait(timeout: .seconds(900))
                let log = (try? String(contentsOfFile: h.file("browser.log"), encoding: .utf8)) ?? ""
                #expect(status == 0, "browser scenario: \(log.suffix(3000))")
                #expect(log.contains("browser scenario passed"))
                for shot in ["07-english.png", "10-390-scheduled-confirmation.png", "16-1366-emergency-acks-live.png",
                             "20-390-broken-device-in-one-tap.png", "18-report.pdf"] {
                    #expect(FileManager.default.fileExists(atPath: shots + "/" + shot), "\(shot)")
                }
                if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("first load") }) { print(line) }
                // What the people did is in the audit log, with who and from where.
                let audit = try AuthRepository(h.db).auditLog()
                #expect(audit.contains { $0.action == "broadcast.schedule" && $0.user == "vanhoa" && $0.address == "127.0.0.1" })
                #expect(audit.contains { $0.action == "broadcast.approve" && $0.user == "chutich" })
                #expect(audit.contains { $0.action == "broadcast.emergency" && $0.user == "chutich" })
            }
        }
    }
}
