import Foundation
import WardDomain

public struct MediaRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Adds an item; if the same bytes are already in the library, returns the existing item.
    /// Either way the adder is recorded with their title.
    public func add(_ m: MediaItem) throws -> (item: MediaItem, isNew: Bool) {
        try db.store.write { db in
            let existing = try SQLRow.fetchOne(db, sql: "SELECT * FROM media WHERE sha256 = ?", arguments: [m.sha256])
            if existing == nil {
                try db.execute(sql: """
                    INSERT INTO media (sha256, title, format, codec, duration_s, size_bytes, sample_rate, channels, source,
                        added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [m.sha256, m.title, m.format.rawValue, m.codec, m.duration, m.sizeBytes, m.sampleRate,
                                     m.channels, JSONText.encode(m.source), m.addedAt.millis, m.addedBy])
            }
            if let by = m.addedBy {
                try db.execute(sql: "INSERT OR IGNORE INTO media_adders (sha256, user_name, title, added_at) VALUES (?, ?, ?, ?)",
                               arguments: [m.sha256, by, m.title, m.addedAt.millis])
            }
            if let existing { return (Self.item(existing), false) }
            // What was stored (times at millisecond precision), so callers see one value either way.
            let stored = try SQLRow.fetchOne(db, sql: "SELECT * FROM media WHERE sha256 = ?", arguments: [m.sha256])!
            return (Self.item(stored), true)
        }
    }

    public func get(_ sha256: String) throws -> MediaItem? {
        try db.store.read { try SQLRow.fetchOne($0, sql: "SELECT * FROM media WHERE sha256 = ?", arguments: [sha256]).map(Self.item) }
    }

    public struct Adder: Sendable, Hashable {
        public var user: String
        public var title: String
        public var at: Date
    }

    /// Everyone who added each file, first first.
    public func adders() throws -> [String: [Adder]] {
        try db.store.read { db in
            var out: [String: [Adder]] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT * FROM media_adders ORDER BY added_at, user_name") {
                out[r["sha256"], default: []].append(Adder(user: r["user_name"], title: r["title"], at: Date(millis: r["added_at"])))
            }
            return out
        }
    }

    public func list() throws -> [MediaItem] {
        try db.store.read { try SQLRow.fetchAll($0, sql: "SELECT * FROM media ORDER BY added_at DESC, sha256").map(Self.item) }
    }

    static func item(_ r: SQLRow) -> MediaItem {
        MediaItem(sha256: r["sha256"], title: r["title"], format: AudioFormat(rawValue: r["format"]) ?? .wav, codec: r["codec"],
                  duration: r["duration_s"], sizeBytes: r["size_bytes"], sampleRate: r["sample_rate"], channels: r["channels"],
                  source: JSONText.decode(MediaSource.self, r["source"]) ?? .upload(fileName: "?"),
                  addedAt: Date(millis: r["added_at"]), addedBy: r["added_by"])
    }
}
