import Foundation
import WardDomain
import WardStorage

/// Why a CAP post was refused: what the source did wrong, with the HTTP status an adapter answers
/// and the reason it is counted by. A refused alert changes nothing.
public struct WarningRefusal: Refusal, Equatable {
    public enum Kind: Equatable, Sendable {
        /// The caller is not a warning source.
        case notASource(String)
        /// The alert's `sender` is not one this source may use.
        case senderNotAllowed(String)
        /// The document or the alert (CAP rules, or what WardFleet acts on).
        case invalid(CAPError)
        /// A Cancel referencing nothing known.
        case unknownReference(String)
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// The metrics label.
    public var reason: String {
        switch kind {
        case .notASource: "not_a_source"
        case .senderNotAllowed: "sender_not_allowed"
        case .invalid(let e): e.reason.rawValue
        case .unknownReference: "unknown_reference"
        }
    }

    /// 403 for who may not post, 413 for too large, 400 for what is not XML, 422 for what CAP or WardFleet refuses.
    public var httpStatus: Int {
        switch kind {
        case .notASource, .senderNotAllowed: 403
        case .invalid(let e):
            switch e.reason {
            case .tooLarge: 413
            case .malformed, .doctype: 400
            default: 422
            }
        case .unknownReference: 422
        }
    }

    public var description: String {
        switch kind {
        case .notASource(let u): "\(u) không phải nguồn cảnh báo / \(u) is not a warning source"
        case .senderNotAllowed(let s): "alert/sender: nguồn này không được dùng sender '\(s)' / this source may not use sender '\(s)'"
        case .invalid(let e): e.description
        case .unknownReference(let r): "alert/references: không có cảnh báo được tham chiếu / no referenced alert is known: \(r)"
        }
    }
}

/// Why an approver's cancel of a warning was refused.
public enum WarningCancelRefusal: Refusal, Equatable {
    case notInForce(Int64, WarningRecord.State)

    public var description: String {
        switch self {
        case .notInForce(let id, let s): "cảnh báo \(id) không còn hiệu lực (\(s.vietnamese)) / warning \(id) is not in force (\(s.rawValue))"
        }
    }
}

/// CAP 1.2 intake: a document posted by a warning source becomes a stored alert and, when it is Actual,
/// an upstream bulletin of the policy's TT39 level to the places its area targets — an emergency on air at
/// once through the emergency path (speakers of the targeted villages and commune sites only), a priority one
/// in the communes' inbox. Exercise, Test, System and Draft are stored, never on air.
public struct WarningService: Sendable {
    let db: WardDatabase
    let library: MediaLibrary
    let clock: any TimeSource
    let policy: WarningPolicy
    let tally: @Sendable (String) -> Void

    /// `tally` counts: `received.<status>` per accepted alert, `refused.<reason>` per refusal, `duplicate`.
    public init(database: WardDatabase, library: MediaLibrary, clock: any TimeSource = SystemTimeSource(),
                policy: WarningPolicy = .standard, tally: @escaping @Sendable (String) -> Void = { _ in }) {
        db = database
        self.library = library
        self.clock = clock
        self.policy = policy
        self.tally = tally
    }

    /// The source whose bearer token hashes (SHA-256, hex) to `tokenHash`.
    public func source(tokenHash: String) throws -> WarningSource? { try WarningRepository(db).source(tokenHash: tokenHash) }

    /// Counts a refusal made before the service saw the document (authentication, media type, size).
    public func count(refused reason: String) { tally("refused.\(reason)") }

    /// The broadcast's creator in the broadcast log and the media library.
    static func actor(_ user: String) -> String { "cap:\(user)" }
    /// Upstream bulletins made from CAP alerts carry this source.
    public static let bulletinSource = "cap"

    /// Receives a CAP document from `user`. Returns the stored alert and whether it is new (false: the
    /// same sender and identifier came before; nothing else happens).
    public func receive(_ document: Data, from user: String) async throws -> (WarningRecord, isNew: Bool) {
        do {
            let out = try await accept(document, from: user)
            tally(out.isNew ? "received.\(out.0.status.rawValue.lowercased())" : "duplicate")
            return out
        } catch let r as WarningRefusal {
            tally("refused.\(r.reason)")
            throw r
        }
    }

    func accept(_ document: Data, from user: String) async throws -> (WarningRecord, isNew: Bool) {
        let repo = WarningRepository(db)
        guard let source = try repo.source(user: user) else { throw WarningRefusal(.notASource(user)) }
        let alert: CAPAlert
        do { alert = try CAPXML.alert(from: document) } catch { throw WarningRefusal(.invalid(error)) }
        guard source.mayUse(sender: alert.sender) else { throw WarningRefusal(.senderNotAllowed(alert.sender)) }
        if let existing = try repo.find(sender: alert.sender, identifier: alert.identifier) { return (existing, false) }
        let text = String(decoding: document, as: UTF8.self)
        let now = clock.now()

        // Earlier alerts this one acts on: only this source's own senders' ones.
        let referenced = try alert.references.compactMap { r in
            source.mayUse(sender: r.sender) ? try repo.find(sender: r.sender, identifier: r.identifier) : nil
        }
        if alert.msgType == .cancel {
            guard !referenced.isEmpty else {
                throw WarningRefusal(.unknownReference(alert.references.map { "\($0.sender),\($0.identifier)" }.joined(separator: " ")))
            }
            let record = WarningRecord(sender: alert.sender, identifier: alert.identifier, sent: alert.sent.date, sourceUser: user,
                                       status: alert.status, msgType: .cancel, references: alert.references,
                                       event: alert.vietnameseInfo?.event, headline: alert.vietnameseInfo?.headline,
                                       state: .recorded, receivedAt: now)
            let (stored, isNew) = try repo.record(record, document: text)
            // Another node or feed pass stored the same alert between the lookup and here: it acted, not this one.
            guard isNew else { return (stored, false) }
            if alert.status == .actual || alert.status == .exercise {
                for r in referenced where r.state == .active && r.status == alert.status {
                    guard try end(r, .cancelled, at: now, by: nil, actor: Self.actor(user)) else { continue }
                    try await allClear(r, info: alert.vietnameseInfo, actor: Self.actor(user), now: now)
                }
            }
            return (try repo.get(stored.id), true)
        }

        let plan: WarningPlan
        do {
            plan = try WarningAssessment.plan(alert, policy: policy, tree: try PlaceRepository(db).tree(), now: now)
        } catch let e as CAPError {
            throw WarningRefusal(.invalid(e))
        }
        var (stored, isNew) = try repo.record(WarningRecord(plan: plan, sourceUser: user, receivedAt: now), document: text)
        // Another node or feed pass stored the same alert between the lookup and here: it goes on air once, by that one.
        guard isNew else { return (stored, false) }
        if stored.reachesNoPlace { tally("untargeted") }
        // An Update ends what it replaces: no more repeats, and what of it plays now is cut. When the
        // update goes on air itself, that happens just before its item is made (its speech is ready):
        // no gap, and the old play does not hold the new one back (an emergency waits for another).
        let replacing = alert.msgType == .update ? referenced.filter { $0.state == .active && $0.status == alert.status } : []
        let id = stored.id
        let replace: () throws -> Void = {
            for r in replacing { try self.end(r, .replaced, at: now, by: nil, replacedBy: id, actor: Self.actor(user)) }
        }
        if plan.goesOnAir {
            let bulletin = try await broadcast(plan, record: stored, user: user, now: now, beforeOnAir: replace)
            if plan.level == .priority {
                // It waits in the inbox; each commune's approved play will anchor its repeats (WarningRepeater).
                try repo.setApprovedRepetition(stored.id, interval: plan.repeatInterval, until: plan.expires)
            }
            try repo.setState(stored.id, .active, bulletin: bulletin)
            stored = try repo.get(stored.id)
        } else {
            try replace()
        }
        return (stored, true)
    }

    /// Ends an alert in force (`state`: cancelled or replaced): its plan stops, so no repeat is made,
    /// and its plays that may still sound are cancelled — the speakers get the emergency `cancel` and
    /// stop (protocol: `emergency`). False when it was not in force (ended once).
    @discardableResult
    func end(_ r: WarningRecord, _ state: WarningRecord.State, at now: Date, by user: String?, replacedBy: Int64? = nil,
             actor: String) throws -> Bool {
        guard try WarningRepository(db).end(r.id, state, at: now, by: user, replacedBy: replacedBy) else { return false }
        try stopOnAir(r, at: now, actor: actor, why: state == .replaced ? "cập nhật CAP / CAP Update" : "hủy cảnh báo / warning cancelled")
        return true
    }

    /// Cancels the alert's broadcast items that may still sound (made within their length and ten minutes), and
    /// of a priority warning every item of it still to play or playing: what communes scheduled from the inbox
    /// (approved or awaiting approval) and the repeats made ahead of their time.
    func stopOnAir(_ r: WarningRecord, at now: Date, actor: String, why: String) throws {
        let broadcasts = BroadcastRepository(db)
        let repo = WarningRepository(db)
        var items = try repo.plays(r.id).filter { $0.kind == .play }.map(\.itemID)
        if items.isEmpty, let b = r.bulletinID, let item = try? UpstreamRepository(db).get(b).itemID { items.append(item) }
        for id in items {
            guard let b = try? broadcasts.get(id), b.status != .cancelled,
                  b.createdAt.addingTimeInterval(b.item.duration + 600) > now else { continue }
            try broadcasts.setStatus(id, to: .cancelled, by: actor, at: now, detail: why)
        }
        let calendar = BroadcastService(db, clock: clock).calendar
        for id in try repo.approvedItems(r.id) + repo.approvedPlays(r.id).map(\.play.itemID) {
            guard let b = try? broadcasts.get(id), b.status != .cancelled else { continue }
            // Over (every play of it ended): left as it is, its reach stands.
            let ahead = b.item.recurrence.occurrences(of: b.item.duration, overlapping: DateInterval(start: now, duration: 30 * 86_400),
                                                      calendar: calendar)
            guard ahead.contains(where: { $0.end > now }) else { continue }
            try broadcasts.setStatus(id, to: .cancelled, by: actor, at: now, detail: why)
        }
    }

    /// The all-clear ("Hết cảnh báo …") on the ended alert's speakers, at emergency level, when the
    /// policy says so (`allClearOnCancel`) and the alert was on air as an emergency.
    func allClear(_ r: WarningRecord, info: CAPInfo?, actor: String, now: Date) async throws {
        guard policy.allClearOnCancel, r.mode == .live, r.level == .emergency else { return }
        let repo = WarningRepository(db)
        let plays = try repo.plays(r.id)
        guard !plays.contains(where: { $0.kind == .allClear }) else { return }
        let target: BroadcastTarget
        if let first = plays.first(where: { $0.kind == .play }), let b = try? BroadcastRepository(db).get(first.itemID) {
            target = b.item.target
        } else {
            target = r.targets.broadcastTarget(devices: try DeviceRepository(db).list())
        }
        guard !target.isEmpty else { return }
        let title = String("Hết cảnh báo: \(r.event ?? r.identifier)".nfc.prefix(200))
        let speech = try await library.addSpeech(WarningSpeech.allClear(event: r.event, info: info), voice: .northern, title: title, by: actor).item
        let service = BroadcastService(db, clock: clock)
        let request = service.emergencyRequest(title: title, programme: .media(sha256: speech.sha256), duration: speech.duration, target: target,
                                               volume: nil)
        let item = try service.create(request, status: .approved, actor: actor)
        try repo.recordPlay(WarningPlay(alertID: r.id, number: 0, kind: .allClear, itemID: item.id, dueAt: now, madeAt: clock.now()))
    }

    /// An approver cancels a warning in force from WardFleet (console, API, `wardfleet warnings cancel`):
    /// the same as a CAP Cancel — no more repeats, what plays is stopped, the all-clear when the policy
    /// says so — with who did it recorded.
    public func cancel(_ id: Int64, by userName: String, reason: String? = nil) async throws -> WarningRecord {
        let user = try BroadcastRepository(db).user(userName)
        guard user.role.canApprove else { throw ApprovalError.notAllowed(user: user.name, role: user.role, action: .cancel) }
        let repo = WarningRepository(db)
        let w = try repo.get(id)
        guard w.state == .active, w.msgType != .cancel else { throw WarningCancelRefusal.notInForce(id, w.state) }
        let now = clock.now()
        guard try end(w, .cancelled, at: now, by: user.name, actor: user.name) else { throw WarningCancelRefusal.notInForce(id, w.state) }
        tally("cancelled.operator")
        try await allClear(w, info: nil, actor: user.name, now: now)
        return try repo.get(id)
    }

    /// The alert's upstream bulletin: spoken text rendered once, stored in the inbox, and for an emergency
    /// put on air at once on the targeted villages' and sites' speakers.
    func broadcast(_ plan: WarningPlan, record: WarningRecord, user: String, now: Date,
                   beforeOnAir: () throws -> Void = {}) async throws -> Int64 {
        let actor = Self.actor(user)
        let title = "Cảnh báo \(plan.risk.rawValue)/5: \(plan.info.event)".nfc
        let (speech, audioNote) = try await programme(for: plan, title: title, actor: actor)
        let programme = Programme.media(sha256: speech.sha256)
        let upstream = UpstreamRepository(db)
        var (b, _) = try upstream.receive(UpstreamBulletin(
            source: Self.bulletinSource, sourceID: "\(record.sender)/\(record.identifier)", title: title, level: plan.level,
            communes: plan.targets.communes, programme: programme, duration: speech.duration, receivedAt: now))
        try beforeOnAir()
        guard plan.level == .emergency else { return b.id }
        do {
            let service = BroadcastService(db, clock: clock)
            let target = plan.targets.broadcastTarget(devices: try DeviceRepository(db).list())
            let request = service.emergencyRequest(title: title, programme: programme, duration: speech.duration, target: target, volume: nil)
            let item = try service.create(request, status: .approved, actor: actor)
            try upstream.setStatus(b.id, .onAir, item: item.id, by: actor, at: now, detail: audioNote)
            // The first play, then the plan: the repeater sees a plan only with its first play made.
            let repo = WarningRepository(db)
            try repo.recordPlay(WarningPlay(alertID: record.id, number: 1, kind: .play, itemID: item.id, dueAt: now, madeAt: clock.now()))
            try repo.setPlan(record.id, RepetitionPlan(anchor: now, interval: plan.repeatInterval, until: plan.expires))
        } catch {
            try upstream.setStatus(b.id, .failed, item: nil, by: actor, at: now, detail: "\(error)")
        }
        b = try upstream.get(b.id)
        return b.id
    }
}
