import CZlib
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The web console's files, served by the same binary: no CDN, works with no internet.
///
/// Files live under `Console/` (subfolders too: `lib/`, `pages/`, `i18n/`…) and are read once at
/// start: each gets a strong ETag (SHA-256 of its bytes) and, for text, a gzip copy made once.
/// `index.html` is revalidated on every load (`no-cache`); the other files are cached for five
/// minutes and then revalidated (304 while unchanged), so a new binary's files arrive within
/// minutes without renaming them.
enum ConsoleAssets {
    struct Asset: Sendable {
        var body: ByteBuffer
        /// The gzip copy, when it is smaller (text files).
        var gzip: ByteBuffer?
        var type: String
        /// SHA-256 of the bytes, hex.
        var hash: String
    }

    /// Extensions served and their types; anything else is not a console file.
    static let types: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "json": "application/json; charset=utf-8", "webmanifest": "application/manifest+json",
        "png": "image/png", "ico": "image/x-icon",
    ]
    static let compressible: Set<String> = ["html", "js", "css", "svg", "json", "webmanifest"]

    static let index = "index.html"
    static let indexCacheControl = "no-cache"
    static let assetCacheControl = "public, max-age=300, must-revalidate"

    static let files: [String: Asset] = {
        guard let dir = Bundle.module.resourceURL?.appendingPathComponent("Console") else { return [:] }
        return load(directory: dir)
    }()

    /// Every servable file under `directory`, by its path relative to it ("pages/devices.js").
    static func load(directory: URL) -> [String: Asset] {
        var out: [String: Asset] = [:]
        let root = directory.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return out }
        while let relative = walker.nextObject() as? String {
            guard let ext = check(relative), let data = FileManager.default.contents(atPath: root + "/" + relative) else { continue }
            let gz = compressible.contains(ext) ? Gzip.compress(data).flatMap { $0.count < data.count ? $0 : nil } : nil
            out[relative] = Asset(body: ByteBuffer(data: data), gzip: gz.map { ByteBuffer(data: $0) }, type: types[ext]!,
                                  hash: SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
        }
        return out
    }

    /// The extension of a path that may name a console file: relative, no empty, `.` or `..`
    /// segment, no hidden file or folder, no backslash or NUL, a known extension. Nil otherwise.
    static func check(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }),
              !path.contains("\\"), !path.contains("\0"), let last = parts.last, let dot = last.lastIndex(of: ".") else { return nil }
        let ext = last[last.index(after: dot)...].lowercased()
        return types[ext] == nil ? nil : ext
    }

    /// Scripts and styles only from this server; audio also from blob: (a recording listened back
    /// before it is saved); no framing (clickjacking); no referrer leaks.
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]

    static func register(on router: Router<WardRequestContext>, files: [String: Asset] = ConsoleAssets.files) {
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/console"]) }
        router.get("console") { request, _ in serve(index, request, files) }
        router.get("console/**") { request, _ in
            let raw = request.uri.path.dropFirst("/console/".count)
            // Percent-encoded dots and slashes count as what they encode.
            guard let path = String(raw).removingPercentEncoding, path.isEmpty || check(path) != nil else {
                return notFound(.badRequest, "đường dẫn không hợp lệ / invalid path")
            }
            return serve(path.isEmpty ? index : path, request, files)
        }
    }

    static func serve(_ name: String, _ request: Request, _ files: [String: Asset]) -> Response {
        guard let a = files[name] else { return notFound(.notFound, "không có / not found") }
        let gzip = a.gzip != nil && accepts(gzip: request.headers[.acceptEncoding])
        // Each encoding is its own representation: a strong ETag names exactly one set of bytes.
        let etag = "\"\(a.hash)\(gzip ? "-gz" : "")\""
        var headers = securityHeaders
        headers[.eTag] = etag
        headers[.cacheControl] = name == index ? indexCacheControl : assetCacheControl
        headers[.vary] = "Accept-Encoding"
        if let inm = request.headers[.ifNoneMatch], matches(inm, hash: a.hash) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = a.type
        if gzip { headers[.contentEncoding] = "gzip" }
        let body = gzip ? a.gzip! : a.body
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    static func notFound(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `If-None-Match`: `*`, or a list naming this file (either encoding; `W/` compares weakly, RFC 9110 §13.1.2).
    static func matches(_ header: String, hash: String) -> Bool {
        header.split(separator: ",").contains { tag in
            var t = tag.trimmingCharacters(in: .whitespaces)
            if t == "*" { return true }
            if t.hasPrefix("W/") { t.removeFirst(2) }
            return t == "\"\(hash)\"" || t == "\"\(hash)-gz\""
        }
    }

    /// Whether `Accept-Encoding` takes gzip (not with q=0).
    static func accepts(gzip header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { part in
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let coding = fields.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { return false }
            return !fields.dropFirst().contains { $0.hasPrefix("q=") && (Double($0.dropFirst(2)) ?? 1) == 0 }
        }
    }
}

/// gzip (RFC 1952) through the system's zlib.
enum Gzip {
    /// Window bits 15, plus 16: a gzip header and trailer instead of zlib's.
    static let gzipWindow: Int32 = 15 + 16

    static func compress(_ data: Data, level: Int32 = 9) -> Data? {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, gzipWindow, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        var input = [UInt8](data)
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
        let status = input.withUnsafeMutableBufferPointer { inp in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = inp.baseAddress
                stream.avail_in = uInt(inp.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Data(output[0..<Int(stream.total_out)])
    }

    static func decompress(_ data: Data) -> Data? {
        var stream = z_stream()
        guard inflateInit2_(&stream, gzipWindow, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var input = [UInt8](data)
        var result = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        return input.withUnsafeMutableBufferPointer { inp -> Data? in
            stream.next_in = inp.baseAddress
            stream.avail_in = uInt(inp.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    let s = inflate(&stream, Z_NO_FLUSH)
                    return (s, out.count - Int(stream.avail_out))
                }
                result.append(contentsOf: chunk[0..<produced])
                if status == Z_STREAM_END { return result }
                guard status == Z_OK else { return nil }
            }
        }
    }
}
