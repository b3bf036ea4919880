import Foundation
import Synchronization
import WardDomain

/// System time shifted by an offset read from a file, so a test can move the clocks of several
/// processes (controller, simulated devices, CLI) together: to 05:59:50 of some day, then to
/// the next day. The file holds the offset in seconds; it is re-read when it changes.
public final class ShiftedClock: TimeSource {
    private struct Cache {
        var offset: TimeInterval = 0
        var checkedAt: TimeInterval = -.infinity
        var modified: TimeInterval = -1
    }
    public let path: String
    private let cache = Mutex(Cache())

    public init(path: String) { self.path = path }

    public func now() -> Date {
        let real = Date()
        let t = real.timeIntervalSince1970
        let offset = cache.withLock { c -> TimeInterval in
            // A stat at most every 20 ms: cheap enough for hot paths, quick enough for tests.
            if t - c.checkedAt >= 0.02 {
                c.checkedAt = t
                var st = stat()
                if stat(path, &st) == 0 {
                    let m = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
                    if m != c.modified, let text = try? String(contentsOfFile: path, encoding: .utf8),
                       let v = TimeInterval(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                        c.modified = m
                        c.offset = v
                    }
                }
            }
            return c.offset
        }
        return real.addingTimeInterval(offset)
    }

    /// Writes the offset that makes `now()` read `date` (for tests).
    public static func set(path: String, to date: Date) throws {
        let tmp = path + ".tmp"
        try String(date.timeIntervalSinceNow).write(toFile: tmp, atomically: false, encoding: .utf8)
        _ = rename(tmp, path)
    }
}

public enum Clocks {
    /// Environment variable naming a `ShiftedClock` file; unset in production.
    public static let environmentKey = "WARDFLEET_CLOCK_FILE"

    /// The process's clock: shifted when the environment names a clock file, the system's otherwise.
    public static func fromEnvironment() -> any TimeSource {
        if let p = ProcessInfo.processInfo.environment[environmentKey], !p.isEmpty { return ShiftedClock(path: p) }
        return SystemTimeSource()
    }
}
