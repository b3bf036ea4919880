import Foundation

/// The language a person reads messages in. Messages of this project are written once, in both
/// languages ("tiếng Việt / English"); the API answers in the one the caller asks for.
public enum MessageLanguage: String, Sendable, CaseIterable {
    case vi, en
    /// Both halves as written ("mul", ISO 639-2 for several languages): what the CLI prints.
    case both = "mul"

    /// The caller's choice from an `Accept-Language` header (RFC 9110 §12.5.4): the acceptable
    /// language with the highest weight among Vietnamese, English and `mul`; Vietnamese when the
    /// header is absent or names neither.
    public static func preferred(acceptLanguage header: String?) -> MessageLanguage {
        guard let header else { return .vi }
        var best: (language: MessageLanguage, q: Double)?
        for part in header.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = fields.first?.lowercased(), !tag.isEmpty else { continue }
            var q = 1.0
            for f in fields.dropFirst() where f.lowercased().hasPrefix("q=") { q = Double(f.dropFirst(2)) ?? 0 }
            let primary = tag.split(separator: "-").first.map(String.init) ?? tag
            let language: MessageLanguage? = switch primary {
            case "vi": .vi
            case "en": .en
            case "mul": .both
            default: nil
            }
            // Equal weights keep the order written: the first listed wins.
            if let language, q > 0, q > (best?.q ?? 0) { best = (language, q) }
        }
        return best?.language ?? .vi
    }

    /// `vi`, `en` or `mul` as a query parameter (`lang=`); nil for anything else.
    public init?(query: String?) {
        guard let query, let l = MessageLanguage(rawValue: query.lowercased()) else { return nil }
        self = l
    }

    /// The half of a bilingual message for this language.
    /// A message of several lines (a heading and a list) is bilingual line by line: each line
    /// gives its half, its indentation and bullet kept.
    public func pick(_ message: String) -> String {
        if self == .both { return message }
        guard message.contains("\n") else { return half(message) }
        return message.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let bullet = line.prefix { $0 == " " || $0 == "\t" || $0 == "•" || $0 == "-" }
            return bullet + half(String(line.dropFirst(bullet.count)))
        }.joined(separator: "\n")
    }

    private func half(_ text: String) -> String {
        self == .en ? Bilingual.split(text).en : Bilingual.split(text).vi
    }
}

/// Splits the project's bilingual messages, "tiếng Việt / English", into their halves.
///
/// The separator is the last " / " (space, slash, space) at the top level: one inside brackets
/// or quotes belongs to a value (a path, a date, a list), and a slash without spaces round it
/// (21/11/2026, /api/v1/…, TCP/IP) is never one. Two shapes are kept whole in both halves:
/// a leading field name ("title: 1–200 ký tự / 1–200 characters" → "title: 1–200 characters")
/// and a message with no separator at all (ids, numbers, untranslated words).
public enum Bilingual {
    public static func split(_ message: String) -> (vi: String, en: String) {
        guard let range = separator(in: message) else { return (message, message) }
        var vi = String(message[..<range.lowerBound]).trimmingCharacters(in: .whitespaces)
        var en = String(message[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        if vi.isEmpty { vi = en }
        if en.isEmpty { en = vi }
        // "field: vi / en": the field name is in neither language and belongs to both.
        if let prefix = fieldPrefix(vi), !en.hasPrefix(prefix), vi != prefix.trimmingCharacters(in: .whitespaces) {
            en = prefix + en
        }
        return (vi, en)
    }

    /// The last top-level " / " of `s`.
    static func separator(in s: String) -> Range<String.Index>? {
        var depth = 0
        var quote: Character?
        var found: Range<String.Index>?
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if let q = quote {
                if c == q { quote = nil }
            } else {
                switch c {
                case "(", "[", "{": depth += 1
                case ")", "]", "}": depth = max(0, depth - 1)
                case "\"", "“":
                    quote = c == "“" ? "”" : "\""
                case "'":
                    // An apostrophe opens a quote only at a word's start ('abc'), not inside one (it's).
                    let before = i == s.startIndex ? " " : s[s.index(before: i)]
                    if before == " " || before == "(" { quote = "'" }
                case "/" where depth == 0:
                    let before = i == s.startIndex ? nil : s[s.index(before: i)]
                    let after = s.index(after: i) < s.endIndex ? s[s.index(after: i)] : nil
                    if before == " ", after == " " { found = s.index(before: i)..<s.index(i, offsetBy: 2) }
                default: break
                }
            }
            i = s.index(after: i)
        }
        // An unclosed quote or bracket (an apostrophe used as one, a cut value) proves nothing:
        // look again ignoring them.
        if found == nil, quote != nil || depth != 0, let r = s.range(of: " / ", options: .backwards) { return r }
        return found
    }

    /// "name: " or "name, other: " at the start, when the names are ASCII field names.
    static func fieldPrefix(_ vi: String) -> String? {
        guard let colon = vi.range(of: ": ") else { return nil }
        let names = vi[..<colon.lowerBound]
        guard !names.isEmpty, names.split(separator: ",").allSatisfy({ n in
            let t = n.trimmingCharacters(in: .whitespaces)
            return !t.isEmpty && t.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || "0123456789_.{}".unicodeScalars.contains($0)) }
        }) else { return nil }
        return String(vi[..<colon.upperBound])
    }
}
