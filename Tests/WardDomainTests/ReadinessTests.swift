import Foundation
import Testing
@testable import WardDomain

/// Storm readiness, the pure part: area files into shapes, places from the tree, one verdict per speaker and
/// per village, and the villages that would not hear a warning, worst first.
@Suite struct ReadinessTests {
    let now = Date(timeIntervalSince1970: 1_796_000_000)

    // A commune of four villages and its office; coordinates on a small grid.
    var tree: PlaceTree {
        try! PlaceTree([
            Place(id: "qn", level: .province, name: "Quảng Ninh"),
            Place(id: "xa", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
            Place(id: "ubnd", level: .site, name: "Trụ sở UBND", parentID: "xa", siteKind: .communeOffice,
                  coordinate: Coordinate(latitude: 21.20, longitude: 107.50)),
            Place(id: "mot", level: .village, name: "Thôn Một", parentID: "xa"),
            Place(id: "nvh-mot", level: .site, name: "NVH Một", parentID: "mot", siteKind: .culturalHouse, coordinate: Coordinate(latitude: 21.01, longitude: 107.30)),
            Place(id: "hai", level: .village, name: "Thôn Hai", parentID: "xa"),
            Place(id: "cot-hai", level: .site, name: "Cột Hai", parentID: "hai", siteKind: .pole, coordinate: Coordinate(latitude: 21.02, longitude: 107.31)),
            Place(id: "ba", level: .village, name: "Thôn Ba", parentID: "xa"),
            Place(id: "cot-ba", level: .site, name: "Cột Ba", parentID: "ba", siteKind: .pole, coordinate: Coordinate(latitude: 21.10, longitude: 107.40)),
            Place(id: "bon", level: .village, name: "Thôn Bốn", parentID: "xa"),
        ])
    }
    var devices: [Device] {
        [("LOA-UB", "ubnd"), ("LOA-M1", "nvh-mot"), ("LOA-M2", "nvh-mot"), ("LOA-H1", "cot-hai"), ("LOA-B1", "cot-ba"), ("CAM-1", "cot-ba")].map {
            Device(id: $0.0, deviceClass: $0.0.hasPrefix("CAM") ? .camera : .speaker, siteID: $0.1, registeredAt: now)
        }
    }

    @Test func areaFilesCAPLinesAndGeoJSON() throws {
        let cap = try ReadinessArea.parse("""
            # Thôn Một và Thôn Hai
            21.00,107.29 21.00,107.32 21.03,107.32 21.03,107.29 21.00,107.29

            21.10,107.40 2
            """)
        #expect(cap.polygons.count == 1 && cap.circles.count == 1 && cap.circles[0].radiusKm == 2)
        let geo = try ReadinessArea.parse("""
            {"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[107.29,21.0],[107.32,21.0],[107.32,21.03],[107.29,21.03],[107.29,21.0]]]}}
            """)
        #expect(geo.polygons == cap.polygons)
        let multi = try ReadinessArea.parse("""
            {"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[
              [[[107.29,21.0],[107.32,21.0],[107.32,21.03],[107.29,21.0]]],[[[107.39,21.09],[107.41,21.09],[107.41,21.11],[107.39,21.09]]]]}}]}
            """)
        #expect(multi.polygons.count == 2)
        #expect(throws: ReadinessArea.ParseError.empty) { try ReadinessArea.parse(" \n# nothing\n") }
        #expect(throws: ReadinessArea.ParseError.self) { try ReadinessArea.parse("21.0,107.29 21.0,107.32 21.03,107.32") }  // not closed
        #expect(throws: ReadinessArea.ParseError.self) { try ReadinessArea.parse("21.1,107.4 -2") }
        #expect(throws: ReadinessArea.ParseError.self) { try ReadinessArea.parse(#"{"type":"Point","coordinates":[107.3,21.0]}"#) }
        #expect(throws: ReadinessArea.ParseError.self) { try ReadinessArea.parse("{not json") }
    }

    @Test func placesOfACommuneAndOfAnArea() throws {
        let whole = ReadinessPlace.resolve(communes: ["xa"], villages: [], sites: [], tree: tree, devices: devices)
        // Every village (Thôn Bốn has no speaker: still a place that would not hear) and the office with its speaker.
        #expect(whole.map(\.id) == ["ba", "bon", "hai", "mot", "ubnd"])
        #expect(whole.first { $0.id == "mot" }?.speakers == ["LOA-M1", "LOA-M2"])
        #expect(whole.first { $0.id == "ba" }?.speakers == ["LOA-B1"])  // the camera is no speaker
        #expect(whole.first { $0.id == "ubnd" }?.kind == .site)
        let area = try ReadinessArea.parse("21.00,107.29 21.00,107.32 21.03,107.32 21.03,107.29 21.00,107.29")
        let t = WarningTargets.resolve(areas: [area], tree: tree)
        let inArea = ReadinessPlace.resolve(communes: t.wholeCommunes, villages: t.villages, sites: t.sites, tree: tree, devices: devices)
        #expect(inArea.map(\.id) == ["hai", "mot"])
        #expect(t.untargetable.map(\.placeID) == ["bon"])  // no coordinates: listed, never silently left out
    }

    func probe(_ id: String, _ state: HealthState = .ok, capable: Bool = true, latest: SpeakerReading? = nil,
               _ findings: SelfTestFindings? = nil, result: String = "ok", heard: Double = 0) -> SpeakerProbe {
        SpeakerProbe(deviceID: id, state: state, lastHeard: now - heard, capable: capable, latest: latest,
                     answer: findings.map { SelfTestAnswer(result: result, detail: nil, findings: $0, at: now) })
    }
    let mains = SelfTestFindings(amplifierOK: true, speakerLineOK: true, power: .mains)

    @Test func eachSpeakersVerdict() {
        #expect(SpeakerReadiness.judge(probe("a", .ok, mains)).status == .ready)
        #expect(SpeakerReadiness.judge(probe("a", .ok, mains)).canPlay)
        let amp = SpeakerReadiness.judge(probe("a", .degraded, SelfTestFindings(amplifierOK: false, speakerLineOK: true, power: .mains), result: "error"))
        #expect(amp.status == .faulty && !amp.canPlay && amp.reachable)
        let silent = SpeakerReadiness.judge(probe("a", .ok))
        #expect(silent.status == .noAnswer && !silent.canPlay && !silent.reachable)
        let off = SpeakerReadiness.judge(probe("a", .offline, latest: SpeakerReading(volume: 1, amplifierOK: true, speakerLineOK: true, playing: false)))
        #expect(off.status == .unreachable && !off.canPlay)
        // Older firmware without self_test: its latest telemetry speaks for it.
        let old = SpeakerReading(volume: 1, amplifierOK: true, speakerLineOK: true, playing: false, powerSource: .battery, batteryPercent: 40,
                                 batteryMinutes: 240)
        let untested = SpeakerReadiness.judge(probe("a", .degraded, capable: false, latest: old))
        #expect(untested.status == .untested && untested.canPlay && untested.batteryPercent == 40 && untested.batteryMinutes == 240)
        var broken = old
        broken.speakerLineOK = false
        #expect(SpeakerReadiness.judge(probe("a", .degraded, capable: false, latest: broken)).status == .faulty)
        // The answer's power wins over older telemetry; mains carries no battery figures.
        let fresh = SpeakerReadiness.judge(probe("a", .ok, latest: old, mains))
        #expect(fresh.power == .mains && fresh.batteryPercent == nil)
    }

    @Test func villagesThatWouldNotHearWorstFirst() {
        let places = ReadinessPlace.resolve(communes: ["xa"], villages: [], sites: [], tree: tree, devices: devices)
        let battery = SelfTestFindings(amplifierOK: true, speakerLineOK: true, power: .battery, batteryPercent: 15, batteryMinutes: 90)
        let probes: [String: SpeakerProbe] = [
            "LOA-UB": probe("LOA-UB", .ok, mains),
            // Thôn Một: one dropped off the air long ago, one not answering: none reachable.
            "LOA-M1": probe("LOA-M1", .offline, heard: 3600),
            "LOA-M2": probe("LOA-M2", .ok, heard: 5),
            // Thôn Hai: mains cut, on battery: hears, on battery only.
            "LOA-H1": probe("LOA-H1", .degraded, battery),
            // Thôn Ba: reachable, amplifier broken.
            "LOA-B1": probe("LOA-B1", .degraded, SelfTestFindings(amplifierOK: false, speakerLineOK: true, power: .mains), result: "error"),
        ]
        let r = ReadinessReport(at: now, places: places, probes: probes, asked: 4)
        #expect(r.answered == 3 && r.asked == 4)
        // No speaker at all, then none reachable (two speakers), then reachable but faulty.
        #expect(r.wouldNotHear == ["bon", "mot", "ba"])
        let byID = Dictionary(uniqueKeysWithValues: r.villages.map { ($0.id, $0) })
        #expect(byID["bon"]?.problem == .noSpeakers)
        #expect(byID["mot"]?.problem == .noneReachable && byID["mot"]?.reachable == 0 && byID["mot"]?.lastHeard == now - 5)
        #expect(byID["ba"]?.problem == .faulty && byID["ba"]?.faulty == 1 && byID["ba"]?.reachable == 1)
        #expect(byID["hai"]?.canHear == true && byID["hai"]?.onBattery == 1 && byID["hai"]?.lowestBatteryPercent == 15
                && byID["hai"]?.shortestHours == 1.5)
        #expect(r.onBatteryOnly == ["hai"])
        #expect(byID["ubnd"]?.canHear == true && byID["ubnd"]?.onMains == 1 && byID["ubnd"]?.onBatteryOnly == false)
        #expect(byID["mot"]?.problemText == "không liên lạc được cụm loa nào / no loudspeaker reachable")
    }

    @Test func theReportRoundTripsThroughSnakeCaseJSON() throws {
        let places = ReadinessPlace.resolve(communes: ["xa"], villages: [], sites: [], tree: tree, devices: devices)
        let r = ReadinessReport(at: now, places: places, probes: [
            "LOA-B1": probe("LOA-B1", .degraded, SelfTestFindings(amplifierOK: false, speakerLineOK: true, power: .battery, batteryPercent: 30,
                                                                  batteryMinutes: 120), result: "error"),
        ], asked: 1)
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .iso8601
        let data = try e.encode(r)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""amplifier_ok":false"#) && text.contains(#""speaker_line_ok":true"#) && text.contains(#""would_not_hear""#))
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .iso8601
        #expect(try d.decode(ReadinessReport.self, from: data) == r)
    }

    @Test func onBatteryOnlyShortestRuntimeFirst() {
        let places = [("a", "LOA-A", 600), ("b", "LOA-B", 60), ("c", "LOA-C", 240)].map { id, spk, _ in
            ReadinessPlace(id: id, name: "Thôn \(id)", kind: .village, commune: "xa", communeName: "Xã", speakers: [spk])
        }
        var probes: [String: SpeakerProbe] = [:]
        for (spk, minutes) in [("LOA-A", 600), ("LOA-B", 60), ("LOA-C", 240)] {
            probes[spk] = probe(spk, .degraded, SelfTestFindings(amplifierOK: true, speakerLineOK: true, power: .battery, batteryPercent: 50,
                                                                 batteryMinutes: minutes))
        }
        let r = ReadinessReport(at: now, places: places, probes: probes, asked: 3)
        #expect(r.wouldNotHear.isEmpty)
        #expect(r.onBatteryOnly == ["b", "c", "a"])
    }
}
