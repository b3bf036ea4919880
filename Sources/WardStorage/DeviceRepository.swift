import Foundation
import WardDomain

public struct DeviceRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    /// Registers new devices or updates existing ones, after checking each against the place
    /// tree. A re-registered (previously removed) device becomes active again.
    @discardableResult
    public func upsert(_ devices: [Device]) throws -> (inserted: Int, updated: Int) {
        try db.store.write { db in
            let tree = try PlaceTree(PlaceRepository.all(db))
            var seen = Set<String>()
            for d in devices {
                guard seen.insert(d.id).inserted else { throw DeviceError.duplicate(d.id) }
                try d.validate(in: tree)
            }
            var inserted = 0, updated = 0
            for d in devices {
                let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE id = ?", arguments: [d.id]) ?? false
                try db.execute(sql: """
                    INSERT INTO devices (id, class, model, firmware, site_id, installed_on, config, registered_at, removed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
                    ON CONFLICT(id) DO UPDATE SET class = excluded.class, model = excluded.model,
                        firmware = excluded.firmware, site_id = excluded.site_id, installed_on = excluded.installed_on,
                        config = excluded.config, removed_at = NULL
                    """, arguments: [d.id, d.deviceClass.rawValue, d.model, d.firmware, d.siteID, d.installedOn?.millis,
                                     JSONText.encode(d.config), d.registeredAt.millis])
                if exists { updated += 1 } else { inserted += 1 }
            }
            // Pending entries for these ids are settled by registration.
            for d in devices { try db.execute(sql: "DELETE FROM pending_devices WHERE device_id = ?", arguments: [d.id]) }
            return (inserted, updated)
        }
    }

    /// A technician turns a pending device away: its record goes; if it keeps talking it is recorded again.
    public func dismissPending(_ id: String) throws {
        try db.store.write { try $0.execute(sql: "DELETE FROM pending_devices WHERE device_id = ?", arguments: [id]) }
    }

    /// Retires a device: it leaves the fleet but its history stays for past reports.
    public func remove(_ id: String, at: Date) throws -> Bool {
        try db.store.write { db in
            try db.execute(sql: "UPDATE devices SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                           arguments: [at.millis, id])
            guard db.changesCount > 0 else { return false }
            try ReportRollups.closeOpenIntervals(db, device: id, at: at.millis)
            try db.execute(sql: "DELETE FROM device_status WHERE device_id = ?", arguments: [id])
            return true
        }
    }

    /// Changes with every write to the registry (devices or places), by any process.
    public func revision() throws -> Int64 {
        try db.store.read { try Int64.fetchOne($0, sql: "SELECT rev FROM registry_revision WHERE id = 1") ?? 0 }
    }

    public func get(_ id: String) throws -> Device? {
        try db.store.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT * FROM devices WHERE id = ?", arguments: [id]).map(Self.device)
        }
    }

    public func list(includeRemoved: Bool = false) throws -> [Device] {
        try db.store.read { db in
            // Most devices share a handful of configs: decode each distinct one once.
            var configs: [String: DeviceConfig] = [:]
            return try SQLRow.fetchAll(db, sql: includeRemoved
                ? "SELECT * FROM devices ORDER BY id" : "SELECT * FROM devices WHERE removed_at IS NULL ORDER BY id")
                .map { Self.device($0, configs: &configs) }
        }
    }

    static func device(_ r: SQLRow) -> Device {
        var none: [String: DeviceConfig] = [:]
        return device(r, configs: &none)
    }

    static func device(_ r: SQLRow, configs: inout [String: DeviceConfig]) -> Device {
        let cls = DeviceClass(rawValue: r["class"]) ?? .speaker
        let installed: Int64? = r["installed_on"], removed: Int64? = r["removed_at"]
        let text: String = r["config"]
        let config: DeviceConfig
        if let c = configs[text] { config = c } else {
            config = JSONText.decode(DeviceConfig.self, text) ?? DeviceConfig.defaults(for: cls)
            configs[text] = config
        }
        return Device(
            id: r["id"], deviceClass: cls, model: r["model"], firmware: r["firmware"], siteID: r["site_id"],
            installedOn: installed.map(Date.init(millis:)),
            config: config,
            registeredAt: Date(millis: r["registered_at"]), removedAt: removed.map(Date.init(millis:)))
    }
}
