import Foundation
import WardDomain
import WardStorage

/// The playback log of one local day as officers read it: one row per play per speaker, and the
/// reach of each item, as a whole and per village.
public struct PlaybackLogReport: Sendable, Encodable {
    public struct Row: Sendable, Encodable {
        public var play: String
        public var item: String
        public var title: String
        public var level: BroadcastLevel
        public var scheduledStart: Date
        public var speaker: String
        public var village: String?
        public var villageName: String?
        /// Where the speaker hangs, in words: its village, or its site for a speaker outside any
        /// village (the commune office's).
        public var placeName: String?
        public var outcome: String
        public var outcomeVietnamese: String
        public var deliveredAt: Date?
        public var mediaReadyAt: Date?
        public var startedAt: Date?
        public var endedAt: Date?
        /// Actual start minus scheduled start, seconds.
        public var startOffset: Double?
        public var by: String?
    }

    public struct ItemReach: Sendable, Encodable {
        public var item: String
        public var title: String
        public var level: BroadcastLevel
        public var occurrences: Int
        public var reach: Reach
        public var byVillage: [String: Reach]
    }

    public var day: LocalDay
    public var rows: [Row]
    public var items: [ItemReach]
    /// The names of the villages `byVillage` counts by id; "" for speakers outside any village.
    public var villageNames: [String: String] = [:]
    public static let outsideVillages = "Cấp xã (không thuộc thôn) / commune level (no village)"

    /// Builds the report for plays scheduled on `day` (Asia/Ho_Chi_Minh), optionally one item;
    /// `communes`: only the plays of speakers in these communes (nil: all).
    public static func build(_ db: WardDatabase, day: LocalDay, item: String? = nil, communes: Set<String>? = nil,
                             calendar: LocalCalendar = .vietnam) throws -> PlaybackLogReport {
        let from = calendar.date(day, LocalTime(hour: 0, minute: 0))
        let to = calendar.date(calendar.adding(days: 1, to: day), LocalTime(hour: 0, minute: 0))
        let entries = try PlaybackRepository(db).entries(scheduledFrom: from, to: to, item: item)
        let broadcasts = Dictionary(try BroadcastRepository(db).list(includeCancelled: true).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let tree = try PlaceRepository(db).tree()
        let devices = Dictionary(try DeviceRepository(db).list(includeRemoved: true).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let folded = PlaybackRow.fold(entries).filter { r in
            communes.map { c in devices[r.speaker].flatMap { tree.ancestor(of: $0.siteID, at: .commune)?.id }.map(c.contains) ?? false } ?? true
        }
        func village(_ speaker: String) -> Place? { devices[speaker].flatMap { tree.ancestor(of: $0.siteID, at: .village) } }
        let rows = folded.map { r -> Row in
            let b = broadcasts[r.key.item]
            var by: String?
            if case .interrupted(_, let x) = r.outcome { by = x }
            if case .missed(_, let x) = r.outcome { by = x }
            return Row(play: r.key.id, item: r.key.item, title: b?.item.title ?? r.key.item, level: b?.item.level ?? .normal,
                       scheduledStart: r.key.start, speaker: r.speaker, village: village(r.speaker)?.id, villageName: village(r.speaker)?.name,
                       placeName: village(r.speaker)?.name ?? devices[r.speaker].flatMap { tree[$0.siteID]?.name },
                       outcome: r.outcome.code, outcomeVietnamese: r.outcome.vietnamese, deliveredAt: r.deliveredAt,
                       mediaReadyAt: r.mediaReadyAt, startedAt: r.startedAt, endedAt: r.endedAt, startOffset: r.startOffset, by: by)
        }
        var items: [ItemReach] = []
        for (id, group) in Dictionary(grouping: folded, by: \.key.item).sorted(by: { $0.key < $1.key }) {
            let (total, byVillage) = Reach.of(group) { village($0)?.id }
            let b = broadcasts[id]
            items.append(ItemReach(item: id, title: b?.item.title ?? id, level: b?.item.level ?? .normal,
                                   occurrences: Set(group.map(\.key)).count, reach: total, byVillage: byVillage))
        }
        var names: [String: String] = [:]
        for i in items { for v in i.byVillage.keys { names[v] = v.isEmpty ? outsideVillages : tree[v]?.name ?? v } }
        return PlaybackLogReport(day: day, rows: rows, items: items, villageNames: names)
    }

    /// RFC 4180 CSV, UTF-8, times in Asia/Ho_Chi_Minh; headers Vietnamese / English.
    public func csv(calendar: LocalCalendar = .vietnam) -> String {
        func q(_ s: String?) -> String {
            guard let s else { return "" }
            return s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func t(_ d: Date?) -> String { d.map { calendar.display($0) } ?? "" }
        var out = ["ma_lan_phat/play,ban_tin/item,tieu_de/title,muc/level,gio_du_kien/scheduled,loa/speaker,thon/village,"
            + "ket_qua/outcome,ket_qua_vi,nhan_luc/delivered,tai_xong/media_ready,bat_dau/started,ket_thuc/ended,lech_giay/offset_s,boi/by"]
        for r in rows {
            out.append([q(r.play), q(r.item), q(r.title), r.level.rawValue, t(r.scheduledStart), q(r.speaker), q(r.villageName ?? r.village),
                        r.outcome, q(r.outcomeVietnamese), t(r.deliveredAt), t(r.mediaReadyAt), t(r.startedAt), t(r.endedAt),
                        r.startOffset.map { String(format: "%.3f", $0) } ?? "", q(r.by)].joined(separator: ","))
        }
        return out.joined(separator: "\r\n") + "\r\n"
    }
}
