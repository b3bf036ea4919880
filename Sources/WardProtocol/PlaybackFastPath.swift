/// A direct reader for the common shape of a `playback` message: one object whose values are
/// escape-free strings, integers and nulls, and an optional `more` array of such objects.
///
/// Why: an emergency brings thousands of these reports within a second, and the general path
/// (strict syntax pass, then JSONDecoder) was most of the controller's CPU in that window. This
/// reader accepts only what it can judge exactly and answers nil for anything else (escapes,
/// fractions or exponents, unknown or repeated keys, a nested `more`, stray bytes): such a
/// payload takes the general path, so every refusal and its wording stay those of that path.
enum PlaybackFastPath {
    static func report(_ bytes: UnsafeRawBufferPointer) -> PlaybackReport? {
        var r = Reader(bytes: bytes)
        guard let report = r.object(allowMore: true) else { return nil }
        r.skipSpace()
        return r.i == bytes.count ? report : nil
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var i = 0

        mutating func skipSpace() {
            while i < bytes.count {
                switch bytes[i] {
                case 0x20, 0x0A, 0x0D, 0x09: i += 1
                default: return
                }
            }
        }

        mutating func take(_ c: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }

        /// A string without escapes or control characters (the bytes are already valid UTF-8).
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
                i += 1
            }
            return nil
        }

        /// An integer as JSON writes one (no leading zeros), nil for anything else or an overflow.
        mutating func integer() -> Int64? {
            skipSpace()
            var negative = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            let start = i
            var v: Int64 = 0
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(bytes[i] - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                v = a
                i += 1
            }
            let digits = i - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            // A fraction or exponent: the general path decides what it means for an integer field.
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                return nil
            }
            return negative ? -v : v
        }

        mutating func isNull() -> Bool {
            skipSpace()
            guard i + 4 <= bytes.count, bytes[i] == UInt8(ascii: "n"), bytes[i + 1] == UInt8(ascii: "u"),
                  bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") else { return false }
            i += 4
            return true
        }

        /// An optional string: absent stays nil, `null` is nil, anything but a plain string fails.
        mutating func optionalString(_ seen: inout Bool, into value: inout String?) -> Bool {
            guard !seen else { return false }
            seen = true
            if isNull() { return true }
            guard let s = string() else { return false }
            value = s
            return true
        }

        mutating func object(allowMore: Bool) -> PlaybackReport? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var v: Int64?, ts: Int64?
            var device: String?, boot: String?, play: String?, event: String?
            var reason: String?, by: String?, detail: String?
            var seenReason = false, seenBy = false, seenDetail = false, seenMore = false
            var more: [PlaybackReport]?
            if take(UInt8(ascii: "}")) { return nil }
            repeat {
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "v": guard v == nil, let n = integer() else { return nil }; v = n
                case "ts": guard ts == nil, let n = integer() else { return nil }; ts = n
                case "device": guard device == nil, let s = string() else { return nil }; device = s
                case "boot": guard boot == nil, let s = string() else { return nil }; boot = s
                case "play": guard play == nil, let s = string() else { return nil }; play = s
                case "event": guard event == nil, let s = string() else { return nil }; event = s
                case "reason": guard optionalString(&seenReason, into: &reason) else { return nil }
                case "by": guard optionalString(&seenBy, into: &by) else { return nil }
                case "detail": guard optionalString(&seenDetail, into: &detail) else { return nil }
                case "more":
                    guard allowMore, !seenMore else { return nil }
                    seenMore = true
                    if isNull() { break }
                    guard take(UInt8(ascii: "[")) else { return nil }
                    var list: [PlaybackReport] = []
                    if !take(UInt8(ascii: "]")) {
                        repeat {
                            guard let m = object(allowMore: false) else { return nil }
                            list.append(m)
                        } while take(UInt8(ascii: ","))
                        guard take(UInt8(ascii: "]")) else { return nil }
                    }
                    more = list
                default: return nil
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")), let v, let ts, let device, let boot, let play, let event,
                  let version = Int(exactly: v) else { return nil }
            var r = PlaybackReport(device: device, boot: boot, ts: ts, play: play, event: .started)
            r.v = version
            r.event = event
            r.reason = reason
            r.by = by
            r.detail = detail
            r.more = more
            return r
        }
    }
}

extension PlaybackReport {
    /// The bytes `ProtocolEncoder.encode(self)` gives (sorted keys, absent fields left out), written
    /// directly when every text is plain (no quote, backslash or control character); otherwise the
    /// general encoder's. Thousands of co-simulated speakers report in the same second of a bench,
    /// and JSONEncoder was a tenth of the simulator's CPU there.
    public func encoded() -> [UInt8] {
        guard isPlain else { return ProtocolEncoder.encode(self) }
        var out: [UInt8] = []
        out.reserveCapacity(160 + (more?.count ?? 0) * 150)
        write(into: &out)
        return out
    }

    private var isPlain: Bool {
        func plain(_ s: String?) -> Bool {
            guard let s else { return true }
            return !s.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        }
        return plain(device) && plain(boot) && plain(play) && plain(event) && plain(reason) && plain(by) && plain(detail)
            && (more ?? []).allSatisfy(\.isPlain)
    }

    private func write(into out: inout [UInt8]) {
        var first = true
        func key(_ k: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            k.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ k: StaticString, _ v: String?) {
            guard let v else { return }
            key(k)
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: v.utf8)
            out.append(UInt8(ascii: "\""))
        }
        // Keys in sorted order, as the general encoder writes them.
        string("boot", boot)
        string("by", by)
        string("detail", detail)
        string("device", device)
        string("event", event)
        if let more {
            key("more")
            out.append(UInt8(ascii: "["))
            for (i, m) in more.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                m.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        string("play", play)
        string("reason", reason)
        key("ts")
        out.append(contentsOf: String(ts).utf8)
        key("v")
        out.append(contentsOf: String(v).utf8)
        out.append(UInt8(ascii: "}"))
    }
}
