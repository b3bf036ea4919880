import Foundation
import WardDomain
import WardStorage

public enum ReportFormat: String, Sendable, CaseIterable {
    case html, csv, json
}

public enum ReportLanguage: String, Sendable, CaseIterable {
    case vi, en
}

/// Turns a monthly report into what officials file: A4 HTML, CSV for spreadsheets, JSON.
public struct ReportRenderer: Sendable {
    public var language: ReportLanguage
    let calendar = LocalCalendar.vietnam

    public init(language: ReportLanguage = .vi) { self.language = language }

    func t(_ vi: String, _ en: String) -> String { language == .vi ? vi : en }

    public func render(_ r: MonthlyReport, as format: ReportFormat) -> Data {
        switch format {
        case .html: Data(html(r).utf8)
        case .csv: Data(csv(r).utf8)
        case .json: json(r)
        }
    }

    // MARK: JSON

    public func json(_ r: MonthlyReport) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try! e.encode(r)
    }

    // MARK: shared wording

    /// A share as the report's language writes it: "97,2 %" in Vietnamese, "97.2%" in English (the
    /// CSV keeps plain fractions).
    func pct(_ v: Double?) -> String {
        guard let v else { return "—" }
        let n = String(format: "%.1f", v * 100)
        return t(n.replacingOccurrences(of: ".", with: ",") + " %", n + "%")
    }

    func duration(_ s: TimeInterval?) -> String {
        guard let s else { return "—" }
        let m = Int((s / 60).rounded())
        return m >= 60 ? "\(m / 60) \(t("giờ", "h")) \(m % 60) \(t("phút", "min"))" : "\(m) \(t("phút", "min"))"
    }

    func kpiName(_ id: KPIID) -> String { t(id.vietnamese, id.english) }
    func className(_ c: DeviceClass) -> String { t(c.vietnamese, c.english) }
    func met(_ k: KPIValue) -> String { k.met.map { $0 ? t("Đạt", "Met") : t("Chưa đạt", "Not met") } ?? t("Chưa đủ dữ liệu", "No data") }
    func target(_ k: KPIValue) -> String { k.target.map { "\($0.symbol) \(pct($0.value))" } ?? "—" }
    func state(_ s: HealthState) -> String { t(s.vietnamese, s.rawValue) }
    func severity(_ s: AlarmSeverity) -> String { t(s.vietnamese, s.rawValue) }
    func kind(_ k: AlarmKind) -> String { t(k.vietnamese, k.english) }
    func level(_ l: BroadcastLevel) -> String { t(l.vietnamese, l.rawValue) }

    // MARK: HTML

    func esc(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(c)
            }
        }
        return o
    }

    /// Page numbers in the page's bottom margin (CSS Paged Media margin boxes, Chromium 131+); the
    /// `.pagefoot` line repeats the report's name on every printed page where they are not supported.
    var pageCSS: String {
        """
        @page { size: A4; margin: 18mm 15mm 20mm 20mm;
          @bottom-center { content: "\(t("Trang", "Page")) " counter(page) " / " counter(pages); font-size: 9pt; color: #444; } }
        """
    }

    static let css = """
        .doc-head { width: 100%; border: 0; margin: 0 0 10pt; } .doc-head td { border: 0; text-align: center; vertical-align: top; padding: 0 2pt; }
        .doc-head .issuer { width: 42%; } .doc-head .nation { width: 58%; }
        .doc-head b { display: block; } .tieungu { text-decoration: underline; text-underline-offset: 2pt; }
        .rule { display: block; width: 30%; margin: 1pt auto 3pt; border-top: 1px solid #111; }
        .number { margin-top: 4pt; } .dateline { font-style: italic; margin-top: 6pt; }
        h1.title { text-align: center; margin: 6pt 0 0; } .subtitle { text-align: center; font-weight: bold; margin-bottom: 6pt; }
        .provisional { border: 1.5px solid #a40000; color: #a40000; font-weight: bold; text-align: center; padding: 3pt; margin: 6pt 0; }
        .sign { width: 100%; border: 0; margin-top: 16pt; page-break-inside: avoid; } .sign td { border: 0; vertical-align: top; }
        .sign .recipients { width: 45%; font-size: 9pt; } .sign .signer { text-align: center; }
        .sign .space { height: 22mm; } .pagefoot { font-size: 8pt; color: #666; text-align: center; margin-top: 12pt; }
        @media print { .pagefoot { position: fixed; bottom: 0; left: 0; right: 0; margin: 0; text-align: right; } }
        body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt; color: #111; max-width: 190mm; margin: 0 auto; }
        h1 { font-size: 16pt; margin: 0 0 4pt; } h2 { font-size: 13pt; margin: 14pt 0 4pt; border-bottom: 1px solid #999; }
        h3 { font-size: 11pt; margin: 10pt 0 3pt; }
        .meta { color: #444; margin-bottom: 8pt; }
        table { border-collapse: collapse; width: 100%; margin: 4pt 0 8pt; page-break-inside: auto; }
        tr { page-break-inside: avoid; } thead { display: table-header-group; }
        th, td { border: 1px solid #bbb; padding: 2pt 4pt; text-align: left; vertical-align: top; }
        th { background: #eee; } td.n { text-align: right; white-space: nowrap; }
        .met { color: #0a6b2d; font-weight: bold; } .miss { color: #a40000; font-weight: bold; } .na { color: #666; }
        .small { font-size: 9pt; color: #333; }
        section { page-break-inside: auto; } h2 { page-break-after: avoid; }
        @media print { a { color: inherit; text-decoration: none; } .noprint { display: none; } }
        /* On a phone's screen a wide table scrolls in itself; the page never scrolls sideways. */
        @media screen and (max-width: 600px) {
          body { font-size: 10pt; overflow-wrap: anywhere; } table:not(.doc-head):not(.sign) { display: block; overflow-x: auto; }
          .doc-head td, .sign td { display: block; width: auto !important; } td.n { white-space: normal; }
        }
        """

    public func html(_ r: MonthlyReport) -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"\(language.rawValue)\"><head><meta charset=\"utf-8\">"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        h += "<title>\(esc(t("Báo cáo tháng", "Monthly report"))) \(esc(r.month)) — \(esc(r.scopeName))</title>"
        h += "<style>\(pageCSS)\n\(Self.css)</style></head><body>\n"
        h += header(r)
        h += "<h1 class=\"title\">\(esc(t("BÁO CÁO THÁNG", "MONTHLY REPORT"))) \(esc(monthTitle(r.month)))</h1>\n"
        h += "<div class=\"subtitle\">\(esc(t("Tình hình hạ tầng số và hệ thống truyền thanh", "Digital infrastructure and commune radio")))</div>\n"
        if r.provisional {
            h += "<p class=\"provisional\">\(esc(t("Số liệu tạm tính — tháng chưa kết thúc", "Provisional — the month is not over")))</p>\n"
        }
        h += "<div class=\"meta\">\(esc(r.scopeName))<br>\(esc(t("Kỳ báo cáo", "Period"))): \(esc(calendar.displayDay(r.period.start))) – "
        h += "\(esc(calendar.displayDay(r.period.end.addingTimeInterval(-1)))) (\(esc(t("giờ Việt Nam", "Vietnam time"))))<br>"
        h += "\(esc(t("Lập lúc", "Generated"))): \(esc(calendar.display(r.generatedAt))) · \(esc(t("Số liệu do thiết bị báo về, không nhập tay", "Figures from what devices reported, not typed by hand")))</div>\n"

        // Sections are numbered as they appear (I., II., …): one left out leaves no gap.
        var section = 0
        func heading(_ vi: String, _ en: String) -> String {
            section += 1
            return "<h2>\(Self.roman(section)). \(esc(t(vi, en)))</h2>"
        }
        let d = r.kpis.deployment
        h += "<section>\(heading("Chỉ tiêu so với kế hoạch", "KPIs against targets"))\n"
        h += kpiTable(d)
        h += "</section>\n"

        if r.kpis.communes.count > 1 {
            h += "<section>\(heading("Chỉ tiêu theo xã/phường", "KPIs by commune"))<table><thead><tr><th>\(esc(t("Xã/Phường", "Commune")))</th>"
            let cols: [KPIID] = [.loudspeakerCoverage, .villageBulletin, .cameraCoverage, .wifiCoverage, .satisfaction, .broadcastReach]
            for c in cols { h += "<th>\(esc(kpiName(c)))</th>" }
            h += "</tr></thead><tbody>"
            for s in r.kpis.communes {
                h += "<tr><td>\(esc(s.name))</td>"
                for c in cols {
                    let k = s.kpi(c)
                    let cls = k?.met.map { $0 ? "met" : "miss" } ?? "na"
                    h += "<td class=\"n \(cls)\">\(esc(pct(k?.value)))</td>"
                }
                h += "</tr>"
            }
            h += "</tbody></table></section>\n"
        }

        h += "<section>\(heading("Thôn/tổ dân phố", "Villages"))<table><thead><tr><th>\(esc(t("Thôn", "Village")))</th>"
        h += "<th>\(esc(t("Xã", "Commune")))</th><th>\(esc(t("Loa", "Speakers")))</th><th>\(esc(t("Phát chương trình xã", "Commune programme")))</th>"
        h += "<th>\(esc(t("Bản tin thôn", "Village bulletin")))</th><th>\(esc(t("Camera", "Camera")))</th><th>\(esc(t("Lý do chưa đạt", "Why not met")))</th></tr></thead><tbody>"
        let communeNames = Dictionary(r.kpis.communes.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        for v in d.villages {
            h += "<tr><td>\(esc(v.name))</td><td>\(esc(communeNames[v.commune] ?? v.commune))</td><td class=\"n\">\(v.speakers)</td>"
            h += yesNo(v.loudspeakerCovered) + yesNo(v.bulletinPlayed) + yesNo(v.cameraCovered)
            h += "<td class=\"small\">\(esc(v.reasons.map(localise).joined(separator: "; ")))</td></tr>"
        }
        h += "</tbody></table></section>\n"

        h += "<section>\(heading("Thiết bị và độ sẵn sàng", "Devices and availability"))<table><thead><tr>"
        h += "<th>\(esc(t("Loại thiết bị", "Class")))</th><th>\(esc(t("Tổng", "Total")))</th><th>\(esc(state(.ok)))</th><th>\(esc(state(.degraded)))</th>"
        h += "<th>\(esc(state(.offline)))</th><th>\(esc(state(.unknown)))</th><th>\(esc(t("Độ sẵn sàng trong tháng", "Availability in month")))</th></tr></thead><tbody>"
        for c in DeviceClass.allCases {
            let s = r.deviceStates[c] ?? StateCounts()
            h += "<tr><td>\(esc(className(c)))</td><td class=\"n\">\(s.total)</td><td class=\"n\">\(s.ok)</td><td class=\"n\">\(s.degraded)</td>"
            h += "<td class=\"n\">\(s.offline)</td><td class=\"n\">\(s.unknown)</td><td class=\"n\">\(esc(pct(d.uptimeByClass[c]?.availability)))</td></tr>"
        }
        h += "</tbody></table><p class=\"small\">\(esc(t("Trạng thái tại cuối kỳ. Độ sẵn sàng tính theo thời gian thiết bị, thời gian không rõ tính là không sẵn sàng.", "States at the end of the period. Availability is device-time weighted; unknown time counts as unavailable.")))</p></section>\n"

        h += "<section>\(heading("Phát thanh", "Broadcasts"))"
        if r.broadcasts.isEmpty {
            h += "<p>\(esc(t("Không có chương trình nào trong tháng.", "No broadcasts in the month.")))</p>"
        } else {
            h += "<table><thead><tr><th>\(esc(t("Chương trình", "Item")))</th><th>\(esc(t("Mức", "Level")))</th><th>\(esc(t("Phạm vi", "Target")))</th>"
            h += "<th>\(esc(t("Số lần", "Times")))</th><th>\(esc(t("Đã phát / được giao", "Played / targeted")))</th><th>\(esc(t("Tỷ lệ", "Reach")))</th></tr></thead><tbody>"
            for b in r.broadcasts {
                h += "<tr><td>\(esc(b.title))</td><td>\(esc(level(b.level)))</td><td class=\"small\">\(esc(b.target))</td><td class=\"n\">\(b.occurrences)</td>"
                let cut = b.interrupted > 0 ? " " + t("(\(b.interrupted) bị ngắt)", "(\(b.interrupted) interrupted)") : ""
                h += "<td class=\"n\">\(b.played) / \(b.targeted)\(esc(cut))</td><td class=\"n\">\(esc(pct(b.reach)))</td></tr>"
            }
            h += "</tbody></table>"
        }
        h += "</section>\n"

        let a = r.alarms
        h += "<section>\(heading("Cảnh báo", "Alarms"))<table><tbody>"
        h += row(t("Số cảnh báo phát sinh", "Alarms raised"), "\(a.raised)")
        for s in AlarmSeverity.allCases { h += row("— \(severity(s))", "\(a.bySeverity[s.rawValue] ?? 0)") }
        h += row(t("Đã xác nhận", "Acknowledged"), "\(a.acknowledged)")
        h += row(t("Đã hết", "Cleared"), "\(a.cleared)")
        h += row(t("Thời gian xác nhận trung bình", "Mean time to acknowledge"), duration(a.meanTimeToAcknowledge))
        h += row(t("Thời gian khắc phục trung bình", "Mean time to clear"), duration(a.meanTimeToClear))
        h += "</tbody></table>"
        if !a.byKind.isEmpty {
            h += "<table><thead><tr><th>\(esc(t("Loại cảnh báo", "Kind")))</th><th>\(esc(t("Số lần", "Count")))</th></tr></thead><tbody>"
            for (k, n) in a.byKind.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                h += "<tr><td>\(esc(AlarmKind(rawValue: k).map(kind) ?? k))</td><td class=\"n\">\(n)</td></tr>"
            }
            h += "</tbody></table>"
        }
        h += "</section>\n"

        let o = d.oneStop
        h += "<section>\(heading("Bộ phận Một cửa", "One-stop office"))<table><tbody>"
        h += row(t("Số phiếu đã cấp", "Tickets issued"), "\(o.ticketsIssued)")
        h += row(t("Số phiếu bình quân/ngày", "Tickets per day"), o.ticketsPerDay.map { String(format: "%.1f", $0) } ?? "—")
        h += row(t("Thời gian chờ trung bình", "Mean waiting time"), duration(o.meanWaitSeconds))
        h += row(t("Thời gian chờ P90", "P90 waiting time"), duration(o.p90WaitSeconds))
        for l in SatisfactionLevel.allCases { h += row(t(l.vietnamese, l.rawValue), "\(o.ratings[l] ?? 0)") }
        h += row(t("Tỷ lệ hài lòng", "Satisfaction rate"), pct(o.satisfaction))
        h += "</tbody></table></section>\n"

        h += "<section>\(heading("Tồn tại chưa khắc phục", "Open problems"))"
        if r.problems.isEmpty {
            h += "<p>\(esc(t("Không còn tồn tại nào cuối kỳ.", "Nothing open at the end of the period.")))</p>"
        } else {
            h += "<table><thead><tr><th>#</th><th>\(esc(t("Mức", "Severity")))</th><th>\(esc(t("Vấn đề", "Problem")))</th>"
            h += "<th>\(esc(t("Thiết bị / thôn", "Device / village")))</th><th>\(esc(t("Địa điểm", "Place")))</th><th>\(esc(t("Từ", "Since")))</th>"
            h += "<th>\(esc(t("Xác nhận", "Acknowledged")))</th></tr></thead><tbody>"
            for p in r.problems {
                h += "<tr><td class=\"n\">\(p.alarm.map(String.init) ?? "")</td><td>\(esc(severity(p.severity)))</td>"
                h += "<td>\(esc(kind(p.kind)))\(p.detail.isEmpty ? "" : "<br><span class=\"small\">\(esc(p.detail))</span>")</td>"
                h += "<td>\(esc(p.subject))</td><td class=\"small\">\(esc(p.place))</td><td>\(esc(calendar.display(p.since)))</td>"
                h += "<td>\(esc(p.acknowledgedBy ?? "—"))</td></tr>"
            }
            h += "</tbody></table>"
        }
        h += "</section>\n"
        h += signature(r)
        h += "<div class=\"pagefoot\">\(esc(t("Báo cáo tháng", "Monthly report"))) \(esc(monthTitle(r.month))) — \(esc(r.issuer?.body ?? r.scopeName))"
        h += r.provisional ? " — \(esc(t("tạm tính", "provisional")))" : ""
        h += "</div>\n</body></html>\n"
        return h
    }

    static func roman(_ n: Int) -> String {
        let values = [(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
        var n = n, out = ""
        for (v, s) in values { while n >= v { out += s; n -= v } }
        return out
    }

    /// The administrative header of Nghị định 30/2020/NĐ-CP: the issuing body and the report's
    /// number on the left; the national name, the motto (underlined) and the place and date on the right.
    func header(_ r: MonthlyReport) -> String {
        let issuer = r.issuer ?? MonthlyReport.Issuer(body: r.scopeName, parent: nil, place: r.scopeName)
        var h = "<table class=\"doc-head\"><tr><td class=\"issuer\">"
        if let parent = issuer.parent { h += "<span>\(esc(t("UBND \(parent)", "People's Committee of \(parent)").uppercased()))</span>" }
        h += "<b>\(esc(t("ỦY BAN NHÂN DÂN", "PEOPLE'S COMMITTEE OF")))</b><b>\(esc(issuer.body.uppercased()))</b><span class=\"rule\"></span>"
        h += "<div class=\"number\">\(esc(t("Số: …/BC-UBND", "No.: …/BC-UBND")))</div></td>"
        h += "<td class=\"nation\"><b>\(esc(t("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "SOCIALIST REPUBLIC OF VIET NAM")))</b>"
        h += "<b class=\"tieungu\">\(esc(t("Độc lập - Tự do - Hạnh phúc", "Independence - Freedom - Happiness")))</b>"
        h += "<div class=\"dateline\">\(esc(dateLine(place: issuer.place, r.generatedAt)))</div></td></tr></table>\n"
        return h
    }

    /// "Cẩm La, ngày 05 tháng 12 năm 2026": days below 10 and the months 1 and 2 take a leading zero.
    func dateLine(place: String, _ date: Date) -> String {
        let p = calendar.dayKey(date).split(separator: "-").compactMap { Int($0) }
        guard p.count == 3 else { return place }
        let (y, m, d) = (p[0], p[1], p[2])
        let day = d < 10 ? String(format: "%02d", d) : "\(d)"
        let month = m < 3 ? String(format: "%02d", m) : "\(m)"
        let english = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
                       "December"][m - 1]
        return t("\(place), ngày \(day) tháng \(month) năm \(y)", "\(place), \(d) \(english) \(y)")
    }

    /// Recipients on the left; on the right who signs for the committee, with room for the signature and seal.
    func signature(_ r: MonthlyReport) -> String {
        let parent = r.issuer?.parent
        var h = "<table class=\"sign\"><tr><td class=\"recipients\"><b><i>\(esc(t("Nơi nhận:", "Recipients:")))</i></b><br>"
        if let parent { h += "- \(esc(t("UBND \(parent) (b/c);", "People's Committee of \(parent) (for report);")))<br>" }
        h += "- \(esc(t("Lưu: VT.", "Archive.")))</td><td class=\"signer\">"
        h += "<b>\(esc(t("TM. ỦY BAN NHÂN DÂN", "ON BEHALF OF THE PEOPLE'S COMMITTEE")))</b><br><b>\(esc(t("CHỦ TỊCH", "CHAIRPERSON")))</b><br>"
        h += "<i>\(esc(t("(Ký, ghi rõ họ tên, đóng dấu)", "(Signature, full name, seal)")))</i><div class=\"space\"></div>"
        h += "<b>\(esc(t("Họ và tên: ……………………………", "Full name: ……………………………")))</b></td></tr></table>\n"
        return h
    }

    func monthTitle(_ m: String) -> String {
        let p = m.split(separator: "-")
        guard p.count == 2 else { return m }
        return t("\(p[1])/\(p[0])", m)
    }

    /// Reasons are stored "vi / en"; each language shows its half.
    func localise(_ s: String) -> String {
        let parts = s.components(separatedBy: " / ")
        guard parts.count == 2 else { return s }
        return language == .vi ? parts[0] : parts[1]
    }

    func yesNo(_ b: Bool) -> String {
        b ? "<td class=\"met\">\(esc(t("Có", "Yes")))</td>" : "<td class=\"miss\">\(esc(t("Không", "No")))</td>"
    }

    func row(_ k: String, _ v: String) -> String { "<tr><th>\(esc(k))</th><td class=\"n\">\(esc(v))</td></tr>" }

    func kpiTable(_ s: ScopeKPIs) -> String {
        var h = "<table><thead><tr><th>\(esc(t("Chỉ tiêu", "KPI")))</th><th>\(esc(t("Kết quả", "Value")))</th><th>\(esc(t("Mục tiêu", "Target")))</th>"
        h += "<th>\(esc(t("Đánh giá", "Status")))</th><th>\(esc(t("Nơi chưa đạt", "Where it falls short")))</th></tr></thead><tbody>"
        for k in s.kpis {
            let cls = k.met.map { $0 ? "met" : "miss" } ?? "na"
            let counts = k.denominator.map { d in d > 0 && k.id.isCount ? " (\(Int(k.numerator ?? 0))/\(Int(d)))" : "" } ?? ""
            var misses = k.misses.prefix(12).map { "\($0.name): \(localise($0.reason))" }
            if k.misses.count > 12 { misses.append(t("… và \(k.misses.count - 12) nơi khác", "… and \(k.misses.count - 12) more")) }
            if let n = k.note { misses.insert(localise(n), at: 0) }
            h += "<tr><td>\(esc(kpiName(k.id)))<br><span class=\"small\">\(esc(k.id.source))</span></td>"
            h += "<td class=\"n\">\(esc(pct(k.value) + counts))</td><td class=\"n\">\(esc(target(k)))</td><td class=\"\(cls)\">\(esc(met(k)))</td>"
            h += "<td class=\"small\">\(misses.map(esc).joined(separator: "<br>"))</td></tr>"
        }
        return h + "</tbody></table>"
    }

    // MARK: CSV

    func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"\(s.replacingOccurrences(of: "\"", with: "\"\""))\"" : s
    }

    /// One table with a section column, so a spreadsheet can filter it; RFC 4180, UTF-8.
    public func csv(_ r: MonthlyReport) -> String {
        var lines: [[String]] = [["section", "scope", "key", "name", "value", "target", "met", "detail"]]
        func num(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "" }
        for s in [r.kpis.deployment] + (r.kpis.communes.count > 1 ? r.kpis.communes : []) {
            for k in s.kpis {
                lines.append(["kpi", s.id, k.id.rawValue, kpiName(k.id), num(k.value), num(k.target?.value), k.met.map { $0 ? "1" : "0" } ?? "",
                              k.misses.map { "\($0.placeID): \(localise($0.reason))" }.joined(separator: "; ")])
            }
        }
        for v in r.kpis.deployment.villages {
            lines.append(["village", v.commune, v.id, v.name, "", "", "",
                          "\(t("loa", "speakers"))=\(v.loudspeakerCovered ? 1 : 0); \(t("bản tin", "bulletin"))=\(v.bulletinPlayed ? 1 : 0); camera=\(v.cameraCovered ? 1 : 0); " +
                          v.reasons.map(localise).joined(separator: "; ")])
        }
        for c in DeviceClass.allCases {
            let s = r.deviceStates[c] ?? StateCounts()
            lines.append(["devices", r.scope, c.rawValue, className(c), "\(s.total)", "", "",
                          "ok=\(s.ok); degraded=\(s.degraded); offline=\(s.offline); unknown=\(s.unknown)"])
            lines.append(["availability", r.scope, c.rawValue, className(c), num(r.kpis.deployment.uptimeByClass[c]?.availability), "", "", ""])
        }
        for b in r.broadcasts {
            lines.append(["broadcast", r.scope, b.item, b.title, num(b.reach), "", "",
                          "level=\(b.level.rawValue); times=\(b.occurrences); played=\(b.played); interrupted=\(b.interrupted); targeted=\(b.targeted); target=\(b.target)"])
        }
        let a = r.alarms
        lines.append(["alarms", r.scope, "raised", t("Số cảnh báo", "Alarms raised"), "\(a.raised)", "", "",
                      a.bySeverity.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")])
        lines.append(["alarms", r.scope, "mtta_s", t("Thời gian xác nhận TB (giây)", "Mean time to acknowledge (s)"), num(a.meanTimeToAcknowledge), "", "", ""])
        lines.append(["alarms", r.scope, "mttc_s", t("Thời gian khắc phục TB (giây)", "Mean time to clear (s)"), num(a.meanTimeToClear), "", "", ""])
        let o = r.kpis.deployment.oneStop
        lines.append(["one_stop", r.scope, "tickets_issued", t("Số phiếu đã cấp", "Tickets issued"), "\(o.ticketsIssued)", "", "", ""])
        lines.append(["one_stop", r.scope, "tickets_per_day", t("Phiếu/ngày", "Tickets per day"), num(o.ticketsPerDay), "", "", ""])
        lines.append(["one_stop", r.scope, "mean_wait_s", t("Chờ TB (giây)", "Mean wait (s)"), num(o.meanWaitSeconds), "", "", ""])
        lines.append(["one_stop", r.scope, "p90_wait_s", t("Chờ P90 (giây)", "P90 wait (s)"), num(o.p90WaitSeconds), "", "", ""])
        lines.append(["one_stop", r.scope, "satisfaction", t("Tỷ lệ hài lòng", "Satisfaction"), num(o.satisfaction), "", "",
                      SatisfactionLevel.allCases.map { "\($0.rawValue)=\(o.ratings[$0] ?? 0)" }.joined(separator: "; ")])
        for p in r.problems {
            lines.append(["problem", r.scope, p.alarm.map(String.init) ?? "", "\(kind(p.kind)): \(p.subject)", p.severity.rawValue, "", "",
                          "\(p.place); \(p.detail); \(t("từ", "since")) \(calendar.display(p.since))"])
        }
        return lines.map { $0.map(field).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }
}

/// When monthly reports are made by themselves, and where copies go.
public struct ReportScheduleConfiguration: Sendable {
    /// Local day of the month on which last month's report is generated (1…28).
    public var day = 5
    /// Also written here as files (e.g. for a shared folder); nil: kept in the database only.
    public var directory: String?
    public var check: Duration = .seconds(60)

    public init() {}
}

/// Generates last month's report on the configured day (or at the first start after it) and keeps it.
public actor ReportScheduler {
    private let database: WardDatabase
    private let clock: any TimeSource
    private let configuration: ReportScheduleConfiguration
    private let calendar = LocalCalendar.vietnam

    public init(database: WardDatabase, clock: any TimeSource, configuration: ReportScheduleConfiguration) {
        self.database = database
        self.clock = clock
        self.configuration = configuration
    }

    /// The month whose report is due now, if it has not been made yet.
    public func due() throws -> String? {
        let now = clock.now()
        let day = calendar.dayKey(now)  // yyyy-MM-dd
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, parts[2] >= configuration.day else { return nil }
        let (y, m) = parts[1] == 1 ? (parts[0] - 1, 12) : (parts[0], parts[1] - 1)
        let month = String(format: "%04d-%02d", y, m)
        return try ReportRepository(database).has(month: month, scope: "*") ? nil : month
    }

    /// Makes and keeps the due report; returns its month.
    @discardableResult
    public func generateIfDue() throws -> String? {
        guard let month = try due() else { return nil }
        try Self.generate(database, month: month, commune: nil, now: clock.now(), by: "system", directory: configuration.directory)
        return month
    }

    /// Builds one report in every format and language and stores them.
    public static func generate(_ db: WardDatabase, month: String, commune: String?, now: Date, by: String, directory: String?) throws {
        let report = try MonthlyReport.build(db, month: month, commune: commune, now: now)
        let repo = ReportRepository(db)
        for (format, lang) in [(ReportFormat.html, ReportLanguage.vi), (.html, .en), (.csv, .vi), (.csv, .en), (.json, .vi)] {
            let body = ReportRenderer(language: lang).render(report, as: format)
            try repo.save(month: month, scope: report.scope, format: format.rawValue, lang: lang.rawValue, body: body, at: now, by: by)
            if let directory {
                let dir = URL(fileURLWithPath: directory).appendingPathComponent(month)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let scope = report.scope == "*" ? "all" : report.scope
                try body.write(to: dir.appendingPathComponent("bao-cao-\(month)-\(scope)-\(lang.rawValue).\(format.rawValue)"))
            }
        }
    }

    /// Keeps this month's and last month's report roll-ups built: a month's build at its start
    /// reads next to nothing; the first time after an upgrade it is the backfill (once per month).
    public func prepareRollups() throws {
        let now = clock.now()
        guard let this = calendar.month(named: String(calendar.dayKey(now).prefix(7))) else { return }
        let last = calendar.month(named: String(calendar.dayKey(this.start.addingTimeInterval(-1)).prefix(7)))
        for month in [this, last].compactMap({ $0 }) { try ReportRollups(database).build(month: month, now: now) }
    }

    public func run() async {
        while !Task.isCancelled {
            try? prepareRollups()
            _ = try? generateIfDue()
            try? await Task.sleep(for: configuration.check)
        }
    }
}
