import Foundation
import MQTTClient
import Testing
import WardDomain
import WardStorage
@testable import WardController

/// What `wardfleet nodes` and `GET /api/v1/nodes` are built from, on a SQLite database (the same
/// tables as PostgreSQL): a node is alive within its lease duration, and a node reports the broker
/// links it really has, its API's included, also when it owns no commune.
@Suite struct ClusterViewTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)

    func database(communes: Bool = true) throws -> WardDatabase {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-cluster-view-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("c.sqlite").path)
        try PlaceRepository(db).upsert([Place(id: "qn", level: .province, name: "Quảng Ninh")] + (communes ? [
            Place(id: "an-phu", level: .commune, name: "Xã An Phú", parentID: "qn"),
            Place(id: "binh-an", level: .commune, name: "Xã Bình An", parentID: "qn"),
        ] : []))
        return db
    }

    @Test func aNodeIsAliveWithinItsLeaseDuration() throws {
        let db = try database()
        // No node: a single controller runs the database, and no commune is called unowned.
        let single = try ClusterView.read(db, now: now)
        #expect(!single.isCluster && single.unowned.isEmpty)

        let repo = ClusterRepository(db)
        // nut-1 renews a 30 s lease and beat 20 s ago: alive (a fixed 10 s would call it dead).
        try repo.heartbeat(node: "nut-1", apiURL: nil, startedAt: now - 600, brokers: [], at: now - 20)
        _ = try repo.acquire(ClusterRepository.communeScope("an-phu"), node: "nut-1", now: now - 20, duration: 30)
        // nut-2 holds no lease and beat 20 s ago: judged by the cluster's lease (30 s), alive too.
        try repo.heartbeat(node: "nut-2", apiURL: nil, startedAt: now - 600, brokers: [], at: now - 20)
        var view = try ClusterView.read(db, now: now)
        #expect(view.nodes.map(\.alive) == [true, true])
        #expect(view.nodes[0].communes.map(\.id) == ["an-phu"] && view.nodes[0].communes[0].leaseAgeS == 20)
        #expect(view.unowned.map(\.id) == ["binh-an"] && view.unowned[0].lastNode == nil)
        // Told explicitly: within 10 s.
        #expect(try ClusterView.read(db, now: now, liveWithin: 10).nodes.map(\.alive) == [false, false])
        // 31 s on, nut-1's lease has run out: both dead, both communes unowned, an-phu last with nut-1.
        view = try ClusterView.read(db, now: now + 11)
        #expect(view.nodes.map(\.alive) == [false, false])
        #expect(view.unowned.map(\.id) == ["an-phu", "binh-an"] && view.unowned[0].lastNode == "nut-1")
        // A user of binh-an sees both nodes, but only binh-an.
        view = try ClusterView.read(db, now: now, scope: ["binh-an"])
        #expect(view.nodes.count == 2 && view.nodes.allSatisfy(\.communes.isEmpty) && view.unowned.map(\.id) == ["binh-an"])
        #expect(view.text().contains("binh-an Xã Bình An") && !view.text().contains("an-phu"))
    }

    @Test func aNodeWithoutCommunesReportsItsOwnBrokerLinks() async throws {
        let db = try database(communes: false)
        let map = try BrokerMap(brokers: [.init(name: "bac", address: "127.0.0.1:1"), .init(name: "nam", address: "127.0.0.1:2")])
        let unit = ControllerConfiguration(databasePath: "", mqtt: MQTTConfiguration(host: "127.0.0.1", port: 1, clientID: "x"))
        var configuration = ClusterConfiguration(nodeID: "nut-1", brokers: map, unit: unit)
        // One renewal of a node that owns nothing (draining: it takes nothing, not even the leader lease).
        func beat() async throws {
            let node = ClusterNode(configuration, database: db, clock: ManualTimeSource(now))
            await node.drainAndStop()
            try await node.step()
        }
        // Without links of its own a node with no commune has nothing connected.
        try await beat()
        #expect(try ClusterRepository(db).nodes().first?.brokers.map(\.connected) == [false, false])
        // The API's publishers: up to bac, down to nam.
        configuration.brokerLink = { name in name == "bac" }
        try await beat()
        let links = try #require(try ClusterRepository(db).nodes().first?.brokers)
        #expect(links.map(\.name) == ["bac", "nam"] && links.map(\.connected) == [true, false] && links.map(\.communes) == [0, 0])
        #expect(try ClusterView.read(db, now: now).text().contains("broker bac 127.0.0.1:1: kết nối / connected, 0 xã / communes"))
    }
}
