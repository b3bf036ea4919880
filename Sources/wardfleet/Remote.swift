import ArgumentParser
import Foundation
import WardDomain
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The CLI acting through a running server's API (`--server URL`) instead of opening the
/// database: for a technician's laptop, or a server whose database file is not at hand. The API
/// token (`--token` or `$WARDFLEET_TOKEN`, from `wardfleet users token`) decides who acts and
/// what they may do; the server checks roles and communes and writes the audit log.
struct RemoteAPI: Sendable {
    /// A time of day as the API takes it (HH:MM); left as typed when it does not read, for the server to refuse.
    static func time(_ s: String) -> String { LocalTime(s)?.description ?? s }

    let base: URL
    let token: String

    init(server: String, token: String?) throws {
        guard let url = URL(string: server.hasSuffix("/") ? String(server.dropLast()) : server),
              url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ValidationError("--server phải là http(s)://HOST:PORT / --server must be http(s)://HOST:PORT")
        }
        guard let token = token ?? ProcessInfo.processInfo.environment["WARDFLEET_TOKEN"], !token.isEmpty else {
            throw ValidationError("--server cần mã truy cập: --token hoặc $WARDFLEET_TOKEN (wardfleet users token NAME) / --server needs an API token")
        }
        base = url
        self.token = token
    }

    struct Failure: Error, CustomStringConvertible {
        var status: Int
        var message: String
        var description: String { "máy chủ trả lời / the server answered \(status): \(message)" }
    }

    /// Sends one request; returns the body of a 2xx answer, throws the server's message otherwise.
    func call(_ method: String, _ path: String, query: [String: String?] = [:], json: [String: Any?]? = nil,
              raw: Data? = nil, contentType: String? = nil) async throws -> Data {
        var c = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        let items = query.compactMap { k, v in v.map { URLQueryItem(name: k, value: $0) } }.sorted { $0.name < $1.name }
        if !items.isEmpty { c.queryItems = items }
        var r = URLRequest(url: c.url!)
        r.httpMethod = method
        r.timeoutInterval = 60
        r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        // The server's messages in both languages, as the CLI prints its own (mul: several languages).
        r.setValue("mul", forHTTPHeaderField: "Accept-Language")
        if let json {
            r.httpBody = try JSONSerialization.data(withJSONObject: json.compactMapValues { $0 }, options: [.sortedKeys])
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let raw {
            r.httpBody = raw
            r.setValue(contentType ?? "application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await Self.send(r)
        guard (200..<300).contains(response.statusCode) else {
            let message = (try? JSONDecoder().decode([String: String].self, from: data))?["error"] ?? String(decoding: data, as: UTF8.self)
            throw Failure(status: response.statusCode, message: message)
        }
        return data
    }

    static func send(_ r: URLRequest) async throws -> (Data, HTTPURLResponse) {
        try await withCheckedThrowingContinuation { cont in
            URLSession.shared.dataTask(with: r) { data, response, error in
                if let error { return cont.resume(throwing: ValidationError("không kết nối được máy chủ / cannot reach the server: \(error.localizedDescription)")) }
                cont.resume(returning: (data ?? Data(), response as! HTTPURLResponse))
            }.resume()
        }
    }

    /// Calls and prints the answer: JSON pretty-printed, anything else as it came.
    func run(_ method: String, _ path: String, query: [String: String?] = [:], json: [String: Any?]? = nil,
             raw: Data? = nil, contentType: String? = nil, output: String? = nil) async throws {
        let data = try await call(method, path, query: query, json: json, raw: raw, contentType: contentType)
        if let output, output != "-" { return try data.write(to: URL(fileURLWithPath: output)) }
        if let object = try? JSONSerialization.jsonObject(with: data),
           let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
            FileHandle.standardOutput.write(pretty + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(data)
        }
    }

    /// Commands name who acts (`--as`); through the API that is always the token's user, so a
    /// different name is refused rather than silently replaced.
    func requireActing(as user: String?) async throws {
        guard let user else { return }
        let me = try JSONSerialization.jsonObject(with: try await call("GET", "/api/v1/me")) as? [String: Any]
        guard let name = me?["user"] as? String, name == user else {
            throw ValidationError("mã truy cập thuộc người dùng khác, không phải '\(user)' / the token acts as someone else than '\(user)'")
        }
    }

    static func path(_ parts: String...) -> String {
        "/api/v1/" + parts.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? $0 }
            .joined(separator: "/")
    }
}

extension TimingOptions {
    var json: [String: Any?] {
        // The API takes exactly the forms of docs/openapi.yaml; the CLI keeps reading what it reads
        // locally (7:00, T2) and sends that form. Only the timing given is sent: an edit keeps the rest.
        ["day": day, "time": time.map(RemoteAPI.time), "repeat": self.repeat,
         "on": on.map { TargetOptions.list($0).map { $0.lowercased() } }, "until": until, "skip": skip.map { TargetOptions.list($0) }]
    }
}

extension TargetOptions {
    var json: [String: Any?] {
        ["communes": communes.map { Self.list($0) }, "villages": villages.map { Self.list($0) }, "groups": groups.map { Self.list($0) },
         "speakers": speakers.map { Self.list($0) }]
    }
}

extension ProgrammeOptions {
    var json: [String: Any?] {
        ["media": media, "tts": tts, "voice": tts == nil ? nil : voice.rawValue, "stream": stream, "minutes": minutes]
    }
}

func + (a: [String: Any?], b: [String: Any?]) -> [String: Any?] { a.merging(b) { _, new in new } }
