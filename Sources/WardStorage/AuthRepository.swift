import Foundation
import GRDB
import WardDomain

/// Credentials, sessions, API tokens and the audit log. Secrets arrive here already hashed.
public struct AuthRepository: Sendable {
    let db: WardDatabase
    public init(_ db: WardDatabase) { self.db = db }

    public struct Credentials: Sendable {
        public var user: User
        public var passwordHash: String?
        public var communes: Set<String>?
        public var failedLogins: Int
        public var lockedUntil: Date?
    }

    public func credentials(_ name: String) throws -> Credentials? {
        try db.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name]).map { r in
                Credentials(user: User(name: r["name"], role: Role(rawValue: r["role"]) ?? .viewer, displayName: r["display_name"],
                                       createdAt: Date(millis: r["created_at"])),
                            passwordHash: r["password_hash"], communes: JSONText.decode([String].self, r["communes"]).map(Set.init),
                            failedLogins: r["failed_logins"], lockedUntil: (r["locked_until"] as Int64?).map(Date.init(millis:)))
            }
        }
    }

    /// Every user's commune limit (nil: all communes).
    public func communeLimits() throws -> [String: Set<String>?] {
        try db.pool.read { db in
            var out: [String: Set<String>?] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT name, communes FROM users") {
                out[r["name"]] = .some(JSONText.decode([String].self, r["communes"]).map(Set.init))
            }
            return out
        }
    }

    public func principal(_ name: String) throws -> Principal? {
        try credentials(name).map { Principal(user: $0.user, communes: $0.communes) }
    }

    public func setPassword(_ name: String, hash: String) throws {
        try db.pool.write {
            try $0.execute(sql: "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE name = ?", arguments: [hash, name])
            guard $0.changesCount == 1 else { throw BroadcastStoreError.unknownUser(name) }
            // A new password ends every session of the old one.
            try $0.execute(sql: "DELETE FROM sessions WHERE user_name = ?", arguments: [name])
        }
    }

    public func setCommunes(_ name: String, _ communes: [String]?) throws {
        try db.pool.write {
            try $0.execute(sql: "UPDATE users SET communes = ? WHERE name = ?", arguments: [communes.map { JSONText.encode($0.sorted()) }, name])
        }
    }

    /// A role change ends the user's sessions, so no page keeps acting with the old rights.
    public func setRole(_ name: String, _ role: Role) throws {
        try db.pool.write {
            try $0.execute(sql: "UPDATE users SET role = ? WHERE name = ?", arguments: [role.rawValue, name])
            guard $0.changesCount == 1 else { throw BroadcastStoreError.unknownUser(name) }
            try $0.execute(sql: "DELETE FROM sessions WHERE user_name = ?", arguments: [name])
        }
    }

    public func recordLogin(_ name: String, failed: Int, lockedUntil: Date?) throws {
        try db.pool.write {
            try $0.execute(sql: "UPDATE users SET failed_logins = ?, locked_until = ? WHERE name = ?",
                           arguments: [failed, lockedUntil?.millis, name])
        }
    }

    // MARK: sessions

    public struct Session: Sendable, Hashable {
        public var userName: String
        public var csrf: String
        public var expiresAt: Date
    }

    public func createSession(tokenHash: String, user: String, csrf: String, at: Date, expires: Date, address: String?) throws {
        try db.pool.write {
            try $0.execute(sql: """
                INSERT INTO sessions (token_hash, user_name, csrf, created_at, expires_at, last_seen, address) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tokenHash, user, csrf, at.millis, expires.millis, at.millis, address])
        }
    }

    /// The live session with this token hash; expired ones are removed on the way.
    public func session(tokenHash: String, now: Date) throws -> Session? {
        try db.pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [now.millis])
            return try Row.fetchOne(db, sql: "SELECT user_name, csrf, expires_at FROM sessions WHERE token_hash = ?", arguments: [tokenHash])
                .map { Session(userName: $0[0], csrf: $0[1], expiresAt: Date(millis: $0[2])) }
        }
    }

    public func deleteSession(tokenHash: String) throws {
        try db.pool.write { try $0.execute(sql: "DELETE FROM sessions WHERE token_hash = ?", arguments: [tokenHash]) }
    }

    // MARK: API tokens

    public func createToken(tokenHash: String, user: String, label: String, at: Date) throws {
        try db.pool.write {
            try $0.execute(sql: "INSERT INTO api_tokens (token_hash, user_name, label, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [tokenHash, user, label.nfc, at.millis])
        }
    }

    public func tokenUser(tokenHash: String, now: Date) throws -> String? {
        try db.pool.write { db in
            let u = try String.fetchOne(db, sql: "SELECT user_name FROM api_tokens WHERE token_hash = ?", arguments: [tokenHash])
            if u != nil { try db.execute(sql: "UPDATE api_tokens SET last_used = ? WHERE token_hash = ?", arguments: [now.millis, tokenHash]) }
            return u
        }
    }

    // MARK: audit

    public struct AuditEntry: Sendable, Hashable, Codable {
        public var id: Int64
        public var at: Date
        public var user: String
        public var action: String
        public var target: String?
        public var detail: String?
        public var address: String?
    }

    public func audit(user: String, action: String, target: String?, detail: String?, address: String?, at: Date) throws {
        try db.pool.write {
            try $0.execute(sql: "INSERT INTO audit_log (at, user_name, action, target, detail, address) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [at.millis, user, action, target?.nfc, detail?.nfc, address])
        }
    }

    /// Newest first; `users`: only what these people did (nil: everyone).
    public func auditLog(limit: Int = 200, users: Set<String>? = nil) throws -> [AuditEntry] {
        let scope = users.map { "WHERE user_name IN (\(Array(repeating: "?", count: $0.count).joined(separator: ",")))" } ?? ""
        let arguments = (users?.sorted() ?? []) as [any DatabaseValueConvertible] + [limit]
        return try db.pool.read {
            try Row.fetchAll($0, sql: "SELECT * FROM audit_log \(scope) ORDER BY id DESC LIMIT ?", arguments: StatementArguments(arguments)).map {
                AuditEntry(id: $0["id"], at: Date(millis: $0["at"]), user: $0["user_name"], action: $0["action"], target: $0["target"],
                           detail: $0["detail"], address: $0["address"])
            }
        }
    }
}
