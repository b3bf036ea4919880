import Foundation
import Testing
@testable import WardDomain

/// Issue 20: CAP 1.2 alerts read, validated, targeted and turned into a broadcast plan.
enum CAPFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/cap")

    static func data(_ name: String) -> Data {
        (try? Data(contentsOf: folder.appendingPathComponent(name))) ?? Data()
    }

    static func alert(_ name: String) throws -> CAPAlert { try CAPXML.alert(from: data(name)) }

    /// Two communes of Quảng Ninh: xã A (code 22300) with four villages (one without coordinates) and a
    /// commune-level site; xã B (code 22345) with one village.
    static let tree = try! PlaceTree([
        Place(id: "qn", level: .province, name: "Quảng Ninh", code: "22"),
        Place(id: "xa-a", level: .commune, name: "Xã A", parentID: "qn", code: "22300"),
        Place(id: "thon-1", level: .village, name: "Thôn Một", parentID: "xa-a", code: "2230001"),
        Place(id: "s-1", level: .site, name: "Nhà văn hóa thôn Một", parentID: "thon-1", siteKind: .culturalHouse,
              coordinate: Coordinate(latitude: 21.010, longitude: 107.300)),
        Place(id: "thon-2", level: .village, name: "Thôn Hai", parentID: "xa-a"),
        Place(id: "s-2a", level: .site, name: "Chợ thôn Hai", parentID: "thon-2", siteKind: .market,
              coordinate: Coordinate(latitude: 21.040, longitude: 107.350)),
        Place(id: "s-2b", level: .site, name: "Cột loa thôn Hai", parentID: "thon-2", siteKind: .pole,
              coordinate: Coordinate(latitude: 21.020, longitude: 107.310)),
        Place(id: "thon-3", level: .village, name: "Thôn Ba", parentID: "xa-a", coordinate: Coordinate(latitude: 21.100, longitude: 107.400)),
        Place(id: "thon-4", level: .village, name: "Thôn Bốn", parentID: "xa-a"),
        Place(id: "s-4", level: .site, name: "Cột loa thôn Bốn", parentID: "thon-4", siteKind: .pole),
        Place(id: "s-ubnd", level: .site, name: "Trụ sở UBND xã A", parentID: "xa-a", siteKind: .communeOffice,
              coordinate: Coordinate(latitude: 21.015, longitude: 107.305)),
        Place(id: "xa-b", level: .commune, name: "Xã B", parentID: "qn", code: "22345"),
        Place(id: "thon-5", level: .village, name: "Thôn Năm", parentID: "xa-b", coordinate: Coordinate(latitude: 21.200, longitude: 107.500)),
        Place(id: "xa-c", level: .commune, name: "Xã C", parentID: "qn"),
    ])

    /// 2026-09-06 08:30 +07:00.
    static let morning = CAPTime.parse("2026-09-06T08:30:00+07:00")!.date
}

@Suite struct CAPTimeTests {
    @Test func readsZonesAndRefusesTimesWithoutOne() throws {
        let t = try #require(CAPTime.parse("2026-09-06T08:00:00+07:00"))
        #expect(t.date == Date(timeIntervalSince1970: 1_788_656_400))
        #expect(t.offset == 7 * 3600 && t.text == "2026-09-06T08:00:00+07:00")
        #expect(CAPTime.parse("2026-09-06T01:00:00-00:00")?.date == t.date)
        #expect(CAPTime.parse("2026-09-06T01:00:00Z")?.date == t.date)
        #expect(CAPTime.parse("2026-09-05T20:00:00-05:00")?.date == t.date)
        #expect(CAPTime.parse("2024-02-29T00:00:00+07:00") != nil)
        for bad in ["2026-09-06T08:00:00", "2026-09-06 08:00:00+07:00", "2026-09-06T08:00:00.5+07:00", "2026-02-30T08:00:00+07:00",
                    "2025-02-29T00:00:00+07:00", "2026-09-06T24:00:00+07:00", "2026-13-06T08:00:00+07:00", "06/09/2026",
                    "2026-09-06T08:00:00+15:00", "2026-09-06T08:00:00+07:60", "２０２６-09-06T08:00:00+07:00", ""] {
            #expect(CAPTime.parse(bad) == nil, "\(bad)")
        }
    }

    /// Round trip over many instants and offsets (the civil-date arithmetic both ways).
    @Test func roundTripsSeededInstants() {
        var rng = SeededRandom(seed: 20)
        for _ in 0..<2000 {
            let seconds = Int(rng.next() % 4_000_000_000)
            let offset = (Int(rng.next() % 57) - 28) * 1800
            let t = CAPTime(date: Date(timeIntervalSince1970: TimeInterval(seconds)), offset: offset)
            #expect(CAPTime.parse(t.text) == t, "\(t.text)")
        }
    }
}

@Suite struct CAPValidationTests {
    @Test func readsAValidAlertWithAPolygon() throws {
        let a = try CAPFixtures.alert("alert-polygon.xml")
        #expect(a.identifier == "KTTV-QN-2026-0906-001" && a.sender == "canhbao@kttv-quangninh.gov.vn")
        #expect(a.status == .actual && a.msgType == .alert && a.scope == .public && a.infos.count == 2)
        let vi = try #require(a.vietnameseInfo)
        #expect(vi.event == "Bão số 3" && vi.urgency == .immediate && vi.severity == .extreme && vi.certainty == .observed)
        #expect(vi.responseTypes == [.shelter, .evacuate] && vi.categories == [.met])
        #expect(vi.description == "Gió mạnh cấp 12, giật cấp 15. Mưa lớn 200–300 mm.")
        #expect(vi.senderName == "Đài Khí tượng Thủy văn tỉnh Quảng Ninh")
        #expect(vi.parameter("qd18_capdoruiro") == "5")
        #expect(vi.areas.first?.polygons.first?.points.count == 5)
        #expect(a.expires?.text == "2026-09-07T08:00:00+07:00")
    }

    @Test func readsCircleGeocodeUpdateAndCancel() throws {
        let c = try CAPFixtures.alert("alert-circle.xml")
        #expect(c.infos[0].areas[0].circles == [GeoCircle(centre: Coordinate(latitude: 21.1, longitude: 107.4), radiusKm: 2)])
        let g = try CAPFixtures.alert("alert-geocode.xml")
        #expect(g.infos[0].areas[0].geocodes == [CAPValuePair(valueName: "MaDVHC", value: "22345")])
        let u = try CAPFixtures.alert("update.xml")
        #expect(u.msgType == .update && u.references.map(\.identifier) == ["KTTV-QN-2026-0906-001"])
        let x = try CAPFixtures.alert("cancel.xml")
        #expect(x.msgType == .cancel && x.references.map(\.identifier) == ["KTTV-QN-2026-0906-001", "KTTV-QN-2026-0906-001-U1"])
        #expect(x.references[1].sent.text == "2026-09-06T09:30:00+07:00")
    }

    func refusal(_ data: Data) -> CAPError? {
        do {
            _ = try CAPXML.alert(from: data)
            return nil
        } catch { return error }
    }

    func refusal(_ fixture: String) -> CAPError? { refusal(CAPFixtures.data(fixture)) }

    @Test func refusalsNameTheElement() {
        #expect(refusal("missing-urgency.xml") == CAPError(.missing, "alert/info[1]/urgency", ""))
        #expect(refusal("bad-severity.xml") == CAPError(.enumeration, "alert/info[1]/severity", "Catastrophic"))
        #expect(refusal("bad-sent.xml") == CAPError(.time, "alert/sent", "2026-09-06T09:00:00"))
        // Each language's half names the element.
        let message = refusal("bad-sent.xml")?.description ?? ""
        #expect(Bilingual.split(message).vi.hasPrefix("alert/sent: thời gian") && Bilingual.split(message).en.hasPrefix("alert/sent: time"))
        let enumeration = Bilingual.split(refusal("bad-severity.xml")?.description ?? "")
        #expect(enumeration.en == "alert/info[1]/severity: value 'Catastrophic' not allowed")
    }

    /// Every required element of CAP 1.2, removed in turn, is named in the refusal.
    @Test func everyRequiredElementIsNamedWhenMissing() throws {
        let root = try CAPXML.read(CAPFixtures.data("alert-circle.xml"))
        for name in ["identifier", "sender", "sent", "status", "msgType", "scope"] {
            var r = root
            r.children.removeAll { $0.name == name }
            #expect(throws: CAPError(.missing, "alert/\(name)", "")) { try CAPAlert(validating: r) }
        }
        for name in ["category", "event", "urgency", "severity", "certainty"] {
            var r = root
            let i = r.children.firstIndex { $0.name == "info" }!
            r.children[i].children.removeAll { $0.name == name }
            #expect(throws: CAPError(.missing, "alert/info[1]/\(name)", "")) { try CAPAlert(validating: r) }
        }
        var r = root
        let i = r.children.firstIndex { $0.name == "info" }!
        let a = r.children[i].children.firstIndex { $0.name == "area" }!
        r.children[i].children[a].children.removeAll { $0.name == "areaDesc" }
        #expect(throws: CAPError(.missing, "alert/info[1]/area[1]/areaDesc", "")) { try CAPAlert(validating: r) }
    }

    @Test func enumerationsScopeReferencesAndShapesAreChecked() throws {
        let root = try CAPXML.read(CAPFixtures.data("alert-circle.xml"))
        func with(_ name: String, _ text: String, info: Bool = false) -> XMLElementNode {
            var r = root
            if info {
                let i = r.children.firstIndex { $0.name == "info" }!
                r.children[i].children.append(XMLElementNode(name, text: text))
                r.children[i].children.removeAll { $0.name == name && $0.text != text }
            } else {
                r.children.removeAll { $0.name == name }
                r.children.append(XMLElementNode(name, text: text))
            }
            return r
        }
        #expect(throws: CAPError(.enumeration, "alert/status", "actual")) { try CAPAlert(validating: with("status", "actual")) }
        #expect(throws: CAPError(.enumeration, "alert/msgType", "Warning")) { try CAPAlert(validating: with("msgType", "Warning")) }
        #expect(throws: CAPError(.enumeration, "alert/info[1]/certainty", "Very Likely")) {
            try CAPAlert(validating: with("certainty", "Very Likely", info: true))
        }
        #expect(throws: CAPError(.enumeration, "alert/info[1]/category", "Weather")) {
            try CAPAlert(validating: with("category", "Weather", info: true))
        }
        #expect(throws: CAPError(.missing, "alert/restriction", "")) { try CAPAlert(validating: with("scope", "Restricted")) }
        #expect(throws: CAPError(.missing, "alert/addresses", "")) { try CAPAlert(validating: with("scope", "Private")) }
        #expect(throws: CAPError(.missing, "alert/references", "")) { try CAPAlert(validating: with("msgType", "Cancel")) }
        #expect(throws: CAPError(.time, "alert/info[1]/expires", "tomorrow")) { try CAPAlert(validating: with("expires", "tomorrow", info: true)) }
        #expect(throws: CAPError.self) { try CAPAlert(validating: with("identifier", "KTTV 001")) }
        #expect(throws: CAPError.self) { try CAPAlert(validating: with("references", "a,b")) }
        var twice = root
        twice.children.append(XMLElementNode("sender", text: "b@x"))
        #expect(throws: CAPError(.repeated, "alert/sender", "")) { try CAPAlert(validating: twice) }
        var wrongNS = root
        wrongNS.namespace = "urn:oasis:names:tc:emergency:cap:1.1"
        #expect((try? CAPAlert(validating: wrongNS)) == nil)

        var shape = root
        let i = shape.children.firstIndex { $0.name == "info" }!
        let a = shape.children[i].children.firstIndex { $0.name == "area" }!
        shape.children[i].children[a].children.append(XMLElementNode("polygon", text: "21,107 21,108 22,108 21,107.5"))
        do {
            _ = try CAPAlert(validating: shape)
            Issue.record("an open polygon was accepted")
        } catch {
            #expect(error.element == "alert/info[1]/area[1]/polygon[1]" && error.reason == .value)
        }
    }

    @Test func hostileDocumentsAreRefusedBeforeParsing() {
        #expect(refusal("entity-expansion.xml")?.reason == .doctype)
        #expect(refusal("external-entity.xml")?.reason == .doctype)
        let huge = Data(("<alert xmlns=\"\(CAPAlert.namespace)\"><note>" + String(repeating: "x", count: 300_000) + "</note></alert>").utf8)
        #expect(refusal(huge)?.reason == .tooLarge)
        let deep = Data(("<alert xmlns=\"\(CAPAlert.namespace)\">" + String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40)
            + "</alert>").utf8)
        #expect(refusal(deep)?.reason == .malformed)
        var utf16 = Data([0xFF, 0xFE])
        utf16.append("<alert/>".data(using: .utf16LittleEndian)!)
        #expect(refusal(utf16)?.reason == .malformed)
        #expect(refusal(Data("<alert xmlns=\"\(CAPAlert.namespace)\"><identifier>x</alert>".utf8))?.reason == .malformed)
        #expect(refusal(Data())?.reason == .malformed)
        #expect(refusal(Data("not xml at all".utf8))?.reason == .malformed)
        // A comment naming a DOCTYPE is not one; the alert itself is then checked.
        let commented = Data(("<?xml version=\"1.0\"?><!-- <!DOCTYPE x> --><alert xmlns=\"\(CAPAlert.namespace)\"/>").utf8)
        #expect(refusal(commented) == CAPError(.missing, "alert/identifier", ""))
        // CDATA and character references are text, as XML says.
        let cdata = String(decoding: CAPFixtures.data("alert-circle.xml"), as: UTF8.self)
            .replacingOccurrences(of: "<headline>Nguy cơ sạt lở đất tại Thôn Ba</headline>",
                                  with: "<headline><![CDATA[Nguy cơ <sạt lở>]]> &amp; &#7847;</headline>")
        #expect((try? CAPXML.alert(from: Data(cdata.utf8)))?.infos.first?.headline == "Nguy cơ <sạt lở> & ầ")
    }
}

@Suite struct WarningPolicyTests {
    func info(_ s: CAPSeverity, _ u: CAPUrgency, parameters: [CAPValuePair] = []) -> CAPInfo {
        CAPInfo(language: "vi", categories: [.met], event: "Bão", urgency: u, severity: s, certainty: .likely, parameters: parameters)
    }

    /// The documented default table: Extreme/Severe × Immediate/Expected → emergency, else priority; never normal.
    @Test func defaultTable() {
        let p = WarningPolicy.standard
        for s in CAPSeverity.allCases {
            for u in CAPUrgency.allCases {
                let emergency = [.extreme, .severe].contains(s) && [.immediate, .expected].contains(u)
                #expect(p.level(for: info(s, u)) == (emergency ? .emergency : .priority), "\(s) \(u)")
            }
        }
        #expect(throws: WarningPolicyError.normalLevel) {
            try WarningPolicy(rules: [], otherwise: .normal, riskBySeverity: [:], repeatMinutes: [:], horizonHours: 12, allClearOnCancel: false)
        }
        #expect(throws: WarningPolicyError.repeatInterval(1)) {
            try WarningPolicy(rules: [], otherwise: .priority, riskBySeverity: [:], repeatMinutes: [.three: 1], horizonHours: 12,
                              allClearOnCancel: false)
        }
    }

    @Test func configuredRulesMatchInOrder() throws {
        let p = try WarningPolicy(rules: [WarningPolicy.Rule(severities: [.extreme], certainties: [.observed], level: .emergency)],
                                  otherwise: .priority, riskBySeverity: [:], repeatMinutes: [:], horizonHours: 6, allClearOnCancel: true)
        var i = info(.extreme, .future)
        #expect(p.level(for: i) == .priority)
        i.certainty = .observed
        #expect(p.level(for: i) == .emergency)
        #expect(p.repeatInterval(for: .five) == nil)
    }

    @Test func riskLevelFromParameterElseSeverity() throws {
        let p = WarningPolicy.standard
        #expect(try p.riskLevel(for: info(.extreme, .immediate)) == .four)
        #expect(try p.riskLevel(for: info(.severe, .immediate)) == .three)
        #expect(try p.riskLevel(for: info(.moderate, .immediate)) == .two)
        #expect(try p.riskLevel(for: info(.minor, .immediate)) == .one)
        #expect(try p.riskLevel(for: info(.unknown, .immediate)) == .one)
        let five = [CAPValuePair(valueName: "other", value: "x"), CAPValuePair(valueName: "QD18_CapDoRuiRo", value: " 5 ")]
        #expect(try p.riskLevel(for: info(.minor, .future, parameters: five)) == .five)
        #expect(throws: CAPError.self) {
            try p.riskLevel(for: info(.minor, .future, parameters: [CAPValuePair(valueName: "QD18_CapDoRuiRo", value: "6")]), path: "alert/info[2]")
        }
        do {
            _ = try p.riskLevel(for: info(.minor, .future, parameters: [CAPValuePair(valueName: "QD18_CapDoRuiRo", value: "ba")]),
                                path: "alert/info[2]")
        } catch { #expect(error.element == "alert/info[2]/parameter[1]") }
    }

    @Test func coloursOfQD18() {
        #expect(RiskLevel.allCases.map(\.colourName) == ["xanh dương nhạt", "vàng nhạt", "da cam", "đỏ", "tím"])
        #expect(RiskLevel.allCases.map(\.colourNameEnglish) == ["light blue", "light yellow", "orange", "red", "purple"])
        #expect(Set(RiskLevel.allCases.map(\.colour)).count == 5)
    }

    /// Event and risk level first, then headline, description, instruction; a drill says so.
    @Test func speechOrder() throws {
        let a = try CAPFixtures.alert("alert-polygon.xml")
        let text = WarningSpeech.text(info: a.vietnameseInfo!, risk: .five)
        #expect(text == "Bão số 3. Cấp độ rủi ro thiên tai 5. Bão số 3 đổ bộ vào Quảng Ninh trong 6 giờ tới. "
            + "Gió mạnh cấp 12, giật cấp 15. Mưa lớn 200–300 mm. Người dân ở nhà, chằng chống nhà cửa; không ra biển.")
        let drill = WarningSpeech.text(info: a.vietnameseInfo!, risk: .five, drill: true)
        #expect(drill.hasPrefix("Đây là tin diễn tập") && drill.hasSuffix("Hết tin diễn tập."))
    }
}

@Suite struct WarningTargetingTests {
    let tree = CAPFixtures.tree

    @Test func polygonTargetsVillagesWithASiteInsideAndListsPlacesWithoutCoordinates() throws {
        let a = try CAPFixtures.alert("alert-polygon.xml")
        let t = WarningTargets.resolve(areas: a.vietnameseInfo!.areas, tree: tree)
        // thon-2: one site outside (the market), one inside (the pole): targeted.
        #expect(t.villages == ["thon-1", "thon-2"])
        #expect(t.sites == ["s-ubnd"] && t.wholeCommunes == [] && t.communes == ["xa-a"])
        #expect(t.untargetable == [WarningTargets.Untargetable(placeID: "thon-4", level: .village, commune: "xa-a", reason: .noCoordinates),
                                   WarningTargets.Untargetable(placeID: "xa-c", level: .commune, commune: "xa-c", reason: .noCoordinates)])
        let devices = [Device(id: "loa-ubnd", deviceClass: .speaker, siteID: "s-ubnd", registeredAt: .distantPast),
                       Device(id: "loa-1", deviceClass: .speaker, siteID: "s-1", registeredAt: .distantPast)]
        #expect(t.broadcastTarget(devices: devices) == BroadcastTarget(villages: ["thon-1", "thon-2"], speakers: ["loa-ubnd"]))
    }

    @Test func circleUsesTheVillagePointAndGreatCircleDistance() throws {
        let a = try CAPFixtures.alert("alert-circle.xml")
        let t = WarningTargets.resolve(areas: a.infos[0].areas, tree: tree)
        #expect(t.villages == ["thon-3"] && t.communes == ["xa-a"])
        // 14.5 km reaches thon-1's site (14.42 km), not thon-5 (15.20 km); a site at exactly the radius is inside.
        let centre = Coordinate(latitude: 21.1, longitude: 107.4)
        let far = WarningTargets.resolve(areas: [CAPArea(areaDesc: "x", circles: [GeoCircle(centre: centre, radiusKm: 14.5)])], tree: tree)
        #expect(far.villages == ["thon-1", "thon-2", "thon-3"] && far.sites == ["s-ubnd"] && far.communes == ["xa-a"])
        let s1 = Coordinate(latitude: 21.01, longitude: 107.30)
        let exact = WarningTargets.resolve(areas: [CAPArea(areaDesc: "x", circles: [GeoCircle(centre: centre, radiusKm: Geodesy.distanceKm(centre, s1))])],
                                           tree: tree)
        #expect(exact.villages == ["thon-1", "thon-2", "thon-3"])
        #expect(abs(Geodesy.distanceKm(centre, s1) - 14.4165) < 0.001)
    }

    @Test func geocodesMatchAdministrativeCodes() throws {
        let a = try CAPFixtures.alert("alert-geocode.xml")
        let t = WarningTargets.resolve(areas: a.infos[0].areas, tree: tree)
        #expect(t.wholeCommunes == ["xa-b"] && t.villages == [] && t.communes == ["xa-b"])
        #expect(t.untargetable == [WarningTargets.Untargetable(placeID: "xa-c", level: .commune, commune: "xa-c", reason: .noCode)])
        let village = WarningTargets.resolve(areas: [CAPArea(areaDesc: "x", geocodes: [CAPValuePair(valueName: "MaDVHC", value: "2230001")])],
                                             tree: tree)
        #expect(village.villages == ["thon-1"] && village.wholeCommunes == [] && village.communes == ["xa-a"])
        let province = WarningTargets.resolve(areas: [CAPArea(areaDesc: "x", geocodes: [CAPValuePair(valueName: "madvhc", value: "22")])],
                                              tree: tree)
        #expect(province.wholeCommunes == ["xa-a", "xa-b", "xa-c"] && province.untargetable.isEmpty)
        // Another scheme's geocode is not read as an administrative code.
        let other = WarningTargets.resolve(areas: [CAPArea(areaDesc: "x", geocodes: [CAPValuePair(valueName: "SAME", value: "22345")])],
                                           tree: tree)
        #expect(other.isEmpty)
    }
}

@Suite struct WarningAssessmentTests {
    let tree = CAPFixtures.tree

    @Test func actualExtremeGoesOnAirAsEmergencyAtRiskFromTheParameter() throws {
        let plan = try WarningAssessment.plan(CAPFixtures.alert("alert-polygon.xml"), policy: .standard, tree: tree, now: CAPFixtures.morning)
        #expect(plan.level == .emergency && plan.risk == .five && plan.mode == .live && plan.goesOnAir)
        #expect(plan.info.language == "vi-VN" && plan.speech.hasPrefix("Bão số 3. Cấp độ rủi ro thiên tai 5."))
        #expect(plan.repeatInterval == 1800 && plan.expires == CAPTime.parse("2026-09-07T08:00:00+07:00")!.date)
        #expect(plan.targets.villages == ["thon-1", "thon-2"])
    }

    @Test func moderateIsPriorityAndOtherStatusesNeverGoOnAir() throws {
        let c = try WarningAssessment.plan(CAPFixtures.alert("alert-circle.xml"), policy: .standard, tree: tree, now: CAPFixtures.morning)
        #expect(c.level == .priority && c.risk == .two && c.goesOnAir)
        let test = try WarningAssessment.plan(CAPFixtures.alert("status-test.xml"), policy: .standard, tree: tree, now: CAPFixtures.morning)
        #expect(test.mode == .recordOnly && !test.goesOnAir)
        let drill = try WarningAssessment.plan(CAPFixtures.alert("status-exercise.xml"), policy: .standard, tree: tree, now: CAPFixtures.morning)
        #expect(drill.mode == .drill && !drill.goesOnAir && drill.speech.hasPrefix("Đây là tin diễn tập"))
    }

    @Test func expiredOnArrivalAndNonVietnameseAreRefused() throws {
        #expect(throws: CAPError(.value, "alert/info[1]/expires", "cảnh báo đã hết hạn lúc đến / expired on arrival (2026-09-01T12:00:00+07:00)")) {
            try WarningAssessment.plan(CAPFixtures.alert("expired.xml"), policy: .standard, tree: tree, now: CAPFixtures.morning)
        }
        var english = try CAPFixtures.alert("alert-polygon.xml")
        english.infos.removeLast()
        #expect(throws: CAPError(.missing, "alert/info[language=vi-VN]", "")) {
            try WarningAssessment.plan(english, policy: .standard, tree: tree, now: CAPFixtures.morning)
        }
        #expect(throws: CAPError.self) {
            try WarningAssessment.plan(CAPFixtures.alert("cancel.xml"), policy: .standard, tree: tree, now: CAPFixtures.morning)
        }
    }
}

@Suite struct RepetitionPlanTests {
    let t0 = CAPFixtures.morning

    @Test func repeatsAtTheIntervalUntilExpiresOrCancel() {
        let plan = RepetitionPlan(anchor: t0, interval: 1800, until: t0 + 7200)
        #expect(plan.occurrences(from: t0, to: t0 + 86_400) == [t0, t0 + 1800, t0 + 3600, t0 + 5400])
        #expect(plan.next(after: t0) == t0 + 1800 && plan.next(after: t0 + 5400) == nil)
        let cancelled = plan.cancelled(at: t0 + 3000)
        #expect(cancelled.occurrences(from: t0 + 1, to: t0 + 86_400) == [t0 + 1800])
        #expect(cancelled.next(after: t0 + 3000) == nil)
        let once = RepetitionPlan(start: t0, risk: .one, expires: nil, policy: .standard)
        #expect(once.occurrences(from: t0, to: t0 + 86_400) == [t0])
        let noExpiry = RepetitionPlan(start: t0, risk: .three, expires: nil, policy: .standard)
        #expect(noExpiry.occurrences(from: t0, to: t0 + 86_400).count == 24)  // 12 h horizon, every 30 min
    }

    /// An Update drops the queued repeats: seen as one timeline (plays before the update from the old
    /// plan, from it on from the new), nothing plays twice and no gap exceeds the longer interval.
    @Test func updateReplacesQueuedRepeatsWithoutGapOrDoublePlay() {
        var rng = SeededRandom(seed: 2020)
        for _ in 0..<500 {
            let oldInterval = TimeInterval(5 + Int(rng.next() % 60)) * 60
            let newInterval = TimeInterval(5 + Int(rng.next() % 60)) * 60
            let old = RepetitionPlan(anchor: t0, interval: oldInterval, until: t0 + 86_400)
            let at = t0 + TimeInterval(rng.next() % 40_000)
            let playsNow = rng.next() % 2 == 0
            let new = old.updated(at: at, interval: newInterval, until: t0 + 2 * 86_400, playsNow: playsNow)
            let before = old.occurrences(from: t0, to: at)
            let after = new.occurrences(from: at, to: t0 + 2 * 86_400)
            let all = before + after
            #expect(Set(all).count == all.count)
            #expect(zip(all, all.dropFirst()).allSatisfy { $1 > $0 && $1.timeIntervalSince($0) <= max(oldInterval, newInterval) })
            if playsNow { #expect(after.first == at) } else { #expect(after.first == old.next(after: at)) }
            // The old plan's queued slots no longer play unless the new plan has the same slot.
            let droppedOld = old.occurrences(from: at + 1, to: t0 + 86_400).filter { !after.contains($0) }
            #expect(droppedOld.allSatisfy { !all.contains($0) })
        }
    }
}

/// The alert WardFleet writes (an approver's Update) reads back as the same alert.
@Suite struct CAPWriterTests {
    @Test func everyValidFixtureReadsBackTheSame() throws {
        for name in ["alert-polygon.xml", "alert-circle.xml", "alert-geocode.xml", "update.xml", "cancel.xml", "status-exercise.xml",
                     "status-test.xml", "expired.xml", "other-sender.xml"] {
            let alert = try CAPFixtures.alert(name)
            let written = CAPWriter.xml(alert)
            #expect(try CAPXML.alert(from: Data(written.utf8)) == alert, "\(name):\n\(written)")
        }
    }

    @Test func seededAlertsWithHardTextAndNumbersReadBackTheSame() throws {
        var rng = SeededRandom(seed: 20)
        let texts = ["Bão số 3 (Yagi) & mưa lớn", "<gió> giật cấp 12–13", "Sơ tán ngay\nkhỏi vùng trũng", "\"trích dẫn\" 'đơn'", "ứ ừ ữ ự ỹ"]
        for k in 0..<300 {
            func pick() -> String { texts[Int(rng.next() % UInt64(texts.count))] }
            func coordinate() -> Coordinate {
                Coordinate(latitude: Double(Int(rng.next() % 18_000_000)) / 100_000 - 90, longitude: Double(Int(rng.next() % 36_000_000)) / 100_000 - 180)
            }
            let ring = (0..<3).map { _ in coordinate() }
            let area = CAPArea(areaDesc: pick(), polygons: [GeoPolygon(points: ring + [ring[0]])],
                               circles: [GeoCircle(centre: coordinate(), radiusKm: k % 7 == 0 ? 0.00001 : Double(rng.next() % 5000) / 100)],
                               geocodes: [CAPValuePair(valueName: "MaDonViHanhChinh", value: "22\(k)")])
            let sent = CAPTime(date: Date(timeIntervalSince1970: 1_780_000_000 + Double(k * 3_600)), offset: k % 2 == 0 ? 25_200 : 0)
            let info = CAPInfo(language: "vi-VN", categories: [.met, .safety], event: pick(), responseTypes: [.evacuate], urgency: .immediate,
                               severity: .extreme, certainty: .observed, effective: sent, expires: CAPTime(date: sent.date + 86_400, offset: 25_200),
                               senderName: pick(), headline: pick(), description: pick(), instruction: pick(),
                               parameters: [CAPValuePair(valueName: "CapDoRuiRo", value: "\(k % 5 + 1)")], areas: [area])
            let alert = CAPAlert(identifier: "WF-\(k)", sender: "canhbao@kttv.gov.vn", sent: sent, status: .actual, msgType: .update,
                                 scope: .public, note: pick(),
                                 references: [CAPReference(sender: "canhbao@kttv.gov.vn", identifier: "KTTV-\(k)", sent: sent)], infos: [info])
            let written = CAPWriter.xml(alert)
            #expect(try CAPXML.alert(from: Data(written.utf8)) == alert, "\(written)")
        }
    }
}
