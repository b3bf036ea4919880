import Foundation
import WardDomain

/// Finds out what an audio file is, and whether it decodes from start to end.
public protocol AudioProber: Sendable {
    func probe(_ path: String) async throws -> AudioProbe
    /// Throws `MediaRejection.corrupt` unless the first audio stream decodes without error.
    func verifyDecodes(_ path: String) async throws
}

/// Renders text to speech (a WAV file).
public protocol SpeechSynthesizer: Sendable {
    func render(_ text: String, voice: TTSVoice, to path: String) async throws
}

public struct ToolMissing: Error, CustomStringConvertible {
    public var tool: String
    public var package: String
    public var description: String {
        "thiếu \(tool) (apt-get install \(package)) / \(tool) not found (apt-get install \(package))"
    }
}

/// Runs a tool to completion; returns its exit status and what it printed (stdout, or both
/// streams when `mergeErrors`).
func runTool(_ exe: String, _ args: [String], mergeErrors: Bool = false, timeout: Duration = .seconds(600)) async throws
    -> (status: Int32, output: String)
{
    let c = try ChildProcess.spawn(exe, args, stdout: .pipe, stderr: mergeErrors ? .pipe : .null)
    let data = c.output!.readDataToEndOfFile()
    guard let status = await c.wait(timeout: timeout) else {
        await c.terminate(grace: .seconds(1))
        return (-1, "timed out")
    }
    return (status, String(decoding: data, as: UTF8.self))
}

/// Debian's ffprobe and ffmpeg.
public struct FFmpegProber: AudioProber {
    public init() {}

    struct Output: Decodable {
        struct Stream: Decodable {
            var codec_type: String?
            var codec_name: String?
            var sample_rate: String?
            var channels: Int?
        }
        struct Format: Decodable {
            var format_name: String?
            var duration: String?
        }
        var streams: [Stream]?
        var format: Format?
    }

    public func probe(_ path: String) async throws -> AudioProbe {
        guard let ffprobe = ChildProcess.locate("ffprobe") else { throw ToolMissing(tool: "ffprobe", package: "ffmpeg") }
        let (status, out) = try await runTool(ffprobe, [
            "-v", "error", "-show_entries",
            "format=format_name,duration:stream=codec_type,codec_name,sample_rate,channels", "-of", "json", path,
        ])
        guard status == 0, let parsed = try? JSONDecoder().decode(Output.self, from: Data(out.utf8)) else {
            throw MediaRejection.notAudio("ffprobe cannot read it")
        }
        let audio = parsed.streams?.first { $0.codec_type == "audio" }
        return AudioProbe(containers: (parsed.format?.format_name ?? "").split(separator: ",").map(String.init),
                          audioCodec: audio?.codec_name, duration: parsed.format?.duration.flatMap(Double.init),
                          sampleRate: audio?.sample_rate.flatMap(Int.init), channels: audio?.channels)
    }

    public func verifyDecodes(_ path: String) async throws {
        guard let ffmpeg = ChildProcess.locate("ffmpeg") else { throw ToolMissing(tool: "ffmpeg", package: "ffmpeg") }
        let (status, out) = try await runTool(ffmpeg, ["-v", "error", "-nostdin", "-i", path, "-map", "0:a:0", "-f", "null", "-"],
                                              mergeErrors: true)
        let problem = out.split(separator: "\n").first.map(String.init)
        if status != 0 || problem != nil { throw MediaRejection.corrupt(problem ?? "ffmpeg exit \(status)") }
    }
}

/// The speech engine could not read the text: the asker's to rephrase (API 422), not a server fault.
public struct TTSFailure: Refusal {
    public var reason: String
    public var description: String { "không tạo được giọng đọc: \(reason) / text-to-speech failed: \(reason)" }
}

/// espeak-ng with its Vietnamese voices: works offline, on every commune server.
public struct EspeakNG: SpeechSynthesizer {
    /// Words per minute: a little slower than espeak's default, for loudspeakers outdoors.
    public var wordsPerMinute = 150

    public init() {}

    public static func voiceName(_ v: TTSVoice) -> String {
        switch v {
        case .northern: "vi"
        case .central: "vi-vn-x-central"
        case .southern: "vi-vn-x-south"
        }
    }

    public func render(_ text: String, voice: TTSVoice, to path: String) async throws {
        guard let espeak = ChildProcess.locate("espeak-ng") else { throw ToolMissing(tool: "espeak-ng", package: "espeak-ng") }
        var (status, out) = try await speak(espeak, text, voice, path)
        // espeak-ng 1.51 crashes on some punctuation runs (e.g. "»-Ú" at the start): read the same
        // words without the symbols rather than refuse the bulletin.
        if !Self.succeeded(status, path), SpeechText.simplified(text) != text, !SpeechText.simplified(text).isEmpty {
            (status, out) = try await speak(espeak, SpeechText.simplified(text), voice, path)
        }
        guard Self.succeeded(status, path) else {
            throw TTSFailure(reason: out.isEmpty ? "espeak-ng exit \(status), no audio" : out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    private func speak(_ espeak: String, _ text: String, _ voice: TTSVoice, _ path: String) async throws -> (Int32, String) {
        try await runTool(espeak, ["-v", Self.voiceName(voice), "-s", "\(wordsPerMinute)", "-w", path, "--", text], mergeErrors: true,
                          timeout: .seconds(120))
    }

    private static func succeeded(_ status: Int32, _ path: String) -> Bool {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return status == 0 && size > 44  // 44 bytes: a WAV header with no sound
    }
}
