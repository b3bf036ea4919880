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

/// An API failure: status, a stable code for programs, and a message for people written in both
/// languages (Vietnamese / English); the answer carries the half the caller reads.
public struct APIError: Error, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var description: String
    /// Stable, for programs (`not_found`, `unknown_field`…); by default the status's (see `code(for:)`).
    public var code: String
    public init(_ status: HTTPResponse.Status, _ message: String, code: String? = nil) {
        self.status = status
        description = message
        self.code = code ?? Self.code(for: status)
    }

    /// The code of a status when the throw site gives no finer one.
    public static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "invalid_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 409: "conflict"
        case 413: "too_large"
        case 422: "refused"
        case 423: "locked"
        case 429: "rate_limited"
        case 503: "unavailable"
        case 504: "timeout"
        case 500...: "server_error"
        default: "error"
        }
    }

    /// A domain error's code: its case name in snake_case (`BroadcastStoreError.unknownItem` →
    /// `unknown_item`), or `fallback` for a struct or a case without values.
    public static func code(of error: any Error, fallback: String) -> String {
        let m = Mirror(reflecting: error)
        guard m.displayStyle == .enum, let name = m.children.first?.label else { return fallback }
        return snakeCase(name)
    }

    static func snakeCase(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isUppercase, !out.isEmpty { out += "_" }
            out += c.lowercased()
        }
        return out
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
    /// The broker's per-device accounts (dynamic security), revoked when a device is removed;
    /// nil on a broker without accounts.
    public var deviceAccounts: (any DeviceAccounts)?
    public var sessionLifetime: TimeInterval = 12 * 3600
    public var throttle = LoginThrottle()
    /// Login attempts allowed per client address per minute, whatever the account.
    public var loginsPerMinute = 20
    /// Checks a relay's source when it is scheduled (the answer warns when it does not answer).
    public var streamProbe: any StreamSourceProbe = HTTPStreamProbe()
    /// The firmware library images are uploaded to; nil: uploads answer 503 (the rest of the firmware routes work).
    public var firmware: FirmwareLibrary?
    /// The warning service of the CAP intake (its policy decides the all-clear), for an approver's
    /// cancel; nil: one with the standard policy over `library`.
    public var warnings: WarningService?
    public static let maxBody = 1 << 20
    public static let sessionCookie = "wf_session"
    let attempts = LoginAttempts()
    let feed = LiveFeed()
    let restarts = AwaitedRestarts()
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

    /// `{"code": "...", "error": "..."}`: the message in the caller's language (`lang` query
    /// parameter, else `Accept-Language`; Vietnamese by default).
    static func failure(_ status: HTTPResponse.Status, _ message: String, code: String? = nil, request: Request?) -> Response {
        let language = request.map(Self.language) ?? .vi
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? e.encode(["code": code ?? APIError.code(for: status), "error": language.pick(message)])) ?? Data()
        var headers = Self.jsonHeaders
        headers[.contentLanguage] = language == .both ? "vi, en" : language.rawValue
        headers[.vary] = "Accept-Language"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
    }

    static func language(_ request: Request) -> MessageLanguage {
        MessageLanguage(query: request.uri.queryParameters["lang"].map(String.init))
            ?? MessageLanguage.preferred(acceptLanguage: request.headers[.acceptLanguage])
    }

    /// Decodes a JSON object, refusing unknown fields and wrong types with a message naming them.
    /// `snakeCase`: the type's keys are camelCase for the body's snake_case (else its CodingKeys say).
    static func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer, allowed: Set<String>,
                                     snakeCase: Bool = true) throws -> T {
        let data = Data(buffer: body)
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw APIError(.badRequest, "cần một đối tượng JSON / a JSON object is expected", code: "invalid_json")
        }
        let unknown = Set(dict.keys).subtracting(allowed)
        guard unknown.isEmpty else {
            let names = unknown.sorted().joined(separator: ", ")
            throw APIError(.badRequest, "trường không hỗ trợ: \(names) / unknown fields: \(names)", code: "unknown_field")
        }
        // An optional field is left out, not sent as null (the document gives no field null).
        if let k = dict.keys.sorted().first(where: { dict[$0] is NSNull }) {
            throw APIError(.badRequest, "\(k): không nhận null, hãy bỏ trường / null is not a value, leave the field out", code: "null_field")
        }
        let d = JSONDecoder()
        if snakeCase { d.keyDecodingStrategy = .convertFromSnakeCase }
        do { return try d.decode(T.self, from: data) } catch {
            throw APIInput.refusal(decoding: error, snakeCase: snakeCase)
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
            guard let name = try auth.tokenUser(tokenHash: Self.sha256(String(h.dropFirst(7))), now: now) else {
                // Unknown, revoked and expired are one answer: a guesser learns nothing about which.
                throw APIError(.unauthorized, "mã truy cập không hợp lệ, đã thu hồi hoặc hết hạn / invalid, revoked or expired API token",
                               code: "invalid_token")
            }
            guard let p = try auth.principal(name) else {
                throw APIError(.unauthorized, "tài khoản đã bị vô hiệu hóa / the account is disabled", code: "user_disabled")
            }
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
                    throw APIError(.unauthorized, "cần đăng nhập / sign in first", code: "unauthorized")
                }
                caller = p.user.name
                guard p.can(permission) else {
                    throw APIError(.forbidden, "vai trò \(p.user.role.vietnamese) không được \(permission.vietnamese) / the \(p.user.role.rawValue) role may not \(permission.english)", code: "role_forbidden")
                }
                // A session cookie rides along on any request the browser makes; the token in the
                // header proves the page that sent it was ours.
                if route.method != .get, let csrf, !ControllerHTTPServer.constantTimeEqual(request.headers[HTTPField.Name("X-CSRF-Token")!] ?? "", csrf) {
                    throw APIError(.forbidden, "thiếu hoặc sai mã CSRF / missing or wrong CSRF token", code: "csrf")
                }
                principal = p
            }
            var body = ByteBuffer()
            if route.method != .get {
                do { body = try await request.body.collect(upTo: route.bodyLimit) } catch {
                    let mib = route.bodyLimit >> 20
                    throw APIError(.contentTooLarge, "nội dung quá lớn (tối đa \(mib) MiB) / body too large (\(mib) MiB at most)", code: "too_large")
                }
            }
            return try await route.handler(Call(request: request, context: context, principal: principal, body: body, address: address))
        } catch let e as APIError {
            // Refusals of a signed-in person are kept: someone probing other communes is seen.
            if e.status == .forbidden, let caller {
                try? AuthRepository(database).audit(user: caller, action: "access.denied", target: "\(route.method.rawValue) \(request.uri.path)",
                                                    detail: String(e.description.prefix(200)), address: address, at: clock.now())
            }
            return Self.failure(e.status, e.description, code: e.code, request: request)
        } catch let e as any Refusal {
            return Self.failure(.unprocessableContent, e.description, code: APIError.code(of: e, fallback: "refused"), request: request)
        } catch let e as AlarmStoreError {
            return Self.failure(.conflict, e.description, code: APIError.code(of: e, fallback: "conflict"), request: request)
        } catch let e as ReportError {
            let code = APIError.code(of: e, fallback: "invalid_request")
            if case .future = e { return Self.failure(.unprocessableContent, e.description, code: "future_month", request: request) }  // well formed, not yet
            if case .unknownCommune = e { return Self.failure(.unprocessableContent, e.description, code: code, request: request) }
            return Self.failure(.badRequest, e.description, code: code, request: request)
        } catch let e as BroadcastStoreError {
            if case .duplicateUser = e { return Self.failure(.conflict, e.description, code: "duplicate_user", request: request) }
            return Self.failure(.notFound, e.description, code: APIError.code(of: e, fallback: "not_found"), request: request)
        } catch let e as UpstreamStoreError {
            return Self.failure(.notFound, e.description, code: APIError.code(of: e, fallback: "not_found"), request: request)
        } catch let e as ApprovalError {
            if case .wrongStatus = e { return Self.failure(.conflict, e.description, code: "wrong_status", request: request) }  // already approved, cancelled…
            return Self.failure(.forbidden, e.description, code: APIError.code(of: e, fallback: "forbidden"), request: request)
        } catch {
            logger.error("API error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.failure(.internalServerError, "lỗi máy chủ / server error", request: request)
        }
    }

    func audit(_ call: Call, _ action: String, target: String?, detail: String? = nil, before: (any Encodable)? = nil,
               after: (any Encodable)? = nil) throws {
        try AuthRepository(database).audit(user: call.user.name, action: action, target: target, detail: detail, address: call.address,
                                           at: clock.now(), before: before.map(Self.auditJSON), after: after.map(Self.auditJSON))
    }

    /// A value as the audit log keeps it: a JSON object in the API's spelling (snake_case keys).
    static func auditJSON(_ value: any Encodable) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase
        return (try? e.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
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
