import ArgumentParser
import FleetFile
import Foundation
import Logging
import ProcessSignals
import WardController
import WardDomain
import WardHTTP
import WardStorage

/// Path of a sibling executable (firmware-sim next to wardfleet in .build/…). From /proc/self/exe: a
/// `wardfleet` found on PATH has no folder in its argv[0].
func siblingExecutable(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let me = URL(fileURLWithPath: exe).resolvingSymlinksInPath()
    let candidate = me.deletingLastPathComponent().appendingPathComponent(name).path
    return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : name
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Xã mẫu với thiết bị mô phỏng / A demo commune with simulated devices, its own broker and database.")

    @Option(help: "Folder for the demo database.") var dataDir = "demo-data"
    @Option(help: "Places/devices file of the demo commune (default: deploy/sample-commune.yaml, built into the binary).")
    var file: String?
    @Option(help: "Use this broker HOST:PORT instead of starting a private loopback mosquitto.") var broker: String?
    @Option(help: "Device heartbeat in seconds.") var heartbeat: Double = 5
    @Option(help: "Seconds between health printouts.") var every: Double = 5
    @Option(help: "Stop after this many seconds (default: until Ctrl-C).") var duration: Double?
    @Option(help: "Simulator seed.") var seed: UInt64 = 2026
    @Option(help: "Port of the web console and media server (0: any free port).") var httpPort = 8080

    func run() async throws {
        bootstrapLogging(level: .warning)
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let dbPath = "\(dataDir)/wardfleet.sqlite"
        // The built-in sample is written beside the database: the simulator reads it from a file too.
        let file = self.file ?? "\(dataDir)/sample-commune.yaml"
        if self.file == nil { try Data(PackageResources.sample_commune_yaml).write(to: URL(fileURLWithPath: file)) }
        let fleet = try FleetFileReader.read(path: file, registeredAt: Date())
        let database = try WardDatabase(path: dbPath)
        try PlaceRepository(database).upsert(fleet.places)
        try DeviceRepository(database).upsert(fleet.devices)
        print("Cơ sở dữ liệu / database: \(dbPath) — \(fleet.places.count) địa điểm / places, \(fleet.devices.count) thiết bị / devices")

        var localBroker: LocalBroker?
        let host: String, port: Int
        if let broker {
            (host, port) = try parseHostPort(broker)
        } else {
            let b = try await LocalBroker.start()
            localBroker = b
            (host, port) = ("127.0.0.1", b.port)
            print("Mosquitto riêng / private broker: 127.0.0.1:\(b.port)")
        }
        defer { localBroker?.stop() }

        // An installer's new loudspeaker, not registered yet: it must show up as pending.
        let commune = fleet.places.first { $0.level == .commune }
        let site = fleet.places.first { $0.level == .site }
        let stray = "\(dataDir)/unregistered.yaml"
        if let commune, let site {
            let text = "province:\n  id: \(fleet.places.first { $0.level == .province }!.id)\n  name: x\n  communes:\n"
                + "    - id: \(commune.id)\n      name: x\n      sites:\n        - id: \(site.id)\n          name: x\n"
                + "          kind: \(site.siteKind!.rawValue)\n          devices:\n"
                + "            - {id: LOA-MOI-01, class: speaker, model: IPS-4G-Pro}\n"
            try text.write(toFile: stray, atomically: true, encoding: .utf8)
        }

        var config = ControllerConfiguration(databasePath: dbPath,
                                             mqtt: .init(host: host, port: port, clientID: "wardfleet-demo-controller"))
        config.ingest.statusInterval = 1
        // The radio: media served to the simulated speakers from a free loopback port.
        let mediaBase = SharedValue<String?>(nil)
        var delivery = DeliveryConfiguration()
        delivery.mediaBaseURL = { mediaBase.get() }
        config.delivery = delivery
        let controller = try FleetController(config)
        let library = MediaLibrary(root: MediaLibrary.defaultRoot(databasePath: dbPath), database: controller.database)
        try await createDemoUsers(controller.database)
        let api = OperatorAPI(database: controller.database, library: library, publisher: controller.client)
        let consolePort = httpPort
        let httpTask = Task {
            try await ControllerHTTPServer(library: library, host: "127.0.0.1", port: consolePort, api: api).run { p in
                mediaBase.update { $0 = "http://127.0.0.1:\(p)" }
                print("Bảng điều khiển / web console: http://127.0.0.1:\(p)/console — \(demoLogins)")
            }
        }
        defer { httpTask.cancel() }
        let failure = SharedValue<(any Error)?>(nil)
        let controllerTask = Task {
            do { try await controller.run() } catch {
                failure.update { $0 = error }
                throw error
            }
        }

        let simBinary = siblingExecutable("firmware-sim")
        var sims: [ChildProcess] = []
        func sim(_ args: [String]) throws {
            sims.append(try ChildProcess.spawn(
                simBinary, ["run", "--broker", "\(host):\(port)", "--heartbeat", "\(heartbeat)", "--seed", "\(seed)", "--exit-with-parent"] + args,
                stdout: .null, stderr: .file("\(dataDir)/firmware-sim.log")))
        }
        // Scripted incidents so the first minutes show every kind of state.
        let byClass = Dictionary(grouping: fleet.devices, by: \.deviceClass)
        var behave: [String] = []
        if let s = byClass[.speaker], s.count > 2 {
            behave += ["\(s[0].id):offline-will@15+60", "\(s[1].id):amp-fault@10+90", "\(s[2].id):reboot@25"]
        }
        if let c = byClass[.camera]?.first { behave.append("\(c.id):disk-fill@5") }
        if let a = byClass[.accessPoint]?.first { behave.append("\(a.id):uplink-loss@20+60") }
        if let k = byClass[.kiosk]?.first { behave.append("\(k.id):paper-out@40+40") }
        try sim(["--file", file, "--always-open", "--kiosk-interval", "15", "--random-faults", "2"]
                + behave.flatMap { ["--behave", $0] })
        if FileManager.default.fileExists(atPath: stray) { try sim(["--file", stray]) }
        print("Thiết bị mô phỏng / simulated devices: \(simBinary) (nhật ký / log: \(dataDir)/firmware-sim.log)")
        await scheduleDemoBulletin(database, library: library, dbPath: dbPath)
        print("Dừng bằng Ctrl-C / stop with Ctrl-C. Xem thêm / more: wardfleet health --db \(dbPath); wardfleet devices show ID --db \(dbPath)\n")

        let ui = Task {
            let start = ContinuousClock.now
            while !Task.isCancelled {
                if controllerTask.isCancelled { break }
                try await Task.sleep(for: .seconds(every))
                print("\u{1B}[2J\u{1B}[H", terminator: "")
                if let error = failure.get() { throw error }
                Render.health(try HealthReport.build(database, now: Date()))
                if let duration, ContinuousClock.now - start >= .seconds(duration) { break }
            }
        }
        ProcessSignals.cancelOnTermination(ui, name: "wardfleet demo")
        let uiResult = await ui.result
        for p in sims { await p.terminate() }
        // Let the devices' last words (shutdown states, QoS 1) reach the controller before it stops.
        var last = await controller.ingestor.counter(IngestCounter.received)
        for _ in 0..<50 {
            try? await Task.sleep(for: .milliseconds(200))
            let now = await controller.ingestor.counter(IngestCounter.received)
            if now == last { break }
            last = now
        }
        controllerTask.cancel()
        try? await controllerTask.value
        // The devices are gone with the demo and will never report again: plays whose time is over are
        // closed now (missed, and why), as the controller would close them after its grace.
        await controller.delivery?.settle()
        if case .failure(let error) = uiResult, !(error is CancellationError) { throw error }
        print("\nĐã dừng demo / demo stopped. Dữ liệu / data: \(dbPath)")
    }
}

let demoPassword = "wardfleet-demo"
let demoLogins = "đăng nhập / sign in: quantri, vanhoa, chutich, kythuat — mật khẩu / password \(demoPassword)"

/// Console users of the demo, one per role people use (shown on start; a real deployment adds its own).
func createDemoUsers(_ db: WardDatabase) async throws {
    let repo = BroadcastRepository(db)
    let hash = try await OperatorAPI.hashPassword(demoPassword)
    for (name, role, display) in [("quantri", Role.admin, "Quản trị hệ thống"), ("vanhoa", .operator, "Công chức Văn hóa - Thông tin"),
                                  ("chutich", .approver, "Phó Chủ tịch UBND xã"), ("kythuat", .technician, "Kỹ thuật viên VNPT")] {
        if (try? repo.user(name)) == nil {
            try repo.addUser(User(name: name, role: role, displayName: display, createdAt: Date()))
            try AuthRepository(db).setPassword(name, hash: hash)
        }
    }
}

/// A text-to-speech bulletin for the whole commune half a minute from now, so the demo shows the
/// radio too: `wardfleet broadcast log` then lists every speaker's playback.
func scheduleDemoBulletin(_ db: WardDatabase, library: MediaLibrary, dbPath: String) async {
    do {
        let repo = BroadcastRepository(db)
        if (try? repo.user("demo")) == nil {
            try repo.addUser(User(name: "demo", role: .approver, displayName: "Cán bộ demo", createdAt: Date()))
        }
        let speech = try await library.addSpeech("Đài truyền thanh xã xin thông báo: lịch tiêm chủng tại trạm y tế xã vào sáng thứ bảy.",
                                                 voice: .northern, title: "Thông báo tiêm chủng", by: "demo").item
        guard let commune = try PlaceRepository(db).tree().places.values.first(where: { $0.level == .commune }) else { return }
        let cal = LocalCalendar.vietnam
        let at = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 30).rounded(.up))
        let b = try BroadcastService(db).schedule(.init(title: "Thông báo tiêm chủng", level: .normal, programme: .media(sha256: speech.sha256),
                                                        recurrence: .once(cal.localDay(of: at), at: cal.localTime(of: at)),
                                                        target: BroadcastTarget(communes: [commune.id])), by: "demo")
        print("Bản tin demo / demo bulletin \(b.id) lúc / at \(cal.display(at)); xem / see: wardfleet broadcast log --db \(dbPath)\n")
    } catch {
        print("Không lên lịch được bản tin demo / could not schedule the demo bulletin: \(error)\n")
    }
}
