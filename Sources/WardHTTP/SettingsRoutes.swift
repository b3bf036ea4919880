import Foundation
import HTTPTypes
import Hummingbird
import WardController
import WardDomain
import WardStorage

/// Alarm rules, KPI targets, notifications, kept reports, and changes to users.
extension OperatorAPI {
    struct UserChange: Decodable { var role: Role?; var communes: [String]?; var password: String? }
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
                let r = try rules.apply(change)
                try settings.set(SettingsRepository.alarmRules, rules.sorted, by: call.user.name, at: self.clock.now())
                try self.audit(call, "alarm_rule.set", target: r.key,
                               detail: "\(r.severity.rawValue) threshold \(r.threshold.map { "\($0)" } ?? "-") duration \(r.duration) tolerance \(r.tolerance) enabled \(r.enabled)")
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
                for (k, v) in b.sorted(by: { $0.key < $1.key }) { try s.set(k, v) }
                try repo.set(SettingsRepository.kpi, s, by: call.user.name, at: self.clock.now())
                try self.audit(call, "kpi_targets.set", target: nil, detail: b.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: " "))
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
            Route(method: .patch, path: "/api/v1/users/{name}", permission: .manageUsers) { call in
                let name = try call.parameter("name")
                let b = try Self.decode(UserChange.self, call.body, allowed: ["role", "communes", "password"])
                try self.communeIdentifiers(b.communes)
                _ = try BroadcastRepository(db).user(name)
                try self.requireVisibleUser(call, name)
                // Everything checked before anything changes: a refused part leaves the user as they were.
                // An empty commune list lifts the limit (every commune), for callers without one.
                let limit = try b.communes.map { try self.checkedLimit(call, $0) }
                if let password = b.password { try APIInput.password(password, field: "password", user: name) }
                if let role = b.role, name == call.user.name, role != .admin {
                    throw APIError(.conflict, "không tự bỏ quyền quản trị / you cannot drop your own admin role")
                }
                let auth = AuthRepository(db)
                var changed: [String] = []
                if let role = b.role {
                    try auth.setRole(name, role)
                    changed.append("role \(role.rawValue)")
                }
                if let limit {
                    try auth.setCommunes(name, limit)
                    changed.append("communes \(limit?.joined(separator: ",") ?? "*")")
                }
                if let password = b.password {
                    try auth.setPassword(name, hash: try await Self.hashPassword(password))
                    changed.append("password")
                }
                guard !changed.isEmpty else { throw APIError(.badRequest, "role, communes, password: chưa có thay đổi / nothing to change") }
                try self.audit(call, "user.change", target: name, detail: changed.joined(separator: "; "))
                return try Self.json(["user": name, "changed": changed.joined(separator: "; ")])
            },
            Route(method: .post, path: "/api/v1/me/password", permission: .view) { call in
                let b = try Self.decode(OwnPassword.self, call.body, allowed: ["current", "new"])
                let auth = AuthRepository(db)
                guard let hash = try auth.credentials(call.user.name)?.passwordHash, await Self.verifyPassword(b.current, hash: hash) else {
                    throw APIError(.forbidden, "mật khẩu hiện tại sai / the current password is wrong")
                }
                try APIInput.password(b.new, field: "new", user: call.user.name)
                try auth.setPassword(call.user.name, hash: try await Self.hashPassword(b.new))
                try self.audit(call, "user.password", target: call.user.name)
                return try Self.json(["changed": "password", "note": "đăng nhập lại / sign in again"])
            },
        ]
    }
}
