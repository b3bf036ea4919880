import Crypto
import Foundation
import Synchronization
import Testing
import WardDomain
import WardProtocol
import WardStorage
@testable import WardController

/// The firmware library (hashing, signing, the key file) and the campaign runner on a manual clock with a recording publisher.
@Suite struct FirmwareServiceTests {
    final class Recorder: SchedulePublisher {
        let sent = Mutex<[(topic: String, payload: [UInt8])]>([])
        func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool) throws {
            #expect(qos == 1 && retain)
            sent.withLock { $0.append((topic, payload)) }
        }
        func orders(_ device: String) -> [OTAOrder?] {
            sent.withLock { $0.filter { $0.topic.hasSuffix("/\(device)/ota") } }
                .map { $0.payload.isEmpty ? nil : try? JSONDecoder().decode(OTAOrder.self, from: Data($0.payload)) }
        }
    }

    /// Signals handed to the runner, as the ingest would.
    final class Signals: Sendable {
        let pending = Mutex<[FirmwareSignal]>([])
        let online = Mutex<Set<String>>([])
        func add(_ s: FirmwareSignal) { pending.withLock { $0.append(s) } }
        func take() -> [FirmwareSignal] { pending.withLock { p in defer { p = [] }; return p } }
    }

    final class World {
        let dir: URL
        let db: WardDatabase
        let clock = ManualTimeSource(Date(timeIntervalSince1970: 1_796_000_000))
        let library: FirmwareLibrary

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-fw-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            db = try WardDatabase(path: dir.appendingPathComponent("w.sqlite").path)
            library = FirmwareLibrary(root: dir.appendingPathComponent("firmware"), database: db,
                                      keyPath: FirmwareSigningKey.defaultPath(databasePath: db.path), clock: clock)
            let t0 = clock.now()
            try PlaceRepository(db).upsert([
                Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
                Place(id: "cam-la", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
                Place(id: "thon-cam-la", level: .village, name: "Thôn Cẩm La", parentID: "cam-la"),
                Place(id: "s1", level: .site, name: "Nhà văn hóa", parentID: "thon-cam-la", siteKind: .culturalHouse),
            ])
            try DeviceRepository(db).upsert(["LOA-1", "LOA-2", "LOA-3"].map {
                Device(id: $0, deviceClass: .speaker, model: "M1", firmware: "1.0.0", siteID: "s1", registeredAt: t0)
            })
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        func image(_ version: String, bytes: Int = 1000) throws -> FirmwareImage {
            let f = dir.appendingPathComponent("img-\(version).bin")
            FileManager.default.createFile(atPath: f.path, contents: Data((0..<bytes).map { UInt8(($0 * 7 + version.count) % 256) }))
            return try library.add(file: f.path, deviceClass: .speaker, model: "M1", version: version, notes: "ghi chú", by: "quantri").image
        }
    }

    @Test func imagesAreHashedSignedAndTheKeyFileIsPrivate() throws {
        let w = try World()
        let i = try w.image("2.0.0")
        let key = try w.library.signingKey()
        let mode = try FileManager.default.attributesOfItem(atPath: key.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(i.keyFingerprint == key.fingerprint && i.size == 1000)
        let pub = try #require(FirmwareSigning.publicKey(base64: key.publicKeyBase64))
        #expect(FirmwareSigning.verify(i.manifest, signature: i.signature, publicKey: pub))
        // Bound to the version and the bytes: the same signature over another manifest fails.
        var other = i
        other.version = "2.0.1"
        #expect(!FirmwareSigning.verify(other.manifest, signature: i.signature, publicKey: pub))
        other = i
        other.size += 1
        #expect(!FirmwareSigning.verify(other.manifest, signature: i.signature, publicKey: pub))
        // The stored file is the bytes under their hash; the same file again is the same image.
        let stored = try Data(contentsOf: w.library.file(of: i.sha256))
        #expect(SHA256.hash(data: stored).map { String(format: "%02x", $0) }.joined() == i.sha256)
        #expect(try w.library.add(file: w.dir.appendingPathComponent("img-2.0.0.bin").path, deviceClass: .speaker, model: "M1",
                                  version: "2.0.0").isNew == false)
        // The key is reused, not remade; a key file others can read is refused.
        #expect(try FirmwareSigningKey.loadOrCreate(key.path).fingerprint == key.fingerprint)
        chmod(key.path, 0o644)
        #expect(throws: FirmwareSigningKey.KeyFileError.self) { try FirmwareSigningKey.loadOrCreate(key.path) }
    }

    @Test func theRunnerSendsOrdersFollowsReportsAndClearsThem() async throws {
        let w = try World()
        let image = try w.image("2.0.0")
        let ops = FirmwareCampaigns(database: w.db, clock: w.clock)
        var policy = CampaignPolicy()
        policy.ratePerMinute = 100
        let view = try ops.create(CampaignRequest(name: "", image: "2.0.0", target: CampaignTarget(deviceClass: .speaker, model: "M1"),
                                                  waves: WaveSize.parse("1,rest")!, policy: policy, by: "kythuat"))
        #expect(view.waveSizes == [1, 2] && view.campaign.state == .awaitingApproval)
        #expect(throws: CampaignRefusal.self) { try ops.resume(view.campaign.id) }

        let rec = Recorder(), sig = Signals()
        var config = FirmwareConfiguration()
        config.baseURL = { "http://10.0.0.2:8080/" }
        config.signals = { sig.take() }
        config.online = { ids in sig.online.withLock { o in Set(ids.filter(o.contains)) } }
        let runner = CampaignRunner(database: w.db, publisher: rec, clock: w.clock, configuration: config)
        sig.online.withLock { $0 = ["LOA-1", "LOA-2", "LOA-3"] }
        for d in ["LOA-1", "LOA-2", "LOA-3"] { sig.add(.birth(device: d, firmware: "1.0.0", capabilities: ["ota"], at: w.clock.now())) }
        await runner.tick()
        #expect(rec.orders("LOA-1").isEmpty)  // not approved yet
        #expect(await runner.heldDevices == 0)  // nothing to plan: the fleet is not held

        _ = try ops.approve(view.campaign.id, by: "quantri")
        await runner.tick()
        #expect(await runner.heldDevices == 6)  // births heard before the approval (not yet stored) and the communes
        let order = try #require(rec.orders("LOA-1").last ?? nil)
        #expect(rec.sent.withLock { $0.last?.topic } == "wardfleet/v1/cam-la/LOA-1/ota")
        #expect(order.job == "\(view.campaign.id).1" && order.sha256 == image.sha256 && order.size == image.size)
        #expect(order.url == "http://10.0.0.2:8080/firmware/\(image.sha256)" && order.signature == image.signature)
        #expect(order.deadline == w.clock.now().addingTimeInterval(policy.timeoutSeconds).unixMillis)
        #expect(rec.orders("LOA-2").isEmpty)  // the second wave waits

        // Progress, then the birth of the new version: succeeded, the order cleared, the next wave sent.
        w.clock.advance(by: 5)
        sig.add(.report(device: "LOA-1", job: order.job, state: .downloading, reason: nil, at: w.clock.now()))
        sig.add(.report(device: "LOA-1", job: order.job, state: .rebooting, reason: nil, at: w.clock.now()))
        await runner.tick()
        #expect(try FirmwareRepository(w.db).jobs(view.campaign.id).first { $0.deviceID == "LOA-1" }?.state == .rebooting)
        sig.add(.birth(device: "LOA-1", firmware: "2.0.0", capabilities: ["ota"], at: w.clock.now()))
        await runner.tick()
        #expect(rec.orders("LOA-1").last! == nil)
        #expect(rec.orders("LOA-2").count == 1 && rec.orders("LOA-3").count == 1)
        // LOA-2 comes back on the old version; LOA-3 refuses the signature.
        let j2 = try #require(rec.orders("LOA-2").last ?? nil).job
        sig.add(.report(device: "LOA-2", job: j2, state: .rebooting, reason: nil, at: w.clock.now()))
        sig.add(.birth(device: "LOA-2", firmware: "1.0.0", capabilities: ["ota"], at: w.clock.now()))
        sig.add(.report(device: "LOA-3", job: try #require(rec.orders("LOA-3").last ?? nil).job, state: .failed, reason: .badSignature, at: w.clock.now()))
        await runner.tick()
        let shown = try ops.show(view.campaign.id)
        #expect(shown.failures.map(\.deviceID).sorted() == ["LOA-2", "LOA-3"])
        #expect(shown.failures.first { $0.deviceID == "LOA-2" }?.reason == .cameBackOldVersion)
        #expect(shown.failures.first { $0.deviceID == "LOA-3" }?.reason == .badSignature)
        #expect(rec.orders("LOA-2").last! == nil && rec.orders("LOA-3").last! == nil)
        // 2 of 2 finished failed in wave 2: aborted there.
        #expect(shown.campaign.state == .aborted && shown.campaign.abortedWave == 1)
        await runner.tick()
        #expect(await runner.heldDevices == 0)  // over: let go again
        // Who did what is in the audit log.
        let audit = try AuthRepository(w.db).auditLog().map { "\($0.user) \($0.action)" }
        #expect(Set(audit).isSuperset(of: ["quantri firmware.add", "kythuat firmware.campaign_create", "quantri firmware.campaign_approve"]), "\(audit)")
    }
}
