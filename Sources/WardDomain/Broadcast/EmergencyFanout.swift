import Foundation

/// Who acts on a commune-wide emergency message (protocol §4, `emergency`).
public enum FanoutAudience: Hashable, Sendable {
    /// Every speaker of the commune.
    case everyone
    /// Only these speakers (sorted ids).
    case only([String])
    /// Every speaker of the commune but these (sorted ids).
    case except([String])

    public var listed: Int {
        switch self {
        case .everyone: 0
        case .only(let ids), .except(let ids): ids.count
        }
    }
}

/// One commune-wide publish of one emergency play.
public struct FanoutPlan: Hashable, Sendable {
    public var commune: String
    public var key: PlayKey
    /// The entry the speakers it reaches add to their agenda (the same their next agenda lists).
    public var entry: AgendaEntry
    public var audience: FanoutAudience
    /// Speakers expected to hear it there: targeted, with this very entry, and announcing the capability.
    public var reached: Set<String>
}

/// Decides which new emergency plays go out as one publish per commune, and to whom (pure).
///
/// A speaker is reached through its commune's topic when its birth announces the capability and
/// its agenda entry for the play is the one the message carries (a speaker still busy with an
/// earlier emergency may be given a later start: it gets its own entry through its agenda).
/// Every targeted speaker also gets the play in its agenda, sent after the fan-out: the fan-out
/// only makes it faster, correctness never depends on it.
public enum EmergencyFanout {
    /// - Parameters:
    ///   - new: emergency entries sent for the first time, by speaker.
    ///   - communeOf: every registered speaker's commune.
    ///   - capable: speakers whose latest birth announces the commune topic.
    public static func plan(new: [String: [AgendaEntry]], communeOf: [String: String], capable: Set<String>) -> [FanoutPlan] {
        struct Play: Hashable { var commune: String; var key: PlayKey }
        var byPlay: [Play: [AgendaEntry: Set<String>]] = [:]
        for (speaker, entries) in new {
            guard let commune = communeOf[speaker] else { continue }
            for e in entries where e.level == .emergency {
                byPlay[Play(commune: commune, key: e.key), default: [:]][e, default: []].insert(speaker)
            }
        }
        guard !byPlay.isEmpty else { return [] }
        var speakersOf: [String: Set<String>] = [:]
        let communes = Set(byPlay.keys.map(\.commune))
        for (s, c) in communeOf where communes.contains(c) { speakersOf[c, default: []].insert(s) }
        var out: [FanoutPlan] = []
        for (play, byEntry) in byPlay {
            // The entry most of them share; on a tie, the earliest start (then the latest start), for a stable choice.
            guard let (entry, group) = byEntry.max(by: { a, b in
                (a.value.count, -a.key.start.timeIntervalSince1970, -a.key.latestStart.timeIntervalSince1970)
                    < (b.value.count, -b.key.start.timeIntervalSince1970, -b.key.latestStart.timeIntervalSince1970)
            }) else { continue }
            let reached = group.intersection(capable)
            guard !reached.isEmpty else { continue }
            let outside = (speakersOf[play.commune] ?? []).subtracting(group)
            let audience: FanoutAudience = outside.isEmpty ? .everyone
                : outside.count < reached.count ? .except(outside.sorted()) : .only(reached.sorted())
            out.append(FanoutPlan(commune: play.commune, key: play.key, entry: entry, audience: audience, reached: reached))
        }
        return out.sorted { ($0.key, $0.commune) < ($1.key, $1.commune) }
    }
}
