import Foundation
import Logging
import Synchronization
import WardDomain

/// Logs as one JSON object per line (`wardfleet run --log-format json`), for journald/Loki/Elasticsearch:
/// `{"time":"2026-12-03T05:06:07.089Z","level":"warning","label":"wardfleet.controller","message":"…","metadata":{…}}`.
/// Time in UTC (ISO 8601, milliseconds); Vietnamese text as UTF-8, not escaped; control characters escaped,
/// so a message never breaks the line.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    private let output: JSONLogOutput
    private let now: @Sendable () -> Date

    public init(label: String, output: JSONLogOutput = .standardError, now: @escaping @Sendable () -> Date = { Date() }) {
        self.label = label
        self.output = output
        self.now = now
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let m = event.metadata { all.merge(m) { $1 } }
        var line = "{\"time\":"
        Self.string(Self.timestamp(now()), into: &line)
        line += ",\"level\":"
        Self.string(event.level.rawValue, into: &line)
        line += ",\"label\":"
        Self.string(label, into: &line)
        line += ",\"message\":"
        Self.string(event.message.description, into: &line)
        if !all.isEmpty {
            line += ",\"metadata\":"
            Self.value(.dictionary(all), into: &line)
        }
        line += "}\n"
        output.write(line)
    }

    static func timestamp(_ d: Date) -> String {
        let ms = Int64((d.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = ms.quotientAndRemainder(dividingBy: 1000)
        let secs = seconds.remainder < 0 ? seconds.quotient - 1 : seconds.quotient
        let millis = (ms - secs * 1000)
        var t = time_t(secs)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(millis))
    }

    static func value(_ v: Logger.Metadata.Value, into out: inout String) {
        switch v {
        case .string(let s): string(s, into: &out)
        case .stringConvertible(let c): string(c.description, into: &out)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                value(e, into: &out)
            }
            out += "]"
        case .dictionary(let d):
            out += "{"
            for (i, k) in d.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                string(k, into: &out)
                out += ":"
                value(d[k]!, into: &out)
            }
            out += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as it is (UTF-8).
    static func string(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// Where JSON log lines go: standard error (one write per line, so lines from threads never mix), or a closure (tests).
public struct JSONLogOutput: Sendable {
    let write: @Sendable (String) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    public static let standardError = JSONLogOutput { line in
        lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }
    private static let lock = Mutex(())
}
