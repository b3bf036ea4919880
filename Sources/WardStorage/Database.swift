import Foundation
import GRDB
import WardDomain

/// The database behind the repositories: one SQLite file (WAL, versioned migrations; the embedded
/// default) or a PostgreSQL server shared by several controller nodes. Repositories see `store`.
public final class WardDatabase: Sendable {
    public let store: any SQLStore
    /// The SQLite file's path, or the PostgreSQL URL without its password.
    public let path: String
    let registryCache = RegistryCache()

    /// A SQLite file.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")  // WAL + NORMAL: durable at checkpoints, fast commits
        }
        let pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        store = SQLiteStore(pool: pool)
    }

    /// A PostgreSQL database; migrations run under an advisory lock, so nodes may start together.
    public init(postgres location: PostgresLocation, connections: Int = 6) throws {
        path = location.display
        let pg = try PostgresStore(location, connections: connections)
        try PostgresMigrator.migrate(pg)
        store = pg
    }

    /// `postgres://…` (or `postgresql://…`) opens PostgreSQL; anything else is a SQLite file path.
    public static func open(_ location: String) throws -> WardDatabase {
        if let pg = PostgresLocation(url: location) { return try WardDatabase(postgres: pg) }
        return try WardDatabase(path: location)
    }
    public static func isPostgres(_ location: String) -> Bool { PostgresLocation(url: location) != nil }

    public var dialect: SQLDialect { store.dialect }

    /// The SQLite pool, for SQLite-only tools (benchmarks that build files, tests reading PRAGMAs).
    public var pool: DatabasePool {
        guard let s = store as? SQLiteStore else { preconditionFailure("not a SQLite database: \(path)") }
        return s.pool
    }

    public static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: places, devices, health history, ingest") { db in
            try db.execute(sql: """
                CREATE TABLE places (
                    id TEXT PRIMARY KEY,
                    level TEXT NOT NULL,
                    name TEXT NOT NULL,
                    parent_id TEXT REFERENCES places(id),
                    site_kind TEXT,
                    kind_label TEXT,
                    latitude REAL,
                    longitude REAL
                );
                CREATE INDEX places_parent ON places(parent_id);

                CREATE TABLE devices (
                    id TEXT PRIMARY KEY,
                    class TEXT NOT NULL,
                    model TEXT NOT NULL DEFAULT '',
                    firmware TEXT NOT NULL DEFAULT '',
                    site_id TEXT NOT NULL REFERENCES places(id),
                    installed_on INTEGER,
                    config TEXT NOT NULL,
                    registered_at INTEGER NOT NULL,
                    removed_at INTEGER
                );
                CREATE INDEX devices_site ON devices(site_id);

                -- Latest known state per device; the controller's memory, written back in batches.
                CREATE TABLE device_status (
                    device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
                    state TEXT NOT NULL,
                    faults TEXT NOT NULL,
                    since INTEGER NOT NULL,
                    boot_id TEXT,
                    last_seq INTEGER,
                    event_seq INTEGER,
                    last_heard INTEGER,
                    heartbeat_s REAL NOT NULL,
                    birth TEXT,
                    last_telemetry TEXT,
                    last_telemetry_at INTEGER
                );

                -- Every health change as an interval: availability over any window is exact.
                CREATE TABLE state_intervals (
                    id INTEGER PRIMARY KEY,
                    device_id TEXT NOT NULL,
                    state TEXT NOT NULL,
                    faults TEXT NOT NULL,
                    started_at INTEGER NOT NULL,
                    ended_at INTEGER
                );
                CREATE INDEX state_intervals_device ON state_intervals(device_id, started_at);
                CREATE INDEX state_intervals_open ON state_intervals(device_id) WHERE ended_at IS NULL;

                CREATE TABLE reboots (
                    id INTEGER PRIMARY KEY,
                    device_id TEXT NOT NULL,
                    previous_boot TEXT,
                    boot TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                CREATE INDEX reboots_device ON reboots(device_id, at);

                CREATE TABLE telemetry_samples (
                    id INTEGER PRIMARY KEY,
                    device_id TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    device_ts INTEGER NOT NULL,
                    boot TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    payload TEXT NOT NULL
                );
                CREATE INDEX telemetry_device_time ON telemetry_samples(device_id, received_at);

                CREATE TABLE device_events (
                    id INTEGER PRIMARY KEY,
                    device_id TEXT NOT NULL,
                    boot TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    ticket TEXT,
                    wait_s REAL,
                    rating TEXT,
                    detail TEXT
                );
                CREATE INDEX device_events_device_time ON device_events(device_id, occurred_at);

                CREATE TABLE command_acks (
                    id INTEGER PRIMARY KEY,
                    device_id TEXT NOT NULL,
                    cmd_id TEXT NOT NULL,
                    result TEXT NOT NULL,
                    detail TEXT,
                    received_at INTEGER NOT NULL
                );
                CREATE INDEX command_acks_cmd ON command_acks(cmd_id);

                -- Devices that spoke but are not registered: shown to technicians, never auto-adopted.
                CREATE TABLE pending_devices (
                    device_id TEXT PRIMARY KEY,
                    commune_id TEXT NOT NULL,
                    class TEXT,
                    model TEXT,
                    firmware TEXT,
                    birth TEXT,
                    first_seen INTEGER NOT NULL,
                    last_seen INTEGER NOT NULL,
                    messages INTEGER NOT NULL
                );

                CREATE TABLE ingest_counters (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );

                -- The most recent rejected messages, for "why is my device not showing up".
                CREATE TABLE rejections (
                    id INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    topic TEXT NOT NULL,
                    detail TEXT NOT NULL
                );

                -- One row per controller run: lets a restart tell "device went silent" from
                -- "nobody was listening".
                CREATE TABLE controller_runs (
                    id INTEGER PRIMARY KEY,
                    started_at INTEGER NOT NULL,
                    last_alive_at INTEGER NOT NULL,
                    stopped_at INTEGER
                );
                """)
        }
        m.registerMigration("v2: controller's broker link") { db in
            try db.execute(sql: """
                ALTER TABLE controller_runs ADD COLUMN broker_connected INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE controller_runs ADD COLUMN broker_changed_at INTEGER;
                """)
        }
        m.registerMigration("v3: media library") { db in
            try db.execute(sql: """
                -- Audio addressed by the SHA-256 of its bytes: the same file is stored once.
                CREATE TABLE media (
                    sha256 TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    format TEXT NOT NULL,
                    codec TEXT NOT NULL,
                    duration_s REAL NOT NULL,
                    size_bytes INTEGER NOT NULL,
                    sample_rate INTEGER,
                    channels INTEGER,
                    source TEXT NOT NULL,
                    added_at INTEGER NOT NULL,
                    added_by TEXT
                );
                """)
        }
        m.registerMigration("v4: users, broadcast schedule, actions, quiet hours") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    name TEXT PRIMARY KEY,
                    role TEXT NOT NULL,
                    display_name TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE broadcast_items (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    level TEXT NOT NULL,
                    programme TEXT NOT NULL,
                    duration_s REAL NOT NULL,
                    recurrence TEXT NOT NULL,
                    target TEXT NOT NULL,
                    volume INTEGER,
                    priority_order INTEGER,
                    status TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    approved_by TEXT,
                    approved_at INTEGER
                );
                CREATE INDEX broadcast_items_status ON broadcast_items(status);
                -- Append-only: every decision about an item, by whom and when.
                CREATE TABLE broadcast_actions (
                    id INTEGER PRIMARY KEY,
                    item_id TEXT NOT NULL,
                    action TEXT NOT NULL,
                    user_name TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    detail TEXT
                );
                CREATE INDEX broadcast_actions_item ON broadcast_actions(item_id, at);
                CREATE TABLE commune_settings (
                    commune_id TEXT PRIMARY KEY,
                    quiet_start TEXT,
                    quiet_end TEXT
                );
                """)
        }
        m.registerMigration("v5: speaker groups") { db in
            try db.execute(sql: """
                -- Named sets of loudspeaker clusters an item can target (e.g. "Chợ và bến xe").
                CREATE TABLE speaker_groups (
                    name TEXT PRIMARY KEY,
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE speaker_group_members (
                    group_name TEXT NOT NULL REFERENCES speaker_groups(name) ON DELETE CASCADE,
                    speaker_id TEXT NOT NULL,
                    PRIMARY KEY (group_name, speaker_id)
                );
                """)
        }
        m.registerMigration("v6: playback log, schedule revision, upstream inbox") { db in
            try db.execute(sql: """
                -- Nhật ký phát: append-only, one line per thing that happened to one play on one speaker.
                CREATE TABLE playback_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    item_id TEXT NOT NULL,
                    scheduled_start INTEGER NOT NULL,
                    speaker_id TEXT NOT NULL,
                    event TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    reason TEXT,
                    by_play TEXT,
                    detail TEXT,
                    recorded_at INTEGER NOT NULL,
                    -- a repeated report (QoS 1 redelivery, resend after reconnect) adds nothing
                    UNIQUE (item_id, scheduled_start, speaker_id, event)
                );
                CREATE INDEX playback_log_start ON playback_log (scheduled_start);
                CREATE TRIGGER playback_log_no_update BEFORE UPDATE ON playback_log
                    BEGIN SELECT RAISE(ABORT, 'playback_log is append-only'); END;
                CREATE TRIGGER playback_log_no_delete BEFORE DELETE ON playback_log
                    BEGIN SELECT RAISE(ABORT, 'playback_log is append-only'); END;
                -- Bumped by every change that can alter what speakers must play; the controller polls it.
                CREATE TABLE schedule_revision (id INTEGER PRIMARY KEY CHECK (id = 1), rev INTEGER NOT NULL);
                INSERT INTO schedule_revision (id, rev) VALUES (1, 0);
                -- Bulletins from the provincial source information system (hệ thống thông tin nguồn).
                CREATE TABLE upstream_bulletins (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    source TEXT NOT NULL,
                    source_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    level TEXT NOT NULL,
                    communes TEXT NOT NULL,
                    programme TEXT NOT NULL,
                    duration_s REAL NOT NULL,
                    received_at INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    item_id TEXT,
                    handled_by TEXT,
                    handled_at INTEGER,
                    detail TEXT,
                    UNIQUE (source, source_id)
                );
                """)
        }
        m.registerMigration("v7: alarms, notifications, settings, monthly reports") { db in
            try db.execute(sql: """
                -- One row per alarm over its whole life: raised, acknowledged (who, when), cleared.
                CREATE TABLE alarms (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    subject TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    device_id TEXT,
                    device_class TEXT,
                    village_id TEXT,
                    commune_id TEXT,
                    members TEXT NOT NULL DEFAULT '[]',
                    detail TEXT NOT NULL DEFAULT '',
                    since INTEGER NOT NULL,
                    raised_at INTEGER NOT NULL,
                    acked_by TEXT,
                    acked_at INTEGER,
                    ack_note TEXT,
                    cleared_at INTEGER,
                    clear_reason TEXT,
                    last_reminded_at INTEGER,
                    reminders INTEGER NOT NULL DEFAULT 0
                );
                -- At most one open alarm per subject and kind.
                CREATE UNIQUE INDEX alarms_open ON alarms (subject, kind) WHERE cleared_at IS NULL;
                CREATE INDEX alarms_raised ON alarms (raised_at, severity, kind, commune_id, acked_at, cleared_at);  -- covers the monthly totals
                CREATE INDEX alarms_cleared ON alarms (cleared_at);

                -- The outbox of notifications: survives restarts, shows failures.
                CREATE TABLE notifications (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    alarm_id INTEGER,
                    event TEXT NOT NULL,
                    sink TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    delivered_at INTEGER,
                    gave_up_at INTEGER,
                    last_error TEXT
                );
                CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

                -- Operator settings as JSON documents (alarm rules, KPI targets, report day).
                CREATE TABLE settings (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL,
                    updated_by TEXT,
                    updated_at INTEGER NOT NULL
                );

                -- Monthly reports as generated, kept: what was sent is what can be shown again.
                CREATE TABLE monthly_reports (
                    month TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    format TEXT NOT NULL,
                    lang TEXT NOT NULL,
                    body BLOB NOT NULL,
                    generated_at INTEGER NOT NULL,
                    generated_by TEXT NOT NULL,
                    PRIMARY KEY (month, scope, format, lang)
                );

                -- KPI reads of the playback log go by speaker and item over a period.
                CREATE INDEX playback_log_event_start ON playback_log (event, scheduled_start, item_id, speaker_id);
                CREATE INDEX device_events_type_time ON device_events (type, occurred_at, device_id, rating, wait_s);
                """)
        }
        m.registerMigration("v8: passwords, sessions, API tokens, audit log") { db in
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN password_hash TEXT;
                -- JSON list of commune ids the user is limited to; NULL: all.
                ALTER TABLE users ADD COLUMN communes TEXT;
                ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE users ADD COLUMN locked_until INTEGER;
                -- Tokens are stored as SHA-256 hashes: a copy of the database signs nobody in.
                CREATE TABLE sessions (
                    token_hash TEXT PRIMARY KEY,
                    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                    csrf TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    last_seen INTEGER NOT NULL,
                    address TEXT
                );
                CREATE TABLE api_tokens (
                    token_hash TEXT PRIMARY KEY,
                    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                    label TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    last_used INTEGER
                );
                -- Append-only: who changed what, when, from where.
                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL,
                    user_name TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT,
                    detail TEXT,
                    address TEXT
                );
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                """)
        }
        m.registerMigration("v9: one-time claim codes") { db in
            try db.execute(sql: """
                -- One open code per device; the secret is a hash of the code (protocol §7), not the code.
                CREATE TABLE claim_codes (
                    device_id TEXT PRIMARY KEY,
                    secret TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_at INTEGER,
                    failures INTEGER NOT NULL DEFAULT 0
                );
                """)
        }
        m.registerMigration("v10: registry revision") { db in
            try db.execute(sql: """
                -- Bumped by every change of the registry (devices, places), by whatever process or
                -- tool writes it: a running controller polls this one row and applies a
                -- registration at once, without re-reading the registry on a timer.
                CREATE TABLE registry_revision (id INTEGER PRIMARY KEY CHECK (id = 1), rev INTEGER NOT NULL);
                INSERT INTO registry_revision (id, rev) VALUES (1, 0);
                CREATE TRIGGER devices_insert_rev AFTER INSERT ON devices BEGIN UPDATE registry_revision SET rev = rev + 1; END;
                CREATE TRIGGER devices_update_rev AFTER UPDATE ON devices BEGIN UPDATE registry_revision SET rev = rev + 1; END;
                CREATE TRIGGER devices_delete_rev AFTER DELETE ON devices BEGIN UPDATE registry_revision SET rev = rev + 1; END;
                CREATE TRIGGER places_insert_rev AFTER INSERT ON places BEGIN UPDATE registry_revision SET rev = rev + 1; END;
                CREATE TRIGGER places_update_rev AFTER UPDATE ON places BEGIN UPDATE registry_revision SET rev = rev + 1; END;
                CREATE TRIGGER places_delete_rev AFTER DELETE ON places BEGIN UPDATE registry_revision SET rev = rev + 1; END;
                -- Tamper and storage-full events, looked up by the alarm service and the device page.
                CREATE INDEX device_events_incidents ON device_events (type, received_at) WHERE type IN ('tamper', 'storage_full');
                """)
        }
        m.registerMigration("v11: each event recorded once") { db in
            try db.execute(sql: """
                -- A QoS 1 event delivered twice is one event (tickets and ratings count once), even
                -- when the controller's stored sequence was a few seconds old after a crash.
                DELETE FROM device_events WHERE id NOT IN (SELECT min(id) FROM device_events GROUP BY device_id, boot, seq);
                CREATE UNIQUE INDEX device_events_once ON device_events (device_id, boot, seq);
                """)
        }
        m.registerMigration("v12: who added each library file") { db in
            try db.execute(sql: """
                -- The same bytes are stored once, but several people may add them (the same text read
                -- out, the same file uploaded): each keeps their own title, and sees the file as theirs.
                CREATE TABLE media_adders (
                    sha256 TEXT NOT NULL REFERENCES media(sha256),
                    user_name TEXT NOT NULL,
                    title TEXT NOT NULL,
                    added_at INTEGER NOT NULL,
                    PRIMARY KEY (sha256, user_name)
                );
                INSERT OR IGNORE INTO media_adders (sha256, user_name, title, added_at)
                    SELECT sha256, added_by, title, added_at FROM media WHERE added_by IS NOT NULL;
                """)
        }
        m.registerMigration("v13: upstream bulletins handled per commune") { db in
            try db.execute(sql: """
                -- A bulletin sent to several communes is each commune's to schedule or dismiss: one
                -- commune's officer handling it does not take it from the others' inboxes.
                CREATE TABLE upstream_handling (
                    bulletin_id INTEGER NOT NULL REFERENCES upstream_bulletins(id),
                    commune TEXT NOT NULL,
                    status TEXT NOT NULL,
                    item_id TEXT,
                    handled_by TEXT NOT NULL,
                    handled_at INTEGER NOT NULL,
                    PRIMARY KEY (bulletin_id, commune)
                );
                INSERT INTO upstream_handling (bulletin_id, commune, status, item_id, handled_by, handled_at)
                    SELECT b.id, c.value, b.status, b.item_id, coalesce(b.handled_by, '?'), coalesce(b.handled_at, b.received_at)
                    FROM upstream_bulletins b, json_each(b.communes) c WHERE b.status != 'inbox';
                """)
        }
        m.registerMigration("v14: disabled users, audit before/after") { db in
            try db.execute(sql: """
                -- A disabled user keeps their name, history and tokens, but cannot sign in, and no
                -- session or token of theirs is accepted until they are enabled again.
                ALTER TABLE users ADD COLUMN disabled_at INTEGER;
                -- What a change replaced and what it put instead, as JSON objects (NULL: not recorded).
                ALTER TABLE audit_log ADD COLUMN before TEXT;
                ALTER TABLE audit_log ADD COLUMN after TEXT;
                CREATE INDEX audit_log_user ON audit_log (user_name, id);
                CREATE INDEX audit_log_at ON audit_log (at);
                """)
        }
        m.registerMigration("v15: API tokens with a public id and an expiry") { db in
            try db.execute(sql: """
                -- A token is listed and revoked by a public id (never by its hash, which is as good
                -- as the secret for whoever reads the list); tokens made before get one now.
                ALTER TABLE api_tokens ADD COLUMN id TEXT;
                UPDATE api_tokens SET id = 'tok-' || lower(hex(randomblob(8)));
                CREATE UNIQUE INDEX api_tokens_id ON api_tokens (id);
                CREATE INDEX api_tokens_user ON api_tokens (user_name);
                -- NULL: until revoked.
                ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
                """)
        }
        m.registerMigration("v16: claim codes slowed down, not locked") { db in
            // Wrong proofs in a row and the latest one's time: the next waits (ClaimThrottle).
            try db.execute(sql: "ALTER TABLE claim_codes ADD COLUMN last_failure_at INTEGER")
        }
        for shared in SharedMigrations.all {
            m.registerMigration(shared.id) { db in try db.execute(sql: shared.sqlite) }
        }
        return m
    }
}

extension Date {
    var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    init(millis: Int64) { self.init(timeIntervalSince1970: Double(millis) / 1000) }
}

enum JSONText {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .millisecondsSince1970
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }()
    static func encode(_ v: some Encodable) -> String { String(decoding: try! encoder.encode(v), as: UTF8.self) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String?) -> T? {
        guard let s else { return nil }
        return try? decoder.decode(T.self, from: Data(s.utf8))
    }

    /// Decodes each distinct text once: lists of many rows repeat a few documents (targets,
    /// recurrences, programmes), and JSONDecoder dominated reading them.
    struct Memo<T: Decodable> {
        private var seen: [String: T?] = [:]
        mutating func decode(_ s: String?) -> T? {
            guard let s else { return nil }
            if let hit = seen[s] { return hit }
            let v = JSONText.decode(T.self, s)
            seen[s] = v
            return v
        }
    }
}
