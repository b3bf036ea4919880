import Foundation
import WardDomain

/// An emergency about to go out on a commune's topic: the one line logged before it is sent, in
/// place of its speakers' `scheduled` lines (written right after it, or from it on recovery).
public struct EmergencyDispatch: Sendable, Equatable {
    public var key: PlayKey
    public var commune: String
    public var at: Date
    /// Every speaker the message may reach (the play's audience there), sorted.
    public var speakers: [String]
    /// The `scheduled` lines' detail (a start moved from the play's own).
    public var detail: String?
    public init(key: PlayKey, commune: String, at: Date, speakers: [String], detail: String?) {
        self.key = key
        self.commune = commune
        self.at = at
        self.speakers = speakers
        self.detail = detail
    }

    /// Its speakers' `scheduled` lines.
    public var lines: [PlaybackEntry] {
        speakers.map { PlaybackEntry(key: key, speaker: $0, event: .scheduled, at: at, detail: detail) }
    }
}

/// The append-only playback log (nhật ký phát).
public struct PlaybackRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    static let v24 = SharedMigration("v24: emergency dispatches", both: """
        -- A play is logged before it is sent (a speaker's report counts only for a play sent to it).
        -- An emergency on a commune's topic is logged first as one row here, with its speakers;
        -- their 5,000 `scheduled` lines follow it (complete = 1 once written, in the same
        -- transaction), so writing them is not between the call and the speakers.
        CREATE TABLE emergency_dispatches (
            item_id TEXT NOT NULL,
            scheduled_start BIGINT NOT NULL,
            commune_id TEXT NOT NULL,
            at BIGINT NOT NULL,
            speakers TEXT NOT NULL,
            detail TEXT,
            complete INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (item_id, scheduled_start, commune_id)
        );
        CREATE INDEX emergency_dispatches_incomplete ON emergency_dispatches (complete, at);
        """)

    /// Logs `lines` and announces `dispatches` (one transaction): what must be stored before
    /// anything of it is sent.
    public func dispatch(_ lines: [PlaybackEntry], announcing dispatches: [EmergencyDispatch], recordedAt: Date) throws {
        try db.store.write { db in
            _ = try Self.append(db, lines.map { ($0, recordedAt) })
            try db.insertMany("INSERT INTO emergency_dispatches (item_id, scheduled_start, commune_id, at, speakers, detail)", columns: 6,
                              rows: dispatches.map { d in
                                  [.text(d.key.item), .int(d.key.startMillis), .text(d.commune), .int(d.at.millis),
                                   .text(d.speakers.joined(separator: "\n")), d.detail.map(SQLValue.text) ?? .null]
                              }, tail: "ON CONFLICT DO NOTHING")
        }
    }

    /// Writes the dispatches' `scheduled` lines and marks them complete (one transaction).
    public func complete(_ dispatches: [EmergencyDispatch], recordedAt: Date) throws {
        guard !dispatches.isEmpty else { return }
        try db.store.write { db in
            _ = try Self.append(db, dispatches.flatMap(\.lines).map { ($0, recordedAt) })
            let st = try db.cachedStatement(sql: "UPDATE emergency_dispatches SET complete = 1 WHERE item_id = ? AND scheduled_start = ? AND commune_id = ?")
            for d in dispatches { try st.execute(arguments: [d.key.item, d.key.startMillis, d.commune]) }
        }
    }

    /// Dispatches whose lines were not written (the controller stopped in between), optionally of
    /// some communes only; `complete` them to repair the log.
    public func incompleteDispatches(communes: Set<String>? = nil) throws -> [EmergencyDispatch] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM emergency_dispatches WHERE complete = 0 ORDER BY at").map(Self.dispatch)
                .filter { communes?.contains($0.commune) ?? true }
        }
    }

    static func dispatch(_ r: SQLRow) -> EmergencyDispatch {
        EmergencyDispatch(key: PlayKey(item: r["item_id"], start: Date(millis: r["scheduled_start"])), commune: r["commune_id"],
                          at: Date(millis: r["at"]), speakers: (r["speakers"] as String).split(separator: "\n").map(String.init),
                          detail: r["detail"])
    }

    /// Appends lines; a line already logged (same play, speaker and event) is ignored.
    /// Returns how many were new.
    @discardableResult
    public func append(_ entries: [PlaybackEntry], recordedAt: Date) throws -> Int {
        guard !entries.isEmpty else { return 0 }
        return try db.store.write { try Self.append($0, entries.map { ($0, recordedAt) }) }
    }

    static func append(_ db: SQLConnection, _ entries: [(entry: PlaybackEntry, receivedAt: Date)]) throws -> Int {
        // Multi-row inserts that hand back the lines actually added (a line already logged is
        // skipped, and must not count twice in the roll-ups): an emergency's 5,000 `scheduled`
        // lines are written before it goes out, so this is on its critical path.
        let columns = 9
        let perStatement = 30_000 / columns
        var added: [(item: String, start: Int64, speaker: String, event: String)] = []
        var from = 0
        while from < entries.count {
            let chunk = entries[from..<min(from + perStatement, entries.count)]
            var arguments = SQLArguments()
            arguments.values.reserveCapacity(chunk.count * columns)
            for (e, recordedAt) in chunk {
                arguments.values += [.text(e.key.item), .int(e.key.startMillis), .text(e.speaker), .text(e.event.rawValue), .int(e.at.millis),
                                     e.reason.map { .text($0.rawValue) } ?? .null, e.by.map(SQLValue.text) ?? .null,
                                     e.detail.map(SQLValue.text) ?? .null, .int(recordedAt.millis)]
            }
            let rows = try SQLRow.fetchAll(db, sql: """
                INSERT INTO playback_log (item_id, scheduled_start, speaker_id, event, at, reason, by_play, detail, recorded_at)
                VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                ON CONFLICT DO NOTHING RETURNING item_id, scheduled_start, speaker_id, event
                """, arguments: arguments)
            for r in rows { added.append((r[0], r[1], r[2], r[3])) }
            from += chunk.count
        }
        try ReportRollups.addPlayback(db, added)
        return added.count
    }

    /// Appends speakers' reports, each only for a play sent to that speaker (its `scheduled` line,
    /// written before the agenda goes out, is there); returns the reports refused.
    static func appendReports(_ db: SQLConnection, _ reports: [(entry: PlaybackEntry, receivedAt: Date)]) throws -> [PlaybackEntry] {
        let sent = try db.cachedStatement(sql: """
            SELECT 1 FROM playback_log WHERE item_id = ? AND scheduled_start = ? AND speaker_id = ? AND event = 'scheduled'
            """)
        // Many reports of one play (an emergency's 5,000 speakers answering at once): read the
        // speakers it was sent to in one query rather than one query per report.
        var speakersOf: [PlayKey: Set<String>] = [:]
        for (play, n) in Dictionary(reports.map { ($0.entry.key, 1) }, uniquingKeysWith: +) where n >= 50 {
            speakersOf[play] = Set(try SQLRow.fetchAll(db, sql: """
                SELECT speaker_id FROM playback_log WHERE event = 'scheduled' AND item_id = ? AND scheduled_start = ?
                """, arguments: [play.item, play.startMillis]).map { $0[0] as String })
        }
        var known: [(PlaybackEntry, Date)] = []
        var refused: [PlaybackEntry] = []
        /// Emergencies announced on a commune topic whose `scheduled` lines are not written yet.
        var dispatched: [PlayKey: [String: EmergencyDispatch]] = [:]
        let dispatchesOf = try db.cachedStatement(sql: "SELECT * FROM emergency_dispatches WHERE item_id = ? AND scheduled_start = ? AND complete = 0")
        for (e, at) in reports {
            let wasSent = try speakersOf[e.key].map { $0.contains(e.speaker) }
                ?? (Bool.fetchOne(sent, arguments: [e.key.item, e.key.startMillis, e.speaker]) == true)
            if wasSent {
                known.append((e, at))
                continue
            }
            // A report may overtake the lines of an emergency logged by its dispatch: the line
            // comes from the dispatch, then the report.
            if dispatched[e.key] == nil {
                var bySpeaker: [String: EmergencyDispatch] = [:]
                for d in try SQLRow.fetchAll(dispatchesOf, arguments: [e.key.item, e.key.startMillis]).map(dispatch) {
                    for s in d.speakers { bySpeaker[s] = d }
                }
                dispatched[e.key] = bySpeaker
            }
            if let d = dispatched[e.key]?[e.speaker] {
                known.append((PlaybackEntry(key: e.key, speaker: e.speaker, event: .scheduled, at: d.at, detail: d.detail), at))
                known.append((e, at))
                speakersOf[e.key]?.insert(e.speaker)
            } else {
                refused.append(e)
            }
        }
        _ = try append(db, known)
        return refused
    }

    /// Lines of plays scheduled to start within [from, to), optionally of one item.
    public func entries(scheduledFrom from: Date, to: Date, item: String? = nil) throws -> [PlaybackEntry] {
        try db.store.read { db in
            var sql = "SELECT * FROM playback_log WHERE scheduled_start >= ? AND scheduled_start < ?"
            var args: [any SQLValueConvertible] = [from.millis, to.millis]
            if let item {
                sql += " AND item_id = ?"
                args.append(item)
            }
            return try SQLRow.fetchAll(db, sql: sql + " ORDER BY id", arguments: SQLArguments(args)).compactMap(Self.entry)
        }
    }

    /// Every line of one item, all occurrences.
    public func entries(item: String) throws -> [PlaybackEntry] {
        try db.store.read { try SQLRow.fetchAll($0, sql: "SELECT * FROM playback_log WHERE item_id = ? ORDER BY id", arguments: [item]).compactMap(Self.entry) }
    }

    /// Lines of the given plays on the given speakers.
    public func entries(of pairs: [(PlayKey, String)]) throws -> [PlaybackEntry] {
        guard !pairs.isEmpty else { return [] }
        return try db.store.read { db in
            // No ORDER BY in SQL: with it SQLite chose the index on scheduled_start alone and read
            // every speaker's lines of that start for each pair (25 s for a cancelled emergency's
            // 5,000 speakers); the unique index finds a pair's few lines, sorted here by id.
            let st = try db.cachedStatement(sql: "SELECT * FROM playback_log WHERE item_id = ? AND scheduled_start = ? AND speaker_id = ?")
            // Many speakers of one play (a cancelled 5,000-speaker emergency closed at once): its lines in one
            // read through the same unique index's prefix, rather than 5,000 reads that held the delivery
            // (and an emergency called meanwhile) for a quarter of a second. Lines come out pair by pair as asked.
            var perKey: [PlayKey: Int] = [:]
            for (k, _) in pairs { perKey[k, default: 0] += 1 }
            var read: [PlayKey: [String: [SQLRow]]] = [:]
            for (k, n) in perKey where n >= 50 {
                read[k] = Dictionary(grouping: try SQLRow.fetchAll(db, sql: "SELECT * FROM playback_log WHERE item_id = ? AND scheduled_start = ?",
                                                                   arguments: [k.item, k.startMillis])) { $0["speaker_id"] as String }
            }
            var out: [PlaybackEntry] = []
            for (k, s) in pairs {
                let rows = try read[k].map { $0[s] ?? [] } ?? SQLRow.fetchAll(st, arguments: [k.item, k.startMillis, s])
                out += rows.sorted { ($0["id"] as Int64) < ($1["id"] as Int64) }.compactMap(Self.entry)
            }
            return out
        }
    }

    /// Plays sent to a speaker (scheduled at or after `since`) with no final line yet.
    public func open(since: Date) throws -> [(PlayKey, String)] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT item_id, scheduled_start, speaker_id FROM playback_log p
                WHERE event = 'scheduled' AND scheduled_start >= ? AND NOT EXISTS (
                    SELECT 1 FROM playback_log q WHERE q.item_id = p.item_id AND q.scheduled_start = p.scheduled_start
                        AND q.speaker_id = p.speaker_id AND q.event IN ('finished', 'interrupted', 'missed'))
                """, arguments: [since.millis]).map {
                (PlayKey(item: $0["item_id"], start: Date(millis: $0["scheduled_start"])), $0["speaker_id"])
            }
        }
    }

    static func entry(_ r: SQLRow) -> PlaybackEntry? {
        guard let event = PlaybackEvent(rawValue: r["event"]) else { return nil }
        return PlaybackEntry(key: PlayKey(item: r["item_id"], start: Date(millis: r["scheduled_start"])), speaker: r["speaker_id"],
                             event: event, at: Date(millis: r["at"]), reason: (r["reason"] as String?).flatMap(PlaybackReason.init),
                             by: r["by_play"], detail: r["detail"])
    }
}

public enum UpstreamStoreError: Error, Equatable, CustomStringConvertible {
    case unknown(Int64)
    public var description: String {
        switch self {
        case .unknown(let id): "không có bản tin nguồn số \(id) / no upstream bulletin #\(id)"
        }
    }
}

/// The inbox of bulletins from the provincial source system.
public struct UpstreamRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Stores a bulletin; returns it with its local id, and false if this source had sent it already.
    public func receive(_ b: UpstreamBulletin) throws -> (UpstreamBulletin, isNew: Bool) {
        try db.store.write { db in
            if let r = try SQLRow.fetchOne(db, sql: "SELECT * FROM upstream_bulletins WHERE source = ? AND source_id = ?",
                                        arguments: [b.source, b.sourceID]) {
                return (Self.bulletin(r), false)
            }
            try db.execute(sql: """
                INSERT INTO upstream_bulletins (source, source_id, title, level, communes, programme, duration_s, received_at, status, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [b.source, b.sourceID, b.title, b.level.rawValue, JSONText.encode(b.communes), JSONText.encode(b.programme),
                                 b.duration, b.receivedAt.millis, b.status.rawValue, b.detail])
            var out = b
            out.id = try db.lastInsertedRowID
            return (out, true)
        }
    }

    public func setStatus(_ id: Int64, _ status: UpstreamBulletin.Status, item: String?, by: String, at: Date, detail: String? = nil) throws {
        try db.store.write { db in
            try db.execute(sql: """
                UPDATE upstream_bulletins SET status = ?, item_id = coalesce(?, item_id), handled_by = ?, handled_at = ?,
                    detail = coalesce(?, detail) WHERE id = ?
                """, arguments: [status.rawValue, item, by, at.millis, detail, id])
            guard db.changesCount > 0 else { throw UpstreamStoreError.unknown(id) }
        }
    }

    public func find(source: String, sourceID: String) throws -> UpstreamBulletin? {
        try db.store.read {
            try SQLRow.fetchOne($0, sql: "SELECT * FROM upstream_bulletins WHERE source = ? AND source_id = ?", arguments: [source, sourceID])
                .map(Self.bulletin)
        }
    }

    public func get(_ id: Int64) throws -> UpstreamBulletin {
        try db.store.read { db in
            guard let r = try SQLRow.fetchOne(db, sql: "SELECT * FROM upstream_bulletins WHERE id = ?", arguments: [id]) else {
                throw UpstreamStoreError.unknown(id)
            }
            return try Self.withText(Self.bulletin(r), db)
        }
    }

    /// How each commune of a bulletin was handled, by commune.
    public func handling(_ id: Int64) throws -> [String: UpstreamBulletin.Handling] {
        try handling(of: [id])[id] ?? [:]
    }

    public func handling(of ids: [Int64]? = nil) throws -> [Int64: [String: UpstreamBulletin.Handling]] {
        try db.store.read { db in
            var out: [Int64: [String: UpstreamBulletin.Handling]] = [:]
            let sql = "SELECT * FROM upstream_handling" + (ids.map { " WHERE " + SQLDialect.isIn("bulletin_id", count: $0.count) } ?? "")
            for r in try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(ids ?? [])) {
                out[r["bulletin_id"], default: [:]][r["commune"]] = UpstreamBulletin.Handling(
                    status: UpstreamBulletin.Status(rawValue: r["status"]) ?? .scheduled, itemID: r["item_id"], by: r["handled_by"],
                    at: Date(millis: r["handled_at"]))
            }
            return out
        }
    }

    /// Records `communes` of bulletin `id` as handled; once every commune of it is, the bulletin
    /// leaves the inbox (scheduled if any commune scheduled it). Throws if one was handled already.
    public func handle(_ id: Int64, communes: Set<String>, _ status: UpstreamBulletin.Status, item: String?, by: String, at: Date,
                       detail: String? = nil) throws {
        try db.store.write { db in
            guard let r = try SQLRow.fetchOne(db, sql: "SELECT * FROM upstream_bulletins WHERE id = ?", arguments: [id]) else {
                throw UpstreamStoreError.unknown(id)
            }
            let b = Self.bulletin(r)
            for c in communes.sorted() {
                try db.execute(sql: """
                    INSERT INTO upstream_handling (bulletin_id, commune, status, item_id, handled_by, handled_at) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [id, c, status.rawValue, item, by, at.millis])
            }
            let handled = try SQLRow.fetchAll(db, sql: "SELECT commune, status FROM upstream_handling WHERE bulletin_id = ?", arguments: [id])
            guard Set(b.communes).isSubset(of: Set(handled.map { $0["commune"] as String })) else { return }
            let overall: UpstreamBulletin.Status = handled.contains { ($0["status"] as String) == UpstreamBulletin.Status.scheduled.rawValue }
                ? .scheduled : status
            try db.execute(sql: """
                UPDATE upstream_bulletins SET status = ?, item_id = coalesce(?, item_id), handled_by = ?, handled_at = ?,
                    detail = coalesce(?, detail) WHERE id = ?
                """, arguments: [overall.rawValue, item, by, at.millis, detail, id])
        }
    }

    /// Newest first; only those waiting unless `all`.
    public func list(all: Bool = false) throws -> [UpstreamBulletin] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: all ? "SELECT * FROM upstream_bulletins ORDER BY received_at DESC, id DESC"
                                          : "SELECT * FROM upstream_bulletins WHERE status = 'inbox' ORDER BY received_at DESC, id DESC")
                .map { try Self.withText(Self.bulletin($0), db) }
        }
    }

    /// `b` with the text it is read from, when it is speech (TTS) of the library.
    static func withText(_ b: UpstreamBulletin, _ db: SQLConnection) throws -> UpstreamBulletin {
        guard case .media(let sha) = b.programme,
              let s = try String.fetchOne(db, sql: "SELECT source FROM media WHERE sha256 = ?", arguments: [sha]),
              case .tts(_, let text)? = JSONText.decode(MediaSource.self, s) else { return b }
        var out = b
        out.text = text
        return out
    }

    static func bulletin(_ r: SQLRow) -> UpstreamBulletin {
        UpstreamBulletin(id: r["id"], source: r["source"], sourceID: r["source_id"], title: r["title"],
                         level: BroadcastLevel(rawValue: r["level"]) ?? .normal,
                         communes: JSONText.decode([String].self, r["communes"]) ?? [],
                         programme: JSONText.decode(Programme.self, r["programme"]) ?? .media(sha256: ""),
                         duration: r["duration_s"], receivedAt: Date(millis: r["received_at"]),
                         status: UpstreamBulletin.Status(rawValue: r["status"]) ?? .inbox, itemID: r["item_id"],
                         handledBy: r["handled_by"], handledAt: (r["handled_at"] as Int64?).map(Date.init(millis:)), detail: r["detail"])
    }
}
