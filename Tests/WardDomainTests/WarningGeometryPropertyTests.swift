import Foundation
import Testing
@testable import WardDomain

/// Issue 20: property tests (seeded generator, so a failure replays) for CAP polygon and circle targeting.
@Suite struct WarningGeometryPropertyTests {
    /// An independent oracle for simple polygons and points off the boundary: the crossing number
    /// (a ray to the east crosses the outline an odd number of times).
    static func winding(_ poly: [Coordinate], _ p: Coordinate) -> Bool {
        var inside = false
        for i in 0..<(poly.count - 1) {
            let a = poly[i], b = poly[i + 1]
            if (a.latitude > p.latitude) != (b.latitude > p.latitude) {
                let x = a.longitude + (p.latitude - a.latitude) * (b.longitude - a.longitude) / (b.latitude - a.latitude)
                if p.longitude < x { inside.toggle() }
            }
        }
        return inside
    }

    /// A star-shaped polygon (concave when radii vary) around a point of northern Vietnam; closed.
    static func star(_ rng: inout SeededRandom, concave: Bool) -> (centre: Coordinate, points: [Coordinate]) {
        let centre = Coordinate(latitude: 20 + rng.unit() * 3, longitude: 104 + rng.unit() * 4)
        let n = 3 + Int(rng.next() % 14)
        let base = 0.01 + rng.unit() * 0.2
        let turn = rng.unit() * 2 * .pi
        var points = (0..<n).map { i -> Coordinate in
            let r = concave ? base * (0.2 + rng.unit() * 0.8) : base
            let a = turn + Double(i) * 2 * .pi / Double(n)
            return Coordinate(latitude: centre.latitude + r * sin(a), longitude: centre.longitude + r * cos(a))
        }
        points.append(points[0])
        return (centre, points)
    }

    static func random(near c: Coordinate, spread: Double, _ rng: inout SeededRandom) -> Coordinate {
        Coordinate(latitude: c.latitude + (rng.unit() * 2 - 1) * spread, longitude: c.longitude + (rng.unit() * 2 - 1) * spread)
    }

    @Test func convexPolygonsContainTheirInscribedDiscAndNothingBeyondTheCircumscribedOne() {
        var rng = SeededRandom(seed: 201)
        for _ in 0..<300 {
            let (c, points) = Self.star(&rng, concave: false)
            let poly = GeoPolygon(points: points)
            let n = Double(points.count - 1)
            let r = hypot(points[0].latitude - c.latitude, points[0].longitude - c.longitude)
            let inradius = r * cos(.pi / n)
            for _ in 0..<50 {
                let p = Self.random(near: c, spread: 1.5 * r, &rng)
                let d = hypot(p.latitude - c.latitude, p.longitude - c.longitude)
                if d < inradius * 0.999 { #expect(poly.contains(p)) }
                if d > r * 1.001 { #expect(!poly.contains(p)) }
            }
        }
    }

    @Test func concavePolygonsAgreeWithTheWindingNumber() {
        var rng = SeededRandom(seed: 202)
        var inside = 0, outside = 0
        for _ in 0..<300 {
            let (c, points) = Self.star(&rng, concave: true)
            let poly = GeoPolygon(points: points)
            let reversed = GeoPolygon(points: points.reversed())
            let shift = Int(rng.next() % UInt64(points.count - 1))
            let rotated = GeoPolygon(points: Array(points.dropLast()[shift...] + points.dropLast()[..<shift]) + [points[shift]])
            for _ in 0..<60 {
                let p = Self.random(near: c, spread: 0.25, &rng)
                let expected = Self.winding(points, p)
                #expect(poly.contains(p) == expected, "\(points) \(p)")
                #expect(reversed.contains(p) == expected && rotated.contains(p) == expected)
                if expected { inside += 1 } else { outside += 1 }
            }
        }
        #expect(inside > 1000 && outside > 1000)  // both sides were exercised
    }

    /// Vertices and points along every edge count as inside, whatever the polygon's shape.
    @Test func pointsOnEdgesAndVerticesAreInside() {
        var rng = SeededRandom(seed: 203)
        for _ in 0..<300 {
            let (_, points) = Self.star(&rng, concave: rng.next() % 2 == 0)
            let poly = GeoPolygon(points: points)
            for i in 0..<(points.count - 1) {
                let a = points[i], b = points[i + 1]
                #expect(poly.contains(a))
                let t = rng.unit()
                let p = Coordinate(latitude: a.latitude + t * (b.latitude - a.latitude), longitude: a.longitude + t * (b.longitude - a.longitude))
                #expect(poly.contains(p), "\(a) \(b) \(t)")
            }
        }
        // Axis-aligned edges, the half-open rule's hard case: on the edge in, just off it out.
        let square = GeoPolygon(points: [.init(latitude: 21, longitude: 107), .init(latitude: 21, longitude: 108), .init(latitude: 22, longitude: 108),
                                         .init(latitude: 22, longitude: 107), .init(latitude: 21, longitude: 107)])
        #expect(square.contains(.init(latitude: 21, longitude: 107.5)) && square.contains(.init(latitude: 22, longitude: 107.5)))
        #expect(square.contains(.init(latitude: 21.5, longitude: 107)) && square.contains(.init(latitude: 21.5, longitude: 108)))
        #expect(!square.contains(.init(latitude: 20.999_999, longitude: 107.5)) && !square.contains(.init(latitude: 21.5, longitude: 108.000_001)))
        #expect(!square.contains(.init(latitude: 22, longitude: 106.5)))  // on the line of an edge, beyond it
    }

    /// A grid of villages tiled by cells: a point strictly inside a cell is in exactly that one; a polygon
    /// drawn over many villages targets exactly those whose site the oracle puts inside.
    @Test func polygonsCrossingManyVillagesTargetExactlyThoseInside() throws {
        var rng = SeededRandom(seed: 204)
        let rows = 12, cols = 12
        let origin = Coordinate(latitude: 20.8, longitude: 106.6)
        let step = 0.02
        var places = [Place(id: "qn", level: .province, name: "Quảng Ninh"), Place(id: "xa", level: .commune, name: "Xã", parentID: "qn")]
        var sites: [String: Coordinate] = [:]
        for r in 0..<rows {
            for c in 0..<cols {
                let v = "v-\(r)-\(c)"
                let site = Coordinate(latitude: origin.latitude + (Double(r) + rng.unit()) * step,
                                      longitude: origin.longitude + (Double(c) + rng.unit()) * step)
                sites[v] = site
                places.append(Place(id: v, level: .village, name: "Thôn \(r)-\(c)", parentID: "xa"))
                places.append(Place(id: "s-\(r)-\(c)", level: .site, name: "Cột loa", parentID: v, siteKind: .pole, coordinate: site))
            }
        }
        let tree = try PlaceTree(places)
        let centre = Coordinate(latitude: origin.latitude + Double(rows) * step / 2, longitude: origin.longitude + Double(cols) * step / 2)
        var sizes: [Int] = []
        for _ in 0..<100 {
            let n = 4 + Int(rng.next() % 12)
            var points = (0..<n).map { i -> Coordinate in
                let a = (Double(i) + rng.unit() * 0.9) * 2 * .pi / Double(n)  // increasing angles: a simple polygon
                let r = (0.03 + rng.unit() * 0.1)
                return Coordinate(latitude: centre.latitude + r * sin(a), longitude: centre.longitude + r * cos(a))
            }
            points.append(points[0])
            let targets = WarningTargets.resolve(areas: [CAPArea(areaDesc: "x", polygons: [GeoPolygon(points: points)])], tree: tree)
            let expected = sites.filter { Self.winding(points, $0.value) }.keys.sorted()
            #expect(targets.villages == expected)
            sizes.append(expected.count)
        }
        #expect(sizes.max()! > 40 && sizes.min()! < 40)

        // Tiles: each cell a polygon; interior points in exactly one, shared edges in both neighbours.
        func cell(_ r: Int, _ c: Int) -> GeoPolygon {
            let la = origin.latitude + Double(r) * step, lo = origin.longitude + Double(c) * step
            return GeoPolygon(points: [.init(latitude: la, longitude: lo), .init(latitude: la, longitude: lo + step),
                                       .init(latitude: la + step, longitude: lo + step), .init(latitude: la + step, longitude: lo),
                                       .init(latitude: la, longitude: lo)])
        }
        let cells = (0..<rows).flatMap { r in (0..<cols).map { c in cell(r, c) } }
        for _ in 0..<500 {
            let r = Int(rng.next() % UInt64(rows)), c = Int(rng.next() % UInt64(cols))
            let p = Coordinate(latitude: origin.latitude + (Double(r) + 0.001 + rng.unit() * 0.998) * step,
                               longitude: origin.longitude + (Double(c) + 0.001 + rng.unit() * 0.998) * step)
            #expect(cells.filter { $0.contains(p) }.count == 1)
        }
        let shared = Coordinate(latitude: origin.latitude + 3 * step, longitude: origin.longitude + (5 + 0.5) * step)
        #expect(cell(2, 5).contains(shared) && cell(3, 5).contains(shared))
    }

    /// An outline that wraps a region twice (drawn round a square twice, or looping over itself) keeps
    /// that region inside: the non-zero rule, where an even-odd test would leave it out.
    @Test func regionsWrappedTwiceStayInside() {
        let a = Coordinate(latitude: 21, longitude: 107), b = Coordinate(latitude: 21, longitude: 108)
        let c = Coordinate(latitude: 22, longitude: 108), d = Coordinate(latitude: 22, longitude: 107)
        let twice = GeoPolygon(points: [a, b, c, d, a, b, c, d, a])
        #expect(twice.contains(Coordinate(latitude: 21.5, longitude: 107.5)))
        #expect(!Self.winding([a, b, c, d, a, b, c, d, a], Coordinate(latitude: 21.5, longitude: 107.5)))  // even-odd would miss it
        #expect(!twice.contains(Coordinate(latitude: 22.5, longitude: 107.5)))
        // A figure eight: both lobes inside, the outside not.
        let eight = GeoPolygon(points: [a, c, b, d, a])
        #expect(eight.contains(Coordinate(latitude: 21.5, longitude: 107.2)) && eight.contains(Coordinate(latitude: 21.5, longitude: 107.8)))
        #expect(!eight.contains(Coordinate(latitude: 21.1, longitude: 107.5)))
    }

    @Test func circlesByGreatCircleDistance() {
        var rng = SeededRandom(seed: 205)
        for _ in 0..<2000 {
            let centre = Coordinate(latitude: 8 + rng.unit() * 15, longitude: 102 + rng.unit() * 8)
            let radius = 0.1 + rng.unit() * 50
            let circle = GeoCircle(centre: centre, radiusKm: radius)
            let bearing = rng.unit() * 360
            let inside = Geodesy.destination(from: centre, bearing: bearing, distanceKm: radius * (1 - 1e-6) * rng.unit())
            let outside = Geodesy.destination(from: centre, bearing: bearing, distanceKm: radius * (1 + 1e-6) + rng.unit() * 20)
            #expect(circle.contains(inside), "\(centre) \(radius) \(bearing)")
            #expect(!circle.contains(outside), "\(centre) \(radius) \(bearing)")
        }
        // The distance itself: Hà Nội to Hạ Long, about 125 km (great circle).
        let d = Geodesy.distanceKm(Coordinate(latitude: 21.0285, longitude: 105.8542), Coordinate(latitude: 20.9517, longitude: 107.0810))
        #expect(d > 126 && d < 129)
    }

    @Test func capTextRoundTrips() throws {
        var rng = SeededRandom(seed: 206)
        for _ in 0..<200 {
            let (_, points) = Self.star(&rng, concave: true)
            let rounded = points.map { Coordinate(latitude: ($0.latitude * 1e6).rounded() / 1e6, longitude: ($0.longitude * 1e6).rounded() / 1e6) }
            let poly = GeoPolygon(points: rounded)
            #expect(try GeoPolygon.parse(poly.text).get() == poly)
        }
        #expect(try GeoCircle.parse("21.1,107.4 2").get().text == "21.1,107.4 2")
        #expect((try? GeoCircle.parse("21.1,107.4").get()) == nil)
        #expect((try? GeoCircle.parse("21.1,107.4 -2").get()) == nil)
        #expect((try? GeoCircle.parse("91,107.4 2").get()) == nil)
        #expect((try? GeoPolygon.parse("21,107 21,108 21,107").get()) == nil)
        #expect((try? GeoPolygon.parse("21,107 21,108 22,108 21;107").get()) == nil)
        #expect((try? GeoPolygon.parse("21,107 21,108 22,108 nan,107 21,107").get()) == nil)
    }
}

/// CAP feeds (Atom, RSS): the entries that link to a CAP document, read with the CAP document's guards.
@Suite struct CAPFeedParsingTests {
    let base = URL(string: "https://kttv.example/feeds/cap.atom")!

    @Test func atomEntriesLinkToTheirCAPDocument() throws {
        let atom = """
            <feed xmlns="http://www.w3.org/2005/Atom"><entry><id> urn:a </id><link rel="alternate" type="text/html" href="/html/a"/>
            <link rel="related" type="application/cap+xml" href="a.xml"/></entry>
            <entry><link href="https://other.example/b.cap"/></entry><entry><id>c</id><link href="ftp://x/c"/></entry></feed>
            """
        let (entries, skipped) = try CAPFeed.entries(Data(atom.utf8), base: base)
        #expect(entries == [CAPFeed.Entry(id: "urn:a", url: URL(string: "https://kttv.example/feeds/a.xml")!),
                            CAPFeed.Entry(id: "https://other.example/b.cap", url: URL(string: "https://other.example/b.cap")!)])
        #expect(skipped == 1, "not http(s): skipped, counted")
    }

    @Test func rssItemsUseTheirCAPEnclosureOrLink() throws {
        let rss = """
            <rss version="2.0"><channel><title>Cảnh báo</title>
            <item><guid>g1</guid><link>https://kttv.example/html/1</link><enclosure url="https://kttv.example/cap/1.xml" type="application/cap+xml" length="1"/></item>
            <item><link>https://kttv.example/cap/2.xml</link></item></channel></rss>
            """
        let (entries, skipped) = try CAPFeed.entries(Data(rss.utf8), base: base)
        #expect(entries.map(\.url.absoluteString) == ["https://kttv.example/cap/1.xml", "https://kttv.example/cap/2.xml"])
        #expect(entries.map(\.id) == ["g1", "https://kttv.example/cap/2.xml"] && skipped == 0)
    }

    @Test func hostileOrForeignDocumentsAreRefused() {
        #expect(throws: CAPFeed.Problem.self) { try CAPFeed.entries(Data("<!DOCTYPE feed [<!ENTITY x 'y'>]><feed/>".utf8), base: base) }
        #expect(throws: CAPFeed.Problem.notAFeed("html")) { try CAPFeed.entries(Data("<html><body/></html>".utf8), base: base) }
        #expect(throws: CAPFeed.Problem.self) { try CAPFeed.entries(Data(repeating: 0x20, count: CAPFeed.maxBytes + 1), base: base) }
    }
}
