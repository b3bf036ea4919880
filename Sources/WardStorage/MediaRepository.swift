import Foundation
import GRDB
import WardDomain

public struct MediaRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Adds an item; if the same bytes are already in the library, returns the existing item.
    public func add(_ m: MediaItem) throws -> (item: MediaItem, isNew: Bool) {
        try db.pool.write { db in
            if let existing = try Row.fetchOne(db, sql: "SELECT * FROM media WHERE sha256 = ?", arguments: [m.sha256]) {
                return (Self.item(existing), false)
            }
            try db.execute(sql: """
                INSERT INTO media (sha256, title, format, codec, duration_s, size_bytes, sample_rate, channels, source,
                    added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [m.sha256, m.title, m.format.rawValue, m.codec, m.duration, m.sizeBytes, m.sampleRate,
                                 m.channels, JSONText.encode(m.source), m.addedAt.millis, m.addedBy])
            // What was stored (times at millisecond precision), so callers see one value either way.
            let stored = try Row.fetchOne(db, sql: "SELECT * FROM media WHERE sha256 = ?", arguments: [m.sha256])!
            return (Self.item(stored), true)
        }
    }

    public func get(_ sha256: String) throws -> MediaItem? {
        try db.pool.read { try Row.fetchOne($0, sql: "SELECT * FROM media WHERE sha256 = ?", arguments: [sha256]).map(Self.item) }
    }

    public func list() throws -> [MediaItem] {
        try db.pool.read { try Row.fetchAll($0, sql: "SELECT * FROM media ORDER BY added_at DESC, sha256").map(Self.item) }
    }

    static func item(_ r: Row) -> MediaItem {
        MediaItem(sha256: r["sha256"], title: r["title"], format: AudioFormat(rawValue: r["format"]) ?? .wav, codec: r["codec"],
                  duration: r["duration_s"], sizeBytes: r["size_bytes"], sampleRate: r["sample_rate"], channels: r["channels"],
                  source: JSONText.decode(MediaSource.self, r["source"]) ?? .upload(fileName: "?"),
                  addedAt: Date(millis: r["added_at"]), addedBy: r["added_by"])
    }
}
