import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import WardHTTP

/// The console's files: nested folders, nothing outside them, strong ETags with 304, gzip once.
@Suite struct ConsoleAssetsTests {
    static let script = String(repeating: "export const greeting = 'Xin chào, cán bộ văn hóa';\n", count: 200)

    func app() throws -> (Application<RouterResponder<WardRequestContext>>, [String: ConsoleAssets.Asset]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-console-\(UUID().uuidString)")
        for folder in ["lib", "pages", "i18n", ".git"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let files = ["index.html": "<!doctype html><title>WardFleet</title>", "lib/api.js": Self.script, "pages/devices.js": "export {}",
                     "i18n/vi.json": #"{"hello":"Xin chào"}"#, "icon.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
                     "app.webmanifest": #"{"name":"WardFleet"}"#, ".hidden.js": "secret", ".git/config.json": "{}", "notes.txt": "no",
                     "lib/run.sh": "rm -rf /"]
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let assets = ConsoleAssets.load(directory: dir)
        let router = Router(context: WardRequestContext.self)
        ConsoleAssets.register(on: router, files: assets)
        return (Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))), assets)
    }

    @Test func servesNestedFilesWithTheirTypesAndNothingElse() async throws {
        let (app, assets) = try app()
        #expect(Set(assets.keys) == ["index.html", "lib/api.js", "pages/devices.js", "i18n/vi.json", "icon.svg", "app.webmanifest"])
        try await app.test(.live) { client in
            for (uri, type) in [("/console", "text/html; charset=utf-8"), ("/console/", "text/html; charset=utf-8"),
                                ("/console/lib/api.js", "text/javascript; charset=utf-8"), ("/console/pages/devices.js", "text/javascript; charset=utf-8"),
                                ("/console/i18n/vi.json", "application/json; charset=utf-8"), ("/console/icon.svg", "image/svg+xml"),
                                ("/console/app.webmanifest", "application/manifest+json")] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .ok, "\(uri)")
                    #expect(r.headers[.contentType] == type, "\(uri)")
                    #expect(r.headers[.contentEncoding] == nil, "\(uri): no gzip unless asked")
                    #expect(r.headers[HTTPField.Name("Content-Security-Policy")!] != nil, "\(uri)")
                }
            }
            try await client.execute(uri: "/console/lib/api.js", method: .get) { r in #expect(String(buffer: r.body) == Self.script) }
            // Traversal, hidden files, unknown extensions and files that are not there.
            for (uri, status) in [("/console/../Package.swift", 400), ("/console/lib/../../secret.js", 400), ("/console/%2e%2e/x.js", 400),
                                  ("/console/lib/%2e%2e%2f%2e%2e%2fx.js", 400), ("/console/.hidden.js", 400), ("/console/.git/config.json", 400),
                                  ("/console/notes.txt", 400), ("/console/lib/run.sh", 400), ("/console/lib//api.js", 400),
                                  ("/console/lib/nothing.js", 404), ("/console/lib", 400)] as [(String, Int)] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status.code == status, "\(uri): \(r.status)")
                    #expect(!String(buffer: r.body).contains("rm -rf") && !String(buffer: r.body).contains("secret"), "\(uri)")
                }
            }
        }
    }

    @Test func strongETagsAnswer304AndCachingDiffersForTheIndex() async throws {
        let (app, assets) = try app()
        try await app.test(.live) { client in
            let etag = try await client.execute(uri: "/console/lib/api.js", method: .get) { r in
                #expect(r.headers[.cacheControl] == "public, max-age=300, must-revalidate")
                #expect(r.headers[.vary] == "Accept-Encoding")
                return r.headers[.eTag]
            }
            #expect(etag == "\"\(assets["lib/api.js"]!.hash)\"")
            #expect(etag?.hasPrefix("W/") == false && etag?.count == 66)
            for inm in [etag!, "\"other\", \(etag!)", "W/\(etag!)", "*"] {
                try await client.execute(uri: "/console/lib/api.js", method: .get, headers: [.ifNoneMatch: inm]) { r in
                    #expect(r.status == .notModified, "\(inm)")
                    #expect(r.body.readableBytes == 0)
                    #expect(r.headers[.eTag] == etag)
                }
            }
            try await client.execute(uri: "/console/lib/api.js", method: .get, headers: [.ifNoneMatch: "\"stale\""]) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/console", method: .get) { r in
                #expect(r.headers[.cacheControl] == "no-cache")
                #expect(r.headers[.eTag] == "\"\(assets["index.html"]!.hash)\"")
            }
        }
    }

    @Test func gzipWhenAskedComputedOnce() async throws {
        let (app, assets) = try app()
        let gz = try #require(assets["lib/api.js"]?.gzip)
        #expect(gz.readableBytes < Self.script.utf8.count / 10)
        #expect(Gzip.decompress(Data(buffer: gz)) == Data(Self.script.utf8))
        try await app.test(.live) { client in
            let etag = try await client.execute(uri: "/console/lib/api.js", method: .get, headers: [.acceptEncoding: "gzip, deflate, br"]) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentEncoding] == "gzip")
                #expect(r.headers[.vary] == "Accept-Encoding")
                #expect(r.headers[.contentLength] == String(gz.readableBytes))
                #expect(Gzip.decompress(Data(buffer: r.body)) == Data(Self.script.utf8))
                return r.headers[.eTag]
            }
            #expect(etag == "\"\(assets["lib/api.js"]!.hash)-gz\"", "each encoding has its own strong ETag")
            try await client.execute(uri: "/console/lib/api.js", method: .get, headers: [.acceptEncoding: "gzip", .ifNoneMatch: etag!]) { r in
                #expect(r.status == .notModified)
            }
            try await client.execute(uri: "/console/lib/api.js", method: .get, headers: [.acceptEncoding: "gzip;q=0, identity"]) { r in
                #expect(r.headers[.contentEncoding] == nil)
                #expect(String(buffer: r.body) == Self.script)
            }
        }
        // The console shipped in the binary loads, with its index.
        #expect(ConsoleAssets.files[ConsoleAssets.index] != nil)
        #expect(ConsoleAssets.check("a/b.js") == "js" && ConsoleAssets.check("a/../b.js") == nil && ConsoleAssets.check("a/.b/c.js") == nil)
    }
}
