import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WardController
import WardDomain
import WardStorage

/// `POST /api/v1/warnings/cap`: CAP 1.2 alerts from warning sources (docs/warnings.md), each with its
/// own bearer token (kept hashed in `warning_sources`), good for this endpoint alone.
enum WarningRoutes {
    static let path = "/api/v1/warnings/cap"
    static let mediaTypes: Set<String> = ["application/cap+xml", "application/xml"]

    static func register(on router: Router<WardRequestContext>, service: WarningService?, logger: Logger) {
        router.post("api/v1/warnings/cap") { request, context -> Response in
            guard let service else {
                return try ControllerHTTPServer.error(.notFound, "tiếp nhận cảnh báo CAP chưa bật / CAP warnings are not enabled on this server",
                                                      request: request, context: context)
            }
            let auth = request.headers[.authorization] ?? ""
            guard auth.hasPrefix("Bearer "), auth.count > 7,
                  let source = try service.source(tokenHash: OperatorAPI.sha256(String(auth.dropFirst(7)))) else {
                service.count(refused: "unauthorised")
                return try ControllerHTTPServer.error(.unauthorized, "sai hoặc thiếu mã truy cập / missing or wrong bearer token",
                                                      request: request, context: context)
            }
            let type = (request.headers[.contentType] ?? "").split(separator: ";").first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? ""
            guard mediaTypes.contains(type) else {
                service.count(refused: "media_type")
                return try ControllerHTTPServer.error(.unsupportedMediaType,
                                                      "cần Content-Type application/cap+xml hoặc application/xml / Content-Type must be "
                                                          + "application/cap+xml or application/xml", code: "unsupported_media_type",
                                                      request: request, context: context)
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: CAPXML.defaultMaxBytes)
            } catch {
                service.count(refused: CAPError.Reason.tooLarge.rawValue)
                return try ControllerHTTPServer.error(.contentTooLarge, "cảnh báo quá lớn / alert over \(CAPXML.defaultMaxBytes / 1024) KiB",
                                                      code: CAPError.Reason.tooLarge.rawValue, request: request, context: context)
            }
            do {
                let (w, isNew) = try await service.receive(Data(buffer: body), from: source.user)
                if isNew, w.reachesNoPlace {
                    logger.warning("CAP alert reaches no place here: recorded, not on air", metadata: [
                        "source": "\(source.user)", "sender": "\(w.sender)", "identifier": "\(w.identifier)"])
                }
                logger.notice("CAP alert \(isNew ? "received" : "repeated")", metadata: [
                    "source": "\(source.user)", "sender": "\(w.sender)", "identifier": "\(w.identifier)", "status": "\(w.status.rawValue)",
                    "msg_type": "\(w.msgType.rawValue)", "state": "\(w.state.rawValue)",
                ])
                var resp = try OperatorAPI.json(WarningReceipt(w), status: isNew ? .created : .ok)
                resp.status = isNew ? .created : .ok
                return resp
            } catch let r as WarningRefusal {
                logger.warning("CAP alert refused", metadata: ["source": "\(source.user)", "reason": "\(r.reason)"])
                return try ControllerHTTPServer.error(HTTPResponse.Status(code: r.httpStatus), r.description, code: r.reason,
                                                      request: request, context: context)
            }
        }
    }
}

/// What a warning source gets back: the alert as stored and what became of it.
struct WarningReceipt: Encodable {
    var id: Int64
    var sender: String
    var identifier: String
    var status: CAPStatus
    var msgType: CAPMsgType
    var state: WarningRecord.State
    var level: BroadcastLevel?
    var riskLevel: Int?
    var riskColour: String?
    var bulletin: Int64?
    var communes: [String]
    var villages: [String]
    var cannotBeTargeted: [String]
    /// Why nothing will play, when an Actual alert reaches no place here.
    var note: String?

    init(_ w: WarningRecord) {
        id = w.id
        sender = w.sender
        identifier = w.identifier
        status = w.status
        msgType = w.msgType
        state = w.state
        level = w.level
        riskLevel = w.risk?.rawValue
        riskColour = w.risk?.colour
        bulletin = w.bulletinID
        communes = w.targets.communes
        villages = w.targets.villages
        cannotBeTargeted = w.targets.untargetable.map(\.placeID)
        if w.reachesNoPlace {
            note = "không nơi nào của hệ thống này nằm trong vùng cảnh báo (area): chỉ lưu, không phát / no place of this deployment "
                + "is inside the alert's area: recorded, not on air"
        }
    }
}

/// `GET /api/v1/warnings` and `GET /api/v1/warnings/{id}`: CAP alerts as an officer sees them, limited to the
/// caller's communes (an alert reaching none of them does not exist for them).
extension OperatorAPI {
    var warningRoutes: [Route] {
        [
            Route(method: .get, path: "/api/v1/warnings", permission: .view) { call in
                let scope = call.principal!.communes
                let list = try WarningRepository(self.database).list(communes: scope, limit: 200)
                let context = try self.warningContext(scope: scope)
                return try Self.json(list.map { WarningView($0, scope: scope, context: context) })
            },
            Route(method: .get, path: "/api/v1/warnings/{id}", permission: .view) { call in
                let text = try call.parameter("id")
                let notFound = APIError(.notFound, "không có cảnh báo \(text) / no warning \(text)")
                guard let id = Int64(text), id > 0 else { throw notFound }
                let w: WarningRecord
                do { w = try WarningRepository(self.database).get(id) } catch is WarningStoreError { throw notFound }
                let scope = call.principal!.communes
                try self.requireVisible(call, communes: Set(w.targets.communes), notFound)
                if scope != nil && w.targets.communes.isEmpty { throw notFound }
                // The detail carries the alert's areas (polygons and circles) for the map and its words; the list does not.
                return try Self.json(WarningView(w, scope: scope, context: try self.warningContext(scope: scope), document: try self.document(of: id)))
            },
            // Proof of reach, from the playback log: JSON, or (format=html) the printable Vietnamese report.
            Route(method: .get, path: "/api/v1/warnings/{id}/reach", permission: .view) { call in
                let (w, notFound) = try self.visibleWarning(call)
                let format = call.query("format") ?? "json"
                guard format == "json" || format == "html" else { throw APIInput.bad("format", "json, html") }
                let now = self.clock.now()
                let report: WarningReachReport
                do { report = try WarningReachReport.build(self.database, alert: w.id, communes: call.principal!.communes, now: now) } catch is WarningStoreError {
                    throw notFound
                }
                guard format == "html" else { return try Self.json(report) }
                let headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.html(generatedAt: now))))
            },
            // An approver ends a warning in force: the same path as a CAP Cancel (repeats stop, what plays is
            // stopped, the all-clear when the policy says so), with who did it recorded.
            Route(method: .post, path: "/api/v1/warnings/{id}/cancel", permission: .approve) { call in
                let (w, _) = try self.visibleWarning(call)
                try self.requireScope(call, communes: Set(w.targets.communes))
                let body = call.body.readableBytes == 0 ? Reason() : try Self.decode(Reason.self, call.body, allowed: ["reason"])
                let service = try self.warningService()
                let done: WarningRecord
                do { done = try await service.cancel(w.id, by: call.user.name, reason: body.reason) } catch let e as WarningCancelRefusal {
                    throw APIError(.conflict, e.description, code: "not_in_force")
                }
                try self.audit(call, "warning.cancel", target: "\(w.id)", detail: body.reason)
                return try Self.json(WarningView(done, scope: call.principal!.communes, context: try self.warningContext(scope: call.principal!.communes),
                                                 document: try self.document(of: done.id)))
            },
            // An approver updates a warning in force (new words, a new expiry): a CAP Update written by WardFleet,
            // which replaces the queued repeats as a source's Update does. Answers the new alert.
            Route(method: .post, path: "/api/v1/warnings/{id}/update", permission: .approve) { call in
                let (w, _) = try self.visibleWarning(call)
                try self.requireScope(call, communes: Set(w.targets.communes))
                struct Body: Decodable { var headline: String?; var description: String?; var instruction: String?; var expires: String?; var reason: String? }
                let body = try Self.decode(Body.self, call.body, allowed: ["headline", "description", "instruction", "expires", "reason"])
                for (field, value, max) in [("headline", body.headline, 200), ("description", body.description, 4000),
                                            ("instruction", body.instruction, 2000), ("reason", body.reason, 500)] {
                    guard let value else { continue }
                    try APIInput.text(value, field: field, max: max)
                    // Spoken text and a CAP document: no control characters but line breaks and tabs.
                    if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !"\n\r\t".unicodeScalars.contains($0) }) {
                        throw APIInput.bad(field, "không được chứa ký tự điều khiển / no control characters")
                    }
                }
                var expires: Date?
                if let text = body.expires {
                    guard let t = CAPTime.parse(text) else {
                        throw APIInput.bad("expires", "thời điểm có múi giờ, ví dụ 2026-09-06T18:00:00+07:00 / a time with its zone")
                    }
                    guard t.date > self.clock.now() else { throw APIInput.bad("expires", "phải sau bây giờ / must be in the future") }
                    expires = t.date
                }
                let service = try self.warningService()
                let edit = WarningEdit(headline: body.headline, description: body.description, instruction: body.instruction, expires: expires,
                                       reason: body.reason)
                let updated: WarningRecord
                do { updated = try await service.update(w.id, by: call.user.name, edit) } catch let e as WarningUpdateRefusal {
                    switch e {
                    case .notInForce: throw APIError(.conflict, e.description, code: "not_in_force")
                    case .nothingChanged: throw APIError(.badRequest, e.description, code: "nothing_changed")
                    case .noDocument, .noVietnameseInfo: throw APIError(.unprocessableContent, e.description, code: "cannot_update")
                    }
                } catch let r as WarningRefusal {
                    throw APIError(.unprocessableContent, r.description, code: r.reason)
                }
                try self.audit(call, "warning.update", target: "\(updated.id)", detail: "thay cảnh báo \(w.id)" + (body.reason.map { ": \($0)" } ?? ""))
                return try Self.json(WarningView(updated, scope: call.principal!.communes, context: try self.warningContext(scope: call.principal!.communes),
                                                 document: try self.document(of: updated.id)), status: .created)
            },
        ]
    }

    /// The warning `{id}` names, if the caller may see it (404 otherwise, as for an id that names nothing).
    func visibleWarning(_ call: Call) throws -> (WarningRecord, APIError) {
        let text = try call.parameter("id")
        let notFound = APIError(.notFound, "không có cảnh báo \(text) / no warning \(text)")
        guard let id = Int64(text), id > 0 else { throw notFound }
        let w: WarningRecord
        do { w = try WarningRepository(self.database).get(id) } catch is WarningStoreError { throw notFound }
        try self.requireVisible(call, communes: Set(w.targets.communes), notFound)
        if call.principal!.communes != nil && w.targets.communes.isEmpty { throw notFound }
        return (w, notFound)
    }

    /// The service that acts on warnings (a server without a media library cannot put one on air).
    func warningService() throws -> WarningService {
        guard let service = warnings ?? library.map({ WarningService(database: database, library: $0, clock: clock) }) else {
            throw APIError(.serviceUnavailable, "máy chủ này không phát được cảnh báo / this server cannot put warnings on air")
        }
        return service
    }

    /// The stored CAP document of an alert, read.
    func document(of id: Int64) throws -> CAPAlert? {
        try WarningRepository(database).document(id).flatMap { try? CAPXML.alert(from: Data($0.utf8)) }
    }

    func warningContext(scope: Set<String>? = nil) throws -> WarningView.Context {
        let tree = try tree()
        let devices = try DeviceRepository(database).list()
        let online = Set(try HealthQueries(database).statuses(payloads: false).filter { $0.value.liveness.state.isOnline }.keys)
        return WarningView.Context(tree: tree, devices: devices, directory: SpeakerDirectory(tree: tree, devices: devices), online: online,
                                   now: clock.now(), approved: try approvedUpcoming(scope: scope))
    }

    /// Priority warnings' repeats to come in the communes (within `scope`) that approved them, and their interval.
    func approvedUpcoming(scope: Set<String>?) throws -> [Int64: (interval: TimeInterval, at: [Date])] {
        let now = clock.now()
        var out: [Int64: (interval: TimeInterval, at: [Date])] = [:]
        let repo = WarningRepository(database)
        for r in try repo.approvedRepeating() { out[r.alert.id] = (r.interval, try repo.approvedUpcoming(r, within: scope, after: now)) }
        return out
    }
}

/// A warning as shown: its QĐ 18 level and colour, the TT39 level, and what it targets within the caller's
/// communes: communes, villages, speakers and how many of them are online now, the places that cannot be targeted.
struct WarningView: Encodable {
    struct Context {
        var tree: PlaceTree
        var devices: [Device]
        var directory: SpeakerDirectory
        var online: Set<String>
        var now: Date
        /// Priority warnings' repeats to come where communes approved them.
        var approved: [Int64: (interval: TimeInterval, at: [Date])] = [:]
    }
    struct PlaceRef: Encodable {
        var id: String
        var name: String
    }
    /// A CAP `area` for drawing: its polygons as [latitude, longitude] rings, its circles.
    struct Area: Encodable {
        struct Circle: Encodable { var latitude: Double; var longitude: Double; var radiusKm: Double }
        var description: String
        var polygons: [[[Double]]]
        var circles: [Circle]
        var geocodes: [String]
    }
    struct Untargetable: Encodable {
        var id: String
        var name: String
        var level: PlaceLevel
        var commune: String?
        var reason: WarningTargets.Untargetable.Reason
        var reasonText: String
    }

    var id: Int64
    var sender: String
    var identifier: String
    var status: CAPStatus
    var msgType: CAPMsgType
    var state: WarningRecord.State
    var stateText: String
    var drill: Bool
    var event: String?
    var headline: String?
    var level: BroadcastLevel?
    var riskLevel: Int?
    var riskText: String?
    var riskColour: String?
    var riskTextColour: String?
    var riskColourName: String?
    var sent: Date
    var receivedAt: Date
    var expiresAt: Date?
    var replacedBy: Int64?
    var bulletin: Int64?
    var communes: [PlaceRef]
    var villages: [PlaceRef]
    var speakers: [String]
    var speakersOnline: Int
    var cannotBeTargeted: [Untargetable]
    /// Repeats still to come while it is in force (the plan's times, UTC).
    var nextRepeats: [Date]
    var repeatMinutes: Int?
    var cancelledBy: String?
    /// It also reaches communes outside the caller's: only someone over all of them may update or cancel it.
    var reachesOtherCommunes: Bool
    /// Its Vietnamese words (only in `GET /api/v1/warnings/{id}` and the answers to update and cancel).
    var description: String?
    var instruction: String?
    /// The alert's areas (only in `GET /api/v1/warnings/{id}`).
    var areas: [Area]

    init(_ w: WarningRecord, scope: Set<String>?, context c: Context, document: CAPAlert? = nil) {
        let info = document.flatMap { $0.vietnameseInfo ?? $0.infos.first }
        let areas = info?.areas ?? []
        description = info?.description
        instruction = info?.instruction
        reachesOtherCommunes = scope.map { s in w.targets.communes.contains { !s.contains($0) } } ?? false
        func mine(_ commune: String?) -> Bool { scope == nil || commune.map { scope!.contains($0) } == true }
        func ref(_ id: String) -> PlaceRef { PlaceRef(id: id, name: c.tree[id]?.name ?? id) }
        id = w.id
        sender = w.sender
        identifier = w.identifier
        status = w.status
        msgType = w.msgType
        state = w.state
        stateText = w.state.vietnamese
        drill = w.mode == .drill
        event = w.event
        headline = w.headline
        level = w.level
        riskLevel = w.risk?.rawValue
        riskText = w.risk?.vietnamese
        riskColour = w.risk?.colour
        riskTextColour = w.risk?.textColour
        riskColourName = w.risk?.colourName
        sent = w.sent
        receivedAt = w.receivedAt
        expiresAt = w.expiresAt
        replacedBy = w.replacedBy
        bulletin = w.bulletinID
        let t = w.targets
        communes = t.communes.filter { mine($0) }.map(ref)
        villages = t.villages.filter { mine(c.tree[$0]?.parentID) }.map(ref)
        let target = t.broadcastTarget(devices: c.devices)
        let reached = c.directory.resolve(BroadcastTarget(communes: target.communes.filter { mine($0) }, villages: target.villages.filter {
            mine(c.tree[$0]?.parentID)
        }, speakers: target.speakers.filter { mine(c.directory.speakers[$0]?.commune) })).speakers
        speakers = reached.sorted()
        speakersOnline = reached.filter(c.online.contains).count
        nextRepeats = w.state == .active ? (w.plan?.upcoming(after: c.now, limit: 12).map(\.at) ?? c.approved[w.id]?.at ?? []) : []
        repeatMinutes = (w.plan?.interval ?? c.approved[w.id]?.interval).map { Int(($0 / 60).rounded()) }
        cancelledBy = w.cancelledBy
        self.areas = areas.map { a in
            Area(description: a.areaDesc, polygons: a.polygons.map { $0.points.map { [$0.latitude, $0.longitude] } },
                 circles: a.circles.map { Area.Circle(latitude: $0.centre.latitude, longitude: $0.centre.longitude, radiusKm: $0.radiusKm) },
                 geocodes: a.geocodes.map(\.value))
        }
        cannotBeTargeted = t.untargetable.filter { mine($0.commune) }.map {
            Untargetable(id: $0.placeID, name: c.tree[$0.placeID]?.name ?? $0.placeID, level: $0.level, commune: $0.commune, reason: $0.reason,
                         reasonText: $0.reason.vietnamese)
        }
    }
}
