import ArgumentParser
import Foundation
import WardController
import WardDomain
import WardStorage

extension TTSVoice: ExpressibleByArgument {}

struct MediaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "Thư viện âm thanh / Audio library: WAV, MP3, OGG (Opus, Vorbis), text-to-speech.",
        subcommands: [Add.self, TTS.self, List.self])

    struct LibraryOptions: ParsableArguments {
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Media folder (default: media/ beside the database).") var mediaDir: String?

        func open() throws -> MediaLibrary { library(try db.open()) }

        /// The library of `database` (already open), in --media-dir or beside the database.
        func library(_ database: WardDatabase, clock: any TimeSource = SystemTimeSource()) -> MediaLibrary {
            let root = mediaDir.map { URL(fileURLWithPath: $0) } ?? MediaLibrary.defaultRoot(databasePath: db.resolved)
            return MediaLibrary(root: root, database: database, clock: clock)
        }
    }

    static func show(_ r: (item: MediaItem, isNew: Bool), json: Bool) throws {
        if json { return try printJSON(r.item) }
        let m = r.item
        print((r.isNew ? "Đã thêm / added" : "Đã có trong thư viện / already in the library")
              + ": \(m.title) — \(m.format.rawValue)/\(m.codec), \(String(format: "%.1f", m.duration)) s, \(m.sizeBytes) B")
        print("sha256 \(m.sha256)")
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Thêm tệp âm thanh / Add an audio file.")
        @OptionGroup var library: LibraryOptions
        @Argument(help: "WAV, MP3 or OGG file.") var file: String
        @Option(help: "Title shown to operators (default: the file name).") var title: String?
        @Option(help: "Who adds it.") var by: String?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try library.db.remote {
                return try await remote.run("POST", "/api/v1/media", query: ["file_name": URL(fileURLWithPath: file).lastPathComponent, "title": title],
                                            raw: try Data(contentsOf: URL(fileURLWithPath: file)))
            }
            try MediaCommand.show(try await library.open().add(file: file, title: title, by: by), json: json)
        }
    }

    struct TTS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tts", abstract: "Tạo bản tin từ văn bản / Render a bulletin from Vietnamese text.")
        @OptionGroup var library: LibraryOptions
        @Option(help: "The text to read.") var text: String
        @Option(help: "northern, central or southern.") var voice: TTSVoice = .northern
        @Option(help: "Title shown to operators (default: the start of the text).") var title: String?
        @Option(help: "Who adds it.") var by: String?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try library.db.remote {
                return try await remote.run("POST", "/api/v1/media/tts", json: ["text": text, "voice": voice.rawValue, "title": title])
            }
            try MediaCommand.show(try await library.open().addSpeech(text, voice: voice, title: title, by: by), json: json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Liệt kê thư viện / List the library.")
        @OptionGroup var library: LibraryOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try library.db.remote { return try await remote.run("GET", "/api/v1/media") }
            let items = try library.open().list()
            if json { return try printJSON(items) }
            if items.isEmpty { return print("Thư viện trống / the library is empty: wardfleet media add FILE") }
            Table.print(header: ["Tên / Title", "Định dạng / Format", "Thời lượng / Length", "Nguồn / Source", "sha256"],
                        rows: items.map { m in
                            let source: String = switch m.source {
                            case .upload(let f): f
                            case .tts(let v, _): "TTS \(v.vietnamese)"
                            }
                            return [m.title, "\(m.format.rawValue)/\(m.codec)", String(format: "%.1f s", m.duration), source,
                                    String(m.sha256.prefix(16)) + "…"]
                        })
        }
    }
}
