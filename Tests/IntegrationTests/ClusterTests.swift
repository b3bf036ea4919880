import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WardController
import WardDomain
import WardStorage

extension RealBrokerTests {
    /// Several controller nodes on one PostgreSQL (the cluster issue's acceptance): a private
    /// PostgreSQL started by the test (initdb into a temp folder as an unprivileged user, free
    /// loopback port), two mosquitto brokers sharing six communes (brokers.yaml), three
    /// `wardfleet run --node-id` processes and one `firmware-sim` per broker. Shown, in order:
    /// the communes are spread two per node; a node SIGKILLed in the middle of a bulletin that
    /// plays in its commune has its communes taken over within a generous deadline (the measured
    /// seconds are printed), the takeover is recorded as an ownership gap, the commune's devices
    /// read unknown (never offline) across it and the play is logged exactly once to its end;
    /// every node's API answers the same; the killed node rejoins and a drained node hands its
    /// communes over cleanly (leases released, no gap, no unknown blip); the whole cluster stopped
    /// and started again reads unknown across its downtime; and the state history partitions time
    /// exactly for every device, checked in SQL on PostgreSQL.
    @Suite(.serialized) struct ClusterTests {
        static let brokerCommunes: [(name: String, communes: [String])] = [("bac", ["xa-1", "xa-2", "xa-3"]), ("nam", ["xa-4", "xa-5", "xa-6"])]
        static var communes: [String] { brokerCommunes.flatMap(\.communes) }
        static func number(_ commune: String) -> String { String(commune.dropFirst("xa-".count)) }
        static func speakers(_ commune: String) -> [String] { ["LOA-\(number(commune))-1", "LOA-\(number(commune))-2"] }
        static func devices(_ commune: String) -> [String] { speakers(commune) + ["CAM-\(number(commune))"] }
        static var allDevices: [String] { communes.flatMap(devices) }
        /// Devices' heartbeat: silence is noticed after 1.5 × (15 s), a margin a loaded 2-core machine keeps.
        static let heartbeat = 10.0
        static let leaseSeconds = 6.0
        /// The default status write-back (5 s), a short close grace so the drill ends soon, agendas a minute ahead.
        static let nodeArgs = ["--lease-seconds", "\(Int(leaseSeconds))", "--close-grace", "8", "--lead-minutes", "1", "--log-level", "info"]

        /// Each commune: one village with two loudspeaker clusters and a camera.
        static func fleet(_ communes: [String]) -> String {
            var y = "province:\n  id: qn\n  name: Tỉnh Quảng Ninh\n  communes:\n"
            for c in communes {
                let n = number(c)
                y += "    - id: \(c)\n      name: Xã Thử \(n)\n      villages:\n"
                y += "        - id: thon-\(n)\n          name: Thôn \(n)\n          sites:\n"
                y += "            - id: nvh-\(n)\n              name: Nhà văn hóa thôn \(n)\n              kind: cultural_house\n"
                y += "              devices:\n"
                for d in speakers(c) { y += "                - {id: \(d), class: speaker}\n" }
                y += "                - {id: CAM-\(n), class: camera}\n"
            }
            return y
        }

        @Test func threeNodesTwoBrokersSixCommunes() async throws {
            try #require(LocalPostgres.isAvailable, "PostgreSQL server programs are needed (deploy/install-deps.sh installs postgresql)")
            let w = try await ClusterWorld()
            do {
                try await exercise(w)
            } catch {
                await w.stop()
                throw error
            }
            await w.stop()
        }

        func exercise(_ w: ClusterWorld) async throws {
            // Registration, an approver with an API token, and a five-second bulletin in the media folder the
            // nodes share (killed mid-play, its owner leaves the play to end while the commune has no owner).
            try w.write("fleet.yaml", Self.fleet(Self.communes))
            _ = try await w.cli(["places", "import", w.file("fleet.yaml"), "--with-devices"])
            _ = try await w.cli(["users", "add", "lan", "--role", "approver"])
            let token = try await w.cli(["users", "token", "lan", "--label", "cluster test"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try ClusterWorld.wav(seconds: 5).write(to: URL(fileURLWithPath: w.file("ban-tin.wav")))
            let added = try await w.cli(["media", "add", w.file("ban-tin.wav"), "--title", "Bản tin thử", "--json", "--media-dir", w.mediaDir])
            let sha = try #require((try JSONSerialization.jsonObject(with: Data(added.utf8)) as? [String: Any])?["sha256"] as? String, "\(added)")

            // 1. Three nodes share six communes: two each, and one leader.
            let nodeIDs = ["n1", "n2", "n3"]
            for id in nodeIDs { try w.startNode(id) }
            try await w.waitUntil("every node owns 2 of the 6 communes", timeout: .seconds(90)) {
                let counts = try w.ownerCounts()
                let leader = try w.leader()
                return nodeIDs.allSatisfy { counts[$0] == 2 } && leader != nil
            }
            let initial = try w.owners()
            print("cluster: ownership \(initial.sorted { $0.key < $1.key }.map { "\($0.key)→\($0.value)" }.joined(separator: ", ")), leader \(try w.leader() ?? "-")")
            let listed = try await w.cli(["nodes", "list", "--json"])
            let view = try #require(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any], "\(listed)")
            let viewNodes = (view["nodes"] as? [[String: Any]]) ?? []
            #expect(viewNodes.map { $0["id"] as? String ?? "" }.sorted() == nodeIDs, "\(listed)")
            for n in viewNodes {
                #expect((n["communes"] as? [[String: Any]])?.count == 2 && n["alive"] as? Bool == true, "wardfleet nodes list: \(n)")
                let links = (n["brokers"] as? [[String: Any]]) ?? []
                #expect(links.map { $0["name"] as? String ?? "" }.sorted() == ["bac", "nam"], "each node reports both broker links: \(n)")
            }
            #expect((view["unowned"] as? [Any])?.isEmpty == true, "\(listed)")

            // 2. Devices on two brokers, one simulator per broker with only that broker's communes.
            for b in Self.brokerCommunes {
                try w.write("sim-\(b.name).yaml", Self.fleet(b.communes))
                try w.startSim(broker: b.name)
            }
            try await w.waitUntil("all \(Self.allDevices.count) devices online", timeout: .seconds(90)) {
                let s = try HealthQueries(w.db).statuses()
                return Self.allDevices.allSatisfy { s[$0]?.liveness.state == .ok }
            }
            try await w.expectSameAPIAnswers(from: nodeIDs, token: token, devices: Self.allDevices)

            // 3. A bulletin plays in a commune of the node that is then killed, mid-play.
            let commune = "xa-1"
            let victim = try #require(initial[commune])
            let victimCommunes = initial.filter { $0.value == victim }.map(\.key).sorted()
            let survivors = nodeIDs.filter { $0 != victim }
            let startAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 10).rounded(.up))
            let cal = LocalCalendar.vietnam
            let scheduled = try await w.cli(["broadcast", "schedule", "--as", "lan", "--title", "Bản tin trước sự cố", "--media", sha,
                                             "--communes", commune, "--day", cal.localDay(of: startAt).description,
                                             "--time", cal.localTime(of: startAt).description, "--json", "--media-dir", w.mediaDir])
            let item = try #require(((try JSONSerialization.jsonObject(with: Data(scheduled.utf8)) as? [String: Any])?["item"] as? [String: Any])?["id"] as? String,
                                    "\(scheduled)")
            try await w.waitUntil("both speakers of \(commune) started the bulletin", timeout: .seconds(60)) {
                Set(try w.playback(item).filter { $0.event == "started" }.map(\.speaker)) == Set(Self.speakers(commune))
            }
            let gapsBefore = try w.gaps().count
            w.nodes[victim]!.send(SIGKILL)
            let killedAt = ContinuousClock.now, killedWall = Date()
            _ = await w.nodes[victim]!.wait(timeout: .seconds(10))
            // Mid-play: nothing closed yet (the dead node writes nothing more, and nobody else owns the commune yet).
            let atKill = try w.playback(item)
            #expect(!atKill.contains { ["finished", "interrupted", "missed"].contains($0.event) }, "killed mid-play: \(atKill)")
            print("cluster: SIGKILL \(victim) (owner of \(victimCommunes.joined(separator: ", "))) while \(item) plays in \(commune)")

            // 4. Its communes are taken over by the others within the (generous) deadline.
            var takenAfter: [String: Double] = [:]
            try await w.waitUntil("\(victim)'s communes taken over", timeout: .seconds(60)) {
                let owners = try w.owners()
                for c in victimCommunes where takenAfter[c] == nil {
                    if let o = owners[c], o != victim { takenAfter[c] = Self.seconds(ContinuousClock.now - killedAt) }
                }
                return takenAfter.count == victimCommunes.count
            }
            print("cluster: takeover after SIGKILL (lease \(Int(Self.leaseSeconds)) s): "
                  + takenAfter.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2f", $0.value)) s" }.joined(separator: ", "))
            let afterKill = try w.owners()
            #expect(victimCommunes.allSatisfy { afterKill[$0].map(survivors.contains) == true }, "\(afterKill)")

            // The takeover is an ownership gap from the dead node's last renewal to the takeover.
            let gaps = try w.gaps().dropFirst(gapsBefore)
            #expect(gapsBefore == 0, "no gap before the kill (start-up moves communes by hand-over only)")
            #expect(gaps.map(\.communeID).sorted() == victimCommunes, "\(gaps)")
            for g in gaps {
                #expect(g.previousNode == victim && survivors.contains(g.nextNode) && g.end > g.start, "\(g)")
                print("cluster: ownership gap \(g.communeID) \(victim)→\(g.nextNode): \(String(format: "%.2f", g.end.timeIntervalSince(g.start))) s without an owner")
            }

            // The play is logged exactly once to its end: the speakers' reports made while nobody
            // listened waited in the commune's broker session for the next owner.
            try await w.waitUntil("every speaker's play of \(item) closed", timeout: .seconds(90)) {
                let lines = try w.playback(item)
                return Self.speakers(commune).allSatisfy { s in lines.contains { $0.speaker == s && ["finished", "interrupted", "missed"].contains($0.event) } }
            }
            let lines = try w.playback(item)
            for s in Self.speakers(commune) {
                let mine = lines.filter { $0.speaker == s }
                let events = mine.map(\.event)
                #expect(Set(mine.map(\.start)).count == 1, "one play: \(mine)")
                #expect(events.filter { $0 == "scheduled" }.count == 1, "\(s): \(events)")
                #expect(events.filter { $0 == "started" }.count == 1, "\(s): \(events)")
                #expect(events.filter { ["finished", "interrupted", "missed"].contains($0) } == ["finished"], "\(s) played through once: \(events)")
            }
            for f in try w.playbackTimes(item, event: "finished") {
                print("cluster: \(f.speaker) finished at +\(String(format: "%.2f", f.at.timeIntervalSince(killedWall))) s after the kill, logged at +\(String(format: "%.2f", f.recorded.timeIntervalSince(killedWall))) s")
            }
            let starts = w.journalStarts(item: item)
            #expect(Self.speakers(commune).allSatisfy { starts[$0]?.count == 1 }, "each speaker started the play once: \(starts)")

            // Every device is heard again; the victim's devices were unknown across the gap, never offline.
            try await w.waitUntil("all devices online after the takeover", timeout: .seconds(60)) {
                let s = try HealthQueries(w.db).statuses()
                return Self.allDevices.allSatisfy { s[$0]?.liveness.state == .ok }
            }
            let history = try w.intervals()
            for g in gaps {
                for d in Self.devices(g.communeID) {
                    let h = history[d] ?? []
                    #expect(!h.contains { $0.state == "offline" }, "\(d) never offline: \(h)")
                    // Online while its owner lived (up to its last renewal, or later when heard later), then
                    // unknown from there through the takeover until heard again.
                    let i = h.firstIndex { $0.state == "unknown" && $0.start <= g.end.unixMillis && ($0.end ?? .max) >= g.end.unixMillis }
                    #expect(i.map { h[$0].start >= g.start.unixMillis && $0 > 0 && h[$0 - 1].state == "ok" } == true,
                            "\(d) ok until the gap, unknown across it \(g.start.unixMillis)…\(g.end.unixMillis): \(h)")
                }
            }
            for c in Self.communes where !victimCommunes.contains(c) {
                for d in Self.devices(c) {
                    #expect((history[d] ?? []).map(\.state) == ["unknown", "ok"], "\(d): untouched by the takeover: \(history[d] ?? [])")
                }
            }
            try await w.expectSameAPIAnswers(from: survivors, token: token, devices: Self.allDevices)

            // 5. The killed node comes back and gets its share by hand-over; then a drained node
            //    hands everything over. Neither leaves a gap or a blip in any device's history.
            let settled = Date()
            let intervalsBefore = try w.intervalCount()
            try w.startNode(victim)
            try await w.waitUntil("\(victim) rejoined: 2 communes each again", timeout: .seconds(90)) {
                let counts = try w.ownerCounts()
                return nodeIDs.allSatisfy { counts[$0] == 2 }
            }
            let rejoined = try w.owners()
            print("cluster: after \(victim) rejoined: \(rejoined.sorted { $0.key < $1.key }.map { "\($0.key)→\($0.value)" }.joined(separator: ", "))")

            let drained = survivors[0]
            let drainedCommunes = rejoined.filter { $0.value == drained }.map(\.key).sorted()
            let others = nodeIDs.filter { $0 != drained }
            let drainedAt = Date()
            _ = try await w.cli(["nodes", "drain", drained])
            var releasedSeen = Set<String>()
            try await w.waitUntil("\(drained) drained: its communes on the other two", timeout: .seconds(60)) {
                for l in try ClusterRepository(w.db).leases() where l.node == drained && l.releasedAt != nil { releasedSeen.insert(l.scope) }
                let counts = try w.ownerCounts()
                return counts[drained] == nil && others.allSatisfy { counts[$0] == 3 }
            }
            let afterDrain = try w.owners()
            print("cluster: after draining \(drained): \(afterDrain.sorted { $0.key < $1.key }.map { "\($0.key)→\($0.value)" }.joined(separator: ", "))"
                  + " (released leases seen: \(releasedSeen.sorted()))")
            #expect(drainedCommunes.allSatisfy { afterDrain[$0].map(others.contains) == true }, "\(afterDrain)")
            let allGaps = try w.gaps()
            #expect(allGaps.count == gapsBefore + gaps.count, "a hand-over leaves no ownership gap: \(allGaps)")
            let drainedLog = w.log(drained)
            for c in drainedCommunes {
                #expect(drainedLog.split(separator: "\n").contains { $0.contains("commune handed over") && $0.contains("commune=\(c)") },
                        "\(drained) logged handing \(c) over")
            }
            // The leases it held were released (hand-over), then taken at a new epoch by the others.
            let leases = try ClusterRepository(w.db).leases()
            for c in drainedCommunes {
                let l = try #require(leases.first { $0.scope == ClusterRepository.communeScope(c) })
                #expect(l.node != drained && l.acquiredAt >= drainedAt, "\(l)")
            }
            // Every device of the drained communes is heard by its new owner, with nothing in its history since.
            try await w.waitUntil("the drained communes' devices heard by their new owners", timeout: .seconds(60)) {
                let s = try HealthQueries(w.db).statuses()
                let moved = try ClusterRepository(w.db).leases().filter { drainedCommunes.map(ClusterRepository.communeScope).contains($0.scope) }
                let takenAt = moved.map(\.acquiredAt).max() ?? Date()
                return drainedCommunes.flatMap(Self.devices).allSatisfy { (s[$0]?.liveness.lastHeard ?? .distantPast) > takenAt.addingTimeInterval(1) }
            }
            let lateChanges = try w.intervals().mapValues { $0.filter { $0.start >= settled.unixMillis } }.filter { !$0.value.isEmpty }
            #expect(lateChanges.isEmpty, "no device changed state through the rejoin and the drain: \(lateChanges)")
            #expect(try w.intervalCount() == intervalsBefore)
            let drainedView = try await w.cli(["nodes", "list", "--json"])
            let dv = (try JSONSerialization.jsonObject(with: Data(drainedView.utf8)) as? [String: Any])?["nodes"] as? [[String: Any]] ?? []
            let dn = dv.first { $0["id"] as? String == drained }
            #expect(dn?["draining"] as? Bool == true && (dn?["communes"] as? [Any])?.isEmpty == true && dn?["leader"] as? Bool == false, "\(drainedView)")
            #expect(try w.leader().map(others.contains) == true, "the leader lease is on a node in service")
            // A drained node still serves the API, and answers as the others do.
            try await w.expectSameAPIAnswers(from: nodeIDs, token: token, devices: Self.allDevices)

            // 6. The whole cluster stopped cleanly (every lease released), down for longer than a lease
            //    (the experiment's deliberate downtime), and started again: nobody listened in between,
            //    so every device reads unknown from its commune's release until heard again, never offline,
            //    and each commune's silence is an ownership gap from its release.
            await withTaskGroup(of: Void.self) { group in
                for id in nodeIDs { group.addTask { [node = w.nodes[id]!] in await node.terminate(grace: .seconds(30)) } }
            }
            let stopped = try ClusterRepository(w.db).leases().filter { $0.scope.hasPrefix("commune:") }
            #expect(stopped.count == Self.communes.count && stopped.allSatisfy { $0.releasedAt != nil }, "a clean stop releases every commune: \(stopped)")
            let gapsBeforeRestart = try w.gaps().count
            try await Task.sleep(for: .seconds(Self.leaseSeconds + 4))  // the cluster is down: the experiment, not a wait for a condition
            for id in nodeIDs { try w.startNode(id) }
            try await w.waitUntil("the restarted cluster owns 2 communes per node", timeout: .seconds(90)) {
                let counts = try w.ownerCounts()
                return nodeIDs.allSatisfy { counts[$0] == 2 }
            }
            try await w.waitUntil("all devices online after the restart", timeout: .seconds(60)) {
                let s = try HealthQueries(w.db).statuses()
                return Self.allDevices.allSatisfy { s[$0]?.liveness.state == .ok }
            }
            let downtime = Array(try w.gaps().dropFirst(gapsBeforeRestart))
            #expect(downtime.map(\.communeID).sorted() == Self.communes, "one gap per commune for the downtime: \(downtime)")
            let after = try w.intervals()
            for g in downtime {
                let released = try #require(stopped.first { $0.scope == ClusterRepository.communeScope(g.communeID) }?.releasedAt)
                #expect(g.start.unixMillis == released.unixMillis, "the gap starts at the release: \(g)")
                for d in Self.devices(g.communeID) {
                    let h = after[d] ?? []
                    #expect(!h.contains { $0.state == "offline" }, "\(d) never offline: \(h)")
                    #expect(h.contains { $0.state == "unknown" && $0.start == g.start.unixMillis && ($0.end ?? .max) >= g.end.unixMillis },
                            "\(d) unknown from its commune's release \(g.start.unixMillis) past the restart \(g.end.unixMillis): \(h)")
                }
            }
            print("cluster: restarted after \(String(format: "%.1f", downtime.map { $0.end.timeIntervalSince($0.start) }.max() ?? 0)) s down; every device unknown across it")

            // 7. The records, in SQL on PostgreSQL: each device's history partitions time exactly
            //    (no overlap, no gap, one open interval, the last); no play line twice.
            try w.checkInvariants(devices: Self.allDevices)
            for id in nodeIDs {
                let log = w.log(id)
                #expect(!log.contains("storage write failed") && !log.contains("commune unit failed") && !log.contains("lease renewal failed"),
                        "\(id) log: \(log.suffix(3000))")
            }
        }

        static func seconds(_ d: Duration) -> Double {
            Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
    }
}

/// The cluster's world: a private PostgreSQL, two brokers, the nodes and simulators as child processes.
final class ClusterWorld: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    let postgres: LocalPostgres
    let url: String
    let db: WardDatabase
    let brokers: [String: LocalBroker]
    let dir: URL
    var nodes: [String: ChildProcess] = [:]
    var ports: [String: Int] = [:]
    var sims: [ChildProcess] = []

    init() async throws {
        postgres = try LocalPostgres()
        let location = try postgres.createDatabase("cluster")
        url = postgres.url(database: location.database)
        db = try WardDatabase(postgres: location)
        var brokers: [String: LocalBroker] = [:]
        for b in RealBrokerTests.ClusterTests.brokerCommunes { brokers[b.name] = try await LocalBroker.start() }
        self.brokers = brokers
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-cluster-drill-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("media"), withIntermediateDirectories: true)
        let map = RealBrokerTests.ClusterTests.brokerCommunes.map {
            "  - {name: \($0.name), address: 127.0.0.1:\(brokers[$0.name]!.port), communes: [\($0.communes.joined(separator: ", "))]}"
        }
        try write("brokers.yaml", "brokers:\n" + map.joined(separator: "\n") + "\ndefault: bac\n")
    }

    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func write(_ name: String, _ text: String) throws { try text.write(toFile: file(name), atomically: true, encoding: .utf8) }
    var mediaDir: String { file("media") }
    func log(_ node: String) -> String { (try? String(contentsOfFile: file("node-\(node).log"), encoding: .utf8)) ?? "" }

    /// Runs `wardfleet args… --db URL` to completion; fails the test unless it succeeds. Its stdout.
    func cli(_ args: [String]) async throws -> String {
        try? FileManager.default.removeItem(atPath: file("cli.log"))
        let c = try ChildProcess.spawn(Harness.binary("wardfleet"), args + ["--db", url], stdout: .pipe, stderr: .file(file("cli.log")))
        let out = String(decoding: c.output!.readDataToEndOfFile(), as: UTF8.self)
        let status = await c.wait(timeout: .seconds(60)) ?? -1
        let err = (try? String(contentsOfFile: file("cli.log"), encoding: .utf8)) ?? ""
        try #require(status == 0, "wardfleet \(args.joined(separator: " ")): \(err)")
        return out
    }

    /// `wardfleet run --node-id ID` on its own HTTP port (the same one when it starts again).
    func startNode(_ id: String, _ extra: [String] = []) throws {
        let port = try ports[id] ?? LoopbackPort.free()
        ports[id] = port
        nodes[id] = try ChildProcess.spawn(
            Harness.binary("wardfleet"),
            ["run", "--node-id", id, "--db", url, "--brokers", file("brokers.yaml"), "--http-host", "127.0.0.1", "--http-port", "\(port)",
             "--media-dir", mediaDir] + RealBrokerTests.ClusterTests.nodeArgs + extra,
            stdout: .file(file("node-\(id).log")), stderr: .file(file("node-\(id).log")))
    }

    func startSim(broker: String) throws {
        sims.append(try ChildProcess.spawn(
            Harness.binary("firmware-sim"),
            ["run", "--file", file("sim-\(broker).yaml"), "--broker", "127.0.0.1:\(brokers[broker]!.port)",
             "--heartbeat", "\(RealBrokerTests.ClusterTests.heartbeat)", "--seed", "7", "--exit-with-parent", "--journal", file("journal-\(broker).jsonl")],
            stdout: .file(file("sim-\(broker).log")), stderr: .file(file("sim-\(broker).log"))))
    }

    /// Polls `condition` until it holds; fails the test with `what` and the nodes' log tails at the deadline.
    func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let tails = nodes.keys.sorted().map { "--- \($0):\n\(log($0).suffix(1500))" }.joined(separator: "\n")
        Issue.record("timed out waiting for: \(what)\n\(tails)")
        throw CancellationError()
    }

    // MARK: what the database says

    /// Commune → the node holding its lease now.
    func owners() throws -> [String: String] {
        let now = Date()
        var out: [String: String] = [:]
        for l in try ClusterRepository(db).leases() where l.scope.hasPrefix("commune:") && l.isHeld(at: now) {
            out[String(l.scope.dropFirst("commune:".count))] = l.node
        }
        return out
    }
    func ownerCounts() throws -> [String: Int] {
        let o = try owners()
        guard o.count == RealBrokerTests.ClusterTests.communes.count else { return [:] }
        return Dictionary(grouping: o.values, by: { $0 }).mapValues(\.count)
    }
    func leader() throws -> String? {
        try ClusterRepository(db).leases().first { $0.scope == ClusterRepository.leaderScope && $0.isHeld(at: Date()) }?.node
    }
    func gaps() throws -> [OwnershipGap] { try ClusterRepository(db).gaps(since: .distantPast) }

    struct Line: CustomStringConvertible {
        var speaker: String, event: String, start: Int64
        var description: String { "\(speaker) \(event) @\(start)" }
    }
    func playback(_ item: String) throws -> [Line] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT speaker_id, event, scheduled_start FROM playback_log WHERE item_id = ? ORDER BY id", arguments: [item]).map {
                Line(speaker: $0["speaker_id"], event: $0["event"], start: $0["scheduled_start"])
            }
        }
    }

    /// When each speaker's `event` for `item` happened (its report) and when it was stored.
    func playbackTimes(_ item: String, event: String) throws -> [(speaker: String, at: Date, recorded: Date)] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT speaker_id, at, recorded_at FROM playback_log WHERE item_id = ? AND event = ? ORDER BY speaker_id",
                                arguments: [item, event]).map {
                ($0["speaker_id"], Date(timeIntervalSince1970: Double($0["at"] as Int64) / 1000), Date(timeIntervalSince1970: Double($0["recorded_at"] as Int64) / 1000))
            }
        }
    }

    struct Interval: CustomStringConvertible {
        var state: String, start: Int64, end: Int64?
        var description: String { "\(state) \(start)→\(end.map(String.init) ?? "…")" }
    }
    /// Every device's state history, oldest first.
    func intervals() throws -> [String: [Interval]] {
        try db.store.read { db in
            var out: [String: [Interval]] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT device_id, state, started_at, ended_at FROM state_intervals ORDER BY device_id, started_at, id") {
                out[r["device_id"], default: []].append(Interval(state: r["state"], start: r["started_at"], end: r["ended_at"]))
            }
            return out
        }
    }
    func intervalCount() throws -> Int {
        try db.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM state_intervals") ?? -1 }
    }

    /// Per speaker, the distinct start times it reported for `item` (the simulators' acknowledged reports).
    func journalStarts(item: String) -> [String: Set<Int64>] {
        // One journal per simulator (each creates its own file).
        let text = brokers.keys.map { (try? String(contentsOfFile: file("journal-\($0).jsonl"), encoding: .utf8)) ?? "" }.joined()
        var out: [String: Set<Int64>] = [:]
        for line in text.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["event"] as? String == "started",
                  let device = o["device"] as? String, let play = o["play"] as? String, play.hasPrefix(item + "@"),
                  let ts = (o["ts"] as? NSNumber)?.int64Value else { continue }
            out[device, default: []].insert(ts)
        }
        return out
    }

    /// GET /api/v1/devices with the token from each node's port: the same devices and states from all, all online.
    func expectSameAPIAnswers(from ids: [String], token: String, devices: [String]) async throws {
        var last: [String: [String: String]] = [:]
        try await waitUntil("the same /api/v1/devices answer from \(ids.joined(separator: ", "))", timeout: .seconds(30)) {
            last = [:]
            for id in ids {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(ports[id]!)/api/v1/devices")!)
                request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                request.timeoutInterval = 10
                let (body, response) = try await URLSession.shared.data(for: request)
                guard (response as? HTTPURLResponse)?.statusCode == 200,
                      let list = try JSONSerialization.jsonObject(with: body) as? [[String: Any]] else { return false }
                last[id] = Dictionary(uniqueKeysWithValues: list.compactMap { d in (d["id"] as? String).map { ($0, d["state"] as? String ?? "?") } })
            }
            let answers = ids.compactMap { last[$0] }
            return answers.count == ids.count && answers.allSatisfy { $0 == answers[0] }
                && Set(answers[0].keys) == Set(devices) && answers[0].values.allSatisfy { $0 == "ok" }
        }
        print("cluster: \(ids.joined(separator: ", ")) answer /api/v1/devices alike: \(last[ids[0]]?.count ?? 0) devices, all ok")
    }

    /// The drill's SQL invariants (CrashTests), on PostgreSQL.
    func checkInvariants(devices: [String]) throws {
        let problems = try stateHistoryProblems(db, devices: devices)
        try db.store.read { db in
            #expect(problems.isEmpty, "state history: \(problems.prefix(20))")
            // The same in one query: per device, consecutive intervals meet exactly.
            let seams = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM (
                    SELECT ended_at, lead(started_at) OVER (PARTITION BY device_id ORDER BY started_at, id) AS next_start
                    FROM state_intervals) AS t
                WHERE next_start IS NOT NULL AND (ended_at IS NULL OR ended_at <> next_start)
                """) ?? -1
            #expect(seams == 0, "intervals that do not meet the next one exactly: \(seams)")
            let twice = try SQLRow.fetchAll(db, sql: """
                SELECT item_id, scheduled_start, speaker_id, event, count(*) AS n FROM playback_log
                GROUP BY item_id, scheduled_start, speaker_id, event HAVING count(*) > 1
                """)
            #expect(twice.isEmpty, "playback lines logged twice: \(twice.count)")
        }
    }

    /// A mono 16-bit PCM WAV tone.
    static func wav(seconds: Double, rate: Int = 16_000) -> Data {
        let samples = (0..<Int(seconds * Double(rate))).map { i in Int16(8_000 * sin(2 * Double.pi * 440 * Double(i) / Double(rate))) }
        var d = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
        d.append(contentsOf: Array("RIFF".utf8)); u32(36 + samples.count * 2); d.append(contentsOf: Array("WAVE".utf8))
        d.append(contentsOf: Array("fmt ".utf8)); u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16)
        d.append(contentsOf: Array("data".utf8)); u32(samples.count * 2)
        for s in samples { withUnsafeBytes(of: s.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    func stop() async {
        await withTaskGroup(of: Void.self) { group in
            for s in sims { group.addTask { await s.terminate(grace: .seconds(10)) } }
        }
        await withTaskGroup(of: Void.self) { group in
            for n in nodes.values { group.addTask { await n.terminate(grace: .seconds(15)) } }
        }
        for b in brokers.values { b.stop() }
        db.store.close()
        postgres.stop()
        if ProcessInfo.processInfo.environment["WARDFLEET_KEEP_TEST_DIR"] == nil { try? FileManager.default.removeItem(at: dir) }
    }
}
