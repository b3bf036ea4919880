import Dispatch
import Foundation
import Logging
import Synchronization
import WardDomain
import WardStorage

/// How long data is kept, and how the lifecycle works through it. Days are whole days before now;
/// 0 keeps for ever. Raw telemetry is rolled up into hourly and daily aggregates before it goes.
public struct LifecycleConfiguration: Sendable, Equatable {
    /// Raw telemetry samples (default 90 days). Kiosks' samples stay while `keepKioskSamples`.
    public var telemetryDays = 90
    /// Hourly roll-ups (default: kept). Daily roll-ups are always kept.
    public var hourlyDays = 0
    /// Evidence, each with its own retention (default: kept).
    public var stateDays = 0
    public var playbackDays = 0
    public var alarmDays = 0
    public var auditDays = 0
    /// The monthly report reads kiosk counters from raw samples: they are not pruned while this holds.
    public var keepKioskSamples = true

    /// An hour is rolled up this long after it ended (late writes of the ingest batches land first).
    public var settle: TimeInterval = 300
    /// Devices per roll-up batch: hours (≈ 60 samples each) and days (24 hourly rows each).
    public var hourDevices = 50
    public var dayDevices = 200
    /// Rows deleted per pruning batch.
    public var pruneRows = 5000
    /// Between two batches (the writer is free for ingest), when idle, and between pruning passes.
    public var pause: Duration = .milliseconds(20)
    public var idle: Duration = .seconds(60)
    public var pruneEvery: TimeInterval = 3600

    public init() {}

    /// The smallest retentions allowed: a chart reads raw samples up to 3 days back and hourly
    /// roll-ups up to 45; evidence feeds last month's report and the 30-day figures.
    public static let minimumTelemetryDays = 7, minimumHourlyDays = 46, minimumEvidenceDays = 93

    /// Why these settings cannot be used (Vietnamese / English), or nil.
    public func problem() -> String? {
        func check(_ v: Int, _ name: String, _ minimum: Int) -> String? {
            v == 0 || v >= minimum ? nil : "\(name): 0 (giữ mãi) hoặc ≥ \(minimum) ngày / 0 (keep) or at least \(minimum) days"
        }
        return check(telemetryDays, "--keep-telemetry-days", Self.minimumTelemetryDays)
            ?? check(hourlyDays, "--keep-hourly-days", Self.minimumHourlyDays)
            ?? check(stateDays, "--keep-state-days", Self.minimumEvidenceDays)
            ?? check(playbackDays, "--keep-playback-days", Self.minimumEvidenceDays)
            ?? check(alarmDays, "--keep-alarm-days", Self.minimumEvidenceDays)
            ?? check(auditDays, "--keep-audit-days", Self.minimumEvidenceDays)
    }
}

/// The lifecycle's work, step by step, on the calling thread (the service runs it on its own
/// queue; `bench lifecycle` and tests call it directly). Every step is one bounded transaction.
public struct LifecycleWork: Sendable {
    public let database: WardDatabase
    public let configuration: LifecycleConfiguration
    let repository: LifecycleRepository

    public init(database: WardDatabase, configuration: LifecycleConfiguration) {
        self.database = database
        self.configuration = configuration
        repository = LifecycleRepository(database)
    }

    /// One roll-up batch (hours first, then days); false when both are caught up.
    public func rollUpBatch(now: Date) throws -> Bool {
        if try repository.rollUp(.hour, now: now, settle: configuration.settle, devices: configuration.hourDevices) != nil { return true }
        return try repository.rollUp(.day, now: now, settle: configuration.settle, devices: configuration.dayDevices) != nil
    }

    /// What one pruning pass removed, by table.
    public struct Pruned: Sendable, Equatable, CustomStringConvertible {
        public var rows: [String: Int] = [:]
        public var total: Int { rows.values.reduce(0, +) }
        public var description: String { rows.keys.sorted().map { "\($0) \(rows[$0]!)" }.joined(separator: ", ") }
    }

    /// Every retention applied once, in batches; `between` runs after each batch (the service
    /// yields the writer there and stops when cancelled).
    public func prunePass(now: Date, between: () -> Bool = { true }) throws -> Pruned {
        var out = Pruned()
        let c = configuration
        func before(_ days: Int) -> Date { now.addingTimeInterval(-Double(days) * 86_400) }
        func perDevice(_ kind: LifecycleRepository.PerDevice, _ cut: Date, keep: Set<String> = []) throws {
            var from: String? = ""
            while let f = from {
                let r = try repository.prune(kind, before: cut, from: f, limit: c.pruneRows, keepClasses: keep)
                out.rows[kind.table, default: 0] += r.deleted
                from = r.next
                guard between() else { return }
            }
        }
        func log(_ log: LifecycleRepository.Log, _ cut: Date) throws {
            while true {
                let n = try repository.prune(log, before: cut, limit: c.pruneRows, now: now)
                out.rows[log.rawValue, default: 0] += n
                guard n >= c.pruneRows, between() else { return }
            }
        }
        // Raw samples only once rolled up: never past the hourly roll-up's mark.
        if c.telemetryDays > 0, let hours = try repository.rollupMark(.hour) {
            let cut = min(before(c.telemetryDays), Date(timeIntervalSince1970: Double(hours.value) / 1000))
            let keep: Set<String> = c.keepKioskSamples ? [DeviceClass.kiosk.rawValue] : []
            try perDevice(.samples, cut, keep: keep)
            try perDevice(.blocks, cut, keep: keep)
        }
        if c.hourlyDays > 0, let days = try repository.rollupMark(.day) {
            try perDevice(.hourly, min(before(c.hourlyDays), Date(timeIntervalSince1970: Double(days.value) / 1000)))
        }
        if c.stateDays > 0 { try perDevice(.stateIntervals, before(c.stateDays)) }
        if c.playbackDays > 0 { try log(.playback, before(c.playbackDays)) }
        if c.alarmDays > 0 { try log(.alarms, before(c.alarmDays)) }
        if c.auditDays > 0 { try log(.audit, before(c.auditDays)) }
        return out
    }
}

/// Runs the data lifecycle in the background: rolls up completed hours and days as they come
/// (so a year's chart reads daily roll-ups), and once an hour deletes what is past its retention.
/// Small transactions on a queue of its own, a pause between them, so ingest never waits long for
/// the writer. Progress is in the database: a restart resumes. In a cluster only the leader runs it.
public actor LifecycleService {
    public let work: LifecycleWork
    private let clock: any TimeSource
    private let logger: Logger
    private let queue = DispatchQueue(label: "wardfleet.lifecycle")
    private var lastPrune: Date?

    public init(database: WardDatabase, clock: any TimeSource, configuration: LifecycleConfiguration,
                logger: Logger = Logger(label: "wardfleet.lifecycle")) {
        work = LifecycleWork(database: database, configuration: configuration)
        self.clock = clock
        self.logger = logger
    }

    private func onQueue<T: Sendable>(_ body: @Sendable @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { k in queue.async { k.resume(with: Result { try body() }) } }
    }

    /// One step: a roll-up batch if one is due, else a pruning pass if one is due. True if it did work.
    public func step() async throws -> Bool {
        let now = clock.now()
        let work = self.work
        if try await onQueue({ try work.rollUpBatch(now: now) }) { return true }
        if let last = lastPrune, now.timeIntervalSince(last) < work.configuration.pruneEvery { return false }
        lastPrune = now
        let pause = work.configuration.pause
        let cancelled = CancelFlag()
        let pruned = try await withTaskCancellationHandler {
            try await onQueue {
                // The pass's batches run here one after the other; the pause between them lets ingest in.
                try work.prunePass(now: now) {
                    Thread.sleep(forTimeInterval: pause.inSeconds)
                    return !cancelled.isSet
                }
            }
        } onCancel: {
            cancelled.set()
        }
        if pruned.total > 0 { logger.info("retention: deleted \(pruned)") }
        return pruned.total > 0
    }

    public func run() async {
        while !Task.isCancelled {
            var worked = false
            do { worked = try await step() } catch {
                logger.warning("lifecycle step failed: \(error)")
            }
            try? await Task.sleep(for: worked ? work.configuration.pause : work.configuration.idle)
        }
    }
}

private final class CancelFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
