import Foundation
import Testing
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension OutsideToolTests.Browser {
    /// Controller nodes in the console, over the crawl's two communes with two nodes on the database:
    /// nut-1 alive, owning Cẩm La, the leader; nut-2 stopped, the last owner of Hải Sơn. The overview
    /// and the landing page warn that Hải Sơn has no node, by name; the overview lists the nodes with
    /// their state, communes and broker links, with a drain button for the unlimited admin. A user
    /// limited to Hải Sơn sees the warning and the nodes, but neither Cẩm La nor a drain button. Every
    /// page passes the console crawl's checks (Tests/browser/console_crawl.py) at 390 and 1366 px.
    /// Screenshots: .build/test-artifacts/console-nodes/.
    @Test func consoleWarnsOfCommunesWithoutANodeAndListsTheNodes() async throws {
        let python = Self.repo.appendingPathComponent(".build/browser-venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "Selenium is installed by deploy/install-deps.sh into .build/browser-venv (run the README's test command)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver: deploy/install-deps.sh")
        let h = try await Harness(fleet: Self.crawlFleet)
        do {
            try await crawlNodes(h, python: python)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    private func crawlNodes(_ h: Harness, python: String) async throws {
        let password = "mat-khau-xa-cam-la"
        let hash = try await OperatorAPI.hashPassword(password)
        let people: [(label: String, user: String, role: Role, communes: [String]?)] = [
            ("admin", "quantri", .admin, nil), ("approver-hai-son", "chutich-hs", .approver, ["hai-son"]),
        ]
        for p in people {
            try BroadcastRepository(h.db).addUser(User(name: p.user, role: p.role, displayName: "Người dùng \(p.user)", createdAt: Date()))
            try AuthRepository(h.db).setPassword(p.user, hash: hash)
            try AuthRepository(h.db).setCommunes(p.user, p.communes)
        }
        // The nodes as they left themselves in the database; leases of an hour keep nut-1 alive for the test.
        let now = h.clock.now()
        let cluster = ClusterRepository(h.db)
        try cluster.heartbeat(node: "nut-1", apiURL: "http://10.0.0.21:8080", startedAt: now - 3_600,
                              brokers: [BrokerLink(name: "bac", address: "10.0.0.11:1883", connected: true, communes: 1),
                                        BrokerLink(name: "nam", address: "10.0.0.12:1883", connected: false, communes: 0)], at: now)
        _ = try cluster.acquire(ClusterRepository.communeScope("cam-la"), node: "nut-1", now: now, duration: 3_600)
        _ = try cluster.acquire(ClusterRepository.leaderScope, node: "nut-1", now: now, duration: 3_600)
        try cluster.heartbeat(node: "nut-2", apiURL: nil, startedAt: now - 3_600, brokers: [], at: now - 600)
        let lease = try #require(try cluster.acquire(ClusterRepository.communeScope("hai-son"), node: "nut-2", now: now - 900, duration: 3_600))
        try cluster.release(ClusterRepository.communeScope("hai-son"), node: "nut-2", epoch: lease.lease.epoch, at: now - 600)
        try cluster.markStopped(node: "nut-2", at: now - 600)

        let port = try Self.freePort()
        try await h.startController(["--http-port", "\(port)"])
        let shots = Self.repo.appendingPathComponent(".build/test-artifacts/console-nodes").path
        let users = try String(decoding: JSONSerialization.data(withJSONObject: people.map { ["label": $0.label, "user": $0.user] }), as: UTF8.self)
        let expect = #"{"admin":{"pages":12},"approver-hai-son":{"pages":9}}"#
        let content: [String: [String: [String: [String]]]] = [
            "admin": [
                "#/overview": ["has": ["1 xã chưa có nút điều khiển phụ trách", "Xã Hải Sơn", "nút cuối: nut-2", "Nút điều khiển", "nut-1",
                                       "nút điều phối", "http://10.0.0.21:8080", "Xã Cẩm La", "hoạt động", "đã dừng", "đã kết nối",
                                       "mất kết nối", "10.0.0.11:1883", "Bàn giao các xã"]],
                "#/attention": ["has": ["1 xã chưa có nút điều khiển phụ trách", "Xã Hải Sơn"], "lacks": ["Nút điều khiển"]],
            ],
            "approver-hai-son": [
                "#/overview": ["has": ["1 xã chưa có nút điều khiển phụ trách", "Xã Hải Sơn", "nut-1", "nut-2"],
                               "lacks": ["Xã Cẩm La", "Bàn giao các xã"]],
            ],
        ]
        let crawl = try ChildProcess.spawn(
            python, [Self.repo.appendingPathComponent("Tests/browser/console_crawl.py").path],
            stdout: .file(h.file("crawl.log")), stderr: .file(h.file("crawl.log")),
            environment: ["WF_URL": "http://127.0.0.1:\(port)", "WF_SHOTS": shots, "WF_PASSWORD": password, "WF_USERS": users,
                          "WF_EXPECT": expect, "WF_CONTENT": String(decoding: try JSONSerialization.data(withJSONObject: content), as: UTF8.self),
                          "PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
        let status = await crawl.wait(timeout: .seconds(600))
        let log = (try? String(contentsOfFile: h.file("crawl.log"), encoding: .utf8)) ?? ""
        #expect(status == 0, "console crawl with controller nodes: \(log.suffix(6000))")
        #expect(log.contains("console crawl passed"))
    }
}
