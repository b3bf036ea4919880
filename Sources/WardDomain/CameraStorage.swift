import Foundation

/// Footage retention and disk runway for one camera reading.
public struct CameraStorageStatus: Sendable, Hashable, Codable {
    public var requiredDays: Int
    /// Age of the oldest recording still on disk.
    public var retainedDays: Double?
    /// Days of footage the whole disk holds at the current write rate; nil when not writing
    /// (see `capacityUnlimited`).
    public var capacityDays: Double?
    /// Not writing (write rate 0): nothing is being overwritten, so the capacity is unlimited.
    public var capacityUnlimited: Bool
    /// Days until the disk is full at the current write rate (nil: not writing).
    public var daysUntilFull: Double?
    public var usedFraction: Double
    /// The retention the camera can actually guarantee: once the disk loops (≥ 90% used), what it
    /// keeps; before that, what it could keep at the current rate.
    public var effectiveRetentionDays: Double?
    public var belowRequired: Bool
}

public enum CameraStorage {
    public static let secondsPerDay = 86_400.0

    public static func assess(_ r: CameraReading, requiredDays: Int, now: Date) -> CameraStorageStatus {
        let total = max(r.storageTotalBytes, 0)
        let used = min(max(r.storageUsedBytes, 0), total)
        let usedFraction = total > 0 ? Double(used) / Double(total) : 1
        let retained = r.oldestRecording.map { max(0, now.timeIntervalSince($0) / secondsPerDay) }
        let dailyWrite = r.writeRateBytesPerSecond * secondsPerDay
        let capacity = dailyWrite > 0 ? Double(total) / dailyWrite : nil
        let untilFull = dailyWrite > 0 ? Double(total - used) / dailyWrite : nil
        let looping = usedFraction >= HealthRules.diskNearlyFullFraction
        // Looping: what is on disk is what is kept. Before that, what the disk would hold at the
        // current rate; an idle camera (rate 0) overwrites nothing, so it holds everything.
        let effective: Double? = looping ? (retained ?? capacity) : capacity
        let below = effective.map { $0 < Double(requiredDays) } ?? false
        return CameraStorageStatus(
            requiredDays: requiredDays, retainedDays: retained, capacityDays: capacity, capacityUnlimited: dailyWrite <= 0,
            daysUntilFull: untilFull, usedFraction: usedFraction,
            effectiveRetentionDays: effective, belowRequired: below)
    }
}
