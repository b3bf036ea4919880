import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing
import WardController
import WardDomain
import WardStorage

/// Issue 19 ("Field trust, part two"): relays played from their real stream (item 7), a seeded fleet
/// started again (item 10), the demo from any folder and what its end owes (items 11, 12).
extension RealBrokerTests {
    @Suite struct FieldTrustTwo {
        typealias Radio = RealBrokerTests.Radio

        /// A stand-in for an Icecast source on a free loopback port: `/live` answers 200 and sends audio
        /// bytes until the listener hangs up; each request's User-Agent is noted.
        static func withStreamSource(_ body: (_ url: String, _ agents: @Sendable () -> [String]) async throws -> Void) async throws {
            let agents = Mutex<[String]>([])
            let router = Router()
            router.get("/live") { request, _ -> Response in
                agents.withLock { $0.append(request.headers[.userAgent] ?? "") }
                return Response(status: .ok, headers: [.contentType: "audio/mpeg"], body: ResponseBody { writer in
                    for _ in 0..<1_200 {
                        try await writer.write(ByteBuffer(repeating: 0x55, count: 2_048))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                })
            }
            let port = Mutex(0)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
            let server = Task { try await app.runService() }
            defer { server.cancel() }
            let deadline = ContinuousClock.now + .seconds(20)
            while port.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let p = port.withLock { $0 }
            try #require(p != 0, "stream source listening")
            try await body("http://127.0.0.1:\(p)/live", { agents.withLock { $0 } })
        }

        /// A loopback port where nothing listens: bound, then released.
        static func deadPort() throws -> Int { try LocalBroker.freePort() }

        static func scheduleRelay(_ h: Harness, _ url: String, at start: Date) async throws -> (id: String, json: String) {
            let (st, out) = try await h.run("wardfleet", ["broadcast", "schedule", "--as", "lan", "--title", "Tiếp sóng Đài tỉnh",
                                                          "--stream", url, "--minutes", "1", "--communes", "cam-la", "--db", h.dbPath,
                                                          "--json"] + Radio.at(start))
            try #require(st == 0, "\(h.lastStderr)")
            return (try Radio.itemID(out), out)
        }

        /// Item 7: firmware-sim "played" a relay without opening it. Every speaker now fetches the stream.
        @Test("a relay is played from its stream: every speaker requests the source it relays")
        func relaySpeakersFetchTheStream() async throws {
            try await Self.withStreamSource { url, agents in
                try await Radio.world { h, _ in
                    try await h.startController()
                    try h.startSim([])
                    try await Radio.online(h, Radio.all)
                    let start = Radio.soon(h, 6)
                    let (id, json) = try await Self.scheduleRelay(h, url, at: start)
                    #expect(!json.contains("warnings"), "a source that answers gets no warning: \(json)")
                    let key = PlayKey(item: id, start: start)
                    try await Radio.wait(h, key, .started, on: Radio.all)
                    let heard = agents()
                    for s in Radio.all {
                        #expect(heard.contains { $0.contains("firmware-sim \(s)") }, "\(s) requested the stream: \(heard)")
                    }
                    let report = try PlaybackLogReport.build(h.db, day: Radio.calendar.localDay(of: start), item: id)
                    #expect(report.items.first?.reach == Reach(targeted: Radio.all.count, played: Radio.all.count))
                }
            }
        }

        /// Item 7: a relay of an address where nothing listens was logged 1/1 played, reach 100 %.
        @Test("a relay whose source does not answer warns when scheduled and is logged missed (stream_failed)")
        func relayOfADeadSourceIsMissed() async throws {
            try await Radio.world { h, _ in
                try await h.startController(["--close-grace", "2"])
                try h.startSim([])
                try await Radio.online(h, Radio.all)
                let start = Radio.soon(h, 6)
                let (id, json) = try await Self.scheduleRelay(h, "http://127.0.0.1:\(try Self.deadPort())/live", at: start)
                #expect(json.contains("\"warnings\""), "\(json)")
                #expect(h.lastStderr.contains("không mở được nguồn tiếp sóng") && h.lastStderr.contains("cannot be opened"), "\(h.lastStderr)")
                let key = PlayKey(item: id, start: start)
                try await Radio.wait(h, key, .missed, on: Radio.all)
                for r in try Radio.rows(h, item: id) {
                    #expect(r.outcome == .missed(.streamFailed, by: nil), "\(r.speaker): \(r.outcome)")
                }
                #expect(try !Radio.entries(h, item: id).contains { $0.event == .started })
                let report = try PlaybackLogReport.build(h.db, day: Radio.calendar.localDay(of: start), item: id)
                #expect(report.items.first?.reach == Reach(targeted: Radio.all.count, played: 0))
            }
        }

        /// Item 10: a seeded fleet started again reused its boot ids and counted from 1: the controller
        /// refused its readings as replayed for good. Every device must be heard again.
        @Test("a seeded fleet stopped and started again is heard again: new boots, readings accepted")
        func restartedSeededFleetIsHeardAgain() async throws {
            try await withHarness { h in
                let ids = ["KIOSK-1", "LOA-1", "AP-1", "CAM-1"]
                try await h.startController()
                let first = try h.startSim([])
                try await h.waitUntil("first run online and reading") {
                    try ids.allSatisfy { try h.state($0)?.isOnline == true && (h.status($0)?.liveness.lastSeq ?? 0) >= 3 }
                }
                let firstBoots = try ids.map { try #require(try h.status($0)?.liveness.bootID) }
                await first.terminate()
                try await h.waitUntil("first run offline") { try ids.allSatisfy { try h.state($0) == .offline } }
                try h.startSim([])  // the same seed
                try await h.waitUntil("second run online, its readings accepted") {
                    try ids.allSatisfy { id in
                        let s = try h.status(id)
                        return s?.liveness.state.isOnline == true && s?.liveness.lastSeq != nil
                            && !firstBoots.contains(s?.liveness.bootID ?? "") && (s?.liveness.lastSeq ?? 0) >= 2
                    }
                }
                #expect(try h.counter("rejected.replayed_sequence") == 0)
                #expect(try h.counter("rejected.stale_boot") == 0)
            }
        }

        /// Items 11 and 12: run from outside the repository the demo failed ('deploy/sample-commune.yaml:
        /// cannot read file'); and when a `--duration` demo ended, the offline speaker's play stayed pending.
        @Test("wardfleet demo runs from any folder, and its end closes every play whose time is over")
        func demoFromAnyFolderSettlesItsPlays() async throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-demo-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let log = dir.appendingPathComponent("demo.log").path
            // The bulletin plays 30 s after start; one speaker is offline from 15 s to 75 s (scripted).
            let demo = try ChildProcess.spawn("/bin/sh", ["-c", "cd '\(dir.path)' && exec '\(Harness.binary("wardfleet"))' demo"
                                                          + " --duration 50 --every 5 --http-port 0"],
                                              stdout: .file(log), stderr: .file(log))
            let status = await demo.wait(timeout: .seconds(240))
            if status == nil { await demo.terminate() }
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try #require(status == 0, "demo from \(dir.path): \(output.suffix(3000))")
            let db = try WardDatabase(path: dir.appendingPathComponent("demo-data/wardfleet.sqlite").path)
            let item = try #require(try BroadcastRepository(db).list().first, "the demo bulletin")
            let rows = PlaybackRow.fold(try PlaybackRepository(db).entries(item: item.id))
            #expect(rows.count >= 10, "\(rows.count) speakers")
            for r in rows { #expect(r.outcome != .pending, "\(r.speaker) still pending") }
            #expect(rows.contains { if case .missed = $0.outcome { true } else { false } }, "the offline speaker's play: \(rows.map(\.outcome))")
        }
    }
}
