import Foundation
import HTTPTypes
import Hummingbird

/// The web console's files, served by the same binary: no CDN, works with no internet.
enum ConsoleAssets {
    struct Asset: Sendable {
        var body: ByteBuffer
        var type: String
    }

    static let files: [String: Asset] = {
        var out: [String: Asset] = [:]
        let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"]
        guard let dir = Bundle.module.resourceURL?.appendingPathComponent("Console"),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return out }
        for name in names {
            guard let type = types[(name as NSString).pathExtension], let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path)
            else { continue }
            out[name] = Asset(body: ByteBuffer(data: data), type: type)
        }
        return out
    }()

    /// Scripts and styles only from this server; no framing (clickjacking); no referrer leaks.
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]

    static func register(on router: Router<WardRequestContext>) {
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/console"]) }
        router.get("console") { _, _ in serve("index.html") }
        router.get("console/:file") { _, context in serve(try context.parameters.require("file")) }
    }

    static func serve(_ name: String) -> Response {
        guard let a = files[name] else {
            return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "not found")))
        }
        var headers = securityHeaders
        headers[.contentType] = a.type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: a.body))
    }
}
