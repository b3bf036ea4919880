import Foundation
import HummingbirdTesting
import Testing
import WardDomain
import WardStorage
@testable import WardController
@testable import WardHTTP

/// The lifecycle service on an exact clock, and a year's chart through the API read from roll-ups.
@Suite struct LifecycleServiceTests {
    /// A reading of loa-1 every 6 hours for 366 days up to `now`: volume = day of the year.
    static func writeYear(_ db: WardDatabase, until now: Date) throws {
        let start = now.addingTimeInterval(-366 * 86_400)
        try db.store.write { c in
            let rows: [[SQLValue]] = (0..<(366 * 4)).map { i in
                let at = Int64((start.timeIntervalSince1970 + Double(i) * 21_600) * 1000)
                return ["loa-1".sqlValue, at.sqlValue, at.sqlValue, "b".sqlValue, Int64(i).sqlValue,
                        #"{"speaker":{"volume":\#(i / 4),"amp_ok":true,"power":"mains"}}"#.sqlValue]
            }
            try c.insertMany("INSERT INTO telemetry_samples (device_id, received_at, device_ts, boot, seq, payload)", columns: 6, rows: rows)
        }
    }

    @Test func theServiceRollsUpThenPrunesOnItsClockAndAYearChartReadsRollups() async throws {
        let f = try await OperatorAPITests().fixture()
        let now = OperatorAPITests().now
        try Self.writeYear(f.db, until: now)
        let clock = ManualTimeSource(now)
        var config = LifecycleConfiguration()
        config.pause = .zero
        let service = LifecycleService(database: f.db, clock: clock, configuration: config)
        var steps = 0
        while try await service.step() { steps += 1; #expect(steps < 5_000) }
        #expect(steps > 366, "hours with readings, days, then one pruning pass")
        let repo = LifecycleRepository(f.db)
        #expect(try repo.rollupMark(.day) != nil)
        // Rolled-up hours are packed (one block per hour with a reading); the oldest raw reading, packed or not, is at most 90 days old.
        let (oldest, blocks) = try f.db.store.read { c in
            ([try Int64.fetchOne(c, sql: "SELECT min(received_at) FROM telemetry_samples"),
              try Int64.fetchOne(c, sql: "SELECT min(bucket) FROM telemetry_blocks")].compactMap { $0 }.min(),
             try Int.fetchOne(c, sql: "SELECT count(*) FROM telemetry_blocks") ?? 0)
        }
        #expect(try #require(oldest) >= RollupGrain.hour.bucket(Int64((now.timeIntervalSince1970 - 90 * 86_400) * 1000)),
                "raw samples older than 90 days are gone")
        #expect(blocks >= 89 * 4 && blocks <= 91 * 4)
        #expect(try await service.step() == false, "nothing left; the next pass is an hour away")

        try await f.app.test(.live) { client in
            let admin = try #require(try await OperatorAPITests.login(client, "u-admin"))
            let (status, text) = try await client.execute(uri: "/api/v1/devices/loa-1/telemetry?hours=8784", method: .get, headers: admin.headers) { r in
                (r.status.code, String(buffer: r.body))
            }
            #expect(status == 200, "\(text)")
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let series = try decoder.decode([TelemetrySeries].self, from: Data(text.utf8))
            let volume = try #require(series.first { $0.field == "speaker.volume" })
            #expect(volume.points.count >= 366 && volume.points.count <= 368, "one point a day")
            #expect(try #require(volume.points.first).at < now.addingTimeInterval(-360 * 86_400), "a year back, from the daily roll-ups")
            #expect(volume.points.first?.min != nil && volume.points.first?.max != nil)
            #expect(volume.points.last.map { $0.at > now.addingTimeInterval(-2 * 86_400) } == true, "up to today, from what is not rolled up yet")
            let (tooLong, _) = try await client.execute(uri: "/api/v1/devices/loa-1/telemetry?hours=9000", method: .get, headers: admin.headers) { r in
                (r.status.code, "")
            }
            #expect(tooLong == 400)
        }
    }

    @Test func retentionSettingsAreCheckedWithAClearReason() {
        var c = LifecycleConfiguration()
        #expect(c.problem() == nil)
        c.stateDays = 30
        #expect(c.problem()?.contains("--keep-state-days") == true)
        c.stateDays = 400
        c.telemetryDays = 0
        #expect(c.problem() == nil, "0 keeps")
    }
}
