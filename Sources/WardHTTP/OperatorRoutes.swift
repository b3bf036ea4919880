import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import WardController
import WardDomain
import WardProtocol
import WardStorage

extension OperatorAPI {
    struct Login: Decodable { var user: String; var password: String }
    struct LoginResult: Encodable { var user: String; var displayName: String; var role: Role; var communes: [String]?; var csrf: String }
    struct Ack: Decodable { var note: String? }
    struct Reason: Decodable { var reason: String? }
    struct Adopt: Decodable { var site: String; var deviceClass: DeviceClass? }
    struct NewUser: Decodable { var name: String; var role: Role; var displayName: String?; var password: String; var communes: [String]? }
    struct UserView: Encodable {
        var name: String
        var role: Role
        var displayName: String
        var createdAt: Date
        var disabled: Bool
        var disabledAt: Date?
        /// Commune ids the user is limited to; absent: every commune.
        var communes: [String]?
        /// Each of those communes' name, by id.
        var communeNames: [String: String]?
    }
    struct ScheduleBody: Decodable {
        /// Required to schedule; optional in an edit (unchanged when absent).
        var title: String?
        var level: BroadcastLevel?
        var media: String?
        var tts: String?
        var voice: String?
        var stream: String?
        var minutes: Double?
        var day: String?
        var time: String?
        var `repeat`: String?
        var on: [String]?
        var until: String?
        var skip: [String]?
        var communes: [String]?
        var villages: [String]?
        var groups: [String]?
        var speakers: [String]?
        var volume: Int?
        var priorityOrder: Int?
    }
    static let scheduleKeys: Set<String> = ["title", "level", "media", "tts", "voice", "stream", "minutes", "day", "time", "repeat", "on",
                                            "until", "skip", "communes", "villages", "groups", "speakers", "volume", "priority_order"]

    struct DeviceView: Encodable {
        var id: String
        var deviceClass: DeviceClass
        var site: String
        var siteName: String?
        var village: String?
        var villageName: String?
        var commune: String?
        var state: HealthState
        var since: Date?
        var faults: [String]
        /// The same faults as codes with their figures, for a console that puts them in its own words.
        var reasons: [Fault]
        var lastHeard: Date?
        var latitude: Double?
        var longitude: Double?
        /// Set once the device is removed (its record and history stay).
        var removedAt: Date?
    }

    func tree() throws -> PlaceTree { try PlaceRepository(database).tree() }

    /// The device named by the route's `{id}` if it is in the caller's communes (and, with
    /// `active`, not removed); otherwise 404, so other communes' devices are not even named.
    func scopedDevice(_ call: Call, active: Bool) throws -> (device: Device, commune: Place?, tree: PlaceTree) {
        let id = try call.parameter("id")
        let tree = try self.tree()
        guard let d = try DeviceRepository(database).get(id), !active || d.removedAt == nil else {
            throw APIError(.notFound, active ? "không có thiết bị đang hoạt động \(id) / no active device \(id)" : "không có thiết bị \(id) / no device \(id)")
        }
        let commune = tree.ancestor(of: d.siteID, at: .commune)
        guard call.principal!.covers(commune: commune?.id) else { throw APIError(.notFound, "không có thiết bị \(id) / no device \(id)") }
        return (d, commune, tree)
    }

    func device(_ d: Device, _ tree: PlaceTree, _ status: DeviceStatusRecord?) -> DeviceView {
        let site = tree[d.siteID], village = tree.ancestor(of: d.siteID, at: .village)
        let l = status?.liveness
        return DeviceView(id: d.id, deviceClass: d.deviceClass, site: d.siteID, siteName: site?.name, village: village?.id,
                          villageName: village?.name, commune: tree.ancestor(of: d.siteID, at: .commune)?.id, state: l?.state ?? .unknown,
                          since: l?.since, faults: (l?.faults ?? []).map(\.text), reasons: l?.faults ?? [], lastHeard: l?.lastHeard,
                          latitude: (site?.coordinate ?? village?.coordinate)?.latitude, longitude: (site?.coordinate ?? village?.coordinate)?.longitude,
                          removedAt: d.removedAt)
    }

    /// Which communes a target reaches, for scoping to a user's communes. Reads the registry
    /// once, so a list of items is resolved without a read per item.
    struct CommuneResolver {
        let tree: PlaceTree
        let siteOf: [String: String]
        let groups: [String: Set<String>]

        func communes(of t: BroadcastTarget) -> Set<String> {
            var out = Set(t.communes)
            for v in t.villages { if let c = tree.ancestor(of: v, at: .commune)?.id { out.insert(c) } }
            for s in t.speakers + t.groups.flatMap({ groups[$0] ?? [] }) {
                if let c = siteOf[s].flatMap({ tree.ancestor(of: $0, at: .commune)?.id }) { out.insert(c) }
            }
            return out
        }
    }

    func resolver() throws -> CommuneResolver {
        CommuneResolver(tree: try tree(),
                        siteOf: Dictionary(try DeviceRepository(database).list().map { ($0.id, $0.siteID) }, uniquingKeysWith: { a, _ in a }),
                        groups: try BroadcastRepository(database).groups())
    }

    /// Every commune must be the caller's (403, without naming the others: their names are not
    /// the caller's to learn).
    func requireScope(_ call: Call, communes: Set<String>) throws {
        guard let allowed = call.principal?.communes else { return }
        guard communes.isSubset(of: allowed) else {
            throw APIError(.forbidden, "ngoài phạm vi xã được giao / outside your communes", code: "outside_scope")
        }
    }

    /// Something that belongs to none of the caller's communes does not exist for them: the same
    /// 404 as an id that names nothing, so ids cannot be probed.
    func requireVisible(_ call: Call, communes: Set<String>, _ notFound: @autoclosure () -> any Error) throws {
        guard let allowed = call.principal?.communes, communes.isDisjoint(with: allowed) else { return }
        throw notFound()
    }

    func programme(_ b: ScheduleBody, for call: Call) async throws -> Programme {
        let voice = try b.voice.map { v in
            guard let voice = TTSVoice(rawValue: v) else { throw APIError(.badRequest, "voice: northern, central, southern") }
            return voice
        } ?? .northern
        // A hash (or its prefix) names a file among those the caller may see, nothing else.
        let among = try b.media.flatMap { _ in try library.map { try visibleMedia(call, $0.list()) } }
        do {
            return try await ProgrammeChoice(media: b.media, tts: b.tts, voice: voice, stream: b.stream)
                .programme(library, among: among, title: b.title ?? "", by: call.user.name)
        } catch let e as ProgrammeChoice.Problem {
            throw APIError(.unprocessableContent, e.description)  // no such media, or not exactly one choice
        }
    }

    static func recurrenceInput(_ b: ScheduleBody) -> RecurrenceInput {
        RecurrenceInput(day: b.day, time: b.time, repeatRule: b.repeat, on: b.on, until: b.until, skip: b.skip)
    }

    static func recurrence(_ b: ScheduleBody) throws -> Recurrence {
        try APIInput.timing(day: b.day, time: b.time, repeat: b.repeat, on: b.on, until: b.until, skip: b.skip)
        // The fields are well formed by now: what is left is a day without a time or the reverse.
        do { return try recurrenceInput(b).recurrence() } catch { throw APIError(.unprocessableContent, error.description) }
    }

    /// Title and text as the document declares them (the schedule's rules check the rest).
    static func checkTexts(_ b: ScheduleBody) throws {
        if let t = b.title { try APIInput.text(t, field: "title", max: 200) }
        if let t = b.tts { try APIInput.text(t, field: "tts", max: 5000) }
    }

    static func target(_ b: ScheduleBody) -> BroadcastTarget {
        BroadcastTarget(communes: b.communes ?? [], villages: b.villages ?? [], groups: b.groups ?? [], speakers: b.speakers ?? [])
    }

    /// A bulletin as a caller sees it: only their communes among those it was sent to, and as
    /// handled once all of those are (the others may still have it in their inbox). Nil: none
    /// of the caller's communes.
    static func inboxView(_ b: UpstreamBulletin, handling: [String: UpstreamBulletin.Handling], for scope: Set<String>?) -> UpstreamBulletin? {
        let theirs = scope.map { Set(b.communes).intersection($0) } ?? Set(b.communes)
        guard !theirs.isEmpty else { return nil }
        var v = b
        let done = handling.filter { theirs.contains($0.key) }
        v.communes = b.communes.filter(theirs.contains)
        v.handling = done.isEmpty ? nil : done
        if !done.isEmpty, Set(done.keys) == theirs || scope != nil && b.status != .inbox, let last = done.values.max(by: { $0.at < $1.at }) {
            v.status = done.values.contains { $0.status == .scheduled } ? .scheduled : last.status
            v.itemID = done.values.first { $0.itemID != nil }?.itemID
            v.handledBy = last.by
            v.handledAt = last.at
        }
        return v
    }

    // MARK: the routes

    public var routes: [Route] {
        coreRoutes + registryRoutes + radioRoutes + settingsRoutes + tokenRoutes + nodeRoutes + firmwareRoutes + warningRoutes + readinessRoutes
    }

    var coreRoutes: [Route] {
        let db = database
        return [
            Route(method: .post, path: "/api/v1/login", permission: nil) { call in try await self.login(call) },
            Route(method: .post, path: "/api/v1/logout", permission: .view) { call in
                if let t = Self.cookie(call.request, Self.sessionCookie) { try AuthRepository(db).deleteSession(tokenHash: Self.sha256(t)) }
                var r = try Self.json(["ok": true])
                r.headers[.setCookie] = "\(Self.sessionCookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
                return r
            },
            Route(method: .get, path: "/api/v1/me", permission: .view) { call in
                struct Me: Encodable { var user: String; var displayName: String; var role: String; var permissions: String; var communes: [String]? }
                return try Self.json(Me(user: call.user.name, displayName: call.user.displayName, role: call.user.role.rawValue,
                                        permissions: call.user.role.permissions.map(\.rawValue).sorted().joined(separator: ","),
                                        communes: call.principal!.communes?.sorted()))
            },
            Route(method: .get, path: "/api/v1/places", permission: .view) { call in
                let tree = try self.tree()
                let places = tree.topologicalOrder.filter { p in
                    call.principal!.communes == nil || p.level < .commune || call.principal!.covers(commune: tree.ancestor(of: p.id, at: .commune)?.id)
                }
                return try Self.json(places)
            },
            Route(method: .get, path: "/api/v1/devices", permission: .view) { call in
                let tree = try self.tree()
                let statuses = try HealthQueries(db).statuses()
                let cls = try call.choice("class", DeviceClass.self)
                let list = try DeviceRepository(db).list().filter { d in
                    (cls == nil || d.deviceClass == cls) && call.principal!.covers(commune: tree.ancestor(of: d.siteID, at: .commune)?.id)
                }
                return try Self.json(list.map { self.device($0, tree, statuses[$0.id]) })
            },
            Route(method: .get, path: "/api/v1/devices/{id}", permission: .view) { call in
                let (d, _, tree) = try self.scopedDevice(call, active: false)
                let id = d.id
                struct Detail: Encodable {
                    var device: DeviceView
                    var history: [StateInterval]
                    var uptime24h: Double?
                    var uptime30d: Double?
                    var lastTelemetry: String?
                    /// Registered model and firmware, and what the device's birth reports (nil: no birth heard).
                    var model: String
                    var firmware: String
                    var reported: DeviceDetail.Reported?
                    /// Commands the device accepts: its birth's capabilities within its class (nil: unknown).
                    var commands: [String]?
                    var incidents: [DeviceIncident]
                    /// Its latest refused messages (why what it says is not taken).
                    var rejections: [RejectionRecord]
                }
                let q = HealthQueries(db)
                let now = self.clock.now()
                let intervals = try q.intervals(devices: [id], overlapping: DateInterval(start: now - 30 * 86_400, end: now))[id] ?? []
                let monitored = DateInterval(start: d.monitoredFrom, end: .distantFuture)
                let status = try q.statuses(only: id)[id]
                return try Self.json(Detail(
                    device: self.device(d, tree, status), history: try q.history(device: id, limit: 50),
                    uptime24h: Uptime.summary(of: intervals, in: DateInterval(start: now - 86_400, end: now), monitored: monitored, now: now).availability,
                    uptime30d: Uptime.summary(of: intervals, in: DateInterval(start: now - 30 * 86_400, end: now), monitored: monitored, now: now).availability,
                    lastTelemetry: status?.lastTelemetry, model: d.model, firmware: d.firmware,
                    reported: Birth.stored(status?.birth).map { DeviceDetail.Reported(birth: $0, registered: d) },
                    commands: status?.birth == nil ? nil : CommandName.allCases.filter {
                        CommandRefusal.check($0, device: id, deviceClass: d.deviceClass, birth: status?.birth) == nil
                    }.map(\.rawValue),
                    incidents: try q.incidents(device: id), rejections: try q.recentRejections(device: id)))
            },
            Route(method: .post, path: "/api/v1/devices/{id}/commands", permission: .manageDevices) { call in try await self.sendCommand(call) },
            Route(method: .get, path: "/api/v1/events", permission: .view) { call in self.events(call) },
            Route(method: .get, path: "/api/v1/health", permission: .view) { call in
                try Self.json(try HealthReport.build(db, now: self.clock.now(), communes: call.principal!.communes))
            },
            Route(method: .get, path: "/api/v1/pending", permission: .view) { call in
                try Self.json(try HealthQueries(db).pending().filter { call.principal!.covers(commune: $0.communeID) })
            },
            Route(method: .post, path: "/api/v1/pending/{id}/adopt", permission: .manageDevices) { call in
                let id = try call.parameter("id")
                let body = try Self.decode(Adopt.self, call.body, allowed: ["site", "device_class"])
                guard let p = try HealthQueries(db).pending().first(where: { $0.deviceID == id }) else {
                    throw APIError(.notFound, "không có thiết bị chờ \(id) / no pending device \(id)")
                }
                try self.requireVisible(call, communes: [p.communeID], APIError(.notFound, "không có thiết bị chờ \(id) / no pending device \(id)"))
                // The device names its commune in every topic: a site elsewhere would refuse all it says.
                let siteCommune = try self.tree().ancestor(of: body.site, at: .commune)?.id
                guard siteCommune == p.communeID else {
                    throw APIError(.unprocessableContent, "điểm \(body.site) không thuộc xã \(p.communeID) mà thiết bị báo về / site \(body.site) is not in commune \(p.communeID), where the device reports from")
                }
                guard let cls = body.deviceClass ?? p.deviceClass.flatMap(DeviceClass.init(rawValue:)) else {
                    throw APIError(.unprocessableContent, "device_class: chưa rõ loại / the class is unknown, give it")
                }
                let d = Device(id: id, deviceClass: cls, model: p.model ?? "", firmware: p.firmware ?? "", siteID: body.site, registeredAt: self.clock.now())
                do { try DeviceRepository(db).upsert([d]) } catch let e as DeviceError { throw APIError(.unprocessableContent, e.description) }
                try self.audit(call, "device.adopt", target: id, detail: "site \(body.site)")
                return try Self.json(["adopted": id], status: .created)
            },
            Route(method: .post, path: "/api/v1/pending/{id}/reject", permission: .manageDevices) { call in
                let id = try call.parameter("id")
                guard let p = try HealthQueries(db).pending().first(where: { $0.deviceID == id }) else {
                    throw APIError(.notFound, "không có thiết bị chờ \(id) / no pending device \(id)")
                }
                try self.requireVisible(call, communes: [p.communeID], APIError(.notFound, "không có thiết bị chờ \(id) / no pending device \(id)"))
                try DeviceRepository(db).dismissPending(id)
                try self.audit(call, "device.reject", target: id)
                return try Self.json(["rejected": id])
            },
            Route(method: .get, path: "/api/v1/media", permission: .view) { call in
                try Self.json(try self.visibleMedia(call, MediaRepository(db).list()))
            },
            Route(method: .get, path: "/api/v1/broadcasts", permission: .view) { call in
                let r = try self.resolver()
                let items = try BroadcastRepository(db).list(includeCancelled: try call.flag("all")).filter { b in
                    call.principal!.communes.map { !r.communes(of: b.item.target).isDisjoint(with: $0) } ?? true
                }
                return try Self.json(items)
            },
            Route(method: .get, path: "/api/v1/broadcasts/upcoming", permission: .view) { call in
                struct Slot: Encodable {
                    var item: String; var title: String; var level: BroadcastLevel; var status: BroadcastStatus
                    var start: Date; var end: Date; var target: BroadcastTarget
                }
                let now = self.clock.now()
                let cal = LocalCalendar.vietnam
                let from = try call.day("from").flatMap { cal.day(named: $0.description)?.start } ?? cal.day(containing: now).start
                let days = try call.integer("days", in: 1...31) ?? 7
                let r = try self.resolver()
                let slots = try BroadcastService(db, clock: self.clock).upcoming(in: DateInterval(start: from, duration: Double(days) * 86_400))
                    .filter { b in call.principal!.communes.map { !r.communes(of: b.broadcast.item.target).isDisjoint(with: $0) } ?? true }
                    .map { Slot(item: $0.broadcast.id, title: $0.broadcast.item.title, level: $0.broadcast.item.level, status: $0.broadcast.status,
                                start: $0.at.start, end: $0.at.end, target: $0.broadcast.item.target) }
                return try Self.json(slots)
            },
            Route(method: .get, path: "/api/v1/inbox", permission: .view) { call in
                let repo = UpstreamRepository(db)
                let all = try call.flag("all")
                let handling = try repo.handling()
                return try Self.json(try repo.list(all: true).compactMap { b in
                    let v = Self.inboxView(b, handling: handling[b.id] ?? [:], for: call.principal!.communes)
                    return v.map { all || $0.status == .inbox ? $0 : nil } ?? nil
                })
            },
            Route(method: .post, path: "/api/v1/broadcasts", permission: .schedule) { call in
                let b = try Self.decode(ScheduleBody.self, call.body, allowed: Self.scheduleKeys)
                try Self.checkTexts(b)
                try self.requireScope(call, communes: try self.resolver().communes(of: Self.target(b)))
                let programme = try await self.programme(b, for: call)
                let duration = b.minutes.map { $0 * 60 }
                var r = BroadcastService.Request(title: b.title ?? "", level: b.level ?? .normal, programme: programme, duration: duration,
                                                 recurrence: try Self.recurrence(b), target: Self.target(b), volume: b.volume)
                r.priorityOrder = b.priorityOrder
                let service = BroadcastService(db, clock: self.clock)
                let pick = Self.language(call.request).pick
                // `dry_run`: the same checks and warnings, nothing saved: what the officer confirms.
                if try call.flag("dry_run") {
                    struct Preview: Encodable { var dryRun = true; var warnings: [String] }
                    return try Self.json(Preview(warnings: try service.preview(r).cuts.map(pick)))
                }
                let item = try service.schedule(r, by: call.user.name)
                try self.audit(call, "broadcast.schedule", target: item.id, detail: b.title)
                let warnings = try service.cuts(of: item.item).map(pick)
                    + (await RelayCheck.warnings(for: item, probe: self.streamProbe).map(pick))
                return try Self.json(ScheduleAnswer(item, warnings: warnings), status: .created)
            },
            Route(method: .post, path: "/api/v1/broadcasts/{id}/approve", permission: .approve) { call in
                let id = try call.parameter("id")
                let item = try BroadcastRepository(db).get(id)
                let communes = try self.resolver().communes(of: item.item.target)
                try self.requireVisible(call, communes: communes, BroadcastStoreError.unknownItem(id))
                try self.requireScope(call, communes: communes)
                let done = try BroadcastService(db, clock: self.clock).approve(id, by: call.user.name)
                try self.audit(call, "broadcast.approve", target: id)
                return try Self.json(done)
            },
            Route(method: .post, path: "/api/v1/broadcasts/{id}/cancel", permission: .schedule) { call in
                let id = try call.parameter("id")
                let body = call.body.readableBytes == 0 ? Reason() : try Self.decode(Reason.self, call.body, allowed: ["reason"])
                let item = try BroadcastRepository(db).get(id)
                let communes = try self.resolver().communes(of: item.item.target)
                try self.requireVisible(call, communes: communes, BroadcastStoreError.unknownItem(id))
                try self.requireScope(call, communes: communes)
                let done = try BroadcastService(db, clock: self.clock).cancel(id, by: call.user.name, reason: body.reason)
                try self.audit(call, "broadcast.cancel", target: id, detail: body.reason)
                return try Self.json(done)
            },
            Route(method: .post, path: "/api/v1/emergency", permission: .sendEmergency) { call in
                let b = try Self.decode(ScheduleBody.self, call.body, allowed: Self.scheduleKeys)
                try Self.checkTexts(b)
                var target = Self.target(b)
                // No target: the caller's one commune (or the deployment's only one), as the CLI does.
                if target.isEmpty {
                    let communes = try call.principal!.communes ?? Set(self.tree().places.values.filter { $0.level == .commune }.map(\.id))
                    if communes.count == 1 { target = BroadcastTarget(communes: Array(communes)) }
                }
                try self.requireScope(call, communes: try self.resolver().communes(of: target))
                let programme = try await self.programme(b, for: call)
                let duration = b.minutes.map { $0 * 60 }
                let item = try BroadcastService(db, clock: self.clock).sendEmergency(title: b.title ?? "", programme: programme, duration: duration,
                                                                                      target: target, volume: b.volume, by: call.user.name)
                try self.audit(call, "broadcast.emergency", target: item.id, detail: b.title)
                let warnings = await RelayCheck.warnings(for: item, probe: self.streamProbe).map(Self.language(call.request).pick)
                return try Self.json(ScheduleAnswer(item, warnings: warnings), status: .created)
            },
            Route(method: .get, path: "/api/v1/playback", permission: .view) { call in
                let cal = LocalCalendar.vietnam
                let day = try call.day("date") ?? LocalDay(cal.dayKey(self.clock.now()))!
                return try Self.json(try PlaybackLogReport.build(db, day: day, item: call.query("item"), communes: call.principal!.communes))
            },
            Route(method: .get, path: "/api/v1/kpi", permission: .view) { call in
                let now = self.clock.now()
                if let m = call.query("month") { try APIInput.month(m) }
                _ = try (call.day("from"), call.day("to"))
                // Each part is well formed by now: nil means the period is empty (from after to).
                guard let period = LocalCalendar.vietnam.period(month: call.query("month"), from: call.query("from"), to: call.query("to"), now: now) else {
                    throw APIError(.unprocessableContent, "from trước to / from must come before to")
                }
                var communes = try call.identifier("commune").map { Set([$0]) }
                try self.requireKnownCommune(communes?.first)
                if let c = communes?.first, !call.principal!.covers(commune: c) {
                    throw APIError(.forbidden, "ngoài phạm vi xã được giao: \(c) / outside your communes: \(c)")
                }
                if let allowed = call.principal!.communes { communes = communes ?? allowed }
                return try Self.json(try KPIService(db).report(period: period, communes: communes, now: now))
            },
            Route(method: .get, path: "/api/v1/alarms", permission: .view) { call in
                let repo = AlarmRepository(db)
                let scope = call.principal!.communes
                let list: [Alarm]
                switch call.query("status") ?? "open" {
                case "open": list = try repo.list(open: true, communes: scope, limit: 10_000)
                case "all": list = try repo.list(communes: scope)
                case let s:
                    guard let st = AlarmStatus(rawValue: s) else { throw APIError(.badRequest, "status: open, all, active, acknowledged, cleared") }
                    list = try repo.list(status: st, communes: scope)
                }
                return try Self.json(list)
            },
            Route(method: .post, path: "/api/v1/alarms/{id}/ack", permission: .acknowledgeAlarms) { call in
                guard let id = Int64(try call.parameter("id")) else { throw APIError(.badRequest, "id: số / a number") }
                let body = call.body.readableBytes == 0 ? Ack() : try Self.decode(Ack.self, call.body, allowed: ["note"])
                guard let a = try AlarmRepository(db).get(id), call.principal!.covers(commune: a.communeID) else {
                    throw APIError(.notFound, "không có cảnh báo #\(id) / no alarm #\(id)")
                }
                let done = try AlarmRepository(db).acknowledge(id, by: call.user.name, at: self.clock.now(), note: body.note)
                try self.audit(call, "alarm.ack", target: "#\(id)", detail: body.note)
                return try Self.json(done)
            },
            Route(method: .get, path: "/api/v1/reports/{month}", permission: .view) { call in
                let month = try call.month()
                let format = try call.choice("format", ReportFormat.self) ?? .json
                let lang = try call.choice("lang", ReportLanguage.self) ?? .vi
                let commune = try call.identifier("commune") ?? call.principal!.communes.flatMap { $0.count == 1 ? $0.first : nil }
                try self.requireKnownCommune(commune)
                if call.principal!.communes != nil, !call.principal!.covers(commune: commune) {
                    throw APIError(.forbidden, "chọn xã của bạn / choose one of your communes (commune=…)")
                }
                let report = try MonthlyReport.build(db, month: month, commune: commune, now: self.clock.now())
                var headers: HTTPFields = [.contentType: format.contentType, .cacheControl: "no-store"]
                if format != .json { headers[.contentDisposition] = "attachment; filename=\"bao-cao-\(month).\(format.rawValue)\"" }
                return Response(status: .ok, headers: headers,
                                body: .init(byteBuffer: ByteBuffer(data: ReportRenderer(language: lang).render(report, as: format))))
            },
            Route(method: .get, path: "/api/v1/users", permission: .manageUsers) { call in
                let visible = try self.visibleUsers(call)
                let tree = try self.tree()
                return try Self.json(try AuthRepository(db).accounts().filter { visible?.contains($0.user.name) ?? true }.map { c in
                    UserView(name: c.user.name, role: c.user.role, displayName: c.user.displayName, createdAt: c.user.createdAt,
                             disabled: c.disabledAt != nil, disabledAt: c.disabledAt, communes: c.communes?.sorted(),
                             communeNames: c.communes.map { Dictionary(uniqueKeysWithValues: $0.map { ($0, tree[$0]?.name ?? $0) }) })
                })
            },
            Route(method: .post, path: "/api/v1/users", permission: .manageUsers) { call in
                let b = try Self.decode(NewUser.self, call.body, allowed: ["name", "role", "display_name", "password", "communes"])
                guard Identifier.isValid(b.name) else { throw APIError(.badRequest, "name: chữ, số, '-', '_', '.' / letters, digits, '-', '_', '.'") }
                try self.communeIdentifiers(b.communes)
                try APIInput.password(b.password, field: "password", user: b.name)
                let limit = try self.checkedLimit(call, b.communes)
                try BroadcastRepository(db).addUser(User(name: b.name, role: b.role, displayName: b.displayName, createdAt: self.clock.now()))
                let hash = try await Self.hashPassword(b.password)
                try AuthRepository(db).setPassword(b.name, hash: hash)
                try AuthRepository(db).setCommunes(b.name, limit)
                try self.audit(call, "user.add", target: b.name, detail: "role \(b.role.rawValue)",
                               after: try AuthRepository(db).credentials(b.name).map(UserState.init))
                return try Self.json(["created": b.name], status: .created)
            },
            Route(method: .get, path: "/api/v1/audit", permission: .viewAudit) { call in
                // Newest first, a page at a time: the next page is `before=` the last id of this one
                // (or `offset=`); a page shorter than `limit` is the last.
                var q = AuthRepository.AuditQuery(users: try self.visibleUsers(call), limit: try call.integer("limit", in: 1...500) ?? 50)
                q.user = try call.identifier("user")
                if let a = call.query("action") {
                    guard APIInput.matches(a, "^[a-z_]+(\\.[a-z_]+)*(\\.\\*)?$") else { throw APIInput.bad("action", "user.change, broadcast.*") }
                    q.action = a
                }
                let cal = LocalCalendar.vietnam
                q.from = try call.day("from").flatMap { cal.day(named: $0.description)?.start }
                q.until = try call.day("to").flatMap { cal.day(named: $0.description)?.end }
                if let f = q.from, let t = q.until, f >= t { throw APIError(.unprocessableContent, "from trước to / from must come before to") }
                q.before = try call.integer("before", in: 1...Int.max).map(Int64.init)
                q.offset = try call.integer("offset", in: 0...1_000_000) ?? 0
                let page = try AuthRepository(db).auditLog(q)
                var r = try Self.json(page)
                if page.count == q.limit, let last = page.last { r.headers[HTTPField.Name("X-Next-Before")!] = String(last.id) }
                return r
            },
        ]
    }

    /// bcrypt, cost 11: slow on purpose, so it runs on a thread of its own, not the concurrency pool.
    public static func hashPassword(_ p: String) async throws -> String { await offPool { Bcrypt.hash(p, cost: 11) } }
    static func verifyPassword(_ p: String, hash: String) async -> Bool { await offPool { Bcrypt.verify(p, hash: hash) } }

    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: work()) } }
    }

    func login(_ call: Call) async throws -> Response {
        guard allowLoginAttempt(from: call.address ?? "?") else {
            throw APIError(.tooManyRequests, "quá nhiều lần đăng nhập, thử lại sau 1 phút / too many sign-in attempts, try again in a minute")
        }
        let b = try Self.decode(Login.self, call.body, allowed: ["user", "password"])
        let auth = AuthRepository(database)
        let now = clock.now()
        let wrong = APIError(.unauthorized, "sai tên đăng nhập hoặc mật khẩu / wrong user name or password", code: "wrong_credentials")
        guard let c = try auth.credentials(b.user), let hash = c.passwordHash else {
            _ = await Self.verifyPassword(b.password, hash: "$2b$11$abcdefghijklmnopqrstuuJ3h2GZ5W9xq0y1Q8iC3nN6fQe6h7eHi")  // same time as a real check
            throw wrong
        }
        if let until = c.lockedUntil, until > now {
            try auth.audit(user: b.user, action: "login.locked", target: nil, detail: nil, address: call.address, at: now)
            throw APIError(.init(code: 423, reasonPhrase: "Locked"), "tài khoản tạm khóa đến \(LocalCalendar.vietnam.display(until)) / account locked until then")
        }
        guard await Self.verifyPassword(b.password, hash: hash) else {
            let (n, lock) = throttle.fail(count: c.failedLogins, now: now)
            try auth.recordLogin(b.user, failed: n, lockedUntil: lock)
            try auth.audit(user: b.user, action: lock == nil ? "login.failed" : "login.lockout", target: nil, detail: nil, address: call.address, at: now)
            throw wrong
        }
        try auth.recordLogin(b.user, failed: 0, lockedUntil: nil)
        // Said only to someone who knows the password: a disabled account is not probed by name.
        guard c.disabledAt == nil else {
            try auth.audit(user: b.user, action: "login.disabled", target: nil, detail: nil, address: call.address, at: now)
            throw APIError(.forbidden, "tài khoản đã bị vô hiệu hóa, hãy hỏi quản trị viên / the account is disabled, ask an administrator",
                           code: "user_disabled")
        }
        let token = Self.randomToken(), csrf = Self.randomToken()
        try auth.createSession(tokenHash: Self.sha256(token), user: b.user, csrf: csrf, at: now, expires: now + sessionLifetime, address: call.address)
        try auth.audit(user: b.user, action: "login", target: nil, detail: nil, address: call.address, at: now)
        var r = try Self.json(LoginResult(user: c.user.name, displayName: c.user.displayName, role: c.user.role,
                                          communes: c.communes?.sorted(), csrf: csrf))
        r.headers[.setCookie] = "\(Self.sessionCookie)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(sessionLifetime))"
            + (secureCookies ? "; Secure" : "")
        return r
    }
}

extension ReportFormat {
    var contentType: String {
        switch self {
        case .html: "text/html; charset=utf-8"
        case .csv: "text/csv; charset=utf-8"
        case .json: "application/json; charset=utf-8"
        }
    }
}
