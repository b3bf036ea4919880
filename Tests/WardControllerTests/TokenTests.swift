import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardDomain
import WardStorage
@testable import WardController
@testable import WardHTTP

/// API tokens (issue 19, item 2): named, listed by a public id without their secret, revoked,
/// expiring, and ended with the user's password, role or account; one's own for anyone, other
/// people's only with manage_users.
@Suite struct TokenTests {
    typealias Session = OperatorAPITests.Session
    let base = OperatorAPITests()

    static func json(_ r: TestResponse) -> Any? { try? JSONSerialization.jsonObject(with: Data(buffer: r.body)) }

    /// A small client: calls with a session or a bearer token, answers status and JSON.
    struct Caller {
        let client: any TestClientProtocol
        func call(_ method: HTTPRequest.Method, _ uri: String, _ as: Session, _ body: String? = nil) async throws -> (Int, Any?, String) {
            try await client.execute(uri: uri, method: method, headers: `as`.headers, body: body.map { ByteBuffer(string: $0) }) {
                ($0.status.code, TokenTests.json($0), String(buffer: $0.body))
            }
        }
        /// The status a bearer token gets for GET /api/v1/me.
        func me(_ token: String) async throws -> Int {
            try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(token)"]) { $0.status.code }
        }
        /// Makes a token for `user` (nil: one's own) and returns its secret and id.
        func make(_ s: Session, for user: String? = nil, _ body: String = #"{"name":"script"}"#) async throws -> (secret: String, id: String) {
            let (st, json, text) = try await call(.post, user.map { "/api/v1/users/\($0)/tokens" } ?? "/api/v1/me/tokens", s, body)
            #expect(st == 201, "\(text)")
            let o = try #require(json as? [String: Any])
            return (try #require(o["token"] as? String), try #require(o["id"] as? String))
        }
    }

    @Test func storageListsTokensByPublicIdAndRefusesExpiredOnes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = try WardDatabase(path: dir.appendingPathComponent("t.sqlite").path)
        let now = base.now
        try BroadcastRepository(db).addUser(User(name: "lan", role: .operator, createdAt: now))
        let auth = AuthRepository(db)
        let forever = try auth.createToken(tokenHash: OperatorAPI.sha256("wft_1"), user: "lan", label: "báo cáo", at: now)
        let day = try auth.createToken(tokenHash: OperatorAPI.sha256("wft_2"), user: "lan", label: "thử", at: now + 1, expires: now + 86_400)
        #expect(forever.id != day.id && forever.id.hasPrefix("tok-") && Identifier.isValid(forever.id))
        #expect(try auth.tokenUser(tokenHash: OperatorAPI.sha256("wft_1"), now: now + 60) == "lan")
        #expect(try auth.tokenUser(tokenHash: OperatorAPI.sha256("wft_2"), now: now + 86_399) == "lan")
        #expect(try auth.tokenUser(tokenHash: OperatorAPI.sha256("wft_2"), now: now + 86_400) == nil, "expired")
        let list = try auth.tokens(of: "lan")
        #expect(list.map(\.name) == ["báo cáo", "thử"])
        #expect(list[0].lastUsed == now + 60 && list[0].expiresAt == nil && list[1].expiresAt == now + 86_400)
        #expect(list[1].isExpired(at: now + 86_400) && !list[0].isExpired(at: now + 86_400 * 3650))
        #expect(try auth.revokeToken(id: forever.id, of: "someone-else") == false, "revoked only as its user's")
        #expect(try auth.revokeToken(id: forever.id, of: "lan"))
        #expect(try auth.tokenUser(tokenHash: OperatorAPI.sha256("wft_1"), now: now) == nil, "revoked")
        // A password, a role or a disable ends them all.
        let ends: [() throws -> Int] = [{ try auth.setPassword("lan", hash: "x") }, { try auth.setRole("lan", .viewer) },
                                        { try auth.setDisabled("lan", true, at: now) }]
        for (i, end) in ends.enumerated() {
            try auth.createToken(tokenHash: OperatorAPI.sha256("wft_e\(i)"), user: "lan", label: "e", at: now)
            #expect(try end() >= 1)
            #expect(try auth.tokenUser(tokenHash: OperatorAPI.sha256("wft_e\(i)"), now: now) == nil, "case \(i)")
        }
        #expect(try auth.tokens(of: "lan").isEmpty)
    }

    @Test func ownTokensAreMadeListedWithoutTheirSecretAndRevoked() async throws {
        let f = try await base.fixture()
        let clock = try #require(f.api.clock as? ManualTimeSource)
        try await f.app.test(.live) { client in
            let c = Caller(client: client)
            let viewer = try #require(try await OperatorAPITests.login(client, "u-viewer"))
            let (st0, made0, text0) = try await c.call(.post, "/api/v1/me/tokens", viewer, #"{"name":"Báo cáo tự động","valid_days":30}"#)
            #expect(st0 == 201, "\(text0)")
            let made = try #require(made0 as? [String: Any])
            let secret = try #require(made["token"] as? String), id = try #require(made["id"] as? String)
            #expect(made["expires_at"] as? String == ISO8601DateFormatter().string(from: base.now + 30 * 86_400))
            clock.advance(by: 60)
            #expect(try await c.me(secret) == 200)
            let (st, list, text) = try await c.call(.get, "/api/v1/me/tokens", viewer)
            #expect(st == 200)
            let row = try #require((list as? [[String: Any]])?.first)
            #expect(row["id"] as? String == id && row["name"] as? String == "Báo cáo tự động", "\(text)")
            #expect(row["created_at"] as? String == ISO8601DateFormatter().string(from: base.now))
            #expect(row["last_used"] as? String == ISO8601DateFormatter().string(from: base.now + 60))
            #expect(row["expired"] as? Bool == false && row["expires_at"] != nil)
            #expect(row["token"] == nil && !text.contains(secret) && !text.contains(OperatorAPI.sha256(secret)), "never the secret: \(text)")
            // A name is needed; the old field name is read too; a bad expiry is refused.
            for bad in ["{}", #"{"name":"   "}"#, #"{"name":"a","label":"b"}"#, #"{"name":"a","valid_days":0}"#,
                        #"{"name":"a","valid_days":3651}"#, #"{"name":"a","secret":"x"}"#] {
                #expect(try await c.call(.post, "/api/v1/me/tokens", viewer, bad).0 == 400, "\(bad)")
            }
            _ = try await c.make(viewer, for: nil, #"{"label":"cũ"}"#)
            // Revoked: 401 from then on, and gone from the list.
            #expect(try await c.call(.delete, "/api/v1/me/tokens/\(id)", viewer).0 == 200)
            #expect(try await c.me(secret) == 401)
            #expect(try await c.call(.delete, "/api/v1/me/tokens/\(id)", viewer).0 == 404)
            let after = try await c.call(.get, "/api/v1/me/tokens", viewer).1 as? [[String: Any]]
            #expect(after?.map { $0["name"] as? String } == ["cũ"])
        }
        let audit = try AuthRepository(f.db).auditLog()
        #expect(audit.contains { $0.action == "user.token" && $0.target == "u-viewer" && $0.detail?.contains("Báo cáo tự động") == true })
        #expect(audit.contains { $0.action == "user.token_revoke" && $0.target == "u-viewer" })
    }

    @Test func anExpiredTokenIsRefused() async throws {
        let f = try await base.fixture()
        let clock = try #require(f.api.clock as? ManualTimeSource)
        try await f.app.test(.live) { client in
            let c = Caller(client: client)
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let (secret, _) = try await c.make(admin, for: "u-operator", #"{"name":"một ngày","valid_days":1}"#)
            #expect(try await c.me(secret) == 200)
            clock.advance(by: 86_400 - 1)
            #expect(try await c.me(secret) == 200)
            clock.advance(by: 1)
            #expect(try await c.me(secret) == 401)
            // The admin signs in again: a day has ended their session too.
            let again = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let list = try await c.call(.get, "/api/v1/users/u-operator/tokens", again).1 as? [[String: Any]]
            #expect(list?.first?["expired"] as? Bool == true, "listed as expired until revoked")
        }
    }

    @Test func passwordRoleChangeAndDisableEndTheUsersTokens() async throws {
        let f = try await base.fixture()
        try await f.app.test(.live) { client in
            let c = Caller(client: client)
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let other = try await c.make(admin, for: "u-viewer")
            for change in [#"{"role":"technician"}"#, #"{"password":"mat-khau-moi-2026-x"}"#, #"{"disabled":true}"#] {
                let (secret, _) = try await c.make(admin, for: "u-operator")
                #expect(try await c.me(secret) == 200)
                let (st, _, text) = try await c.call(.patch, "/api/v1/users/u-operator", admin, change)
                #expect(st == 200 && text.contains("api tokens revoked: 1"), "\(change): \(text)")
                #expect(try await c.me(secret) == 401, "\(change)")
                if change.contains("disabled") {
                    _ = try await c.call(.patch, "/api/v1/users/u-operator", admin, #"{"disabled":false}"#)
                    #expect(try await c.me(secret) == 401, "enabling again gives no token back")
                }
            }
            #expect(try await c.me(other.secret) == 200, "another user's tokens stay")
            // One's own new password ends one's own tokens too.
            let approver = try #require(try await OperatorAPITests.login(client, "u-approver"))
            let (mine, _) = try await c.make(approver)
            let (st, _, text) = try await c.call(.post, "/api/v1/me/password", approver,
                                                 #"{"current":"\#(OperatorAPITests.password)","new":"mat-khau-moi-2026-y"}"#)
            #expect(st == 200, "\(text)")
            #expect(try await c.me(mine) == 401)
        }
    }

    /// Issue 19 item 12: an admin's session or token alone could set the admin's own password (no
    /// current password asked), and a fuzzer doing so revoked its own token. Refused with the way.
    @Test func ownPasswordIsNotChangedThroughUsersPatch() async throws {
        let f = try await base.fixture()
        try await f.app.test(.live) { client in
            let c = Caller(client: client)
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let (mine, _) = try await c.make(admin)
            for lang in ["vi", "en"] {
                let (st, json, text) = try await c.call(.patch, "/api/v1/users/u-admin?lang=\(lang)", admin, #"{"password":"mat-khau-moi-2026-z"}"#)
                let o = json as? [String: Any]
                #expect(st == 422 && o?["code"] as? String == "use_me_password", "\(text)")
                #expect((o?["error"] as? String)?.contains("POST /api/v1/me/password") == true, "\(text)")
            }
            // Through one's own bearer token too.
            let (st, _, text) = try await client.execute(uri: "/api/v1/users/u-admin", method: .patch,
                                                         headers: [.authorization: "Bearer \(mine)", .contentType: "application/json"],
                                                         body: ByteBuffer(string: #"{"password":"mat-khau-moi-2026-z","role":"admin"}"#)) {
                ($0.status.code, TokenTests.json($0), String(buffer: $0.body))
            }
            #expect(st == 422 && text.contains("use_me_password"), "\(text)")
            // Nothing changed: the old password signs in, the token still works.
            #expect(try await c.me(mine) == 200)
            #expect(try await OperatorAPITests.login(client, "u-admin") != nil)
            // Another user's password is still the admin's to set.
            let (st2, _, text2) = try await c.call(.patch, "/api/v1/users/u-viewer", admin, #"{"password":"mat-khau-moi-2026-z"}"#)
            #expect(st2 == 200, "\(text2)")
        }
    }

    @Test func othersTokensNeedManageUsers() async throws {
        let f = try await base.fixture()
        try await f.app.test(.live) { client in
            let c = Caller(client: client)
            let viewer = try #require(try await OperatorAPITests.login(client, "u-viewer"))
            let approver = try #require(try await OperatorAPITests.login(client, "u-approver"))
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let (secret, id) = try await c.make(viewer)
            for (method, uri) in [(HTTPRequest.Method.get, "/api/v1/users/u-viewer/tokens"), (.delete, "/api/v1/users/u-viewer/tokens/\(id)"),
                                  (.post, "/api/v1/users/u-viewer/tokens")] {
                #expect(try await c.call(method, uri, approver, #"{"name":"x"}"#).0 == 403, "\(method) \(uri)")
            }
            // Through one's own list another's token is no token at all.
            #expect(try await c.call(.delete, "/api/v1/me/tokens/\(id)", approver).0 == 404)
            let own = try await c.call(.get, "/api/v1/me/tokens", approver).2
            #expect(!own.contains(id), "\(own)")
            #expect(try await c.me(secret) == 200)
            // An admin sees and revokes anyone's.
            let (st, _, list) = try await c.call(.get, "/api/v1/users/u-viewer/tokens", admin)
            #expect(st == 200 && list.contains(id) && !list.contains(secret))
            #expect(try await c.call(.delete, "/api/v1/users/u-approver/tokens/\(id)", admin).0 == 404, "the token is not the approver's")
            #expect(try await c.call(.delete, "/api/v1/users/u-viewer/tokens/\(id)", admin).0 == 200)
            #expect(try await c.me(secret) == 401)
            #expect(try await c.call(.get, "/api/v1/users/nobody/tokens", admin).0 == 404)
        }
    }
}
