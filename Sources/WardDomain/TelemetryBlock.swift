/// One stored raw telemetry sample, as the block codec keeps it.
public struct PackedSample: Sendable, Hashable {
    /// Unix ms UTC.
    public var receivedAt: Int64
    /// The device's own timestamp, Unix ms.
    public var deviceTime: Int64
    public var boot: String
    public var seq: UInt64
    /// The payload exactly as received (JSON text).
    public var payload: String

    public init(receivedAt: Int64, deviceTime: Int64, boot: String, seq: UInt64, payload: String) {
        self.receivedAt = receivedAt
        self.deviceTime = deviceTime
        self.boot = boot
        self.seq = seq
        self.payload = payload
    }
}

/// The raw samples of one device over one hour, packed into a few bytes each, losslessly.
///
/// A province keeps 90 days of one-a-minute samples: 2.6 billion rows of ~280 bytes each as JSON
/// rows with their index. Consecutive payloads of one device differ in a few numbers only, so
/// each payload is split into its *shape* (the text with every number taken out) and its numbers.
/// Shapes and boots are stored once per block; the numbers are stored as columns (the n-th number
/// of every payload together) of differences from the previous value, run-length coded when that
/// is shorter. A counter, a clock and a constant then cost nothing; a random reading a byte or two.
///
/// Only canonical digit runs (no leading zero, at most 18 digits) become numbers; everything else,
/// signs and decimal points included, stays in the shape, so decoding gives back the same bytes.
public enum TelemetryBlock {
    public struct Corrupt: Error, CustomStringConvertible {
        public var description: String { "a packed telemetry block could not be read" }
    }

    static let version: UInt8 = 1
    /// Where a number was taken out of a shape (never a byte of UTF-8 text).
    static let slot: UInt8 = 0xFF

    public static func encode(_ samples: [PackedSample]) -> [UInt8] {
        // An hour holds a handful of shapes and boots, mostly the one before again: compare, don't hash.
        var strings: [[UInt8]] = []
        var index: [[UInt8]: Int64] = [:]
        func intern(_ s: [UInt8]) -> Int64 {
            if strings.count <= 16 {
                for (i, t) in strings.enumerated().reversed() where t == s { return Int64(i) }
            } else if let i = index[s] {
                return i
            }
            let i = Int64(strings.count)
            strings.append(s)
            if strings.count > 16 { index[s] = i }
            if strings.count == 17 { for (k, t) in strings.enumerated() { index[t] = Int64(k) } }
            return i
        }
        let n = samples.count
        var received: [Int64] = [], offset: [Int64] = [], boots: [Int64] = [], seqs: [Int64] = [], shapes: [Int64] = []
        received.reserveCapacity(n); offset.reserveCapacity(n); boots.reserveCapacity(n); seqs.reserveCapacity(n)
        shapes.reserveCapacity(n)
        var numbers: [[Int64]] = []
        var shape: [UInt8] = []
        var previous = (received: Int64(0), offset: Int64(0), seq: Int64(0))
        for s in samples {
            received.append(s.receivedAt &- previous.received)
            let off = s.deviceTime &- s.receivedAt
            offset.append(off &- previous.offset)
            let seq = Int64(bitPattern: s.seq)
            seqs.append(seq &- previous.seq)
            previous = (s.receivedAt, off, seq)
            boots.append(intern(Array(s.boot.utf8)))
            shape.removeAll(keepingCapacity: true)
            var column = 0
            var payload = s.payload
            payload.withUTF8 { bytes in
                var i = 0
                while i < bytes.count {
                    let b = bytes[i]
                    guard b >= 0x30, b <= 0x39 else { shape.append(b); i += 1; continue }
                    var j = i
                    var value: Int64 = 0
                    while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                        if j - i < 18 { value = value * 10 + Int64(bytes[j] - 0x30) }
                        j += 1
                    }
                    if j - i <= 18, b != 0x30 || j - i == 1 {
                        shape.append(slot)
                        if numbers.count == column { numbers.append([]) }
                        numbers[column].append(value)
                        column += 1
                    } else {
                        shape.append(contentsOf: bytes[i..<j])
                    }
                    i = j
                }
            }
            shapes.append(intern(shape))
        }
        var out: [UInt8] = [version]
        out.reserveCapacity(64 + n * 8)
        putVarint(&out, UInt64(n))
        // Each string as its difference from the one before (shapes differ in a true/false or two).
        putVarint(&out, UInt64(strings.count))
        var before: [UInt8] = []
        for s in strings {
            let limit = min(s.count, before.count)
            var head = 0
            while head < limit, s[head] == before[head] { head += 1 }
            var tail = 0
            while tail < limit - head, s[s.count - 1 - tail] == before[before.count - 1 - tail] { tail += 1 }
            putVarint(&out, UInt64(head))
            putVarint(&out, UInt64(tail))
            putVarint(&out, UInt64(s.count - head - tail))
            out.append(contentsOf: s[head..<(s.count - tail)])
            before = s
        }
        putColumn(&out, received)
        putColumn(&out, offset)
        putColumn(&out, boots)
        putColumn(&out, seqs)
        putColumn(&out, shapes)
        putVarint(&out, UInt64(numbers.count))
        for column in numbers {
            var last: Int64 = 0
            putColumn(&out, column.map { v in defer { last = v }; return v &- last })
        }
        return out
    }

    /// Bounds on what a block may unpack to, so damaged bytes cannot make a reader allocate
    /// gigabytes. The defaults: an hour of 1,000 readings a second, 16 MB of shapes, 16 million numbers.
    struct Limits {
        var samples = 4_000_000, stringBytes = 16 << 20, numbers = 16_000_000
    }

    /// The samples of a block; `count`, when given (the row's `samples`), must match.
    public static func decode(_ bytes: [UInt8], count: Int64? = nil) throws -> [PackedSample] {
        try decode(bytes, count: count, limits: Limits())
    }

    static func decode(_ bytes: [UInt8], count: Int64?, limits: Limits) throws -> [PackedSample] {
        var r = Reader(bytes: bytes)
        guard try r.byte() == version else { throw Corrupt() }
        let n = try r.count(limit: limits.samples)
        if let count, count != n { throw Corrupt() }
        let stringCount = try r.count(limit: 2 * n + 1)
        var stringBytes = 0
        var strings: [[UInt8]] = []
        var slots: [Int] = []
        var before: [UInt8] = []
        for _ in 0..<stringCount {
            let head = try r.count(limit: before.count)
            let tail = try r.count(limit: before.count - head)
            let s = Array(before[..<head]) + (try r.bytes(try r.count(limit: bytes.count))) + before[(before.count - tail)...]
            stringBytes += s.count
            guard stringBytes <= limits.stringBytes else { throw Corrupt() }
            before = s
            strings.append(s)
            slots.append(s.reduce(0) { $0 + ($1 == slot ? 1 : 0) })
        }
        let received = try r.column(n), offset = try r.column(n), boots = try r.column(n), seqs = try r.column(n)
        let shapes = try r.column(n)
        for i in 0..<n {
            guard boots[i] >= 0, boots[i] < stringCount, shapes[i] >= 0, shapes[i] < stringCount else { throw Corrupt() }
        }
        let columnCount = try r.count(limit: bytes.count)
        var present = [Int](repeating: 0, count: columnCount)
        var numbers = 0
        for i in 0..<n {
            let k = slots[Int(shapes[i])]
            guard k <= columnCount else { throw Corrupt() }
            numbers += k
            guard numbers <= limits.numbers else { throw Corrupt() }
            for c in 0..<k { present[c] += 1 }
        }
        var columns: [[Int64]] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            var column = try r.column(present[c])
            var last: Int64 = 0
            for k in column.indices {
                last = last &+ column[k]
                guard last >= 0 else { throw Corrupt() }
                column[k] = last
            }
            columns.append(column)
        }
        guard r.atEnd else { throw Corrupt() }
        var next = [Int](repeating: 0, count: columnCount)
        var out: [PackedSample] = []
        out.reserveCapacity(n)
        var at: Int64 = 0, off: Int64 = 0, seq: Int64 = 0
        var text: [UInt8] = []
        var digits = [UInt8](repeating: 0, count: 20)
        for i in 0..<n {
            at = at &+ received[i]
            off = off &+ offset[i]
            seq = seq &+ seqs[i]
            text.removeAll(keepingCapacity: true)
            var column = 0
            for b in strings[Int(shapes[i])] {
                guard b == slot else { text.append(b); continue }
                var v = columns[column][next[column]]
                next[column] += 1
                column += 1
                var k = digits.count
                repeat {
                    k -= 1
                    digits[k] = UInt8(v % 10) + 0x30
                    v /= 10
                } while v > 0
                text.append(contentsOf: digits[k...])
            }
            out.append(PackedSample(receivedAt: at, deviceTime: at &+ off, boot: String(decoding: strings[Int(boots[i])], as: UTF8.self),
                                    seq: UInt64(bitPattern: seq), payload: String(decoding: text, as: UTF8.self)))
        }
        return out
    }

    // MARK: Columns: zigzag varints, or (value, run) pairs when that is shorter.

    static func putVarint(_ out: inout [UInt8], _ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    static func unzigzag(_ z: UInt64) -> Int64 { Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1) }

    static func putColumn(_ out: inout [UInt8], _ values: [Int64]) {
        var runs = 0
        var i = 0
        while i < values.count {
            var j = i + 1
            while j < values.count, values[j] == values[i] { j += 1 }
            runs += 1
            i = j
        }
        guard runs * 2 < values.count else {
            out.append(0)
            for v in values { putVarint(&out, zigzag(v)) }
            return
        }
        out.append(1)
        putVarint(&out, UInt64(runs))
        i = 0
        while i < values.count {
            var j = i + 1
            while j < values.count, values[j] == values[i] { j += 1 }
            putVarint(&out, zigzag(values[i]))
            putVarint(&out, UInt64(j - i))
            i = j
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var at = 0
        var atEnd: Bool { at == bytes.count }

        mutating func byte() throws -> UInt8 {
            guard at < bytes.count else { throw Corrupt() }
            defer { at += 1 }
            return bytes[at]
        }
        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw Corrupt() }
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        mutating func count(limit: Int) throws -> Int {
            let v = try varint()
            guard v <= UInt64(limit) else { throw Corrupt() }
            return Int(v)
        }
        mutating func bytes(_ n: Int) throws -> [UInt8] {
            guard n <= bytes.count - at else { throw Corrupt() }
            defer { at += n }
            return Array(bytes[at..<at + n])
        }
        mutating func column(_ n: Int) throws -> [Int64] {
            var out: [Int64] = []
            out.reserveCapacity(n)
            switch try byte() {
            case 0:
                for _ in 0..<n { out.append(TelemetryBlock.unzigzag(try varint())) }
            case 1:
                let runs = try count(limit: n)
                for _ in 0..<runs {
                    let v = TelemetryBlock.unzigzag(try varint())
                    let len = try count(limit: n - out.count)
                    guard len > 0 else { throw Corrupt() }
                    out.append(contentsOf: repeatElement(v, count: len))
                }
                guard out.count == n else { throw Corrupt() }
            default:
                throw Corrupt()
            }
            return out
        }
    }
}
