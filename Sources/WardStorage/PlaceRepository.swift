import Foundation
import WardDomain

public struct PlaceRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Inserts or updates places (parents first), validating the merged tree as a whole.
    /// Returns (inserted, updated).
    @discardableResult
    /// The place tree as it would be after `upsert(places)`, without writing anything.
    public func tree(after places: [Place]) throws -> PlaceTree {
        try db.store.read { try Self.merged(try Self.all($0), with: places) }
    }

    static func merged(_ existing: [Place], with places: [Place]) throws -> PlaceTree {
        var merged = Dictionary(uniqueKeysWithValues: existing.map { ($0.id, $0) })
        var seen = Set<String>()
        for p in places {
            guard seen.insert(p.id).inserted else { throw PlaceError.duplicateID(p.id) }
            merged[p.id] = p
        }
        return try PlaceTree(Array(merged.values))
    }

    public func upsert(_ places: [Place]) throws -> (inserted: Int, updated: Int) {
        try db.store.write { db in
            let tree = try Self.merged(try Self.all(db), with: places)  // throws on any inconsistency: nothing is written
            let seen = Set(places.map(\.id))
            var inserted = 0, updated = 0
            for p in tree.topologicalOrder where seen.contains(p.id) {
                let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM places WHERE id = ?", arguments: [p.id]) ?? false
                try db.execute(sql: """
                    INSERT INTO places (id, level, name, parent_id, site_kind, kind_label, latitude, longitude, code)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET level = excluded.level, name = excluded.name,
                        parent_id = excluded.parent_id, site_kind = excluded.site_kind, kind_label = excluded.kind_label,
                        latitude = excluded.latitude, longitude = excluded.longitude, code = excluded.code
                    """, arguments: [p.id, p.level.rawValue, p.name, p.parentID, p.siteKind?.rawValue, p.kindLabel,
                                     p.coordinate?.latitude, p.coordinate?.longitude, p.code])
                if exists { updated += 1 } else { inserted += 1 }
            }
            return (inserted, updated)
        }
    }

    public func all() throws -> [Place] { try db.store.read { try Self.all($0) } }

    public func tree() throws -> PlaceTree { try PlaceTree(all()) }

    static func all(_ db: SQLConnection) throws -> [Place] {
        try SQLRow.fetchAll(db, sql: "SELECT * FROM places ORDER BY id").map { r in
            let lat: Double? = r["latitude"], lon: Double? = r["longitude"]
            return Place(
                id: r["id"], level: PlaceLevel(rawValue: r["level"]) ?? .site, name: r["name"], parentID: r["parent_id"],
                siteKind: (r["site_kind"] as String?).flatMap(SiteKind.init(rawValue:)), kindLabel: r["kind_label"],
                coordinate: lat.flatMap { la in lon.map { Coordinate(latitude: la, longitude: $0) } }, code: r["code"])
        }
    }
}
