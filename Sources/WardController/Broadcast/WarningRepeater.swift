import Foundation
import Logging
import WardDomain
import WardStorage

public struct WarningRepeatConfiguration: Sendable {
    /// How often the plans are looked at (the injected clock decides what is due).
    public var check: Duration = .seconds(1)
    /// How often plays whose reach is known are sent back to sources that take CAP Acks (and failed ones retried).
    public var ackEvery: Duration = .seconds(15)
    /// How long before its time a priority warning's repeat is made (a scheduled item: the speakers get it
    /// ahead, with the media they already hold from the approved play).
    public var priorityLead: TimeInterval = 120

    public init() {}
}

/// Plays warnings in force again at their plans' times (issue 20): an active Actual emergency alert
/// repeats on the same targets, each repeat a new emergency item through the emergency path, until
/// it expires, the plan's horizon passes, or an Update or Cancel ends it. Quiet hours never hold one
/// (an emergency is not held). Runs on the single controller, or a cluster's leader.
///
/// Nothing is kept in memory: the next repeat is derived from the stored plan and the plays the
/// alert already made (`RepetitionPlan.due`), and a repeat's item id is fixed by the alert and its
/// number, so a controller restarted — or stopped between making an item and recording it — neither
/// skips a repeat nor plays one twice.
public actor WarningRepeater {
    private let db: WardDatabase
    private let clock: any TimeSource
    private let configuration: WarningRepeatConfiguration
    private let logger: Logger
    /// Repeats that could not be made (e.g. the targeted speakers are gone), logged once each.
    private var failed = Set<String>()

    public init(database: WardDatabase, clock: any TimeSource, configuration: WarningRepeatConfiguration = WarningRepeatConfiguration(),
                logger: Logger = Logger(label: "wardfleet.warnings")) {
        db = database
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async {
        let acks = WarningAcknowledger(database: db, clock: clock, logger: logger)
        var lastAcks = ContinuousClock.now - configuration.ackEvery
        while !Task.isCancelled {
            do { try tick() } catch { logger.error("warning repeats: \(error)") }
            if ContinuousClock.now - lastAcks >= configuration.ackEvery {
                lastAcks = .now
                await acks.sendDue()
            }
            try? await Task.sleep(for: configuration.check)
        }
    }

    /// Makes the repeats due now and ends alerts whose plan is over; returns the plays made.
    @discardableResult
    public func tick() throws -> [WarningPlay] {
        let repo = WarningRepository(db)
        let now = clock.now()
        var made: [WarningPlay] = []
        for (w, done) in try repo.repeating() {
            guard let plan = w.plan else { continue }
            if now >= plan.until {
                // Past its `expires` (or the horizon): no longer in force.
                if try repo.end(w.id, .ended, at: plan.until) { logger.notice("warning \(w.id) ended (expired)") }
                continue
            }
            guard let due = plan.due(made: done, now: now) else { continue }
            do {
                if let p = try repeatPlay(w, number: due.number, dueAt: due.at, now: now) {
                    made.append(p)
                    logger.notice("warning \(w.id) repeated", metadata: ["number": "\(p.number)", "item": "\(p.itemID)"])
                }
            } catch {
                if failed.insert("\(w.id)/\(due.number)").inserted {
                    logger.error("warning \(w.id): repeat \(due.number) could not be made: \(error)")
                }
            }
        }
        made += try approvedTick(now: now).map(\.play)
        return made
    }

    /// Priority warnings (issue 20, item 4): in each commune that approved one — an item scheduled from its inbox
    /// bulletin and approved — it repeats at the interval of its risk level from that play, until its end, an
    /// Update or a Cancel (which end the alert: it is no longer `active`). Each repeat is a priority item on the
    /// approved item's targets, made `priorityLead` before its time; quiet hours never hold it.
    func approvedTick(now: Date) throws -> [WarningApprovedPlay] {
        let repo = WarningRepository(db)
        let broadcasts = BroadcastRepository(db)
        let calendar = BroadcastService(db, clock: clock).calendar
        var made: [WarningApprovedPlay] = []
        for r in try repo.approvedRepeating() {
            for (itemID, done) in r.approved.sorted(by: { $0.key < $1.key }) {
                guard let approved = try? broadcasts.get(itemID), approved.status == .approved else { continue }
                // Play 1 is the approved item itself.
                guard let due = r.plan(of: approved, calendar: calendar).due(made: done.union([1]), now: now, ahead: configuration.priorityLead) else { continue }
                do {
                    let p = try approvedRepeat(r.alert, of: approved, number: due.number, dueAt: due.at, now: now)
                    made.append(p)
                    logger.notice("warning \(r.alert.id) repeated where approved",
                                  metadata: ["approved": "\(itemID)", "number": "\(p.play.number)", "item": "\(p.play.itemID)"])
                } catch {
                    if failed.insert("\(r.alert.id)/\(itemID)/\(due.number)").inserted {
                        logger.error("warning \(r.alert.id): repeat \(due.number) of \(itemID) could not be made: \(error)")
                    }
                }
            }
        }
        return made
    }

    func approvedRepeat(_ w: WarningRecord, of approved: ScheduledBroadcast, number: Int, dueAt: Date, now: Date) throws -> WarningApprovedPlay {
        let repo = WarningRepository(db)
        let broadcasts = BroadcastRepository(db)
        let service = BroadcastService(db, clock: clock)
        let id = WarningApprovedPlay.itemID(alert: w.id, approvedItem: approved.id, number: number, day: service.calendar.localDay(of: dueAt))
        let actor = approved.approvedBy ?? approved.createdBy
        let item: ScheduledBroadcast
        if let existing = try? broadcasts.get(id) {
            item = existing  // made by a run that stopped before recording it
        } else {
            // At its time, or (a controller that was down at the slot) at the next whole second.
            let start = max(dueAt, Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down) + 1))
            let request = BroadcastService.Request(
                title: String("\(approved.item.title) (lần \(number))".prefix(200)), level: .priority, programme: approved.programme,
                duration: approved.item.duration, recurrence: .once(service.calendar.localDay(of: start), at: service.calendar.localTime(of: start)),
                target: approved.item.target, volume: approved.item.volume, priorityOrder: approved.item.priorityOrder)
            // Nothing may hold a warning back: no conflict check (a priority item cuts normal ones).
            item = try service.create(request, status: .approved, actor: actor, id: id, checked: false)
        }
        let play = WarningApprovedPlay(alertID: w.id, approvedItem: approved.id, number: number, itemID: item.id, dueAt: dueAt, madeAt: now)
        try repo.recordApprovedPlay(play)
        // An Update or Cancel that came while this was being made has stopped the alert's plays: this one too.
        if try repo.get(w.id).state != .active, try broadcasts.get(item.id).status != .cancelled {
            try broadcasts.setStatus(item.id, to: .cancelled, by: actor, at: clock.now(), detail: "cảnh báo đã kết thúc / warning ended")
        }
        return play
    }

    func repeatPlay(_ w: WarningRecord, number: Int, dueAt: Date, now: Date) throws -> WarningPlay? {
        let repo = WarningRepository(db)
        let broadcasts = BroadcastRepository(db)
        let plays = try repo.plays(w.id).filter { $0.kind == .play }
        // What is repeated: the first play's item (its speech, duration, targets).
        guard let first = plays.first, let source = try? broadcasts.get(first.itemID) else { return nil }
        let service = BroadcastService(db, clock: clock)
        let id = WarningPlay.itemID(alert: w.id, number: number, day: service.calendar.localDay(of: dueAt))
        let actor = "cap:\(w.sourceUser)"
        let item: ScheduledBroadcast
        if let existing = try? broadcasts.get(id) {
            item = existing  // made by a run that stopped before recording it
        } else {
            let title = String("\(source.item.title) (lần \(number))".prefix(200))
            let request = service.emergencyRequest(title: title, programme: source.programme, duration: source.item.duration,
                                                   target: source.item.target, volume: source.item.volume)
            item = try service.create(request, status: .approved, actor: actor, id: id)
        }
        let play = WarningPlay(alertID: w.id, number: number, kind: .play, itemID: item.id, dueAt: dueAt, madeAt: now)
        try repo.recordPlay(play)
        // An Update or Cancel that came while this was being made has stopped the alert's plays: this one too.
        if try repo.get(w.id).state != .active, try broadcasts.get(item.id).status != .cancelled {
            try broadcasts.setStatus(item.id, to: .cancelled, by: actor, at: clock.now(), detail: "cảnh báo đã kết thúc / warning ended")
        }
        return play
    }
}
