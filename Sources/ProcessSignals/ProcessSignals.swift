#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// SIGINT and SIGTERM delivered to a callback, without libdispatch signal sources.
///
/// On Linux those sources read a signalfd, which only sees signals blocked on the thread the
/// kernel picks; a SIGTERM then sometimes stayed pending on a dispatch thread and was never
/// handled, so `systemctl stop` (or a benchmark stopping its simulator) waited for SIGKILL and
/// lost the clean shutdown. Here a plain handler writes the signal's number to a pipe (the one
/// thing a handler may safely do) and a thread of ours reads it.
public enum ProcessSignals {
    nonisolated(unsafe) private static var writeEnd: Int32 = -1
    private static let handler = Mutex<(@Sendable (Int32, Int) -> Void)?>(nil)
    private static let installed = Mutex(false)

    /// Calls `handler` with the count of termination signals so far (1 on the first, 2 on the
    /// second, …), on a thread of its own. A later call replaces the handler.
    public static func onTermination(_ handler: @escaping @Sendable (_ signal: Int32, _ count: Int) -> Void) {
        Self.handler.withLock { $0 = handler }
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // children (mosquitto, ffmpeg) must not hold it
        writeEnd = fds[1]
        let readEnd = fds[0]
        let reader = Thread {
            var count = 0
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n == 1 {
                    count += 1
                    let h = Self.handler.withLock { $0 }
                    h?(Int32(byte), count)
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        reader.name = "signals"
        reader.start()
        for sig in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signo in
                var byte = UInt8(truncatingIfNeeded: signo)
                _ = write(ProcessSignals.writeEnd, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = Int32(SA_RESTART)
            sigaction(sig, &action, nil)
            // Threads that block it (dispatch's workers) are skipped by the kernel; make sure
            // this one, at least, can take it.
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, sig)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
    }

    /// The usual use: cancel `task` on the first signal; exit at once on the second (an operator
    /// pressing Ctrl-C again does not want to wait for a clean stop).
    public static func cancelOnTermination<T: Sendable, E: Error>(_ task: Task<T, E>, name: String) {
        onTermination { signal, count in
            if count == 1 {
                FileHandle.standardError.write(Data("\(name): dừng theo tín hiệu \(signal) / stopping on signal \(signal) (again to stop at once)\n".utf8))
                task.cancel()
            } else {
                FileHandle.standardError.write(Data("\(name): dừng ngay / stopping now\n".utf8))
                _exit(128 + signal)
            }
        }
    }
}
