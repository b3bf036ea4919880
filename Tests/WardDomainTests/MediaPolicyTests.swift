import Testing
@testable import WardDomain

@Suite struct MediaPolicyTests {
    func probe(_ containers: [String], _ codec: String?, _ d: Double?) -> AudioProbe {
        AudioProbe(containers: containers, audioCodec: codec, duration: d, sampleRate: 48_000, channels: 1)
    }

    @Test func acceptsTheThreeFormats() throws {
        #expect(try MediaPolicy.accept(probe(["wav"], "pcm_s16le", 2)).get().0 == .wav)
        #expect(try MediaPolicy.accept(probe(["mp3"], "mp3", 2)).get().0 == .mp3)
        #expect(try MediaPolicy.accept(probe(["ogg"], "opus", 2)).get().0 == .ogg)
        #expect(try MediaPolicy.accept(probe(["ogg"], "vorbis", 2)).get().0 == .ogg)
    }

    @Test func refusesEverythingElseWithAReason() {
        func reason(_ p: AudioProbe) -> MediaRejection? {
            if case .failure(let r) = MediaPolicy.accept(p) { return r }
            return nil
        }
        #expect(reason(probe(["flac"], "flac", 2)) == .unsupported(container: "flac", codec: "flac"))
        #expect(reason(probe(["wav"], "mp3", 2)) == .unsupported(container: "wav", codec: "mp3"))  // mp3 in a wav wrapper
        #expect(reason(probe(["mov", "mp4"], nil, 2)) == .notAudio("no audio stream"))
        #expect(reason(probe(["mp3"], "mp3", nil)) == .noDuration)
        #expect(reason(probe(["mp3"], "mp3", 0.05)) == .tooShort(0.05))
        #expect(reason(probe(["mp3"], "mp3", 5 * 3600)) == .tooLong(5 * 3600))
        #expect(MediaRejection.corrupt("CRC mismatch").description.contains("tệp hỏng"))
    }
}
