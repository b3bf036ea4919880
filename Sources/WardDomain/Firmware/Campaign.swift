import Foundation

/// One wave's size as an operator writes it: `1%`, `20` or `rest`.
public enum WaveSize: Codable, Sendable, Hashable, CustomStringConvertible {
    case percent(Double)
    case count(Int)
    case rest

    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "rest" {
            self = .rest
        } else if t.hasSuffix("%"), let p = Double(t.dropLast()), p > 0, p <= 100 {
            self = .percent(p)
        } else if let n = Int(t), n > 0 {
            self = .count(n)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .percent(let p): p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        case .count(let n): "\(n)"
        case .rest: "rest"
        }
    }

    /// `1%,10%,rest` or `20,100,rest`: `rest` only last; a list without it gets one.
    public static func parse(_ text: String) -> [WaveSize]? {
        let parts = text.split(separator: ",").map(String.init)
        guard !parts.isEmpty, parts.count <= 20 else { return nil }
        var out: [WaveSize] = []
        for (i, p) in parts.enumerated() {
            guard let w = WaveSize(p) else { return nil }
            if case .rest = w, i != parts.count - 1 { return nil }
            out.append(w)
        }
        if out.last != .rest { out.append(.rest) }
        return out
    }

    /// How many devices each wave gets out of `total`, in order: every wave at least one device while any are left,
    /// a percentage rounded up; empty waves are dropped. The sum is `total`.
    public static func sizes(_ waves: [WaveSize], total: Int) -> [Int] {
        var left = total
        var out: [Int] = []
        for w in waves where left > 0 {
            let n: Int = switch w {
            case .percent(let p): max(1, Int((Double(total) * p / 100).rounded(.up)))
            case .count(let c): c
            case .rest: left
            }
            let take = min(n, left)
            out.append(take)
            left -= take
        }
        return out
    }
}

/// A daily maintenance window in local (Asia/Ho_Chi_Minh) time, e.g. `22:00-05:00` (across midnight).
public struct MaintenanceWindow: Codable, Sendable, Hashable, CustomStringConvertible {
    public var start: LocalTime
    public var end: LocalTime
    /// Vietnam keeps UTC+7 all year.
    public static let utcOffset = 7 * 3600

    public init(start: LocalTime, end: LocalTime) {
        self.start = start
        self.end = end
    }

    public init?(_ text: String) {
        let p = text.split(separator: "-").map(String.init)
        guard p.count == 2, let s = LocalTime(p[0].trimmingCharacters(in: .whitespaces)),
              let e = LocalTime(p[1].trimmingCharacters(in: .whitespaces)), s != e else { return nil }
        self.init(start: s, end: e)
    }

    public var description: String {
        func hm(_ t: LocalTime) -> String { String(format: "%02d:%02d", t.secondsOfDay / 3600, t.secondsOfDay % 3600 / 60) }
        return "\(hm(start))-\(hm(end))"
    }

    public func contains(_ date: Date) -> Bool {
        let s = ((Int(date.timeIntervalSince1970.rounded(.down)) + Self.utcOffset) % 86_400 + 86_400) % 86_400
        if start.secondsOfDay < end.secondsOfDay { return s >= start.secondsOfDay && s < end.secondsOfDay }
        return s >= start.secondsOfDay || s < end.secondsOfDay
    }
}

/// Which devices a campaign is for; every given criterion must hold. Resolved to a device list at creation.
public struct CampaignTarget: Codable, Sendable, Hashable {
    public var deviceClass: DeviceClass
    public var model: String
    /// Only devices now running one of these versions (their latest birth); nil: any.
    public var currentFirmware: [String]?
    public var communes: [String]?
    public var villages: [String]?
    public var devices: [String]?

    public init(deviceClass: DeviceClass, model: String, currentFirmware: [String]? = nil, communes: [String]? = nil,
                villages: [String]? = nil, devices: [String]? = nil) {
        self.deviceClass = deviceClass
        self.model = model
        self.currentFirmware = currentFirmware
        self.communes = communes
        self.villages = villages
        self.devices = devices
    }

    /// A registered device as targeting sees it.
    public struct Candidate: Sendable, Hashable {
        public var id: String
        public var deviceClass: DeviceClass
        /// Reported (latest birth) if known, else registered.
        public var model: String
        public var firmware: String
        public var communeID: String?
        public var villageID: String?
        public init(id: String, deviceClass: DeviceClass, model: String, firmware: String, communeID: String?, villageID: String?) {
            self.id = id
            self.deviceClass = deviceClass
            self.model = model
            self.firmware = firmware
            self.communeID = communeID
            self.villageID = villageID
        }
    }

    public func matches(_ c: Candidate) -> Bool {
        guard c.deviceClass == deviceClass, c.model == model else { return false }
        if let f = currentFirmware, !f.contains(c.firmware) { return false }
        if let cs = communes, !cs.contains(c.communeID ?? "") { return false }
        if let vs = villages, !vs.contains(c.villageID ?? "") { return false }
        if let ds = devices, !ds.contains(c.id) { return false }
        return true
    }

    /// The targeted devices, sorted by id (waves are cut from this order).
    public func resolve(_ candidates: [Candidate]) -> [String] {
        candidates.filter(matches).map(\.id).sorted()
    }
}

/// How a campaign paces itself and when it gives up.
public struct CampaignPolicy: Codable, Sendable, Hashable {
    /// Orders sent per minute, at most.
    public var ratePerMinute: Int = 60
    public var window: MaintenanceWindow?
    /// A wave aborts the campaign when more than this percentage of its finished devices failed…
    public var maxFailuresPercent: Double = 10
    /// …once at least this many of its devices finished (or all of a smaller wave).
    public var minFinished: Int = 10
    /// A sent order with no progress for this long is taken back and retried (the device is offline or stuck).
    public var timeoutSeconds: Double = 1800
    /// Retries after a timeout or a `busy` answer before the device is failed (`timeout`).
    public var maxRetries: Int = 5
    /// First wait before a retry; doubles with each one, capped at `backoffCapSeconds`.
    public var backoffSeconds: Double = 60
    public var backoffCapSeconds: Double = 3600
    /// A speaker is busy from this long before a play of its agenda starts (its agenda reaches 10 minutes ahead)…
    public var busyBeforeSeconds: Double = 600
    /// …until this long after it ends.
    public var busyAfterSeconds: Double = 60

    public init() {}

    public func backoff(afterAttempt n: Int) -> Double {
        min(backoffCapSeconds, backoffSeconds * pow(2, Double(max(0, n - 1))))
    }
}

public enum CampaignState: String, Codable, Sendable, CaseIterable {
    /// Created, waiting for an admin's approval.
    case awaitingApproval = "awaiting_approval"
    case running, paused, completed, aborted, cancelled

    public var isOver: Bool { self == .completed || self == .aborted || self == .cancelled }

    public var vietnamese: String {
        switch self {
        case .awaitingApproval: "chờ phê duyệt" case .running: "đang chạy" case .paused: "tạm dừng"
        case .completed: "hoàn tất" case .aborted: "đã tự dừng (quá nhiều lỗi)" case .cancelled: "đã hủy"
        }
    }
}

public struct Campaign: Codable, Sendable, Hashable {
    public var id: Int64
    public var name: String
    /// The image to install (its SHA-256), and its identity.
    public var image: String
    public var deviceClass: DeviceClass
    public var model: String
    public var version: String
    public var target: CampaignTarget
    public var waves: [WaveSize]
    public var policy: CampaignPolicy
    public var state: CampaignState
    public var createdBy: String?
    public var createdAt: Date
    public var approvedBy: String?
    public var approvedAt: Date?
    public var endedAt: Date?
    /// The wave (0-based) whose failures aborted the campaign.
    public var abortedWave: Int?
    public var abortDetail: String?

    public init(id: Int64, name: String, image: FirmwareImage, target: CampaignTarget, waves: [WaveSize], policy: CampaignPolicy,
                createdBy: String?, createdAt: Date) {
        self.id = id
        self.name = name
        self.image = image.sha256
        deviceClass = image.deviceClass
        model = image.model
        version = image.version
        self.target = target
        self.waves = waves
        self.policy = policy
        state = .awaitingApproval
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// One device's update in one campaign.
public struct FirmwareJob: Codable, Sendable, Hashable {
    public var campaignID: Int64
    public var deviceID: String
    public var wave: Int
    public var state: JobState
    public var reason: JobFailure?
    /// Orders sent so far; the job id on the wire is `"{campaign}.{attempt}"`.
    public var attempts: Int
    /// Not before this time (a retry's backoff).
    public var notBefore: Date?
    public var sentAt: Date?
    public var updatedAt: Date
    /// The version the device ran when its update started.
    public var fromVersion: String?
    public var detail: String?

    public init(campaignID: Int64, deviceID: String, wave: Int, at: Date) {
        self.campaignID = campaignID
        self.deviceID = deviceID
        self.wave = wave
        state = .queued
        attempts = 0
        updatedAt = at
    }

    public var jobID: String { "\(campaignID).\(attempts)" }

    /// The campaign of a wire job id, and its attempt.
    public static func parse(jobID: String) -> (campaign: Int64, attempt: Int)? {
        let p = jobID.split(separator: ".")
        guard p.count == 2, let c = Int64(p[0]), let a = Int(p[1]) else { return nil }
        return (c, a)
    }
}

/// Counts of one wave by state.
public struct WaveProgress: Sendable, Hashable {
    public var wave: Int
    public var counts: [JobState: Int]
    public var total: Int { counts.values.reduce(0, +) }
    public var finished: Int { counts.filter { $0.key.isFinished }.map(\.value).reduce(0, +) }
    public var failures: Int { counts.filter { $0.key.isFailure }.map(\.value).reduce(0, +) }
}

/// The pure rules of a campaign: which job moves where, on what the controller heard and what time it is.
public enum CampaignPlanner {
    /// What the planner knows of one targeted device now.
    public struct DeviceNow: Sendable, Hashable {
        public var online: Bool
        /// Capabilities of its latest birth; nil: never heard.
        public var capabilities: [String]?
        /// Firmware of its latest birth.
        public var firmware: String?
        /// Plays of its agenda (speakers): start and end.
        public var busy: [DateInterval]
        public init(online: Bool, capabilities: [String]?, firmware: String?, busy: [DateInterval] = []) {
            self.online = online
            self.capabilities = capabilities
            self.firmware = firmware
            self.busy = busy
        }
    }

    /// What one step decided.
    public struct Step: Sendable, Hashable {
        public var campaign: Campaign
        /// Jobs that changed (by device id).
        public var changed: [String: FirmwareJob] = [:]
        /// Devices to send an order now (the job, already moved to `notified`).
        public var send: [FirmwareJob] = []
        /// Devices whose retained order is to be cleared.
        public var clear: Set<String> = []
        public var campaignChanged = false
    }

    /// The jobs of a new campaign: the targeted devices cut into waves, in order.
    public static func jobs(campaign: Int64, devices: [String], waves: [WaveSize], at: Date) -> [FirmwareJob] {
        var out: [FirmwareJob] = []
        var i = 0
        for (w, n) in WaveSize.sizes(waves, total: devices.count).enumerated() {
            for d in devices[i..<i + n] { out.append(FirmwareJob(campaignID: campaign, deviceID: d, wave: w, at: at)) }
            i += n
        }
        return out
    }

    public static func progress(_ jobs: [FirmwareJob]) -> [WaveProgress] {
        var by: [Int: [JobState: Int]] = [:]
        for j in jobs { by[j.wave, default: [:]][j.state, default: 0] += 1 }
        return by.keys.sorted().map { WaveProgress(wave: $0, counts: by[$0]!) }
    }

    /// Applies what a device said to its job in this campaign. Returns the job as changed and whether its
    /// retained order is to be cleared, or nil when the signal does not concern it.
    public static func apply(_ signal: FirmwareSignal, to job: FirmwareJob, campaign: Campaign) -> (job: FirmwareJob, clear: Bool)? {
        var j = job
        switch signal {
        case .birth(_, let firmware, _, let at):
            // An order taken back (cancelled) that the device had already taken up may still be installed: that is a success.
            let takenBack = j.state == .cancelled && j.attempts > 0 && firmware == campaign.version
            guard j.state.isSent || takenBack || (j.state == .failed && j.reason == .cameBackOldVersion) else { return nil }
            if firmware == campaign.version {
                guard j.state.isSent || takenBack else { return nil }
                j.state = .succeeded
                j.reason = nil
            } else if j.state == .rebooting || j.state == .installing {
                // It restarted for the update and is still on the old version: not a success (ThingsBoard #10191).
                j.state = .failed
                j.reason = .cameBackOldVersion
            } else {
                return nil  // a reconnect before it installed: the retained order is still there
            }
            j.updatedAt = at
            return (j, true)
        case .report(_, let jobID, let state, let reason, let at):
            guard jobID == j.jobID else { return nil }
            if state == .rolledBack {
                // Reported when it came back on the old version (possibly after its birth was judged).
                guard j.state.isSent || (j.state == .failed && j.reason == .cameBackOldVersion) else { return nil }
                j.state = .rolledBack
                j.reason = nil
                j.updatedAt = at
                return (j, true)
            }
            guard j.state.isSent else { return nil }
            if state == .failed {
                if reason == .busy {
                    // Playing when asked: not a failure, asked again after a wait.
                    j.state = .queued
                    j.notBefore = at.addingTimeInterval(campaign.policy.backoff(afterAttempt: j.attempts))
                    j.detail = "busy"
                } else {
                    j.state = .failed
                    j.reason = reason
                }
                j.updatedAt = at
                return (j, true)
            }
            // Progress only moves forward (a QoS 1 redelivery or a late report does not move it back).
            let order: [JobState] = [.notified, .downloading, .verifying, .installing, .rebooting]
            guard let from = order.firstIndex(of: j.state), let to = order.firstIndex(of: state), to >= from else { return nil }
            j.state = state
            j.updatedAt = at
            return (j, false)
        case .offline:
            return nil
        }
    }

    /// One step of a campaign at `now`: timeouts, the abort rule, completion, then new orders within the rate,
    /// the maintenance window and each speaker's busy windows. `jobs` are the campaign's, all of them.
    public static func step(_ campaign: Campaign, jobs: [FirmwareJob], devices: [String: DeviceNow], now: Date) -> Step {
        var out = Step(campaign: campaign)
        var jobs = jobs
        let p = campaign.policy
        func change(_ i: Int, _ j: FirmwareJob) {
            jobs[i] = j
            out.changed[j.deviceID] = j
        }
        if campaign.state.isOver {
            // Over (cancelled by an operator, aborted, completed): orders not started are taken back; those
            // under way are followed to their end, and one that stalls is failed, not retried.
            for (i, j) in jobs.enumerated() where j.state == .notified || (j.state.isSent && now.timeIntervalSince(j.updatedAt) >= p.timeoutSeconds) {
                var n = j
                if j.state == .notified {
                    n.state = .cancelled
                } else {
                    n.state = .failed
                    n.reason = .timeout
                }
                n.updatedAt = now
                change(i, n)
                out.clear.insert(j.deviceID)
            }
            return out
        }
        guard campaign.state == .running || campaign.state == .paused else { return out }
        // Timeouts: an order with no progress for too long is taken back; the device is asked again later.
        // One that stalls installing or restarting is failed at once: a device that does not come back from its
        // update may be bricked, and that must count against the wave.
        for (i, j) in jobs.enumerated() where j.state.isSent && now.timeIntervalSince(j.updatedAt) >= p.timeoutSeconds {
            var n = j
            if j.attempts > p.maxRetries || j.state == .installing || j.state == .rebooting {
                n.state = .failed
                n.reason = .timeout
            } else {
                n.state = .queued
                n.notBefore = now.addingTimeInterval(p.backoff(afterAttempt: j.attempts))
                n.detail = "timeout"
            }
            n.updatedAt = now
            change(i, n)
            out.clear.insert(j.deviceID)
        }
        // The active wave: the first with a job not over. The abort rule is judged on it and on every wave before it
        // (a wave whose last device just failed is judged before the next one starts).
        let progress = Self.progress(jobs)
        let active = progress.first(where: { w in w.counts.contains { !$0.key.isTerminal && $0.value > 0 } })
        for w in progress where w.wave <= (active?.wave ?? Int.max) {
            let threshold = max(1, min(p.minFinished, w.total))
            guard w.finished >= threshold, Double(w.failures) * 100 > p.maxFailuresPercent * Double(w.finished) else { continue }
            out.campaign.state = .aborted
            out.campaign.endedAt = now
            out.campaign.abortedWave = w.wave
            out.campaign.abortDetail = "\(w.failures)/\(w.finished) failed > \(p.maxFailuresPercent)%"
            out.campaignChanged = true
            for (i, j) in jobs.enumerated() where j.state == .queued || j.state == .notified {
                if j.state == .notified { out.clear.insert(j.deviceID) }
                var n = j
                n.state = .cancelled
                n.updatedAt = now
                change(i, n)
            }
            return out
        }
        guard let active else {
            out.campaign.state = .completed
            out.campaign.endedAt = now
            out.campaignChanged = true
            return out
        }
        guard campaign.state == .running else { return out }
        if let w = p.window, !w.contains(now) { return out }
        let sentLastMinute = jobs.filter { j in j.sentAt.map { now.timeIntervalSince($0) < 60 } ?? false }.count
        var capacity = p.ratePerMinute - sentLastMinute
        let queued = jobs.indices.filter { jobs[$0].wave == active.wave && jobs[$0].state == .queued }
            .sorted { (jobs[$0].notBefore ?? .distantPast, jobs[$0].deviceID) < (jobs[$1].notBefore ?? .distantPast, jobs[$1].deviceID) }
        for i in queued {
            let j = jobs[i]
            if let nb = j.notBefore, nb > now { continue }
            guard let d = devices[j.deviceID], d.online, let caps = d.capabilities else { continue }  // offline: stays queued
            var n = j
            if d.firmware == campaign.version {
                n.state = .succeeded
                n.detail = "already on \(campaign.version)"
                n.updatedAt = now
                change(i, n)
                continue
            }
            guard caps.contains(OTACapability.name) else {
                n.state = .skipped
                n.updatedAt = now
                change(i, n)
                continue
            }
            if isBusy(d.busy, at: now, policy: p) { continue }  // held until the speaker is free
            guard capacity > 0 else { break }
            capacity -= 1
            n.attempts += 1
            n.state = .notified
            n.reason = nil
            n.sentAt = now
            n.updatedAt = now
            n.notBefore = nil
            n.fromVersion = d.firmware
            change(i, n)
            out.send.append(n)
        }
        return out
    }

    /// Whether a speaker has a play on (or about to start, or just ended) at `now`.
    public static func isBusy(_ plays: [DateInterval], at now: Date, policy: CampaignPolicy) -> Bool {
        plays.contains { now >= $0.start.addingTimeInterval(-policy.busyBeforeSeconds) && now < $0.end.addingTimeInterval(policy.busyAfterSeconds) }
    }

    /// An operator's cancel (any process): the campaign ends and devices not sent an order are dropped; the
    /// controller's next step takes back orders sent but not started, and follows those under way.
    public static func cancel(_ campaign: Campaign, jobs: [FirmwareJob], now: Date) -> Step {
        var out = Step(campaign: campaign)
        out.campaign.state = .cancelled
        out.campaign.endedAt = now
        out.campaignChanged = true
        for j in jobs where j.state == .queued {
            var n = j
            n.state = .cancelled
            n.updatedAt = now
            out.changed[j.deviceID] = n
        }
        return out
    }
}
