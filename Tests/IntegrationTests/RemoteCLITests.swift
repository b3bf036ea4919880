import Foundation
import Testing
import WardController
import WardDomain
import WardHTTP
import WardStorage

extension RealBrokerTests {
    /// The CLI acting through a running server's API (`--server`, `--token`): reads and changes
    /// go through the API's roles and audit log, refusals come back in the server's words.
    @Suite(.serialized) struct RemoteCLI {
        @Test func cliActsThroughTheServersAPI() async throws {
            try await withHarness { h in
                try BroadcastRepository(h.db).addUser(User(name: "vanhoa", role: .operator, displayName: "Cán bộ văn hóa", createdAt: Date()))
                let (ts, token) = try await h.run("wardfleet", ["users", "token", "vanhoa", "--label", "máy tính xách tay", "--db", h.dbPath])
                #expect(ts == 0)
                let port = try OutsideToolTests.Browser.freePort()
                try await h.startController(["--http-port", "\(port)"])
                try h.startSim(["--only", "LOA-1"])
                try await h.waitUntil("LOA-1 online") { try h.state("LOA-1") == .ok }
                let remote = ["--server", "http://127.0.0.1:\(port)", "--token", token.trimmingCharacters(in: .whitespacesAndNewlines)]

                // Reads: the same devices and state the database holds.
                let (ls, list) = try await h.run("wardfleet", ["devices", "list"] + remote)
                #expect(ls == 0, "\(h.lastStderr)")
                let devices = try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]]
                #expect(devices?.first(where: { $0["id"] as? String == "LOA-1" })?["state"] as? String == "ok", "\(list)")

                // A change: an operator's item waits for approval, and the audit log says who and from where.
                let tomorrow = LocalCalendar.vietnam.dayKey(h.clock.now().addingTimeInterval(86_400))
                let schedule = ["broadcast", "schedule", "--as", "vanhoa", "--title", "Tiếp sóng Đài tỉnh", "--stream", "http://127.0.0.1:9/radio",
                                "--minutes", "15", "--day", tomorrow, "--time", "18:00", "--villages", "thon-cam-la"]
                let (ss, scheduled) = try await h.run("wardfleet", schedule + remote)
                #expect(ss == 0, "\(h.lastStderr)")
                #expect(scheduled.contains("pending_approval"), "\(scheduled)")
                let items = try BroadcastRepository(h.db).list()
                #expect(items.map(\.item.title) == ["Tiếp sóng Đài tỉnh"])
                let audit = try AuthRepository(h.db).auditLog()
                #expect(audit.contains { $0.action == "broadcast.schedule" && $0.user == "vanhoa" && $0.address == "127.0.0.1" })

                // The token decides who acts: naming someone else is refused before anything is sent.
                let (as2, _) = try await h.run("wardfleet", ["broadcast", "approve", items[0].id, "--as", "chutich"] + remote)
                #expect(as2 != 0)
                #expect(h.lastStderr.contains("chutich"))
                // The server's refusals come back in its words: an operator may not approve.
                let (ap, _) = try await h.run("wardfleet", ["broadcast", "approve", items[0].id, "--as", "vanhoa"] + remote)
                #expect(ap != 0)
                #expect(h.lastStderr.contains("403"), "\(h.lastStderr)")
                let (ns, _) = try await h.run("wardfleet", ["devices", "show", "KHONG-CO"] + remote)
                #expect(ns != 0)
                #expect(h.lastStderr.contains("không có thiết bị"), "\(h.lastStderr)")
                // A command that works only on the server machine says so instead of quietly using a local file.
                let (lo, _) = try await h.run("wardfleet", ["devices", "provision", "LOA-1"] + remote)
                #expect(lo != 0)
                #expect(h.lastStderr.contains("not through --server"), "\(h.lastStderr)")
                // A wrong token is refused.
                let (bt, _) = try await h.run("wardfleet", ["health", "--server", "http://127.0.0.1:\(port)", "--token", "wft_sai"])
                #expect(bt != 0)
                #expect(h.lastStderr.contains("401"))
            }
        }

        /// `wardfleet nodes` through the server prints what it prints on the database; `nodes drain`
        /// through the server is the admin's, audited, and refused to others in the server's words.
        @Test func nodesThroughTheServerPrintAsOnTheDatabase() async throws {
            try await withHarness { h in
                for (name, role) in [("quantri", Role.admin), ("vanhoa", .operator)] {
                    try BroadcastRepository(h.db).addUser(User(name: name, role: role, displayName: name, createdAt: Date()))
                }
                let (_, adminToken) = try await h.run("wardfleet", ["users", "token", "quantri", "--db", h.dbPath])
                let (_, operatorToken) = try await h.run("wardfleet", ["users", "token", "vanhoa", "--db", h.dbPath])
                // A node that owns the commune (an hour's lease: alive for the whole test).
                let now = h.clock.now()
                let cluster = ClusterRepository(h.db)
                try cluster.heartbeat(node: "nut-1", apiURL: "http://10.0.0.21:8080", startedAt: now - 60,
                                      brokers: [BrokerLink(name: "bac", address: "10.0.0.11:1883", connected: true, communes: 1)], at: now)
                _ = try cluster.acquire(ClusterRepository.communeScope("cam-la"), node: "nut-1", now: now, duration: 3_600)
                let port = try OutsideToolTests.Browser.freePort()
                try await h.startController(["--http-port", "\(port)"])
                func remote(_ token: String) -> [String] {
                    ["--server", "http://127.0.0.1:\(port)", "--token", token.trimmingCharacters(in: .whitespacesAndNewlines)]
                }
                // Ages move between the two calls: compared without their figures.
                func shape(_ text: String) -> String { text.replacing(/[0-9]+(\.[0-9]+)? s\b/, with: "N s") }
                let (ls, local) = try await h.run("wardfleet", ["nodes", "--db", h.dbPath])
                #expect(ls == 0, "\(h.lastStderr)")
                let (rs, through) = try await h.run("wardfleet", ["nodes"] + remote(operatorToken))
                #expect(rs == 0, "\(h.lastStderr)")
                #expect(through.contains("nut-1") && through.contains("cam-la Xã Cẩm La") && through.contains("broker bac 10.0.0.11:1883"), "\(through)")
                #expect(shape(through) == shape(local), "through the server:\n\(through)\non the database:\n\(local)")
                let (js, json) = try await h.run("wardfleet", ["nodes", "--json"] + remote(operatorToken))
                #expect(js == 0 && (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["nodes"] != nil, "\(json)")

                // Drain and undo through the server, as the admin: the node's flag, the audit log.
                let (ds, drained) = try await h.run("wardfleet", ["nodes", "drain", "nut-1"] + remote(adminToken))
                #expect(ds == 0 && drained.contains("node nut-1 is handing its communes over"), "\(drained) \(h.lastStderr)")
                #expect(try cluster.nodes().first?.draining == true)
                let (us, _) = try await h.run("wardfleet", ["nodes", "drain", "nut-1", "--undo"] + remote(adminToken))
                #expect(us == 0, "\(h.lastStderr)")
                #expect(try cluster.nodes().first?.draining == false)
                let audit = try AuthRepository(h.db).auditLog()
                #expect(audit.contains { $0.action == "node.drain" && $0.user == "quantri" && $0.target == "nut-1" })
                #expect(audit.contains { $0.action == "node.undrain" && $0.user == "quantri" })
                // Refusals in the server's words: an operator may not, an unknown node is not found.
                let (os, _) = try await h.run("wardfleet", ["nodes", "drain", "nut-1"] + remote(operatorToken))
                #expect(os != 0 && h.lastStderr.contains("403"), "\(h.lastStderr)")
                let (ns, _) = try await h.run("wardfleet", ["nodes", "drain", "khong-co"] + remote(adminToken))
                #expect(ns != 0 && h.lastStderr.contains("không có nút khong-co"), "\(h.lastStderr)")
                #expect(try cluster.nodes().first?.draining == false)
            }
        }
    }
}
