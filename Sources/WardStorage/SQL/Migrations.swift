import Foundation

/// A migration written for both engines. SQLite registers it with GRDB's migrator after v16;
/// PostgreSQL applies it after its baseline. Never edit one that has shipped: add the next.
struct SharedMigration: Sendable {
    let id: String
    let sqlite: String
    let postgres: String
    init(_ id: String, both: String) { self.id = id; sqlite = both; postgres = both }
    init(_ id: String, sqlite: String, postgres: String) { self.id = id; self.sqlite = sqlite; self.postgres = postgres }
}

enum SharedMigrations {
    static let all: [SharedMigration] = [
        SharedMigration("v17: controller nodes, leases (communes, leader), broker links", both: """
            -- Each controller process is a node; it beats here every few seconds.
            CREATE TABLE nodes (
                id TEXT PRIMARY KEY,
                api_url TEXT,
                started_at BIGINT NOT NULL,
                heartbeat_at BIGINT NOT NULL,
                draining BIGINT NOT NULL DEFAULT 0,
                stopped_at BIGINT,
                brokers TEXT NOT NULL DEFAULT '[]'
            );
            -- Who runs what: 'commune:<id>' (liveness, alarms, delivery of one commune) or 'leader'
            -- (the singletons). A lease is held until expires_at; epoch grows at every change of holder,
            -- so a node that lost a lease and writes late can be told from the new holder.
            CREATE TABLE leases (
                scope TEXT PRIMARY KEY,
                node_id TEXT NOT NULL,
                epoch BIGINT NOT NULL,
                acquired_at BIGINT NOT NULL,
                renewed_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                -- Set when the holder handed it over (drain, shutdown): no gap to account for.
                released_at BIGINT
            );
            CREATE INDEX leases_node ON leases (node_id);
            -- When a commune had no live owner: history reads these spans as unknown, never offline.
            CREATE TABLE ownership_gaps (
                commune_id TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                ended_at BIGINT NOT NULL,
                previous_node TEXT,
                next_node TEXT NOT NULL,
                PRIMARY KEY (commune_id, started_at)
            );
            """),
        LifecycleSchema.v18,  // telemetry roll-ups, lifecycle marks, retention deletes of the append-only logs
        ReportRollupSchema.v19,  // the monthly report's roll-ups
        SMSSchema.v20,  // SMS contacts and what each text covered (SMSRepository.swift)
        FirmwareSchema.v21,  // firmware images, campaigns and jobs (FirmwareRepository.swift)
        FleetConfigSchema.v22,  // device configuration, device secrets, credential rotations (FleetConfigRepository.swift)
        WarningSchema.v23,  // place codes, warning sources, CAP alerts and their targets (WarningRepository.swift)
        PlaybackRepository.v24,  // emergency dispatches: logged before a commune-wide emergency goes out (PlaybackRepository.swift)
        WarningPlaySchema.v25,  // warnings in force: repetition plans, the plays each alert made (WarningRepository.swift)
        HealthQueries.v26,  // a loudspeaker self-test's findings, kept with its acknowledgement (storm readiness)
        WarningApprovedSchema.v27,  // repeats of priority warnings in the communes that approved them (WarningRepository.swift)
        LifecycleSchema.v28,  // raw telemetry packed per device and hour; roll-up fields packed (LifecycleRepository.swift)
    ]
}

/// PostgreSQL's migrator: the baseline, then the shared list, each applied once, recorded in
/// `schema_migrations`, under an advisory lock so that nodes starting together wait for each other.
enum PostgresMigrator {
    static let lockKey: Int64 = 0x5741_5244_464C_5431  // "WARDFLT1"

    static func migrate(_ store: PostgresStore) throws {
        try store.unmanaged { db in
            try db.execute(sql: "SELECT pg_advisory_lock(?)", arguments: [lockKey])
            defer { try? db.execute(sql: "SELECT pg_advisory_unlock(?)", arguments: [lockKey]) }
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            let done = Set(try String.fetchAll(db, sql: "SELECT id FROM schema_migrations"))
            let steps = [(PostgresSchema.baselineID, PostgresSchema.baseline)] + SharedMigrations.all.map { ($0.id, $0.postgres) }
            let known = Set(steps.map(\.0))
            if let unknown = done.subtracting(known).sorted().first {
                throw SQLStoreError.migration("the database has migration \"\(unknown)\", which this build does not know: it was made by a newer WardFleet")
            }
            for (id, sql) in steps where !done.contains(id) {
                try db.execute(sql: "BEGIN")
                do {
                    try db.execute(sql: sql.hasSuffix(";") ? sql : sql + ";\n")  // several statements: one script
                    try db.execute(sql: "INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)",
                                   arguments: [id, Int64(Date().timeIntervalSince1970 * 1000)])
                    try db.execute(sql: "COMMIT")
                } catch {
                    try? db.execute(sql: "ROLLBACK")
                    throw SQLStoreError.migration("\(id): \(error)")
                }
            }
        }
    }
}
