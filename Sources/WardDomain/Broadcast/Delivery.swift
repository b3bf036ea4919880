import Foundation

/// One occurrence of an item: what speakers and the playback log talk about.
/// Its id is `ITEM@START`, START the scheduled start in UTC milliseconds.
public struct PlayKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var item: String
    /// Scheduled start (whole milliseconds).
    public var start: Date

    public init(item: String, start: Date) {
        self.item = item
        self.start = Date(timeIntervalSince1970: (start.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    public var startMillis: Int64 { Int64((start.timeIntervalSince1970 * 1000).rounded()) }
    public var id: String { "\(item)@\(startMillis)" }
    public var description: String { id }

    public init?(id: String) {
        guard let at = id.lastIndex(of: "@"), at != id.startIndex, let ms = Int64(id[id.index(after: at)...]), ms >= 0 else {
            return nil
        }
        let item = String(id[..<at])
        guard Identifier.isValid(item) else { return nil }
        self.init(item: item, start: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    public static func < (a: PlayKey, b: PlayKey) -> Bool { (a.start, a.item) < (b.start, b.item) }
}

public struct DeliverySettings: Hashable, Sendable {
    /// How long before its start a play is sent, so media is downloaded in time.
    public var lead: TimeInterval = 600
    /// How late a normal or priority play may still start (media late, speaker busy); an
    /// emergency may start as long as its window lasts.
    public var startGrace: TimeInterval = 60
    /// After a play's scheduled end, how long the log waits for reports before closing it.
    public var closeGrace: TimeInterval = 120

    public init(lead: TimeInterval = 600, startGrace: TimeInterval = 60, closeGrace: TimeInterval = 120) {
        self.lead = lead
        self.startGrace = startGrace
        self.closeGrace = closeGrace
    }
}

/// One entry of one speaker's schedule, as sent to it.
public struct AgendaEntry: Hashable, Sendable {
    public var key: PlayKey
    public var level: BroadcastLevel
    /// When the speaker should start: the scheduled start, or later when it waits behind an item
    /// that must go first.
    public var start: Date
    public var duration: TimeInterval
    /// The speaker does not start it after this.
    public var latestStart: Date
    public var volume: Int?
}

/// What one speaker should do around now: plays to send, and occurrences it will not play.
public struct SpeakerAgenda: Hashable, Sendable {
    public var plays: [AgendaEntry] = []
    /// Occurrences targeted at it that the rules skip, with the play holding the speaker.
    public var skipped: [PlayKey: PlayKey] = [:]
    /// Normal occurrences in its commune's quiet hours (set after they were approved): not played.
    public var quiet: Set<PlayKey> = []

    public init(plays: [AgendaEntry] = [], skipped: [PlayKey: PlayKey] = [:]) {
        self.plays = plays
        self.skipped = skipped
    }

}

/// Turns the approved schedule into each speaker's agenda (pure: the controller publishes it).
public enum DeliveryPlanner {
    /// Agendas of every speaker with something due in [now − longest item − close grace, now + lead].
    /// `audiences` maps item id to the speakers it targets.
    /// `quietHours`: each speaker's commune's quiet hours; normal items do not play in them.
    public static func agendas(items: [BroadcastItem], audiences: [String: Set<String>], now: Date,
                               settings: DeliverySettings = DeliverySettings(), quietHours: [String: QuietHours] = [:],
                               calendar: LocalCalendar = .vietnam) -> [String: SpeakerAgenda] {
        let live = items.filter { !$0.cancelled }
        let longest = live.map(\.duration).max() ?? 0
        let window = DateInterval(start: now.addingTimeInterval(-longest - settings.closeGrace), end: now.addingTimeInterval(settings.lead))
        // Occurrences per item, once; speakers sharing the same set of items share one plan.
        var occurrences: [(BroadcastItem, DateInterval)] = []
        for item in live {
            for iv in item.recurrence.occurrences(of: item.duration, overlapping: window, calendar: calendar) where iv.start >= window.start {
                occurrences.append((item, iv))
            }
        }
        guard !occurrences.isEmpty else { return [:] }
        var itemsOfSpeaker: [String: Set<String>] = [:]
        for id in Set(occurrences.map(\.0.id)) {
            for s in audiences[id] ?? [] { itemsOfSpeaker[s, default: []].insert(id) }
        }
        struct Shared: Hashable { var items: Set<String>; var quiet: QuietHours? }
        var byItemSet: [Shared: SpeakerAgenda] = [:]
        var out: [String: SpeakerAgenda] = [:]
        for (speaker, set) in itemsOfSpeaker {
            let shared = Shared(items: set, quiet: quietHours[speaker])
            if let a = byItemSet[shared] {
                out[speaker] = a
                continue
            }
            var agenda = SpeakerAgenda()
            var mine = occurrences.filter { set.contains($0.0.id) }
            // Quiet hours apply to everything not yet played, whenever they were set: a normal
            // occurrence in them is held back (and logged missed for that reason), not played.
            if let q = shared.quiet {
                mine.removeAll { item, iv in
                    guard item.level == .normal, q.intersects(iv, calendar: calendar) else { return false }
                    if iv.start <= window.end { agenda.quiet.insert(PlayKey(item: item.id, start: iv.start)) }
                    return true
                }
            }
            let plan = Playout.plan(occurrences: mine)
            let byID = Dictionary(mine.map { ($0.0.id, $0.0) }, uniquingKeysWith: { a, _ in a })
            for p in plan {
                let key = PlayKey(item: p.item, start: p.scheduled.start)
                guard p.scheduled.start <= window.end, let item = byID[p.item] else { continue }
                switch p.outcome {
                case .skipped(let by):
                    agenda.skipped[key] = by
                case .plays, .interrupted:
                    let start = p.plays!.start
                    let latest = item.level == .emergency
                        ? p.scheduled.end : max(start, p.scheduled.start).addingTimeInterval(settings.startGrace)
                    // Kept until it may have ended: a speaker that started it late (up to `latest`) plays it
                    // to `latest + duration`. Dropped at its planned end, a newer agenda without it would make
                    // a speaker that started even a moment late stop it short (`interrupted`, `cancelled`).
                    guard start <= window.end, max(latest, start).addingTimeInterval(item.duration) > now else { continue }
                    agenda.plays.append(AgendaEntry(key: key, level: item.level, start: start, duration: item.duration,
                                                    latestStart: latest, volume: item.volume))
                }
            }
            agenda.plays.sort { ($0.start, $0.key) < ($1.start, $1.key) }
            byItemSet[shared] = agenda
            out[speaker] = agenda
        }
        return out
    }
}
