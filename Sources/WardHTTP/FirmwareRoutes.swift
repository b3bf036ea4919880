import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardProtocol
import WardController
import WardDomain
import WardStorage

/// Firmware images, update campaigns, and each device's firmware history and configuration.
///
/// Scope (docs/api.md): a campaign belongs to the communes of the devices it targets. A user limited to
/// communes sees a campaign when at least one of its devices is in their communes, and then only that part:
/// the counts, waves and failures of their own devices, and the target's communes, villages and devices that
/// are theirs (`partial` says so). They may create campaigns only inside their communes, and pause, resume,
/// cancel or approve only a campaign lying wholly inside them (a campaign that also reaches another commune
/// is moved by someone who covers all of it: 403). The image library is deployment-wide: everyone may read it,
/// only an admin without a commune limit uploads.
extension OperatorAPI {
    static let firmwareBodyLimit = 256 << 20

    /// A campaign's target and pacing as the API takes them (`class`, `model`, … see docs/openapi.yaml).
    struct CampaignBody: Decodable {
        var `class`: DeviceClass
        var model: String
        var currentFirmware: [String]?
        var communes: [String]?
        var villages: [String]?
        var devices: [String]?
        var waves: String?
        var name: String?
        var image: String?
        var ratePerMinute: Int?
        var window: String?
        var maxFailuresPercent: Double?
        var minFinished: Int?
        var timeoutSeconds: Double?
        var maxRetries: Int?
        var backoffSeconds: Double?
        var busyBeforeSeconds: Double?
        var busyAfterSeconds: Double?
    }

    static let previewKeys: Set<String> = ["class", "model", "current_firmware", "communes", "villages", "devices", "waves"]
    static let campaignKeys: Set<String> = previewKeys.union(["name", "image", "rate_per_minute", "window", "max_failures_percent", "min_finished",
                                                              "timeout_seconds", "max_retries", "backoff_seconds", "busy_before_seconds",
                                                              "busy_after_seconds"])

    struct TargetView: Encodable {
        var deviceClass: DeviceClass
        var model: String
        var currentFirmware: [String]?
        var communes: [String]?
        var villages: [String]?
        var devices: [String]?
    }

    struct PolicyView: Encodable {
        var ratePerMinute: Int
        var window: String?
        var maxFailuresPercent: Double
        var minFinished: Int
        var timeoutSeconds: Double
        var maxRetries: Int
        var backoffSeconds: Double
        var busyBeforeSeconds: Double
        var busyAfterSeconds: Double
        init(_ p: CampaignPolicy) {
            ratePerMinute = p.ratePerMinute
            window = p.window?.description
            maxFailuresPercent = p.maxFailuresPercent
            minFinished = p.minFinished
            timeoutSeconds = p.timeoutSeconds
            maxRetries = p.maxRetries
            backoffSeconds = p.backoffSeconds
            busyBeforeSeconds = p.busyBeforeSeconds
            busyAfterSeconds = p.busyAfterSeconds
        }
    }

    /// One wave: counts by job state, and how close it is to the abort rule.
    struct WaveView: Encodable {
        /// 1-based, as people count.
        var number: Int
        var total: Int
        var finished: Int
        var failures: Int
        var counts: [String: Int]
        /// Finished devices needed before the abort rule applies to this wave.
        var minFinished: Int
        var maxFailuresPercent: Double
        /// Failures over finished, percent (0 before any finished).
        var failurePercent: Double
        /// This wave's failures aborted the campaign.
        var aborted: Bool
        /// The wave orders go to now.
        var active: Bool
    }

    struct JobView: Encodable {
        var device: String
        var wave: Int
        var state: JobState
        var reason: JobFailure?
        var attempts: Int
        var fromVersion: String?
        var sentAt: Date?
        var updatedAt: Date
        init(_ j: FirmwareJob) {
            device = j.deviceID
            wave = j.wave + 1
            state = j.state
            reason = j.reason
            attempts = j.attempts
            fromVersion = j.fromVersion
            sentAt = j.sentAt
            updatedAt = j.updatedAt
        }
    }

    struct CampaignView: Encodable {
        var id: Int64
        var name: String
        var image: String
        var deviceClass: DeviceClass
        var model: String
        var version: String
        var state: CampaignState
        var target: TargetView
        var waves: [String]
        var policy: PolicyView
        var createdBy: String?
        var createdAt: Date
        var approvedBy: String?
        var approvedAt: Date?
        var endedAt: Date?
        /// 1-based.
        var abortedWave: Int?
        var abortDetail: String?
        /// Devices of the campaign the caller sees, and their counts by state.
        var devices: Int
        var counts: [String: Int]
        var failures: Int
        /// The caller sees only their communes' part of a campaign that reaches others too.
        var partial: Bool
        /// Only in a campaign's own answer: each wave, and the devices that failed.
        var progress: [WaveView]?
        var failed: [JobView]?
    }

    /// Each device's commune (for scoping campaigns by their jobs).
    func communeOfDevices() throws -> [String: String] {
        let tree = try self.tree()
        var out: [String: String] = [:]
        for d in try DeviceRepository(database).list() {
            if let c = tree.ancestor(of: d.siteID, at: .commune)?.id { out[d.id] = c }
        }
        return out
    }

    /// The jobs of a campaign the caller may see; nil when none (the campaign does not exist for them).
    func visibleJobs(_ call: Call, _ jobs: [FirmwareJob], communeOf: [String: String]) -> [FirmwareJob]? {
        guard let mine = call.principal!.communes else { return jobs }
        let seen = jobs.filter { communeOf[$0.deviceID].map(mine.contains) ?? false }
        return seen.isEmpty ? nil : seen
    }

    func campaignView(_ call: Call, _ c: Campaign, jobs all: [FirmwareJob], communeOf: [String: String], detail: Bool) -> CampaignView? {
        guard let jobs = visibleJobs(call, all, communeOf: communeOf) else { return nil }
        let mine = call.principal!.communes
        let tree = try? self.tree()
        var target = TargetView(deviceClass: c.target.deviceClass, model: c.target.model, currentFirmware: c.target.currentFirmware,
                                communes: c.target.communes, villages: c.target.villages, devices: c.target.devices)
        if let mine {
            target.communes = c.target.communes?.filter(mine.contains)
            target.villages = c.target.villages?.filter { v in tree?.ancestor(of: v, at: .commune).map { mine.contains($0.id) } ?? false }
            target.devices = c.target.devices?.filter { communeOf[$0].map(mine.contains) ?? false }
        }
        var counts: [String: Int] = [:]
        for j in jobs { counts[j.state.rawValue, default: 0] += 1 }
        var v = CampaignView(id: c.id, name: c.name, image: c.image, deviceClass: c.deviceClass, model: c.model, version: c.version, state: c.state,
                             target: target, waves: c.waves.map(\.description), policy: PolicyView(c.policy), createdBy: c.createdBy,
                             createdAt: c.createdAt, approvedBy: c.approvedBy, approvedAt: c.approvedAt, endedAt: c.endedAt,
                             abortedWave: c.abortedWave.map { $0 + 1 }, abortDetail: c.abortDetail, devices: jobs.count, counts: counts,
                             failures: jobs.filter { $0.state.isFailure }.count, partial: jobs.count < all.count)
        if detail {
            // The active wave is judged on all of the campaign's jobs (it is the campaign's), its counts on the caller's.
            let activeWave = CampaignPlanner.progress(all).first { w in w.counts.contains { !$0.key.isTerminal && $0.value > 0 } }?.wave
            v.progress = CampaignPlanner.progress(jobs).map { w in
                WaveView(number: w.wave + 1, total: w.total, finished: w.finished, failures: w.failures,
                         counts: Dictionary(uniqueKeysWithValues: w.counts.map { ($0.key.rawValue, $0.value) }),
                         minFinished: max(1, min(c.policy.minFinished, w.total)), maxFailuresPercent: c.policy.maxFailuresPercent,
                         failurePercent: w.finished == 0 ? 0 : Double(w.failures) * 100 / Double(w.finished),
                         aborted: c.abortedWave == w.wave, active: !c.state.isOver && activeWave == w.wave)
            }
            v.failed = jobs.filter { $0.state.isFailure }.sorted { $0.updatedAt > $1.updatedAt }.map(JobView.init)
        }
        return v
    }

    /// The campaign `{id}` with its jobs, when the caller may see it (else 404, like an id that names nothing).
    func scopedCampaign(_ call: Call) throws -> (Campaign, [FirmwareJob], [String: String]) {
        let raw = try call.parameter("id")
        guard let id = Int64(raw), id > 0 else { throw APIError(.badRequest, "id: số chiến dịch / a campaign number") }
        let repo = FirmwareRepository(database)
        let notFound = APIError(.notFound, "không có chiến dịch \(id) / no campaign \(id)")
        guard let c = try repo.campaign(id) else { throw notFound }
        let jobs = try repo.jobs(id)
        let communeOf = try communeOfDevices()
        guard visibleJobs(call, jobs, communeOf: communeOf) != nil else { throw notFound }
        return (c, jobs, communeOf)
    }

    /// A change to a campaign needs a caller who covers every device of it.
    func requireWholeCampaign(_ call: Call, _ jobs: [FirmwareJob], _ communeOf: [String: String]) throws {
        guard let mine = call.principal!.communes else { return }
        guard jobs.allSatisfy({ communeOf[$0.deviceID].map(mine.contains) ?? false }) else {
            throw APIError(.forbidden, "chiến dịch có thiết bị của xã khác: cần người phụ trách mọi xã của nó / the campaign reaches other communes: "
                           + "it needs someone who covers all of them", code: "outside_scope")
        }
    }

    /// The body's target, narrowed to the caller's communes (a limited caller who names none means all of theirs).
    func campaignTarget(_ call: Call, _ b: CampaignBody) throws -> CampaignTarget {
        try APIInput.text(b.model, field: "model", max: 64)
        for (field, list) in [("current_firmware", b.currentFirmware), ("communes", b.communes), ("villages", b.villages), ("devices", b.devices)] {
            guard let list else { continue }
            guard !list.isEmpty, list.count <= 10_000 else { throw APIInput.bad(field, "1–10000 mục / 1–10000 entries (leave the field out for any)") }
            if field == "current_firmware" {
                for v in list { try APIInput.text(v, field: field, max: 64) }
            } else if let bad = list.first(where: { !APIInput.isIdentifier($0) }) {
                throw APIInput.bad(field, "'\(bad.prefix(40))' không phải mã / is not an id")
            }
        }
        var communes = b.communes
        if let mine = call.principal!.communes {
            if let given = communes { try requireScope(call, communes: Set(given)) } else { communes = mine.sorted() }
        }
        if let given = b.communes { for c in given { try requireKnownCommune(c) } }
        return CampaignTarget(deviceClass: b.class, model: b.model, currentFirmware: b.currentFirmware, communes: communes, villages: b.villages,
                              devices: b.devices)
    }

    static func waves(_ b: CampaignBody) throws -> [WaveSize] {
        guard let w = WaveSize.parse(b.waves ?? "1%,10%,rest") else {
            // 422: a rule (sizes, `rest` last) the document's string cannot express.
            throw APIError(.unprocessableContent, "waves: ví dụ 1%,10%,rest hoặc 20,100,rest / e.g. 1%,10%,rest or 20,100,rest")
        }
        return w
    }

    static func policy(_ b: CampaignBody) throws -> CampaignPolicy {
        var p = CampaignPolicy()
        if let w = b.window {
            guard let window = MaintenanceWindow(w) else {
                throw APIError(.unprocessableContent, "window: HH:MM-HH:MM, ví dụ / e.g. 22:00-05:00")
            }
            p.window = window
        }
        func check<T: Comparable>(_ v: T?, _ field: String, _ range: ClosedRange<T>) throws -> T? {
            guard let v else { return nil }
            guard range.contains(v) else { throw APIInput.bad(field, "\(range.lowerBound)…\(range.upperBound)") }
            return v
        }
        p.ratePerMinute = try check(b.ratePerMinute, "rate_per_minute", 1...100_000) ?? p.ratePerMinute
        p.maxFailuresPercent = try check(b.maxFailuresPercent, "max_failures_percent", 0...100) ?? p.maxFailuresPercent
        p.minFinished = try check(b.minFinished, "min_finished", 1...1_000_000) ?? p.minFinished
        p.timeoutSeconds = try check(b.timeoutSeconds, "timeout_seconds", 10...604_800) ?? p.timeoutSeconds
        p.maxRetries = try check(b.maxRetries, "max_retries", 0...100) ?? p.maxRetries
        p.backoffSeconds = try check(b.backoffSeconds, "backoff_seconds", 1...86_400) ?? p.backoffSeconds
        p.busyBeforeSeconds = try check(b.busyBeforeSeconds, "busy_before_seconds", 0...86_400) ?? p.busyBeforeSeconds
        p.busyAfterSeconds = try check(b.busyAfterSeconds, "busy_after_seconds", 0...86_400) ?? p.busyAfterSeconds
        return p
    }

    func requireFirmwareLibrary() throws -> FirmwareLibrary {
        guard let firmware else { throw APIError(.serviceUnavailable, "máy chủ này không có thư viện firmware / no firmware library here") }
        return firmware
    }

    /// pause, resume, cancel, approve: a campaign in the wrong state is a conflict (409).
    func campaignAction(_ call: Call, _ body: (FirmwareCampaigns, Int64, String) throws -> Campaign) throws -> Response {
        let (c, jobs, communeOf) = try scopedCampaign(call)
        try requireWholeCampaign(call, jobs, communeOf)
        let done: Campaign
        do { done = try body(FirmwareCampaigns(database: database, clock: clock), c.id, call.user.name) } catch let r as CampaignRefusal {
            throw APIError(.conflict, r.description, code: "wrong_state")
        }
        return try Self.json(campaignView(call, done, jobs: try FirmwareRepository(database).jobs(c.id), communeOf: communeOf, detail: true))
    }

    var firmwareRoutes: [Route] {
        let db = database
        return [
            Route(method: .get, path: "/api/v1/firmware/images", permission: .view) { _ in
                try Self.json(try FirmwareRepository(db).images())
            },
            Route(method: .post, path: "/api/v1/firmware/images", permission: .configure, bodyLimit: Self.firmwareBodyLimit) { call in
                try self.requireUnlimited(call)
                let library = try self.requireFirmwareLibrary()
                guard let cls = call.query("class") else { throw APIInput.bad("class", "speaker, camera, access_point, kiosk") }
                guard let deviceClass = DeviceClass(rawValue: cls) else { throw APIInput.bad("class", "speaker, camera, access_point, kiosk") }
                guard let model = call.query("model") else { throw APIInput.bad("model", "cần kiểu máy / required") }
                guard let version = call.query("version") else { throw APIInput.bad("version", "cần phiên bản / required") }
                try APIInput.text(model, field: "model", max: 64)
                try APIInput.text(version, field: "version", max: 64)
                let notes = call.query("notes")
                if let notes { try APIInput.text(notes, field: "notes", max: 2000) }
                guard call.body.readableBytes > 0 else { throw APIError(.unprocessableContent, "tệp trống / the file is empty") }
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-fw-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: dir) }
                let file = dir.appendingPathComponent("image.bin")
                try Data(buffer: call.body).write(to: file)
                let added: (image: FirmwareImage, isNew: Bool)
                do {
                    added = try library.add(file: file.path, deviceClass: deviceClass, model: model, version: version, notes: notes, by: call.user.name)
                } catch let e as FirmwareStoreError {
                    throw APIError(.conflict, e.description, code: "version_taken")
                }
                return try Self.json(added.image, status: added.isNew ? .created : .ok)
            },
            Route(method: .post, path: "/api/v1/firmware/preview", permission: .manageDevices) { call in
                // Counts what a target names now; creates nothing (so it is not in the audit log).
                let b = try Self.decode(CampaignBody.self, call.body, allowed: Self.previewKeys)
                let target = try self.campaignTarget(call, b)
                let waves = try Self.waves(b)
                let ids = try FirmwareCampaigns(database: db, clock: self.clock).preview(target)
                struct Preview: Encodable { var devices: Int; var waves: [Int]; var sample: [String] }
                return try Self.json(Preview(devices: ids.count, waves: WaveSize.sizes(waves, total: ids.count), sample: Array(ids.prefix(20))))
            },
            Route(method: .get, path: "/api/v1/firmware/campaigns", permission: .view) { call in
                let repo = FirmwareRepository(db)
                let communeOf = try self.communeOfDevices()
                return try Self.json(try repo.campaigns().compactMap { c in
                    self.campaignView(call, c, jobs: try repo.jobs(c.id), communeOf: communeOf, detail: false)
                })
            },
            Route(method: .post, path: "/api/v1/firmware/campaigns", permission: .manageDevices) { call in
                let b = try Self.decode(CampaignBody.self, call.body, allowed: Self.campaignKeys)
                guard let image = b.image else { throw APIInput.bad("image", "phiên bản hoặc sha256 / a version or a sha256") }
                try APIInput.text(image, field: "image", max: 64)
                if let n = b.name { try APIInput.text(n, field: "name", max: 200) }
                let target = try self.campaignTarget(call, b)
                let request = CampaignRequest(name: b.name ?? "", image: image, target: target, waves: try Self.waves(b), policy: try Self.policy(b),
                                              by: call.user.name)
                let view = try FirmwareCampaigns(database: db, clock: self.clock).create(request)
                return try Self.json(self.campaignView(call, view.campaign, jobs: view.jobs, communeOf: try self.communeOfDevices(), detail: true),
                                     status: .created)
            },
            Route(method: .get, path: "/api/v1/firmware/campaigns/{id}", permission: .view) { call in
                let (c, jobs, communeOf) = try self.scopedCampaign(call)
                return try Self.json(self.campaignView(call, c, jobs: jobs, communeOf: communeOf, detail: true))
            },
            Route(method: .post, path: "/api/v1/firmware/campaigns/{id}/approve", permission: .configure) { call in
                try self.campaignAction(call) { try $0.approve($1, by: $2) }
            },
            Route(method: .post, path: "/api/v1/firmware/campaigns/{id}/pause", permission: .manageDevices) { call in
                try self.campaignAction(call) { try $0.pause($1, by: $2) }
            },
            Route(method: .post, path: "/api/v1/firmware/campaigns/{id}/resume", permission: .manageDevices) { call in
                try self.campaignAction(call) { try $0.resume($1, by: $2) }
            },
            Route(method: .post, path: "/api/v1/firmware/campaigns/{id}/cancel", permission: .manageDevices) { call in
                try self.campaignAction(call) { try $0.cancel($1, by: $2) }
            },
            Route(method: .get, path: "/api/v1/devices/{id}/firmware", permission: .view) { call in
                let (d, _, _) = try self.scopedDevice(call, active: false)
                let repo = FirmwareRepository(db)
                struct Entry: Encodable {
                    var campaign: Int64
                    var campaignName: String?
                    var campaignState: CampaignState?
                    var version: String?
                    var fromVersion: String?
                    var wave: Int
                    var state: JobState
                    var reason: JobFailure?
                    var attempts: Int
                    var sentAt: Date?
                    var updatedAt: Date
                }
                var campaigns: [Int64: Campaign?] = [:]
                let entries = try repo.history(device: d.id).map { j -> Entry in
                    if campaigns[j.campaignID] == nil { campaigns[j.campaignID] = .some(try repo.campaign(j.campaignID)) }
                    let c = campaigns[j.campaignID] ?? nil
                    return Entry(campaign: j.campaignID, campaignName: c?.name, campaignState: c?.state, version: c?.version, fromVersion: j.fromVersion,
                                 wave: j.wave + 1, state: j.state, reason: j.reason, attempts: j.attempts, sentAt: j.sentAt, updatedAt: j.updatedAt)
                }
                struct Answer: Encodable { var device: String; var registered: String; var reported: String?; var history: [Entry] }
                let birth = Birth.stored(try HealthQueries(db).statuses(only: d.id)[d.id]?.birth)
                return try Self.json(Answer(device: d.id, registered: d.firmware, reported: birth?.firmware, history: entries))
            },
            Route(method: .get, path: "/api/v1/devices/{id}/config", permission: .view) { call in
                let (d, _, _) = try self.scopedDevice(call, active: false)
                return try Self.json(ConfigView(try FleetConfigService.view(db, device: d.id).config))
            },
            Route(method: .put, path: "/api/v1/devices/{id}/config", permission: .manageDevices) { call in
                let (d, _, _) = try self.scopedDevice(call, active: true)
                let change = try Self.decode(DeviceSettings.self, call.body, allowed: Set(DeviceSettings.fieldNames), snakeCase: false)
                let r = try FleetConfigService.set(db, device: d.id, change: change, by: call.user.name, at: self.clock.now())
                return try Self.json(ConfigView(r))
            },
        ]
    }

    /// A device's configuration: desired against reported, and the drift between them.
    struct ConfigView: Encodable {
        struct Drift: Encodable {
            /// unset, in_sync, pending, rejected, differs.
            var state: String
            var drifting: Bool
            var fields: [String]
            var detail: String?
            /// pending: the version the device runs now.
            var applied: Int64?
        }
        var device: String
        var version: Int64
        var desired: DeviceSettings
        var reported: DeviceSettings?
        var updatedAt: Date?
        var updatedBy: String?
        var publishedVersion: Int64
        var publishedAt: Date?
        var appliedVersion: Int64?
        var lastResult: ConfigResult?
        var lastDetail: String?
        var reportedAt: Date?
        var drift: Drift

        init(_ r: DeviceConfigRecord) {
            device = r.deviceID
            version = r.version
            desired = r.desired
            reported = r.reported
            updatedAt = r.updatedAt
            updatedBy = r.updatedBy
            publishedVersion = r.publishedVersion
            publishedAt = r.publishedAt
            appliedVersion = r.appliedVersion
            lastResult = r.lastResult
            lastDetail = r.lastDetail
            reportedAt = r.reportedAt
            switch r.drift {
            case .unset: drift = Drift(state: "unset", drifting: false, fields: [])
            case .inSync: drift = Drift(state: "in_sync", drifting: false, fields: [])
            case .pending(_, let applied): drift = Drift(state: "pending", drifting: true, fields: [], applied: applied)
            case .rejected(_, let detail): drift = Drift(state: "rejected", drifting: true, fields: [], detail: detail)
            case .differs(let fields): drift = Drift(state: "differs", drifting: true, fields: fields)
            }
        }
    }
}
