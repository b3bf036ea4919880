import Foundation

// Storm readiness (issue 20, item 5; docs/warnings.md "Storm readiness"): before landfall, who would hear
// the next warning? Every loudspeaker of the area that is online and can self-test is asked to; the answers,
// the others' state and their latest telemetry become a verdict per village, and the villages that would not
// hear a warning now, worst first. Pure: the controller gathers the inputs and the answers.

/// Where readiness is asked: a commune, or an area (CAP polygons and circles, or a GeoJSON polygon).
public enum ReadinessArea {
    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case empty
        case badLine(Int, String)
        case badGeoJSON(String)

        public var description: String {
            switch self {
            case .empty: "vùng trống / the area is empty"
            case .badLine(let n, let why):
                "dòng \(n): không phải polygon (\"lat,lon lat,lon …\", khép kín) hay circle (\"lat,lon bán_kính_km\"): \(why) / "
                    + "line \(n): neither a CAP polygon (\"lat,lon lat,lon …\", closed) nor a circle (\"lat,lon radius_km\"): \(why)"
            case .badGeoJSON(let why): "GeoJSON không đọc được: \(why) / unreadable GeoJSON: \(why)"
            }
        }
    }

    /// An area file's text: a GeoJSON `Polygon`/`MultiPolygon` (bare, a `Feature` or a `FeatureCollection`;
    /// coordinates `[lon, lat]`, the outer ring of each polygon) when it starts with `{`; otherwise CAP text,
    /// one shape per line: a `polygon` ("lat,lon lat,lon …", closed) or a `circle` ("lat,lon radius_km").
    /// Blank lines and lines starting with `#` are skipped.
    public static func parse(_ text: String) throws(ParseError) -> CAPArea {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .empty }
        if trimmed.hasPrefix("{") { return try geoJSON(trimmed) }
        var polygons: [GeoPolygon] = [], circles: [GeoCircle] = []
        for (i, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if tokens.count == 2, !tokens[1].contains(",") {
                switch GeoCircle.parse(line) {
                case .success(let c): circles.append(c)
                case .failure(let e): throw .badLine(i + 1, e.description)
                }
            } else {
                switch GeoPolygon.parse(line) {
                case .success(let p): polygons.append(p)
                case .failure(let e): throw .badLine(i + 1, e.description)
                }
            }
        }
        guard !polygons.isEmpty || !circles.isEmpty else { throw .empty }
        return CAPArea(areaDesc: "readiness", polygons: polygons, circles: circles)
    }

    static func geoJSON(_ text: String) throws(ParseError) -> CAPArea {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw .badGeoJSON("không phải đối tượng JSON / not a JSON object")
        }
        var polygons: [GeoPolygon] = []
        func ring(_ any: Any?) throws(ParseError) {
            guard let rings = any as? [Any], let outer = rings.first as? [Any] else { throw .badGeoJSON("coordinates") }
            var pairs: [String] = []
            for p in outer {
                guard let xy = p as? [Any], xy.count >= 2, let lon = (xy[0] as? NSNumber)?.doubleValue,
                      let lat = (xy[1] as? NSNumber)?.doubleValue else { throw .badGeoJSON("một điểm không phải [lon, lat] / a point is not [lon, lat]") }
                pairs.append("\(lat),\(lon)")
            }
            switch GeoPolygon.parse(pairs.joined(separator: " ")) {
            case .success(let g): polygons.append(g)
            case .failure(let e): throw .badGeoJSON(e.description)
            }
        }
        func geometry(_ g: [String: Any]?) throws(ParseError) {
            guard let g, let type = g["type"] as? String else { throw .badGeoJSON("geometry") }
            switch type {
            case "Polygon": try ring(g["coordinates"])
            case "MultiPolygon":
                guard let list = g["coordinates"] as? [Any] else { throw .badGeoJSON("coordinates") }
                for p in list { try ring(p) }
            default: throw .badGeoJSON("\(type): chỉ nhận Polygon, MultiPolygon / only Polygon and MultiPolygon")
            }
        }
        switch (object["type"] as? String) ?? "" {
        case "FeatureCollection":
            guard let features = object["features"] as? [[String: Any]] else { throw .badGeoJSON("features") }
            for f in features { try geometry(f["geometry"] as? [String: Any]) }
        case "Feature": try geometry(object["geometry"] as? [String: Any])
        default: try geometry(object)
        }
        guard !polygons.isEmpty else { throw .empty }
        return CAPArea(areaDesc: "readiness", polygons: polygons)
    }
}

/// A place readiness is judged for: a village, or a site directly under a commune (the commune office)
/// with its own speakers; and the speakers installed there.
public struct ReadinessPlace: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable { case village, site }
    public var id: String
    public var name: String
    public var kind: Kind
    public var commune: String
    public var communeName: String
    public var speakers: [String]

    public init(id: String, name: String, kind: Kind, commune: String, communeName: String, speakers: [String]) {
        self.id = id
        self.name = name
        self.kind = kind
        self.commune = commune
        self.communeName = communeName
        self.speakers = speakers
    }

    /// The places of whole communes (every village, and every commune-level site with a speaker), of
    /// targeted villages and of targeted commune-level sites; sorted by commune, then name.
    public static func resolve(communes: [String], villages: [String], sites: [String], tree: PlaceTree, devices: [Device]) -> [ReadinessPlace] {
        let speakers = devices.filter { $0.deviceClass == .speaker && $0.removedAt == nil }
        var speakersOf: [String: [String]] = [:]  // village or commune-level site → speakers
        for s in speakers {
            guard let site = tree[s.siteID] else { continue }
            let key = tree.ancestor(of: s.siteID, at: .village)?.id ?? site.id
            speakersOf[key, default: []].append(s.id)
        }
        var out: [String: ReadinessPlace] = [:]
        func add(_ p: Place, _ kind: Kind) {
            guard let commune = kind == .village ? tree[p.parentID ?? ""] : tree.ancestor(of: p.id, at: .commune) else { return }
            out[p.id] = ReadinessPlace(id: p.id, name: p.name, kind: kind, commune: commune.id, communeName: commune.name,
                                       speakers: (speakersOf[p.id] ?? []).sorted())
        }
        for c in communes {
            for child in tree.children(of: c) {
                if child.level == .village { add(child, .village) } else if child.level == .site, speakersOf[child.id] != nil { add(child, .site) }
            }
        }
        for v in villages { if let p = tree[v], p.level == .village { add(p, .village) } }
        for s in sites { if let p = tree[s], p.level == .site, tree[p.parentID ?? ""]?.level == .commune { add(p, .site) } }
        return out.values.sorted { ($0.commune, $0.name, $0.id) < ($1.commune, $1.name, $1.id) }
    }
}

/// What is known of one speaker when the verdict is made.
public struct SpeakerProbe: Sendable, Hashable {
    public var deviceID: String
    public var state: HealthState
    public var lastHeard: Date?
    /// Its latest birth lists `self_test`.
    public var capable: Bool
    /// Its latest telemetry (nil: none).
    public var latest: SpeakerReading?
    /// Its answer to the self-test (nil: none came, or none was asked).
    public var answer: SelfTestAnswer?

    public init(deviceID: String, state: HealthState, lastHeard: Date?, capable: Bool, latest: SpeakerReading?, answer: SelfTestAnswer? = nil) {
        self.deviceID = deviceID
        self.state = state
        self.lastHeard = lastHeard
        self.capable = capable
        self.latest = latest
        self.answer = answer
    }

    /// Asked to self-test: online now and capable. The others are not sent anything.
    public var shouldAsk: Bool { state.isOnline && capable }
}

/// A speaker's acknowledgement of `self_test`: the protocol's result, its words, and its findings.
public struct SelfTestAnswer: Sendable, Hashable, Codable {
    public var result: String
    public var detail: String?
    public var findings: SelfTestFindings?
    public var at: Date

    public init(result: String, detail: String?, findings: SelfTestFindings?, at: Date) {
        self.result = result
        self.detail = detail
        self.findings = findings
        self.at = at
    }
}

/// One speaker's verdict.
public struct SpeakerReadiness: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Answered its self-test: amplifier and line good, powered. It would play a warning now.
        case ready
        /// Online, but its firmware has no `self_test`: judged on its latest telemetry (amplifier and line good).
        case untested
        /// Answered (or, untested, reported) an amplifier or speaker-line fault.
        case faulty
        /// Online and asked, but no answer before the deadline.
        case noAnswer = "no_answer"
        /// Offline or never heard: nothing was sent to it.
        case unreachable

        public var vietnamese: String {
            switch self {
            case .ready: "sẵn sàng"
            case .untested: "không tự kiểm tra được (theo số liệu gần nhất)"
            case .faulty: "hỏng"
            case .noAnswer: "không trả lời"
            case .unreachable: "không liên lạc được"
            }
        }
    }

    public var device: String
    public var status: Status
    public var statusText: String
    /// Would play a warning now.
    public var canPlay: Bool
    public var reachable: Bool
    public var amplifierOK: Bool?
    public var speakerLineOK: Bool?
    public var power: PowerSource?
    public var batteryPercent: Int?
    public var batteryMinutes: Int?
    public var lastHeard: Date?
    public var detail: String?

    // Spelled so that JSON's snake case (amplifier_ok) converts both ways.
    enum CodingKeys: String, CodingKey {
        case device, status, statusText, canPlay, reachable, amplifierOK = "amplifierOk", speakerLineOK = "speakerLineOk", power,
             batteryPercent, batteryMinutes, lastHeard, detail
    }

    public static func judge(_ p: SpeakerProbe) -> SpeakerReadiness {
        let f = p.answer?.findings
        let amp = f?.amplifierOK ?? p.latest?.amplifierOK, line = f?.speakerLineOK ?? p.latest?.speakerLineOK
        let power = f?.power ?? p.latest?.powerSource
        let pct = f != nil ? f?.batteryPercent : p.latest?.batteryPercent
        let minutes = f != nil ? f?.batteryMinutes : p.latest?.batteryMinutes
        let status: Status
        if !p.state.isOnline {
            status = .unreachable
        } else if p.capable {
            if let f {
                status = f.amplifierOK && f.speakerLineOK ? .ready : .faulty
            } else if let a = p.answer {
                // An answer without findings (error, unsupported, expired): the test did not run.
                status = a.result == "ok" ? .untested : .faulty
            } else {
                status = .noAnswer
            }
        } else {
            status = amp == false || line == false ? .faulty : .untested
        }
        // Untested: what its telemetry last said (none: nothing speaks against it).
        let plays = status == .ready || (status == .untested && amp != false && line != false)
        return SpeakerReadiness(device: p.deviceID, status: status, statusText: status.vietnamese, canPlay: plays,
                                reachable: p.state.isOnline && status != .noAnswer, amplifierOK: amp, speakerLineOK: line, power: power,
                                batteryPercent: power == .mains ? nil : pct, batteryMinutes: power == .mains ? nil : minutes,
                                lastHeard: p.lastHeard, detail: p.answer?.detail)
    }
}

/// One place's verdict.
public struct VillageReadiness: Sendable, Hashable, Codable {
    public enum Problem: String, Sendable, Codable, CaseIterable {
        /// No loudspeaker installed there.
        case noSpeakers = "no_speakers"
        /// None of its speakers is reachable (offline, or no answer).
        case noneReachable = "none_reachable"
        /// Reachable, but every one reachable has a fault.
        case faulty

        /// Worst first: nothing to reach beats nothing answering beats broken.
        var rank: Int { Self.allCases.firstIndex(of: self)! }

        public var vietnamese: String {
            switch self {
            case .noSpeakers: "không có cụm loa"
            case .noneReachable: "không liên lạc được cụm loa nào"
            case .faulty: "loa liên lạc được nhưng hỏng (amply hoặc đường dây)"
            }
        }
        public var english: String {
            switch self {
            case .noSpeakers: "no loudspeaker"
            case .noneReachable: "no loudspeaker reachable"
            case .faulty: "reachable loudspeakers are faulty (amplifier or line)"
            }
        }
    }

    public var id: String
    public var name: String
    public var kind: ReadinessPlace.Kind
    public var commune: String
    public var communeName: String
    public var speakers: Int
    public var reachable: Int
    /// Speakers that would play a warning now.
    public var ready: Int
    public var faulty: Int
    public var onMains: Int
    public var onBattery: Int
    public var onSolar: Int
    /// Of the speakers that would play on battery: the lowest charge and the shortest estimated runtime (hours).
    public var lowestBatteryPercent: Int?
    public var shortestHours: Double?
    public var lastHeard: Date?
    /// Would hear a warning now: at least one speaker would play it.
    public var canHear: Bool
    public var problem: Problem?
    public var problemText: String?
    /// Can hear, but only on batteries.
    public var onBatteryOnly: Bool
    public var speakerRows: [SpeakerReadiness]
}

/// The answer: every place, the ones that would not hear a warning now (worst first), and those that would
/// only on battery (shortest runtime first).
public struct ReadinessReport: Sendable, Hashable, Codable {
    public var at: Date
    public var villages: [VillageReadiness]
    /// Ids of the places that would NOT hear a warning now, worst first.
    public var wouldNotHear: [String]
    /// Ids of the places that would hear it only on battery, the shortest runtime first.
    public var onBatteryOnly: [String]
    public var asked: Int
    public var answered: Int
    /// Places inside the area that could not be tested against it (no coordinates, no code).
    public var cannotBeTargeted: [String]

    public init(at: Date, places: [ReadinessPlace], probes: [String: SpeakerProbe], asked: Int, cannotBeTargeted: [String] = []) {
        self.at = at
        self.asked = asked
        self.cannotBeTargeted = cannotBeTargeted
        answered = probes.values.filter { $0.answer != nil }.count
        villages = places.map { place in
            let rows = place.speakers.map { id in
                SpeakerReadiness.judge(probes[id] ?? SpeakerProbe(deviceID: id, state: .unknown, lastHeard: nil, capable: false, latest: nil))
            }
            let playing = rows.filter(\.canPlay)
            let onBattery = playing.filter { $0.power == .battery }
            let problem: VillageReadiness.Problem? = !playing.isEmpty ? nil
                : rows.isEmpty ? .noSpeakers : rows.contains(where: \.reachable) ? .faulty : .noneReachable
            return VillageReadiness(
                id: place.id, name: place.name, kind: place.kind, commune: place.commune, communeName: place.communeName,
                speakers: rows.count, reachable: rows.filter(\.reachable).count, ready: playing.count,
                faulty: rows.filter { $0.status == .faulty }.count,
                onMains: rows.filter { $0.reachable && $0.power == .mains }.count,
                onBattery: rows.filter { $0.reachable && $0.power == .battery }.count,
                onSolar: rows.filter { $0.reachable && $0.power == .solar }.count,
                lowestBatteryPercent: onBattery.compactMap(\.batteryPercent).min(),
                shortestHours: onBattery.compactMap(\.batteryMinutes).min().map { Double($0) / 60 },
                lastHeard: rows.compactMap(\.lastHeard).max(), canHear: !playing.isEmpty, problem: problem,
                problemText: problem.map { "\($0.vietnamese) / \($0.english)" },
                onBatteryOnly: !playing.isEmpty && onBattery.count == playing.count, speakerRows: rows)
        }
        // Worst first: the kind of problem, then the most speakers out, then the longest silence, then by name.
        wouldNotHear = villages.filter { !$0.canHear }.sorted { a, b in
            let ka = (a.problem?.rank ?? 9, -a.speakers), kb = (b.problem?.rank ?? 9, -b.speakers)
            if ka != kb { return ka < kb }
            let la = a.lastHeard ?? .distantPast, lb = b.lastHeard ?? .distantPast
            if la != lb { return la < lb }
            return (a.communeName, a.name, a.id) < (b.communeName, b.name, b.id)
        }.map(\.id)
        onBatteryOnly = villages.filter(\.onBatteryOnly).sorted { a, b in
            ((a.shortestHours ?? .infinity), a.lowestBatteryPercent ?? 101, a.name) < ((b.shortestHours ?? .infinity), b.lowestBatteryPercent ?? 101, b.name)
        }.map(\.id)
    }
}
