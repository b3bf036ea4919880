import Foundation
import WardDomain
import WardStorage

/// One play of one item as it reaches its speakers, for a console that watches it live (an
/// emergency's "12 / 15 loa đã nhận"): the speakers it is for, and how far each has got.
public struct DeliveryStatus: Sendable, Encodable {
    public struct Speaker: Sendable, Encodable {
        public var deviceID: String
        public var villageID: String?
        public var villageName: String?
        /// pending, playing, finished, interrupted, missed.
        public var outcome: String
        /// Why it was interrupted or missed (PlaybackReason), when known.
        public var reason: String?
        /// Whether the speaker has reported anything for this play (received, started, finished…).
        public var acknowledged: Bool
        public var receivedAt: Date?
        public var mediaReadyAt: Date?
        public var startedAt: Date?
        public var endedAt: Date?
        /// Actual start minus scheduled start.
        public var lateSeconds: Double?
    }

    public struct Counts: Sendable, Encodable {
        /// N: speakers the play is for.
        public var targeted = 0
        /// n: speakers that reported receiving, starting or finishing it.
        public var acknowledged = 0
        public var started = 0
        public var finished = 0
        public var missed = 0
        public var interrupted = 0
        public var pending = 0
    }

    public var item: String
    public var title: String
    public var level: BroadcastLevel
    public var status: BroadcastStatus
    /// The play shown (ITEM@MILLIS) and its scheduled start; nil before any is sent.
    public var play: String?
    public var scheduledStart: Date?
    public var counts: Counts
    public var speakers: [Speaker]

    /// The play of `b` starting at `start`, or else the latest one already due (the next one when
    /// none is due yet). Speakers: those the play was sent to, and, while it is being sent, those its
    /// target names now; `communes`: only speakers of these (nil: all).
    public static func build(_ db: WardDatabase, item b: ScheduledBroadcast, start: Date?, communes: Set<String>?, now: Date) throws -> DeliveryStatus {
        let tree = try PlaceRepository(db).tree()
        let devices = try DeviceRepository(db).list(includeRemoved: true)
        let byID = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let rows = PlaybackRow.fold(try PlaybackRepository(db).entries(item: b.id))
        let keys = Set(rows.map(\.key))
        let chosen: PlayKey? = if let start { PlayKey(item: b.id, start: start) } else {
            keys.filter { $0.start <= now }.max() ?? keys.min()
        }
        var mine = rows.filter { $0.key == chosen }
        // A play not sent yet (the agenda is on its way): the speakers its target names now, pending.
        if mine.isEmpty, !b.item.cancelled {
            let r = b.item.recurrence
            let fallback = chosen ?? PlayKey(item: b.id, start: r.nextStart(after: now - 1) ?? LocalCalendar.vietnam.date(r.firstDay, r.startTime))
            let directory = SpeakerDirectory(tree: tree, devices: devices, groups: try BroadcastRepository(db).groups())
            mine = directory.resolve(b.item.target).speakers.sorted().map { PlaybackRow(key: fallback, speaker: $0, outcome: .pending) }
        }
        let key = mine.first?.key ?? chosen
        func commune(_ s: String) -> String? { byID[s].flatMap { tree.ancestor(of: $0.siteID, at: .commune)?.id } }
        mine = mine.filter { r in communes.map { c in commune(r.speaker).map(c.contains) ?? false } ?? true }
        var counts = Counts()
        let speakers = mine.sorted { $0.speaker < $1.speaker }.map { r -> Speaker in
            let village = byID[r.speaker].flatMap { tree.ancestor(of: $0.siteID, at: .village) }
            var outcome = "pending", reason: PlaybackReason?
            switch r.outcome {
            case .pending: outcome = "pending"; counts.pending += 1
            case .playing: outcome = "playing"
            case .finished: outcome = "finished"; counts.finished += 1
            case .interrupted(let why, _): outcome = "interrupted"; reason = why; counts.interrupted += 1
            case .missed(let why, _): outcome = "missed"; reason = why; counts.missed += 1
            }
            let acknowledged = r.deliveredAt != nil || r.mediaReadyAt != nil || r.startedAt != nil || r.outcome == .finished
            counts.targeted += 1
            if acknowledged { counts.acknowledged += 1 }
            if r.startedAt != nil { counts.started += 1 }
            return Speaker(deviceID: r.speaker, villageID: village?.id, villageName: village?.name, outcome: outcome, reason: reason?.rawValue,
                           acknowledged: acknowledged, receivedAt: r.deliveredAt, mediaReadyAt: r.mediaReadyAt, startedAt: r.startedAt,
                           endedAt: r.endedAt, lateSeconds: r.startOffset)
        }
        return DeliveryStatus(item: b.id, title: b.item.title, level: b.item.level, status: b.status, play: key?.id,
                              scheduledStart: key?.start, counts: counts, speakers: speakers)
    }
}
