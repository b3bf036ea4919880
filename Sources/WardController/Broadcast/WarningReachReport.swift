import Foundation
import WardDomain
import WardStorage

/// Proof of reach of one warning (issue 20) as officers and the warning's source read it: per play
/// (the first, each repeat, the all-clear), per village and commune-level site, speaker by speaker —
/// computed from the playback log alone (the lines the radio's own reports are made of), nothing else.
public struct WarningReachReport: Sendable, Encodable {
    public var alert: Int64
    public var sender: String
    public var identifier: String
    public var event: String?
    public var headline: String?
    public var state: WarningRecord.State
    public var stateText: String
    public var riskLevel: Int?
    public var riskColour: String?
    public var riskTextColour: String?
    public var receivedAt: Date
    public var expiresAt: Date?
    public var cancelledBy: String?
    /// TT39 level: an emergency plays at once, a priority one where a commune approves it.
    public var level: BroadcastLevel?
    /// The communes it reaches (within the caller's), by name.
    public var communeNames: [String]
    /// Places it would reach but cannot be targeted (no coordinates or code), "name: reason".
    public var cannotBeTargeted: [String]
    /// The plays to come (repeats the plan still has), while it is in force.
    public var upcoming: [Date]
    public var plays: [WarningReach.Play]
    /// One line per play, in Vietnamese: what the CAP Ack's note carries.
    public var summary: String

    /// `communes`: only what lies in these communes (nil: all); a place outside them is left out.
    public static func build(_ db: WardDatabase, alert id: Int64, communes: Set<String>? = nil, now: Date) throws -> WarningReachReport {
        let w = try WarningRepository(db).get(id)
        let tree = try PlaceRepository(db).tree()
        let devices = Dictionary(try DeviceRepository(db).list(includeRemoved: true).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func mine(_ commune: String?) -> Bool { communes == nil || commune.map { communes!.contains($0) } == true }
        func location(ofPlace p: Place) -> WarningReach.Location {
            WarningReach.Location(id: p.id, name: p.name, level: p.level, commune: tree.ancestor(of: p.id, at: .commune)?.id)
        }
        var memo: [String: WarningReach.Location?] = [:]
        func locate(_ speaker: String) -> WarningReach.Location? {
            if let known = memo[speaker] { return known }
            var out: WarningReach.Location?
            if let d = devices[speaker] {
                let commune = tree.ancestor(of: d.siteID, at: .commune)?.id
                if let v = tree.ancestor(of: d.siteID, at: .village) {
                    out = WarningReach.Location(id: v.id, name: v.name, level: .village, commune: commune)
                } else if let site = tree[d.siteID] {
                    out = WarningReach.Location(id: site.id, name: site.name, level: site.level, commune: commune)
                }
            }
            if let o = out, !mine(o.commune) { out = nil }
            memo[speaker] = out
            return out
        }
        let targeted = (w.targets.villages + w.targets.sites).compactMap { tree[$0] }.map(location(ofPlace:)).filter { mine($0.commune) }
        let log = PlaybackRepository(db)
        let plays = try WarningRepository(db).plays(id).sorted { ($0.kind == .allClear ? 1 : 0, $0.number) < ($1.kind == .allClear ? 1 : 0, $1.number) }
        var reach = WarningReach(alert: id, receivedAt: w.receivedAt, plays: try plays.map { p in
            WarningReach.play(p, rows: PlaybackRow.fold(try log.entries(item: p.itemID)), receivedAt: w.receivedAt, locate: locate,
                              targeted: targeted)
        })
        // A priority warning plays where a commune approved it: per approved item, that item (play 1) and the repeats
        // made from it, each over its communes' targeted places.
        let repo = WarningRepository(db)
        let repeats = Dictionary(grouping: try repo.approvedPlays(id), by: \.approvedItem)
        let broadcasts = BroadcastRepository(db)
        for a in try repo.approvedItemCommunes(id) where a.communes.contains(where: mine) {
            guard let b = try? broadcasts.get(a.item), b.status != .pendingApproval else { continue }
            let first = WarningPlay(alertID: id, number: 1, kind: .play, itemID: a.item, dueAt: b.item.recurrence.firstStart(), madeAt: a.at)
            for p in [first] + (repeats[a.item] ?? []).map(\.play).sorted(by: { $0.number < $1.number }) {
                var play = WarningReach.play(p, rows: PlaybackRow.fold(try log.entries(item: p.itemID)), receivedAt: w.receivedAt,
                                             locate: locate, targeted: targeted.filter { a.communes.contains($0.commune ?? "") })
                play.commune = a.communes.first
                play.communeName = a.communes.map { tree[$0]?.name ?? $0 }.joined(separator: ", ")
                reach.plays.append(play)
            }
        }
        var upcoming = w.state == .active ? (w.plan?.upcoming(after: now, limit: 12).map(\.at) ?? []) : []
        if w.state == .active, w.plan == nil, let r = try repo.approvedRepeating(alert: id).first {
            upcoming = try repo.approvedUpcoming(r, within: communes, after: now)
        }
        return WarningReachReport(alert: id, sender: w.sender, identifier: w.identifier, event: w.event, headline: w.headline, state: w.state,
                                  stateText: w.state.vietnamese, riskLevel: w.risk?.rawValue, riskColour: w.risk?.colour,
                                  riskTextColour: w.risk?.textColour, receivedAt: w.receivedAt, expiresAt: w.expiresAt, cancelledBy: w.cancelledBy,
                                  level: w.level, communeNames: w.targets.communes.filter { mine($0) }.map { tree[$0]?.name ?? $0 },
                                  cannotBeTargeted: w.targets.untargetable.filter { mine($0.commune) }.map {
                                      "\(tree[$0.placeID]?.name ?? $0.placeID): \($0.reason.vietnamese)"
                                  },
                                  upcoming: upcoming, plays: reach.plays, summary: reach.summary)
    }

    // MARK: printable

    /// A4 HTML in Vietnamese, for the disaster-prevention committee (Ban chỉ huy PCTT&TKCN): one table per
    /// play, a row per village or site, and each speaker's outcome, reason and delay.
    public func html(generatedAt: Date) -> String {
        let r = ReportRenderer(language: .vi)
        let cal = LocalCalendar.vietnam
        func e(_ s: String) -> String { r.esc(s) }
        func t(_ d: Date?) -> String { d.map { cal.display($0) } ?? "—" }
        func delay(_ s: Double?) -> String {
            guard let s else { return "—" }
            let n = Int(s.rounded())
            return n >= 60 ? "\(n / 60) phút \(n % 60) giây" : "\(n) giây"
        }
        var h = "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        h += "<title>Báo cáo mức độ tiếp nhận cảnh báo số \(alert)</title>"
        h += "<style>\(r.pageCSS)\n\(ReportRenderer.css)\n.risk { display: inline-block; padding: 1pt 6pt; border-radius: 3pt; }</style></head><body>\n"
        h += "<h1 class=\"title\">BÁO CÁO MỨC ĐỘ TIẾP NHẬN CẢNH BÁO THIÊN TAI</h1>\n"
        h += "<div class=\"subtitle\">\(e(event ?? identifier))</div>\n"
        h += "<div class=\"meta\">"
        if let level = riskLevel, let bg = riskColour, let fg = riskTextColour {
            h += "<span class=\"risk\" style=\"background: \(bg); color: \(fg)\">\(e(RiskLevel(rawValue: level)?.vietnamese ?? ""))</span><br>"
        }
        if let headline { h += "\(e(headline))<br>" }
        if !communeNames.isEmpty { h += "Nơi nhận: \(e(communeNames.joined(separator: ", ")))<br>" }
        h += "Nguồn: \(e(sender)) · Số hiệu: \(e(identifier))<br>"
        h += "Nhận lúc: \(e(t(receivedAt))) · Hết hiệu lực: \(e(t(expiresAt))) · Trạng thái: \(e(stateText))"
        if let cancelledBy { h += " (hủy bởi \(e(cancelledBy)))" }
        h += "<br>Lập lúc: \(e(t(generatedAt))) (giờ Việt Nam) · Số liệu từ nhật ký phát của từng loa, không nhập tay</div>\n"
        if !cannotBeTargeted.isEmpty {
            h += "<p class=\"miss\">Nơi không xác định được vùng (chưa nhận cảnh báo): \(e(cannotBeTargeted.joined(separator: "; ")))</p>\n"
        }
        if plays.isEmpty {
            h += level == .priority && state == .active
                ? "<p>Cảnh báo mức ưu tiên: chờ xã duyệt và lên lịch trong hộp thư, chưa phát trên loa nào.</p>\n"
                : "<p>Cảnh báo này chưa được phát trên loa nào.</p>\n"
        }
        for (i, p) in plays.enumerated() {
            var what = p.kind == .allClear ? "Thông báo hết cảnh báo" : p.number == 1 ? "Lần phát đầu" : "Lần phát lại thứ \(p.number)"
            if let c = p.communeName { what += " tại \(c)" }
            h += "<section><h2>\(ReportRenderer.roman(i + 1)). \(e(what)) — \(e(t(p.dueAt)))</h2>"
            h += "<p>Gửi tới \(p.tally.sent) loa: \(p.tally.played) phát trọn, \(p.tally.interrupted) bị ngắt, \(p.tally.missed) không phát"
            h += p.tally.playing + p.tally.pending > 0 ? ", \(p.tally.playing + p.tally.pending) chưa xong.</p>" : ".</p>"
            h += "<table><thead><tr><th>Thôn / điểm</th><th>Loa</th><th>Kết quả</th><th>Lý do</th><th>Bắt đầu</th>"
            h += "<th>Sau khi nhận cảnh báo</th></tr></thead><tbody>"
            for place in p.places {
                let name = place.level == .village ? place.name : "\(place.name) (cấp xã)"
                if place.speakers.isEmpty {
                    h += "<tr><td>\(e(name))</td><td colspan=\"5\" class=\"miss\">Không có loa nào được gửi</td></tr>"
                    continue
                }
                for (j, s) in place.speakers.enumerated() {
                    let cls = s.outcome == .played || s.outcome == .playing ? "met" : s.outcome == .pending ? "na" : "miss"
                    h += "<tr>"
                    if j == 0 {
                        h += "<td rowspan=\"\(place.speakers.count)\">\(e(name))<br><span class=\"small\">\(place.tally.played)/\(place.tally.sent) phát trọn</span></td>"
                    }
                    h += "<td>\(e(s.id))</td><td class=\"\(cls)\">\(e(s.outcomeText))</td><td>\(e(s.reasonText ?? ""))</td>"
                    h += "<td>\(e(s.startedAt.map { cal.display($0) } ?? "—"))</td><td class=\"n\">\(e(delay(s.delayFromReceipt)))</td></tr>"
                }
            }
            h += "</tbody></table></section>\n"
        }
        if !upcoming.isEmpty {
            h += "<section><h2>Các lần phát lại sắp tới</h2><p>\(upcoming.map { e(cal.display($0)) }.joined(separator: "; "))</p></section>\n"
        }
        h += "<div class=\"pagefoot\">Báo cáo tiếp nhận cảnh báo số \(alert) — \(e(event ?? identifier))</div>\n</body></html>\n"
        return h
    }
}
