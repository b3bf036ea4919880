import ArgumentParser
import FleetFile
import Foundation
import WardController
import WardDomain
import WardStorage

/// `wardfleet run`'s options for disaster warnings (docs/warnings.md).
struct WarningOptions: ParsableArguments {
    @Option(help: "YAML file with this deployment's warning policy (severity and urgency → TT39 level, risk levels, repeats, all-clear); unset: the documented default.")
    var warningPolicy: String?
    @Option(help: "A warning source's CAP feed (Atom or RSS) to poll, as SOURCE=URL (repeatable); SOURCE is a source of `warnings sources add`.")
    var capFeed: [String] = []
    @Option(help: "Seconds between polls of each CAP feed.") var capFeedInterval: Double = 60

    func policy() throws -> WarningPolicy { try Self.policy(file: warningPolicy) }

    /// The policy of a `--warning-policy FILE` (nil: the documented default), read as `run` reads it; a wrong
    /// value is refused naming the key. `wardfleet warnings cancel` takes the same file.
    static func policy(file: String?) throws -> WarningPolicy {
        guard let file else { return .standard }
        do { return try WarningPolicyFile.read(path: file) } catch { throw ValidationError("--warning-policy: \(error)") }
    }

    /// The feeds to poll, each checked against the sources known to `database`.
    func feeds(_ database: WardDatabase) throws -> [CAPFeedPoller.Subscription] {
        guard capFeedInterval >= 5 else { throw ValidationError("--cap-feed-interval: ít nhất 5 giây / at least 5 seconds") }
        return try capFeed.map { spec in
            guard let eq = spec.firstIndex(of: "="), let url = URL(string: String(spec[spec.index(after: eq)...])),
                  ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
                throw ValidationError("--cap-feed '\(spec)': cần SOURCE=URL (http/https) / expected SOURCE=URL (http or https)")
            }
            let source = String(spec[..<eq])
            guard try WarningRepository(database).source(user: source) != nil else {
                throw ValidationError("--cap-feed: không có nguồn cảnh báo '\(source)' (wardfleet warnings sources add) / no warning source '\(source)'")
            }
            return CAPFeedPoller.Subscription(source: source, url: url)
        }
    }
}
