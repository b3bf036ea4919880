import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WardController
import WardDomain
import WardHTTP
import WardProtocol
import WardStorage

extension OutsideToolTests.Browser {
    /// Two communes, so one user can be limited to one of them; sites with and without coordinates.
    static let crawlFleet = """
        province:
          id: qn
          name: Tỉnh Quảng Ninh
          communes:
            - id: cam-la
              name: Xã Cẩm La
              sites:
                - id: mot-cua
                  name: Bộ phận Một cửa xã Cẩm La
                  kind: one_stop_office
                  lat: 20.9401
                  lon: 106.8215
                  devices:
                    - {id: KIOSK-1, class: kiosk, kiosk_role: both}
              villages:
                - id: thon-cam-la
                  name: Thôn Cẩm La
                  sites:
                    - id: nvh
                      name: Nhà văn hóa thôn Cẩm La
                      kind: cultural_house
                      lat: 20.9366
                      lon: 106.8262
                      devices:
                        - {id: LOA-1, class: speaker, max_volume: 90}
                        - {id: LOA-2, class: speaker}
                        - {id: AP-1, class: access_point}
                - id: kp-yen-giang
                  name: Khu phố Yên Giang
                  sites:
                    - id: cong
                      name: Cổng khu phố Yên Giang
                      kind: village_entrance
                      devices:
                        - {id: CAM-1, class: camera}
            - id: hai-son
              name: Xã Hải Sơn
              villages:
                - id: thon-hai-son
                  name: Thôn Hải Sơn
                  sites:
                    - id: nvh-hs
                      name: Nhà văn hóa thôn Hải Sơn
                      kind: cultural_house
                      devices:
                        - {id: LOA-HS-1, class: speaker}
                        - {id: CAM-HS-1, class: camera}
        """

    /// Every page of the console for every role (and for a user limited to one commune of two), at
    /// a phone's 390×844 and a laptop's 1366×900, in a real Chromium (Tests/browser/console_crawl.py):
    /// no "[object", "undefined", "NaN" or bare "null" on screen, no JavaScript error, no page wider
    /// than the window, no error on opening. The pages come from the console's own navigation and
    /// links, over a world with something on every page: devices ok, degraded, offline and never
    /// heard, a pending device, alarms, approved, waiting and repeating broadcasts, a playback log,
    /// an inbox bulletin, a kept report, audit entries. Screenshots: .build/test-artifacts/console-crawl/.
    @Test func consoleCrawlEveryPageEveryRoleAndWidth() async throws {
        let python = Self.repo.appendingPathComponent(".build/browser-venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "Selenium is installed by deploy/install-deps.sh into .build/browser-venv (run the README's test command)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver: deploy/install-deps.sh")
        let h = try await Harness(fleet: Self.crawlFleet)
        do {
            try await crawl(h, python: python)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    private func crawl(_ h: Harness, python: String) async throws {
        let password = "mat-khau-xa-cam-la"
        let hash = try await OperatorAPI.hashPassword(password)
        let people: [(label: String, user: String, role: Role, communes: [String]?)] = [
            ("admin", "quantri", .admin, nil), ("approver", "chutich", .approver, nil), ("operator", "vanhoa", .operator, nil),
            ("technician", "kythuat", .technician, nil), ("viewer", "xem", .viewer, nil),
            ("approver-hai-son", "chutich-hs", .approver, ["hai-son"]),
        ]
        for p in people {
            try BroadcastRepository(h.db).addUser(User(name: p.user, role: p.role, displayName: "Người dùng \(p.user)", createdAt: Date()))
            try AuthRepository(h.db).setPassword(p.user, hash: hash)
            try AuthRepository(h.db).setCommunes(p.user, p.communes)
        }
        func cli(_ args: [String]) async throws -> String {
            let (st, out) = try await h.run("wardfleet", args + ["--db", h.dbPath])
            try #require(st == 0, "\(args): \(h.lastStderr)")
            return out
        }
        // Alarms at once rather than after the rules' minutes.
        for rule in [["--kind", "offline", "--class", "access_point"], ["--kind", "amplifier_fault"]] {
            _ = try await cli(["alarms", "rules"] + rule + ["--duration", "0", "--tolerance", "0", "--user", "quantri"])
        }
        let media = try await cli(["media", "tts", "--text", "Xin thông báo: lịch tiêm chủng tại trạm y tế xã.", "--title", "Lịch tiêm chủng", "--json"])
        let sha = try #require(try JSONSerialization.jsonObject(with: Data(media.utf8)) as? [String: Any])["sha256"] as! String

        let port = try Self.freePort()
        let upstreamToken = "tinh-quang-ninh-upstream-2026"
        try await h.startController(["--http-port", "\(port)", "--upstream-token", upstreamToken])
        try h.startSim(["--only", "KIOSK-1,LOA-1,LOA-2,AP-1,CAM-1,LOA-HS-1", "--always-open", "--kiosk-interval", "2",
                        "--behave", "LOA-2:amp-fault@1", "--behave", "AP-1:offline-will@2"])
        try h.startSim([], file: h.file("stranger.yaml"))
        let alarms = AlarmRepository(h.db)
        try await h.waitUntil("devices ok, degraded and offline; a pending one; alarms", timeout: .seconds(60)) {
            try h.state("LOA-1") == .ok && h.state("LOA-2") == .degraded && h.state("AP-1") == .offline && h.state("LOA-HS-1") == .ok
                && HealthQueries(h.db).pending().contains { $0.deviceID == "LOA-LA-99" }
                && Set(alarms.open().map(\.kind)).isSuperset(of: [.offline, .amplifierFault])
        }
        // Acknowledged through the API (the CLI with a token), so the audit log has more than sign-ins.
        let offline = try #require(try alarms.open().first { $0.kind == .offline })
        let token = try await cli(["users", "token", "kythuat", "--label", "điện thoại kỹ thuật"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let (ackStatus, _) = try await h.run("wardfleet", ["alarms", "ack", "\(offline.id!)", "--user", "kythuat", "--note", "đã gọi điện lực",
                                                           "--server", "http://127.0.0.1:\(port)", "--token", token])
        try #require(ackStatus == 0, "\(h.lastStderr)")

        // The schedule: approved, repeating (daily, weekly, weekdays), waiting for approval; an emergency that plays.
        let cal = LocalCalendar.vietnam
        let tomorrow = cal.localDay(of: h.clock.now().addingTimeInterval(86_400)).description
        for (who, args) in [
            ("chutich", ["--title", "Bản tin sáng", "--time", "06:00", "--repeat", "daily", "--communes", "cam-la"]),
            ("chutich", ["--title", "Tin nông nghiệp", "--time", "17:00", "--repeat", "weekly", "--on", "t2,t4,t6", "--villages", "thon-cam-la"]),
            ("chutich", ["--title", "Bản tin Hải Sơn", "--time", "07:30", "--repeat", "weekdays", "--communes", "hai-son"]),
            ("vanhoa", ["--title", "Họp thôn Cẩm La", "--time", "09:00", "--villages", "thon-cam-la"]),
        ] {
            _ = try await cli(["broadcast", "schedule", "--as", who, "--media", sha, "--day", tomorrow] + args)
        }
        let emergency = try await cli(["broadcast", "emergency", "--as", "chutich", "--title", "Cảnh báo triều cường", "--media", sha,
                                       "--speakers", "LOA-1", "--json"])
        let emergencyID = try #require((try JSONSerialization.jsonObject(with: Data(emergency.utf8)) as? [String: Any])?["item"] as? [String: Any])["id"] as! String
        try await h.waitUntil("the emergency played on LOA-1", timeout: .seconds(60)) {
            try PlaybackRepository(h.db).entries(item: emergencyID).contains { $0.event == .finished }
        }
        // A bulletin from the province waits in the inbox.
        var post = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/upstream/bulletins")!)
        post.httpMethod = "POST"
        post.setValue("application/json", forHTTPHeaderField: "Content-Type")
        post.setValue("Bearer \(upstreamToken)", forHTTPHeaderField: "Authorization")
        post.httpBody = Data(#"{"source":"tinh-qn","id":"QN-1","title":"Lịch tiếp công dân","level":"normal","communes":["cam-la"],"text":"Lịch tiếp công dân tuần tới."}"#.utf8)
        let (body, response) = try await URLSession.shared.data(for: post)
        try #require((response as? HTTPURLResponse)?.statusCode == 201, "\(String(decoding: body, as: UTF8.self))")
        // A disaster warning in force (a CAP alert with a polygon over Thôn Cẩm La; Yên Giang's site has no
        // coordinates, so it is listed as one that cannot be targeted), on air and repeating.
        let sourceOut = try await cli(["warnings", "sources", "add", "kttv-qn", "--name", "Đài KTTV tỉnh Quảng Ninh",
                                       "--sender", "canhbao@kttv-quangninh.gov.vn"])
        let sourceToken = try #require(sourceOut.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("wfw_") }.map(String.init))
        let sent = CAPTime(date: Date(timeIntervalSince1970: h.clock.now().timeIntervalSince1970.rounded(.down)), offset: 25_200)
        let cap = CAPAlert(identifier: "KTTV-QN-CRAWL-1", sender: "canhbao@kttv-quangninh.gov.vn", sent: sent, status: .actual, msgType: .alert,
                           scope: .public, infos: [CAPInfo(
                               language: "vi-VN", categories: [.met], event: "Triều cường", urgency: .expected, severity: .severe,
                               certainty: .likely, expires: CAPTime(date: sent.date + 86_400, offset: 25_200),
                               senderName: "Đài KTTV tỉnh Quảng Ninh", headline: "Triều cường kết hợp sóng lớn ven biển Cẩm La",
                               description: "Mực nước dâng cao vào chiều tối.", instruction: "Không ra khơi, gia cố nhà cửa.",
                               areas: [CAPArea(areaDesc: "Ven biển xã Cẩm La", polygons: [GeoPolygon(points: [
                                   Coordinate(latitude: 20.93, longitude: 106.82), Coordinate(latitude: 20.93, longitude: 106.83),
                                   Coordinate(latitude: 20.945, longitude: 106.83), Coordinate(latitude: 20.945, longitude: 106.82),
                                   Coordinate(latitude: 20.93, longitude: 106.82)])])])])
        var capPost = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/warnings/cap")!)
        capPost.httpMethod = "POST"
        capPost.setValue("application/cap+xml", forHTTPHeaderField: "Content-Type")
        capPost.setValue("Bearer \(sourceToken)", forHTTPHeaderField: "Authorization")
        capPost.httpBody = Data(CAPWriter.xml(cap).utf8)
        let (capBody, capResponse) = try await URLSession.shared.data(for: capPost)
        try #require((capResponse as? HTTPURLResponse)?.statusCode == 201, "\(String(decoding: capBody, as: UTF8.self))")
        // A kept report of this month.
        let month = String(cal.localDay(of: h.clock.now()).description.prefix(7))
        _ = try await cli(["report", "--month", month, "--keep", "--output", h.file("report.html")])

        // Firmware: an image, a campaign running in Cẩm La and one of Hải Sơn awaiting approval; LOA-1 given a configuration.
        let model = try #require(Birth.stored(try h.status("LOA-1")?.birth)?.model)
        let image = h.file("loa-2.0.0.bin")
        try Data("firmware 2.0.0".utf8).write(to: URL(fileURLWithPath: image))
        _ = try await cli(["firmware", "add", image, "--class", "speaker", "--model", model, "--version", "2.0.0", "--notes", "Sửa lỗi âm lượng",
                           "--by", "quantri"])
        for (commune, name) in [("cam-la", "Cập nhật loa Cẩm La"), ("hai-son", "Cập nhật loa Hải Sơn")] {
            _ = try await cli(["firmware", "campaign", "create", "--image", "2.0.0", "--class", "speaker", "--model", model, "--commune", commune,
                               "--name", name, "--waves", "1,rest", "--by", "kythuat"])
        }
        _ = try await cli(["firmware", "campaign", "approve", "1", "--by", "quantri"])
        _ = try await cli(["devices", "config", "set", "LOA-1", "--heartbeat", "30", "--max-volume", "80", "--user", "kythuat"])

        let shots = Self.repo.appendingPathComponent(".build/test-artifacts/console-crawl").path
        let users = try String(decoding: JSONSerialization.data(withJSONObject: people.map { ["label": $0.label, "user": $0.user] }), as: UTF8.self)
        // What the seeded world must show at least: the pages of each role's navigation, and detail pages.
        let expect = #"{"admin":{"pages":14,"details":10},"technician":{"pages":11,"details":10},"viewer":{"pages":11,"details":10},"approver-hai-son":{"pages":11,"details":3}}"#
        let crawl = try ChildProcess.spawn(
            python, [Self.repo.appendingPathComponent("Tests/browser/console_crawl.py").path],
            stdout: .file(h.file("crawl.log")), stderr: .file(h.file("crawl.log")),
            environment: ["WF_URL": "http://127.0.0.1:\(port)", "WF_SHOTS": shots, "WF_PASSWORD": password, "WF_USERS": users,
                          "WF_EXPECT": expect, "PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
        let status = await crawl.wait(timeout: .seconds(600))
        let log = (try? String(contentsOfFile: h.file("crawl.log"), encoding: .utf8)) ?? ""
        #expect(status == 0, "console crawl: \(log.suffix(6000))")
        #expect(log.contains("console crawl passed"))
    }
}
