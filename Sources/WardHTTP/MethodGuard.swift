import HTTPTypes
import Hummingbird
import NIOCore

/// Answers a known path asked with a method it does not serve: 405 with `Allow` (any method,
/// TRACE included), and OPTIONS with 204 and `Allow`. The router answers everything else, so an
/// unknown path stays 404. It stands in front of the router because the router cannot tell
/// "no such path" from "no such method" (both are 404 there).
struct MethodGuard<Inner: HTTPResponderBuilder>: HTTPResponderBuilder where Inner.Responder.Context == WardRequestContext {
    let inner: Inner
    let table: MethodTable

    init(_ inner: Inner, routes: [(path: String, method: HTTPRequest.Method)]) {
        self.inner = inner
        table = MethodTable(routes)
    }

    func buildResponder() -> Responder { Responder(inner: inner.buildResponder(), table: table) }

    struct Responder: HTTPResponder {
        let inner: Inner.Responder
        let table: MethodTable

        func respond(to request: Request, context: WardRequestContext) async throws -> Response {
            let allowed = table.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { return try await inner.respond(to: request, context: context) }
            let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            if request.method == .options { return Response(status: .noContent, headers: [.allow: allow]) }
            var r = OperatorAPI.failure(.methodNotAllowed, "phương thức \(request.method.rawValue) không dùng được ở đây (dùng \(allow)) / method not allowed here (use \(allow))",
                                         request: request)
            r.headers[.allow] = allow
            return r
        }
    }
}

/// Route paths in OpenAPI form (`/api/v1/devices/{id}`) with their methods.
struct MethodTable: Sendable {
    let entries: [(segments: [Substring], methods: Set<HTTPRequest.Method>)]

    init(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Set<HTTPRequest.Method>] = [:]
        for r in routes { byPath[r.path, default: []].insert(r.method) }
        entries = byPath.map { (Self.segments($0.key), $0.value) }
    }

    static func segments(_ path: String) -> [Substring] { path.split(separator: "/", omittingEmptySubsequences: true) }

    /// Methods of the routes whose pattern matches `path` (a `{parameter}` matches any one segment),
    /// the most specific first as the router picks them: `/broadcasts/upcoming` is not an item `{id}`.
    func methods(for path: String) -> Set<HTTPRequest.Method> {
        let parts = Self.segments(path)
        var best = -1
        var out = Set<HTTPRequest.Method>()
        for (pattern, methods) in entries where pattern.count == parts.count {
            guard zip(pattern, parts).allSatisfy({ p, s in p == s || Self.isParameter(p) }) else { continue }
            let literal = pattern.filter { !Self.isParameter($0) }.count
            if literal > best { (best, out) = (literal, methods) } else if literal == best { out.formUnion(methods) }
        }
        return out
    }

    static func isParameter(_ s: Substring) -> Bool { s.first == "{" && s.last == "}" }
}
