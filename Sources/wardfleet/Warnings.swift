import ArgumentParser
import Foundation
import WardClock
import WardDomain
import WardHTTP
import WardStorage

/// `wardfleet warnings`: disaster warnings (CAP 1.2, docs/warnings.md). For now its sources: who may post
/// alerts to `POST /api/v1/warnings/cap`, with which CAP senders.
struct WarningsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warnings", abstract: "Cảnh báo thiên tai (CAP 1.2) / Disaster warnings (CAP 1.2).",
        subcommands: [Sources.self, Readiness.self], defaultSubcommand: Sources.self)

    struct Sources: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sources", abstract: "Nguồn cảnh báo / Warning sources and the CAP senders each may use.",
            subcommands: [List.self, Add.self, Remove.self], defaultSubcommand: List.self)

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Danh sách / List the sources.")
            @OptionGroup var db: DatabaseOptions
            @Flag(help: "JSON output.") var json = false
            func run() async throws {
                let list = try WarningRepository(try db.open()).sources()
                if json { return try printJSON(list) }
                Table.print(header: ["Mã / Id", "Tên / Name", "Sender CAP"], rows: list.map { [$0.user, $0.name, $0.senders.joined(separator: " ")] })
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "add",
                abstract: "Thêm nguồn hoặc cấp mã mới / Add a source, or give it a new token (the old one stops working).")
            @OptionGroup var db: DatabaseOptions
            @Argument(help: "Mã nguồn / source id, e.g. kttv-quang-ninh.") var id: String
            @Option(help: "Tên / name, e.g. 'Đài KTTV tỉnh Quảng Ninh'.") var name: String
            @Option(help: "A CAP <sender> value this source may use (repeatable).") var sender: [String] = []
            func run() async throws {
                guard Identifier.isValid(id) else { throw ValidationError("mã '\(id)' chỉ dùng chữ, số, '-', '_', '.' / id may only use letters, digits, '-', '_', '.'") }
                let name = name.nfc.trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { throw ValidationError("--name: cần tên / a name is needed") }
                guard !sender.isEmpty else { throw ValidationError("--sender: cần ít nhất một / at least one is needed") }
                for s in sender where s.isEmpty || s.contains(where: { $0.isWhitespace || $0 == "," || $0 == "<" || $0 == "&" }) {
                    throw ValidationError("--sender '\(s)': không được có khoảng trắng, dấu phẩy, < hoặc & / no spaces, commas, < or &")
                }
                let repo = WarningRepository(try db.open())
                let now = Clocks.fromEnvironment().now()
                let created = try repo.source(user: id)?.createdAt ?? now
                let token = OperatorAPI.randomToken("wfw_")
                try repo.saveSource(WarningSource(user: id, name: name, senders: sender, createdAt: created, updatedAt: now),
                                    tokenHash: OperatorAPI.sha256(token))
                print("Đã lưu / Saved: \(id) (\(sender.joined(separator: ", ")))")
                print("Mã truy cập, chỉ hiện một lần / Bearer token, shown once: \(token)")
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove", abstract: "Bỏ nguồn / Remove a source (its token stops working).")
            @OptionGroup var db: DatabaseOptions
            @Argument(help: "Mã nguồn / source id.") var id: String
            func run() async throws {
                let repo = WarningRepository(try db.open())
                guard try repo.source(user: id) != nil else { throw ValidationError("không có nguồn \(id) / no source \(id)") }
                try repo.deleteSource(user: id)
                print("Đã bỏ / Removed: \(id)")
            }
        }
    }
}
