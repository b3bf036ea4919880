import Foundation
import Testing
@testable import WardDomain

@Suite struct TelemetrySeriesTests {
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func numericLeavesBecomeSeriesBooleansCountAsZeroOrOne() {
        let samples: [(at: Date, payload: String)] = [
            (t0, #"{"v":1,"ts":5,"seq":1,"camera":{"disk_used":0.5,"recording":true,"model":"X","storage":{"days":12}}}"#),
            (t0 + 30, #"{"v":1,"ts":6,"seq":2,"camera":{"disk_used":0.52,"recording":false,"storage":{"days":12.5}}}"#),
            (t0 + 60, "not json"),
            (t0 + 90, #"[1,2]"#),
        ]
        let s = TelemetrySeries.build(samples)
        #expect(s.map(\.field) == ["camera.disk_used", "camera.recording", "camera.storage.days"])
        #expect(s[1].points.map(\.value) == [1, 0])
        #expect(s[2].points.map(\.at) == [t0, t0 + 30])
    }

    @Test func longSeriesAreThinnedByBucketMeans() {
        let samples = (0..<1000).map { i in (at: t0 + Double(i) * 30, payload: #"{"speaker":{"volume":\#(i % 2 == 0 ? 60 : 80)}}"#) }
        let s = TelemetrySeries.build(samples, maxPoints: 100)
        #expect(s.count == 1)
        #expect(s[0].points.count == 100)
        // Each bucket holds 10 alternating readings: the mean is exactly 70.
        #expect(s[0].points.allSatisfy { $0.value == 70 })
        #expect(s[0].points.map(\.at) == s[0].points.map(\.at).sorted())
    }

    @Test func shortSeriesAreLeftAlone() {
        let s = TelemetrySeries.build([(t0, #"{"kiosk":{"queue":3}}"#)], maxPoints: 10)
        #expect(s == [TelemetrySeries(field: "kiosk.queue", points: [.init(at: t0, value: 3)])])
    }
}

@Suite struct MessageBudgetTests {
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func aBurstIsAllowedThenTheAverageRate() {
        var b = MessageBudget(perSecond: 10, burst: 50)
        let first = (0..<80).filter { _ in b.allow("LOA-1", at: t0) }.count
        #expect(first == 50)
        let other = b.allow("LOA-2", at: t0)
        #expect(other)  // another device has its own budget
        // One second later ten more are allowed.
        let later = (0..<20).filter { _ in b.allow("LOA-1", at: t0 + 1) }.count
        #expect(later == 10)
        let drops = b.recentDrops(at: t0 + 1)
        #expect(drops == ["LOA-1": 40])
        // Drops older than the window are forgotten.
        let old = b.recentDrops(at: t0 + 62)
        #expect(old.isEmpty)
    }

    @Test func recentDropsRaiseTheFloodingCondition() {
        var o = DeviceObservation(deviceID: "LOA-1", deviceClass: .speaker, villageID: nil, communeID: nil, state: .ok, since: t0)
        #expect(AlarmConditions.of(o, rules: .defaults, now: t0)[.flooding] == nil)
        o.recentDrops = 12
        #expect(AlarmConditions.of(o, rules: .defaults, now: t0)[.flooding]?.contains("12") == true)
        o.state = .offline
        #expect(AlarmConditions.of(o, rules: .defaults, now: t0)[.flooding] != nil)
    }
}
