import ArgumentParser
import Foundation
import Logging
import WardClock
import WardController
import WardDomain
import WardHTTP

/// `wardfleet run`'s logging format and who may read `/metrics`.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Log format: text, or json (one object per line: time UTC, level, label, message, metadata); default $WARDFLEET_LOG_FORMAT or text.")
    var logFormat: String?
    @Option(help: "Bearer token Prometheus presents to read /metrics (or $WARDFLEET_METRICS_TOKEN, at least 16 characters).")
    var metricsToken: String?
    @Flag(help: "Serve /metrics without a token to clients on this machine (not through a proxy); unset, and no token: /metrics is off.")
    var metricsLoopback = false

    var json: Bool {
        get throws {
            switch logFormat ?? ProcessInfo.processInfo.environment["WARDFLEET_LOG_FORMAT"] ?? "text" {
            case "text": return false
            case "json": return true
            case let other: throw ValidationError("--log-format: text hoặc json / text or json, not '\(other)'")
            }
        }
    }

    func bootstrapLogging(level: Logger.Level, clock: any TimeSource) throws {
        guard try json else { return WardfleetCLI.bootstrapLogging(level: level) }
        LoggingSystem.bootstrap { label in
            var h = JSONLogHandler(label: label, now: { clock.now() })
            h.logLevel = level
            return h
        }
    }

    var access: MetricsAccess {
        get throws {
            if let t = metricsToken ?? ProcessInfo.processInfo.environment["WARDFLEET_METRICS_TOKEN"], !t.isEmpty {
                guard t.count >= 16 else { throw ValidationError("--metrics-token: ít nhất 16 ký tự / at least 16 characters") }
                return .token(t)
            }
            return metricsLoopback ? .loopback : .off
        }
    }
}

/// The text log handler every command uses (kept beside `run`'s choice).
enum WardfleetCLI {
    static func bootstrapLogging(level: Logger.Level) { wardfleet.bootstrapLogging(level: level) }
}
