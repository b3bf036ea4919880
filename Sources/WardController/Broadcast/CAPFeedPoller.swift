import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import WardDomain

/// Reads the CAP feeds of warning sources that publish instead of pushing (`--cap-feed SOURCE=URL`):
/// every `interval` each feed is fetched, and each entry not seen before has its CAP document fetched
/// and received as if the source had posted it (`WarningService.receive`: the same checks, the same
/// one-alert-per-identifier rule, the same counters). An entry whose document could not be fetched is
/// tried again next time; one that was received or refused is not fetched again by this process (a
/// restart fetches it once more, and the identifier rule makes it the same alert).
public actor CAPFeedPoller {
    public struct Subscription: Sendable, Hashable {
        /// The warning source (`wardfleet warnings sources add`) the feed's alerts come from.
        public var source: String
        public var url: URL
        public init(source: String, url: URL) {
            self.source = source
            self.url = url
        }
    }

    /// What one pass did, for logs and tests.
    public struct Pass: Sendable, Equatable {
        public var feedsRead = 0
        public var feedsFailed = 0
        public var received = 0
        public var duplicates = 0
        public var refused = 0
        public var fetchFailed = 0
        public var skipped = 0
    }

    let feeds: [Subscription]
    let service: WarningService
    let interval: Duration
    let fetch: @Sendable (URL) async throws -> Data
    let logger: Logger
    /// Entry ids (per feed) already received or refused.
    private var done: Set<String> = []

    public init(feeds: [Subscription], service: WarningService, interval: Duration = .seconds(60),
                fetch: (@Sendable (URL) async throws -> Data)? = nil, logger: Logger = Logger(label: "wardfleet.cap-feed")) {
        self.feeds = feeds
        self.service = service
        self.interval = interval
        self.fetch = fetch ?? Self.get
        self.logger = logger
    }

    /// Polls until cancelled.
    public func run() async {
        while !Task.isCancelled {
            _ = await pass()
            try? await Task.sleep(for: interval)
        }
    }

    /// One pass over every feed.
    public func pass() async -> Pass {
        var p = Pass()
        for feed in feeds {
            let entries: [CAPFeed.Entry]
            do {
                let (list, skipped) = try CAPFeed.entries(try await fetch(feed.url), base: feed.url)
                entries = list
                p.skipped += skipped
                p.feedsRead += 1
            } catch {
                p.feedsFailed += 1
                service.count(refused: "feed_unreadable")
                logger.warning("CAP feed not read", metadata: ["source": "\(feed.source)", "url": "\(feed.url)", "error": "\(error)"])
                continue
            }
            for e in entries {
                let key = "\(feed.url.absoluteString) \(e.id)"
                guard !done.contains(key) else { continue }
                let document: Data
                do {
                    document = try await fetch(e.url)
                } catch {
                    p.fetchFailed += 1
                    logger.warning("CAP document not fetched; tried again next time",
                                   metadata: ["source": "\(feed.source)", "url": "\(e.url)", "error": "\(error)"])
                    continue
                }
                do {
                    let (w, isNew) = try await service.receive(document, from: feed.source)
                    if isNew { p.received += 1 } else { p.duplicates += 1 }
                    logger.notice("CAP alert from feed \(isNew ? "received" : "repeated")", metadata: [
                        "source": "\(feed.source)", "identifier": "\(w.identifier)", "state": "\(w.state.rawValue)"])
                } catch {
                    p.refused += 1
                    logger.warning("CAP alert from feed refused", metadata: ["source": "\(feed.source)", "url": "\(e.url)", "error": "\(error)"])
                }
                done.insert(key)
            }
        }
        return p
    }

    /// GET with a timeout; a non-2xx answer or a body over the CAP feed limit is an error.
    static func get(_ url: URL) async throws -> Data {
        var request = URLRequest(url: url, timeoutInterval: 15)
        request.setValue("application/atom+xml, application/rss+xml, application/cap+xml, application/xml;q=0.9", forHTTPHeaderField: "Accept")
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            throw FeedFetchError.status((response as? HTTPURLResponse)?.statusCode ?? 0)
        }
        guard data.count <= CAPFeed.maxBytes else { throw FeedFetchError.tooLarge(data.count) }
        return data
    }

    enum FeedFetchError: Error, CustomStringConvertible {
        case status(Int)
        case tooLarge(Int)
        var description: String {
            switch self {
            case .status(let s): "HTTP \(s)"
            case .tooLarge(let n): "\(n) byte > \(CAPFeed.maxBytes) byte"
            }
        }
    }
}
