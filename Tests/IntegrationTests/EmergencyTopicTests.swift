import Foundation
import MQTTClient
import Synchronization
import Testing
import WardController
import WardDomain
import WardProtocol
import WardStorage

/// Issue 16 item 5, end to end: an emergency goes out on the commune's topic and every speaker's
/// agenda. A device written from docs/protocol.md alone (a plain MQTT client sending literal JSON)
/// plays it from the commune topic, which is all it listens to; old firmware gets it from its
/// agenda; a speaker offline when it was called finds it in its agenda on return; a speaker it is
/// not for does nothing; a cancellation stops it everywhere.
extension RealBrokerTests.Radio {
    /// Everything the raw device hears on its commune's emergency topic, as raw JSON objects.
    final class RawEar: Sendable {
        let heard = Mutex<[[UInt8]]>([])
        func all() -> [[String: Any]] {
            heard.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
        }
    }

    @Test("an emergency reaches its targets through the commune topic, offline speakers on return, and a cancel stops it")
    func emergencyThroughTheCommuneTopic() async throws {
        try await Self.world { h, _ in
            // 40 s of audio: it still sounds when it is cancelled.
            let wav = h.file("canh-bao.wav")
            let ff = try ChildProcess.spawn(try #require(ChildProcess.locate("ffmpeg")),
                                            ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=40", "-y", wav])
            #expect(await ff.wait(timeout: .seconds(60)) == 0)
            let (st, out) = try await h.run("wardfleet", ["media", "add", wav, "--db", h.dbPath, "--json"])
            try #require(st == 0, "\(h.lastStderr)")
            let sha = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])["sha256"] as! String
            try await h.startController()
            try h.startSim(["--only", "LOA-UB"])                             // current firmware, not targeted
            let a2 = try h.startSim(["--only", "LOA-A2"])                    // current firmware, offline when it is called
            try h.startSim(["--only", "LOA-B1", "--no-emergency-topic"])     // older firmware: agenda only

            // LOA-A1 is a device built from the document: birth with `emergency_topic`, subscribed
            // to its `cmd` and its commune's `emergency` topic only (not even its agenda).
            let raw = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: h.broker.port, clientID: "LOA-A1"))
            defer { raw.disconnect() }
            let commune = "wardfleet/v1/cam-la/emergency"
            try raw.subscribe(commune, qos: 1)
            try raw.subscribe("wardfleet/v1/cam-la/LOA-A1/cmd", qos: 1)
            try await raw.connect()
            func send(_ kind: String, _ json: String, retained: Bool = false) throws {
                try raw.publish(MQTTMessage(topic: "wardfleet/v1/cam-la/LOA-A1/\(kind)", payload: Array(json.utf8), qos: 1, retained: retained))
            }
            let boot = "raw0000000000a1"
            try send("birth", #"{"v":1,"device":"LOA-A1","class":"speaker","model":"Loa tự viết","firmware":"1.0","capabilities":["ping","emergency_topic"],"heartbeat_s":30,"boot":"\#(boot)"}"#,
                     retained: true)
            try send("state", #"{"v":1,"device":"LOA-A1","state":"online","boot":"\#(boot)"}"#, retained: true)
            let ear = RawEar()
            let playedBy = Mutex<String?>(nil)
            let listening = Task {
                while let batch = await raw.messages.nextBatch() {
                    for m in batch where m.topic == commune {
                        guard let o = try? JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: Any] else { continue }
                        let payload = m.payload
                        ear.heard.withLock { $0.append(payload) }
                        // What the document says a speaker does with it (no WardFleet code on this side).
                        let only = o["speakers"] as? [String], but = o["except"] as? [String]
                        let forMe = only.map { $0.contains("LOA-A1") } ?? but.map { !$0.contains("LOA-A1") } ?? true
                        guard let play = o["play"] as? String, forMe || o["action"] as? String == "cancel" else { continue }
                        let ts = Int64(Date().timeIntervalSince1970 * 1000)
                        if o["action"] as? String == "play" {
                            playedBy.withLock { $0 = play }
                            try? send("playback", #"{"v":1,"device":"LOA-A1","boot":"\#(boot)","ts":\#(ts),"play":"\#(play)","event":"received","more":[{"v":1,"device":"LOA-A1","boot":"\#(boot)","ts":\#(ts),"play":"\#(play)","event":"started"}]}"#)
                        } else if playedBy.withLock({ $0 }) == play {
                            try? send("playback", #"{"v":1,"device":"LOA-A1","boot":"\#(boot)","ts":\#(ts),"play":"\#(play)","event":"interrupted","reason":"cancelled"}"#)
                        }
                    }
                }
            }
            defer { listening.cancel() }
            try await Self.online(h, Self.all)
            await a2.terminate()
            try await h.waitUntil("LOA-A2 offline") { try h.state("LOA-A2")?.isOnline == false }

            // The two villages: LOA-A1, LOA-A2 and LOA-B1; not LOA-UB (at the commune office).
            let (est, eout) = try await h.run("wardfleet", ["broadcast", "emergency", "--as", "lan", "--title", "Cảnh báo sạt lở đất",
                                                            "--media", sha, "--villages", "thon-cam-la,kp-yen-giang", "--db", h.dbPath, "--json"])
            try #require(est == 0, "\(h.lastStderr)")
            let item = try Self.itemID(eout)
            // The controller sees the new item on its next schedule check: wait for its lines.
            try await h.waitUntil("the emergency's plays scheduled") { try !Self.entries(h, item: item).isEmpty }
            let key = try #require(try Self.entries(h, item: item).first).key
            try await Self.wait(h, key, .started, on: ["LOA-A1", "LOA-B1"])

            // One commune message, as the document's table has it, for everyone but the commune office.
            let plays = ear.all().filter { $0["action"] as? String == "play" }
            try #require(plays.count == 1, "\(ear.all())")
            let m = plays[0]
            #expect(m["except"] as? [String] == ["LOA-UB"] && m["speakers"] == nil, "\(m)")
            #expect(m["play"] as? String == key.id && m["commune"] as? String == "cam-la" && m["v"] as? Int == 1)
            let doc = try ProtocolDoc.tables(String(contentsOf: ProtocolDoc.url, encoding: .utf8))
            let fields = Set(try #require(doc["emergency"]).flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
            #expect(Set(m.keys).isSubset(of: fields), "undocumented: \(Set(m.keys).subtracting(fields))")
            let entryFields = Set(try #require(doc["schedule"]).compactMap { $0.hasPrefix("plays[].") ? String($0.dropFirst(8)) : nil }
                .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "plays[].", with: "") } })
            let entry = try #require(m["entry"] as? [String: Any])
            #expect(Set(entry.keys).isSubset(of: entryFields), "entry fields not in plays[]: \(Set(entry.keys).subtracting(entryFields))")
            #expect(entry["level"] as? String == "emergency" && entry["play"] as? String == key.id)

            // LOA-A2 comes back (a new boot) while the emergency still runs: its agenda has it.
            try h.startSim(["--only", "LOA-A2", "--seed", "9"])
            try await Self.wait(h, key, .started, on: ["LOA-A2"])

            // The commune office's speaker heard the message and did nothing with it.
            #expect(Set(try Self.entries(h, item: item).map(\.speaker)) == ["LOA-A1", "LOA-A2", "LOA-B1"])
            #expect(try h.counter("rejected.unknown_play") == 0)

            // Cancelled: stopped on every speaker, the raw one through the commune topic alone.
            let (cst, _) = try await h.run("wardfleet", ["broadcast", "cancel", item, "--as", "lan", "--reason", "báo nhầm", "--db", h.dbPath])
            try #require(cst == 0, "\(h.lastStderr)")
            try await Self.wait(h, key, .interrupted, on: ["LOA-A1", "LOA-A2", "LOA-B1"])
            #expect(ear.all().contains { $0["action"] as? String == "cancel" && $0["play"] as? String == key.id })
            for r in try Self.rows(h, item: item) {
                #expect(r.outcome == .interrupted(.cancelled, by: nil), "\(r.speaker): \(r.outcome)")
            }
            #expect(try h.counter("rejected.unknown_play") == 0)
        }
    }
}
