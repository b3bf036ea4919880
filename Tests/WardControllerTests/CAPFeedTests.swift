import Crypto
import Foundation
import Hummingbird
import Synchronization
import Testing
import WardDomain
import WardStorage
@testable import WardController

/// Issue 20, item 1: sources that publish a CAP feed instead of posting. A local server stands in for the
/// source: an Atom feed whose entries link to CAP documents (one good, one refused by CAP's rules, one that
/// is not there yet), then the same feed again with the missing document in place.
@Suite struct CAPFeedTests {
    final class Source: Sendable {
        let documents = Mutex<[String: Data]>([:])
        let gets = Mutex<[String]>([])

        func start() async throws -> (url: URL, task: Task<Void, any Error>) {
            let router = Router()
            router.get("/cap/:name") { [self] request, context -> Response in
                let name = try context.parameters.require("name")
                gets.withLock { $0.append(name) }
                guard let d = documents.withLock({ $0[name] }) else { return Response(status: .notFound) }
                return Response(status: .ok, headers: [.contentType: "application/cap+xml"], body: .init(byteBuffer: ByteBuffer(bytes: d)))
            }
            router.get("/feed.atom") { [self] _, _ -> Response in
                gets.withLock { $0.append("feed") }
                return Response(status: .ok, headers: [.contentType: "application/atom+xml"],
                                body: .init(byteBuffer: ByteBuffer(string: CAPFeedTests.atom)))
            }
            return try await serveOnLoopback(router, path: "/feed.atom")
        }
    }

    static let atom = """
        <?xml version="1.0" encoding="UTF-8"?>
        <feed xmlns="http://www.w3.org/2005/Atom">
          <title>Cảnh báo thiên tai — Đài KTTV tỉnh Quảng Ninh</title>
          <id>urn:kttv-qn:feed</id>
          <updated>2026-11-23T08:00:00+07:00</updated>
          <entry><id>urn:kttv-qn:001</id><title>Bão số 3</title>
            <link rel="alternate" type="text/html" href="https://kttv.example/tin/001"/>
            <link rel="related" type="application/cap+xml" href="cap/polygon"/></entry>
          <entry><id>urn:kttv-qn:bad</id><title>Sai</title><link href="/cap/bad-severity"/></entry>
          <entry><id>urn:kttv-qn:later</id><title>Lũ quét</title><link type="application/cap+xml" href="/cap/circle"/></entry>
          <entry><id>urn:kttv-qn:nolink</id><title>Không có liên kết</title></entry>
        </feed>
        """

    @Test func aFeedsAlertsAreReceivedOnceAndMissingDocumentsTriedAgain() async throws {
        let x = try WarningServiceTests.World()
        let source = Source()
        source.documents.withLock {
            $0["polygon"] = WarningServiceTests.fixture("alert-polygon.xml")
            $0["bad-severity"] = WarningServiceTests.fixture("bad-severity.xml")
        }
        let (url, task) = try await source.start()
        defer { task.cancel() }
        let poller = CAPFeedPoller(feeds: [.init(source: "kttv", url: url)], service: x.service)

        let first = await poller.pass()
        #expect(first == CAPFeedPoller.Pass(feedsRead: 1, received: 1, refused: 1, fetchFailed: 1, skipped: 1))
        let alerts = try WarningRepository(x.w.db).list()
        #expect(alerts.map(\.identifier) == ["KTTV-QN-2026-0906-001"] && alerts.first?.state == .active)
        #expect(x.tally["received.actual"] == 1 && x.tally["refused.bad_enumeration"] == 1)

        // Next pass: only the document that was missing is fetched again; now it is there.
        source.documents.withLock { $0["circle"] = WarningServiceTests.fixture("alert-circle.xml") }
        source.gets.withLock { $0.removeAll() }
        let second = await poller.pass()
        #expect(second == CAPFeedPoller.Pass(feedsRead: 1, received: 1, skipped: 1))
        #expect(source.gets.withLock { $0 } == ["feed", "circle"])
        #expect(try WarningRepository(x.w.db).list().count == 2)

        // A restarted poller fetches everything once more: the same identifiers are the same alerts.
        let again = await CAPFeedPoller(feeds: [.init(source: "kttv", url: url)], service: x.service).pass()
        #expect(again.received == 0 && again.duplicates == 2 && again.refused == 1)
        #expect(try WarningRepository(x.w.db).list().count == 2)
    }

    @Test func aFeedThatCannotBeReadIsCountedAndNothingElseIsLost() async throws {
        let x = try WarningServiceTests.World()
        let broken = URL(string: "http://127.0.0.1:9/feed.atom")!  // nothing listens on the discard port
        let poller = CAPFeedPoller(feeds: [.init(source: "kttv", url: broken)], service: x.service, fetch: { _ in
            Data("<!DOCTYPE feed [<!ENTITY a 'x'>]><feed/>".utf8)
        })
        let p = await poller.pass()
        #expect(p.feedsFailed == 1 && p.received == 0)
        #expect(x.tally["refused.feed_unreadable"] == 1)
    }
}

/// Issue 20, item 4: an `info` with an audio `resource` plays that recording, fetched from the source and
/// checked (digest, size, playable) as uploads are; a recording that fails is replaced by the spoken text.
@Suite struct CAPAudioResourceTests {
    static func alert(identifier: String, uri: String, digest: String?, size: Int?) -> Data {
        var text = String(decoding: WarningServiceTests.fixture("alert-polygon.xml"), as: UTF8.self)
        text = text.replacingOccurrences(of: "KTTV-QN-2026-0906-001", with: identifier)
        let resource = "<resource><resourceDesc>Bản tin ghi âm</resourceDesc><mimeType>audio/mpeg</mimeType>"
            + (size.map { "<size>\($0)</size>" } ?? "") + "<uri>\(uri)</uri>" + (digest.map { "<digest>\($0)</digest>" } ?? "") + "</resource>"
        text = text.replacingOccurrences(of: "<area>", with: resource + "<area>")
        return Data(text.utf8)
    }

    @Test func theAlertsRecordingPlaysAndABadOneFallsBackToSpeech() async throws {
        let x = try WarningServiceTests.World()
        let mp3 = x.w.dir.appendingPathComponent("ban-tin.mp3")
        let (status, out) = try await runTool(ChildProcess.locate("ffmpeg")!, ["-v", "error", "-nostdin", "-f", "lavfi", "-i",
                                                                              "sine=frequency=660:duration=3", mp3.path], mergeErrors: true)
        try #require(status == 0, "\(out)")
        let bytes = try Data(contentsOf: mp3)
        let sha1 = Insecure.SHA1.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        let router = Router()
        router.get("/audio/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            let body = name == "garbage.mp3" ? Data("không phải âm thanh".utf8) : bytes
            return Response(status: name == "missing.mp3" ? .notFound : .ok, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        let (base, task) = try await serveOnLoopback(router, path: "/audio/")
        defer { task.cancel() }

        let (good, _) = try await x.service.receive(Self.alert(identifier: "A-1", uri: base.absoluteString + "ban-tin.mp3", digest: sha1, size: bytes.count),
                                                    from: "kttv")
        let b1 = try UpstreamRepository(x.w.db).get(try #require(good.bulletinID))
        guard case .media(let sha) = b1.programme else { Issue.record("not media"); return }
        let item = try #require(try MediaRepository(x.w.db).get(sha))
        #expect(item.format == .mp3 && item.duration > 2.5 && item.duration < 3.5, "the recording, not speech")
        #expect(b1.detail == nil)

        for (id, name, digest) in [("A-2", "ban-tin.mp3", String(repeating: "0", count: 40)), ("A-3", "missing.mp3", nil), ("A-4", "garbage.mp3", nil)] {
            let (w, _) = try await x.service.receive(Self.alert(identifier: id, uri: base.absoluteString + name, digest: digest, size: nil), from: "kttv")
            let b = try UpstreamRepository(x.w.db).get(try #require(w.bulletinID))
            guard case .media(let s) = b.programme, let spoken = try MediaRepository(x.w.db).get(s) else { Issue.record("no programme"); continue }
            if case .tts = spoken.source {} else { Issue.record("\(id): not the spoken text") }
            #expect(b.detail?.isEmpty == false, "\(id): why the recording was not used is kept")
        }
        #expect(x.tally["audio_resource_failed"] == 3)
    }
}
