import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WardController
import WardDomain
import WardStorage

/// Serves the media library to devices: `GET /media/{sha256}`. Devices verify what they
/// receive against the hash they asked for; the response also carries it.
public struct MediaServer: Sendable {
    public let library: MediaLibrary
    public let host: String
    public let port: Int
    let logger: Logger

    public init(library: MediaLibrary, host: String = "0.0.0.0", port: Int = 8080,
                logger: Logger = Logger(label: "wardfleet.http")) {
        self.library = library
        self.host = host
        self.port = port
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

    struct ErrorBody: ResponseEncodable {
        var error: String
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let files = FileIO()
        let library = self.library
        router.get("media/:hash") { request, context -> Response in
            let hash = try context.parameters.require("hash").lowercased()
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
                return try Self.error(.badRequest, "mã tệp phải là SHA-256 (64 ký tự hex) / the id must be a SHA-256 (64 hex digits)",
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
        router.get("healthz") { _, _ in "ok" }
        return router
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, request: Request, context: BasicRequestContext) throws -> Response {
        var r = try JSONEncoder().encode(ErrorBody(error: message), from: request, context: context)
        r.status = status
        return r
    }

    /// Runs until the surrounding task is cancelled. `onListening` receives the bound port.
    public func run(onListening: (@Sendable (Int) -> Void)? = nil) async throws {
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "WardFleet"),
            onServerRunning: { channel in onListening?(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
    }
}
