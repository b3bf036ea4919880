import ArgumentParser
import Foundation
import WardClock
import WardDomain
import WardStorage

/// `wardfleet backup FILE`: an online, checked backup of the database (SQLite or PostgreSQL).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Sao lưu cơ sở dữ liệu khi đang chạy / Back the database up while it runs (checked, with row counts).",
        discussion: """
            SQLite: VACUUM INTO reads one consistent snapshot while the controller keeps writing; the copy is \
            checked (PRAGMA integrity_check, foreign_key_check) and counted before it becomes FILE. PostgreSQL: \
            pg_dump in the custom format, read back whole by pg_restore and counted. FILE must not exist.
            """)

    @Argument(help: "Tệp sao lưu / Backup file to write (must not exist).") var file: String
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Print the summary as JSON.") var json = false

    func run() async throws {
        try db.requireLocal()
        let summary: BackupSummary
        do {
            summary = try DatabaseBackup.backup(db.resolved, to: file, now: Clocks.fromEnvironment().now())
        } catch let e as BackupError {
            throw ValidationError("sao lưu thất bại / backup failed: \(e.message)")
        }
        if json { return try printJSON(summary) }
        print("Đã sao lưu / Backed up: \(summary.file)")
        print("  \(BackupText.size(summary.bytes)), \(String(format: "%.1f", summary.seconds)) s, lúc / at \(BackupText.local(summary.takenAt))")
        print("  Kiểm tra / Checks: \(summary.checks.map { "\($0) ok" }.joined(separator: ", "))")
        print("  Lược đồ / Schema: \(summary.schema ?? "—")")
        BackupText.counts(summary.counts)
    }
}

/// `wardfleet restore FILE`: puts a backup in place of the database, the previous one kept aside.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Khôi phục từ bản sao lưu / Restore the database from a backup (the previous one is kept aside).",
        discussion: """
            The backup is checked first; a database a controller is using is refused (stop the controller first). \
            An older backup is brought up to this version's schema. The restored row counts must equal the backup's.
            """)

    @Argument(help: "Tệp sao lưu / Backup file (from `wardfleet backup`).") var file: String
    @OptionGroup var db: DatabaseOptions
    @Flag(help: "Restore even though a controller run looks alive (it crashed, or its clock is wrong). A process holding the database open is still refused.")
    var force = false
    @Flag(help: "Print the summary as JSON.") var json = false

    func run() async throws {
        try db.requireLocal()
        let summary: RestoreSummary
        do {
            summary = try DatabaseBackup.restore(file, to: db.resolved, force: force, now: Clocks.fromEnvironment().now())
        } catch let e as BackupError {
            throw ValidationError("khôi phục thất bại, cơ sở dữ liệu không đổi / restore failed, the database is unchanged: \(e.message)")
        }
        if json { return try printJSON(summary) }
        print("Đã khôi phục / Restored: \(summary.target) (\(String(format: "%.1f", summary.seconds)) s)")
        if let kept = summary.previousKeptAs {
            print("  Cơ sở dữ liệu cũ giữ lại ở / The previous database is kept as: \(kept)")
        }
        if summary.schemaBefore != summary.schemaAfter {
            print("  Lược đồ nâng cấp / Schema upgraded: \(summary.schemaBefore ?? "—") → \(summary.schemaAfter ?? "—")")
        } else {
            print("  Lược đồ / Schema: \(summary.schemaAfter ?? "—")")
        }
        print("  Số dòng khớp bản sao lưu / Row counts match the backup:")
        BackupText.counts(summary.counts)
    }
}

enum BackupText {
    /// The tables a technician recognises, in words; the rest are summed.
    static let main: [(String, String)] = [
        ("places", "địa bàn / places"), ("devices", "thiết bị / devices"), ("state_intervals", "lịch sử trạng thái / state history"),
        ("telemetry_samples", "số liệu đo / telemetry samples"), ("telemetry_blocks", "giờ số liệu đo đã nén / packed telemetry hours"),
        ("device_events", "sự kiện thiết bị / device events"),
        ("playback_log", "nhật ký phát / playback log"), ("broadcast_items", "lịch phát / broadcast items"), ("media", "tệp âm thanh / media"),
        ("alarms", "cảnh báo / alarms"), ("notifications", "thông báo / notifications"), ("users", "người dùng / users"),
        ("audit_log", "nhật ký thao tác / audit log"), ("monthly_reports", "báo cáo tháng / monthly reports"),
    ]

    static func counts(_ counts: [String: Int64]) {
        let named = Set(main.map(\.0))
        var rows = main.compactMap { key, label in counts[key].map { ["  " + label, number($0)] } }
        let others = counts.filter { !named.contains($0.key) }
        rows.append(["  bảng khác / other tables (\(others.count))", number(others.values.reduce(0, +))])
        rows.append(["  tổng / total (\(counts.count))", number(counts.values.reduce(0, +))])
        Table.print(header: ["  Bảng / Table", "Số dòng / Rows"], rows: rows)
    }

    /// 1.234.567 (Vietnamese grouping).
    static func number(_ n: Int64) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0, (s.count - i) % 3 == 0 { out.append(".") }
            out.append(c)
        }
        return out
    }

    static func size(_ bytes: Int64) -> String {
        bytes >= 1 << 20 ? String(format: "%.1f MB", Double(bytes) / 1_048_576).replacingOccurrences(of: ".", with: ",")
            : String(format: "%.0f kB", Double(bytes) / 1024)
    }

    static func local(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "vi_VN")
        f.timeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh")
        f.dateFormat = "dd/MM/yyyy HH:mm:ss"
        return f.string(from: d) + " (giờ Việt Nam / Vietnam time)"
    }
}
