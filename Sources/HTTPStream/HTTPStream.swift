import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP(S) audio stream (an Icecast relay source) opened and read as it comes: a live stream
/// never ends, so `URLSession.data(from:)` cannot be used. Opened means a 2xx answer and the first
/// bytes of its body. Used by simulated speakers (to relay) and by the controller (to check a source).
public final class HTTPStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: every mutable field is in `s`, read and written under `lock` only.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    private struct State {
        var opening: CheckedContinuation<Result<Void, Failure>, Never>?
        var opened = false
        var closedByUs = false
        var bytes: Int64 = 0
        var onEnd: (@Sendable (Failure?) -> Void)?
        var task: URLSessionDataTask?
        var session: URLSession?
    }

    private let lock = NSLock()
    private var s = State()

    private func locked<T>(_ body: (inout State) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&s)
    }

    /// Bytes of the body read so far.
    public var bytesRead: Int64 { locked { $0.bytes } }

    /// Opens `url`: a 2xx answer and the first bytes within `timeout`, or the reason it could not.
    /// `onEnd` is called once if the stream ends or fails after it opened (not after `close()`).
    public static func open(_ url: String, timeout: TimeInterval, userAgent: String? = nil,
                            onEnd: (@Sendable (Failure?) -> Void)? = nil) async
        -> Result<HTTPStream, Failure>
    {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme), u.host != nil else {
            return .failure(Failure("not an http(s) address: \(url)"))
        }
        let stream = HTTPStream()
        stream.locked { $0.onEnd = onEnd }
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: config, delegate: stream, delegateQueue: nil)
        var request = URLRequest(url: u, timeoutInterval: timeout)
        request.setValue("0", forHTTPHeaderField: "Icy-MetaData")
        if let userAgent { request.setValue(userAgent, forHTTPHeaderField: "User-Agent") }
        let task = session.dataTask(with: request)
        let opened: Result<Void, Failure> = await withCheckedContinuation { c in
            stream.locked {
                $0.opening = c
                $0.task = task
                $0.session = session
            }
            task.resume()
            // A source that accepts the connection and then says nothing must not hold us past `timeout`.
            Task {
                try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
                stream.failOpening(Failure("no answer within \(Int(timeout)) s"))
            }
        }
        switch opened {
        case .success: return .success(stream)
        case .failure(let f):
            stream.close()
            return .failure(f)
        }
    }

    /// Stops reading; `onEnd` is not called.
    public func close() {
        let (task, session) = locked { s -> (URLSessionDataTask?, URLSession?) in
            s.closedByUs = true
            s.onEnd = nil
            defer { s.task = nil; s.session = nil }
            return (s.task, s.session)
        }
        task?.cancel()
        session?.invalidateAndCancel()  // the session holds its delegate (us) until invalidated
    }

    private func failOpening(_ f: Failure) {
        let c = locked { s -> CheckedContinuation<Result<Void, Failure>, Never>? in
            defer { s.opening = nil }
            return s.opened ? nil : s.opening
        }
        c?.resume(returning: .failure(f))
    }

    // The status is read with the first bytes, not in the response callback: its completion handler's
    // type differs between Foundation versions, and a near miss would be silently not called.
    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        if let h = dataTask.response as? HTTPURLResponse, !(200..<300).contains(h.statusCode) {
            failOpening(Failure("HTTP \(h.statusCode)"))
            dataTask.cancel()
            return
        }
        let c = locked { s -> CheckedContinuation<Result<Void, Failure>, Never>? in
            s.bytes += Int64(data.count)
            guard !s.opened, let c = s.opening else { return nil }
            s.opened = true
            s.opening = nil
            return c
        }
        c?.resume(returning: .success(()))
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        var why = Failure(error.map { $0.localizedDescription } ?? "the stream ended")
        if let h = task.response as? HTTPURLResponse, !(200..<300).contains(h.statusCode) { why = Failure("HTTP \(h.statusCode)") }
        failOpening(why)
        let end = locked { s -> (@Sendable (Failure?) -> Void)? in
            defer { s.onEnd = nil }
            return s.opened && !s.closedByUs ? s.onEnd : nil
        }
        end?(error == nil ? nil : why)
        session.finishTasksAndInvalidate()
    }
}
