import Foundation

/// A feed a warning source publishes instead of pushing: Atom (RFC 4287) or RSS 2.0, one entry per CAP
/// alert, each linking to its CAP 1.2 document, as public alerting hubs publish them. Read with the same
/// guards as a CAP document (no document type declaration, bounded size, depth and element count).
public enum CAPFeed {
    public static let maxBytes = 2 * 1024 * 1024

    /// One entry: its id in the feed (Atom `id`, RSS `guid`, else the link) and the CAP document's URL.
    public struct Entry: Sendable, Hashable {
        public var id: String
        public var url: URL
    }

    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not XML we read (refused as a CAP document would be: the reason and where).
        case unreadable(String)
        /// Neither an Atom `feed` nor an RSS `rss`/`channel`.
        case notAFeed(String)

        public var description: String {
            switch self {
            case .unreadable(let why): "nguồn tin không đọc được / feed unreadable: \(why)"
            case .notAFeed(let root): "không phải Atom hay RSS (gốc '\(root.prefix(40))') / not an Atom or RSS feed (root '\(root.prefix(40))')"
            }
        }
    }

    /// The entries linking to a CAP document, in feed order; relative links are resolved against `base`.
    /// An entry with no usable link is skipped (counted by the caller as `skipped`).
    public static func entries(_ data: Data, base: URL) throws(Problem) -> (entries: [Entry], skipped: Int) {
        let root: XMLElementNode
        do { root = try CAPXML.read(data, maxBytes: maxBytes) } catch { throw .unreadable(error.description) }
        var out: [Entry] = [], skipped = 0
        func add(id: String?, link: String?) {
            guard let link = link?.trimmingCharacters(in: .whitespacesAndNewlines), !link.isEmpty,
                  let url = URL(string: link, relativeTo: base)?.absoluteURL, ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
                skipped += 1
                return
            }
            let id = id?.trimmingCharacters(in: .whitespacesAndNewlines)
            out.append(Entry(id: (id?.isEmpty == false ? id! : url.absoluteString), url: url))
        }
        switch root.name {
        case "feed":
            for e in root.all("entry") {
                let links = e.all("link")
                // The CAP document: a link typed as CAP, else the alternate (or untyped) one.
                let cap = links.first { ($0.attributes["type"] ?? "").lowercased().hasPrefix("application/cap+xml") }
                    ?? links.first { ($0.attributes["rel"] ?? "alternate") == "alternate" }
                add(id: e.all("id").first?.text, link: cap?.attributes["href"])
            }
        case "rss", "channel", "RDF":
            let channel = root.name == "rss" ? root.all("channel").first ?? root : root
            for item in channel.all("item") + (root.name == "RDF" ? root.all("item") : []) {
                let enclosure = item.all("enclosure").first { ($0.attributes["type"] ?? "").lowercased().hasPrefix("application/cap+xml") }
                add(id: item.all("guid").first?.text, link: enclosure?.attributes["url"] ?? item.all("link").first?.text)
            }
        default:
            throw .notAFeed(root.name)
        }
        return (out, skipped)
    }
}
