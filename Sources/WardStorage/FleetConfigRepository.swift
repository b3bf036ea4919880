import Foundation
import WardDomain

/// v22: remote configuration (desired and reported, per device), the controller's sealed copy of
/// each device's current broker password, and credential rotations (protocol §10, §11).
enum FleetConfigSchema {
    static let v22 = SharedMigration("v22: device configuration, device secrets, credential rotations", both: """
        -- Per device: the desired configuration (version grows by one at every set), what was
        -- published (retained on its config topic), and what it reported.
        CREATE TABLE device_config (
            device_id TEXT PRIMARY KEY,
            version BIGINT NOT NULL DEFAULT 0,
            desired TEXT NOT NULL DEFAULT '{}',
            updated_at BIGINT,
            updated_by TEXT,
            published_version BIGINT NOT NULL DEFAULT 0,
            published_at BIGINT,
            applied_version BIGINT,
            reported TEXT,
            report_version BIGINT,
            report_result TEXT,
            report_detail TEXT,
            reported_at BIGINT
        );
        -- The device's current broker password, AES-GCM-sealed with the server's secrets key
        -- (the controller needs it to seal a rotation for the device: docs/security.md).
        CREATE TABLE device_secrets (
            device_id TEXT PRIMARY KEY,
            sealed TEXT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        -- One row per rotation; the new password sealed like device_secrets until applied.
        CREATE TABLE credential_rotations (
            id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            state TEXT NOT NULL,
            sealed_password TEXT NOT NULL,
            message TEXT,
            created_at BIGINT NOT NULL,
            created_by TEXT,
            sent_at BIGINT,
            reported_at BIGINT,
            reason TEXT,
            applied_at BIGINT
        );
        CREATE INDEX credential_rotations_device ON credential_rotations (device_id, state);
        CREATE INDEX credential_rotations_state ON credential_rotations (state);
        """)
}

/// A `config_report` as the ingest path stores it.
public struct ConfigReportRecord: Sendable, Hashable {
    public var deviceID: String
    public var version: Int64
    public var result: ConfigResult
    public var detail: String?
    public var reported: DeviceSettings
    public var receivedAt: Date
    public init(deviceID: String, version: Int64, result: ConfigResult, detail: String?, reported: DeviceSettings, receivedAt: Date) {
        self.deviceID = deviceID
        self.version = version
        self.result = result
        self.detail = detail
        self.reported = reported
        self.receivedAt = receivedAt
    }
}

/// A `credentials_report` as the ingest path stores it.
public struct CredentialsReportRecord: Sendable, Hashable {
    public var deviceID: String
    public var rotation: String
    public var stored: Bool
    public var reason: String?
    public var receivedAt: Date
    public init(deviceID: String, rotation: String, stored: Bool, reason: String?, receivedAt: Date) {
        self.deviceID = deviceID
        self.rotation = rotation
        self.stored = stored
        self.reason = reason
        self.receivedAt = receivedAt
    }
}

public struct FleetConfigRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    static func encode(_ s: DeviceSettings) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! e.encode(s), as: UTF8.self)  // plain values: encoding cannot fail
    }
    static func decode(_ s: String?) -> DeviceSettings? { s.flatMap { try? JSONDecoder().decode(DeviceSettings.self, from: Data($0.utf8)) } }

    // MARK: configuration

    /// Applies `change` to the device's desired configuration as a new version; returns the record.
    public func set(device: String, change: DeviceSettings, by user: String?, at: Date) throws -> DeviceConfigRecord {
        try db.store.write { db in
            let current = try Self.record(db, device) ?? DeviceConfigRecord(deviceID: device)
            let desired = current.desired.merging(change)
            try db.execute(sql: """
                INSERT INTO device_config (device_id, version, desired, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(device_id) DO UPDATE SET version = excluded.version, desired = excluded.desired,
                    updated_at = excluded.updated_at, updated_by = excluded.updated_by
                """, arguments: [device, current.version + 1, Self.encode(desired), at.millis, user])
            return try Self.record(db, device)!
        }
    }

    public func get(_ device: String) throws -> DeviceConfigRecord? {
        try db.store.read { try Self.record($0, device) }
    }

    /// Desired versions not yet published.
    public func unpublished() throws -> [DeviceConfigRecord] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM device_config WHERE version > published_version ORDER BY device_id").map(Self.row)
        }
    }

    /// Devices whose desired version is not applied yet (their birth's `config_version` may say it is).
    public func awaitingApply() throws -> [String] {
        try db.store.read {
            try String.fetchAll($0, sql: "SELECT device_id FROM device_config WHERE version > 0 AND (applied_version IS NULL OR applied_version < version)")
        }
    }

    /// The latest birth (JSON) of each of these devices that has one.
    public func births(_ ids: [String]) throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        return try db.store.read { db in
            var out: [String: String] = [:]
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                for r in try SQLRow.fetchAll(db, sql: "SELECT device_id, birth FROM device_status WHERE birth IS NOT NULL AND "
                                             + SQLDialect.isIn("device_id", count: chunk.count), arguments: SQLArguments(chunk as [any SQLValueConvertible])) {
                    out[r["device_id"]] = r["birth"]
                }
            }
            return out
        }
    }

    public func markPublished(device: String, version: Int64, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: "UPDATE device_config SET published_version = ?, published_at = ? WHERE device_id = ? AND published_version < ?",
                           arguments: [version, at.millis, device, version])
        }
    }

    /// The running version a birth announced (`config_version`): counts as applied when newer.
    public func noteBirthVersion(device: String, version: Int64) throws {
        try db.store.write { db in
            try db.execute(sql: """
                UPDATE device_config SET applied_version = ? WHERE device_id = ? AND (applied_version IS NULL OR applied_version < ?)
                """, arguments: [version, device, version])
        }
    }

    static func record(_ db: SQLConnection, _ device: String) throws -> DeviceConfigRecord? {
        try SQLRow.fetchOne(db, sql: "SELECT * FROM device_config WHERE device_id = ?", arguments: [device]).map(row)
    }

    static func row(_ r: SQLRow) -> DeviceConfigRecord {
        DeviceConfigRecord(
            deviceID: r["device_id"], version: r["version"], desired: decode(r["desired"]) ?? DeviceSettings(),
            updatedAt: (r["updated_at"] as Int64?).map(Date.init(millis:)), updatedBy: r["updated_by"],
            publishedVersion: r["published_version"], publishedAt: (r["published_at"] as Int64?).map(Date.init(millis:)),
            appliedVersion: r["applied_version"], reported: decode(r["reported"]), lastReportVersion: r["report_version"],
            lastResult: (r["report_result"] as String?).flatMap(ConfigResult.init(rawValue:)), lastDetail: r["report_detail"],
            reportedAt: (r["reported_at"] as Int64?).map(Date.init(millis:)))
    }

    /// Writes the reports of one ingest flush (inside its transaction).
    static func write(_ db: SQLConnection, config: [ConfigReportRecord], credentials: [CredentialsReportRecord]) throws {
        for r in config {
            try db.execute(sql: "INSERT INTO device_config (device_id) VALUES (?) ON CONFLICT(device_id) DO NOTHING", arguments: [r.deviceID])
            try db.execute(sql: """
                UPDATE device_config SET reported = ?, report_version = ?, report_result = ?, report_detail = ?, reported_at = ?,
                    applied_version = CASE WHEN ? = 'applied' THEN ? ELSE applied_version END
                WHERE device_id = ?
                """, arguments: [encode(r.reported), r.version, r.result.rawValue, r.detail, r.receivedAt.millis,
                                 r.result.rawValue, r.version, r.deviceID])
        }
        for r in credentials {
            // Only a rotation waiting for its answer moves; a repeat or a stale report changes nothing.
            try db.execute(sql: """
                UPDATE credential_rotations SET state = ?, reported_at = ?, reason = ?
                WHERE id = ? AND device_id = ? AND state IN ('created', 'sent')
                """, arguments: [r.stored ? "stored" : "refused", r.receivedAt.millis, r.reason, r.rotation, r.deviceID])
        }
        if !config.isEmpty || !credentials.isEmpty { db.afterNextTransaction(onCommit: { _ in ChangeSignal.fleetConfig.poke() }) }
    }

    // MARK: secrets (sealed by the caller with the server's key)

    public func storeSecret(device: String, sealed: String, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: """
                INSERT INTO device_secrets (device_id, sealed, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(device_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
                """, arguments: [device, sealed, at.millis])
        }
    }

    public func secret(device: String) throws -> String? {
        try db.store.read { try String.fetchOne($0, sql: "SELECT sealed FROM device_secrets WHERE device_id = ?", arguments: [device]) }
    }

    public func deleteSecret(device: String) throws {
        try db.store.write { try $0.execute(sql: "DELETE FROM device_secrets WHERE device_id = ?", arguments: [device]) }
    }

    // MARK: rotations

    /// A new rotation; any open one of the same device is superseded.
    public func createRotation(id: String, device: String, sealedPassword: String, by user: String?, at: Date) throws {
        try db.store.write { db in
            try db.execute(sql: "UPDATE credential_rotations SET state = 'superseded' WHERE device_id = ? AND state IN ('created', 'sent')",
                           arguments: [device])
            try db.execute(sql: """
                INSERT INTO credential_rotations (id, device_id, state, sealed_password, created_at, created_by) VALUES (?, ?, 'created', ?, ?, ?)
                """, arguments: [id, device, sealedPassword, at.millis, user])
        }
    }

    public func rotations(in states: [CredentialRotation.State]) throws -> [(CredentialRotation, sealedPassword: String)] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM credential_rotations WHERE " + SQLDialect.isIn("state", count: states.count)
                                + " ORDER BY created_at, id", arguments: SQLArguments(states.map(\.rawValue) as [any SQLValueConvertible]))
                .map { (Self.rotation($0), $0["sealed_password"] as String) }
        }
    }

    public func rotations(device: String) throws -> [CredentialRotation] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM credential_rotations WHERE device_id = ? ORDER BY created_at DESC, id",
                                arguments: [device]).map(Self.rotation)
        }
    }

    public func rotation(_ id: String) throws -> CredentialRotation? {
        try db.store.read { try SQLRow.fetchOne($0, sql: "SELECT * FROM credential_rotations WHERE id = ?", arguments: [id]).map(Self.rotation) }
    }

    public func markSent(_ id: String, message: String, at: Date) throws {
        try db.store.write {
            try $0.execute(sql: "UPDATE credential_rotations SET state = 'sent', message = ?, sent_at = ? WHERE id = ? AND state = 'created'",
                           arguments: [message, at.millis, id])
        }
    }

    /// The broker takes the new password: the device's sealed current password becomes it, in one transaction.
    public func markApplied(_ id: String, device: String, sealedPassword: String, at: Date) throws {
        try db.store.write { db in
            try db.execute(sql: "UPDATE credential_rotations SET state = 'applied', applied_at = ? WHERE id = ? AND state = 'stored'",
                           arguments: [at.millis, id])
            try db.execute(sql: """
                INSERT INTO device_secrets (device_id, sealed, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(device_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
                """, arguments: [device, sealedPassword, at.millis])
        }
    }

    /// Refused rotations whose retained message is still to be cleared.
    public func refusedToClear() throws -> [CredentialRotation] {
        try db.store.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM credential_rotations WHERE state IN ('refused', 'superseded') AND message IS NOT NULL")
                .map(Self.rotation)
        }
    }

    /// A refused rotation whose retained message was cleared: it is closed (`message` emptied).
    public func closeRefused(_ id: String) throws {
        try db.store.write { try $0.execute(sql: "UPDATE credential_rotations SET message = NULL WHERE id = ?", arguments: [id]) }
    }

    static func rotation(_ r: SQLRow) -> CredentialRotation {
        CredentialRotation(id: r["id"], deviceID: r["device_id"], state: CredentialRotation.State(rawValue: r["state"]) ?? .refused,
                           createdAt: Date(millis: r["created_at"]), createdBy: r["created_by"],
                           sentAt: (r["sent_at"] as Int64?).map(Date.init(millis:)), reportedAt: (r["reported_at"] as Int64?).map(Date.init(millis:)),
                           reason: r["reason"], appliedAt: (r["applied_at"] as Int64?).map(Date.init(millis:)))
    }
}
