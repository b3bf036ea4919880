import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// gzip for the API's answers (JSON, reports) when the client takes it: the console's lists and
/// the monthly report travel a slow commune link at a fraction of their size. Live streams, media
/// and what is already encoded (the console's own files) pass as they are.
enum ResponseCompression {
    static let types = ["application/json", "text/html", "text/csv", "text/plain"]
    /// Below this a gzip header costs more than it saves.
    static let minimum = 1024
    /// Bodies are buffered to be compressed: only those of a known, bounded length.
    static let maximum = 16 << 20

    static func apply(_ response: Response, to request: Request) async throws -> Response {
        guard ConsoleAssets.accepts(gzip: request.headers[.acceptEncoding]), response.headers[.contentEncoding] == nil,
              let type = response.headers[.contentType], types.contains(where: { type.hasPrefix($0) }),
              let length = response.body.contentLength, (minimum...maximum).contains(length) else { return response }
        let collector = Collector()
        try await response.body.write(collector)
        var out = response
        guard let gz = Gzip.compress(Data(buffer: collector.buffer), level: 6), gz.count < collector.buffer.readableBytes else {
            out.body = .init(byteBuffer: collector.buffer)
            return out
        }
        out.headers[.contentEncoding] = "gzip"
        out.headers[.contentLength] = String(gz.count)
        out.headers[.vary] = [out.headers[.vary], "Accept-Encoding"].compactMap { $0 }.joined(separator: ", ")
        out.body = .init(byteBuffer: ByteBuffer(data: gz))
        return out
    }

    /// Every route's answer passes through `apply` (added first to the router, so it wraps them all).
    struct Middleware: RouterMiddleware {
        typealias Context = WardRequestContext
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            try await ResponseCompression.apply(try await next(request, context), to: request)
        }
    }

    /// Keeps what a response body writes.
    final class Collector: ResponseBodyWriter {
        var buffer = ByteBuffer()
        func write(_ b: ByteBuffer) async throws {
            var b = b
            buffer.writeBuffer(&b)
        }
        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
