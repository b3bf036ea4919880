import Foundation

/// Audio the commune radio plays: accepted containers and codecs.
public enum AudioFormat: String, Codable, Sendable, CaseIterable {
    case wav, mp3, ogg

    public var fileExtension: String { rawValue }
}

/// The three regional Vietnamese voices vendors' systems offer for text-to-speech.
public enum TTSVoice: String, Codable, Sendable, CaseIterable {
    case northern, central, southern

    public var vietnamese: String {
        switch self {
        case .northern: "giọng miền Bắc"
        case .central: "giọng miền Trung"
        case .southern: "giọng miền Nam"
        }
    }
}

/// Where a media item came from.
public enum MediaSource: Hashable, Codable, Sendable {
    case upload(fileName: String)
    case tts(voice: TTSVoice, text: String)
}

/// One audio file of the library, addressed by the SHA-256 of its bytes.
public struct MediaItem: Hashable, Codable, Sendable, Identifiable {
    public var sha256: String
    public var title: String
    public var format: AudioFormat
    public var codec: String
    public var duration: TimeInterval
    public var sizeBytes: Int64
    public var sampleRate: Int?
    public var channels: Int?
    public var source: MediaSource
    public var addedAt: Date
    public var addedBy: String?

    public var id: String { sha256 }

    public init(sha256: String, title: String, format: AudioFormat, codec: String, duration: TimeInterval, sizeBytes: Int64,
                sampleRate: Int?, channels: Int?, source: MediaSource, addedAt: Date, addedBy: String?) {
        self.sha256 = sha256
        self.title = title.nfc
        self.format = format
        self.codec = codec
        self.duration = duration
        self.sizeBytes = sizeBytes
        self.sampleRate = sampleRate
        self.channels = channels
        self.source = source
        self.addedAt = addedAt
        self.addedBy = addedBy
    }
}

/// What a prober (ffprobe) found in a file.
public struct AudioProbe: Hashable, Sendable {
    public var containers: [String]
    public var audioCodec: String?
    public var duration: TimeInterval?
    public var sampleRate: Int?
    public var channels: Int?

    public init(containers: [String], audioCodec: String?, duration: TimeInterval?, sampleRate: Int?, channels: Int?) {
        self.containers = containers
        self.audioCodec = audioCodec
        self.duration = duration
        self.sampleRate = sampleRate
        self.channels = channels
    }
}

public enum MediaRejection: Refusal, Hashable {
    case notAudio(String)
    case unsupported(container: String, codec: String?)
    case noDuration
    case tooShort(TimeInterval)
    case tooLong(TimeInterval)
    case corrupt(String)
    case empty

    public var description: String {
        switch self {
        case .notAudio(let why):
            "không phải tệp âm thanh (\(why)). Chấp nhận: WAV, MP3, OGG (Opus, Vorbis) / not an audio file (\(why)). Accepted: WAV, MP3, OGG (Opus, Vorbis)"
        case .unsupported(let c, let codec):
            "định dạng \(c)\(codec.map { "/\($0)" } ?? "") không được hỗ trợ. Chấp nhận: WAV, MP3, OGG (Opus, Vorbis) / unsupported format \(c)\(codec.map { "/\($0)" } ?? ""). Accepted: WAV, MP3, OGG (Opus, Vorbis)"
        case .noDuration: "không xác định được thời lượng / cannot tell the duration"
        case .tooShort(let d): String(format: "quá ngắn (%.2f s < %.1f s) / too short (%.2f s < %.1f s)", d, MediaPolicy.minimumDuration, d, MediaPolicy.minimumDuration)
        case .tooLong(let d): String(format: "quá dài (%.0f s > %.0f s) / too long (%.0f s > %.0f s)", d, MediaPolicy.maximumDuration, d, MediaPolicy.maximumDuration)
        case .corrupt(let why): "tệp hỏng, không giải mã được (\(why)) / corrupt file, cannot be decoded (\(why))"
        case .empty: "tệp rỗng / empty file"
        }
    }
}

/// What the library accepts.
public enum MediaPolicy {
    public static let minimumDuration: TimeInterval = 0.2
    /// Four hours: longer than any bulletin; a live relay is a stream, not a file.
    public static let maximumDuration: TimeInterval = 4 * 3600

    public static func accept(_ p: AudioProbe) -> Result<(AudioFormat, String, TimeInterval), MediaRejection> {
        guard let codec = p.audioCodec else { return .failure(.notAudio("no audio stream")) }
        let format: AudioFormat
        if p.containers.contains("wav"), codec.hasPrefix("pcm_") {
            format = .wav
        } else if p.containers.contains("mp3"), codec == "mp3" {
            format = .mp3
        } else if p.containers.contains("ogg"), codec == "opus" || codec == "vorbis" {
            format = .ogg
        } else {
            return .failure(.unsupported(container: p.containers.joined(separator: ","), codec: codec))
        }
        guard let d = p.duration, d.isFinite else { return .failure(.noDuration) }
        if d < minimumDuration { return .failure(.tooShort(d)) }
        if d > maximumDuration { return .failure(.tooLong(d)) }
        return .success((format, codec, d))
    }
}

/// Text given to the speech engine.
public enum SpeechText {
    /// The words of `text` with everything but letters, digits, spaces and sentence punctuation
    /// turned into spaces: what a reader says is kept, symbols the engine trips over are not.
    public static func simplified(_ text: String) -> String {
        let kept = text.nfc.unicodeScalars.map { u -> Character in
            let p = u.properties
            if p.isAlphabetic || p.numericType != nil || ".,;:!?".unicodeScalars.contains(u) || p.generalCategory == .nonspacingMark {
                return Character(u)
            }
            return " "
        }
        return String(kept).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
