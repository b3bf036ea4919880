import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing
import WardDomain
import WardStorage
@testable import WardController
@testable import WardHTTP

/// Devices download media by hash from the controller's HTTP server and verify it.
@Suite struct ControllerHTTPServerTests {
    @Test func servesLibraryFilesByHashWithTheirTypeAndRefusesBadIDs() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-http-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = MediaLibrary(root: dir.appendingPathComponent("media"),
                                   database: try WardDatabase(path: dir.appendingPathComponent("h.sqlite").path))
        let (item, _) = try await library.addSpeech("Loa phường xin thông báo.", voice: .southern, title: "Thông báo")

        let (base, task) = try await Self.start(ControllerHTTPServer(library: library, host: "127.0.0.1", port: 0))
        defer { task.cancel() }

        let (data, response) = try await URLSession.shared.data(from: URL(string: ControllerHTTPServer.url(of: item.sha256, base: base))!)
        let http = try #require(response as? HTTPURLResponse)
        #expect(http.statusCode == 200)
        #expect(http.value(forHTTPHeaderField: "Content-Type") == "audio/wav")
        #expect(http.value(forHTTPHeaderField: "X-Content-SHA256") == item.sha256)
        #expect(http.value(forHTTPHeaderField: "ETag") == "\"\(item.sha256)\"")
        let downloaded = dir.appendingPathComponent("downloaded.wav")
        try data.write(to: downloaded)
        #expect(data.count == Int(item.sizeBytes))
        #expect(try MediaLibrary.sha256(of: downloaded.path) == item.sha256)  // what a device checks

        for (path, status) in [("/media/" + String(repeating: "0", count: 64), 404), ("/media/not-a-hash", 400),
                               ("/media/" + String(repeating: "Z", count: 64), 400)] {
            let (body, r) = try await URLSession.shared.data(from: URL(string: base + path)!)
            #expect((r as? HTTPURLResponse)?.statusCode == status, "\(path)")
            #expect(String(decoding: body, as: UTF8.self).contains("\"error\""), "\(path)")
        }
    }

    /// Runs `server` on a free loopback port; returns its base URL once it listens.
    static func start(_ server: ControllerHTTPServer) async throws -> (base: String, task: Task<Void, any Error>) {
        let port = Mutex(0)
        let task = Task { try await server.run(onListening: { p in port.withLock { $0 = p } }) }
        // A loaded test process (many tests blocking the pool) can take a while to run the server's task.
        let deadline = ContinuousClock.now + .seconds(90)
        while port.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(port.withLock { $0 } != 0, "the stand-in server did not start")
        guard port.withLock({ $0 }) != 0 else {
            task.cancel()
            throw CancellationError()  // the server did not start
        }
        return ("http://127.0.0.1:\(port.withLock { $0 })", task)
    }
}
