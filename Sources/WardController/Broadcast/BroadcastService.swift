import Foundation
import WardDomain
import WardStorage

/// Why a schedule request was refused, in words an officer can act on.
public enum ScheduleRefusal: Refusal {
    case conflicts([String])
    case invalid(String)

    public var description: String {
        switch self {
        case .conflicts(let lines):
            "Không thể lên lịch: / cannot schedule:\n" + lines.map { "  • \($0)" }.joined(separator: "\n")
        case .invalid(let why): why
        }
    }
}

/// The broadcast schedule's rules applied to storage: who may, what conflicts, what is recorded.
public struct BroadcastService: Sendable {
    public struct Request: Sendable {
        public var title: String
        public var level: BroadcastLevel
        public var programme: Programme
        /// Required for a stream (its relay window); a media item's own duration otherwise.
        public var duration: TimeInterval?
        public var recurrence: Recurrence
        public var target: BroadcastTarget
        public var volume: Int?
        public var priorityOrder: Int?

        public init(title: String, level: BroadcastLevel, programme: Programme, duration: TimeInterval? = nil,
                    recurrence: Recurrence, target: BroadcastTarget, volume: Int? = nil, priorityOrder: Int? = nil) {
            self.title = title
            self.level = level
            self.programme = programme
            self.duration = duration
            self.recurrence = recurrence
            self.target = target
            self.volume = volume
            self.priorityOrder = priorityOrder
        }
    }

    let db: WardDatabase
    let clock: any TimeSource
    public var horizonDays = 90
    public var calendar = LocalCalendar.vietnam

    public init(_ db: WardDatabase, clock: any TimeSource = SystemTimeSource()) {
        self.db = db
        self.clock = clock
    }

    var repository: BroadcastRepository { BroadcastRepository(db) }

    /// What to do about each target that matched no speaker: a name typed for an id gets the id,
    /// a place without speakers says so, anything else where to find the ids.
    static func nothingToPlayOn(_ unknown: [String], target t: BroadcastTarget, tree: PlaceTree) -> String {
        let lines = unknown.map { u -> (vi: String, en: String) in
            let level: PlaceLevel? = t.villages.contains(u) ? .village : t.communes.contains(u) ? .commune : nil
            guard let level else {
                return t.groups.contains(u) ? ("'\(u)': không có nhóm loa này", "'\(u)': no such speaker group")
                    : ("'\(u)': không có cụm loa mã này", "'\(u)': no speaker with this id")
            }
            if let p = tree[u], p.level == level {
                return ("'\(u)' (\(p.name)) chưa có loa nào", "'\(u)' (\(p.name)) has no speakers")
            }
            if let p = tree.named(u, at: level) {
                return ("'\(u)' là tên, không phải mã: dùng mã '\(p.id)' (\(p.name))", "'\(u)' is a name, not an id: use the id '\(p.id)' (\(p.name))")
            }
            return ("'\(u)': không có \(level.vietnamese.lowercased()) mã này; xem mã trong danh sách địa điểm (places list)",
                    "'\(u)': no \(level.rawValue) with this id; see the ids in the places list (places list)")
        }
        return "không tìm thấy loa: " + lines.map(\.vi).joined(separator: "; ") + " / nothing to play on: " + lines.map(\.en).joined(separator: "; ")
    }

    /// A normal item's plays that a commune's quiet hours hold back (they are logged missed,
    /// never played), for the officer who sets them to see what they block.
    public struct QuietHoursBlock: Encodable, Sendable {
        public var item: String
        public var title: String
        /// Plays held back in the next `days` days.
        public var plays: Int
        public var next: Date
    }

    public func blockedByQuietHours(commune: String, _ q: QuietHours, days: Int = 30) throws -> [QuietHoursBlock] {
        let dir = try directory()
        let now = clock.now()
        let horizon = DateInterval(start: now, duration: Double(days) * 86_400)
        return try repository.list().compactMap { b in
            guard b.item.level == .normal, !b.item.cancelled,
                  dir.resolve(b.item.target).speakers.contains(where: { dir.speakers[$0]?.commune == commune }) else { return nil }
            let held = b.item.recurrence.occurrences(of: b.item.duration, overlapping: horizon, calendar: calendar)
                .filter { $0.start >= now && q.intersects($0, calendar: calendar) }
            guard let first = held.first else { return nil }
            return QuietHoursBlock(item: b.item.id, title: b.item.title, plays: held.count, next: first.start)
        }.sorted { $0.next < $1.next }
    }

    func directory() throws -> SpeakerDirectory {
        SpeakerDirectory(tree: try PlaceRepository(db).tree(), devices: try DeviceRepository(db).list(),
                         groups: try repository.groups())
    }

    /// Names a set of loudspeaker clusters so items can target it; replaces an existing group.
    public func setGroup(_ name: String, speakers: [String], by userName: String) throws {
        let user = try repository.user(userName)
        guard user.role.canSchedule else {
            throw ApprovalError.notAllowed(user: user.name, role: user.role, action: .schedule)
        }
        let clean = name.nfc.trimmingCharacters(in: .whitespaces)
        guard !clean.isEmpty, clean.count <= 100 else {
            throw ScheduleRefusal.invalid("tên nhóm 1–100 ký tự / a group name needs 1–100 characters")
        }
        let known = try directory().speakers
        let unknown = speakers.filter { known[$0] == nil }
        guard unknown.isEmpty, !speakers.isEmpty else {
            throw ScheduleRefusal.invalid(speakers.isEmpty ? "nhóm cần ít nhất một loa / a group needs at least one speaker"
                                          : "không phải cụm loa đang hoạt động / not active speakers: " + unknown.joined(separator: ", "))
        }
        try repository.setGroup(clean, speakers: Set(speakers), by: user.name, at: clock.now())
    }

    public func schedule(_ r: Request, by userName: String) throws -> ScheduledBroadcast {
        let user = try repository.user(userName)
        let status = try Approval.initialStatus(level: r.level, by: user).get()
        return try create(r, status: status, actor: user.name)
    }

    /// An emergency on air now (approvers and admins only): it interrupts whatever plays.
    public func sendEmergency(title: String, programme: Programme, duration: TimeInterval? = nil, target: BroadcastTarget,
                              volume: Int? = nil, by userName: String) throws -> ScheduledBroadcast {
        try schedule(emergencyRequest(title: title, programme: programme, duration: duration, target: target, volume: volume), by: userName)
    }

    func emergencyRequest(title: String, programme: Programme, duration: TimeInterval?, target: BroadcastTarget, volume: Int?) -> Request {
        // Starts are whole seconds: the next one, so the emergency comes strictly after anything
        // already playing (starting with it, the rules would skip that item instead of cutting it).
        let start = Date(timeIntervalSince1970: clock.now().timeIntervalSince1970.rounded(.down) + 1)
        return Request(title: title, level: .emergency, programme: programme, duration: duration,
                       recurrence: .once(calendar.localDay(of: start), at: calendar.localTime(of: start)), target: target, volume: volume)
    }

    /// What scheduling `r` would do, without saving it: the same checks (a refusal is thrown), and
    /// the normal items a priority item would cut, for the officer to see before confirming.
    public func preview(_ r: Request) throws -> (item: BroadcastItem, cuts: [String]) {
        let now = clock.now()
        let dir = try directory()
        let (item, _) = try validate(r, id: "BT-preview", directory: dir)
        if item.level != .emergency {
            try refusePast(item.recurrence, replacing: nil, now: now)
            try refuseConflicts(item, existing: try repository.list(), directory: dir, now: now)
        }
        return (item, try cuts(of: item, directory: dir))
    }

    /// The normal items a priority item cuts (over 90 days), in words: a priority item that
    /// overlaps a normal one on a shared speaker interrupts it or makes it skip.
    public func cuts(of item: BroadcastItem) throws -> [String] { try cuts(of: item, directory: directory()) }

    func cuts(of item: BroadcastItem, directory dir: SpeakerDirectory) throws -> [String] {
        guard item.level == .priority else { return [] }
        let now = clock.now()
        let horizon = DateInterval(start: now, duration: 90 * 86_400)
        let mine = item.recurrence.occurrences(of: item.duration, overlapping: horizon, calendar: calendar)
        let audience = dir.resolve(item.target).speakers
        var out: [String] = []
        for other in try repository.list() where other.item.id != item.id && other.item.level == .normal && !other.item.cancelled {
            let shared = audience.intersection(dir.resolve(other.item.target).speakers)
            guard !shared.isEmpty else { continue }
            let cut = other.item.recurrence.occurrences(of: other.item.duration, overlapping: horizon, calendar: calendar)
                .filter { o in o.end > now && mine.contains { $0.start < o.end && o.start < $0.end } }
            guard let first = cut.first else { continue }
            let when = calendar.display(first.start)
            out.append("sẽ ngắt hoặc làm lỡ bản tin thường '\(other.item.title)' (\(cut.count) lần, lần đầu \(when), trên \(shared.count) loa)"
                + " / will cut or skip the normal item '\(other.item.title)' (\(cut.count) plays, first \(when), on \(shared.count) speakers)")
        }
        return out
    }

    /// Creates an item on behalf of `actor` (a user, or the upstream source system) in `status`.
    /// `id`: the item's id when the caller fixes it (a warning's repeat), otherwise a new one.
    /// `checked` false (a warning's repeat, which nothing may hold back): no past-start or conflict check.
    func create(_ r: Request, status: BroadcastStatus, actor: String, id fixedID: String? = nil, checked: Bool = true) throws -> ScheduledBroadcast {
        let now = clock.now()
        let id = fixedID ?? "BT-\(calendar.localDay(of: now).description.replacingOccurrences(of: "-", with: ""))-"
            + String(UUID().uuidString.prefix(6)).lowercased()
        let dir = try directory()
        let (item, audience) = try validate(r, id: id, directory: dir)
        // An emergency plays now and conflicts with nothing (it preempts): skip reading every item for it.
        if item.level != .emergency, checked {
            try refusePast(item.recurrence, replacing: nil, now: now)
            try refuseConflicts(item, existing: try repository.list(), directory: dir, now: now)
        }
        let b = ScheduledBroadcast(item: item, programme: r.programme, status: status, createdBy: actor, createdAt: now,
                                   approvedBy: status == .approved ? actor : nil, approvedAt: status == .approved ? now : nil)
        try repository.insert(b, detail: "\(r.level.rawValue), \(audience) loa / speakers")
        return b
    }

    /// Checks a request and turns it into an item; returns it with its audience size.
    private func validate(_ r: Request, id: String, directory: SpeakerDirectory) throws -> (BroadcastItem, Int) {
        let title = r.title.nfc.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= 200 else {
            throw ScheduleRefusal.invalid("tiêu đề 1–200 ký tự / the title needs 1–200 characters")
        }
        let duration: TimeInterval
        switch r.programme {
        case .media(let sha):
            guard let m = try MediaRepository(db).get(sha) else {
                throw ScheduleRefusal.invalid("không có tệp âm thanh \(sha) trong thư viện / no media \(sha) in the library")
            }
            duration = m.duration
        case .stream(let url):
            guard Programme.validStreamURL(url) else {
                throw ScheduleRefusal.invalid("địa chỉ luồng phải là http(s): \(url) / the stream address must be http(s): \(url)")
            }
            guard let d = r.duration, d >= 60, d <= 6 * 3600 else {
                throw ScheduleRefusal.invalid("tiếp sóng cần thời lượng 1 phút – 6 giờ / a relay needs a duration of 1 min – 6 h")
            }
            duration = d
        }
        do { try r.recurrence.validate(calendar: calendar) } catch { throw ScheduleRefusal.invalid(error.description) }
        if let v = r.volume, !(0...100).contains(v) {
            throw ScheduleRefusal.invalid("âm lượng 0–100 / volume must be 0–100")
        }
        guard !r.target.isEmpty else { throw ScheduleRefusal.invalid("chưa chọn nơi phát / no target chosen") }
        let resolved = directory.resolve(r.target)
        guard resolved.unknown.isEmpty else {
            throw ScheduleRefusal.invalid(Self.nothingToPlayOn(resolved.unknown, target: r.target, tree: try PlaceRepository(db).tree()))
        }
        let item = BroadcastItem(id: id, title: title, level: r.level, duration: duration, recurrence: r.recurrence,
                                 target: r.target, volume: r.volume, priorityOrder: r.priorityOrder)
        return (item, resolved.speakers.count)
    }

    /// A schedule must have its plays ahead (Recurrence.checkAhead), in the words of the rule.
    private func refusePast(_ r: Recurrence, replacing previous: Recurrence?, now: Date) throws {
        do { try r.checkAhead(of: now, replacing: previous, calendar: calendar) } catch { throw ScheduleRefusal.invalid(error.description) }
    }

    private func refuseConflicts(_ item: BroadcastItem, existing: [ScheduledBroadcast], directory dir: SpeakerDirectory, now: Date) throws {
        let communes = Set(dir.resolve(item.target).speakers.compactMap { dir.speakers[$0]?.commune })
        var problems: [ScheduleConflict] = []
        for commune in communes.sorted() {
            let checker = ScheduleChecker(directory: dir, quietHours: try repository.quietHours(commune: commune),
                                          horizonDays: horizonDays, calendar: calendar)
            problems += checker.conflicts(of: item, with: existing.map(\.item), now: now)
        }
        // Several communes may report the same pair: one line each.
        var seen = Set<String>()
        let titles = Dictionary(existing.map { ($0.id, $0.item.title) }, uniquingKeysWith: { a, _ in a }).merging([item.id: item.title]) { _, b in b }
        let lines = problems.filter { seen.insert("\($0.kind)|\($0.other ?? "")").inserted }
            .map { $0.message(calendar: calendar, titles: titles) }
        if !lines.isEmpty { throw ScheduleRefusal.conflicts(lines) }
    }

    /// What an edit changes; nil fields stay as they are, and so do the parts of the timing it
    /// leaves out (a new first day keeps the time and how the item repeats).
    public struct Edit: Sendable {
        public var title: String?
        public var timing: RecurrenceChange?
        public var target: BroadcastTarget?
        public var volume: Int?
        public var priorityOrder: Int?
        public init(title: String? = nil, timing: RecurrenceChange? = nil, target: BroadcastTarget? = nil, volume: Int? = nil,
                    priorityOrder: Int? = nil) {
            self.title = title
            self.timing = timing
            self.target = target
            self.volume = volume
            self.priorityOrder = priorityOrder
        }
    }

    /// Changes an item's title, times, target or volume; the same checks as a new item apply. An
    /// operator's edit of an approved item sends it back for approval; speakers get the change.
    public func edit(_ id: String, _ e: Edit, by userName: String) throws -> ScheduledBroadcast {
        let user = try repository.user(userName)
        guard user.role.canSchedule else { throw ApprovalError.notAllowed(user: user.name, role: user.role, action: .schedule) }
        let old = try repository.get(id)
        guard old.status != .cancelled else { throw ApprovalError.wrongStatus(item: id, status: old.status, action: .schedule) }
        let r = Request(title: e.title ?? old.item.title, level: old.item.level, programme: old.programme, duration: old.item.duration,
                        recurrence: e.timing?.applied(to: old.item.recurrence) ?? old.item.recurrence, target: e.target ?? old.item.target,
                        volume: e.volume ?? old.item.volume, priorityOrder: e.priorityOrder ?? old.item.priorityOrder)
        let dir = try directory()
        let (item, _) = try validate(r, id: id, directory: dir)
        let now = clock.now()
        if item.level != .emergency { try refusePast(item.recurrence, replacing: old.item.recurrence, now: now) }
        try refuseConflicts(item, existing: try repository.list(), directory: dir, now: now)
        var b = old
        b.item = item
        if !user.role.canApprove, old.item.level != .emergency {
            b.status = .pendingApproval
            b.approvedBy = nil
            b.approvedAt = nil
        } else if b.status == .approved {
            b.approvedBy = user.name
            b.approvedAt = now
        }
        var changed: [String] = []
        if e.title != nil { changed.append("title") }
        if item.recurrence != old.item.recurrence { changed.append("time") }
        if e.target != nil { changed.append("target") }
        if e.volume != nil { changed.append("volume") }
        if e.priorityOrder != nil { changed.append("order") }
        try repository.update(b, by: user.name, at: now, detail: changed.joined(separator: ", ") + " → \(b.status.rawValue)")
        return try repository.get(id)
    }

    public func approve(_ id: String, by userName: String) throws -> ScheduledBroadcast {
        let user = try repository.user(userName)
        let b = try repository.get(id)
        let status = try Approval.approve(b.status, item: id, by: user).get()
        try repository.setStatus(id, to: status, by: user.name, at: clock.now())
        return try repository.get(id)
    }

    public func cancel(_ id: String, by userName: String, reason: String? = nil) throws -> ScheduledBroadcast {
        let user = try repository.user(userName)
        let b = try repository.get(id)
        let status = try Approval.cancel(b.status, item: id, by: user).get()
        try repository.setStatus(id, to: status, by: user.name, at: clock.now(), detail: reason)
        return try repository.get(id)
    }

    /// Occurrences of pending and approved items within `window`, in time order.
    public func upcoming(in window: DateInterval) throws -> [(broadcast: ScheduledBroadcast, at: DateInterval)] {
        try repository.list().flatMap { b in
            b.item.recurrence.occurrences(of: b.item.duration, overlapping: window, calendar: calendar).map { (b, $0) }
        }.sorted { ($0.at.start, $0.broadcast.id) < ($1.at.start, $1.broadcast.id) }
    }
}
