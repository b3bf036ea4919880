import Foundation
import WardStorage

/// A private mosquitto on a free loopback port: the demo's embedded default, the benchmarks'
/// broker and every integration test's own broker.
public final class LocalBroker: Sendable {
    public let port: Int
    public let directory: URL
    private let process: ChildProcess

    public enum BrokerError: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)
        public var description: String {
            switch self {
            case .notInstalled: "không tìm thấy mosquitto (apt-get install mosquitto) / mosquitto not found (apt-get install mosquitto)"
            case .didNotStart(let log): "mosquitto không khởi động được / mosquitto did not start: \(log)"
            }
        }
    }

    /// A loopback port nobody listens on right now.
    public static func freePort() throws -> Int { try LoopbackPort.free() }

    public static func isListening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Starts mosquitto listening on 127.0.0.1 only, anonymous, without persistence, on `port`
    /// or a free one. `extraConfig` lines are appended to its configuration.
    public static func start(port fixedPort: Int? = nil, extraConfig: String = "", anonymous: Bool = true) async throws -> LocalBroker {
        guard let exe = ChildProcess.locate("mosquitto") else { throw BrokerError.notInstalled }
        var lastLog = ""
        for _ in 0..<(fixedPort == nil ? 5 : 50) {  // a free port may be taken between probe and bind
            let port = try fixedPort ?? freePort()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-mosquitto-\(port)-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let conf = dir.appendingPathComponent("mosquitto.conf")
            let log = dir.appendingPathComponent("mosquitto.log")
            try """
            # Private loopback broker started by WardFleet
            listener \(port) 127.0.0.1
            per_listener_settings false
            allow_anonymous \(anonymous)
            persistence false
            max_queued_messages 100000
            log_dest file \(log.path)
            log_type error
            log_type warning
            log_type notice
            \(extraConfig)

            """.write(to: conf, atomically: true, encoding: .utf8)
            let p = try ChildProcess.spawn(exe, ["-c", conf.path], stdout: .null, stderr: .null)
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline, p.isRunning {
                if isListening(port: port) { return LocalBroker(port: port, directory: dir, process: p) }
                try await Task.sleep(for: .milliseconds(20))
            }
            await p.terminate(grace: .seconds(2))
            if fixedPort != nil { try await Task.sleep(for: .milliseconds(100)) }  // old socket in TIME_WAIT
            lastLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        throw BrokerError.didNotStart(lastLog)
    }

    /// The dynamic-security plugin shipped with Debian's mosquitto, if installed.
    public static var dynamicSecurityPlugin: String? {
        ["x86_64-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf"].map { "/usr/lib/\($0)/mosquitto_dynamic_security.so" }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A broker that is secure the way deploy/ sets one up: no anonymous access, accounts and
    /// roles in the dynamic-security plugin (admin `admin` with `adminPassword`), and, with
    /// `tls`, a second loopback listener with that certificate (the returned `tlsPort`).
    public static func startSecured(adminPassword: String, tls: (ca: String, cert: String, key: String)? = nil) async throws
        -> (broker: LocalBroker, tlsPort: Int?)
    {
        guard let plugin = dynamicSecurityPlugin, let ctrl = ChildProcess.locate("mosquitto_ctrl") else { throw BrokerError.notInstalled }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-dynsec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("dynamic-security.json").path
        let initProcess = try ChildProcess.spawn(ctrl, ["dynsec", "init", file, "admin", adminPassword], stdout: .null, stderr: .null)
        guard await initProcess.wait(timeout: .seconds(20)) == 0 else { throw BrokerError.didNotStart("mosquitto_ctrl dynsec init failed") }
        var extra = "plugin \(plugin)\nplugin_opt_config_file \(file)\n"
        var tlsPort: Int?
        if let tls {
            let p = try freePort()
            tlsPort = p
            extra += "listener \(p) 127.0.0.1\ncafile \(tls.ca)\ncertfile \(tls.cert)\nkeyfile \(tls.key)\ntls_version tlsv1.2\n"
        }
        return (try await start(extraConfig: extra, anonymous: false), tlsPort)
    }

    private init(port: Int, directory: URL, process: ChildProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    public var isRunning: Bool { process.isRunning }

    public func stop() {
        process.terminateBlocking(grace: .seconds(5))
        try? FileManager.default.removeItem(at: directory)
    }

    /// Kills the broker abruptly (no clean session end for anyone), as a crash would.
    public func kill() {
        process.send(SIGKILL)
        _ = process.waitBlocking(timeout: .seconds(5))
    }

    deinit { stop() }
}
