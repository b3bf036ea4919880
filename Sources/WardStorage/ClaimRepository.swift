import Foundation
import WardDomain

/// One-time claim codes: issued by an operator, taken once by the device that holds the code.
public struct ClaimRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public enum Lookup: Sendable, Equatable {
        case open(secret: [UInt8])
        /// Wrong proofs came in a row: the next is looked at from `until` (`ClaimThrottle`).
        case delayed(until: Date)
        case none, used, expired
    }

    /// Issues (or replaces) the device's code; its secret is what `ClaimCode.secret` gives.
    public func issue(device: String, secret: [UInt8], by user: String, at: Date, expires: Date) throws {
        try db.store.write { db in
            try db.execute(sql: """
                INSERT INTO claim_codes (device_id, secret, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(device_id) DO UPDATE SET secret = excluded.secret, created_by = excluded.created_by,
                    created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = NULL, failures = 0,
                    last_failure_at = NULL
                """, arguments: [device, Data(secret).base64EncodedString(), user, at.millis, expires.millis])
        }
    }

    public func lookup(device: String, at: Date) throws -> Lookup {
        try db.store.read { db in
            guard let row = try SQLRow.fetchOne(db, sql: """
                SELECT secret, expires_at, used_at, failures, last_failure_at FROM claim_codes WHERE device_id = ?
                """, arguments: [device]) else { return .none }
            if row["used_at"] as Int64? != nil { return .used }
            if let until = ClaimThrottle.nextAttempt(failures: row["failures"], lastFailure: (row["last_failure_at"] as Int64?).map(Date.init(millis:)),
                                                     now: at) {
                return .delayed(until: until)
            }
            if (row["expires_at"] as Int64) <= at.millis { return .expired }
            guard let secret = Data(base64Encoded: row["secret"] as String) else { return .none }
            return .open(secret: Array(secret))
        }
    }

    /// Counts a wrong proof; returns how many came in a row.
    @discardableResult
    public func noteFailure(device: String, at: Date) throws -> Int {
        try db.store.write { db in
            try db.execute(sql: "UPDATE claim_codes SET failures = failures + 1, last_failure_at = ? WHERE device_id = ?",
                           arguments: [at.millis, device])
            return try Int.fetchOne(db, sql: "SELECT failures FROM claim_codes WHERE device_id = ?", arguments: [device]) ?? 0
        }
    }

    /// Marks the code used; false if it already was (two requests racing: only one wins).
    public func take(device: String, at: Date) throws -> Bool {
        try db.store.write { db in
            try db.execute(sql: "UPDATE claim_codes SET used_at = ? WHERE device_id = ? AND used_at IS NULL", arguments: [at.millis, device])
            return db.changesCount == 1
        }
    }

    /// Undoes `take` when the account could not be made, so the installer can simply retry.
    public func release(device: String) throws {
        try db.store.write { try $0.execute(sql: "UPDATE claim_codes SET used_at = NULL WHERE device_id = ?", arguments: [device]) }
    }

    /// A removed device's code goes with it.
    public func withdraw(device: String) throws {
        try db.store.write { try $0.execute(sql: "DELETE FROM claim_codes WHERE device_id = ?", arguments: [device]) }
    }
}
