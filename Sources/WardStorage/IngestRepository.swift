import Foundation
import WardDomain

public struct DeviceStatusRecord: Sendable, Hashable {
    public var deviceID: String
    public var liveness: DeviceLiveness
    /// The birth as received (JSON), for technicians.
    public var birth: String?
    /// The latest telemetry payload as received (JSON).
    public var lastTelemetry: String?
    public var lastTelemetryAt: Date?

    public init(deviceID: String, liveness: DeviceLiveness, birth: String? = nil, lastTelemetry: String? = nil,
                lastTelemetryAt: Date? = nil) {
        self.deviceID = deviceID
        self.liveness = liveness
        self.birth = birth
        self.lastTelemetry = lastTelemetry
        self.lastTelemetryAt = lastTelemetryAt
    }
}

public struct TelemetryRecord: Sendable, Hashable {
    public var deviceID: String
    public var receivedAt: Date
    public var deviceTime: Date
    public var boot: String
    public var seq: UInt64
    public var payload: String
    public init(deviceID: String, receivedAt: Date, deviceTime: Date, boot: String, seq: UInt64, payload: String) {
        self.deviceID = deviceID
        self.receivedAt = receivedAt
        self.deviceTime = deviceTime
        self.boot = boot
        self.seq = seq
        self.payload = payload
    }
}

public struct EventRecord: Sendable, Hashable {
    public var deviceID: String
    public var boot: String
    public var seq: UInt64
    public var type: String
    public var occurredAt: Date
    public var receivedAt: Date
    public var ticket: String?
    public var waitSeconds: Double?
    public var rating: SatisfactionLevel?
    public var detail: String?
    public init(deviceID: String, boot: String, seq: UInt64, type: String, occurredAt: Date, receivedAt: Date,
                ticket: String? = nil, waitSeconds: Double? = nil, rating: SatisfactionLevel? = nil, detail: String? = nil) {
        self.deviceID = deviceID
        self.boot = boot
        self.seq = seq
        self.type = type
        self.occurredAt = occurredAt
        self.receivedAt = receivedAt
        self.ticket = ticket
        self.waitSeconds = waitSeconds
        self.rating = rating
        self.detail = detail
    }
}

public struct RebootRecord: Sendable, Hashable, Codable {
    public var deviceID: String
    public var previousBoot: String?
    public var boot: String
    public var at: Date
    public init(deviceID: String, previousBoot: String?, boot: String, at: Date) {
        self.deviceID = deviceID
        self.previousBoot = previousBoot
        self.boot = boot
        self.at = at
    }
}

public struct PendingRecord: Sendable, Hashable, Codable {
    public var deviceID: String
    public var communeID: String
    public var deviceClass: String?
    public var model: String?
    public var firmware: String?
    public var birth: String?
    public var firstSeen: Date
    public var lastSeen: Date
    public var messages: Int
    public init(deviceID: String, communeID: String, deviceClass: String? = nil, model: String? = nil,
                firmware: String? = nil, birth: String? = nil, firstSeen: Date, lastSeen: Date, messages: Int) {
        self.deviceID = deviceID
        self.communeID = communeID
        self.deviceClass = deviceClass
        self.model = model
        self.firmware = firmware
        self.birth = birth
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.messages = messages
    }
}

public struct AckRecord: Sendable, Hashable {
    public var deviceID: String
    public var cmdID: String
    public var result: String
    public var detail: String?
    public var receivedAt: Date
    /// A self-test's findings as JSON (`SelfTestFindings.json`); nil for other commands.
    public var report: String?
    public init(deviceID: String, cmdID: String, result: String, detail: String?, receivedAt: Date, report: String? = nil) {
        self.deviceID = deviceID
        self.cmdID = cmdID
        self.result = result
        self.detail = detail
        self.receivedAt = receivedAt
        self.report = report
    }
}

public struct RejectionRecord: Sendable, Hashable, Codable {
    public var at: Date
    public var reason: String
    public var topic: String
    public var detail: String
    public init(at: Date, reason: String, topic: String, detail: String) {
        self.at = at
        self.reason = reason
        self.topic = topic
        self.detail = detail
    }
}

/// Everything one flush of the ingest path writes, in one transaction.
public struct IngestBatch: Sendable {
    public var changes: [StateChange] = []
    public var statuses: [DeviceStatusRecord] = []
    public var samples: [TelemetryRecord] = []
    public var events: [EventRecord] = []
    public var reboots: [RebootRecord] = []
    /// Merged into existing pending rows (first seen kept, messages added).
    public var pending: [PendingRecord] = []
    /// Pending devices since registered: their rows go, after `pending` is applied.
    public var settledPending: [String] = []
    public var acks: [AckRecord] = []
    /// `config_report` and `credentials_report` messages (FleetConfigRepository).
    public var configReports: [ConfigReportRecord] = []
    public var credentialsReports: [CredentialsReportRecord] = []
    /// Speakers' playback reports, for the append-only playback log.
    public var playback: [(entry: PlaybackEntry, receivedAt: Date)] = []
    public var rejections: [RejectionRecord] = []
    /// Absolute values of the controller's counters.
    public var counters: [String: UInt64] = [:]
    public var aliveAt: Date?
    /// The controller's own broker link changed.
    public var brokerLink: (connected: Bool, at: Date)?

    public init() {}

    public var isEmpty: Bool {
        changes.isEmpty && statuses.isEmpty && samples.isEmpty && events.isEmpty && reboots.isEmpty
            && pending.isEmpty && settledPending.isEmpty && acks.isEmpty && configReports.isEmpty && credentialsReports.isEmpty && playback.isEmpty && rejections.isEmpty && counters.isEmpty
            && aliveAt == nil && brokerLink == nil
    }

    public var rowCount: Int {
        changes.count + statuses.count + samples.count + events.count + reboots.count + pending.count + acks.count
            + configReports.count + credentialsReports.count
            + playback.count + rejections.count + counters.count
    }
}

/// The write side of the ingest path.
public struct IngestRepository: Sendable {
    public static let keptRejections = 1_000
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public func startRun(at: Date) throws -> (run: Int64, previousAlive: Date?) {
        try db.store.write { db in
            let prev = try Int64.fetchOne(db, sql: "SELECT max(last_alive_at) FROM controller_runs")
            try db.execute(sql: "INSERT INTO controller_runs (started_at, last_alive_at) VALUES (?, ?)",
                           arguments: [at.millis, at.millis])
            return (try db.lastInsertedRowID, prev.map(Date.init(millis:)))
        }
    }

    public func stopRun(_ run: Int64, at: Date) throws {
        try db.store.write { db in
            try db.execute(sql: """
                UPDATE controller_runs SET stopped_at = ?, last_alive_at = ?, broker_connected = 0, broker_changed_at = ?
                WHERE id = ?
                """, arguments: [at.millis, at.millis, at.millis, run])
        }
    }

    /// Writes the batch in one transaction. Returns the playback reports refused because their
    /// play was never sent to that speaker (the caller counts them as rejected).
    @discardableResult
    public func write(_ b: IngestBatch, run: Int64? = nil, fence: LeaseFence? = nil) throws -> [PlaybackEntry] {
        guard !b.isEmpty else { return [] }
        // A commune's owner writes only its own devices' rows: its flushes need not wait for others'.
        let transaction: ((SQLConnection) throws -> [PlaybackEntry]) throws -> [PlaybackEntry] =
            fence == nil ? { try db.store.write($0) } : { try db.store.writeConcurrently($0) }
        return try transaction { db in
            // A node that lost the commune (expired lease, taken over) writes nothing more for it.
            if let fence, try !ClusterRepository.holds(db, scope: fence.scope, node: fence.node, epoch: fence.epoch) {
                throw FencedOut(fence: fence)
            }
            let refused = b.playback.isEmpty ? [] : try PlaybackRepository.appendReports(db, b.playback)
            if !b.changes.isEmpty {
                let open = try db.cachedStatement(sql:
                    "INSERT INTO state_intervals (device_id, state, faults, started_at) VALUES (?, ?, ?, ?)")
                for c in b.changes {
                    // Closed, it goes into the monthly report's roll-ups in this transaction.
                    try ReportRollups.closeOpenIntervals(db, device: c.deviceID, at: c.at.millis)
                    try open.execute(arguments: [c.deviceID, c.to.rawValue, JSONText.encode(c.faults), c.at.millis])
                }
            }
            if !b.statuses.isEmpty {
                // One row per device (the latest): an upsert may not touch a row twice in one statement.
                // A status carries its birth and telemetry only once (the controller does not keep
                // them): an earlier one's (a retried batch) go with the latest.
                var latest: [String: Int] = [:]
                var statuses = b.statuses
                for (i, s) in statuses.enumerated() {
                    if let j = latest[s.deviceID] {
                        statuses[i].birth = s.birth ?? statuses[j].birth
                        if s.lastTelemetry == nil {
                            statuses[i].lastTelemetry = statuses[j].lastTelemetry
                            statuses[i].lastTelemetryAt = statuses[j].lastTelemetryAt
                        }
                    }
                    latest[s.deviceID] = i
                }
                let rows: [[SQLValue]] = latest.values.sorted().map { i in
                    let s = statuses[i], l = s.liveness
                    return [s.deviceID.sqlValue, l.state.rawValue.sqlValue, JSONText.encode(l.faults).sqlValue, l.since.millis.sqlValue,
                            l.bootID.sql, l.lastSeq.map { Int64(bitPattern: $0) }.sql, l.lastEventSeq.map { Int64(bitPattern: $0) }.sql,
                            l.lastHeard.map { $0.millis }.sql, l.heartbeat.sqlValue, s.birth.sql, s.lastTelemetry.sql, s.lastTelemetryAt.map { $0.millis }.sql]
                }
                try db.insertMany("""
                    INSERT INTO device_status (device_id, state, faults, since, boot_id, last_seq, event_seq, last_heard,
                        heartbeat_s, birth, last_telemetry, last_telemetry_at)
                    """, columns: 12, rows: rows, tail: """
                    ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, faults = excluded.faults,
                        since = excluded.since, boot_id = excluded.boot_id, last_seq = excluded.last_seq,
                        event_seq = excluded.event_seq, last_heard = excluded.last_heard,
                        heartbeat_s = excluded.heartbeat_s, birth = coalesce(excluded.birth, device_status.birth),
                        last_telemetry = coalesce(excluded.last_telemetry, device_status.last_telemetry),
                        last_telemetry_at = coalesce(excluded.last_telemetry_at, device_status.last_telemetry_at)
                    """)
            }
            try db.insertMany("INSERT INTO telemetry_samples (device_id, received_at, device_ts, boot, seq, payload)", columns: 6,
                              rows: b.samples.map { s in
                                  [s.deviceID.sqlValue, s.receivedAt.millis.sqlValue, s.deviceTime.millis.sqlValue, s.boot.sqlValue,
                                   Int64(bitPattern: s.seq).sqlValue, s.payload.sqlValue]
                              })
            let kioskActivity = try ReportRollups.newKioskActivity(db, b.events)  // before the insert: what it will add
            try db.insertMany("""
                INSERT OR IGNORE INTO device_events (device_id, boot, seq, type, occurred_at, received_at, ticket, wait_s, rating, detail)
                """, columns: 10, rows: b.events.map { e in
                    [e.deviceID.sqlValue, e.boot.sqlValue, Int64(bitPattern: e.seq).sqlValue, e.type.sqlValue, e.occurredAt.millis.sqlValue,
                     e.receivedAt.millis.sqlValue, e.ticket.sql, e.waitSeconds.sql, e.rating.map { $0.rawValue }.sql, e.detail.sql]
                })
            try ReportRollups.addKioskActivity(db, kioskActivity)
            for r in b.reboots {
                try db.execute(sql: "INSERT INTO reboots (device_id, previous_boot, boot, at) VALUES (?, ?, ?, ?)",
                               arguments: [r.deviceID, r.previousBoot, r.boot, r.at.millis])
            }
            for p in b.pending {
                try db.execute(sql: """
                    INSERT INTO pending_devices (device_id, commune_id, class, model, firmware, birth, first_seen,
                        last_seen, messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(device_id) DO UPDATE SET commune_id = excluded.commune_id,
                        class = coalesce(excluded.class, pending_devices.class), model = coalesce(excluded.model, pending_devices.model),
                        firmware = coalesce(excluded.firmware, pending_devices.firmware), birth = coalesce(excluded.birth, pending_devices.birth),
                        last_seen = \(db.dialect.greatest("pending_devices.last_seen", "excluded.last_seen")),
                        messages = pending_devices.messages + excluded.messages
                    """, arguments: [p.deviceID, p.communeID, p.deviceClass, p.model, p.firmware, p.birth,
                                     p.firstSeen.millis, p.lastSeen.millis, p.messages])
            }
            for id in b.settledPending {
                try db.execute(sql: "DELETE FROM pending_devices WHERE device_id = ?", arguments: [id])
            }
            for a in b.acks {
                try db.execute(sql: """
                    INSERT INTO command_acks (device_id, cmd_id, result, detail, received_at, report) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [a.deviceID, a.cmdID, a.result, a.detail, a.receivedAt.millis, a.report])
            }
            // An API call waiting for one of these hears of it at once.
            if !b.acks.isEmpty { db.afterNextTransaction(onCommit: { _ in ChangeSignal.acks.poke() }) }
            try FleetConfigRepository.write(db, config: b.configReports, credentials: b.credentialsReports)
            if !b.rejections.isEmpty {
                for r in b.rejections.suffix(Self.keptRejections) {
                    try db.execute(sql: "INSERT INTO rejections (at, reason, topic, detail) VALUES (?, ?, ?, ?)",
                                   arguments: [r.at.millis, r.reason, String(r.topic.prefix(256)), String(r.detail.prefix(512))])
                }
                try db.execute(sql: "DELETE FROM rejections WHERE id <= (SELECT max(id) FROM rejections) - ?",
                               arguments: [Self.keptRejections])
            }
            let now = (b.aliveAt ?? Date()).millis
            for (name, value) in b.counters {
                try db.execute(sql: """
                    INSERT INTO ingest_counters (name, value, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                    """, arguments: [name, Int64(clamping: value), now])
            }
            if let run, let link = b.brokerLink {
                try db.execute(sql: "UPDATE controller_runs SET broker_connected = ?, broker_changed_at = ? WHERE id = ?",
                               arguments: [link.connected, link.at.millis, run])
            }
            if let run, let alive = b.aliveAt {
                try db.execute(sql: "UPDATE controller_runs SET last_alive_at = ? WHERE id = ?",
                               arguments: [alive.millis, run])
            }
            return refused
        }
    }
}

extension IngestBatch {
    /// Appends a later batch, so a failed write can be retried with what came after it.
    public mutating func merge(_ later: IngestBatch) {
        changes += later.changes
        statuses += later.statuses
        samples += later.samples
        events += later.events
        reboots += later.reboots
        pending += later.pending
        settledPending += later.settledPending
        acks += later.acks
        configReports += later.configReports
        credentialsReports += later.credentialsReports
        playback += later.playback
        rejections += later.rejections
        counters.merge(later.counters) { $1 }
        aliveAt = later.aliveAt ?? aliveAt
        brokerLink = later.brokerLink ?? brokerLink
    }
}
