#if canImport(Glibc)
import Glibc
#endif

/// Gives the heap's free pages back to the system (glibc `malloc_trim`).
///
/// glibc keeps what a process frees in its arenas (one per thread that allocated, up to 8 per
/// core) and returns only the top of each; the controller's start-up (a province's registry read,
/// its first status rows written at once) and bursts leave hundreds of MB free but resident. Trimmed
/// every so often, the resident size follows what is actually in use (measured by `bench memory`).
public enum HeapTrim {
    /// How often the controller trims (process housekeeping: not a time of the domain).
    public static let interval: Duration = .seconds(30)

    public static func release() {
        #if canImport(Glibc)
        // malloc.h is not in Swift's Glibc module: the function is looked up (RTLD_DEFAULT).
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }
}
