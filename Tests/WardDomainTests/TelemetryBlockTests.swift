import Foundation
import Testing
@testable import WardDomain

/// The packed hour of raw telemetry: lossless on any text, small on real readings, and an
/// unreadable block is an error, never a crash.
@Suite struct TelemetryBlockTests {
    let hour: Int64 = 1_790_812_800_000

    /// A speaker's minute readings, as firmware-sim sends them.
    func speakerHour(_ rng: inout SeededRandom, boot: String = "b-7f3a", from seq: UInt64 = 1_000) -> [PackedSample] {
        (0..<60).map { m in
            let at = hour + Int64(m) * 60_000 + Int64(rng.next() % 900)
            let ts = at - 1_200 + Int64(rng.next() % 50)
            let payload = #"{"boot":"\#(boot)","device":"xa12-t3-loa1","seq":\#(seq + UInt64(m)),"ts":\#(ts),"v":1,"#
                + #""speaker":{"amp_ok":true,"battery_pct":null,"line_ok":\#(m != 17),"playing":\#(m < 30),"power":"mains","#
                + #""rssi":\#(-60 - Int(rng.next() % 30)),"temp_c":\#(31 + Int(rng.next() % 5)).\#(rng.next() % 10),"volume":70}}"#
            return PackedSample(receivedAt: at, deviceTime: ts, boot: boot, seq: seq + UInt64(m), payload: payload)
        }
    }

    @Test func aSpeakersHourComesBackExactlyInAFewBytesASample() throws {
        var rng = SeededRandom(seed: 7)
        let samples = speakerHour(&rng)
        let packed = TelemetryBlock.encode(samples)
        #expect(try TelemetryBlock.decode(packed) == samples)
        let json = samples.reduce(0) { $0 + $1.payload.utf8.count }
        #expect(packed.count * 10 < json, "\(packed.count) bytes packed for \(json) bytes of JSON")
    }

    @Test func anyTextComesBackExactly() throws {
        let odd = [
            "", "0", "00", "007", "-0", "1e308", "0.05", "12345678901234567890123", "123456789012345678", "1234567890123456789",
            "Loa thôn Đông — \u{1F4E2} ổn định 100%", "\u{0}\u{1}\u{7F}", #"{"a":[1,2,3],"b":"x9y","c":-12.5e-3}"#, "9".padding(toLength: 400, withPad: "9", startingAt: 0),
            "not json at all 42", "\"\\u00e9\" é", "99999999999999999", "18446744073709551615",
        ]
        var rng = SeededRandom(seed: 11)
        for round in 0..<200 {
            let n = Int(rng.next() % 40)
            var samples: [PackedSample] = []
            var at = Int64(rng.next() % 1_000_000) - 500_000
            for _ in 0..<n {
                at += Int64(rng.next() % 100_000) - 20_000
                var payload = odd[Int(rng.next() % UInt64(odd.count))]
                if rng.next() % 2 == 0 { payload += "\(rng.next())" + odd[Int(rng.next() % UInt64(odd.count))] }
                samples.append(PackedSample(receivedAt: rng.next() % 50 == 0 ? .min : at,
                                            deviceTime: rng.next() % 50 == 0 ? .max : at - Int64(rng.next() % 10_000),
                                            boot: ["b", "", "khởi-động-2"][Int(rng.next() % 3)],
                                            seq: rng.next() % 10 == 0 ? .max : rng.next() % 1000, payload: payload))
            }
            #expect(try TelemetryBlock.decode(TelemetryBlock.encode(samples)) == samples, "round \(round)")
        }
    }

    @Test func aDamagedBlockIsAnErrorNeverACrash() throws {
        var rng = SeededRandom(seed: 3)
        let good = TelemetryBlock.encode(speakerHour(&rng))
        var errors = 0
        for cut in 0..<good.count {
            do { _ = try TelemetryBlock.decode(Array(good[..<cut])) } catch { errors += 1 }
        }
        #expect(errors == good.count, "every truncation is refused")
        for _ in 0..<2_000 {
            var bad = good
            for _ in 0...(rng.next() % 4) { bad[Int(rng.next() % UInt64(bad.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? TelemetryBlock.decode(bad)
        }
        #expect(throws: TelemetryBlock.Corrupt.self) { try TelemetryBlock.decode(good, count: 59) }
        #expect(try TelemetryBlock.decode(good, count: 60).count == 60)
        // Each bound refuses a sound block just past it, before unpacking it, and takes one at it.
        let numbers = try TelemetryBlock.decode(good).reduce(0) { n, s in n + s.payload.utf8.split { !(48...57).contains($0) }.count }
        let shapes = try TelemetryBlock.decode(good).reduce(0) { $0 + $1.payload.utf8.count }
        for (limits, fits) in [(TelemetryBlock.Limits(samples: 59), false), (TelemetryBlock.Limits(samples: 60), true),
                               (TelemetryBlock.Limits(numbers: 10), false), (TelemetryBlock.Limits(numbers: numbers + 60 * 3), true),
                               (TelemetryBlock.Limits(stringBytes: 10), false), (TelemetryBlock.Limits(stringBytes: shapes), true)] {
            if fits {
                #expect(try TelemetryBlock.decode(good, count: nil, limits: limits).count == 60, "\(limits)")
            } else {
                #expect(throws: TelemetryBlock.Corrupt.self, "\(limits)") { try TelemetryBlock.decode(good, count: nil, limits: limits) }
            }
        }
        // A few bytes claiming millions of samples are refused by the default bound.
        var huge: [UInt8] = [1]
        TelemetryBlock.putVarint(&huge, 5_000_000)
        #expect(throws: TelemetryBlock.Corrupt.self) { try TelemetryBlock.decode(huge + [0]) }
        #expect(throws: TelemetryBlock.Corrupt.self) { try TelemetryBlock.decode([]) }
        #expect(throws: TelemetryBlock.Corrupt.self) { try TelemetryBlock.decode([2, 0, 0]) }
    }

    @Test func rollupFieldsPackedReadBackAndJSONStillReads() throws {
        let r = TelemetryRollup(deviceID: "loa-1", grain: .hour, start: hour, samples: 60, fields: [
            "speaker.rssi": FieldStats(count: 60, min: -89, max: -60, sum: -4_512),
            "speaker.temp_c": FieldStats(count: 60, min: 31.2, max: 35.9, sum: 2_001.7),
            "camera.storage_used_bytes": FieldStats(count: 1, min: 1.7e12, max: 1.7e12, sum: 1.7e12),
            "x.huge": FieldStats(count: 3, min: -.infinity, max: .greatestFiniteMagnitude, sum: 1e300),
            "x.zero": FieldStats(count: 0, min: 0, max: -0.0, sum: 0),
        ])
        let ids: [String: Int64] = ["speaker.rssi": 1, "speaker.temp_c": 2, "camera.storage_used_bytes": 3, "x.huge": 400, "x.zero": 5]
        let names = Dictionary(uniqueKeysWithValues: ids.map { ($0.value, $0.key) })
        let packed = r.packedFields(ids: ids)
        #expect(TelemetryRollup.storedFields(packed, names: names) == r.fields)
        #expect(packed.count * 2 < r.encodedFields.utf8.count)
        #expect(TelemetryRollup.storedFields(Array(r.encodedFields.utf8), names: [:]) == TelemetryRollup.decodeFields(r.encodedFields),
                "roll-ups stored as JSON before v28 still read")
        #expect(TelemetryRollup.storedFields(packed, names: [1: "speaker.rssi"]) == nil, "a field without a name is not guessed")
        #expect(TelemetryRollup.storedFields([], names: names) == nil)
        for cut in 1..<packed.count { #expect(TelemetryRollup.storedFields(Array(packed[..<cut]), names: names) == nil) }
    }
}
