import Foundation
import Logging
import WardDomain
import WardStorage
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP SMS gateway (Vietnamese Bulk-SMS brand-name services take a JSON or form POST with an
/// API key): where to post, how the body is written, and how its answer says "accepted".
public struct SMSGateway: Sendable {
    public enum Format: String, Sendable, CaseIterable { case json, form }

    public var url: URL
    public var format: Format
    /// The body with placeholders {to} (+84…), {to_local} (0…), {to_digits} (84…), {text}, {brand},
    /// {id} (the outbox id: the same on every retry, for the gateway's duplicate check). In JSON
    /// the values are JSON-escaped (write "{text}" inside quotes); in a form, percent-encoded.
    public var body: String
    /// Extra headers, e.g. ("Authorization", "Bearer …") or ("X-API-Key", "…").
    public var headers: [(String, String)]
    /// Text the gateway's answer must contain to count as accepted (many answer 200 with an error
    /// code in the body, e.g. "CodeResult":"100"); nil: any 2xx.
    public var successMatch: String?
    public var timeout: TimeInterval

    public static let defaultJSONBody = #"{"to":"{to}","brandname":"{brand}","message":"{text}","request_id":"{id}"}"#
    public static let defaultFormBody = "to={to}&brandname={brand}&message={text}&request_id={id}"

    public init(url: URL, format: Format = .json, body: String? = nil, headers: [(String, String)] = [], successMatch: String? = nil,
                timeout: TimeInterval = 15) {
        self.url = url
        self.format = format
        self.body = body ?? (format == .json ? Self.defaultJSONBody : Self.defaultFormBody)
        self.headers = headers
        self.successMatch = successMatch
        self.timeout = timeout
    }

    /// The request body for one text.
    public func render(_ p: SMSPayload, brand: String, id: Int64) -> String {
        let digits = String(p.to.dropFirst())  // 84…
        let values = ["to": p.to, "to_local": "0" + digits.dropFirst(2), "to_digits": digits, "text": p.text, "brand": brand, "id": String(id)]
        var s = body
        for (k, v) in values { s = s.replacingOccurrences(of: "{\(k)}", with: escape(v)) }
        return s
    }

    func escape(_ v: String) -> String {
        switch format {
        case .json:
            let quoted = String(decoding: try! JSONEncoder().encode(v), as: UTF8.self)  // "…" with escapes
            return String(quoted.dropFirst().dropLast()).replacingOccurrences(of: "\\/", with: "/")
        case .form:
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            return v.addingPercentEncoding(withAllowedCharacters: allowed) ?? v
        }
    }
}

/// Posts each queued text (sink "sms") to the gateway. Failures are retried by the dispatcher with
/// its backoff and recorded in the outbox like a webhook's.
public struct SMSGatewaySink: NotificationSink {
    public var name: String { SMSRepository.sink }
    public let gateway: SMSGateway
    public let brand: String

    public init(gateway: SMSGateway, brand: String) {
        self.gateway = gateway
        self.brand = brand
    }

    public func deliver(_ n: OutgoingNotification) async throws {
        guard let p = try? JSONDecoder().decode(SMSPayload.self, from: Data(n.payload.utf8)) else {
            throw SinkError("not an SMS payload", permanent: true)
        }
        var req = URLRequest(url: gateway.url, timeoutInterval: gateway.timeout)
        req.httpMethod = "POST"
        req.httpBody = Data(gateway.render(p, brand: brand, id: n.id).utf8)
        req.setValue(gateway.format == .json ? "application/json; charset=utf-8" : "application/x-www-form-urlencoded; charset=utf-8",
                     forHTTPHeaderField: "Content-Type")
        for (k, v) in gateway.headers { req.setValue(v, forHTTPHeaderField: k) }
        let (http, body) = try await GatewayRequest.send(req)
        if (300..<400).contains(http.statusCode) {
            throw SinkError("redirect \(http.statusCode) refused", permanent: true)
        }
        let answer = String(decoding: body.prefix(300), as: UTF8.self)
        guard (200..<300).contains(http.statusCode) else { throw SinkError("HTTP \(http.statusCode): \(answer)") }
        if let match = gateway.successMatch, !String(decoding: body, as: UTF8.self).contains(match) {
            throw SinkError("gateway refused: \(answer)")
        }
    }
}

/// One request whose redirects are not followed, with the answer's body.
enum GatewayRequest {
    static func send(_ req: URLRequest) async throws -> (HTTPURLResponse, Data) {
        let delegate = Collector()
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { c in
            delegate.continuation = c
            session.dataTask(with: req).resume()
        }
    }

    private final class Collector: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        // @unchecked: set before the task starts, then used from the session's serial delegate queue only.
        var continuation: CheckedContinuation<(HTTPURLResponse, Data), any Error>?
        var data = Data()

        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
            completionHandler(nil)
        }
        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            if self.data.count < 65_536 { self.data.append(data) }
        }
        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
            guard let c = continuation else { return }
            continuation = nil
            if let error {
                c.resume(throwing: SinkError((error as NSError).localizedDescription))
            } else if let http = task.response as? HTTPURLResponse {
                c.resume(returning: (http, data))
            } else {
                c.resume(throwing: SinkError("no HTTP response"))
            }
        }
    }
}

public struct SMSConfiguration: Sendable {
    public var gateway: SMSGateway
    public var policy: SMSPolicy
    public var templates: SMSTemplates
    /// How often owed texts are worked out (new alarms, escalations due, clears).
    public var interval: Duration = .seconds(5)
    /// The communes whose alarms this notifier texts about; nil: all.
    public var communes: Set<String>?

    public init(gateway: SMSGateway, policy: SMSPolicy = SMSPolicy(), templates: SMSTemplates) {
        self.gateway = gateway
        self.policy = policy
        self.templates = templates
    }
}

/// Works out, on the injected clock, which texts the alarms owe (SMSPlanner: first contacts,
/// escalation while unacknowledged, cleared, rate limits and storm summaries) and queues them in
/// the notifications outbox, where the dispatcher delivers them through `SMSGatewaySink`. It keeps
/// no state of its own: what was sent is read back from the outbox, so a restart loses nothing and
/// sends nothing twice.
public actor SMSNotifier {
    private let database: WardDatabase
    private let repository: SMSRepository
    private let clock: any TimeSource
    public let configuration: SMSConfiguration
    private let logger: Logger
    private var wording: (revision: Int64, words: AlarmWording)?
    public private(set) var queued = 0

    public init(database: WardDatabase, clock: any TimeSource = SystemTimeSource(), configuration: SMSConfiguration,
                logger: Logger = Logger(label: "wardfleet.sms")) {
        self.database = database
        repository = SMSRepository(database)
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    public nonisolated var sink: SMSGatewaySink { SMSGatewaySink(gateway: configuration.gateway, brand: configuration.policy.brand) }

    /// One pass: returns the texts queued.
    @discardableResult
    public func tick() throws -> [SMSMessage] {
        let now = clock.now()
        let policy = configuration.policy
        let alarms = try repository.alarms(clearedSince: now.addingTimeInterval(-86_400), communes: configuration.communes)
            .filter { $0.severity <= policy.minSeverity }
        guard !alarms.isEmpty else { return [] }
        let contacts = try repository.contacts()
        guard !contacts.isEmpty else { return [] }
        let words = try words()
        let items = alarms.map { a in
            SMSAlarm(alarm: a, place: words.whereabouts(a),
                     area: words.name(a.villageID) ?? words.name(a.communeID) ?? a.villageID ?? a.communeID ?? "")
        }
        let sent = try repository.sent(alarms: alarms.compactMap(\.id), recentSince: now.addingTimeInterval(-max(3600, policy.stormWindow)))
        let messages = SMSPlanner.plan(alarms: items, contacts: contacts, sent: sent, policy: policy, templates: configuration.templates, now: now)
        try repository.enqueue(messages, at: now)
        queued += messages.count
        for m in messages {
            logger.notice("sms queued", metadata: [
                "to": "\(m.recipient)", "alarms": "\(m.covers.map(\.alarmID))", "event": "\(m.covers.first?.event.rawValue ?? "")",
                "summary": "\(m.isSummary)",
            ])
        }
        return messages
    }

    private func words() throws -> AlarmWording {
        let revision = try DeviceRepository(database).revision()
        if let w = wording, w.revision == revision { return w.words }
        let tree = try PlaceRepository(database).tree()
        let devices = try DeviceRepository(database).list(includeRemoved: true)
        let w = AlarmWording(tree: tree, devices: Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }))
        wording = (revision, w)
        return w
    }

    public func run() async {
        while !Task.isCancelled {
            do { try tick() } catch { logger.error("sms planning failed: \(error)") }
            try? await Task.sleep(for: configuration.interval)
        }
    }
}
