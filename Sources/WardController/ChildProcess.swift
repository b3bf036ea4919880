import Foundation
import Synchronization

/// A child process started with posix_spawn.
///
/// Foundation's Process hands children the parent's blocked-signal mask (dispatch threads block
/// SIGTERM/SIGINT), so a mosquitto started that way ignores SIGTERM, and its waitUntilExit spins a
/// core. Here children start with an empty mask and default handlers, and waiting is waitpid.
public final class ChildProcess: Sendable {
    public enum Output: Sendable {
        case inherit
        case null
        case file(String)
        /// Readable through `output`.
        case pipe
    }

    /// Full path of a tool on PATH or in the system folders Debian installs daemons to.
    public static func locate(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return (path + ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]).map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public let pid: pid_t
    public let executable: String
    /// The read end of the child's stdout when spawned with `.pipe`.
    public let output: FileHandle?
    private let status = Mutex<Int32?>(nil)

    /// `environment` entries are added to (or replace) this process's own.
    public static func spawn(_ executable: String, _ arguments: [String], stdout: Output = .inherit,
                             stderr: Output = .inherit, environment: [String: String] = [:]) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var readEnd: Int32 = -1
        var pipeFDs: [Int32] = [-1, -1]
        func redirect(_ o: Output, _ fd: Int32) throws {
            switch o {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .file(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .pipe:
                if pipeFDs[0] < 0 {
                    guard pipe(&pipeFDs) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                    readEnd = pipeFDs[0]
                    posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
                }
                posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], fd)
            }
        }
        try redirect(stdout, 1)
        try redirect(stderr, 2)
        if pipeFDs[1] >= 0 { posix_spawn_file_actions_addclose(&actions, pipeFDs[1]) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        if pipeFDs[1] >= 0 { close(pipeFDs[1]) }
        guard rc == 0 else {
            if readEnd >= 0 { close(readEnd) }
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .ENOENT)
        }
        return ChildProcess(pid: pid, executable: executable,
                            output: readEnd >= 0 ? FileHandle(fileDescriptor: readEnd, closeOnDealloc: true) : nil)
    }

    private init(pid: pid_t, executable: String, output: FileHandle?) {
        self.pid = pid
        self.executable = executable
        self.output = output
    }

    /// Exit status once the child has ended (128 + signal if killed), reaping it if needed.
    public var exitStatus: Int32? {
        status.withLock { s in
            if s == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    let sig = raw & 0x7f
                    s = sig == 0 ? (raw >> 8) & 0xff : 128 + sig
                }
            }
            return s
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the child to end; nil if it is still running at the deadline.
    @discardableResult
    public func wait(timeout: Duration? = nil) async -> Int32? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let s = exitStatus { return s }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The same, blocking the calling thread (for deinit and synchronous shutdown paths).
    @discardableResult
    public func waitBlocking(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let s = exitStatus { return s }
            usleep(5_000)
        }
        return exitStatus
    }

    /// SIGTERM, then SIGKILL if it has not ended within `grace`.
    public func terminate(grace: Duration = .seconds(5)) async {
        send(SIGTERM)
        if await wait(timeout: grace) == nil {
            send(SIGKILL)
            await wait()
        }
    }

    public func terminateBlocking(grace: Duration = .seconds(5)) {
        send(SIGTERM)
        if waitBlocking(timeout: grace) == nil {
            send(SIGKILL)
            _ = waitBlocking(timeout: .seconds(5))
        }
    }
}
