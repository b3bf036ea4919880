import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardController

/// Who may read `GET /metrics`. Metrics tell fleet facts (how many devices, which are down, the
/// brokers' addresses), so they are off unless a choice is made.
public enum MetricsAccess: Sendable, Equatable {
    /// `/metrics` answers 404.
    case off
    /// Only clients on this machine (127.0.0.0/8, ::1) whose request was not forwarded by a proxy
    /// (no `Forwarded`/`X-Forwarded-For`): a Prometheus on the same host.
    case loopback
    /// Anyone presenting `Authorization: Bearer TOKEN` (Prometheus `authorization.credentials_file`).
    case token(String)
}

/// `/metrics` and `/readyz`, and the HTTP request counts, for one server.
public struct Observability: Sendable {
    public var metrics: WardMetrics
    public var access: MetricsAccess
    /// What `/readyz` checks; nil: it answers 503 (nothing to be ready for).
    public var readiness: Readiness?

    public init(metrics: WardMetrics, access: MetricsAccess, readiness: Readiness?) {
        self.metrics = metrics
        self.access = access
        self.readiness = readiness
    }

    /// The routes this adds to the server's table (and docs/openapi.yaml).
    static let routes: [(path: String, method: HTTPRequest.Method)] = [("/metrics", .get), ("/readyz", .get)]

    func register(on router: Router<WardRequestContext>) {
        let metrics = self.metrics, access = self.access, readiness = self.readiness
        router.get("metrics") { request, context -> Response in
            switch access {
            case .off:
                return OperatorAPI.failure(.notFound, "số liệu /metrics chưa bật (--metrics-token hoặc --metrics-loopback) / metrics are not enabled",
                                           code: "metrics_off", request: request)
            case .loopback:
                guard Self.isLocal(context.remoteAddress), request.headers[HTTPField.Name("Forwarded")!] == nil,
                      request.headers[HTTPField.Name("X-Forwarded-For")!] == nil else {
                    return OperatorAPI.failure(.forbidden, "chỉ đọc được từ chính máy này / readable from this machine only",
                                               code: "metrics_local_only", request: request)
                }
            case .token(let token):
                guard ControllerHTTPServer.constantTimeEqual(request.headers[.authorization] ?? "", "Bearer \(token)") else {
                    return OperatorAPI.failure(.unauthorized, "sai hoặc thiếu mã truy cập / missing or wrong bearer token", request: request)
                }
            }
            let text = await metrics.render()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("readyz") { request, _ -> Response in
            let problems = await readiness?.problems() ?? ["không có bộ điều khiển để kiểm tra / nothing to check: no controller runs here"]
            guard problems.isEmpty else {
                return OperatorAPI.failure(.serviceUnavailable, problems.joined(separator: "; "), code: "not_ready", request: request)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
    }

    static func isLocal(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}

/// Counts every request by route template, method and status, with its latency. It stands in front of
/// everything (the method guard included), so 404s and 405s are counted too.
struct RequestMetrics<Inner: HTTPResponderBuilder>: HTTPResponderBuilder where Inner.Responder.Context == WardRequestContext {
    let inner: Inner
    let metrics: WardMetrics?
    let templates: MethodTable

    func buildResponder() -> Responder { Responder(inner: inner.buildResponder(), metrics: metrics, templates: templates) }

    struct Responder: HTTPResponder {
        let inner: Inner.Responder
        let metrics: WardMetrics?
        let templates: MethodTable

        func respond(to request: Request, context: WardRequestContext) async throws -> Response {
            guard let metrics else { return try await inner.respond(to: request, context: context) }
            let started = ContinuousClock.now
            let route = templates.template(for: request.uri.path)
            do {
                let r = try await inner.respond(to: request, context: context)
                metrics.countRequest(route: route, method: request.method.rawValue, status: r.status.code, duration: ContinuousClock.now - started)
                return r
            } catch {
                let status = (error as? any HTTPResponseError)?.status.code ?? 500
                metrics.countRequest(route: route, method: request.method.rawValue, status: status, duration: ContinuousClock.now - started)
                throw error
            }
        }
    }
}

extension MethodTable {
    /// The route's template for a label (`/api/v1/devices/{id}`), never the raw path: the console's
    /// files are `/console/*`, anything unknown `other`.
    func template(for path: String) -> String {
        let parts = Self.segments(path)
        var best: (literal: Int, pattern: [Substring])?
        for (pattern, _) in entries where pattern.count == parts.count {
            guard zip(pattern, parts).allSatisfy({ p, s in p == s || Self.isParameter(p) }) else { continue }
            let literal = pattern.filter { !Self.isParameter($0) }.count
            if best == nil || literal > best!.literal { best = (literal, pattern) }
        }
        if let best { return "/" + best.pattern.joined(separator: "/") }
        if path == "/" || path == "/console" || path.hasPrefix("/console/") { return "/console/*" }
        return "other"
    }
}

extension ControllerHTTPServer {
    /// The routes behind the request counter (what `run` serves): every request counted by route template.
    func observedRouter() -> RequestMetrics<MethodGuard<Router<WardRequestContext>>> {
        let guarded = router()
        return RequestMetrics(inner: guarded, metrics: observability?.metrics, templates: guarded.table)
    }
}
