import Foundation

/// A CAP `polygon`: WGS84 points, closed (the first point repeated last), at least four pairs.
///
/// Inside is decided in the latitude/longitude plane, as CAP areas are drawn, by the non-zero winding rule:
/// where an outline that crosses itself wraps a region twice, that region is still inside (the forecaster
/// drew it). A point on an edge or a vertex counts as inside (a speaker on the line drawn by the forecaster
/// hears the warning). Polygons crossing the antimeridian are not handled (nothing in Vietnam is near it).
public struct GeoPolygon: Sendable, Hashable, Codable {
    public var points: [Coordinate]

    public init(points: [Coordinate]) { self.points = points }

    /// "lat,lon lat,lon …" as CAP writes it. Nil, with the reason, when it is not a closed polygon of valid points.
    public static func parse(_ text: String) -> Result<GeoPolygon, GeoParseError> {
        var points: [Coordinate] = []
        for pair in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            guard let c = parsePair(pair) else { return .failure(.badPair(String(pair.prefix(40)))) }
            points.append(c)
        }
        guard points.count >= 4 else { return .failure(.tooFewPoints(points.count)) }
        guard points.first == points.last else { return .failure(.notClosed) }
        return .success(GeoPolygon(points: points))
    }

    /// "lat,lon" with lat in -90…90, lon in -180…180.
    static func parsePair(_ s: Substring) -> Coordinate? {
        let parts = s.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let lat = Double(parts[0]), let lon = Double(parts[1]), lat.isFinite, lon.isFinite else { return nil }
        let c = Coordinate(latitude: lat, longitude: lon)
        return c.isValid ? c : nil
    }

    /// Distance (degrees) within which a point counts as on an edge: about 0.1 mm.
    static let edgeTolerance = 1e-9

    public func contains(_ p: Coordinate) -> Bool {
        guard points.count >= 2 else { return false }
        let x = p.longitude, y = p.latitude
        var winding = 0
        var j = points.count - 1
        for i in 0..<points.count {
            let x1 = points[j].longitude, y1 = points[j].latitude
            let x2 = points[i].longitude, y2 = points[i].latitude
            if Self.onSegment(x, y, x1, y1, x2, y2) { return true }
            // Upward edges crossing the point's latitude with the point on their left count +1,
            // downward ones with it on their right -1 (half-open in latitude: a vertex is counted once).
            let side = (x2 - x1) * (y - y1) - (x - x1) * (y2 - y1)
            if y1 <= y {
                if y2 > y && side > 0 { winding += 1 }
            } else if y2 <= y && side < 0 {
                winding -= 1
            }
            j = i
        }
        return winding != 0
    }

    static func onSegment(_ x: Double, _ y: Double, _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> Bool {
        let t = edgeTolerance
        guard x >= min(x1, x2) - t, x <= max(x1, x2) + t, y >= min(y1, y2) - t, y <= max(y1, y2) + t else { return false }
        let dx = x2 - x1, dy = y2 - y1
        let length = (dx * dx + dy * dy).squareRoot()
        if length == 0 { return abs(x - x1) <= t && abs(y - y1) <= t }
        let cross = (x - x1) * dy - (y - y1) * dx
        return abs(cross) / length <= t
    }

    /// "lat,lon lat,lon …", as CAP writes it.
    public var text: String {
        points.map { "\(Self.number($0.latitude)),\(Self.number($0.longitude))" }.joined(separator: " ")
    }

    static func number(_ v: Double) -> String {
        var s = String(format: "%.6f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}

/// A CAP `circle`: "lat,lon radius" with the radius in kilometres. Inside is by great-circle distance
/// (haversine on the mean Earth radius); a point at exactly the radius is inside.
public struct GeoCircle: Sendable, Hashable, Codable {
    public var centre: Coordinate
    public var radiusKm: Double

    public init(centre: Coordinate, radiusKm: Double) {
        self.centre = centre
        self.radiusKm = radiusKm
    }

    public static func parse(_ text: String) -> Result<GeoCircle, GeoParseError> {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        guard parts.count == 2 else { return .failure(.badCircle) }
        guard let c = GeoPolygon.parsePair(parts[0]) else { return .failure(.badPair(String(parts[0].prefix(40)))) }
        guard let r = Double(parts[1]), r.isFinite, r >= 0 else { return .failure(.badCircle) }
        return .success(GeoCircle(centre: c, radiusKm: r))
    }

    public func contains(_ p: Coordinate) -> Bool {
        Geodesy.distanceKm(centre, p) <= radiusKm * (1 + 1e-12)
    }

    public var text: String { "\(GeoPolygon.number(centre.latitude)),\(GeoPolygon.number(centre.longitude)) \(GeoPolygon.number(radiusKm))" }
}

public enum GeoParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case badPair(String)
    case tooFewPoints(Int)
    case notClosed
    case badCircle

    public var description: String {
        switch self {
        case .badPair(let p): "cặp tọa độ '\(p)' không đúng dạng \"vĩ độ,kinh độ\" / pair is not \"lat,lon\" in range"
        case .tooFewPoints(let n): "đa giác cần ít nhất 4 điểm, có \(n) / a polygon needs at least 4 points, has \(n)"
        case .notClosed: "đa giác phải khép kín (điểm cuối trùng điểm đầu) / a polygon must end at its first point"
        case .badCircle: "hình tròn phải có dạng \"vĩ độ,kinh độ bán_kính_km\" / a circle is \"lat,lon radius_km\""
        }
    }
}

public enum Geodesy {
    /// Mean Earth radius (IUGG), km.
    public static let earthRadiusKm = 6371.0088

    public static func distanceKm(_ a: Coordinate, _ b: Coordinate) -> Double {
        let φ1 = a.latitude * .pi / 180, φ2 = b.latitude * .pi / 180
        let dφ = φ2 - φ1, dλ = (b.longitude - a.longitude) * .pi / 180
        let h = sin(dφ / 2) * sin(dφ / 2) + cos(φ1) * cos(φ2) * sin(dλ / 2) * sin(dλ / 2)
        return 2 * earthRadiusKm * asin(min(1, h.squareRoot()))
    }

    /// The point reached from `from` going `distanceKm` on the initial bearing (degrees from north).
    public static func destination(from: Coordinate, bearing: Double, distanceKm: Double) -> Coordinate {
        let δ = distanceKm / earthRadiusKm, θ = bearing * .pi / 180
        let φ1 = from.latitude * .pi / 180, λ1 = from.longitude * .pi / 180
        let φ2 = asin(sin(φ1) * cos(δ) + cos(φ1) * sin(δ) * cos(θ))
        let λ2 = λ1 + atan2(sin(θ) * sin(δ) * cos(φ1), cos(δ) - sin(φ1) * sin(φ2))
        var lon = λ2 * 180 / .pi
        if lon > 180 { lon -= 360 } else if lon < -180 { lon += 360 }
        return Coordinate(latitude: φ2 * 180 / .pi, longitude: lon)
    }
}
