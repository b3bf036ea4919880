import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WardController
import WardDomain
import WardStorage

/// The controller's HTTP side: media for devices (`GET /media/{sha256}`; devices verify what
/// they receive against the hash they asked for, which the response also carries) and the
/// inbound endpoint of the provincial source system (`POST /api/v1/upstream/bulletins`).
public struct ControllerHTTPServer: Sendable {
    public let library: MediaLibrary
    public let host: String
    public let port: Int
    /// Upstream bulletins are accepted only with `Authorization: Bearer TOKEN`; nil: endpoint off.
    public let upstream: (service: UpstreamService, token: String)?
    /// The operators' API (`/api/v1/...`); nil: not served.
    public let api: OperatorAPI?
    /// `/metrics`, `/readyz` and request counts; nil: `/metrics` off and `/readyz` 503.
    public var observability: Observability?
    /// Firmware images for devices (`GET /firmware/{sha256}`); nil: none served (404).
    public var firmware: FirmwareLibrary?
    /// CAP alerts from warning sources (`POST /api/v1/warnings/cap`); nil: endpoint off (404).
    public var warnings: WarningService?
    let logger: Logger
    public static let maxUpstreamBody = 20 * 1024 * 1024

    public init(library: MediaLibrary, host: String = "0.0.0.0", port: Int = 8080,
                upstream: (service: UpstreamService, token: String)? = nil, api: OperatorAPI? = nil,
                logger: Logger = Logger(label: "wardfleet.http")) {
        self.api = api
        self.library = library
        self.host = host
        self.port = port
        self.upstream = upstream
        self.logger = logger
    }

    /// The URL a device downloads `item` from, given the address devices reach this server at.
    public static func url(of sha256: String, base: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/media/\(sha256)"
    }

    static func contentType(_ f: AudioFormat) -> String {
        switch f {
        case .wav: "audio/wav"
        case .mp3: "audio/mpeg"
        case .ogg: "audio/ogg"
        }
    }

    /// The routes, behind the guard that answers 405 for a known path asked with another method.
    func router() -> MethodGuard<Router<WardRequestContext>> {
        let router = Router(context: WardRequestContext.self)
        router.add(middleware: ResponseCompression.Middleware())
        let files = FileIO()
        let library = self.library
        router.get("media/:hash") { request, context -> Response in
            let hash = try context.parameters.require("hash").lowercased()
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
                return try Self.error(.badRequest, "mã tệp phải là SHA-256 (64 ký tự hex) / the id must be a SHA-256 (64 hex digits)", code: "invalid_hash",
                                      request: request, context: context)
            }
            guard let item = try library.get(hash) else {
                return try Self.error(.notFound, "không có tệp / no such media", request: request, context: context)
            }
            let body = try await files.loadFile(path: library.file(of: item).path, context: context)
            var headers = HTTPFields()
            headers[.contentType] = Self.contentType(item.format)
            headers[.contentLength] = String(item.sizeBytes)
            headers[.eTag] = "\"\(item.sha256)\""
            headers[.cacheControl] = "public, max-age=31536000, immutable"  // content-addressed: never changes
            headers[HTTPField.Name("X-Content-SHA256")!] = item.sha256
            return Response(status: .ok, headers: headers, body: body)
        }
        let firmware = self.firmware
        router.get("firmware/:hash") { request, context -> Response in
            let hash = try context.parameters.require("hash").lowercased()
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
                return try Self.error(.badRequest, "mã tệp phải là SHA-256 (64 ký tự hex) / the id must be a SHA-256 (64 hex digits)", code: "invalid_hash",
                                      request: request, context: context)
            }
            guard let firmware, let image = try firmware.get(hash) else {
                return try Self.error(.notFound, "không có bản firmware / no such firmware image", request: request, context: context)
            }
            let body = try await files.loadFile(path: firmware.file(of: image.sha256).path, context: context)
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[.contentLength] = String(image.size)
            headers[.eTag] = "\"\(image.sha256)\""
            headers[.cacheControl] = "public, max-age=31536000, immutable"
            headers[HTTPField.Name("X-Content-SHA256")!] = image.sha256
            return Response(status: .ok, headers: headers, body: body)
        }
        router.get("healthz") { _, _ in "ok" }
        let upstream = self.upstream
        let logger = self.logger
        router.post("api/v1/upstream/bulletins") { request, context -> Response in
            guard let upstream else {
                return try Self.error(.notFound, "tiếp nhận bản tin nguồn chưa bật / upstream bulletins are not enabled on this server",
                                      request: request, context: context)
            }
            let auth = request.headers[.authorization] ?? ""
            guard Self.constantTimeEqual(auth, "Bearer \(upstream.token)") else {
                return try Self.error(.unauthorized, "sai hoặc thiếu mã truy cập / missing or wrong bearer token", request: request, context: context)
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: Self.maxUpstreamBody)
            } catch {
                return try Self.error(.contentTooLarge, "nội dung quá lớn / body over \(Self.maxUpstreamBody / 1_048_576) MiB",
                                      request: request, context: context)
            }
            // The operators' API rules: unknown and null fields refused, a missing or wrong one named.
            let r: UpstreamRequest
            do {
                r = try OperatorAPI.decode(UpstreamRequest.self, body, allowed: UpstreamRequest.fields, snakeCase: false)
            } catch let e as APIError {
                return try Self.error(e.status, e.description, code: e.code, request: request, context: context)
            }
            do {
                let (b, isNew) = try await upstream.service.receive(r)
                logger.notice("upstream bulletin \(isNew ? "received" : "repeated")", metadata: [
                    "source": "\(b.source)", "id": "\(b.sourceID)", "level": "\(b.level.rawValue)", "status": "\(b.status.rawValue)",
                ])
                var resp = try JSONEncoder().encode(UpstreamReceipt(b), from: request, context: context)
                resp.status = isNew ? .created : .ok
                return resp
            } catch let e as ScheduleRefusal {
                return try Self.error(.unprocessableContent, e.description, code: APIError.code(of: e, fallback: "refused"), request: request,
                                      context: context)
            }
        }
        WarningRoutes.register(on: router, service: warnings, logger: logger)
        var table: [(path: String, method: HTTPRequest.Method)] = [("/healthz", .get), ("/media/{hash}", .get), ("/firmware/{hash}", .get),
                                                                   ("/api/v1/upstream/bulletins", .post), (WarningRoutes.path, .post)]
            + Observability.routes
        (observability ?? Observability(metrics: WardMetrics(), access: .off, readiness: nil)).register(on: router)
        if let api {
            api.register(on: router)
            ConsoleAssets.register(on: router)
            table += api.routes.map { ($0.path, $0.method) }
        }
        return MethodGuard(router, routes: table)
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The same error body as the operators' API: a code and the message in the caller's language.
    static func error(_ status: HTTPResponse.Status, _ message: String, code: String? = nil, request: Request,
                      context: WardRequestContext) throws -> Response {
        OperatorAPI.failure(status, message, code: code, request: request)
    }

    /// Runs until the surrounding task is cancelled. `onListening` receives the bound port.
    public func run(onListening: (@Sendable (Int) -> Void)? = nil) async throws {
        let app = Application(
            router: observedRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "WardFleet"),
            onServerRunning: { channel in onListening?(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
    }
}

/// What the source system gets back: the bulletin as stored, and what happened to it.
struct UpstreamReceipt: ResponseEncodable {
    var id: Int64
    var source: String
    var sourceID: String
    var level: BroadcastLevel
    var status: UpstreamBulletin.Status
    var item: String?
    var detail: String?

    init(_ b: UpstreamBulletin) {
        id = b.id
        source = b.source
        sourceID = b.sourceID
        level = b.level
        status = b.status
        item = b.itemID
        detail = b.detail
    }

    enum CodingKeys: String, CodingKey { case id, source, sourceID = "source_id", level, status, item, detail }
}
