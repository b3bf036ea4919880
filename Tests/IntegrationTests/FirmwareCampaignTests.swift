import Foundation
import Testing
import WardDomain
import WardProtocol
import WardStorage

/// Issue 17, tests 8.1–8.4: firmware campaigns with a real broker, the controller's HTTP server serving the image,
/// and firmware-sim devices that download, verify (size, SHA-256, Ed25519 with their pinned key), install and restart.
extension RealBrokerTests {
    @Suite struct FirmwareCampaignTests {
        static let model = "WF-LOA-OTA"
        static let calendar = LocalCalendar.vietnam

        /// `ids` speakers of one village, on firmware 1.0.0.
        static func fleet(_ ids: [String]) -> String {
            """
            province:
              id: qn
              name: Tỉnh Quảng Ninh
              communes:
                - id: cam-la
                  name: Xã Cẩm La
                  villages:
                    - id: thon-cam-la
                      name: Thôn Cẩm La
                      sites:
                        - id: nvh
                          name: Nhà văn hóa thôn Cẩm La
                          kind: cultural_house
                          devices:
            \(ids.map { "                - {id: \($0), class: speaker, model: \(model), firmware: 1.0.0}" }.joined(separator: "\n"))
            """
        }

        static func world(_ ids: [String], _ body: (Harness) async throws -> Void) async throws {
            let h = try await Harness(fleet: fleet(ids))
            do { try await body(h) } catch {
                await h.stop()
                throw error
            }
            await h.stop()
        }

        /// The server's public key, as a device maker pins it.
        static func publicKey(_ h: Harness) async throws -> String {
            let (st, out) = try await h.run("wardfleet", ["firmware", "key", "--json", "--db", h.dbPath])
            try #require(st == 0, "\(h.lastStderr)")
            let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: String])
            #expect(o["fingerprint"]?.count == 23)
            return try #require(o["public_key"])
        }

        /// Adds an image of `size` random bytes through the CLI; returns its sha256.
        static func addImage(_ h: Harness, version: String, signingKey: String? = nil) async throws -> String {
            var bytes = [UInt8](repeating: 0, count: 64 * 1024)
            var g = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &g) }
            let path = h.file("fw-\(version).bin")
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let (st, out) = try await h.run("wardfleet", ["firmware", "add", path, "--class", "speaker", "--model", model, "--version", version,
                                                          "--notes", "Sửa lỗi âm lượng", "--json", "--db", h.dbPath]
                                                + (signingKey.map { ["--signing-key", $0] } ?? []))
            try #require(st == 0, "\(h.lastStderr)")
            let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            return try #require(o["sha256"] as? String)
        }

        /// Creates (through the CLI) and approves a campaign; returns its id.
        static func campaign(_ h: Harness, version: String, _ args: [String]) async throws -> Int64 {
            let (st, out) = try await h.run("wardfleet", ["firmware", "campaign", "create", "--image", version, "--class", "speaker",
                                                          "--model", model, "--json", "--db", h.dbPath] + args)
            try #require(st == 0, "\(h.lastStderr)")
            let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            let id = try #require((o["id"] as? NSNumber)?.int64Value)
            #expect(o["state"] as? String == "awaiting_approval")
            // Nothing is sent before an admin approves.
            #expect(try jobs(h, id).allSatisfy { $0.state == .queued && $0.attempts == 0 })
            let (st2, _) = try await h.run("wardfleet", ["firmware", "campaign", "approve", "\(id)", "--by", "quantri", "--db", h.dbPath])
            try #require(st2 == 0, "\(h.lastStderr)")
            return id
        }

        static func jobs(_ h: Harness, _ id: Int64) throws -> [FirmwareJob] { try FirmwareRepository(h.db).jobs(id) }
        static func firmware(_ h: Harness, _ device: String) throws -> String? { Birth.stored(try h.status(device)?.birth)?.firmware }

        static func online(_ h: Harness, _ ids: [String], timeout: Duration = .seconds(60)) async throws {
            try await h.waitUntil("\(ids.count) devices online", timeout: timeout) { try ids.allSatisfy { try h.state($0)?.isOnline == true } }
        }

        static func settled(_ h: Harness, _ id: Int64, timeout: Duration = .seconds(180)) async throws {
            try await h.waitUntil("campaign \(id): no order out", timeout: timeout) { try jobs(h, id).allSatisfy { !$0.state.isSent } }
        }

        // MARK: 8.1

        @Test("a 3-wave campaign over 200 devices with 10 % injected failures aborts at the wave that crosses the threshold")
        func abortsAtTheWaveThatCrossesTheThreshold() async throws {
            // Which devices fail is a hash of their id (FaultInjection, as firmware-sim draws it): pick the id prefix
            // whose 1 % pilot and 10 % wave hold no failing device, so the third wave is the one that crosses.
            let rate = 0.1
            var ids: [String] = []
            let letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
            for p in letters.flatMap({ a in letters.map { "\(a)\($0)" } }) {
                let c = (1...200).map { String(format: "LOA-\(p)%03d", $0) }
                let failing = c.filter { FaultInjection.chosen($0, rate: rate, "install") }
                // The first orders of the third wave (at most the rate, 60) hold 3 failing devices: 3 of at most 60
                // finished is over 4 % whatever order they finish in, before the rate lets the rest go.
                if !c.prefix(22).contains(where: { failing.contains($0) }), c[22..<60].filter({ failing.contains($0) }).count >= 3 {
                    ids = c
                    break
                }
            }
            try #require(ids.count == 200)
            let failing = Set(ids.filter { FaultInjection.chosen($0, rate: rate, "install") })
            try await Self.world(ids) { h in
                let key = try await Self.publicKey(h)
                try await h.startController()
                try h.startSim(["--firmware-key", key, "--ota-install-seconds", "0.2", "--ota-install-failures", "\(rate)"])
                try await Self.online(h, ids, timeout: .seconds(120))
                _ = try await Self.addImage(h, version: "2.0.0")
                // A dry run previews the count.
                let (_, preview) = try await h.run("wardfleet", ["firmware", "campaign", "create", "--image", "2.0.0", "--class", "speaker",
                                                                 "--model", Self.model, "--waves", "1%,10%,rest", "--dry-run", "--db", h.dbPath])
                #expect(preview.contains("200") && preview.contains("2 + 20 + 178"), "\(preview)")
                let id = try await Self.campaign(h, version: "2.0.0", ["--waves", "1%,10%,rest", "--rate", "60", "--max-failures", "4",
                                                                       "--min-finished", "10", "--timeout", "120"])
                try await h.waitUntil("campaign aborted", timeout: .seconds(240)) { try FirmwareRepository(h.db).campaign(id)?.state == .aborted }
                try await Self.settled(h, id)
                let c = try #require(try FirmwareRepository(h.db).campaign(id))
                #expect(c.abortedWave == 2, "aborted at wave \(c.abortedWave.map { $0 + 1 } ?? 0): \(c.abortDetail ?? "")")
                let all = try Self.jobs(h, id)
                #expect(all.map(\.wave).reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 } == [0: 2, 1: 20, 2: 178])
                // The pilot and the second wave: every device updated, its birth says so.
                for j in all where j.wave < 2 {
                    #expect(j.state == .succeeded, "\(j.deviceID): \(j.state)")
                    #expect(try Self.firmware(h, j.deviceID) == "2.0.0")
                }
                // The third wave: the failures are the injected ones, with their reason; devices never sent an order
                // were dropped and still run 1.0.0.
                let third = all.filter { $0.wave == 2 }
                let failed = third.filter { $0.state.isFailure }
                #expect(!failed.isEmpty)
                for j in failed {
                    #expect(failing.contains(j.deviceID) && j.reason == .installFailed, "\(j.deviceID): \(j.state) \(j.reason?.rawValue ?? "")")
                }
                let neverSent = third.filter { $0.attempts == 0 }
                #expect(!neverSent.isEmpty, "the rate limit (60/min) left devices queued at the abort")
                for j in neverSent {
                    #expect(j.state == .cancelled)
                    #expect(try Self.firmware(h, j.deviceID) == "1.0.0")
                }
                let (st, show) = try await h.run("wardfleet", ["firmware", "campaign", "show", "\(id)", "--db", h.dbPath])
                #expect(st == 0)
                #expect(show.contains("aborted") && show.contains("install_failed") && show.contains("đợt / aborted at wave 3"), "\(show)")
            }
        }

        // MARK: 8.2

        @Test("a badly signed image is refused by every device")
        func badlySignedImageIsRefusedByEveryDevice() async throws {
            let ids = (1...6).map { String(format: "LOA-%03d", $0) }
            try await Self.world(ids) { h in
                let key = try await Self.publicKey(h)  // the key the devices pin: the server's
                try await h.startController()
                try h.startSim(["--firmware-key", key, "--ota-install-seconds", "0.2"])
                try await Self.online(h, ids)
                // Signed with another key (a stolen build server's, say): the bytes and the order are otherwise right.
                _ = try await Self.addImage(h, version: "6.6.6", signingKey: h.file("rogue.key"))
                let id = try await Self.campaign(h, version: "6.6.6", ["--waves", "rest", "--rate", "600", "--max-failures", "100", "--timeout", "120"])
                try await h.waitUntil("every job ended", timeout: .seconds(120)) { try Self.jobs(h, id).allSatisfy(\.state.isTerminal) }
                for j in try Self.jobs(h, id) {
                    #expect(j.state == .failed && j.reason == .badSignature, "\(j.deviceID): \(j.state) \(j.reason?.rawValue ?? "")")
                    #expect(try Self.firmware(h, j.deviceID) == "1.0.0")
                }
                #expect(try FirmwareRepository(h.db).campaign(id)?.state == .completed)
            }
        }

        // MARK: 8.3

        @Test("an offline device is updated when it returns")
        func offlineDeviceIsUpdatedWhenItReturns() async throws {
            let ids = ["LOA-001", "LOA-002", "LOA-003"]
            try await Self.world(ids) { h in
                let key = try await Self.publicKey(h)
                try await h.startController()
                let sim = ["--firmware-key", key, "--ota-install-seconds", "0.2"]
                try h.startSim(sim + ["--only", "LOA-001,LOA-002"])
                let away = try h.startSim(sim + ["--only", "LOA-003"])
                try await Self.online(h, ids)
                await away.terminate()
                try await h.waitUntil("LOA-003 offline") { try h.state("LOA-003")?.isOnline == false }
                _ = try await Self.addImage(h, version: "2.0.0")
                let id = try await Self.campaign(h, version: "2.0.0", ["--waves", "rest", "--rate", "600", "--max-failures", "50", "--timeout", "120"])
                try await h.waitUntil("the online devices updated", timeout: .seconds(90)) {
                    try Self.jobs(h, id).filter { $0.deviceID != "LOA-003" }.allSatisfy { $0.state == .succeeded }
                }
                let waiting = try #require(try Self.jobs(h, id).first { $0.deviceID == "LOA-003" })
                #expect(waiting.state == .queued && waiting.attempts == 0)
                #expect(try FirmwareRepository(h.db).campaign(id)?.state == .running)
                try h.startSim(sim + ["--only", "LOA-003", "--seed", "8"])  // back, a new boot
                try await h.waitUntil("LOA-003 updated", timeout: .seconds(90)) {
                    try Self.jobs(h, id).first { $0.deviceID == "LOA-003" }?.state == .succeeded
                }
                #expect(try Self.firmware(h, "LOA-003") == "2.0.0")
                try await h.waitUntil("campaign completed") { try FirmwareRepository(h.db).campaign(id)?.state == .completed }
                // The device's page (CLI) shows its firmware history.
                let (st, show) = try await h.run("wardfleet", ["devices", "show", "LOA-003", "--db", h.dbPath])
                #expect(st == 0 && show.contains("FIRMWARE HISTORY") && show.contains("1.0.0") && show.contains("succeeded"), "\(show)")
            }
        }

        // MARK: 8.4

        @Test("no update starts during a scheduled broadcast on that speaker")
        func noUpdateDuringABroadcast() async throws {
            let ids = ["LOA-001", "LOA-002"]
            try await Self.world(ids) { h in
                #expect(try await h.run("wardfleet", ["users", "add", "lan", "--role", "approver", "--db", h.dbPath]).0 == 0)
                let (st, out) = try await h.run("wardfleet", ["media", "tts", "--text", "Xin thông báo: lịch tiêm chủng tại trạm y tế xã.",
                                                              "--voice", "northern", "--db", h.dbPath, "--json"])
                try #require(st == 0, "\(h.lastStderr)")
                let o = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
                let sha = try #require(o["sha256"] as? String)
                let duration = try #require((o["duration_s"] as? NSNumber)?.doubleValue ?? (o["duration"] as? NSNumber)?.doubleValue)
                let key = try await Self.publicKey(h)
                try await h.startController()
                try h.startSim(["--firmware-key", key, "--ota-install-seconds", "0.2"])
                try await Self.online(h, ids)
                // A bulletin for LOA-001 in three minutes (inside the 10-minute lead: it is on the speaker's agenda now).
                let start = Date(timeIntervalSince1970: (h.clock.now().timeIntervalSince1970 + 180).rounded(.up))
                let (sst, sout) = try await h.run("wardfleet", ["broadcast", "schedule", "--as", "lan", "--title", "Bản tin y tế", "--media", sha,
                                                                "--speakers", "LOA-001", "--day", Self.calendar.localDay(of: start).description,
                                                                "--time", Self.calendar.localTime(of: start).description, "--db", h.dbPath, "--json"])
                try #require(sst == 0, "\(h.lastStderr) \(sout)")
                try await h.waitUntil("the bulletin on LOA-001's agenda") {
                    try PlaybackRepository(h.db).entries(of: [(PlayKey(item: RealBrokerTests.Radio.itemID(sout), start: start), "LOA-001")])
                        .contains { $0.event == .received }
                }
                _ = try await Self.addImage(h, version: "2.0.0")
                let id = try await Self.campaign(h, version: "2.0.0", ["--waves", "rest", "--rate", "600", "--max-failures", "50",
                                                                       "--timeout", "600", "--busy-before", "600", "--busy-after", "30"])
                // The free speaker is updated; the one with the bulletin is held, its order never sent.
                try await h.waitUntil("LOA-002 updated", timeout: .seconds(90)) {
                    try Self.jobs(h, id).first { $0.deviceID == "LOA-002" }?.state == .succeeded
                }
                let held = try #require(try Self.jobs(h, id).first { $0.deviceID == "LOA-001" })
                #expect(held.state == .queued && held.attempts == 0 && held.sentAt == nil)
                #expect(try Self.firmware(h, "LOA-001") == "1.0.0")
                // Past the bulletin (and its margin) on the shared injected clock: now it is updated.
                let end = start.addingTimeInterval(duration)
                try h.setClock(to: end.addingTimeInterval(900))
                try await h.waitUntil("LOA-001 updated after the bulletin", timeout: .seconds(90)) {
                    try Self.jobs(h, id).first { $0.deviceID == "LOA-001" }?.state == .succeeded
                }
                let done = try #require(try Self.jobs(h, id).first { $0.deviceID == "LOA-001" })
                #expect((done.sentAt ?? .distantPast) >= end.addingTimeInterval(30), "sent at \(done.sentAt.map { "\($0)" } ?? "-"), the bulletin ends \(end)")
                #expect(try Self.firmware(h, "LOA-001") == "2.0.0")
            }
        }
    }
}
