import Crypto
import Foundation
import WardDomain
import WardStorage

/// The audio library: files are checked (format, duration, a full decode), stored once under
/// the SHA-256 of their bytes, and recorded. Devices download by hash and verify it.
public struct MediaLibrary: Sendable {
    public let root: URL
    let repository: MediaRepository
    let prober: any AudioProber
    let speech: any SpeechSynthesizer
    let clock: any TimeSource

    public init(root: URL, database: WardDatabase, prober: any AudioProber = FFmpegProber(),
                speech: any SpeechSynthesizer = EspeakNG(), clock: any TimeSource = SystemTimeSource()) {
        self.root = root
        repository = MediaRepository(database)
        self.prober = prober
        self.speech = speech
        self.clock = clock
    }

    /// Next to the database by default: `<db folder>/media`.
    /// Beside the SQLite file; with PostgreSQL (nodes on several machines), ./media, which a
    /// cluster mounts from shared storage on every node (docs/deployment.md).
    public static func defaultRoot(databasePath: String) -> URL {
        if WardDatabase.isPostgres(databasePath) { return URL(fileURLWithPath: "media") }
        return URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("media")
    }

    public func file(of item: MediaItem) -> URL {
        root.appendingPathComponent(String(item.sha256.prefix(2)))
            .appendingPathComponent("\(item.sha256).\(item.format.fileExtension)")
    }

    public enum AddError: Refusal {
        case notFound(String)
        case emptyText
        case textTooLong(Int)
        public var description: String {
            switch self {
            case .notFound(let p): "không có tệp: \(p) / no such file: \(p)"
            case .emptyText: "văn bản trống / the text is empty"
            case .textTooLong(let n): "văn bản quá dài (\(n) ký tự, tối đa 5000) / text too long (\(n) characters, at most 5000)"
            }
        }
    }

    /// Adds an audio file. Returns the library item and whether it was new.
    public func add(file path: String, title: String? = nil, by user: String? = nil,
                    source: MediaSource? = nil) async throws -> (item: MediaItem, isNew: Bool) {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              (attrs[.type] as? FileAttributeType) == .typeRegular else { throw AddError.notFound(path) }
        let size = (attrs[.size] as? NSNumber)?.int64Value ?? 0
        guard size > 0 else { throw MediaRejection.empty }
        let probe = try await prober.probe(path)
        let (format, codec, duration) = try MediaPolicy.accept(probe).get()
        try await prober.verifyDecodes(path)
        let hash = try Self.sha256(of: path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        let item = MediaItem(sha256: hash, title: (title ?? URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent),
                             format: format, codec: codec, duration: duration, sizeBytes: size,
                             sampleRate: probe.sampleRate, channels: probe.channels,
                             source: source ?? .upload(fileName: name.nfc), addedAt: clock.now(), addedBy: user)
        try store(path, as: file(of: item))
        return try repository.add(item)
    }

    /// Renders Vietnamese text with the chosen regional voice and adds the result.
    public func addSpeech(_ text: String, voice: TTSVoice, title: String? = nil, by user: String? = nil) async throws
        -> (item: MediaItem, isNew: Bool)
    {
        let clean = text.nfc.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !clean.isEmpty else { throw AddError.emptyText }
        guard clean.count <= 5000 else { throw AddError.textTooLong(clean.count) }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-tts-\(UUID().uuidString).wav")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try await speech.render(clean, voice: voice, to: tmp.path)
        return try await add(file: tmp.path, title: title ?? Self.defaultTitle(clean), by: user,
                             source: .tts(voice: voice, text: clean))
    }

    /// The title of a speech item given none: its text on one line, cut after a whole word within
    /// `limit` characters (a single longer word: at the limit) and marked "…" when cut. NFC kept.
    public static func defaultTitle(_ text: String, limit: Int = 60) -> String {
        let line = text.nfc.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        guard line.count > limit else { return line }
        var cut = line.prefix(limit)
        // The character after the cut is a space: the cut already ends a word.
        if line[cut.endIndex] != " ", let space = cut.lastIndex(of: " ") { cut = cut[..<space] }
        let kept = cut.trimmingCharacters(in: CharacterSet.whitespaces.union(.punctuationCharacters))
        return (kept.isEmpty ? String(line.prefix(limit)) : kept).nfc + "…"
    }

    public func list() throws -> [MediaItem] { try repository.list() }
    public func get(_ sha256: String) throws -> MediaItem? { try repository.get(sha256) }

    private func store(_ path: String, as target: URL) throws { try storeContentAddressed(path, as: target) }

    public static func sha256(of path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw AddError.notFound(path) }
        defer { try? h.close() }
        var hasher = SHA256()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// What a person picked to put on air: a library file (its hash or a unique prefix), text to
/// read out, or a stream. One of the three; checks beyond that are the schedule's.
public struct ProgrammeChoice: Sendable {
    public var media: String?
    public var tts: String?
    public var voice: TTSVoice
    public var stream: String?

    public init(media: String? = nil, tts: String? = nil, voice: TTSVoice = .northern, stream: String? = nil) {
        self.media = media
        self.tts = tts
        self.voice = voice
        self.stream = stream
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }
    static let noLibrary = Problem(description: "chưa có thư viện âm thanh / no media library here")

    /// Resolves the choice; text is rendered and added to `library` now. A stream needs no library.
    /// `among`: the files a hash may name (those the asker may see); nil: the whole library.
    public func programme(_ library: MediaLibrary?, among: [MediaItem]? = nil, title: String, by user: String) async throws -> Programme {
        switch (media, tts, stream) {
        case (let m?, nil, nil):
            guard let library else { throw Self.noLibrary }
            let matches = try (among ?? library.list()).filter { $0.sha256.hasPrefix(m.lowercased()) }
            guard matches.count == 1 else {
                throw Problem(description: matches.isEmpty ? "không có tệp âm thanh '\(m)' / no media matching '\(m)'"
                              : "'\(m)' khớp \(matches.count) tệp, ghi dài hơn / matches \(matches.count) items: give more of the hash")
            }
            return .media(sha256: matches[0].sha256)
        case (nil, let text?, nil):
            guard let library else { throw Self.noLibrary }
            return .media(sha256: try await library.addSpeech(text, voice: voice, title: title, by: user).item.sha256)
        case (nil, nil, let s?): return .stream(url: s)
        default: throw Problem(description: "chọn đúng một: media, tts hoặc stream / give exactly one of media, tts, stream")
        }
    }
}

/// Copies a file into a content-addressed store (media, firmware) through a temporary name, so
/// a crash never leaves a half file under a hash it does not match; an existing file is kept.
func storeContentAddressed(_ path: String, as target: URL) throws {
    let fm = FileManager.default
    if fm.fileExists(atPath: target.path) { return }
    try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
    let tmp = target.appendingPathExtension("partial-\(UUID().uuidString.prefix(8))")
    try fm.copyItem(at: URL(fileURLWithPath: path), to: tmp)
    if rename(tmp.path, target.path) != 0 {
        try? fm.removeItem(at: tmp)
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
}
