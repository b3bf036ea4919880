import Foundation
import Testing
@testable import WardDomain

@Suite struct UptimeTests {
    let h = 3600.0

    @Test func summaryClipsToWindowAndCountsGapsAsUnknown() {
        let iv = [
            StateInterval(state: .ok, start: t0, end: t0 + 2 * h),
            StateInterval(state: .offline, start: t0 + 2 * h, end: t0 + 3 * h),
            // gap 3h–4h: controller knew nothing
            StateInterval(state: .degraded, start: t0 + 4 * h, end: nil),
        ]
        let s = Uptime.summary(of: iv, in: DateInterval(start: t0 + h, end: t0 + 6 * h), now: t0 + 5 * h)
        #expect(s.ok == h && s.offline == h && s.unknown == h && s.degraded == h)
        #expect(s.total == 4 * h)  // window ends at `now`
        #expect(s.availability == 0.5)
        #expect(s.okShare == 0.25)
    }

    @Test func deviceInstalledMidWindowIsMeasuredFromInstallation() {
        let iv = [StateInterval(state: .ok, start: t0 + 10 * h, end: nil)]
        let s = Uptime.summary(of: iv, in: DateInterval(start: t0, end: t0 + 24 * h),
                               monitored: DateInterval(start: t0 + 8 * h, end: .distantFuture), now: t0 + 24 * h)
        #expect(s.total == 16 * h && s.unknown == 2 * h && s.ok == 14 * h)
        #expect(s.availability == 14.0 / 16.0)
    }

    @Test func removedDeviceStopsCounting() {
        let iv = [StateInterval(state: .ok, start: t0, end: nil)]
        let s = Uptime.summary(of: iv, in: DateInterval(start: t0, end: t0 + 10 * h),
                               monitored: DateInterval(start: t0, end: t0 + 4 * h), now: t0 + 10 * h)
        #expect(s.total == 4 * h && s.availability == 1)
    }

    @Test func nothingMonitoredHasNoAvailability() {
        let s = Uptime.summary(of: [], in: DateInterval(start: t0, end: t0 + h),
                               monitored: DateInterval(start: t0 + 2 * h, end: .distantFuture), now: t0 + 3 * h)
        #expect(s.total == 0 && s.availability == nil)
    }

    @Test func summariesAddUpDeviceTimeWeighted() {
        let a = UptimeSummary(ok: 90, offline: 10), b = UptimeSummary(ok: 50, offline: 50)
        #expect((a + b).availability == 0.7)
    }

    @Test func localDaysSplitAtVietnamMidnight() throws {
        let cal = LocalCalendar.vietnam
        // 2026-10-31 16:00 UTC = 23:00 local; 17:00 UTC is local midnight of 1 November.
        let utc = ISO8601DateFormatter()
        let start = try #require(utc.date(from: "2026-10-31T16:00:00Z"))
        let iv = [StateInterval(state: .ok, start: start, end: start + 2 * h)]
        let days = cal.dailyUptime(iv, in: DateInterval(start: start, end: start + 2 * h), now: start + 3 * h)
        #expect(days.map(\.day) == ["2026-10-31", "2026-11-01"])
        #expect(days.map(\.summary.ok) == [h, h])
        #expect(cal.day(named: "2026-11-01")?.start == utc.date(from: "2026-10-31T17:00:00Z"))
        #expect(cal.dayKey(try #require(utc.date(from: "2026-10-31T16:59:59Z"))) == "2026-10-31")
    }

    @Test func monthsAreLocalMonths() throws {
        let cal = LocalCalendar.vietnam
        let utc = ISO8601DateFormatter()
        let oct = try #require(cal.month(named: "2026-10"))
        #expect(oct.start == utc.date(from: "2026-09-30T17:00:00Z"))
        #expect(oct.end == utc.date(from: "2026-10-31T17:00:00Z"))
        #expect(cal.month(named: "2026-13") == nil)
        #expect(cal.day(named: "2026-02-30") == nil)
        #expect(cal.day(named: "hôm nay") == nil)
    }

    @Test func outageSpanningTwoMonthsIsSplitExactly() throws {
        let cal = LocalCalendar.vietnam
        let oct = try #require(cal.month(named: "2026-10")), nov = try #require(cal.month(named: "2026-11"))
        let iv = [StateInterval(state: .ok, start: oct.start, end: oct.end - 3 * h),
                  StateInterval(state: .offline, start: oct.end - 3 * h, end: oct.end + 5 * h),
                  StateInterval(state: .ok, start: oct.end + 5 * h, end: nil)]
        let now = nov.end
        #expect(Uptime.summary(of: iv, in: oct, now: now).offline == 3 * h)
        #expect(Uptime.summary(of: iv, in: nov, now: now).offline == 5 * h)
        #expect(Uptime.summary(of: iv, in: nov, now: now).total == 30 * 24 * h)
    }

    @Test func displayIsLocalTime() throws {
        let d = try #require(ISO8601DateFormatter().date(from: "2026-11-21T07:05:09Z"))
        #expect(LocalCalendar.vietnam.display(d) == "21/11/2026 14:05:09")
    }
}
