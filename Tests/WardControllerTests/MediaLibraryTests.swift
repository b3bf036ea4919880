import Foundation
import Testing
import WardDomain
import WardStorage
@testable import WardController

/// The library with Debian's real ffmpeg and espeak-ng.
@Suite struct MediaLibraryTests {
    final class World {
        let dir: URL
        let library: MediaLibrary
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-media-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let db = try WardDatabase(path: dir.appendingPathComponent("m.sqlite").path)
            library = MediaLibrary(root: dir.appendingPathComponent("media"), database: db)
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        /// A 2-second tone encoded by ffmpeg.
        func tone(_ name: String, codec: [String] = []) async throws -> String {
            let path = dir.appendingPathComponent(name).path
            let (status, out) = try await runTool(ChildProcess.locate("ffmpeg")!, ["-v", "error", "-nostdin", "-f", "lavfi", "-i",
                                                                          "sine=frequency=440:duration=2"] + codec + [path],
                                                  mergeErrors: true)
            try #require(status == 0, "\(out)")
            return path
        }
    }

    @Test func acceptsWavMp3OggOpusAndVorbisWithTheirDurations() async throws {
        let w = try World()
        for (name, codec, format) in [("a.wav", [String](), AudioFormat.wav), ("a.mp3", [], .mp3),
                                      ("a.opus.ogg", ["-c:a", "libopus"], .ogg), ("a.vorbis.ogg", ["-c:a", "libvorbis"], .ogg)] {
            let path = try await w.tone(name, codec: codec)
            let (item, isNew) = try await w.library.add(file: path, title: "Nhạc hiệu đài xã", by: "can-bo-vh")
            #expect(isNew && item.format == format, "\(name)")
            #expect(abs(item.duration - 2) < 0.1, "\(name): \(item.duration)")
            #expect(item.title == "Nhạc hiệu đài xã" && item.addedBy == "can-bo-vh")
            // Stored under its hash; the stored bytes hash to it.
            let stored = w.library.file(of: item)
            #expect(stored.lastPathComponent == "\(item.sha256).\(format.fileExtension)")
            #expect(try MediaLibrary.sha256(of: stored.path) == item.sha256)
            #expect(try MediaLibrary.sha256(of: path) == item.sha256)
        }
        #expect(try w.library.list().count == 4)
    }

    @Test func theSameBytesAreStoredOnce() async throws {
        let w = try World()
        let path = try await w.tone("x.mp3")
        let first = try await w.library.add(file: path)
        let again = try await w.library.add(file: path, title: "Tên khác")
        #expect(first.isNew && !again.isNew && again.item == first.item)
    }

    @Test func corruptAndUnsupportedUploadsAreRefused() async throws {
        let w = try World()
        let junk = w.dir.appendingPathComponent("junk.mp3").path
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: junk))
        await #expect(throws: MediaRejection.notAudio("ffprobe cannot read it")) { try await w.library.add(file: junk) }

        // Damage in the middle: the container still probes, the decode pass catches it.
        let ogg = try await w.tone("mid.ogg", codec: ["-c:a", "libopus"])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: ogg))
        for i in (bytes.count / 3)..<(bytes.count / 3 + 400) { bytes[i] = bytes[i] &* 7 &+ 13 }
        let damaged = w.dir.appendingPathComponent("damaged.ogg").path
        try bytes.write(to: URL(fileURLWithPath: damaged))
        do {
            _ = try await w.library.add(file: damaged)
            Issue.record("damaged file accepted")
        } catch let r as MediaRejection {
            guard case .corrupt = r else { Issue.record("\(r)"); return }
        }

        let flac = try await w.tone("a.flac")
        await #expect(throws: MediaRejection.unsupported(container: "flac", codec: "flac")) { try await w.library.add(file: flac) }
        let empty = w.dir.appendingPathComponent("empty.wav").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        await #expect(throws: MediaRejection.empty) { try await w.library.add(file: empty) }
        #expect(try w.library.list().isEmpty)
        let stored = (try? FileManager.default.subpathsOfDirectory(atPath: w.library.root.path)) ?? []
        #expect(!stored.contains { $0.hasSuffix(".flac") || $0.hasSuffix(".mp3") || $0.hasSuffix(".ogg") })
    }

    @Test(arguments: TTSVoice.allCases)
    func textToSpeechMakesPlayableAudioInEachVoice(voice: TTSVoice) async throws {
        let w = try World()
        let text = "Thông báo của Ủy ban nhân dân xã Cẩm La: ngày mai tiêm chủng tại Trạm y tế."
        let (item, _) = try await w.library.addSpeech(text, voice: voice, by: "can-bo-vh")
        #expect(item.format == .wav && item.duration > 1)
        #expect(item.source == .tts(voice: voice, text: text))
        #expect(item.title == MediaLibrary.defaultTitle(text) && item.title.hasSuffix("…"))
        // Playable: it probes and decodes from the stored file.
        let p = try await FFmpegProber().probe(w.library.file(of: item).path)
        #expect(p.audioCodec?.hasPrefix("pcm_") == true)
        try await FFmpegProber().verifyDecodes(w.library.file(of: item).path)
    }

    /// espeak-ng crashes (SIGSEGV) on some punctuation runs; schemathesis found one ("»-Ú…"). The
    /// bulletin is read without the symbols rather than failing the request with a server error.
    @Test func textTheEngineCrashesOnIsReadWithoutItsSymbols() async throws {
        let w = try World()
        let (item, _) = try await w.library.addSpeech("»-Úc thông báo: họp lúc 9 giờ.", voice: .northern, by: "can-bo-vh")
        #expect(item.duration > 0.5)
        #expect(SpeechText.simplified("«-Ủy ban» thông báo: 9 giờ!") == "Ủy ban thông báo: 9 giờ!")
        #expect(SpeechText.simplified("Covid-19\u{0097}") == "Covid 19")
    }

    /// Issue 19 item 12: a speech item's default title was cut mid-word ("…xã C").
    @Test func theDefaultTitleOfSpeechEndsOnAWholeWord() {
        let text = "Thông báo của Ủy ban nhân dân xã Cẩm La: ngày mai tiêm chủng tại Trạm y tế."
        let title = MediaLibrary.defaultTitle(text)
        #expect(title.hasSuffix("…") && title.count <= 61, "\(title)")
        let words = title.dropLast()
        #expect(text.hasPrefix(words) && text[text.index(text.startIndex, offsetBy: words.count)] == " ", "\(title)")
        #expect(title == title.precomposedStringWithCanonicalMapping)
        // Cut exactly where Cẩm would have been split: the word is dropped whole.
        #expect(MediaLibrary.defaultTitle("Ủy ban nhân dân xã Cẩm La", limit: 20) == "Ủy ban nhân dân xã…")
        // Decomposed input (NFD) comes out NFC and counted by letters, not code points.
        let nfd = "Thông báo xã Cẩm La".decomposedStringWithCanonicalMapping
        #expect(MediaLibrary.defaultTitle(nfd, limit: 60) == "Thông báo xã Cẩm La")
        #expect(MediaLibrary.defaultTitle(nfd, limit: 60).unicodeScalars.elementsEqual("Thông báo xã Cẩm La".unicodeScalars))
        // Short text whole, lines joined; a word longer than the limit cut at the limit; trailing punctuation dropped.
        #expect(MediaLibrary.defaultTitle("  Họp  dân\nlúc 9 giờ  ") == "Họp dân lúc 9 giờ")
        #expect(MediaLibrary.defaultTitle(String(repeating: "a", count: 80), limit: 10) == String(repeating: "a", count: 10) + "…")
        #expect(MediaLibrary.defaultTitle("Thông báo: họp dân lúc chín giờ", limit: 12) == "Thông báo…")
        #expect(MediaLibrary.defaultTitle("Ba mươi chín", limit: 6) == "Ba…")
        #expect(MediaLibrary.defaultTitle("Ba mươi chín", limit: 7) == "Ba mươi…")
    }

    @Test func renderingFailuresAreReportedNotSwallowed() async throws {
        let w = try World()
        await #expect(throws: TTSFailure.self) {
            try await EspeakNG().render("Xin chào", voice: .northern, to: "/nonexistent-folder/x.wav")
        }
        await #expect(throws: MediaLibrary.AddError.self) { try await w.library.addSpeech("   ", voice: .southern) }
        struct Broken: SpeechSynthesizer {
            func render(_ text: String, voice: TTSVoice, to path: String) async throws { throw TTSFailure(reason: "engine down") }
        }
        let db = try WardDatabase(path: w.dir.appendingPathComponent("b.sqlite").path)
        let lib = MediaLibrary(root: w.dir.appendingPathComponent("b"), database: db, speech: Broken())
        await #expect(throws: TTSFailure.self) { try await lib.addSpeech("Xin chào", voice: .central) }
        #expect(try lib.list().isEmpty)
    }
}
