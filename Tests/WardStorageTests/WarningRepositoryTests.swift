import FleetFile
import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// Issue 20: administrative unit codes in the places file and the store; warning sources, CAP alerts
/// (one per sender and identifier) and their targets, on both engines.
@Suite struct WarningRepositoryTests {
    let t0 = Date(timeIntervalSince1970: 1_788_656_400)

    static let yaml = """
        province:
          id: qn
          name: Tỉnh Quảng Ninh
          code: "22"
          communes:
            - id: xa-a
              name: Xã A
              code: "06733"
              villages:
                - id: thon-1
                  name: Thôn Một
                  code: 0673301
                  sites:
                    - {id: s-1, name: Cột loa thôn Một, kind: pole, lat: 21.01, lon: 107.30}
                - id: thon-2
                  name: Thôn Hai
            - id: xa-b
              name: Xã B
        """

    @Test func placesFilesCarryOptionalCodes() throws {
        let f = try FleetFileReader.parseYAML(Self.yaml, registeredAt: t0)
        let byID = Dictionary(uniqueKeysWithValues: f.places.map { ($0.id, $0) })
        #expect(byID["qn"]?.code == "22" && byID["xa-a"]?.code == "06733" && byID["thon-1"]?.code == "0673301")
        #expect(byID["thon-2"]?.code == nil && byID["xa-b"]?.code == nil && byID["s-1"]?.code == nil)
        let csv = """
            level,id,name,parent,kind,lat,lon,code
            province,qn,Tỉnh Quảng Ninh,,,,,22
            commune,xa-a,Xã A,qn,xã,,,06733
            village,thon-2,Thôn Hai,xa-a,,,,
            """
        let c = try FleetFileReader.parseCSV(csv, registeredAt: t0)
        #expect(c.places.map(\.code) == ["22", "06733", nil])
        // Old files, without the column, stay valid.
        let old = try FleetFileReader.parseCSV("level,id,name,parent\nprovince,qn,Quảng Ninh,\n", registeredAt: t0)
        #expect(old.places.first?.code == nil)
        #expect(throws: FleetFileError.self) {
            try FleetFileReader.parseCSV("level,id,name,parent,kind,code\nprovince,qn,Q,,,22 33\n", registeredAt: t0)
        }
        #expect(throws: FleetFileError.self) {
            try FleetFileReader.parseCSV("level,id,name,parent,kind,code\nprovince,qn,Q,,,\nsite,s,S,qn,pole,123\n", registeredAt: t0)
        }
        #expect(throws: FleetFileError.self) {
            try FleetFileReader.parseYAML("province: {id: qn, name: Q, code: \"mã-22\"}", registeredAt: t0)
        }
    }

    @Test(arguments: Backend.allCases) func codesAreStoredAndClearedOnReimport(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = PlaceRepository(db)
        _ = try repo.upsert(try FleetFileReader.parseYAML(Self.yaml, registeredAt: t0).places)
        #expect(try repo.tree()["xa-a"]?.code == "06733" && repo.tree()["thon-1"]?.code == "0673301")
        _ = try repo.upsert([Place(id: "xa-a", level: .commune, name: "Xã A", parentID: "qn")])
        #expect(try repo.tree()["xa-a"]?.code == nil)
    }

    func record(_ identifier: String, sender: String = "kttv@qn", at: Date, targets: WarningTargets = .none) -> WarningRecord {
        WarningRecord(sender: sender, identifier: identifier, sent: at, sourceUser: "kttv", status: .actual, msgType: .alert,
                      event: "Bão số 3", headline: "Bão đổ bộ", level: .emergency, risk: .five, mode: .live, expiresAt: at + 3600,
                      state: .active, receivedAt: at, targets: targets)
    }

    @Test(arguments: Backend.allCases) func alertsAreOnePerSenderAndIdentifierWithTheirTargets(_ backend: Backend) throws {
        let db = try backend.open()
        _ = try PlaceRepository(db).upsert(try FleetFileReader.parseYAML(Self.yaml, registeredAt: t0).places)
        let repo = WarningRepository(db)
        let targets = WarningTargets(communes: ["xa-a"], wholeCommunes: [], villages: ["thon-1"], sites: [],
                                     untargetable: [.init(placeID: "thon-2", level: .village, commune: "xa-a", reason: .noCoordinates),
                                                    .init(placeID: "xa-b", level: .commune, commune: "xa-b", reason: .noCode)])
        let (first, isNew) = try repo.record(record("A-1", at: t0, targets: targets), document: "<alert>Bão số 3</alert>")
        #expect(isNew && first.id > 0)
        let (again, isNewAgain) = try repo.record(record("A-1", at: t0 + 60), document: "<alert/>")
        #expect(!isNewAgain && again.id == first.id && again.receivedAt == t0)
        #expect(try repo.document(first.id) == "<alert>Bão số 3</alert>")
        // Another sender may use the same identifier.
        let (other, otherNew) = try repo.record(record("A-1", sender: "pcttt@qn", at: t0 + 120), document: "<alert/>")
        #expect(otherNew && other.id != first.id)

        let got = try repo.get(first.id)
        #expect(got == first)
        #expect(got.targets == targets && got.risk == .five && got.level == .emergency && got.event == "Bão số 3")
        #expect(try repo.find(sender: "kttv@qn", identifier: "A-1")?.id == first.id)
        #expect(try repo.list().map(\.id) == [other.id, first.id])
        #expect(try repo.list(communes: ["xa-a"]).map(\.id) == [first.id])
        #expect(try repo.list(communes: ["xa-b"]).isEmpty)

        var update = record("A-1-U", at: t0 + 300)
        update.msgType = .update
        update.references = [CAPReference(sender: "kttv@qn", identifier: "A-1", sent: CAPTime(date: t0, offset: 25_200))]
        let (u, _) = try repo.record(update, document: "<alert/>")
        try repo.setState(first.id, .replaced, replacedBy: u.id)
        try repo.setState(u.id, .active, bulletin: 42)
        #expect(try repo.get(first.id).state == .replaced && repo.get(first.id).replacedBy == u.id)
        #expect(try repo.get(u.id).bulletinID == 42 && repo.get(u.id).references == update.references)
        #expect(throws: WarningStoreError.unknown(999)) { try repo.setState(999, .cancelled) }
        #expect(throws: WarningStoreError.unknown(999)) { try repo.get(999) }
    }

    @Test(arguments: Backend.allCases) func sourcesKeepTheirSenders(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = WarningRepository(db)
        try repo.saveSource(WarningSource(user: "kttv", name: "Đài KTTV Quảng Ninh", senders: ["kttv@qn"], createdAt: t0, updatedAt: t0),
                            tokenHash: "h1")
        try repo.saveSource(WarningSource(user: "kttv", name: "Đài KTTV tỉnh Quảng Ninh", senders: ["kttv@qn", "kttv2@qn"], createdAt: t0 + 5,
                                          updatedAt: t0 + 10), tokenHash: "h2")
        let s = try #require(try repo.source(user: "kttv"))
        #expect(try repo.source(tokenHash: "h2") == s && repo.source(tokenHash: "h1") == nil)
        #expect(s.name == "Đài KTTV tỉnh Quảng Ninh" && s.senders == ["kttv@qn", "kttv2@qn"] && s.createdAt == t0 && s.updatedAt == t0 + 10)
        #expect(s.mayUse(sender: "kttv2@qn") && !s.mayUse(sender: "other@x"))
        #expect(throws: WarningStoreError.noSenders) {
            try repo.saveSource(WarningSource(user: "x", name: "X", senders: [], createdAt: t0, updatedAt: t0), tokenHash: "h3")
        }
        #expect(try repo.sources().map(\.user) == ["kttv"])
        try repo.deleteSource(user: "kttv")
        #expect(try repo.source(user: "kttv") == nil)
    }

    /// Issue 20, second part (v25): an alert's repetition plan, its plays (one per number), ended once.
    @Test(arguments: Backend.allCases) func plansAndPlaysAreKeptPerAlert(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = WarningRepository(db)
        let plan = RepetitionPlan(anchor: t0, interval: 1800, until: t0 + 7200)
        var w = record("P-1", at: t0)
        w.plan = plan
        let (a, _) = try repo.record(w, document: "<alert/>")
        let (b, _) = try repo.record(record("P-2", at: t0), document: "<alert/>")
        #expect(try repo.get(a.id).plan == plan && repo.get(b.id).plan == nil)
        try repo.setPlan(b.id, RepetitionPlan(anchor: t0 + 60, interval: nil, until: t0 + 600))
        #expect(try repo.get(b.id).plan == RepetitionPlan(anchor: t0 + 60, interval: nil, until: t0 + 600))

        #expect(try repo.recordPlay(WarningPlay(alertID: a.id, number: 1, kind: .play, itemID: "BT-a1", dueAt: t0, madeAt: t0)))
        #expect(try repo.recordPlay(WarningPlay(alertID: a.id, number: 2, kind: .play, itemID: "BT-a2", dueAt: t0 + 1800, madeAt: t0 + 1801)))
        // The same number twice is one play (a second controller, or a restart, changes nothing).
        #expect(try !repo.recordPlay(WarningPlay(alertID: a.id, number: 2, kind: .play, itemID: "BT-other", dueAt: t0 + 1800, madeAt: t0 + 1900)))
        #expect(try repo.plays(a.id).map(\.itemID) == ["BT-a1", "BT-a2"])
        #expect(try repo.play(item: "BT-a2")?.number == 2 && repo.play(item: "BT-other") == nil)
        let repeating = try repo.repeating()
        #expect(repeating.map(\.0.id) == [a.id, b.id] && repeating.first?.made == [1, 2] && repeating.last?.made == [])

        #expect(try repo.end(a.id, .cancelled, at: t0 + 2000, by: "hung"))
        #expect(try !repo.end(a.id, .cancelled, at: t0 + 2100, by: "other"))
        let ended = try repo.get(a.id)
        #expect(ended.state == .cancelled && ended.cancelledBy == "hung" && ended.plan?.cancelledAt == t0 + 2000)
        #expect(try repo.recordPlay(WarningPlay(alertID: a.id, number: 0, kind: .allClear, itemID: "BT-a0", dueAt: t0 + 2000, madeAt: t0 + 2001)))
        #expect(try repo.plays(a.id).map(\.kind) == [.allClear, .play, .play])
        #expect(try repo.repeating().map(\.0.id) == [b.id])

        // CAP Acks: only plays of sources with an Ack URL, until acknowledged.
        #expect(try repo.unacknowledged().isEmpty)
        try repo.saveSource(WarningSource(user: "kttv", name: "Đài KTTV", senders: ["kttv@qn"], createdAt: t0, updatedAt: t0,
                                          ackURL: "https://kttv.example/cap/ack"), tokenHash: "h")
        #expect(try repo.source(user: "kttv")?.ackURL == "https://kttv.example/cap/ack")
        let due = try repo.unacknowledged()
        #expect(due.map(\.0.number) == [1, 2, 0] && due.allSatisfy { $0.ackURL == "https://kttv.example/cap/ack" })
        try repo.markAcknowledged(due[0].0, at: t0 + 3000)
        #expect(try repo.unacknowledged().map(\.0.number) == [2, 0])
    }

    /// Issue 20, item 4 (v27): a priority warning's repetition as set at intake, the items communes scheduled from its
    /// inbox bulletin, and the repeats each made, once per approved item and number.
    @Test(arguments: Backend.allCases) func priorityRepeatsAreKeptPerApprovedItem(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = WarningRepository(db)
        var w = record("Q-1", at: t0)
        w.level = .priority
        let (a, _) = try repo.record(w, document: "<alert/>")
        let upstream = UpstreamRepository(db)
        let (b, _) = try upstream.receive(UpstreamBulletin(source: "cap", sourceID: "kttv@qn/Q-1", title: "Cảnh báo 2/5", level: .priority,
                                                           communes: ["xa-a", "xa-b"], programme: .media(sha256: String(repeating: "a", count: 64)),
                                                           duration: 20, receivedAt: t0))
        try repo.setState(a.id, .active, bulletin: b.id)
        #expect(try repo.alert(bulletin: b.id)?.id == a.id && repo.alert(bulletin: b.id + 1) == nil)
        // Without its repetition (risk level 1, or an emergency) it does not repeat where approved.
        #expect(try repo.approvedRepeating().isEmpty)
        try repo.setApprovedRepetition(a.id, interval: 3600, until: t0 + 12 * 3600)
        let none = try repo.approvedRepeating()
        #expect(none.map(\.alert.id) == [a.id] && none.first?.approved == [:] && none.first?.interval == 3600 && none.first?.until == t0 + 12 * 3600)

        // Two communes schedule it, each its own item.
        try upstream.handle(b.id, communes: ["xa-a"], .scheduled, item: "BT-x-aaaaaa", by: "hung", at: t0 + 60)
        try upstream.handle(b.id, communes: ["xa-b"], .scheduled, item: "BT-x-bbbbbb", by: "lan", at: t0 + 120)
        #expect(try repo.approvedItems(a.id) == ["BT-x-aaaaaa", "BT-x-bbbbbb"])
        #expect(try repo.approvedItemCommunes(a.id).map { "\($0.item) \($0.communes) \($0.at == t0 + 60)" }
                == ["BT-x-aaaaaa [\"xa-a\"] true", "BT-x-bbbbbb [\"xa-b\"] false"])
        func play(_ item: String, _ n: Int, _ id: String) -> WarningApprovedPlay {
            WarningApprovedPlay(alertID: a.id, approvedItem: item, number: n, itemID: id, dueAt: t0 + Double(n) * 3600, madeAt: t0 + Double(n) * 3600 - 120)
        }
        #expect(try repo.recordApprovedPlay(play("BT-x-aaaaaa", 2, "BT-a2")))
        #expect(try repo.recordApprovedPlay(play("BT-x-aaaaaa", 3, "BT-a3")))
        #expect(try repo.recordApprovedPlay(play("BT-x-bbbbbb", 2, "BT-b2")))
        // The same number of the same approved item twice is one repeat (a restart, or a second controller).
        #expect(try !repo.recordApprovedPlay(play("BT-x-aaaaaa", 3, "BT-other")))
        #expect(try repo.approvedPlays(a.id).map(\.play.itemID) == ["BT-a2", "BT-a3", "BT-b2"])
        #expect(try repo.approvedPlays(a.id).first == play("BT-x-aaaaaa", 2, "BT-a2"))
        #expect(try repo.approvedRepeating().first?.approved == ["BT-x-aaaaaa": [2, 3], "BT-x-bbbbbb": [2]])
        // Ended (Cancel, Update, expiry): no longer repeating; what it made is kept.
        #expect(try repo.end(a.id, .cancelled, at: t0 + 4000, by: "hung"))
        #expect(try repo.approvedRepeating().isEmpty && repo.approvedPlays(a.id).count == 3)
    }

}
