import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// Users, sessions, API tokens and the audit log, on both backends.
@Suite struct AuthCoverageTests {
    func withUsers(_ backend: Backend) throws -> WardDatabase {
        let db = try backend.open()
        let b = BroadcastRepository(db)
        try b.addUser(User(name: "vanhoa", role: .operator, displayName: "Nguyễn Thị Văn Hóa", createdAt: t0))
        try b.addUser(User(name: "chutich", role: .approver, displayName: "Trần Văn Chủ Tịch", createdAt: at(1)))
        try b.addUser(User(name: "kythuat", role: .technician, createdAt: at(2)))
        return db
    }

    @Test(arguments: Backend.allCases) func credentialsAndAccountChanges(_ backend: Backend) throws {
        let db = try withUsers(backend)
        let auth = AuthRepository(db)
        let c = try #require(try auth.credentials("vanhoa"))
        #expect(c.user == User(name: "vanhoa", role: .operator, displayName: "Nguyễn Thị Văn Hóa", createdAt: t0))
        #expect(c.passwordHash == nil && c.communes == nil && c.failedLogins == 0 && c.lockedUntil == nil && c.disabledAt == nil)
        #expect(try auth.credentials("nobody") == nil)
        #expect(try auth.accounts().map(\.user.name) == ["chutich", "kythuat", "vanhoa"])

        try auth.setCommunes("vanhoa", ["yen-giang", "cam-la"])
        #expect(try auth.credentials("vanhoa")?.communes == ["cam-la", "yen-giang"])
        let limits = try auth.communeLimits()
        #expect(limits.count == 3 && limits["vanhoa"] == .some(["cam-la", "yen-giang"]) && limits["chutich"] == .some(nil))
        #expect(try auth.principal("vanhoa") == Principal(user: c.user, communes: ["cam-la", "yen-giang"]))
        try auth.setCommunes("vanhoa", nil)
        #expect(try auth.principal("vanhoa")?.communes == nil)
        #expect(try auth.principal("nobody") == nil)

        let nfd = "Nguyễn Văn Kỹ Thuật".decomposedStringWithCanonicalMapping
        try auth.setDisplayName("kythuat", nfd)
        #expect(try Array(auth.credentials("kythuat")!.user.displayName.utf8) == Array(nfd.precomposedStringWithCanonicalMapping.utf8))
        #expect(throws: BroadcastStoreError.unknownUser("nobody")) { try auth.setDisplayName("nobody", "X") }

        try auth.recordLogin("vanhoa", failed: 5, lockedUntil: at(900))
        #expect(try auth.credentials("vanhoa")?.failedLogins == 5 && auth.credentials("vanhoa")?.lockedUntil == at(900))
        #expect(try auth.setPassword("vanhoa", hash: "$2b$12$hash") == 0)
        let after = try #require(try auth.credentials("vanhoa"))
        #expect(after.passwordHash == "$2b$12$hash" && after.failedLogins == 0 && after.lockedUntil == nil)
        #expect(throws: BroadcastStoreError.unknownUser("nobody")) { try auth.setPassword("nobody", hash: "x") }
    }

    @Test(arguments: Backend.allCases) func sessionsExpireAndEndWithTheirUser(_ backend: Backend) throws {
        let db = try withUsers(backend)
        let auth = AuthRepository(db)
        try auth.createSession(tokenHash: "s1", user: "vanhoa", csrf: "c1", at: t0, expires: at(3600), address: "10.0.0.5")
        try auth.createSession(tokenHash: "s2", user: "vanhoa", csrf: "c2", at: t0, expires: at(60), address: nil)
        try auth.createSession(tokenHash: "s3", user: "chutich", csrf: "c3", at: t0, expires: at(3600), address: nil)
        #expect(try auth.session(tokenHash: "s1", now: at(10)) == AuthRepository.Session(userName: "vanhoa", csrf: "c1", expiresAt: at(3600)))
        #expect(try auth.session(tokenHash: "s2", now: at(60)) == nil)  // expired at its instant
        #expect(try auth.session(tokenHash: "nope", now: at(10)) == nil)
        try auth.deleteSession(tokenHash: "s1")
        #expect(try auth.session(tokenHash: "s1", now: at(10)) == nil)
        // A role change ends the user's sessions and tokens, and says how many tokens.
        try auth.createToken(tokenHash: "t1", user: "chutich", label: "Báo cáo", at: t0)
        #expect(try auth.setRole("chutich", .admin) == 1)
        #expect(try auth.credentials("chutich")?.user.role == .admin)
        #expect(try auth.session(tokenHash: "s3", now: at(10)) == nil)
        #expect(throws: BroadcastStoreError.unknownUser("nobody")) { try auth.setRole("nobody", .viewer) }
    }

    @Test(arguments: Backend.allCases) func apiTokensAreListedUsedAndRevoked(_ backend: Backend) throws {
        let db = try withUsers(backend)
        let auth = AuthRepository(db)
        let t1 = try auth.createToken(tokenHash: "h1", user: "kythuat", label: "Giám sát từ xa".decomposedStringWithCanonicalMapping, at: t0)
        let t2 = try auth.createToken(tokenHash: "h2", user: "kythuat", label: "Hết hạn", at: at(1), expires: at(100))
        try auth.createToken(tokenHash: "h3", user: "vanhoa", label: "Khác", at: at(2))
        #expect(Array(t1.name.utf8) == Array("Giám sát từ xa".precomposedStringWithCanonicalMapping.utf8))
        #expect(try auth.tokens(of: "kythuat") == [t1, t2])
        #expect(try auth.tokenUser(tokenHash: "h1", now: at(50)) == "kythuat")
        #expect(try auth.tokens(of: "kythuat").first?.lastUsed == at(50))
        #expect(try auth.tokenUser(tokenHash: "h2", now: at(99)) == "kythuat")
        #expect(try auth.tokenUser(tokenHash: "h2", now: at(100)) == nil)
        #expect(try auth.tokenUser(tokenHash: "nope", now: at(1)) == nil)
        #expect(try !auth.revokeToken(id: t1.id, of: "vanhoa"))
        #expect(try auth.revokeToken(id: t1.id, of: "kythuat"))
        #expect(try auth.tokens(of: "kythuat").map(\.id) == [t2.id])

        // Disabling ends every session and token; enabling gives none back.
        try auth.createSession(tokenHash: "s", user: "kythuat", csrf: "c", at: t0, expires: at(3600), address: nil)
        #expect(try auth.setDisabled("kythuat", true, at: at(5)) == 1)
        #expect(try auth.credentials("kythuat")?.disabledAt == at(5) && auth.principal("kythuat") == nil)
        #expect(try auth.session(tokenHash: "s", now: at(6)) == nil && auth.tokens(of: "kythuat").isEmpty)
        #expect(try auth.setDisabled("kythuat", false, at: at(7)) == 0)
        #expect(try auth.credentials("kythuat")?.disabledAt == nil && auth.principal("kythuat") != nil)
        #expect(throws: BroadcastStoreError.unknownUser("nobody")) { try auth.setDisabled("nobody", true, at: at(8)) }
        // A new password ends the old password's tokens.
        #expect(try auth.setPassword("vanhoa", hash: "h") == 1)
    }

    @Test(arguments: Backend.allCases) func auditLogFiltersAndPages(_ backend: Backend) throws {
        let db = try withUsers(backend)
        let auth = AuthRepository(db)
        let actions = [("vanhoa", "broadcast.create"), ("chutich", "broadcast.approve"), ("vanhoa", "broadcasts.export"),
                       ("quantri", "user.change"), ("vanhoa", "Broadcast.cancel"), ("vanhoa", "broadcast_x.edit"), ("kythuat", "device.remove")]
        for (i, (user, action)) in actions.enumerated() {
            try auth.audit(user: user, action: action, target: "BT-\(i)", detail: "Bản tin số \(i)".decomposedStringWithCanonicalMapping,
                           address: "192.168.1.\(i)", at: at(Double(i) * 10), before: i == 3 ? "{\"vai_trò\":\"operator\"}" : nil,
                           after: i == 3 ? "{\"vai_trò\":\"approver\"}" : nil)
        }
        let all = try auth.auditLog()
        #expect(all.map(\.action) == actions.reversed().map(\.1))
        let change = try #require(all.first { $0.action == "user.change" })
        #expect(change.user == "quantri" && change.target == "BT-3" && change.address == "192.168.1.3" && change.at == at(30))
        #expect(change.before == "{\"vai_trò\":\"operator\"}" && change.after == "{\"vai_trò\":\"approver\"}")
        #expect(Array((change.detail ?? "").utf8) == Array("Bản tin số 3".precomposedStringWithCanonicalMapping.utf8))

        var q = AuthRepository.AuditQuery()
        q.action = "broadcast.*"  // the family: not "broadcasts.", "Broadcast." or "broadcast_x."
        #expect(try auth.auditLog(q).map(\.action) == ["broadcast.approve", "broadcast.create"])
        q.action = "broadcast.create"
        #expect(try auth.auditLog(q).map(\.user) == ["vanhoa"])
        q = AuthRepository.AuditQuery(users: ["vanhoa", "kythuat"])
        #expect(try auth.auditLog(q).map(\.action) == ["device.remove", "broadcast_x.edit", "Broadcast.cancel", "broadcasts.export",
                                                       "broadcast.create"])
        q.user = "kythuat"
        #expect(try auth.auditLog(q).map(\.action) == ["device.remove"])
        q = AuthRepository.AuditQuery()
        q.from = at(10)
        q.until = at(30)
        #expect(try auth.auditLog(q).map(\.at) == [at(20), at(10)])
        // Paging: by the previous page's last id, or by offset.
        q = AuthRepository.AuditQuery(limit: 3)
        let page1 = try auth.auditLog(q)
        q.before = page1.last?.id
        let page2 = try auth.auditLog(q)
        #expect((page1 + page2).map(\.id) == all.prefix(6).map(\.id))
        q.before = nil
        q.offset = 6
        #expect(try auth.auditLog(q).map(\.id) == [all[6].id])
        #expect(try auth.auditLog(limit: 2, users: ["chutich"]).map(\.action) == ["broadcast.approve"])
        #expect(try auth.auditLog(limit: 2, users: []).isEmpty)

        // Append-only on both engines.
        #expect(throws: (any Error).self) { try db.store.write { try $0.execute(sql: "UPDATE audit_log SET user_name = 'x'") } }
        #expect(throws: (any Error).self) { try db.store.write { try $0.execute(sql: "DELETE FROM audit_log") } }
        #expect(try auth.auditLog().map(\.id) == all.map(\.id))
    }
}
