import Foundation

/// SplitMix64: small, fast, and the same sequence on every machine for a seed (simulator, benchmarks).
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one device: the run's seed mixed with a stable hash of the id.
    public init(seed: UInt64, stream: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
        for b in stream.utf8 {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        state = seed ^ h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Exponentially distributed wait with the given mean (Poisson arrivals).
    public mutating func exponential(mean: Double) -> Double { -mean * log(max(1e-12, 1 - unit())) }

    public mutating func hex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", Int(next() & 0xff)) }.joined()
    }
}
