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

    /// Tunes glibc's allocator for a long-running process, once at start-up before the work begins:
    /// - at most `arenas` arenas (`M_ARENA_MAX`). By default each thread that meets contention gets
    ///   its own, up to 8 per core, and what one arena frees no other reuses: the pool threads spread
    ///   the same live data over many arenas, each with its own free space held resident;
    /// - blocks of 128 KiB and more mapped on their own (`M_MMAP_THRESHOLD`, fixed: glibc otherwise
    ///   raises it up to 32 MB as such blocks are freed). A province's transient arrays (a registry
    ///   read, a flush's rows) then go back to the system when freed instead of leaving holes in the
    ///   heap that the long-lived per-device values, allocated meanwhile, keep resident;
    /// - the heap's top given back from 1 MiB free (`M_TRIM_THRESHOLD`), not only at `release`.
    public static func configure(arenas: Int32 = 2) {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "mallopt") else { return }
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        // The parameters' numbers in malloc.h (not in Swift's Glibc module).
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3, arenaMax: Int32 = -8
        _ = mallopt(arenaMax, arenas)
        _ = mallopt(mmapThreshold, 128 * 1024)
        _ = mallopt(trimThreshold, 1024 * 1024)
        #endif
    }

    public static func release() {
        #if canImport(Glibc)
        // malloc.h is not in Swift's Glibc module: the function is looked up (RTLD_DEFAULT).
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }
}
