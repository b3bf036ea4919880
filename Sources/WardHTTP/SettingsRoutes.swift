import Foundation
import HTTPTypes
import Hummingbird
import WardController
import WardDomain
import WardStorage

/// Alarm rules, KPI targets, notifications, kept reports, and changes to users.
extension OperatorAPI {
    struct UserChange: Decodable {
        var role: Role?
        var communes: [String]?
        var password: String?
        var displayName: String?
        var disabled: Bool?
    }

    /// A user as the audit log records them before and after a change.
    struct UserState: Encodable, Equatable {
        var role: Role
        var displayName: String
        /// nil: every commune.
        var communes: [String]?
        var disabled: Bool

        init(_ c: AuthRepository.Credentials) {
            role = c.user.role
            displayName = c.user.displayName
            communes = c.communes?.sorted()
            disabled = c.disabledAt != nil
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encode(displayName, forKey: .displayName)
            try c.encode(communes, forKey: .communes)  // null: every commune
            try c.encode(disabled, forKey: .disabled)
        }

        enum CodingKeys: String, CodingKey { case role, displayName, communes, disabled }
    }
    struct OwnPassword: Decodable { var current: String; var new: String }
    struct Keep: Decodable { var commune: String? }

    var settingsRoutes: [Route] {
        let db = database
        return [
            Route(method: .get, path: "/api/v1/alarms/rules", permission: .view) { _ in
                try Self.json(try SettingsRepository(db).alarmRules().sorted)
            },
            Route(method: .put, path: "/api/v1/alarms/rules", permission: .configure) { call in
                try self.requireUnlimited(call)
                let change = try Self.decode(AlarmRuleChange.self, call.body,
                                             allowed: ["kind", "device_class", "severity", "threshold", "duration", "tolerance", "enabled"])
                let settings = SettingsRepository(db)
                var rules = try settings.alarmRules()
                let old = rules.sorted
                let r = try rules.apply(change)
                try settings.set(SettingsRepository.alarmRules, rules.sorted, by: call.user.name, at: self.clock.now())
                try self.audit(call, "alarm_rule.set", target: r.key,
                               detail: "\(r.severity.rawValue) threshold \(r.threshold.map { "\($0)" } ?? "-") duration \(r.duration) tolerance \(r.tolerance) enabled \(r.enabled)",
                               before: old.first { $0.key == r.key }, after: r)
                return try Self.json(r)
            },
            Route(method: .get, path: "/api/v1/alarms/notifications", permission: .view) { call in
                let repo = NotificationRepository(db)
                struct Out: Encodable { var counts: [String: Int]; var recent: [NotificationRecord] }
                let scope = call.principal!.communes
                return try Self.json(Out(counts: try repo.counts(communes: scope),
                                         recent: try repo.list(limit: try call.integer("limit", in: 1...500) ?? 50,
                                                               undeliveredOnly: try call.flag("undelivered"), communes: scope)))
            },
            Route(method: .get, path: "/api/v1/kpi/targets", permission: .view) { _ in
                try Self.json(try SettingsRepository(db).kpiSettings().values)
            },
            Route(method: .put, path: "/api/v1/kpi/targets", permission: .configure) { call in
                try self.requireUnlimited(call)
                let keys = Set(KPIID.allCases.map(\.rawValue) + ["availability_threshold", "programme_share"])
                let b = try Self.decode([String: Double].self, call.body, allowed: keys)
                let repo = SettingsRepository(db)
                var s = try repo.kpiSettings()
                let old = s.values
                for (k, v) in b.sorted(by: { $0.key < $1.key }) { try s.set(k, v) }
                try repo.set(SettingsRepository.kpi, s, by: call.user.name, at: self.clock.now())
                // Only the targets this request named, as they were and as they are.
                try self.audit(call, "kpi_targets.set", target: nil, detail: b.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                               before: old.filter { b[$0.key] != nil }, after: s.values.filter { b[$0.key] != nil })
                return try Self.json(s.values)
            },
            Route(method: .get, path: "/api/v1/reports", permission: .view) { call in
                try Self.json(try ReportRepository(db).list().filter { call.principal!.covers(commune: $0.scope == "*" ? nil : $0.scope) })
            },
            Route(method: .post, path: "/api/v1/reports/{month}/keep", permission: .generateReports) { call in
                let month = try call.month()
                let b = call.body.readableBytes == 0 ? Keep() : try Self.decode(Keep.self, call.body, allowed: ["commune"])
                try APIInput.identifiers(b.commune.map { [$0] }, field: "commune")
                let commune = b.commune ?? call.principal!.communes.flatMap { $0.count == 1 ? $0.first : nil }
                try self.requireKnownCommune(commune)
                if call.principal!.communes != nil, !call.principal!.covers(commune: commune) {
                    throw APIError(.forbidden, "chọn xã của bạn / choose one of your communes (commune)")
                }
                try ReportScheduler.generate(db, month: month, commune: commune, now: self.clock.now(), by: call.user.name, directory: nil)
                try self.audit(call, "report.keep", target: month, detail: commune ?? "*")
                return try Self.json(["month": month, "scope": commune ?? "*"], status: .created)
            },
            Route(method: .get, path: "/api/v1/reports/{month}/kept", permission: .view) { call in
                let month = try call.month()
                let scope = call.query("scope") ?? call.principal!.communes.flatMap { $0.count == 1 ? $0.first : nil } ?? "*"
                guard scope == "*" || APIInput.isIdentifier(scope) else { throw APIInput.bad("scope", "* hoặc mã xã / * or a commune id") }
                guard call.principal!.covers(commune: scope == "*" ? nil : scope) else { throw APIError(.forbidden, "scope: ngoài phạm vi / outside your communes") }
                let kind = try call.choice("format", ReportFormat.self) ?? .html
                let format = kind.rawValue, lang = (try call.choice("lang", ReportLanguage.self) ?? .vi).rawValue
                guard let body = try ReportRepository(db).body(month: month, scope: scope, format: format, lang: lang) else {
                    throw APIError(.notFound, "chưa lưu báo cáo \(month) \(format) \(lang) / no kept report for that")
                }
                var headers: HTTPFields = [.contentType: kind.contentType, .cacheControl: "no-store"]
                if kind != .json { headers[.contentDisposition] = "attachment; filename=\"bao-cao-\(month)-\(scope == "*" ? "all" : scope)-\(lang).\(format)\"" }
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
            },
            Route(method: .patch, path: "/api/v1/users/{name}", permission: .manageUsers) { call in try await self.changeUser(call) },
            Route(method: .post, path: "/api/v1/me/password", permission: .view) { call in
                let b = try Self.decode(OwnPassword.self, call.body, allowed: ["current", "new"])
                let auth = AuthRepository(db)
                guard let hash = try auth.credentials(call.user.name)?.passwordHash, await Self.verifyPassword(b.current, hash: hash) else {
                    throw APIError(.forbidden, "mật khẩu hiện tại sai / the current password is wrong")
                }
                try APIInput.password(b.new, field: "new", user: call.user.name)
                let ended = try auth.setPassword(call.user.name, hash: try await Self.hashPassword(b.new))
                try self.audit(call, "user.password", target: call.user.name, detail: ended > 0 ? "api tokens revoked: \(ended)" : nil)
                return try Self.json(["changed": "password",
                                      "note": "đăng nhập lại; các mã truy cập API cũ đã bị thu hồi / sign in again; your API tokens were revoked"])
            },
        ]
    }

    /// PATCH /users/{name}: role, communes, display name, password, disabled. Everything is checked
    /// before anything changes: a refused part leaves the user as they were.
    func changeUser(_ call: Call) async throws -> Response {
        let db = database
        let name = try call.parameter("name")
        let b = try Self.decode(UserChange.self, call.body, allowed: ["role", "communes", "password", "display_name", "disabled"])
        try self.communeIdentifiers(b.communes)
        if let d = b.displayName { try APIInput.text(d, field: "display_name", max: 200) }
        _ = try BroadcastRepository(db).user(name)
        try self.requireVisibleUser(call, name)
        let auth = AuthRepository(db)
        guard let old = try auth.credentials(name) else { throw APIError(.notFound, "không có người dùng \(name) / no user \(name)") }
        // An empty commune list lifts the limit (every commune), for callers without one.
        let limit = try b.communes.map { try self.checkedLimit(call, $0) }
        if let password = b.password { try APIInput.password(password, field: "password", user: name) }
        // One's own password changes only with the current one: a stolen session or token must not
        // be enough to take the account over.
        if b.password != nil, name == call.user.name {
            throw APIError(.unprocessableContent, "đổi mật khẩu của chính mình bằng POST /api/v1/me/password (cần mật khẩu hiện tại)"
                           + " / change your own password with POST /api/v1/me/password, which asks for the current one",
                           code: "use_me_password")
        }
        if let role = b.role, name == call.user.name, role != .admin {
            throw APIError(.conflict, "không tự bỏ quyền quản trị / you cannot drop your own admin role", code: "own_admin_role")
        }
        if b.disabled == true, name == call.user.name {
            throw APIError(.conflict, "không tự vô hiệu hóa tài khoản của mình / you cannot disable your own account", code: "self_disable")
        }
        // The deployment keeps at least one admin who can sign in.
        let losesAdmin = old.user.role == .admin && old.disabledAt == nil && (b.disabled == true || (b.role.map { $0 != .admin } ?? false))
        if losesAdmin, try auth.accounts().filter({ $0.user.role == .admin && $0.disabledAt == nil }).count <= 1 {
            throw APIError(.conflict, "phải còn ít nhất một quản trị viên đang hoạt động / at least one active admin must remain", code: "last_admin")
        }
        var changed: [String] = []
        // Sessions and API tokens end with a role change, a disable or a new password.
        var tokensEnded = 0
        if let role = b.role, role != old.user.role {
            tokensEnded += try auth.setRole(name, role)
            changed.append("role \(role.rawValue)")
        }
        if let limit {
            try auth.setCommunes(name, limit)
            changed.append("communes \(limit?.joined(separator: ",") ?? "*")")
        }
        if let d = b.displayName?.trimmingCharacters(in: .whitespacesAndNewlines), d != old.user.displayName {
            try auth.setDisplayName(name, d)
            changed.append("display name")
        }
        if let disabled = b.disabled, disabled != (old.disabledAt != nil) {
            tokensEnded += try auth.setDisabled(name, disabled, at: self.clock.now())
            changed.append(disabled ? "disabled" : "enabled")
        }
        if let password = b.password {
            tokensEnded += try auth.setPassword(name, hash: try await Self.hashPassword(password))
            changed.append("password")
        }
        if tokensEnded > 0 { changed.append("api tokens revoked: \(tokensEnded)") }
        guard b.role != nil || b.communes != nil || b.displayName != nil || b.disabled != nil || b.password != nil else {
            throw APIError(.badRequest, "role, communes, display_name, disabled, password: chưa có thay đổi / nothing to change", code: "nothing_to_change")
        }
        let new = try auth.credentials(name).map(UserState.init)
        let before = UserState(old)
        if !changed.isEmpty {
            // The password itself is never recorded, only that it changed.
            try self.audit(call, b.disabled == true && before.disabled == false ? "user.disable" : b.disabled == false && before.disabled ? "user.enable" : "user.change",
                           target: name, detail: changed.joined(separator: "; "), before: before, after: new)
        }
        return try Self.json(["user": name, "changed": changed.joined(separator: "; ")])
    }
}
