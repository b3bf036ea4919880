import Foundation
import WardDomain

/// v21: the firmware library (images by SHA-256, signed), campaigns and each device's job in them.
enum FirmwareSchema {
    static let v21 = SharedMigration("v21: firmware images, campaigns and jobs", both: """
        -- One row per image; the bytes are a file named by sha256 in the firmware folder beside the database.
        CREATE TABLE firmware_images (
            sha256 TEXT PRIMARY KEY,
            device_class TEXT NOT NULL,
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            size_bytes BIGINT NOT NULL,
            notes TEXT,
            uploaded_by TEXT,
            uploaded_at BIGINT NOT NULL,
            signature TEXT NOT NULL,
            key_fingerprint TEXT NOT NULL
        );
        CREATE UNIQUE INDEX firmware_images_version ON firmware_images (device_class, model, version);
        -- A campaign: its whole definition as JSON (WardDomain.Campaign), its state apart for queries.
        CREATE TABLE firmware_campaigns (
            id BIGINT PRIMARY KEY,
            state TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        -- Each targeted device's update in a campaign; the device's firmware history is its rows.
        CREATE TABLE firmware_jobs (
            campaign_id BIGINT NOT NULL,
            device_id TEXT NOT NULL,
            wave INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before BIGINT,
            sent_at BIGINT,
            updated_at BIGINT NOT NULL,
            from_version TEXT,
            detail TEXT,
            PRIMARY KEY (campaign_id, device_id)
        );
        CREATE INDEX firmware_jobs_device ON firmware_jobs (device_id, updated_at);
        """)
}

public enum FirmwareStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case versionTaken(DeviceClass, String, String)
    case noCampaign(Int64)

    public var description: String {
        switch self {
        case .versionTaken(let c, let m, let v): "đã có bản \(v) cho \(c.rawValue) \(m) / version \(v) of \(c.rawValue) \(m) is already in the library"
        case .noCampaign(let id): "không có chiến dịch \(id) / no campaign \(id)"
        }
    }
}

public struct FirmwareRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    // MARK: images

    /// Adds an image; the same bytes again return the stored one (isNew false). Another file under a version
    /// already in the library is refused.
    public func add(_ i: FirmwareImage) throws -> (image: FirmwareImage, isNew: Bool) {
        try db.store.write { db in
            if let r = try SQLRow.fetchOne(db, sql: "SELECT * FROM firmware_images WHERE sha256 = ?", arguments: [i.sha256]) {
                return (Self.image(r), false)
            }
            if try SQLRow.fetchOne(db, sql: "SELECT sha256 FROM firmware_images WHERE device_class = ? AND model = ? AND version = ?",
                                   arguments: [i.deviceClass.rawValue, i.model, i.version]) != nil {
                throw FirmwareStoreError.versionTaken(i.deviceClass, i.model, i.version)
            }
            try db.execute(sql: """
                INSERT INTO firmware_images (sha256, device_class, model, version, size_bytes, notes, uploaded_by, uploaded_at, signature,
                    key_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [i.sha256, i.deviceClass.rawValue, i.model, i.version, i.size, i.notes, i.uploadedBy, i.uploadedAt.millis,
                                 i.signature, i.keyFingerprint])
            let stored = try SQLRow.fetchOne(db, sql: "SELECT * FROM firmware_images WHERE sha256 = ?", arguments: [i.sha256])!
            return (Self.image(stored), true)
        }
    }

    public func image(_ sha256: String) throws -> FirmwareImage? {
        try db.store.read { try SQLRow.fetchOne($0, sql: "SELECT * FROM firmware_images WHERE sha256 = ?", arguments: [sha256.lowercased()]).map(Self.image) }
    }

    public func image(deviceClass: DeviceClass, model: String, version: String) throws -> FirmwareImage? {
        try db.store.read {
            try SQLRow.fetchOne($0, sql: "SELECT * FROM firmware_images WHERE device_class = ? AND model = ? AND version = ?",
                                arguments: [deviceClass.rawValue, model, version]).map(Self.image)
        }
    }

    public func images() throws -> [FirmwareImage] {
        try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM firmware_images ORDER BY device_class, model, uploaded_at DESC, version").map(Self.image)
        }
    }

    static func image(_ r: SQLRow) -> FirmwareImage {
        FirmwareImage(sha256: r["sha256"], deviceClass: DeviceClass(rawValue: r["device_class"]) ?? .speaker, model: r["model"],
                      version: r["version"], size: r["size_bytes"], notes: r["notes"], uploadedBy: r["uploaded_by"],
                      uploadedAt: Date(millis: r["uploaded_at"]), signature: r["signature"], keyFingerprint: r["key_fingerprint"])
    }

    // MARK: campaigns

    /// Stores a new campaign (its id assigned here) with its jobs, built from the id by `jobs`.
    public func create(_ c: Campaign, jobs: (Int64) -> [FirmwareJob]) throws -> Campaign {
        try db.store.write { db in
            let next = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM firmware_campaigns") ?? 0) + 1
            var c = c
            c.id = next
            try db.execute(sql: "INSERT INTO firmware_campaigns (id, state, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [c.id, c.state.rawValue, JSONText.encode(c), c.createdAt.millis, c.createdAt.millis])
            try Self.save(jobs(next), db)
            return c
        }
    }

    public func campaign(_ id: Int64) throws -> Campaign? {
        try db.store.read { try Self.campaign(id, $0) }
    }

    static func campaign(_ id: Int64, _ db: SQLConnection) throws -> Campaign? {
        try String.fetchOne(db, sql: "SELECT body FROM firmware_campaigns WHERE id = ?", arguments: [id]).flatMap { JSONText.decode(Campaign.self, $0) }
    }

    public func campaigns() throws -> [Campaign] {
        try db.store.read { db in
            try String.fetchAll(db, sql: "SELECT body FROM firmware_campaigns ORDER BY id DESC").compactMap { JSONText.decode(Campaign.self, $0) }
        }
    }

    /// Campaigns the controller drives: running or paused (a paused one still follows the orders it sent), and
    /// cancelled or aborted ones with orders still out (taken back, or followed to their end). `settled`: campaigns
    /// over and known to have no order out, not looked at again (their jobs are not read); each other cancelled or
    /// aborted campaign is looked up by its own jobs (the primary key's campaign prefix), never the whole table.
    public func active(skipping settled: Set<Int64> = []) throws -> [Campaign] {
        let skip = settled.isEmpty ? "" : " AND id NOT IN (\(settled.sorted().map(String.init).joined(separator: ",")))"
        return try db.store.read { db in
            try String.fetchAll(db, sql: """
                SELECT body FROM firmware_campaigns WHERE state IN ('running', 'paused')
                    OR (state IN ('cancelled', 'aborted')\(skip) AND EXISTS (SELECT 1 FROM firmware_jobs j WHERE j.campaign_id = firmware_campaigns.id
                        AND j.state IN ('notified', 'downloading', 'verifying', 'installing', 'rebooting')))
                ORDER BY id
                """).compactMap { JSONText.decode(Campaign.self, $0) }
        }
    }

    /// Campaigns that are over (completed, cancelled or aborted), whether or not orders are still out.
    public func overIDs() throws -> Set<Int64> {
        try db.store.read { Set(try Int64.fetchAll($0, sql: "SELECT id FROM firmware_campaigns WHERE state IN ('completed', 'cancelled', 'aborted')")) }
    }

    /// Changes a campaign under the write lock: `body` sees the stored campaign and its jobs and returns what to store
    /// (jobs by device id). The result of `body` is returned.
    public func update<T>(_ id: Int64, at now: Date,
                          _ body: (Campaign, [FirmwareJob]) throws -> (Campaign, [FirmwareJob], T)) throws -> T {
        try db.store.write { db in
            guard let c = try Self.campaign(id, db) else { throw FirmwareStoreError.noCampaign(id) }
            let (n, changed, out) = try body(c, try Self.jobs(id, db))
            if n != c {
                try db.execute(sql: "UPDATE firmware_campaigns SET state = ?, body = ?, updated_at = ? WHERE id = ?",
                               arguments: [n.state.rawValue, JSONText.encode(n), now.millis, id])
            }
            try Self.save(changed, db)
            return out
        }
    }

    /// Stores the campaign and the changed jobs of a controller step (one transaction for all of them).
    public func save(_ campaign: Campaign?, jobs: [FirmwareJob], at now: Date) throws {
        guard campaign != nil || !jobs.isEmpty else { return }
        try db.store.write { db in
            if let c = campaign {
                try db.execute(sql: "UPDATE firmware_campaigns SET state = ?, body = ?, updated_at = ? WHERE id = ?",
                               arguments: [c.state.rawValue, JSONText.encode(c), now.millis, c.id])
            }
            try Self.save(jobs, db)
        }
    }

    public func jobs(_ campaign: Int64) throws -> [FirmwareJob] {
        try db.store.read { try Self.jobs(campaign, $0) }
    }

    /// A device's firmware history: its jobs in every campaign, newest first.
    public func history(device: String) throws -> [FirmwareJob] {
        try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM firmware_jobs WHERE device_id = ? ORDER BY campaign_id DESC", arguments: [device]).map(Self.job)
        }
    }

    /// The reports among these that name no order sent to their device: an unparsable job id, a campaign or job
    /// that does not exist, or an attempt never made. One read for all of them (primary-key lookups).
    public func unknownJobs(_ reports: [FirmwareReportRef]) throws -> [FirmwareReportRef] {
        guard !reports.isEmpty else { return [] }
        return try db.store.read { db in
            try reports.filter { r in
                guard let (campaign, attempt) = FirmwareJob.parse(jobID: r.job), attempt >= 1,
                      let attempts = try Int.fetchOne(db, sql: "SELECT attempts FROM firmware_jobs WHERE campaign_id = ? AND device_id = ?",
                                                      arguments: [campaign, r.device]) else { return true }
                return attempt > attempts
            }
        }
    }

    static func jobs(_ campaign: Int64, _ db: SQLConnection) throws -> [FirmwareJob] {
        try SQLRow.fetchAll(db, sql: "SELECT * FROM firmware_jobs WHERE campaign_id = ? ORDER BY wave, device_id", arguments: [campaign])
            .map(Self.job)
    }

    static func save(_ jobs: [FirmwareJob], _ db: SQLConnection) throws {
        try db.insertMany("INSERT INTO firmware_jobs (campaign_id, device_id, wave, state, reason, attempts, not_before, sent_at, updated_at, from_version, detail)",
                          columns: 11, rows: jobs.map { j in
                              [j.campaignID.sqlValue, j.deviceID.sqlValue, j.wave.sqlValue, j.state.rawValue.sqlValue, j.reason?.rawValue.sqlValue ?? .null,
                               j.attempts.sqlValue, j.notBefore?.millis.sqlValue ?? .null, j.sentAt?.millis.sqlValue ?? .null, j.updatedAt.millis.sqlValue,
                               j.fromVersion?.sqlValue ?? .null, j.detail?.sqlValue ?? .null]
                          }, tail: """
                              ON CONFLICT (campaign_id, device_id) DO UPDATE SET wave = excluded.wave, state = excluded.state, reason = excluded.reason,
                              attempts = excluded.attempts, not_before = excluded.not_before, sent_at = excluded.sent_at, updated_at = excluded.updated_at,
                              from_version = excluded.from_version, detail = excluded.detail
                              """)
    }

    static func job(_ r: SQLRow) -> FirmwareJob {
        var j = FirmwareJob(campaignID: r["campaign_id"], deviceID: r["device_id"], wave: r["wave"], at: Date(millis: r["updated_at"]))
        j.state = JobState(rawValue: r["state"]) ?? .queued
        j.reason = (r["reason"] as String?).flatMap(JobFailure.init(rawValue:))
        j.attempts = r["attempts"]
        j.notBefore = (r["not_before"] as Int64?).map(Date.init(millis:))
        j.sentAt = (r["sent_at"] as Int64?).map(Date.init(millis:))
        j.fromVersion = r["from_version"]
        j.detail = r["detail"]
        return j
    }
}
