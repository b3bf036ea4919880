import Foundation
import MQTTClient
import Testing
import WardClock
import WardController
import WardDomain
import WardStorage

/// Every test that starts brokers and processes, one at a time: they load both cores.
@Suite(.serialized) enum RealBrokerTests {}

/// The outside tools (Chromium driven by Selenium, schemathesis), one at a time, in a second lane beside
/// RealBrokerTests: much of their time is spent waiting on a browser or on HTTP round trips, so the two lanes
/// overlap on two cores instead of adding up (the suite's wall time was the sum, over 17 minutes).
@Suite(.serialized) enum OutsideToolTests {}

/// One isolated world per test: its own mosquitto on a free loopback port, its own SQLite file,
/// the real `wardfleet` and `firmware-sim` binaries as child processes.
final class Harness: @unchecked Sendable {
    // @unchecked: used from one test at a time; `children` is only touched by that test.
    private(set) var broker: LocalBroker
    let dir: URL
    let dbPath: String
    let db: WardDatabase
    var children: [ChildProcess] = []

    static let commune = """
        province:
          id: qn
          name: Tỉnh Quảng Ninh
          communes:
            - id: cam-la
              name: Xã Cẩm La
              sites:
                - id: mot-cua
                  name: Bộ phận Một cửa
                  kind: one_stop_office
                  devices:
                    - {id: KIOSK-1, class: kiosk, kiosk_role: both}
              villages:
                - id: thon-cam-la
                  name: Thôn Cẩm La
                  sites:
                    - id: nvh
                      name: Nhà văn hóa thôn Cẩm La
                      kind: cultural_house
                      devices:
                        - {id: LOA-1, class: speaker, max_volume: 90}
                        - {id: AP-1, class: access_point}
                - id: kp-yen-giang
                  name: Khu phố Yên Giang
                  sites:
                    - id: cong
                      name: Cổng khu phố Yên Giang
                      kind: village_entrance
                      devices:
                        - {id: CAM-1, class: camera}
        """

    /// A device that speaks but that nobody registered.
    static let stranger = """
        province:
          id: qn
          name: x
          communes:
            - id: cam-la
              name: x
              sites:
                - id: nvh
                  name: x
                  kind: cultural_house
                  devices:
                    - {id: LOA-LA-99, class: speaker, model: Loa Lạ 4G}
        """

    static func binary(_ name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Every child reads its clock through this file (ShiftedClock): tests move time for all at once.
    var clockFile: String { file("clock") }
    var environment: [String: String] { [Clocks.environmentKey: clockFile] }
    let clock: ShiftedClock

    init(fleet: String = Harness.commune) async throws {
        broker = try await LocalBroker.start()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        dbPath = dir.appendingPathComponent("wardfleet.sqlite").path
        db = try WardDatabase(path: dbPath)
        clock = ShiftedClock(path: dir.appendingPathComponent("clock").path)
        try write("clock", "0")
        try write("commune.yaml", fleet)
        try write("stranger.yaml", Self.stranger)
        // Registration through the real CLI, as a technician would.
        let (status, out) = try await run("wardfleet", ["places", "import", file("commune.yaml"), "--with-devices", "--db", dbPath])
        #expect(status == 0, "\(out)")
    }

    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func write(_ name: String, _ text: String) throws { try text.write(toFile: file(name), atomically: true, encoding: .utf8) }
    var brokerAddress: String { "127.0.0.1:\(broker.port)" }

    /// Starts `wardfleet run` and returns once it is connected to the broker, so that what
    /// devices do next is seen live rather than only through retained messages.
    @discardableResult
    func startController(_ extra: [String] = []) async throws -> ChildProcess {
        let startedAfter = try HealthQueries(db).controllerLastAlive() ?? .distantPast
        let c = try ChildProcess.spawn(Self.binary("wardfleet"),
                                       ["run", "--db", dbPath, "--broker", brokerAddress, "--status-interval", "0.5", "--http-host", "127.0.0.1", "--http-port", "0",
                                        "--log-level", "info"] + extra,
                                       stdout: .file(file("controller.log")), stderr: .file(file("controller.log")), environment: environment)
        children.append(c)
        try await waitUntil("controller connected to the broker") {
            let link = try HealthQueries(db).controllerLink()
            return link?.connected == true && (link?.since ?? .distantPast) > startedAfter
        }
        return c
    }

    @discardableResult
    func startSim(_ args: [String], file simFile: String? = nil) throws -> ChildProcess {
        let c = try ChildProcess.spawn(Self.binary("firmware-sim"),
                                       ["run", "--file", simFile ?? file("commune.yaml"), "--broker", brokerAddress,
                                        "--heartbeat", "1", "--seed", "7", "--exit-with-parent"] + args,
                                       stdout: .file(file("sim.log")), stderr: .file(file("sim.log")), environment: environment)
        children.append(c)
        return c
    }

    /// Runs a CLI command to completion; returns its exit status and stdout.
    func run(_ binary: String, _ args: [String]) async throws -> (Int32, String) {
        try? FileManager.default.removeItem(atPath: file("cli.log"))
        let c = try ChildProcess.spawn(Self.binary(binary), args, stdout: .pipe, stderr: .file(file("cli.log")), environment: environment)
        let out = c.output!.readDataToEndOfFile()
        let status = await c.wait(timeout: .seconds(60)) ?? -1
        return (status, String(decoding: out, as: UTF8.self))
    }

    /// What the last `run` wrote to standard error.
    var lastStderr: String { (try? String(contentsOfFile: file("cli.log"), encoding: .utf8)) ?? "" }

    /// Moves every process's clock (this test's, the controller's, the simulators', the CLI's) to `date`.
    func setClock(to date: Date) throws { try ShiftedClock.set(path: clockFile, to: date) }

    /// Polls `condition` until it holds; fails the test with `what` at the deadline.
    func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOfFile: file("controller.log"), encoding: .utf8)) ?? ""
        Issue.record("timed out waiting for: \(what)\ncontroller log tail:\n\(log.suffix(2000))")
        throw CancellationError()
    }

    /// Kills the broker (as a crash would) and starts a new one on the same port.
    func restartBroker() async throws {
        let port = broker.port
        broker.kill()
        broker = try await LocalBroker.start(port: port)
    }

    func status(_ id: String) throws -> DeviceStatusRecord? { try HealthQueries(db).statuses()[id] }
    func state(_ id: String) throws -> HealthState? { try status(id)?.liveness.state }
    func counter(_ name: String) throws -> UInt64 { try HealthQueries(db).counters()[name] ?? 0 }

    func stop() async {
        for c in children.reversed() { await c.terminate(grace: .seconds(5)) }
        broker.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}
