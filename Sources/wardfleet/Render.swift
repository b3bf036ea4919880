import Foundation
import WardController
import WardDomain
import WardStorage

/// Plain text tables that stay aligned with Vietnamese diacritics (NFC: one character each).
enum Table {
    static func print(header: [String], rows: [[String]]) {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c + String(repeating: " ", count: max(0, widths[i] - c.count)) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        Swift.print(line(header))
        Swift.print(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
        for r in rows { Swift.print(line(r)) }
    }
}

enum Render {
    static let cal = LocalCalendar.vietnam

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "—" }

    static func duration(_ s: TimeInterval) -> String {
        let s = Int(s)
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) ph \(s % 60) s" }
        if s < 86_400 { return "\(s / 3600) h \(s % 3600 / 60) ph" }
        return "\(s / 86_400) ng \(s % 86_400 / 3600) h"
    }

    static func counts(_ c: StateCounts) -> [String] {
        ["\(c.total)", "\(c.ok)", "\(c.degraded)", "\(c.offline)", "\(c.unknown)"]
    }

    static func health(_ r: HealthReport) {
        print("TÌNH TRẠNG THIẾT BỊ / FLEET HEALTH — \(cal.display(r.generatedAt)) (giờ Việt Nam / Asia/Ho_Chi_Minh)")
        if !r.controllerRunning {
            let since = r.controllerLastAlive.map { "từ / since \(cal.display($0))" } ?? "chưa từng chạy / never ran"
            print("⚠ Bộ điều khiển không chạy \(since): trạng thái có thể đã cũ / controller not running: states may be stale")
        } else if let link = r.controllerLink, !link.connected {
            let since = link.since.map { " từ / since \(cal.display($0))" } ?? ""
            print("⚠ Bộ điều khiển mất kết nối tới MQTT broker\(since): trạng thái có thể đã cũ / controller has no broker connection: states may be stale")
        }
        print("")
        let stateHeader = ["Tổng/Total", "Tốt/OK", "Suy giảm/Degraded", "Mất KN/Offline", "Chưa rõ/Unknown",
                           "Sẵn sàng/Availability"]
        print("Sẵn sàng / availability: \(cal.display(r.window.start)) – \(cal.display(r.window.end))")
        Table.print(header: ["Loại / Class"] + stateHeader,
                    rows: DeviceClass.allCases.compactMap { c in
                        r.byClass[c.rawValue].map {
                            ["\(c.vietnamese) / \(c.english)"] + counts($0) + [percent(r.uptimeByClass[c.rawValue]?.availability)]
                        }
                    } + [["Tất cả / All"] + counts(r.counts) + [percent(r.uptime.availability)]])
        print("")
        Table.print(header: ["Thôn / Village"] + stateHeader,
                    rows: r.byVillage.map { g in
                        let communeSites = r.byCommune.contains { $0.id == g.id }
                        return [communeSites ? "\(g.name): điểm cấp xã / commune sites" : g.name]
                            + counts(g.counts) + [percent(g.uptime.availability)]
                    }
                        + r.byCommune.map { ["Cả \($0.name) / whole commune"] + counts($0.counts) + [percent($0.uptime.availability)] })
        print("")
        if r.problems.isEmpty {
            print("✓ Không có thiết bị lỗi hoặc mất kết nối / nothing offline or degraded"
                  + (r.counts.unknown > 0 ? " (\(r.counts.unknown) chưa rõ, chờ tín hiệu / unknown, waiting to be heard)" : ""))
        } else {
            print("CẦN XỬ LÝ / NEEDS ATTENTION (\(r.problems.count))")
            Table.print(header: ["Mã / ID", "Loại / Class", "Thôn / Village", "Trạng thái / State", "Từ / Since", "Đã / For", "Lý do / Reason"],
                        rows: r.problems.map { p in
                            [p.device, p.deviceClass.vietnamese, p.village ?? p.commune ?? "", p.state.vietnamese,
                             cal.display(p.since), duration(r.generatedAt.timeIntervalSince(p.since)),
                             p.state == .unknown ? "chưa từng gửi tín hiệu / never heard since registration"
                                : p.reasons.map(\.text).joined(separator: "; ")]
                        })
        }
        if !r.pending.isEmpty {
            print("\nTHIẾT BỊ LẠ CHỜ DUYỆT / PENDING (unregistered) DEVICES (\(r.pending.count))")
            Table.print(header: ["Mã / ID", "Xã / Commune", "Loại / Class", "Lần cuối / Last seen", "Tin / Msgs"],
                        rows: r.pending.map { [$0.deviceID, $0.communeID, $0.deviceClass ?? "?", cal.display($0.lastSeen), "\($0.messages)"] })
        }
        let rejected = r.counters.filter { $0.key.hasPrefix("rejected.") && $0.value > 0 }.sorted { $0.key < $1.key }
        print("\nTin nhận / messages received: \(r.counters["received"] ?? 0), xử lý / processed: \(r.counters["processed"] ?? 0)"
              + (rejected.isEmpty ? ", bị từ chối / rejected: 0"
                 : ", bị từ chối / rejected: " + rejected.map { "\($0.key.dropFirst(9)) \($0.value)" }.joined(separator: ", ")))
        let ignored = r.counters.filter { $0.key.hasPrefix("ignored.") && $0.value > 0 }.sorted { $0.key < $1.key }
        if !ignored.isEmpty {
            print("Bỏ qua (hợp lệ, loại chưa biết) / ignored (valid, of an unknown type): "
                  + ignored.map { "\($0.key.dropFirst(8)) \($0.value)" }.joined(separator: ", "))
        }
        let claims = r.counters.filter { $0.key.hasPrefix("claims.") && $0.value > 0 }.sorted { $0.key < $1.key }
        if !claims.isEmpty {
            print("Mã nhận tài khoản / claims: " + claims.map { "\($0.key.dropFirst(7)) \($0.value)" }.joined(separator: ", "))
        }
        for x in r.recentRejections.prefix(5) {
            print("  \(cal.display(x.at))  \(x.reason)  \(x.topic)  \(x.detail.prefix(100))")
        }
    }

    static func detail(_ d: DeviceDetail) {
        let dev = d.device
        print("\(dev.id) — \(dev.deviceClass.vietnamese) / \(dev.deviceClass.english)")
        print("Vị trí / Place: " + d.placePath.map(\.name).joined(separator: " › "))
        print("Model: \(dev.model.isEmpty ? "—" : dev.model)   Firmware: \(dev.firmware.isEmpty ? "—" : dev.firmware)   (đăng ký / registered)"
              + (dev.installedOn.map { "   Lắp đặt / installed: \(cal.dayKey($0))" } ?? "")
              + (dev.removedAt.map { "   ĐÃ GỠ / REMOVED \(cal.display($0))" } ?? ""))
        if let r = d.reported {
            print("Model: \(r.model.isEmpty ? "—" : r.model)   Firmware: \(r.firmware.isEmpty ? "—" : r.firmware)   (thiết bị báo / reported)")
            if r.modelMismatch { print("  ⚠ Model khác với đăng ký / model differs from the registered one") }
            if r.firmwareMismatch { print("  ⚠ Firmware khác với đăng ký / firmware differs from the registered one") }
            print("Lệnh thiết bị làm được / Commands it accepts: \(r.capabilities.isEmpty ? "không có / none" : r.capabilities.joined(separator: ", "))")
        } else {
            print("Thiết bị chưa báo model, firmware / not reported yet (no birth heard)")
        }
        let cfg = [dev.config.requiredRetentionDays.map { "lưu trữ yêu cầu / required retention \($0) d" },
                   dev.config.maxVolume.map { "âm lượng tối đa / max volume \($0)" },
                   dev.config.kioskRole.map { "kiosk: \($0.rawValue)" }].compactMap { $0 }
        if !cfg.isEmpty { print("Cấu hình / Config: " + cfg.joined(separator: ", ")) }
        print("")
        print("Trạng thái / State: \(d.state.vietnamese) / \(d.state.rawValue)"
              + (d.since.map { " từ / since \(cal.display($0))" } ?? ""))
        for f in d.faults { print("  • \(f.text)") }
        if let h = d.lastHeard { print("Tín hiệu cuối / Last heard: \(cal.display(h))   Nhịp / heartbeat: \(Int(d.heartbeatSeconds ?? 0)) s   Boot: \(d.bootID ?? "—")") }
        print("\nThời gian hoạt động / Uptime (ok + suy giảm / degraded):")
        for (label, u) in [("24 giờ / 24 h", d.uptime.last24h), ("7 ngày / 7 d", d.uptime.last7d), ("30 ngày / 30 d", d.uptime.last30d)] {
            print("  \(label): \(percent(u.availability))  (tốt/ok \(duration(u.ok)), suy giảm/degraded \(duration(u.degraded)), mất KN/offline \(duration(u.offline)), chưa rõ/unknown \(duration(u.unknown)))")
        }
        if let s = d.cameraStorage {
            print("\nLưu trữ camera / Camera storage:")
            print("  đã dùng / used \(percent(s.usedFraction)); lưu được / retained \(s.retainedDays.map { String(format: "%.1f", $0) } ?? "—") ngày/days (yêu cầu / required \(s.requiredDays))")
            let capacity = s.capacityUnlimited ? "không giới hạn (không ghi) / unlimited (not writing)"
                : "\(s.capacityDays.map { String(format: "%.1f", $0) } ?? "—") ngày/days"
            print("  sức chứa / capacity \(capacity); đầy sau / full in \(s.daysUntilFull.map { String(format: "%.1f", $0) } ?? "∞") ngày/days")
        }
        if !d.kioskDays.isEmpty {
            print("\nMột cửa theo ngày / One-stop by day:")
            Table.print(header: ["Ngày / Day", "Phát / Issued", "Phục vụ / Served", "Chờ TB / Mean wait", "Chờ p90", "Đánh giá / Ratings", "Hài lòng / Satisfied"],
                        rows: d.kioskDays.map { k in
                            [k.day, "\(k.ticketsIssued)", "\(k.ticketsServed)",
                             k.meanWaitSeconds.map { duration($0) } ?? "—", k.p90WaitSeconds.map { duration($0) } ?? "—",
                             "\(k.ratingCount)", percent(k.satisfactionRate)]
                        })
        }
        if !d.rejections.isEmpty {
            print("\nTin bị từ chối gần đây / Recently refused messages (docs/protocol.md §5):")
            for r in d.rejections {
                print("  \(cal.display(r.at))  \(r.reason)  \(r.topic)  \(r.detail.prefix(160))")
            }
        }
        if !d.incidents.isEmpty {
            print("\nSự cố thiết bị báo / Reported incidents:")
            for i in d.incidents {
                let what = i.type == "tamper" ? "bị can thiệp / tampered with" : i.type == "storage_full" ? "ổ lưu trữ đầy / storage full" : i.type
                print("  \(cal.display(i.receivedAt))  \(what)\(i.detail.map { " — \($0)" } ?? "")")
            }
        }
        if let t = d.lastTelemetry {
            print("\nSố liệu gần nhất / Last telemetry\(d.lastTelemetryAt.map { " (\(cal.display($0)))" } ?? ""):\n  \(t)")
        }
        print("\nLịch sử trạng thái / State history (mới nhất trước / newest first):")
        Table.print(header: ["Từ / From", "Đến / To", "Trạng thái / State", "Lý do / Reason"],
                    rows: d.history.map { [cal.display($0.start), $0.end.map(cal.display) ?? "nay / now",
                                           $0.state.vietnamese, $0.faults.map(\.text).joined(separator: "; ")] })
        if !d.reboots.isEmpty {
            print("\nKhởi động lại / Reboots:")
            for r in d.reboots { print("  \(cal.display(r.at))  \(r.previousBoot ?? "?") → \(r.boot)") }
        }
    }
}

import ArgumentParser

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Tình trạng thiết bị theo loại và thôn; thiết bị lỗi, lý do, từ khi nào / Fleet health: what is broken and since when.")
    @OptionGroup var db: DatabaseOptions
    @Option(help: "Availability from this local day, YYYY-MM-DD (default: the last 24 hours).") var from: String?
    @Option(help: "Availability to the end of this local day, YYYY-MM-DD (default: now).") var to: String?
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
        if let remote = try db.remote { return try await remote.run("GET", "/api/v1/health") }
        let now = Date()
        var window: DateInterval?
        if from != nil || to != nil {
            let cal = LocalCalendar.vietnam
            guard let start = from.map({ cal.day(named: $0)?.start }) ?? now.addingTimeInterval(-86_400),
                  let end = to.map({ cal.day(named: $0)?.end }) ?? now, end > start else {
                throw ValidationError("--from/--to: ngày YYYY-MM-DD, from trước to / dates as YYYY-MM-DD, from before to")
            }
            window = DateInterval(start: start, end: end)
        }
        let r = try HealthReport.build(db.open(), now: now, window: window)
        if json { return try printJSON(r) }
        Render.health(r)
    }
}
