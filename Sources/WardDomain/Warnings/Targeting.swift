import Foundation

/// Which places a warning's `area`s reach.
///
/// - `polygon` and `circle`: a village is targeted when any of its sites (or the village's own point) lies
///   inside any shape; a site directly under a commune (no village) is targeted on its own, and so is a
///   commune's own point when it has no villages.
/// - `geocode` (valueName `MaDVHC`): its value is matched against the administrative unit codes of the
///   places file: a province's code targets all its communes, a commune's the whole commune, a village's
///   that village.
/// - A place the area could not be tested against is listed as cannot be targeted, never silently left out:
///   when the alert has shapes, villages (and village-less communes) without any coordinates; when it has
///   geocodes, communes without a code (unless their province's code matched). A place targeted some
///   other way is not listed.
public struct WarningTargets: Sendable, Hashable, Codable {
    public struct Untargetable: Sendable, Hashable, Codable {
        public enum Reason: String, Sendable, Codable {
            case noCoordinates = "no_coordinates"
            case noCode = "no_code"

            public var vietnamese: String {
                switch self {
                case .noCoordinates: "chưa có tọa độ"
                case .noCode: "chưa có mã đơn vị hành chính"
                }
            }
        }
        public var placeID: String
        public var level: PlaceLevel
        public var commune: String?
        public var reason: Reason

        public init(placeID: String, level: PlaceLevel, commune: String?, reason: Reason) {
            self.placeID = placeID
            self.level = level
            self.commune = commune
            self.reason = reason
        }
    }

    /// Every commune with something targeted, sorted.
    public var communes: [String]
    /// Communes targeted whole (by geocode, or by a shape when the commune has no villages).
    public var wholeCommunes: [String]
    public var villages: [String]
    /// Sites under a commune directly (no village), targeted on their own.
    public var sites: [String]
    public var untargetable: [Untargetable]

    public init(communes: [String], wholeCommunes: [String], villages: [String], sites: [String], untargetable: [Untargetable]) {
        self.communes = communes
        self.wholeCommunes = wholeCommunes
        self.villages = villages
        self.sites = sites
        self.untargetable = untargetable
    }

    public var isEmpty: Bool { wholeCommunes.isEmpty && villages.isEmpty && sites.isEmpty }

    /// The broadcast audience: whole communes, villages, and the speakers of the commune-level sites.
    public func broadcastTarget(devices: [Device]) -> BroadcastTarget {
        let siteSet = Set(sites)
        let speakers = devices.filter { $0.deviceClass == .speaker && $0.removedAt == nil && siteSet.contains($0.siteID) }.map(\.id).sorted()
        return BroadcastTarget(communes: wholeCommunes, villages: villages, speakers: speakers)
    }

    public static func resolve(areas: [CAPArea], tree: PlaceTree, geocodeNames: Set<String> = WarningPolicy.geocodeNames) -> WarningTargets {
        let shapes = areas.flatMap { a in a.polygons.map(Shape.polygon) + a.circles.map(Shape.circle) }
        let codes = Set(areas.flatMap(\.geocodes).filter { geocodeNames.contains($0.valueName.lowercased()) }
            .map { $0.value.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })

        var whole = Set<String>(), villages = Set<String>(), sites = Set<String>()
        var missing: [String: Untargetable.Reason] = [:]
        let all = tree.places.values
        var childrenOf: [String: [Place]] = [:]
        for p in all { if let parent = p.parentID { childrenOf[parent, default: []].append(p) } }
        let communes = all.filter { $0.level == .commune }

        func hit(_ c: Coordinate?) -> Bool {
            guard let c else { return false }
            return shapes.contains { $0.contains(c) }
        }

        if !shapes.isEmpty {
            for commune in communes {
                let kids = childrenOf[commune.id] ?? []
                let villageKids = kids.filter { $0.level == .village }
                for v in villageKids {
                    let points = [v.coordinate] + (childrenOf[v.id] ?? []).map(\.coordinate)
                    if points.contains(where: hit) { villages.insert(v.id) } else if points.allSatisfy({ $0 == nil }) {
                        missing[v.id] = .noCoordinates
                    }
                }
                for s in kids where s.level == .site && hit(s.coordinate) { sites.insert(s.id) }
                if villageKids.isEmpty {
                    let points = [commune.coordinate] + kids.map(\.coordinate)
                    if hit(commune.coordinate) { whole.insert(commune.id) } else if points.allSatisfy({ $0 == nil }) {
                        missing[commune.id] = .noCoordinates
                    }
                }
            }
        }
        if !codes.isEmpty {
            for commune in communes {
                let province = tree.ancestor(of: commune.id, at: .province)
                if let c = commune.code, codes.contains(c) {
                    whole.insert(commune.id)
                } else if let pc = province?.code, codes.contains(pc) {
                    whole.insert(commune.id)
                } else {
                    for v in childrenOf[commune.id] ?? [] where v.level == .village {
                        if let c = v.code, codes.contains(c) { villages.insert(v.id) }
                    }
                    if commune.code == nil && missing[commune.id] == nil { missing[commune.id] = .noCode }
                }
            }
        }
        // Targeted some way: not listed. A village inside a whole commune is covered by it.
        let villagesOnly = villages.filter { v in tree[v]?.parentID.map { !whole.contains($0) } ?? true }
        let sitesOnly = sites.filter { s in tree[s]?.parentID.map { !whole.contains($0) } ?? true }
        var touched = whole
        for v in villagesOnly { if let c = tree[v]?.parentID { touched.insert(c) } }
        for s in sitesOnly { if let c = tree[s]?.parentID { touched.insert(c) } }
        let untargetable = missing.compactMap { id, reason -> Untargetable? in
            guard let p = tree[id] else { return nil }
            let commune = p.level == .commune ? p.id : p.parentID
            if whole.contains(id) || villages.contains(id) || (commune.map(whole.contains) ?? false) { return nil }
            // A commune with no code is still reached when some of its villages were, by shape or code.
            if p.level == .commune && reason == .noCode && touched.contains(id) { return nil }
            return Untargetable(placeID: id, level: p.level, commune: commune, reason: reason)
        }.sorted { ($0.commune ?? "", $0.placeID) < ($1.commune ?? "", $1.placeID) }
        return WarningTargets(communes: touched.sorted(), wholeCommunes: whole.sorted(), villages: villagesOnly.sorted(),
                              sites: sitesOnly.sorted(), untargetable: untargetable)
    }

    enum Shape {
        case polygon(GeoPolygon)
        case circle(GeoCircle)

        func contains(_ c: Coordinate) -> Bool {
            switch self {
            case .polygon(let p): p.contains(c)
            case .circle(let r): r.contains(c)
            }
        }
    }
}
