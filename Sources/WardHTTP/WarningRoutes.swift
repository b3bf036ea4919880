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
                let context = try self.warningContext()
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
                return try Self.json(WarningView(w, scope: scope, context: try self.warningContext()))
            },
        ]
    }

    func warningContext() throws -> WarningView.Context {
        let tree = try tree()
        let devices = try DeviceRepository(database).list()
        let online = Set(try HealthQueries(database).statuses(payloads: false).filter { $0.value.liveness.state.isOnline }.keys)
        return WarningView.Context(tree: tree, devices: devices, directory: SpeakerDirectory(tree: tree, devices: devices), online: online)
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
    }
    struct PlaceRef: Encodable {
        var id: String
        var name: String
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

    init(_ w: WarningRecord, scope: Set<String>?, context c: Context) {
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
        cannotBeTargeted = t.untargetable.filter { mine($0.commune) }.map {
            Untargetable(id: $0.placeID, name: c.tree[$0.placeID]?.name ?? $0.placeID, level: $0.level, commune: $0.commune, reason: $0.reason,
                         reasonText: $0.reason.vietnamese)
        }
    }
}
