import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import WardDomain
import WardStorage

/// Sends each play's reach back to the warning's source as a CAP 1.2 `Ack` (docs/warnings.md, Proof of
/// reach), when the source has an Ack URL: once the play's outcome is known on every speaker it was sent
/// to (none pending or playing). The `note` carries the play's summary; `references` names the alert.
/// A play acknowledged (2xx) is marked so; a failure is tried again later.
public struct WarningAcknowledger: Sendable {
    let db: WardDatabase
    let clock: any TimeSource
    let logger: Logger
    /// The `sender` of WardFleet's Acks.
    public static let sender = "wardfleet"

    public init(database: WardDatabase, clock: any TimeSource, logger: Logger = Logger(label: "wardfleet.warnings")) {
        db = database
        self.clock = clock
        self.logger = logger
    }

    /// Sends the Acks that are due; returns how many were accepted.
    @discardableResult
    public func sendDue() async -> Int {
        let repo = WarningRepository(db)
        guard let due = try? repo.unacknowledged() else { return 0 }
        var sent = 0
        var reports: [Int64: WarningReachReport] = [:]
        for (p, url) in due {
            do {
                let report = try reports[p.alertID] ?? WarningReachReport.build(db, alert: p.alertID, now: clock.now())
                reports[p.alertID] = report
                guard let reach = report.plays.first(where: { $0.number == p.number && $0.kind == p.kind }),
                      reach.tally.sent > 0, reach.tally.pending + reach.tally.playing == 0 else { continue }
                let alert = try repo.get(p.alertID)
                let now = clock.now()
                let xml = CAPAck.xml(sender: Self.sender, identifier: "wardfleet-ack-\(p.alertID)-\(p.number)",
                                     sent: CAPTime(date: now, offset: 7 * 3600),
                                     references: [CAPReference(sender: alert.sender, identifier: alert.identifier,
                                                               sent: CAPTime(date: alert.sent, offset: 7 * 3600))],
                                     note: WarningReach(alert: p.alertID, receivedAt: alert.receivedAt, plays: [reach]).summary)
                guard let target = URL(string: url) else { continue }
                var req = URLRequest(url: target, timeoutInterval: 10)
                req.httpMethod = "POST"
                req.httpBody = Data(xml.utf8)
                req.setValue("application/cap+xml; charset=utf-8", forHTTPHeaderField: "Content-Type")
                let http = try await WebhookSink.send(req)
                guard (200..<300).contains(http.statusCode) else { throw SinkError("HTTP \(http.statusCode)") }
                try repo.markAcknowledged(p, at: now)
                sent += 1
            } catch {
                logger.warning("CAP Ack of warning \(p.alertID) play \(p.number) not delivered: \(error)")
            }
        }
        return sent
    }
}
