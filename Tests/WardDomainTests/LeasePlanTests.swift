import Foundation
import Testing
@testable import WardDomain

@Suite struct LeasePlanTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let communes = (1...6).map { "xa-\($0)" }

    func lease(_ commune: String, _ node: String, expiresIn: TimeInterval = 5, released: Bool = false, acquired: TimeInterval = -60) -> (String, Lease) {
        ("commune:\(commune)", Lease(scope: "commune:\(commune)", node: node, epoch: 1, acquiredAt: now.addingTimeInterval(acquired),
                                     renewedAt: now, expiresAt: now.addingTimeInterval(expiresIn), releasedAt: released ? now : nil))
    }
    func nodes(_ ids: String..., draining: Set<String> = []) -> [NodeView] { ids.map { NodeView(id: $0, draining: draining.contains($0)) } }

    @Test func theShareIsCommunesOverActiveNodesRoundedUp() {
        #expect(LeasePlanner.share(communes: 6, activeNodes: 3) == 2)
        #expect(LeasePlanner.share(communes: 7, activeNodes: 3) == 3)
        #expect(LeasePlanner.share(communes: 6, activeNodes: 0) == 6)
    }

    @Test func aNodeTakesFreeCommunesUpToItsShareAndNoMore() {
        let plan = LeasePlanner.plan(me: "a", communes: communes, leases: [:], nodes: nodes("a", "b", "c"), now: now)
        #expect(plan.acquire.count == 2)
        #expect(plan.release.isEmpty)
        #expect(Set(plan.acquire).isSubset(of: Set(communes)))
    }

    @Test func nodesStartingTogetherTryDifferentCommunesFirst() {
        let a = LeasePlanner.plan(me: "a", communes: communes, leases: [:], nodes: nodes("a", "b", "c"), now: now).acquire
        let b = LeasePlanner.plan(me: "b", communes: communes, leases: [:], nodes: nodes("a", "b", "c"), now: now).acquire
        #expect(a != b)
    }

    @Test func anExpiredOrReleasedLeaseIsFreeAndALiveOneIsNot() {
        let leases = Dictionary(uniqueKeysWithValues: [
            lease("xa-1", "dead", expiresIn: -1), lease("xa-2", "b", released: true), lease("xa-3", "b"), lease("xa-4", "b"),
            lease("xa-5", "c"), lease("xa-6", "c"),
        ])
        let plan = LeasePlanner.plan(me: "a", communes: communes, leases: leases, nodes: nodes("a", "b", "c"), now: now)
        #expect(Set(plan.acquire) == ["xa-1", "xa-2"])
    }

    @Test func aDrainingNodeReleasesEverythingAndTakesNothing() {
        let leases = Dictionary(uniqueKeysWithValues: [lease("xa-1", "a"), lease("xa-2", "a")])
        let plan = LeasePlanner.plan(me: "a", communes: communes, leases: leases, nodes: nodes("a", "b", draining: ["a"]), now: now)
        #expect(plan.release == ["xa-1", "xa-2"])
        #expect(plan.acquire.isEmpty && !plan.wantsLeader)
    }

    @Test func aJoiningNodeGetsItsShareFromTheFullestNode() {
        // a holds four, b two; c joins: a is above the share of two while c is below it.
        let leases = Dictionary(uniqueKeysWithValues: [
            lease("xa-1", "a", acquired: -100), lease("xa-2", "a", acquired: -90), lease("xa-3", "a", acquired: -10), lease("xa-4", "a", acquired: -5),
            lease("xa-5", "b"), lease("xa-6", "b"),
        ])
        let a = LeasePlanner.plan(me: "a", communes: communes, leases: leases, nodes: nodes("a", "b", "c"), now: now)
        #expect(a.release == ["xa-4", "xa-3"])  // the newest first
        let b = LeasePlanner.plan(me: "b", communes: communes, leases: leases, nodes: nodes("a", "b", "c"), now: now)
        #expect(b.release.isEmpty && b.acquire.isEmpty)
    }

    @Test func balancedHoldersReleaseNothing() {
        let leases = Dictionary(uniqueKeysWithValues: [
            lease("xa-1", "a"), lease("xa-2", "a"), lease("xa-3", "b"), lease("xa-4", "b"), lease("xa-5", "c"), lease("xa-6", "c"),
        ])
        for me in ["a", "b", "c"] {
            let plan = LeasePlanner.plan(me: me, communes: communes, leases: leases, nodes: nodes("a", "b", "c"), now: now)
            #expect(plan.acquire.isEmpty && plan.release.isEmpty)
        }
    }

    @Test func theLowestLiveNodeTakesAFreeLeaderLeaseAndAHeldOneStaysWithItsHolder() {
        #expect(LeasePlanner.plan(me: "a", communes: communes, leases: [:], nodes: nodes("a", "b"), now: now).wantsLeader)
        #expect(!LeasePlanner.plan(me: "b", communes: communes, leases: [:], nodes: nodes("a", "b"), now: now).wantsLeader)
        let held = ["leader": Lease(scope: "leader", node: "b", epoch: 3, acquiredAt: now, renewedAt: now, expiresAt: now.addingTimeInterval(5),
                                    releasedAt: nil)]
        #expect(!LeasePlanner.plan(me: "a", communes: communes, leases: held, nodes: nodes("a", "b"), now: now).wantsLeader)
        #expect(LeasePlanner.plan(me: "b", communes: communes, leases: held, nodes: nodes("a", "b"), now: now).wantsLeader)
    }

    @Test func brokerMapsRefuseAmbiguityAndSendUnlistedCommunesToTheDefault() throws {
        let map = try BrokerMap(brokers: [.init(name: "bac", address: "10.0.0.1:1883", communes: ["xa-1"]),
                                          .init(name: "nam", address: "10.0.0.2:1883", communes: ["xa-2"])], defaultBroker: "nam")
        #expect(map.broker(of: "xa-1").name == "bac")
        #expect(map.broker(of: "xa-9").name == "nam")
        #expect(throws: BrokerMapError.self) {
            try BrokerMap(brokers: [.init(name: "bac", address: "a:1", communes: ["xa-1"]), .init(name: "nam", address: "b:1", communes: ["xa-1"])])
        }
        #expect(throws: BrokerMapError.self) { try BrokerMap(brokers: [.init(name: "bac", address: "a:1")], defaultBroker: "dong") }
        #expect(throws: BrokerMapError.self) { try BrokerMap(brokers: []) }
    }
}
