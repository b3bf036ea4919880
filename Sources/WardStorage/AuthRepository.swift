import Foundation
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
        /// Set while the user is disabled: no sign-in, no session, no token.
        public var disabledAt: Date?
    }

    public func credentials(_ name: String) throws -> Credentials? {
        try db.store.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name]).map { r in
                Credentials(user: User(name: r["name"], role: Role(rawValue: r["role"]) ?? .viewer, displayName: r["display_name"],
                                       createdAt: Date(millis: r["created_at"])),
                            passwordHash: r["password_hash"], communes: JSONText.decode([String].self, r["communes"]).map(Set.init),
                            failedLogins: r["failed_logins"], lockedUntil: (r["locked_until"] as Int64?).map(Date.init(millis:)),
                            disabledAt: (r["disabled_at"] as Int64?).map(Date.init(millis:)))
            }
        }
    }

    /// Every user's commune limit (nil: all communes).
    public func communeLimits() throws -> [String: Set<String>?] {
        try db.store.read { db in
            var out: [String: Set<String>?] = [:]
            for r in try SQLRow.fetchAll(db, sql: "SELECT name, communes FROM users") {
                out[r["name"]] = .some(JSONText.decode([String].self, r["communes"]).map(Set.init))
            }
            return out
        }
    }

    /// Who acts under this name; nil for an unknown or disabled user.
    public func principal(_ name: String) throws -> Principal? {
        try credentials(name).flatMap { $0.disabledAt == nil ? Principal(user: $0.user, communes: $0.communes) : nil }
    }

    /// Every user as the users page lists them.
    public func accounts() throws -> [Credentials] {
        let names = try db.store.read { try String.fetchAll($0, sql: "SELECT name FROM users ORDER BY name") }
        return try names.compactMap { try credentials($0) }
    }

    /// Disables (ending every session and API token at once) or enables a user.
    /// Returns how many tokens ended: enabling again gives none back.
    @discardableResult
    public func setDisabled(_ name: String, _ disabled: Bool, at: Date) throws -> Int {
        try db.store.write {
            try $0.execute(sql: "UPDATE users SET disabled_at = ? WHERE name = ?", arguments: [disabled ? at.millis : nil, name])
            guard $0.changesCount == 1 else { throw BroadcastStoreError.unknownUser(name) }
            guard disabled else { return 0 }
            return try Self.endAccess($0, name)
        }
    }

    public func setDisplayName(_ name: String, _ displayName: String) throws {
        try db.store.write {
            try $0.execute(sql: "UPDATE users SET display_name = ? WHERE name = ?", arguments: [displayName.nfc, name])
            guard $0.changesCount == 1 else { throw BroadcastStoreError.unknownUser(name) }
        }
    }

    /// Returns how many API tokens ended with the old password.
    @discardableResult
    public func setPassword(_ name: String, hash: String) throws -> Int {
        try db.store.write {
            try $0.execute(sql: "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE name = ?", arguments: [hash, name])
            guard $0.changesCount == 1 else { throw BroadcastStoreError.unknownUser(name) }
            // A new password ends every session and token of the old one: whoever stole either
            // (the reason passwords are changed) is out with it.
            return try Self.endAccess($0, name)
        }
    }

    public func setCommunes(_ name: String, _ communes: [String]?) throws {
        try db.store.write {
            try $0.execute(sql: "UPDATE users SET communes = ? WHERE name = ?", arguments: [communes.map { JSONText.encode($0.sorted()) }, name])
        }
    }

    /// A role change ends the user's sessions and API tokens, so no page or script keeps acting
    /// with the old rights. Returns how many tokens ended.
    @discardableResult
    public func setRole(_ name: String, _ role: Role) throws -> Int {
        try db.store.write {
            try $0.execute(sql: "UPDATE users SET role = ? WHERE name = ?", arguments: [role.rawValue, name])
            guard $0.changesCount == 1 else { throw BroadcastStoreError.unknownUser(name) }
            return try Self.endAccess($0, name)
        }
    }

    public func recordLogin(_ name: String, failed: Int, lockedUntil: Date?) throws {
        try db.store.write {
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
        try db.store.write {
            try $0.execute(sql: """
                INSERT INTO sessions (token_hash, user_name, csrf, created_at, expires_at, last_seen, address) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tokenHash, user, csrf, at.millis, expires.millis, at.millis, address])
        }
    }

    /// The live session with this token hash; expired ones are removed on the way.
    public func session(tokenHash: String, now: Date) throws -> Session? {
        try db.store.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [now.millis])
            return try SQLRow.fetchOne(db, sql: "SELECT user_name, csrf, expires_at FROM sessions WHERE token_hash = ?", arguments: [tokenHash])
                .map { Session(userName: $0[0], csrf: $0[1], expiresAt: Date(millis: $0[2])) }
        }
    }

    public func deleteSession(tokenHash: String) throws {
        try db.store.write { try $0.execute(sql: "DELETE FROM sessions WHERE token_hash = ?", arguments: [tokenHash]) }
    }

    // MARK: API tokens

    /// Stores a new token (its hash only) and returns it as it is listed.
    @discardableResult
    public func createToken(tokenHash: String, user: String, label: String, at: Date, expires: Date? = nil) throws -> APIToken {
        let token = APIToken(id: APIToken.newID(), user: user, name: label.nfc, createdAt: at, expiresAt: expires)
        try db.store.write {
            try $0.execute(sql: """
                INSERT INTO api_tokens (id, token_hash, user_name, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [token.id, tokenHash, user, token.name, at.millis, expires?.millis])
        }
        return token
    }

    /// A user's tokens, oldest first; expired ones included (they are shown as expired until revoked).
    public func tokens(of user: String) throws -> [APIToken] {
        try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM api_tokens WHERE user_name = ? ORDER BY created_at, id", arguments: [user])
                .map(Self.token)
        }
    }

    /// Revokes one of `user`'s tokens; false when they have none with this id.
    @discardableResult
    public func revokeToken(id: String, of user: String) throws -> Bool {
        try db.store.write {
            try $0.execute(sql: "DELETE FROM api_tokens WHERE id = ? AND user_name = ?", arguments: [id, user])
            return $0.changesCount == 1
        }
    }

    /// The user a live token acts as; nil for an unknown, revoked or expired one.
    public func tokenUser(tokenHash: String, now: Date) throws -> String? {
        try db.store.write { db in
            let u = try String.fetchOne(db, sql: "SELECT user_name FROM api_tokens WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)",
                                        arguments: [tokenHash, now.millis])
            if u != nil { try db.execute(sql: "UPDATE api_tokens SET last_used = ? WHERE token_hash = ?", arguments: [now.millis, tokenHash]) }
            return u
        }
    }

    static func token(_ r: SQLRow) -> APIToken {
        APIToken(id: r["id"], user: r["user_name"], name: r["label"], createdAt: Date(millis: r["created_at"]),
                 lastUsed: (r["last_used"] as Int64?).map(Date.init(millis:)), expiresAt: (r["expires_at"] as Int64?).map(Date.init(millis:)))
    }

    /// Ends everything that signs `name` in: sessions and API tokens. Returns how many tokens ended.
    static func endAccess(_ db: SQLConnection, _ name: String) throws -> Int {
        try db.execute(sql: "DELETE FROM sessions WHERE user_name = ?", arguments: [name])
        try db.execute(sql: "DELETE FROM api_tokens WHERE user_name = ?", arguments: [name])
        return db.changesCount
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
        /// What the change replaced and what it put instead: JSON objects as text (nil: not recorded).
        public var before: String?
        public var after: String?
    }

    public func audit(user: String, action: String, target: String?, detail: String?, address: String?, at: Date,
                      before: String? = nil, after: String? = nil) throws {
        try db.store.write {
            try $0.execute(sql: "INSERT INTO audit_log (at, user_name, action, target, detail, address, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           arguments: [at.millis, user, action, target?.nfc, detail?.nfc, address, before?.nfc, after?.nfc])
        }
    }

    /// Which audit entries to read. Days are local (Asia/Ho_Chi_Minh) and already turned into instants.
    public struct AuditQuery: Sendable {
        /// Only what these people did (nil: everyone): the caller's scope.
        public var users: Set<String>?
        /// One person.
        public var user: String?
        /// An action (`user.change`), or a family of them (`broadcast.*`).
        public var action: String?
        public var from: Date?
        /// Exclusive.
        public var until: Date?
        /// Entries older than this id (the previous page's last).
        public var before: Int64?
        public var offset = 0
        public var limit = 50
        public init(users: Set<String>? = nil, limit: Int = 50) {
            self.users = users
            self.limit = limit
        }
    }

    /// Newest first.
    public func auditLog(_ q: AuditQuery) throws -> [AuditEntry] {
        var clauses: [String] = [], arguments: [any SQLValueConvertible] = []
        if let users = q.users {
            clauses.append(SQLDialect.isIn("user_name", count: users.count))
            arguments += users.sorted() as [any SQLValueConvertible]
        }
        if let u = q.user { clauses.append("user_name = ?"); arguments.append(u) }
        if let a = q.action {
            if a.hasSuffix(".*") {
                let prefix = db.dialect.matches("action", [String(a.dropLast()), ""])
                clauses.append(prefix.sql)
                arguments.append(prefix.pattern)
            } else {
                clauses.append("action = ?")
                arguments.append(a)
            }
        }
        if let f = q.from { clauses.append("at >= ?"); arguments.append(f.millis) }
        if let t = q.until { clauses.append("at < ?"); arguments.append(t.millis) }
        if let b = q.before { clauses.append("id < ?"); arguments.append(b) }
        let scope = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments += [q.limit, q.offset]
        return try db.store.read {
            try SQLRow.fetchAll($0, sql: "SELECT * FROM audit_log \(scope) ORDER BY id DESC LIMIT ? OFFSET ?", arguments: SQLArguments(arguments)).map {
                AuditEntry(id: $0["id"], at: Date(millis: $0["at"]), user: $0["user_name"], action: $0["action"], target: $0["target"],
                           detail: $0["detail"], address: $0["address"], before: $0["before"], after: $0["after"])
            }
        }
    }

    /// Newest first; `users`: only what these people did (nil: everyone).
    public func auditLog(limit: Int = 200, users: Set<String>? = nil) throws -> [AuditEntry] {
        try auditLog(AuditQuery(users: users, limit: limit))
    }
}
