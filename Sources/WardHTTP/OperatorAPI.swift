import Crypto
import FleetFile
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import Logging
import NIOCore
import Synchronization
import WardController
import WardDomain
import WardStorage

/// An API failure: status and a message for people (Vietnamese / English).
public struct APIError: Error, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var description: String
    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        description = message
    }
}

/// The operators' HTTP API, `/api/v1`: sessions (HttpOnly, SameSite=Strict cookie + CSRF token)
/// or API tokens (`Authorization: Bearer`), one permission per route, JSON in and out, every
/// change in the audit log. docs/openapi.yaml describes the same routes (a test keeps them equal).
public struct OperatorAPI: Sendable {
    public let database: WardDatabase
    public let clock: any TimeSource
    public let library: MediaLibrary?
    /// The controller's broker link, for device commands; nil: commands are not offered.
    public let publisher: (any SchedulePublisher)?
    /// How often the live event stream looks for changes.
    public var eventInterval: Duration = .seconds(1)
    /// A stream ends after this; browsers reconnect by themselves (EventSource), which re-checks the session.
    public var eventStreamLifetime: Duration = .seconds(900)
    /// Mark cookies Secure (set when served over HTTPS).
    public var secureCookies = false
    public var sessionLifetime: TimeInterval = 12 * 3600
    public var throttle = LoginThrottle()
    /// Login attempts allowed per client address per minute, whatever the account.
    public var loginsPerMinute = 20
    public static let maxBody = 1 << 20
    public static let sessionCookie = "wf_session"
    let attempts = LoginAttempts()
    let feed = LiveFeed()
    let logger = Logger(label: "wardfleet.api")

    public init(database: WardDatabase, clock: any TimeSource = SystemTimeSource(), library: MediaLibrary? = nil,
                publisher: (any SchedulePublisher)? = nil) {
        self.publisher = publisher
        self.database = database
        self.clock = clock
        self.library = library
    }

    public struct Call: Sendable {
        public var request: Request
        public var context: WardRequestContext
        public var principal: Principal?
        public var body: ByteBuffer
        public var address: String?

        var user: User { principal!.user }

        func query(_ k: String) -> String? { request.uri.queryParameters[Substring(k)].map(String.init) }
        func parameter(_ k: String) throws -> String { try context.parameters.require(k) }
    }

    public struct Route: Sendable {
        public var method: HTTPRequest.Method
        /// OpenAPI form, e.g. `/api/v1/devices/{id}`.
        public var path: String
        /// nil: open to anyone (login); otherwise the permission it needs.
        public var permission: Permission?
        /// Largest body accepted; audio uploads need more than the default.
        public var bodyLimit = OperatorAPI.maxBody
        public var handler: @Sendable (Call) async throws -> Response
    }

    // MARK: plumbing

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Response(status: status, headers: Self.jsonHeaders, body: .init(byteBuffer: ByteBuffer(data: try e.encode(value))))
    }

    /// Text fields travel as data: JSON that browsers must not sniff into HTML, never cached.
    static let jsonHeaders: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store",
                                          HTTPField.Name("X-Content-Type-Options")!: "nosniff"]

    static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data()
        return Response(status: status, headers: Self.jsonHeaders, body: .init(byteBuffer: ByteBuffer(data: body)))
    }

    /// Decodes a JSON object, refusing unknown fields and wrong types with a message naming them.
    static func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer, allowed: Set<String>) throws -> T {
        let data = Data(buffer: body)
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw APIError(.badRequest, "cần một đối tượng JSON / a JSON object is expected")
        }
        let unknown = Set(dict.keys).subtracting(allowed)
        guard unknown.isEmpty else {
            throw APIError(.badRequest, "trường không hỗ trợ / unknown fields: \(unknown.sorted().joined(separator: ", "))")
        }
        // An optional field is left out, not sent as null (the document gives no field null).
        if let k = dict.keys.sorted().first(where: { dict[$0] is NSNull }) {
            throw APIError(.badRequest, "\(k): không nhận null, hãy bỏ trường / null is not a value, leave the field out")
        }
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        do { return try d.decode(T.self, from: data) } catch {
            throw APIError(.badRequest, "dữ liệu không hợp lệ / invalid body: \(ControllerHTTPServer.explain(error))")
        }
    }

    public static func sha256(_ s: String) -> String { SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined() }
    public static func randomToken(_ prefix: String = "") -> String {
        prefix + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func cookie(_ request: Request, _ name: String) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == name { return String(kv[1]) }
            }
        }
        return nil
    }

    /// Who is calling, and the CSRF token their session expects (nil for API tokens).
    func authenticate(_ request: Request) throws -> (Principal, csrf: String?)? {
        let now = clock.now()
        let auth = AuthRepository(database)
        if let h = request.headers[.authorization], h.hasPrefix("Bearer ") {
            guard let name = try auth.tokenUser(tokenHash: Self.sha256(String(h.dropFirst(7))), now: now),
                  let p = try auth.principal(name) else { throw APIError(.unauthorized, "mã truy cập không hợp lệ / invalid API token") }
            return (p, nil)
        }
        guard let token = Self.cookie(request, Self.sessionCookie) else { return nil }
        guard let s = try auth.session(tokenHash: Self.sha256(token), now: now), let p = try auth.principal(s.userName) else { return nil }
        return (p, s.csrf)
    }

    /// Registers every route on `router`.
    public func register(on router: Router<WardRequestContext>) {
        for route in routes {
            let path = route.path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
            let handler: @Sendable (Request, WardRequestContext) async throws -> Response = { request, context in
                await self.serve(route, request, context)
            }
            router.on(RouterPath(path), method: route.method, use: handler)
        }
    }

    func serve(_ route: Route, _ request: Request, _ context: WardRequestContext) async -> Response {
        let address = context.remoteAddress?.ipAddress
        var caller: String?
        do {
            var principal: Principal?
            if let permission = route.permission {
                guard let (p, csrf) = try authenticate(request) else {
                    throw APIError(.unauthorized, "cần đăng nhập / sign in first")
                }
                caller = p.user.name
                guard p.can(permission) else {
                    throw APIError(.forbidden, "vai trò \(p.user.role.vietnamese) không được làm việc này / the \(p.user.role.rawValue) role may not do this (\(permission.rawValue))")
                }
                // A session cookie rides along on any request the browser makes; the token in the
                // header proves the page that sent it was ours.
                if route.method != .get, let csrf, !ControllerHTTPServer.constantTimeEqual(request.headers[HTTPField.Name("X-CSRF-Token")!] ?? "", csrf) {
                    throw APIError(.forbidden, "thiếu hoặc sai mã CSRF / missing or wrong CSRF token")
                }
                principal = p
            }
            var body = ByteBuffer()
            if route.method != .get {
                do { body = try await request.body.collect(upTo: route.bodyLimit) } catch {
                    let mib = route.bodyLimit >> 20
                    throw APIError(.contentTooLarge, "nội dung quá lớn (tối đa \(mib) MiB) / body too large (\(mib) MiB at most)")
                }
            }
            return try await route.handler(Call(request: request, context: context, principal: principal, body: body, address: address))
        } catch let e as APIError {
            // Refusals of a signed-in person are kept: someone probing other communes is seen.
            if e.status == .forbidden, let caller {
                try? AuthRepository(database).audit(user: caller, action: "access.denied", target: "\(route.method.rawValue) \(request.uri.path)",
                                                    detail: String(e.description.prefix(200)), address: address, at: clock.now())
            }
            return Self.failure(e.status, e.description)
        } catch let e as any Refusal {
            return Self.failure(.unprocessableContent, e.description)
        } catch let e as AlarmStoreError {
            return Self.failure(.conflict, e.description)
        } catch let e as ReportError {
            if case .future = e { return Self.failure(.unprocessableContent, e.description) }  // well formed, not yet
            return Self.failure(.badRequest, e.description)
        } catch let e as BroadcastStoreError {
            if case .duplicateUser = e { return Self.failure(.conflict, e.description) }
            return Self.failure(.notFound, e.description)
        } catch let e as UpstreamStoreError {
            return Self.failure(.notFound, e.description)
        } catch let e as ApprovalError {
            if case .wrongStatus = e { return Self.failure(.conflict, e.description) }  // already approved, cancelled…
            return Self.failure(.forbidden, e.description)
        } catch {
            logger.error("API error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.failure(.internalServerError, "lỗi máy chủ / server error")
        }
    }

    func audit(_ call: Call, _ action: String, target: String?, detail: String? = nil) throws {
        try AuthRepository(database).audit(user: call.user.name, action: action, target: target, detail: detail, address: call.address,
                                           at: clock.now())
    }

    func allowLoginAttempt(from address: String) -> Bool {
        let now = clock.now()
        return attempts.recent.withLock { a in
            var recent = (a[address] ?? []).filter { now.timeIntervalSince($0) < 60 }
            guard recent.count < loginsPerMinute else { return false }
            recent.append(now)
            a[address] = recent
            return true
        }
    }
}

/// Request context carrying the client's address, for the audit log and the login limit.
public struct WardRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Recent login attempts per client address.
final class LoginAttempts: Sendable {
    let recent = Mutex<[String: [Date]]>([:])
}
