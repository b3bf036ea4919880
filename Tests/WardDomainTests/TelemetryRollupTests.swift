import Foundation
import Testing
import WardDomain

@Suite struct TelemetryRollupTests {
    /// 2026-10-01 00:00 UTC (07:00 in Hà Nội).
    let day0: Int64 = 1_790_812_800_000
    let h: Int64 = 3_600_000

    @Test func bucketsStartAtWholeUTCHoursAndDays() {
        #expect(RollupGrain.hour.bucket(day0 + 59 * 60_000 + 59_999) == day0)
        #expect(RollupGrain.hour.bucket(day0 + h) == day0 + h)
        #expect(RollupGrain.hour.bucket(day0 + h - 1) == day0)
        #expect(RollupGrain.day.bucket(day0 + 24 * h - 1) == day0)
        #expect(RollupGrain.day.bucket(day0 + 24 * h) == day0 + 24 * h)
        #expect(RollupGrain.hour.bucket(-1) == -h, "floor, also before 1970")
        // 06:59 in Hà Nội on 2 October is still the UTC day of 1 October.
        #expect(RollupGrain.day.bucket(day0 + 23 * h + 59 * 60_000) == day0)
    }

    @Test func minMeanMaxCountPerNumericFieldOnly() {
        let samples: [(deviceID: String, at: Int64, payload: String)] = [
            ("loa-1", day0 + 60_000, #"{"v":1,"seq":7,"ts":5,"device":"loa-1","speaker":{"volume":60,"amp_ok":true,"power":"mains","rssi":-80}}"#),
            ("loa-1", day0 + 120_000, #"{"v":1,"seq":8,"ts":6,"speaker":{"volume":70,"amp_ok":false,"power":"solar","battery_pct":null}}"#),
            ("loa-1", day0 + h - 1, #"{"speaker":{"volume":80,"amp_ok":true,"rssi":-70}}"#),
            ("loa-1", day0 + h, #"{"speaker":{"volume":10}}"#),  // the next hour
            ("loa-1", day0 + 1_000, "not json"),  // counted, adds nothing
            ("cam-1", day0 + 5_000, #"{"camera":{"recording":true,"write_rate_bps":350000.5,"stream_ok":"yes"}}"#),
        ]
        let r = TelemetryRollup.aggregate(samples, grain: .hour)
        #expect(r.map(\.deviceID) == ["cam-1", "loa-1", "loa-1"])
        #expect(r.map(\.start) == [day0, day0, day0 + h])
        let first = r[1]
        #expect(first.samples == 4)
        #expect(Set(first.fields.keys) == ["speaker.volume", "speaker.amp_ok", "speaker.rssi"], "text, null and the envelope are no fields")
        #expect(first.fields["speaker.volume"] == FieldStats(count: 3, min: 60, max: 80, sum: 210))
        #expect(first.fields["speaker.volume"]?.mean == 70)
        #expect(first.fields["speaker.amp_ok"] == FieldStats(count: 3, min: 0, max: 1, sum: 2))
        #expect(first.fields["speaker.rssi"] == FieldStats(count: 2, min: -80, max: -70, sum: -150))
        #expect(r[2].fields == ["speaker.volume": FieldStats(10)])
        #expect(r[0].fields == ["camera.recording": FieldStats(1), "camera.write_rate_bps": FieldStats(350000.5)])
    }

    @Test func hoursMergeIntoDaysExactly() {
        let samples = (0..<(48 * 60)).map { i in
            (deviceID: "ap-1", at: day0 + Int64(i) * 60_000, payload: #"{"access_point":{"clients":\#(i % 50),"cpu_pct":\#(Double(i) / 4)}}"#)
        }
        let direct = TelemetryRollup.aggregate(samples, grain: .day)
        let viaHours = TelemetryRollup.merge(TelemetryRollup.aggregate(samples, grain: .hour), into: .day)
        #expect(direct.count == 2)
        #expect(direct == viaHours)
        #expect(direct[0].samples == 1440 && direct[0].fields["access_point.clients"]?.max == 49)
    }

    @Test func storedTextRoundTrips() throws {
        var r = TelemetryRollup(deviceID: "cam-1", grain: .hour, start: day0, samples: 3)
        r.fields = ["camera.write_rate_bps": FieldStats(count: 3, min: 0.25, max: 1e10, sum: 1.00000000005e10),
                    "camera.recording": FieldStats(count: 3, min: 0, max: 1, sum: 2), "a\"b": FieldStats(-1)]
        let text = r.encodedFields
        #expect(text.hasPrefix(#"{"a\"b":[1,-1,-1,-1],"camera.recording":[3,0,1,2],"#))
        #expect(TelemetryRollup.decodeFields(text) == r.fields)
        #expect(TelemetryRollup.decodeFields("[1]") == nil)
        #expect(TelemetryRollup.decodeFields(#"{"x":[1,2]}"#) == nil)
    }

    @Test func chartFromRollupsHasMeanAndRange() {
        var days: [TelemetryRollup] = []
        for d in 0..<366 {
            let low = Double(d)
            let stats = FieldStats(count: 2, min: low, max: low + 10, sum: 2 * low + 10)
            let start: Int64 = day0 + Int64(d) * 24 * h
            days.append(TelemetryRollup(deviceID: "loa-1", grain: .day, start: start, samples: 1440, fields: ["speaker.volume": stats]))
        }
        let full = TelemetrySeries.build(rollups: days.reversed(), maxPoints: 400)
        #expect(full.count == 1 && full[0].points.count == 366)
        let first = TelemetrySeries.Point(at: Date(timeIntervalSince1970: Double(day0) / 1000), value: 5, min: 0, max: 10)
        #expect(full[0].points.first == first)
        let thin = TelemetrySeries.build(rollups: days, maxPoints: 100)
        #expect(thin[0].points.count <= 100 && thin[0].points.count >= 90)
        #expect(thin[0].points.first?.min == 0 && thin[0].points.last?.max == 375)
    }

    @Test func chartSourceByWindow() {
        #expect(TelemetryChartPlan.source(forSpan: 24 * 3600) == .raw)
        #expect(TelemetryChartPlan.source(forSpan: 31 * 86_400) == .hour)
        #expect(TelemetryChartPlan.source(forSpan: 366 * 86_400) == .day)
    }
}
