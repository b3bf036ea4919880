import ArgumentParser
import Foundation
import WardController
import WardDomain
import WardStorage

struct FirmwareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firmware",
        abstract: "Thư viện firmware và chiến dịch cập nhật / Firmware library and update campaigns (docs/firmware.md).",
        subcommands: [Add.self, List.self, Key.self, CampaignCommand.self])

    struct LibraryOptions: ParsableArguments {
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Firmware folder (default: firmware/ beside the database).") var firmwareDir: String?
        @Option(help: "The server's Ed25519 signing key file (default: firmware-signing.key beside the database; made, mode 0600, on first use).")
        var signingKey: String?

        func library(_ database: WardDatabase, clock: any TimeSource = SystemTimeSource()) -> FirmwareLibrary {
            FirmwareLibrary(root: firmwareDir.map { URL(fileURLWithPath: $0) } ?? FirmwareLibrary.defaultRoot(databasePath: db.resolved),
                            database: database, keyPath: keyPath, clock: clock)
        }
        var keyPath: String { signingKey ?? FirmwareSigningKey.defaultPath(databasePath: db.resolved) }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Thêm bản firmware (băm SHA-256, ký Ed25519) / Add a firmware image (hashed, signed).")
        @OptionGroup var library: LibraryOptions
        @Argument(help: "The image file.") var file: String
        @Option(name: .customLong("class"), help: "speaker, camera, access_point or kiosk.") var deviceClass: DeviceClass
        @Option(help: "Device model, exactly as its birth reports it.") var model: String
        @Option(help: "Firmware version, exactly as the device will report it in its birth.") var version: String
        @Option(help: "Release notes.") var notes: String?
        @Option(help: "Who uploads it.") var by: String?
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let lib = library.library(try library.db.open())
            let (i, isNew) = try lib.add(file: file, deviceClass: deviceClass, model: model, version: version, notes: notes, by: by)
            if json { return try printJSON(i) }
            print((isNew ? "Đã thêm / added" : "Đã có trong thư viện / already in the library")
                  + ": \(i.deviceClass.rawValue) \(i.model) \(i.version) — \(i.size) B")
            print("sha256 \(i.sha256)")
            print("chữ ký / signature \(i.signature) (khóa / key \(i.keyFingerprint))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Liệt kê thư viện firmware / List the firmware library.")
        @OptionGroup var library: LibraryOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let images = try library.library(try library.db.open()).list()
            if json { return try printJSON(images) }
            if images.isEmpty { return print("Chưa có firmware / no firmware yet: wardfleet firmware add FILE --class C --model M --version V") }
            Table.print(header: ["Loại / Class", "Kiểu máy / Model", "Bản / Version", "Cỡ / Size", "Tải lên / Uploaded", "Khóa / Key", "sha256", "Ghi chú / Notes"],
                        rows: images.map { i in
                            [i.deviceClass.rawValue, i.model, i.version, "\(i.size) B", Render.cal.display(i.uploadedAt) + (i.uploadedBy.map { " \($0)" } ?? ""),
                             i.keyFingerprint, String(i.sha256.prefix(16)) + "…", i.notes ?? ""]
                        })
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Khóa công khai để nhà sản xuất gắn vào thiết bị / The public key device makers pin (base64 and fingerprint).")
        @OptionGroup var library: LibraryOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let key = try FirmwareSigningKey.loadOrCreate(library.keyPath)
            if json { return try printJSON(["public_key": key.publicKeyBase64, "fingerprint": key.fingerprint, "algorithm": "ed25519"]) }
            print("Khóa công khai Ed25519 / Ed25519 public key (base64, 32 bytes):")
            print(key.publicKeyBase64)
            print("Dấu vân tay / fingerprint: \(key.fingerprint)")
        }
    }
}

struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign", abstract: "Chiến dịch cập nhật theo đợt / Update campaigns in waves.",
        subcommands: [Create.self, Approve.self, Pause.self, Resume.self, Cancel.self, Show.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tạo chiến dịch (chờ phê duyệt) / Create a campaign (it waits for an admin's approval).")
        @OptionGroup var db: DatabaseOptions
        @Option(help: "Name shown to operators.") var name = ""
        @Option(help: "Image: its version (for --class/--model) or its sha256 (a unique prefix is enough).") var image: String
        @Option(name: .customLong("class"), help: "Target class.") var deviceClass: DeviceClass
        @Option(help: "Target model.") var model: String
        @Option(help: "Only devices now on these firmware versions (comma-separated).") var currentFirmware: String?
        @Option(help: "Only these communes (ids, comma-separated).") var commune: String?
        @Option(help: "Only these villages (ids, comma-separated).") var village: String?
        @Option(help: "Only these devices (ids, comma-separated).") var devices: String?
        @Option(help: "Waves: percentages or counts, e.g. 1%,10%,rest or 20,100,rest.") var waves = "1%,10%,rest"
        @Option(help: "Orders sent per minute at most.") var rate = 60
        @Option(help: "Maintenance window in local time (Asia/Ho_Chi_Minh), e.g. 22:00-05:00; unset: any time.") var window: String?
        @Option(help: "Abort when more than this percentage of a wave's finished devices failed…") var maxFailures: Double = 10
        @Option(help: "…once at least this many of the wave finished (all of a smaller wave).") var minFinished = 10
        @Option(help: "Seconds without progress before an order is taken back and retried.") var timeout: Double = 1800
        @Option(help: "Retries (after a timeout or a busy answer) before a device is failed.") var retries = 5
        @Option(help: "Seconds before the first retry (doubles each time, at most an hour).") var backoff: Double = 60
        @Option(help: "A speaker is busy from this many seconds before a play of its agenda starts…") var busyBefore: Double = 600
        @Option(help: "…until this many seconds after it ends: no update starts meanwhile.") var busyAfter: Double = 60
        @Option(help: "Who creates it.") var by: String?
        @Flag(help: "Only count the devices the target names now; create nothing.") var dryRun = false
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            func list(_ s: String?) -> [String]? { s.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } }
            guard let waveSizes = WaveSize.parse(waves) else {
                throw ValidationError("--waves: ví dụ 1%,10%,rest hoặc 20,100,rest / e.g. 1%,10%,rest or 20,100,rest")
            }
            var policy = CampaignPolicy()
            if let window {
                guard let w = MaintenanceWindow(window) else { throw ValidationError("--window: ví dụ 22:00-05:00 / e.g. 22:00-05:00") }
                policy.window = w
            }
            policy.ratePerMinute = rate
            policy.maxFailuresPercent = maxFailures
            policy.minFinished = minFinished
            policy.timeoutSeconds = timeout
            policy.maxRetries = retries
            policy.backoffSeconds = backoff
            policy.busyBeforeSeconds = busyBefore
            policy.busyAfterSeconds = busyAfter
            let target = CampaignTarget(deviceClass: deviceClass, model: model, currentFirmware: list(currentFirmware), communes: list(commune),
                                        villages: list(village), devices: list(devices))
            let campaigns = FirmwareCampaigns(database: try db.open())
            if dryRun {
                let ids = try campaigns.preview(target)
                if json { return try printJSON(["devices": ids]) }
                let sizes = WaveSize.sizes(waveSizes, total: ids.count)
                print("Sẽ cập nhật \(ids.count) thiết bị / \(ids.count) devices would be updated; các đợt / waves: "
                      + sizes.map(String.init).joined(separator: " + "))
                return
            }
            do {
                let view = try campaigns.create(CampaignRequest(name: name, image: image, target: target, waves: waveSizes, policy: policy, by: by))
                if json { return try printJSON(view.campaign) }
                print("Đã tạo chiến dịch / campaign created: \(view.campaign.id) — chờ phê duyệt / awaiting approval: wardfleet firmware campaign approve \(view.campaign.id)")
                CampaignCommand.render(view)
            } catch let r as CampaignRefusal {
                throw ValidationError(r.description)
            }
        }
    }

    struct IDOptions: ParsableArguments {
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Campaign id.") var id: Int64
        @Option(help: "Who does it.") var by: String?
    }

    static func act(_ o: IDOptions, _ verb: String, _ body: (FirmwareCampaigns) throws -> Campaign) throws {
        do {
            let c = try body(FirmwareCampaigns(database: try o.db.open()))
            print("\(verb): \(c.id) — \(c.state.vietnamese) / \(c.state.rawValue)")
        } catch let r as CampaignRefusal {
            throw ValidationError(r.description)
        } catch let e as FirmwareStoreError {
            throw ValidationError(e.description)
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Phê duyệt: chiến dịch bắt đầu / Approve: the campaign starts.")
        @OptionGroup var o: IDOptions
        func run() async throws { try CampaignCommand.act(o, "Đã phê duyệt / approved") { try $0.approve(o.id, by: o.by) } }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tạm dừng (không gửi lệnh mới) / Pause (no new orders).")
        @OptionGroup var o: IDOptions
        func run() async throws { try CampaignCommand.act(o, "Đã tạm dừng / paused") { try $0.pause(o.id, by: o.by) } }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tiếp tục / Resume.")
        @OptionGroup var o: IDOptions
        func run() async throws { try CampaignCommand.act(o, "Đã tiếp tục / resumed") { try $0.resume(o.id, by: o.by) } }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hủy (lệnh chưa bắt đầu được thu hồi) / Cancel (orders not started are taken back).")
        @OptionGroup var o: IDOptions
        func run() async throws { try CampaignCommand.act(o, "Đã hủy / cancelled") { try $0.cancel(o.id, by: o.by) } }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tiến độ theo đợt và các lỗi / Progress per wave and the failures.")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "Campaign id.") var id: Int64
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            do {
                let view = try FirmwareCampaigns(database: try db.open()).show(id)
                if json { return try printJSON(["campaign": AnyEncodable(view.campaign), "jobs": AnyEncodable(view.jobs)]) }
                CampaignCommand.render(view)
            } catch let r as CampaignRefusal {
                throw ValidationError(r.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Các chiến dịch / Campaigns.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let all = try FirmwareCampaigns(database: try db.open()).list()
            if json { return try printJSON(all) }
            if all.isEmpty { return print("Chưa có chiến dịch / no campaigns yet") }
            Table.print(header: ["#", "Tên / Name", "Bản / Version", "Trạng thái / State", "Tạo lúc / Created"],
                        rows: all.map { ["\($0.id)", $0.name, "\($0.model) \($0.version)", "\($0.state.vietnamese) / \($0.state.rawValue)",
                                         Render.cal.display($0.createdAt)] })
        }
    }

    /// A device's firmware history: its jobs in every campaign, newest first (`devices show`).
    static func history(_ database: WardDatabase, device: String) throws {
        let repo = FirmwareRepository(database)
        let jobs = try repo.history(device: device)
        guard !jobs.isEmpty else { return }
        print("")
        print("LỊCH SỬ FIRMWARE / FIRMWARE HISTORY")
        Table.print(header: ["Chiến dịch / Campaign", "Từ / From", "Lên / To", "Trạng thái / State", "Lý do / Reason", "Lúc / At"],
                    rows: try jobs.map { j in
                        let c = try repo.campaign(j.campaignID)
                        return ["\(j.campaignID) \(c?.name ?? "")", j.fromVersion ?? "—", c?.version ?? "?", "\(j.state.vietnamese) / \(j.state.rawValue)",
                                j.reason.map { "\($0.vietnamese) / \($0.rawValue)" } ?? "—", Render.cal.display(j.updatedAt)]
                    })
    }

    static func render(_ v: CampaignView) {
        let c = v.campaign
        print("CHIẾN DỊCH / CAMPAIGN \(c.id): \(c.name) — \(c.deviceClass.rawValue) \(c.model) → \(c.version)")
        print("Trạng thái / state: \(c.state.vietnamese) / \(c.state.rawValue)"
              + (c.approvedBy.map { " — duyệt bởi / approved by \($0)" } ?? "")
              + (c.abortedWave.map { " — dừng ở đợt / aborted at wave \($0 + 1): \(c.abortDetail ?? "")" } ?? ""))
        let p = c.policy
        print("Đợt / waves \(c.waves.map(\.description).joined(separator: ",")) = \(v.waveSizes.map(String.init).joined(separator: " + ")); "
              + "\(p.ratePerMinute)/ph (min); khung giờ / window \(p.window?.description ?? "—"); "
              + "dừng khi lỗi / abort over \(p.maxFailuresPercent)% sau / after \(p.minFinished)")
        let states: [JobState] = [.queued, .notified, .downloading, .verifying, .installing, .rebooting, .succeeded, .failed, .rolledBack, .cancelled, .skipped]
        Table.print(header: ["Đợt / Wave", "Tổng / Total"] + states.map(\.rawValue),
                    rows: v.waves.map { w in ["\(w.wave + 1)", "\(w.total)"] + states.map { "\(w.counts[$0] ?? 0)" } })
        if !v.failures.isEmpty {
            print("")
            print("LỖI / FAILURES (\(v.failures.count))")
            Table.print(header: ["Thiết bị / Device", "Đợt / Wave", "Trạng thái / State", "Lý do / Reason", "Lúc / At"],
                        rows: v.failures.map { j in
                            [j.deviceID, "\(j.wave + 1)", "\(j.state.vietnamese) / \(j.state.rawValue)",
                             j.reason.map { "\($0.vietnamese) / \($0.rawValue)" } ?? "—", Render.cal.display(j.updatedAt)]
                        })
        }
    }
}

/// Wraps any Encodable for a heterogeneous JSON object.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ v: any Encodable) { value = v }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// `wardfleet run`'s firmware options: where images are served from (`GET /firmware/{sha256}`).
struct FirmwareRunOptions: ParsableArguments {
    @Option(help: "Firmware folder served to devices (default: firmware/ beside the database).") var firmwareDir: String?

    func library(_ database: WardDatabase, clock: any TimeSource) -> FirmwareLibrary {
        FirmwareLibrary(root: firmwareDir.map { URL(fileURLWithPath: $0) } ?? FirmwareLibrary.defaultRoot(databasePath: database.path),
                        database: database, keyPath: FirmwareSigningKey.defaultPath(databasePath: database.path), clock: clock)
    }
}
