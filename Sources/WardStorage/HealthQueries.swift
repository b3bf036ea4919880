import Foundation
import WardDomain

/// The read side: what technicians and reports ask of the stored health history.
public struct HealthQueries: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Latest state of every device (`only`: of that one device, without reading the others).
    /// Without `payloads`, the births and last telemetry are left out (nil): the controller's
    /// restart needs only the liveness, and a province's stored payloads are tens of MB.
    public func statuses(only id: String? = nil, payloads: Bool = true) throws -> [String: DeviceStatusRecord] {
        try db.store.read { db in
            let filter = id == nil ? "" : " WHERE id = ?"
            let devices = Dictionary(uniqueKeysWithValues: try SQLRow.fetchAll(db, sql: "SELECT * FROM devices" + filter, arguments: SQLArguments(id.map { [$0] } ?? []))
                .map { r in (r["id"] as String, DeviceRepository.device(r)) })
            var out: [String: DeviceStatusRecord] = [:]
            let columns = payloads ? "*" : "device_id, state, faults, since, boot_id, last_seq, event_seq, last_heard, heartbeat_s, last_telemetry_at"
            for r in try SQLRow.fetchAll(db, sql: "SELECT \(columns) FROM device_status" + (id == nil ? "" : " WHERE device_id = ?"),
                                      arguments: SQLArguments(id.map { [$0] } ?? [])) {
                let id: String = r["device_id"]
                guard let d = devices[id] else { continue }
                var l = DeviceLiveness(deviceClass: d.deviceClass, config: d.config, since: Date(millis: r["since"]),
                                       heartbeat: r["heartbeat_s"])
                l.state = HealthState(rawValue: r["state"]) ?? .unknown
                l.faults = JSONText.decode([Fault].self, r["faults"]) ?? []
                if l.state == .degraded { l.classFaults = l.faults }
                l.bootID = r["boot_id"]
                l.lastSeq = (r["last_seq"] as Int64?).map { UInt64(bitPattern: $0) }
                l.lastEventSeq = (r["event_seq"] as Int64?).map { UInt64(bitPattern: $0) }
                l.lastHeard = (r["last_heard"] as Int64?).map(Date.init(millis:))
                out[id] = DeviceStatusRecord(deviceID: id, liveness: l, birth: payloads ? r["birth"] : nil,
                                             lastTelemetry: payloads ? r["last_telemetry"] : nil,
                                             lastTelemetryAt: (r["last_telemetry_at"] as Int64?).map(Date.init(millis:)))
            }
            return out
        }
    }

    /// State intervals overlapping `window` for the given devices (all when nil).
    public func intervals(devices ids: [String]? = nil, overlapping window: DateInterval) throws -> [String: [StateInterval]] {
        try db.store.read { db in
            var sql = """
                SELECT device_id, state, faults, started_at, ended_at FROM state_intervals
                WHERE started_at < ? AND (ended_at IS NULL OR ended_at > ?)
                """
            var args: [any SQLValueConvertible] = [window.end.millis, window.start.millis]
            if let ids {
                sql += " AND " + SQLDialect.isIn("device_id", count: ids.count)
                args += ids
            }
            sql += " ORDER BY device_id, started_at, id"
            var out: [String: [StateInterval]] = [:]
            // Few distinct fault lists exist; decoding each once keeps month-long reads fast.
            var faultCache: [String: [Fault]] = ["[]": []]
            // Columns by position: a month of a province is hundreds of thousands of rows.
            var rows = try SQLRow.fetchCursor(db, sql: sql, arguments: SQLArguments(args))
            var lastDevice = "", current: [StateInterval] = []
            while let r = rows.next() {
                let device: String = r[0]
                if device != lastDevice {
                    if !lastDevice.isEmpty { out[lastDevice, default: []] += current }
                    lastDevice = device
                    current = []
                }
                let end: Int64? = r[4]
                let faultText: String = r[2]
                let faults: [Fault]
                if let f = faultCache[faultText] { faults = f } else {
                    faults = JSONText.decode([Fault].self, faultText) ?? []
                    faultCache[faultText] = faults
                }
                current.append(StateInterval(state: HealthState(rawValue: r[1]) ?? .unknown, start: Date(millis: r[3]),
                                             end: end.map(Date.init(millis:)), faults: faults))
            }
            if !lastDevice.isEmpty { out[lastDevice, default: []] += current }
            return out
        }
    }

    /// The most recent state changes of one device, newest first.
    public func history(device id: String, limit: Int = 20) throws -> [StateInterval] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM state_intervals WHERE device_id = ? ORDER BY started_at DESC, id DESC LIMIT ?",
                             arguments: [id, limit]).map { r in
                let end: Int64? = r["ended_at"]
                return StateInterval(state: HealthState(rawValue: r["state"]) ?? .unknown, start: Date(millis: r["started_at"]),
                                     end: end.map(Date.init(millis:)), faults: JSONText.decode([Fault].self, r["faults"]) ?? [])
            }
        }
    }

    public func reboots(device id: String, limit: Int = 10) throws -> [RebootRecord] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM reboots WHERE device_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                             arguments: [id, limit]).map {
                RebootRecord(deviceID: $0["device_id"], previousBoot: $0["previous_boot"], boot: $0["boot"], at: Date(millis: $0["at"]))
            }
        }
    }

    /// The newest `limit` samples, newest first.
    public func samples(device id: String, limit: Int = 10) throws -> [TelemetryRecord] {
        try db.store.read { c in
            try RawTelemetry.newest(c, device: id, to: .max, limit: limit).reversed().map(RawTelemetry.record(id))
        }
    }

    /// Samples received in `window`, oldest first, at most `limit` (the newest kept).
    public func samples(device id: String, in window: DateInterval, limit: Int = 2000) throws -> [TelemetryRecord] {
        try db.store.read { c in
            try RawTelemetry.newest(c, device: id, from: window.start.millis, to: window.end.millis, limit: limit).map(RawTelemetry.record(id))
        }
    }

    /// Samples stored, packed into hours or not.
    public func sampleCount() throws -> Int {
        try db.store.read { try RawTelemetry.count($0) }
    }

    /// The commune a pending (unregistered, already heard) device reports from, when it is not
    /// `commune`: registered there, everything it says would be refused (identity_mismatch).
    public func pendingCommune(of id: String, ifNot commune: String) throws -> String? {
        try db.store.read { db in
            try String.fetchOne(db, sql: "SELECT commune_id FROM pending_devices WHERE device_id = ? AND commune_id <> ?",
                                arguments: [id, commune])
        }
    }

    public func pending() throws -> [PendingRecord] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM pending_devices ORDER BY last_seen DESC").map {
                PendingRecord(deviceID: $0["device_id"], communeID: $0["commune_id"], deviceClass: $0["class"],
                              model: $0["model"], firmware: $0["firmware"], birth: $0["birth"],
                              firstSeen: Date(millis: $0["first_seen"]), lastSeen: Date(millis: $0["last_seen"]),
                              messages: $0["messages"])
            }
        }
    }

    public func counters() throws -> [String: UInt64] {
        try db.store.read { db in
            var out: [String: UInt64] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT name, value FROM ingest_counters") {
                // A cluster node's commune units count apart ("name@commune"); shown, they add up.
                let name: String = r["name"]
                let base = name.split(separator: "@", maxSplits: 1).first.map(String.init) ?? name
                out[base, default: 0] &+= UInt64(clamping: r["value"] as Int64)
            }
            return out
        }
    }

    /// The counters one commune unit of a cluster node keeps ("name@unit"), by their base names.
    public func counters(unit: String) throws -> [String: UInt64] {
        try db.store.read { db in
            var out: [String: UInt64] = [:]
            // The unit as given: LIKE would take `_` as a wildcard and, in SQLite, ignore case.
            let suffix = db.dialect.matches("name", ["", "@" + unit])
            for r in try SQLRow.fetchAll(db, sql: "SELECT name, value FROM ingest_counters WHERE \(suffix.sql)", arguments: [suffix.pattern]) {
                let name: String = r["name"]
                out[String(name.dropLast(unit.count + 1))] = UInt64(clamping: r["value"] as Int64)
            }
            return out
        }
    }

    public func recentRejections(limit: Int = 20) throws -> [RejectionRecord] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM rejections ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                RejectionRecord(at: Date(millis: $0["at"]), reason: $0["reason"], topic: $0["topic"], detail: $0["detail"])
            }
        }
    }

    /// The latest rejections of messages published under this device's id (any commune): why
    /// nothing it says is taken, for the technician and the vendor.
    public func recentRejections(device: String, limit: Int = 10) throws -> [RejectionRecord] {
        try db.store.read { db in
            // Any commune: wardfleet/v1/<commune>/<device>/…, the device id as given (ids differ by case).
            let topic = db.dialect.matches("topic", ["wardfleet/v1/", "/" + device + "/", ""])
            return try SQLRow.fetchAll(db, sql: "SELECT * FROM rejections WHERE \(topic.sql) ORDER BY id DESC LIMIT ?",
                                       arguments: [topic.pattern, limit]).map {
                RejectionRecord(at: Date(millis: $0["at"]), reason: $0["reason"], topic: $0["topic"], detail: $0["detail"])
            }
        }
    }

    static let v26 = SharedMigration("v26: self-test findings with acknowledgements", both: """
        -- A loudspeaker's self_test acknowledgement carries what it found (amplifier, speaker line,
        -- power, battery): kept here as JSON beside the result, read by storm readiness.
        ALTER TABLE command_acks ADD COLUMN report TEXT;
        """)

    /// Acknowledgements of a command (only those of `device` when given: another device's
    /// message cannot answer for it).
    public func acks(command cmdID: String, device: String? = nil) throws -> [AckRecord] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM command_acks WHERE cmd_id = ?" + (device == nil ? "" : " AND device_id = ?") + " ORDER BY id",
                             arguments: SQLArguments([cmdID] + (device.map { [$0] } ?? []))).map {
                AckRecord(deviceID: $0["device_id"], cmdID: $0["cmd_id"], result: $0["result"], detail: $0["detail"],
                          receivedAt: Date(millis: $0["received_at"]), report: $0["report"])
            }
        }
    }

    /// Kiosk activity (tickets, ratings) of the given kiosks within `window`, by device.
    public func kioskActivity(devices ids: [String]? = nil, in window: DateInterval) throws -> [String: [KioskActivity]] {
        try db.store.read { db in
            var sql = """
                SELECT device_id, type, occurred_at, wait_s, rating FROM device_events
                WHERE occurred_at >= ? AND occurred_at < ?
                  AND type IN ('ticket_issued', 'ticket_served', 'rating_submitted')
                """
            var args: [any SQLValueConvertible] = [window.start.millis, window.end.millis]
            if let ids {
                sql += " AND " + SQLDialect.isIn("device_id", count: ids.count)
                args += ids
            }
            sql += " ORDER BY occurred_at, id"
            var out: [String: [KioskActivity]] = [:]
            for r in try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(args)) {
                let at = Date(millis: r["occurred_at"])
                let a: KioskActivity?
                switch r["type"] as String {
                case "ticket_issued": a = .ticketIssued(at: at)
                case "ticket_served": a = .ticketServed(at: at, waitSeconds: r["wait_s"] ?? 0)
                default: a = (r["rating"] as String?).flatMap(SatisfactionLevel.init(rawValue:)).map { .rating(at: at, level: $0) }
                }
                if let a { out[r["device_id"] as String, default: []].append(a) }
            }
            return out
        }
    }

    /// Per kiosk within `window`: tickets issued, every served ticket's wait, ratings by level.
    /// Counted by SQLite; only waits come back one by one (the P90 needs them).
    public func kioskTotals(devices ids: [String], in window: DateInterval) throws -> [String: KioskTotals] {
        guard !ids.isEmpty else { return [:] }
        let wanted = Set(ids)
        return try db.store.read { db in
            var out: [String: KioskTotals] = [:]
            let args: SQLArguments = [window.start.millis, window.end.millis]
            for r in try SQLRow.fetchAll(db, sql: """
                SELECT device_id, type, rating, count(*) FROM device_events
                WHERE type IN ('ticket_issued', 'rating_submitted') AND occurred_at >= ? AND occurred_at < ?
                GROUP BY device_id, type, rating
                """, arguments: args) {
                let id: String = r[0]
                guard wanted.contains(id) else { continue }
                let n: Int = r[3]
                if (r[1] as String) == "ticket_issued" {
                    out[id, default: KioskTotals()].issued += n
                } else if let level = (r[2] as String?).flatMap(SatisfactionLevel.init(rawValue:)) {
                    out[id, default: KioskTotals()].ratings[level, default: 0] += n
                }
            }
            var rows = try SQLRow.fetchCursor(db, sql: """
                SELECT device_id, wait_s FROM device_events WHERE type = 'ticket_served' AND occurred_at >= ? AND occurred_at < ?
                """, arguments: args)
            while let r = rows.next() {
                let id: String = r[0]
                guard wanted.contains(id) else { continue }
                out[id, default: KioskTotals()].waits.append(r[1] ?? 0)
            }
            return out
        }
    }

    /// Tamper and storage-full events: the latest of each device and type received since `since`.
    public func latestIncidents(since: Date) throws -> [String: [String: DeviceIncident]] {
        try db.store.read { db in
            var out: [String: [String: DeviceIncident]] = [:]
            for r in try SQLRow.fetchAll(db, sql: """
                SELECT device_id, type, occurred_at, received_at, detail, id FROM device_events
                WHERE type IN ('tamper', 'storage_full') AND received_at >= ?
                UNION ALL
                -- Wrong claim codes in a row (ClaimThrottle.alarmAfter) on a code not yet used.
                SELECT device_id, 'claim_attempts', last_failure_at, last_failure_at,
                       failures || ' lần sai mã liên tiếp / wrong codes in a row', 0 FROM claim_codes
                WHERE failures >= ? AND used_at IS NULL AND last_failure_at >= ?
                ORDER BY 4, 6
                """, arguments: [since.millis, ClaimThrottle.alarmAfter, since.millis]) {
                let i = DeviceIncident(type: r["type"], occurredAt: Date(millis: r["occurred_at"]),
                                       receivedAt: Date(millis: r["received_at"]), detail: r["detail"])
                out[r["device_id"] as String, default: [:]][i.type] = i
            }
            return out
        }
    }

    /// One device's tamper and storage-full events, newest first.
    public func incidents(device id: String, limit: Int = 20) throws -> [DeviceIncident] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT type, occurred_at, received_at, detail FROM device_events
                WHERE device_id = ? AND type IN ('tamper', 'storage_full') ORDER BY received_at DESC, id DESC LIMIT ?
                """, arguments: [id, limit]).map {
                DeviceIncident(type: $0["type"], occurredAt: Date(millis: $0["occurred_at"]), receivedAt: Date(millis: $0["received_at"]),
                               detail: $0["detail"])
            }
        }
    }

    /// The stored telemetry a kiosk's counters are read from: the last sample before `window`
    /// (the base of the first increase) and, within it, the last sample of each boot on each
    /// local day (device time). Counters only grow within a boot, so these carry every increase
    /// and date it to its day, without reading a month of samples one by one.
    public func kioskCounterSamples(device id: String, in window: DateInterval, calendar: LocalCalendar)
        throws -> (base: TelemetryRecord?, samples: [TelemetryRecord])
    {
        try db.store.read { c in
            let record = RawTelemetry.record(id)
            let base = try RawTelemetry.newest(c, device: id, to: window.start.millis, limit: 1).first.map(record)
            var last: [String: Int] = [:]
            let all = try RawTelemetry.samples(c, device: id, from: window.start.millis, to: window.end.millis)
            for (i, s) in all.enumerated() {
                last[s.boot + "|" + calendar.dayKey(Date(millis: s.deviceTime))] = i
            }
            var samples = last.values.sorted().map { record(all[$0]) }
            samples.sort { ($0.receivedAt, $0.seq) < ($1.receivedAt, $1.seq) }
            return (base, samples)
        }
    }

    /// The boots of a kiosk (among `boots`) that sent tickets or ratings as events, by event type.
    public func kioskEventBoots(device id: String, boots: Set<String>) throws -> KioskEventBoots {
        guard !boots.isEmpty else { return KioskEventBoots() }
        return try db.store.read { db in
            var out = KioskEventBoots()
            let list = Array(boots)
            for r in try SQLRow.fetchAll(db, sql: """
                SELECT DISTINCT boot, type FROM device_events WHERE device_id = ?
                  AND type IN ('ticket_issued', 'ticket_served', 'rating_submitted')
                  AND \(SQLDialect.isIn("boot", count: list.count))
                """, arguments: SQLArguments([id] + list)) {
                let boot: String = r["boot"]
                switch r["type"] as String {
                case "ticket_issued": out.issued.insert(boot)
                case "ticket_served": out.served.insert(boot)
                default: out.rated.insert(boot)
                }
            }
            return out
        }
    }

    public func eventCount(device id: String, type: String) throws -> Int {
        try db.store.read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM device_events WHERE device_id = ? AND type = ?",
                             arguments: [id, type]) ?? 0
        }
    }
}

/// A tamper or storage-full event as the device page lists it.
public struct DeviceIncident: Sendable, Hashable, Codable {
    /// `tamper` or `storage_full`.
    public var type: String
    public var occurredAt: Date
    public var receivedAt: Date
    public var detail: String?
    public init(type: String, occurredAt: Date, receivedAt: Date, detail: String?) {
        self.type = type
        self.occurredAt = occurredAt
        self.receivedAt = receivedAt
        self.detail = detail
    }
}

public struct ControllerLink: Sendable, Hashable, Codable {
    public var connected: Bool
    public var since: Date?
}

extension HealthQueries {
    /// Whether the latest controller run is connected to the broker, and since when.
    public func controllerLink() throws -> ControllerLink? {
        try db.store.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT broker_connected, broker_changed_at FROM controller_runs ORDER BY id DESC LIMIT 1")
                .map { ControllerLink(connected: $0["broker_connected"], since: ($0["broker_changed_at"] as Int64?).map(Date.init(millis:))) }
        }
    }

    public struct ControllerRun: Hashable, Sendable {
        public var id: Int64
        public var startedAt: Date
        public var lastAlive: Date
        public var stoppedAt: Date?
    }

    /// Controller runs, oldest first.
    public func controllerRuns() throws -> [ControllerRun] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM controller_runs ORDER BY id").map {
                ControllerRun(id: $0["id"], startedAt: Date(millis: $0["started_at"]), lastAlive: Date(millis: $0["last_alive_at"]),
                              stoppedAt: ($0["stopped_at"] as Int64?).map(Date.init(millis:)))
            }
        }
    }

    /// The latest moment any controller run reported itself alive.
    public func controllerLastAlive() throws -> Date? {
        try db.store.read { try Int64.fetchOne($0, sql: "SELECT max(last_alive_at) FROM controller_runs") }
            .map(Date.init(millis:))
    }
}
