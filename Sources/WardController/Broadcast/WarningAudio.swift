import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import WardDomain

/// An alert's own recording: the Vietnamese `info`'s first `resource` whose `mimeType` is audio and whose
/// `uri` is http(s). It is fetched (at most `maxBytes`, 30 s), checked against the CAP `digest` (SHA-1 of the
/// bytes) and `size` when given, and added to the media library like an upload (probed, decoded through,
/// format and duration checked). When it cannot be — unreachable, wrong digest, not playable audio — the
/// text is spoken instead, and why is kept with the bulletin: a warning is never silenced by a bad recording.
enum WarningAudio {
    static let maxBytes = 50 * 1024 * 1024

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The resource the alert asks to play, if any.
    static func resource(of info: CAPInfo) -> (CAPResource, URL)? {
        for r in info.resources where r.mimeType.lowercased().hasPrefix("audio/") {
            if let uri = r.uri, let url = URL(string: uri), ["http", "https"].contains(url.scheme?.lowercased() ?? "") { return (r, url) }
        }
        return nil
    }

    /// The recording as a library item (fetched, verified, added), or why not.
    static func add(_ r: CAPResource, from url: URL, to library: MediaLibrary, title: String, by actor: String,
                    fetch: (URL) async throws -> Data = get) async -> Result<MediaItem, Failure> {
        let data: Data
        do { data = try await fetch(url) } catch {
            return .failure(Failure(description: "không tải được tệp âm thanh / audio resource not fetched: \(error)"))
        }
        if let size = r.size, size != data.count {
            return .failure(Failure(description: "kích thước \(data.count) byte khác size \(size) / size \(data.count) bytes, the alert says \(size)"))
        }
        if let digest = r.digest?.trimmingCharacters(in: .whitespaces).lowercased(), !digest.isEmpty {
            let sha1 = Insecure.SHA1.hash(data: data).map { String(format: "%02x", $0) }.joined()
            guard sha1 == digest else {
                return .failure(Failure(description: "digest SHA-1 không khớp / SHA-1 digest does not match (\(sha1))"))
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-cap-audio-\(UUID().uuidString)-"
            + (url.lastPathComponent.isEmpty ? "audio" : url.lastPathComponent))
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            try data.write(to: file)
            return .success(try await library.add(file: file.path, title: title, by: actor).item)
        } catch {
            return .failure(Failure(description: "tệp âm thanh không dùng được / audio resource not playable: \(error)"))
        }
    }

    static func get(_ url: URL) async throws -> Data {
        let (data, response) = try await URLSession.shared.data(for: URLRequest(url: url, timeoutInterval: 30))
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            throw Failure(description: "HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        guard data.count <= maxBytes else { throw Failure(description: "\(data.count) byte > \(maxBytes) byte") }
        return data
    }
}

extension WarningService {
    /// What an alert plays: its own recording when it has one that passes, else its text spoken (northern voice).
    /// `note`: why a recording the alert named was not used.
    func programme(for plan: WarningPlan, title: String, actor: String) async throws -> (item: MediaItem, note: String?) {
        var note: String?
        if let (r, url) = WarningAudio.resource(of: plan.info) {
            switch await WarningAudio.add(r, from: url, to: library, title: title, by: actor) {
            case .success(let item): return (item, nil)
            case .failure(let f):
                note = f.description
                tally("audio_resource_failed")
            }
        }
        return (try await library.addSpeech(plan.speech, voice: .northern, title: title, by: actor).item, note)
    }
}
