import Foundation

/// How wrong claim proofs are slowed down. A stranger who knows a device id (it is printed on
/// the label) and the shared claim password must not be able to burn the installer's code: a
/// permanent lock after a few wrong proofs gave them exactly that. Instead each wrong proof past
/// an installer's few typos makes the next one wait longer, up to an hour; the real code works
/// at the first attempt after the wait. A 60-bit code is not guessed at 24-odd tries a day.
public enum ClaimThrottle {
    /// Wrong proofs answered at once (an installer's typos).
    public static let freeFailures = 3
    /// The wait after the first wrong proof beyond the free ones; it doubles with each further one.
    public static let firstDelay: TimeInterval = 60
    public static let maxDelay: TimeInterval = 3600
    /// Wrong proofs after which the technician is alarmed: someone may be trying codes.
    public static let alarmAfter = 3

    /// The wait before the next proof is looked at, after `failures` wrong ones in a row.
    public static func delay(afterFailures failures: Int) -> TimeInterval {
        guard failures >= freeFailures else { return 0 }
        let doublings = min(failures - freeFailures, 16)
        return min(firstDelay * Double(1 << doublings), maxDelay)
    }

    /// When the next proof is looked at; nil when it is now.
    public static func nextAttempt(failures: Int, lastFailure: Date?, now: Date) -> Date? {
        guard let lastFailure else { return nil }
        let at = lastFailure.addingTimeInterval(delay(afterFailures: failures))
        return at > now ? at : nil
    }
}
