import Foundation

/// Where SQLite and PostgreSQL differ, in one place. Repositories write the SQL both engines share
/// (`?` placeholders, `ON CONFLICT … DO UPDATE`, `coalesce`, `CASE`) and ask the dialect for the rest.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// The larger of two expressions (SQLite's two-argument max, PostgreSQL's greatest).
    public func greatest(_ a: String, _ b: String) -> String {
        self == .sqlite ? "max(\(a), \(b))" : "greatest(\(a), \(b))"
    }
    public func least(_ a: String, _ b: String) -> String {
        self == .sqlite ? "min(\(a), \(b))" : "least(\(a), \(b))"
    }

    /// `expression IN (?, …)` for `count` arguments. SQLite reads an empty list as false;
    /// PostgreSQL refuses `IN ()`, so an empty list is written as a condition that is false in both.
    public static func isIn(_ expression: String, count: Int) -> String {
        count == 0 ? "1 = 0" : "\(expression) IN (\(Array(repeating: "?", count: count).joined(separator: ", ")))"
    }

    /// A case-sensitive match of `expression` against `pieces` (literal text) with any text between
    /// them: the condition, with one `?`, and the pattern to bind. SQLite's LIKE ignores ASCII case
    /// (ids differ by case), its GLOB does not; PostgreSQL's LIKE keeps case.
    public func matches(_ expression: String, _ pieces: [String]) -> (sql: String, pattern: String) {
        switch self {
        case .sqlite:
            let escaped = pieces.map { p in
                p.map { "*?[".contains($0) ? "[\($0)]" : String($0) }.joined()
            }
            return ("\(expression) GLOB ?", escaped.joined(separator: "*"))
        case .postgres:
            let escaped = pieces.map { p in
                p.map { "\\%_".contains($0) ? "\\\($0)" : String($0) }.joined()
            }
            return ("\(expression) LIKE ? ESCAPE '\\'", escaped.joined(separator: "%"))
        }
    }
    /// Locks the rows a SELECT reads until the transaction ends (SQLite's one writer already does).
    public var forUpdate: String { self == .sqlite ? "" : " FOR UPDATE" }

    /// SQL written for SQLite's surface, as PostgreSQL takes it: `?` and `:name` become `$n`
    /// (outside quotes and comments), and `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`.
    /// Returns the text and the order in which the arguments bind.
    static func postgres(_ sql: String, _ arguments: SQLArguments) throws -> (String, [SQLValue]) {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var binds: [SQLValue] = []
        var namedSlot: [String: Int] = [:]
        var positional = 0
        let chars = Array(sql.unicodeScalars)
        var i = 0
        func peek(_ k: Int) -> Unicode.Scalar? { i + k < chars.count ? chars[i + k] : nil }
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "'", "\"":
                // A quoted literal or identifier, copied whole ('' and "" are escaped quotes).
                out.unicodeScalars.append(c)
                i += 1
                while i < chars.count {
                    out.unicodeScalars.append(chars[i])
                    if chars[i] == c {
                        if peek(1) == c { out.unicodeScalars.append(c); i += 2; continue }
                        break
                    }
                    i += 1
                }
                i += 1
            case "-" where peek(1) == "-":
                while i < chars.count, chars[i] != "\n" { out.unicodeScalars.append(chars[i]); i += 1 }
            case "?":
                guard positional < arguments.values.count else {
                    throw SQLStoreError.arguments("\(arguments.values.count) arguments for more placeholders in: \(sql)")
                }
                binds.append(arguments.values[positional])
                positional += 1
                out += "$\(binds.count)"
                i += 1
            case ":" where peek(1) == ":":
                out += "::"
                i += 2
            case ":" where peek(1).map { CharacterSet.letters.contains($0) || $0 == "_" } ?? false:
                var name = ""
                i += 1
                while i < chars.count, CharacterSet.alphanumerics.contains(chars[i]) || chars[i] == "_" {
                    name.unicodeScalars.append(chars[i]); i += 1
                }
                guard let v = arguments.named[name] else { throw SQLStoreError.arguments("no argument :\(name) in: \(sql)") }
                if let slot = namedSlot[name] {
                    out += "$\(slot)"
                } else {
                    binds.append(v)
                    namedSlot[name] = binds.count
                    out += "$\(binds.count)"
                }
            default:
                out.unicodeScalars.append(c)
                i += 1
            }
        }
        if positional != arguments.values.count {
            throw SQLStoreError.arguments("\(arguments.values.count) arguments for \(positional) placeholders in: \(sql)")
        }
        if let r = out.range(of: "INSERT OR IGNORE INTO", options: [.caseInsensitive]) {
            out.replaceSubrange(r, with: "INSERT INTO")
            let trimmed = out.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";")))
            out = trimmed + "\nON CONFLICT DO NOTHING"  // on its own line: a trailing `--` comment cannot swallow it
        }
        return (out, binds)
    }
}

extension SQLDialect {
    /// A script cut into its statements: at `;` outside quotes, `$$` bodies and `--` comments.
    static func statements(of script: String) -> [String] {
        var out: [String] = [], current = ""
        let chars = Array(script.unicodeScalars)
        var i = 0, inQuote: Unicode.Scalar? = nil, inDollar = false
        while i < chars.count {
            let c = chars[i]
            let next: Unicode.Scalar? = i + 1 < chars.count ? chars[i + 1] : nil
            if let q = inQuote {
                current.unicodeScalars.append(c)
                if c == q { inQuote = nil }
            } else if inDollar {
                current.unicodeScalars.append(c)
                if c == "$", next == "$" { current += "$"; i += 1; inDollar = false }
            } else if c == "'" || c == "\"" {
                inQuote = c
                current.unicodeScalars.append(c)
            } else if c == "$", next == "$" {
                inDollar = true
                current += "$$"
                i += 1
            } else if c == "-", next == "-" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
                current += "\n"
            } else if c == ";" {
                let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !s.isEmpty { out.append(s) }
                current = ""
            } else {
                current.unicodeScalars.append(c)
            }
            i += 1
        }
        let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !s.isEmpty { out.append(s) }
        return out
    }
}

public enum SQLStoreError: Error, CustomStringConvertible {
    case arguments(String)
    case connection(String)
    case migration(String)
    public var description: String {
        switch self {
        case .arguments(let s): "SQL arguments: \(s)"
        case .connection(let s): "database connection: \(s)"
        case .migration(let s): "database migration: \(s)"
        }
    }
}
