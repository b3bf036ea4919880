import Crypto
import Foundation
import Logging
import WardDomain
import WardStorage
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where alarm notifications go. A sink only delivers bytes; what to say and when is decided
/// by the alarm service, so an SMS gateway is one more conforming type.
public protocol NotificationSink: Sendable {
    /// Stable name, stored with each queued notification.
    var name: String { get }
    /// Delivers one notification; throws when the far end did not take it (it will be retried).
    func deliver(_ n: OutgoingNotification) async throws
}

public struct OutgoingNotification: Sendable, Hashable {
    public var id: Int64
    public var event: String
    /// JSON document (see docs/alarms.md).
    public var payload: String
    public var attempt: Int
}

public struct SinkError: Error, CustomStringConvertible {
    public var description: String
    /// The far end answered in a way retrying will not change (a redirect): failed at once.
    public var permanent: Bool
    public init(_ d: String, permanent: Bool = false) {
        description = d
        self.permanent = permanent
    }
}

/// POSTs the notification JSON, signed with HMAC-SHA256 over "timestamp.body" so the receiver
/// can check origin and refuse replays.
public struct WebhookSink: NotificationSink {
    public var name: String
    public let url: URL
    private let secret: String
    private let timeout: TimeInterval
    private let clock: any TimeSource

    public init(name: String = "webhook", url: URL, secret: String, timeout: TimeInterval = 10, clock: any TimeSource = SystemTimeSource()) {
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.clock = clock
    }

    public static func signature(body: Data, timestamp: String, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).".utf8) + body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public func deliver(_ n: OutgoingNotification) async throws {
        let body = Data(n.payload.utf8)
        let ts = String(Int64(clock.now().timeIntervalSince1970))
        var req = URLRequest(url: url, timeoutInterval: timeout)
        req.httpMethod = "POST"
        req.httpBody = body
        req.setValue("application/json; charset=utf-8", forHTTPHeaderField: "Content-Type")
        req.setValue(ts, forHTTPHeaderField: "X-WardFleet-Timestamp")
        req.setValue(Self.signature(body: body, timestamp: ts, secret: secret), forHTTPHeaderField: "X-WardFleet-Signature")
        req.setValue(n.event, forHTTPHeaderField: "X-WardFleet-Event")
        // Same id on every retry: the receiver can drop duplicates.
        req.setValue(String(n.id), forHTTPHeaderField: "X-WardFleet-Delivery")
        let http = try await Self.send(req)
        // A redirect is never followed: a receiver could otherwise point the controller's signed
        // POST at any address it can reach (loopback, the office LAN) and have it counted delivered.
        if (300..<400).contains(http.statusCode) {
            let to = http.value(forHTTPHeaderField: "Location") ?? "?"
            throw SinkError("redirect \(http.statusCode) to \(to) refused", permanent: true)
        }
        guard (200..<300).contains(http.statusCode) else { throw SinkError("HTTP \(http.statusCode)") }
    }

    /// One request on a session of its own whose delegate refuses redirects, so the 3xx answer
    /// itself comes back. A delegate-driven task: on Linux, tasks with a completion handler do not
    /// ask the session's delegate before following a redirect.
    static func send(_ req: URLRequest) async throws -> HTTPURLResponse {
        let delegate = NoRedirects()
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { c in
            delegate.continuation = c
            session.dataTask(with: req).resume()
        }
    }
}

/// Answers a redirect with "do not follow" and hands the task's outcome to one continuation.
private final class NoRedirects: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `continuation` is set before the task starts and then used from the session's
    // serial delegate queue only.
    var continuation: CheckedContinuation<HTTPURLResponse, any Error>?

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let c = continuation else { return }
        continuation = nil
        if let error {
            c.resume(throwing: SinkError((error as NSError).localizedDescription))
        } else if let http = task.response as? HTTPURLResponse {
            c.resume(returning: http)
        } else {
            c.resume(throwing: SinkError("no HTTP response"))
        }
    }
}

/// Retry timing: exponential from `first`, capped, for at most `maxAttempts`.
public struct RetryPolicy: Sendable, Hashable {
    public var first: TimeInterval
    public var cap: TimeInterval
    public var maxAttempts: Int

    public init(first: TimeInterval = 5, cap: TimeInterval = 600, maxAttempts: Int = 12) {
        self.first = first
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// Delay after failed attempt number `attempt` (1-based); nil: give up.
    public func delay(afterAttempt attempt: Int) -> TimeInterval? {
        guard attempt < maxAttempts else { return nil }
        return min(cap, first * pow(2, Double(attempt - 1)))
    }
}

/// Sends queued notifications through their sinks, retrying with backoff. The queue lives in
/// SQLite, so nothing waiting is lost when the controller restarts.
public actor NotificationDispatcher {
    private let repository: NotificationRepository
    private let sinks: [String: any NotificationSink]
    private let retry: RetryPolicy
    private let clock: any TimeSource
    private let logger: Logger
    public private(set) var delivered = 0
    public private(set) var failedAttempts = 0
    public private(set) var gaveUp = 0
    private let metrics: WardMetrics?

    public init(database: WardDatabase, sinks: [any NotificationSink], retry: RetryPolicy = RetryPolicy(),
                clock: any TimeSource = SystemTimeSource(), logger: Logger = Logger(label: "wardfleet.notify"), metrics: WardMetrics? = nil) {
        self.metrics = metrics
        repository = NotificationRepository(database)
        self.sinks = Dictionary(sinks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.retry = retry
        self.clock = clock
        self.logger = logger
    }

    /// Attempts everything due now; returns how many attempts were made.
    @discardableResult
    public func deliverDue() async -> Int {
        let due: [NotificationRecord]
        do { due = try repository.due(at: clock.now()) } catch {
            logger.error("notification queue unreadable: \(error)")
            return 0
        }
        for n in due {
            let now = clock.now()
            guard let sink = sinks[n.sink] else {
                try? repository.failed(n.id, at: now, error: "sink '\(n.sink)' is not configured", retryAt: nil)
                gaveUp += 1
                metrics?.countNotification(.gaveUp)
                continue
            }
            do {
                try await sink.deliver(OutgoingNotification(id: n.id, event: n.event, payload: n.payload, attempt: n.attempts + 1))
                try repository.delivered(n.id, at: clock.now())
                delivered += 1
                metrics?.countNotification(.delivered)
            } catch {
                failedAttempts += 1
                let attempt = n.attempts + 1
                let permanent = (error as? SinkError)?.permanent ?? false
                let next = permanent ? nil : retry.delay(afterAttempt: attempt).map { clock.now().addingTimeInterval($0) }
                try? repository.failed(n.id, at: clock.now(), error: "\(error)", retryAt: next)
                if next == nil { gaveUp += 1 }
                metrics?.countNotification(next == nil ? .gaveUp : .failed)
                logger.warning(next == nil ? "notification given up" : "notification failed, will retry", metadata: [
                    "id": "\(n.id)", "sink": "\(n.sink)", "attempt": "\(attempt)", "error": "\(error)",
                    "retry_at": "\(next.map { LocalCalendar.vietnam.display($0) } ?? "-")",
                ])
            }
        }
        return due.count
    }

    public func run(every interval: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            await deliverDue()
            try? await Task.sleep(for: interval)
        }
    }
}
