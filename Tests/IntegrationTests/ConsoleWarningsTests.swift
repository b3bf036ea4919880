import Foundation
import Testing
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension OutsideToolTests.Browser {
    /// Issue 20's console warning page in a real Chromium (Tests/browser/console_warnings.py), over a real
    /// broker, firmware-sim speakers and `wardfleet run`: a CAP alert with a polygon over two villages is
    /// shown in its QĐ 18 colour, its polygon drawn, its villages turning "played" live; an approver updates
    /// it and cancels the update from the page, at a phone's and a laptop's width. Screenshots:
    /// .build/test-artifacts/warnings/.
    @Test func warningPageLiveWithUpdateAndCancel() async throws {
        let python = Self.repo.appendingPathComponent(".build/browser-venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "Selenium is installed by deploy/install-deps.sh into .build/browser-venv (run the README's test command)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver: deploy/install-deps.sh")
        let h = try await Harness(fleet: RealBrokerTests.Warnings.fleet)
        do {
            try await Self.warningPage(h, python: python)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    static func warningPage(_ h: Harness, python: String) async throws {
        let password = "mat-khau-xa-cam-la"
        let hash = try await OperatorAPI.hashPassword(password)
        for (name, role) in [("chutich", Role.approver), ("xem", .viewer)] {
            try BroadcastRepository(h.db).addUser(User(name: name, role: role, displayName: "Người dùng \(name)", createdAt: Date()))
            try AuthRepository(h.db).setPassword(name, hash: hash)
        }
        let (st, out) = try await h.run("wardfleet", ["warnings", "sources", "add", "kttv-qn", "--name", "Đài KTTV tỉnh Quảng Ninh",
                                                      "--sender", "canhbao@kttv-quangninh.gov.vn", "--db", h.dbPath])
        try #require(st == 0, "\(h.lastStderr)")
        let token = try #require(out.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("wfw_") }.map(String.init))
        let port = try Self.freePort()
        try await h.startController(["--http-port", "\(port)", "--warning-all-clear"])
        try h.startSim([])
        try await h.waitUntil("every speaker online") {
            try RealBrokerTests.Warnings.all.allSatisfy { try h.state($0)?.isOnline == true }
        }
        let receipt = try await RealBrokerTests.Warnings.post(h, port: port, token: token,
                                                               try RealBrokerTests.Warnings.fixture("alert-polygon.xml", now: h.clock.now()))
        let alert = Int64(try #require(receipt["id"] as? Int))

        let shots = Self.repo.appendingPathComponent(".build/test-artifacts/warnings").path
        let scenario = try ChildProcess.spawn(
            python, [Self.repo.appendingPathComponent("Tests/browser/console_warnings.py").path],
            stdout: .file(h.file("warnings.log")), stderr: .file(h.file("warnings.log")),
            environment: ["WF_URL": "http://127.0.0.1:\(port)", "WF_SHOTS": shots, "WF_PASSWORD": password, "WF_ALERT": "\(alert)",
                          "PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
        let status = await scenario.wait(timeout: .seconds(900))
        let log = (try? String(contentsOfFile: h.file("warnings.log"), encoding: .utf8)) ?? ""
        #expect(status == 0, "warning page scenario: \(log.suffix(3000))")
        try #require(log.contains("warning page scenario passed"))

        // What the page did is what the store holds: the alert replaced by the approver's update, the update
        // cancelled by the approver with an all-clear, both in the audit log.
        let repo = WarningRepository(h.db)
        let old = try repo.get(alert)
        let updated = try repo.get(try #require(old.replacedBy))
        #expect(old.state == .replaced && updated.state == .cancelled && updated.cancelledBy == "chutich")
        #expect(updated.headline == "Bão số 3 đổi hướng vào Cẩm La, gió giật cấp 14")
        #expect(try repo.plays(updated.id).contains { $0.kind == .allClear })
        let audit = try AuthRepository(h.db).auditLog()
        #expect(audit.contains { $0.action == "warning.update" && $0.user == "chutich" && $0.target == "\(updated.id)" })
        #expect(audit.contains { $0.action == "warning.cancel" && $0.user == "chutich" && $0.target == "\(updated.id)" })
        for shot in ["warnings-390-list.png", "warnings-1366-viewer-reach-live.png", "warnings-390-update-on-air.png",
                     "warnings-1366-cancelled-all-clear.png"] {
            #expect(FileManager.default.fileExists(atPath: shots + "/" + shot), "\(shot)")
        }
    }
}
