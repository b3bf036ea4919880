import Foundation
import Hummingbird
import WardDomain
import WardStorage

/// API tokens: one's own under /me (any signed-in user), anyone's under /users/{name} (manage_users,
/// within the caller's communes). Listed by public id with name, times and expiry; the secret is
/// shown once, when made, and only its hash is kept.
extension OperatorAPI {
    struct NewToken: Decodable {
        var name: String?
        /// The field's name before tokens had names; still read from older scripts.
        var label: String?
        var validDays: Int?
    }

    struct MadeToken: Encodable {
        var id: String
        var name: String
        var createdAt: Date
        var expiresAt: Date?
        /// The secret: in this answer only.
        var token: String
        var note: String
    }

    var tokenRoutes: [Route] {
        [
            Route(method: .get, path: "/api/v1/me/tokens", permission: .view) { call in
                try self.listTokens(call.user.name)
            },
            Route(method: .post, path: "/api/v1/me/tokens", permission: .view) { call in
                try self.makeToken(call, for: call.user.name)
            },
            Route(method: .delete, path: "/api/v1/me/tokens/{id}", permission: .view) { call in
                try self.revokeToken(call, of: call.user.name)
            },
            Route(method: .get, path: "/api/v1/users/{name}/tokens", permission: .manageUsers) { call in
                try self.listTokens(try self.tokenOwner(call))
            },
            Route(method: .post, path: "/api/v1/users/{name}/tokens", permission: .manageUsers) { call in
                try self.makeToken(call, for: try self.tokenOwner(call))
            },
            Route(method: .delete, path: "/api/v1/users/{name}/tokens/{id}", permission: .manageUsers) { call in
                try self.revokeToken(call, of: try self.tokenOwner(call))
            },
        ]
    }

    /// The user named in the path, if the caller may manage them (404 otherwise, as for a name
    /// that names nobody: another commune's people do not exist for a limited admin).
    func tokenOwner(_ call: Call) throws -> String {
        let name = try call.parameter("name")
        guard (try? BroadcastRepository(database).user(name)) != nil else {
            throw APIError(.notFound, "không có người dùng \(name) / no user \(name)")
        }
        try requireVisibleUser(call, name)
        return name
    }

    func listTokens(_ user: String) throws -> Response {
        let now = clock.now()
        return try Self.json(try AuthRepository(database).tokens(of: user).map { $0.listing(at: now) })
    }

    func makeToken(_ call: Call, for user: String) throws -> Response {
        let b = try Self.decode(NewToken.self, call.body, allowed: ["name", "label", "valid_days"])
        guard (b.name == nil) != (b.label == nil), let name = b.name ?? b.label else {
            throw APIError(.badRequest, "name: cần tên của mã (label là tên cũ, chỉ một trong hai) / name: give the token a name (label, its old"
                           + " name, is read too, not both)", code: "invalid_body")
        }
        try APIInput.text(name, field: "name", max: APIToken.nameLength.upperBound)
        if let d = b.validDays, !APIToken.validDays.contains(d) {
            throw APIInput.bad("valid_days", "\(APIToken.validDays.lowerBound)–\(APIToken.validDays.upperBound) ngày / days")
        }
        let now = clock.now()
        let secret = Self.randomToken("wft_")
        let made = try AuthRepository(database).createToken(tokenHash: Self.sha256(secret), user: user, label: name, at: now,
                                                            expires: b.validDays.map { now + Double($0) * 86_400 })
        let detail = made.name + (made.expiresAt.map { "; đến / until \(LocalCalendar.vietnam.display($0))" } ?? "")
        try audit(call, "user.token", target: user, detail: detail, after: ["id": made.id, "name": made.name])
        return try Self.json(MadeToken(id: made.id, name: made.name, createdAt: made.createdAt, expiresAt: made.expiresAt, token: secret,
                                       note: "chỉ hiện một lần / shown once"), status: .created)
    }

    func revokeToken(_ call: Call, of user: String) throws -> Response {
        let id = try call.parameter("id")
        let auth = AuthRepository(database)
        // Someone else's token id is "no such token" too: ids are not probed across users.
        guard let token = try auth.tokens(of: user).first(where: { $0.id == id }), try auth.revokeToken(id: id, of: user) else {
            throw APIError(.notFound, "không có mã truy cập \(id) / no API token \(id)")
        }
        try audit(call, "user.token_revoke", target: user, detail: token.name, before: ["id": token.id, "name": token.name])
        return try Self.json(["revoked": id])
    }
}
