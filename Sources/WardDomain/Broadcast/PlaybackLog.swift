import Foundation

/// What the playback log (nhật ký phát) records about one play on one speaker.
public enum PlaybackEvent: String, Codable, Sendable, CaseIterable {
    /// The controller sent it to the speaker (or would have: see `missed`).
    case scheduled
    /// The speaker acknowledged receipt.
    case received
    case mediaReady = "media_ready"
    case downloadFailed = "download_failed"
    case started, finished, interrupted, missed

    public var vietnamese: String {
        switch self {
        case .scheduled: "đã gửi lịch"
        case .received: "loa đã nhận"
        case .mediaReady: "đã tải xong"
        case .downloadFailed: "tải lỗi"
        case .started: "bắt đầu phát"
        case .finished: "phát xong"
        case .interrupted: "bị ngắt"
        case .missed: "không phát"
        }
    }

    public var isTerminal: Bool { self == .finished || self == .interrupted || self == .missed }
}

public enum PlaybackReason: String, Codable, Sendable, CaseIterable {
    /// A higher-level item took the speaker (or held it when this one was due).
    case preempted
    case cancelled
    /// The speaker was offline when the play was sent and did not come back in time.
    case offline
    case downloadFailed = "download_failed"
    /// Could not start before its latest start.
    case late
    /// Delivered but the speaker never said whether it played.
    case noReport = "no_report"
    /// Sent, then taken off this speaker by an edit of the target.
    case withdrawn
    case streamFailed = "stream_failed"
    case error
    /// Its time fell in the commune's quiet hours, set after it was approved: not played.
    case quietHours = "quiet_hours"

    /// The reasons a speaker may give; the others are the controller's conclusions.
    public static let deviceReported: Set<PlaybackReason> = [.preempted, .cancelled, .late, .downloadFailed, .streamFailed, .error]

    public var vietnamese: String {
        switch self {
        case .preempted: "bị bản tin cấp cao hơn chen"
        case .cancelled: "đã hủy"
        case .offline: "loa mất kết nối"
        case .downloadFailed: "không tải được tệp"
        case .late: "quá giờ phát"
        case .noReport: "loa không báo cáo"
        case .withdrawn: "đã rút khỏi loa này"
        case .streamFailed: "không nhận được luồng"
        case .error: "lỗi thiết bị"
        case .quietHours: "trong giờ yên tĩnh của xã"
        }
    }
}

/// One line of the append-only playback log.
public struct PlaybackEntry: Hashable, Codable, Sendable {
    public var key: PlayKey
    public var speaker: String
    public var event: PlaybackEvent
    /// When it happened (the speaker's time for its reports).
    public var at: Date
    public var reason: PlaybackReason?
    /// The play that preempted this one.
    public var by: String?
    public var detail: String?

    public init(key: PlayKey, speaker: String, event: PlaybackEvent, at: Date, reason: PlaybackReason? = nil,
                by: String? = nil, detail: String? = nil) {
        self.key = key
        self.speaker = speaker
        self.event = event
        self.at = at
        self.reason = reason
        self.by = by
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey { case play, item, scheduledStart = "scheduled_start", speaker, event, at, reason, by, detail }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key.id, forKey: .play)
        try c.encode(key.item, forKey: .item)
        try c.encode(key.start, forKey: .scheduledStart)
        try c.encode(speaker, forKey: .speaker)
        try c.encode(event, forKey: .event)
        try c.encode(at, forKey: .at)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(by, forKey: .by)
        try c.encodeIfPresent(detail, forKey: .detail)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = PlayKey(id: try c.decode(String.self, forKey: .play)) else {
            throw DecodingError.dataCorruptedError(forKey: .play, in: c, debugDescription: "not ITEM@MILLIS")
        }
        self.init(key: key, speaker: try c.decode(String.self, forKey: .speaker), event: try c.decode(PlaybackEvent.self, forKey: .event),
                  at: try c.decode(Date.self, forKey: .at), reason: try c.decodeIfPresent(PlaybackReason.self, forKey: .reason),
                  by: try c.decodeIfPresent(String.self, forKey: .by), detail: try c.decodeIfPresent(String.self, forKey: .detail))
    }
}

/// The story of one play on one speaker, folded from its log lines.
public struct PlaybackRow: Hashable, Sendable {
    public enum Outcome: Hashable, Sendable {
        /// Not over yet and nothing final known.
        case pending
        case playing
        case finished
        case interrupted(PlaybackReason?, by: String?)
        case missed(PlaybackReason?, by: String?)

        /// Counts for reach: playing now or played through. An interrupted play is not a
        /// completed play: the village heard part of a bulletin.
        public var played: Bool {
            switch self {
            case .playing, .finished: true
            case .pending, .missed, .interrupted: false
            }
        }

        public var code: String {
            switch self {
            case .pending: "pending"
            case .playing: "playing"
            case .finished: "finished"
            case .interrupted(let r, _): "interrupted" + (r.map { ":\($0.rawValue)" } ?? "")
            case .missed(let r, _): "missed" + (r.map { ":\($0.rawValue)" } ?? "")
            }
        }

        public var vietnamese: String {
            switch self {
            case .pending: "chờ phát"
            case .playing: "đang phát"
            case .finished: "đã phát xong"
            case .interrupted(let r, _): "bị ngắt" + (r.map { " (\($0.vietnamese))" } ?? "")
            case .missed(let r, _): "không phát" + (r.map { " (\($0.vietnamese))" } ?? "")
            }
        }
    }

    public var key: PlayKey
    public var speaker: String
    public var scheduledAt: Date?
    public var deliveredAt: Date?
    public var mediaReadyAt: Date?
    public var startedAt: Date?
    public var endedAt: Date?
    public var outcome: Outcome

    /// A play with nothing reported yet.
    public init(key: PlayKey, speaker: String, outcome: Outcome = .pending) {
        self.key = key
        self.speaker = speaker
        self.outcome = outcome
    }

    /// Actual start minus scheduled start, when it started.
    public var startOffset: TimeInterval? { startedAt.map { $0.timeIntervalSince(key.start) } }

    /// Folds log lines (any order, any mix of plays) into one row per play and speaker, sorted.
    public static func fold(_ entries: [PlaybackEntry]) -> [PlaybackRow] {
        var rows: [String: PlaybackRow] = [:]
        for e in entries.sorted(by: { $0.at < $1.at }) {
            let id = e.key.id + "|" + e.speaker
            var r = rows[id] ?? PlaybackRow(key: e.key, speaker: e.speaker, outcome: .pending)
            switch e.event {
            case .scheduled: r.scheduledAt = r.scheduledAt ?? e.at
            case .received: r.deliveredAt = r.deliveredAt ?? e.at
            case .mediaReady: r.mediaReadyAt = r.mediaReadyAt ?? e.at
            case .downloadFailed: break
            case .started:
                r.startedAt = r.startedAt ?? e.at
                if case .pending = r.outcome { r.outcome = .playing }
                if case .missed = r.outcome { r.outcome = .playing }  // a late report beats the controller's guess
            case .finished:
                r.endedAt = e.at
                r.outcome = .finished
            case .interrupted:
                r.endedAt = e.at
                if case .finished = r.outcome {} else { r.outcome = .interrupted(e.reason, by: e.by) }
            case .missed:
                if r.startedAt == nil, case .pending = r.outcome { r.outcome = .missed(e.reason, by: e.by) }
            }
            rows[id] = r
        }
        return rows.values.sorted { ($0.key, $0.speaker) < ($1.key, $1.speaker) }
    }
}

/// Reach of a broadcast: speakers that played it over speakers it was sent to.
public struct Reach: Hashable, Sendable, Codable {
    public var targeted: Int
    public var played: Int
    /// Started but cut off by a more urgent item: neither played nor missed.
    public var interrupted: Int
    public var ratio: Double? { targeted == 0 ? nil : Double(played) / Double(targeted) }

    public init(targeted: Int = 0, played: Int = 0, interrupted: Int = 0) {
        self.targeted = targeted
        self.played = played
        self.interrupted = interrupted
    }

    /// Reach of `rows` as a whole and per village (speakers without a village under "").
    public static func of(_ rows: [PlaybackRow], villageOf: (String) -> String?) -> (total: Reach, byVillage: [String: Reach]) {
        var total = Reach()
        var byVillage: [String: Reach] = [:]
        for r in rows {
            let v = villageOf(r.speaker) ?? ""
            total.targeted += 1
            byVillage[v, default: Reach()].targeted += 1
            if r.outcome.played {
                total.played += 1
                byVillage[v, default: Reach()].played += 1
            } else if case .interrupted = r.outcome {
                total.interrupted += 1
                byVillage[v, default: Reach()].interrupted += 1
            }
        }
        return (total, byVillage)
    }
}

/// How the controller closes a play the speaker said nothing final about.
public enum PlaybackClosure {
    public struct Context: Hashable, Sendable {
        /// The rules currently skip it on this speaker, because of this play.
        public var skippedBy: String?
        public var itemCancelled: Bool
        /// Still on the speaker's agenda (false: its item was cancelled or retargeted).
        public var stillPlanned: Bool
        /// Held back by the commune's quiet hours.
        public var quietHours: Bool

        public init(skippedBy: String? = nil, itemCancelled: Bool = false, stillPlanned: Bool = true, quietHours: Bool = false) {
            self.skippedBy = skippedBy
            self.itemCancelled = itemCancelled
            self.stillPlanned = stillPlanned
            self.quietHours = quietHours
        }
    }

    /// The final line to append for `entries` (all of one play on one speaker), or nil when the
    /// speaker already reported an end.
    public static func close(_ entries: [PlaybackEntry], key: PlayKey, speaker: String, context c: Context, at now: Date) -> PlaybackEntry? {
        guard !entries.contains(where: \.event.isTerminal) else { return nil }
        let events = Set(entries.map(\.event))
        func line(_ e: PlaybackEvent, _ r: PlaybackReason, by: String? = nil) -> PlaybackEntry {
            PlaybackEntry(key: key, speaker: speaker, event: e, at: now, reason: r, by: by)
        }
        if events.contains(.started) { return line(.interrupted, .noReport) }
        if events.contains(.downloadFailed) { return line(.missed, .downloadFailed) }
        if c.quietHours { return line(.missed, .quietHours) }
        if let by = c.skippedBy { return line(.missed, .preempted, by: by) }
        // Never acknowledged and its start has come: it was not connected, so it missed the play whatever
        // became of the item afterwards (cancelled or taken off the agenda after it started).
        if !events.contains(.received), now >= key.start { return line(.missed, .offline) }
        if c.itemCancelled { return line(.missed, .cancelled) }
        if !c.stillPlanned { return line(.missed, .withdrawn) }
        // Never acknowledged: it was not connected from sending until the play was over.
        if !events.contains(.received) { return line(.missed, .offline) }
        return line(.missed, .noReport)
    }
}
