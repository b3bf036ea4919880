import Foundation
import MQTTClient
import Synchronization
import Testing
import WardController
import WardDomain
import WardStorage

/// docs/protocol.md, row by row, on the wire. The test reads the document's tables (§4 field,
/// event-type and command tables, §5 faults, reasons, ignored) and runs one case per row: literal
/// JSON written from the row's rule, published with a plain MQTT client to a real mosquitto and one
/// real `wardfleet run`, with the outcome the row promises read back from SQLite or the CLI. A row
/// without a case, or a case without its row, fails: the document and the decoder cannot drift.
extension RealBrokerTests {
    @Suite struct ConformanceTests {
        @Test func everyRowOfTheProtocolDocumentHoldsOnTheWire() async throws {
            let doc = try ProtocolDoc.tables(String(contentsOf: ProtocolDoc.url, encoding: .utf8))
            let cases = Conformance.cases
            // The document and the cases name the same rows.
            var documented = Set<String>()
            for (table, rows) in doc where !ProtocolDoc.notCovered.contains(table) {
                for r in rows { documented.insert("\(table): \(r)") }
            }
            let covered = Set(cases.map(\.key))
            #expect(cases.count == covered.count, "two cases for one row")
            #expect(documented.subtracting(covered).isEmpty, "rows of docs/protocol.md without a case: \(documented.subtracting(covered).sorted())")
            #expect(covered.subtracting(documented).isEmpty, "cases for rows not in docs/protocol.md: \(covered.subtracting(documented).sorted())")
            for t in ["birth", "state", "telemetry", "telemetry.speaker", "telemetry.camera", "telemetry.access_point", "telemetry.kiosk",
                      "event", "event / event", "cmd", "cmd / command", "ack", "playback", "Faults a device can cause / Fault",
                      "Bad input / Reason", "Ignored, not rejected / Ignored"] {
                #expect(doc[t] != nil, "table '\(t)' not found in docs/protocol.md")
            }

            let h = try await Harness(fleet: Conformance.fleet(cases))
            do {
                try await h.startController()
                let world = try await ConformanceWorld(h)
                // Independent devices: cases run side by side; those that read global counters alone.
                try await world.run(cases.filter { !$0.serial }, width: 10)
                try await world.run(cases.filter(\.serial), width: 1)
                await world.close()
            } catch {
                await h.stop()
                throw error
            }
            await h.stop()
        }
    }
}

/// The tables of docs/protocol.md.
enum ProtocolDoc {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/protocol.md")
    /// Written by the controller, not read by it: the radio tests check what the controller sends.
    static let notCovered: Set<String> = Set(["schedule", "emergency"])
        .union(["config", "config.config", "credentials"])  // remote configuration and rotation: FleetConfigTests check them
        .union(["ota"])  // firmware orders: FirmwareCampaignTests check them

    /// Tables of §4 and §5 by name: a field table by its message ("birth"; "telemetry.speaker" for
    /// the class object named in the line before it), any other by heading and first column
    /// ("cmd / command"). Rows by their first cell, backticks removed.
    static func tables(_ text: String) -> [String: [String]] {
        var out: [String: [String]] = [:]
        var section = "", heading = ""
        var label: String?
        let lines = text.components(separatedBy: "\n")
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.hasPrefix("## ") {
                section = line
                heading = ""
                label = nil
            } else if line.hasPrefix("### ") {
                heading = String(line.dropFirst(4))
                label = nil
            } else if line.hasPrefix("|"), i + 1 < lines.count, lines[i + 1].hasPrefix("|---") {
                let header = cells(line)
                var rows: [String] = []
                i += 2
                while i < lines.count, lines[i].hasPrefix("|") {
                    rows.append(cells(lines[i])[0])
                    i += 1
                }
                if section.hasPrefix("## 4. ") || section.hasPrefix("## 5. ") {
                    let name = header[0] == "Field" ? (label.map { "\(heading).\($0)" } ?? heading) : "\(heading) / \(header[0])"
                    out[name] = rows
                }
                label = nil
                continue
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                // "`speaker` — loudspeaker cluster (cụm loa)" names the table after it.
                label = line.range(of: #"^`[a-z_]+` — "#, options: .regularExpression) != nil
                    ? String(line.dropFirst().prefix { $0 != "`" }) : nil
            }
            i += 1
        }
        return out
    }

    static func cells(_ line: String) -> [String] {
        line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
            .map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
    }
}

/// One row's case: the device it drives (registered with `cls`; nil: none of its own) and what it does.
struct ConformanceCase: Sendable {
    var table: String
    var row: String
    var cls: DeviceClass?
    /// Reads counters every case may move: runs alone, after the others.
    var serial = false
    var maxVolume: Int?
    var body: @Sendable (CaseDevice) async throws -> Void
    var key: String { "\(table): \(row)" }
}

/// The running world all cases share: one broker, one controller, one publishing client, one
/// client playing the devices' side of commands, and a snapshot of the database read 10 times a second.
final class ConformanceWorld: @unchecked Sendable {
    // @unchecked: the snapshot and the received commands sit behind mutexes; the rest is immutable.
    let h: Harness
    let pub: MQTTClient
    let deviceSide: MQTTClient
    private let commands = Mutex<[String: [[UInt8]]]>([:])
    private let snapshot = Mutex(Snapshot())
    private let fences = Atomic<Int>(0)
    private var tasks: [Task<Void, Never>] = []

    struct Snapshot {
        var rejections: [String: [String]] = [:]
        var statuses: [String: DeviceStatusRecord] = [:]
        var counters: [String: UInt64] = [:]
        var taken = 0
    }

    init(_ h: Harness) async throws {
        self.h = h
        pub = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: h.broker.port, clientID: "conformance-publisher"))
        try await pub.connect()
        deviceSide = try MQTTClient(MQTTConfiguration(host: "127.0.0.1", port: h.broker.port, clientID: "conformance-devices"))
        try deviceSide.subscribe("wardfleet/v1/+/+/cmd", qos: 1)
        try await deviceSide.connect()
        let side = deviceSide
        tasks.append(Task { [self] in
            while let batch = await side.messages.nextBatch() {
                for m in batch {
                    let parts = m.topic.split(separator: "/")
                    guard parts.count == 5 else { continue }
                    commands.withLock { $0[String(parts[3]), default: []].append(m.payload) }
                }
            }
        })
        let db = h.db
        tasks.append(Task { [self] in
            while !Task.isCancelled {
                if let r = try? HealthQueries(db).recentRejections(limit: IngestRepository.keptRejections),
                   let s = try? HealthQueries(db).statuses(), let c = try? HealthQueries(db).counters() {
                    var byTopic: [String: [String]] = [:]
                    for x in r.reversed() { byTopic[x.topic, default: []].append(x.reason) }
                    snapshot.withLock {
                        $0.rejections = byTopic
                        $0.statuses = s
                        $0.counters = c
                        $0.taken += 1
                    }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        })
    }

    func close() async {
        for t in tasks { t.cancel() }
        pub.disconnect()
        deviceSide.disconnect()
    }

    var state: Snapshot { snapshot.withLock { $0 } }
    func nextFence() -> Int { fences.add(1, ordering: .relaxed).newValue }
    func commandsFor(_ id: String) -> [[UInt8]] { commands.withLock { $0[id] ?? [] } }

    /// Waits for `condition` on fresh snapshots (taken after the call) until the deadline.
    func until(_ what: String, timeout: Duration = .seconds(45), _ condition: (Snapshot) throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        let after = state.taken
        while ContinuousClock.now < deadline {
            let s = state
            if s.taken > after, (try? condition(s)) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ConformanceFailure("timed out waiting for: \(what)")
    }

    /// Runs cases `width` at a time; each failure is recorded with its row.
    func run(_ cases: [ConformanceCase], width: Int) async throws {
        await withTaskGroup(of: Void.self) { group in
            var pending = cases[...]
            func start(_ c: ConformanceCase) {
                group.addTask {
                    let d = CaseDevice(self, c)
                    do { try await c.body(d) } catch {
                        Issue.record("docs/protocol.md \(c.key) [device \(d.id)]: \(error)")
                    }
                }
            }
            for _ in 0..<width { if let c = pending.popFirst() { start(c) } }
            while await group.next() != nil { if let c = pending.popFirst() { start(c) } }
        }
    }

    /// Runs the CLI to completion; (exit status, stdout, stderr).
    func cli(_ args: [String], tag: String) async throws -> (Int32, String, String) {
        let out = h.file("cli-\(tag).out"), err = h.file("cli-\(tag).err")
        let c = try ChildProcess.spawn(Harness.binary("wardfleet"), args + ["--db", h.dbPath], stdout: .file(out), stderr: .file(err),
                                       environment: h.environment)
        let status = await c.wait(timeout: .seconds(90)) ?? -1
        return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "", (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}

struct ConformanceFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One case's device: its topics, what it sends, and what it expects to be refused.
final class CaseDevice: @unchecked Sendable {
    // @unchecked: used by its own case's task only.
    let w: ConformanceWorld
    let c: ConformanceCase
    let id: String
    let commune = "cam-la"
    private var expected: [String: [String]] = [:]

    init(_ w: ConformanceWorld, _ c: ConformanceCase) {
        self.w = w
        self.c = c
        id = Conformance.deviceID(c)
    }

    func topic(_ kind: String, commune: String? = nil) -> String { "wardfleet/v1/\(commune ?? self.commune)/\(id)/\(kind)" }
    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    /// `$D` the device id, `$TS` now in Unix ms, `$TS+N`/`$TS-N` now ± N ms.
    func fill(_ json: String) -> String {
        var s = json.replacingOccurrences(of: "$D", with: id)
        let now = Self.nowMs()
        while let r = s.range(of: #"\$TS([+-]\d+)?"#, options: .regularExpression) {
            let offset = Int64(s[r].dropFirst(3)) ?? 0
            s.replaceSubrange(r, with: "\(now + offset)")
        }
        return s
    }

    @discardableResult
    func send(_ kind: String, _ json: String, retain: Bool = false, commune: String? = nil) throws -> String {
        let text = fill(json)
        try w.pub.publish(topic: topic(kind, commune: commune), payload: Array(text.utf8), qos: 1, retain: retain)
        return text
    }

    func sendBytes(_ topic: String, _ bytes: [UInt8]) throws { try w.pub.publish(topic: topic, payload: bytes, qos: 1) }

    /// Logs `play` (ITEM@START_MS) as sent to this speaker, as the controller does before an
    /// agenda goes out: only then are the speaker's reports about it accepted.
    func sent(play: String) throws {
        guard let key = PlayKey(id: play) else { throw ConformanceFailure("not a play id: \(play)") }
        try PlaybackRepository(w.h.db).append([PlaybackEntry(key: key, speaker: id, event: .scheduled, at: Date())], recordedAt: Date())
    }

    /// The next message sent on `kind` is refused under `reason` (and nothing else is refused there).
    func rejected(_ reason: String, on kind: String, commune: String? = nil) async throws {
        try await rejected(reason, topic: topic(kind, commune: commune))
    }

    func rejected(_ reason: String, topic t: String) async throws {
        expected[t, default: []].append(reason)
        let want = expected[t]!
        try await w.until("\(t) refused as \(reason)") { ($0.rejections[t] ?? []).count >= want.count }
        let got = w.state.rejections[t] ?? []
        guard got == want else { throw ConformanceFailure("\(t): refused as \(got), the document says \(want)") }
    }

    /// Everything this case sent so far has been handled (messages of one connection are handled
    /// in order), and nothing was refused beyond what the case expects.
    func settled() async throws {
        let t = "wardfleet/v1/\(commune)/\(id)-F\(w.nextFence())/event"
        try sendBytes(t, Array("{".utf8))
        try await w.until("fence \(t)") { ($0.rejections[t] ?? []).count == 1 }
        for kind in ["birth", "state", "telemetry", "event", "ack", "playback"] + ["config_report", "credentials_report"] + ["ota_report"] {
            let got = w.state.rejections[topic(kind)] ?? []
            let want = expected[topic(kind)] ?? []
            guard got == want else { throw ConformanceFailure("\(topic(kind)): refused as \(got), expected \(want)") }
        }
    }

    func status() -> DeviceStatusRecord? { w.state.statuses[id] }
    func until(_ what: String, _ condition: @escaping (DeviceStatusRecord?) throws -> Bool) async throws {
        try await w.until("\(id): \(what)") { try condition($0.statuses[self.id]) }
    }

    func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
        if !ok { throw ConformanceFailure(what()) }
    }

    /// A valid birth (class of the case, these capabilities) and `online`; returns when both are applied.
    func connect(capabilities: [String] = ["ping", "reboot"], heartbeat: String = "30", boot: String = "b1") async throws {
        let caps = capabilities.map { "\"\($0)\"" }.joined(separator: ",")
        let birth = try send("birth", #"{"v":1,"device":"$D","class":"\#(c.cls!.rawValue)","model":"M-1","firmware":"1.0","capabilities":[\#(caps)],"heartbeat_s":\#(heartbeat),"boot":"\#(boot)","ts":$TS}"#)
        try send("state", #"{"v":1,"device":"$D","state":"online","boot":"\#(boot)","ts":$TS}"#)
        try await until("born and online") { $0?.birth == birth && $0?.liveness.state.isOnline == true && $0?.liveness.bootID == boot }
    }

    /// Waits for the `n`th command sent to this device and returns its JSON object.
    func command(_ n: Int = 1) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(45)
        while ContinuousClock.now < deadline {
            let got = w.commandsFor(id)
            if got.count >= n {
                guard let o = try JSONSerialization.jsonObject(with: Data(got[n - 1])) as? [String: Any] else {
                    throw ConformanceFailure("command \(n) is not a JSON object")
                }
                return o
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ConformanceFailure("no command \(n) reached \(id)")
    }

    /// `wardfleet devices command` for this device, run in the background.
    func startCommand(_ args: [String], tag: String = "") -> Task<(Int32, String, String), any Error> {
        let w = self.w, id = self.id, broker = w.h.brokerAddress
        return Task { try await w.cli(["devices", "command", id] + args + ["--broker", broker, "--timeout", "60"], tag: "\(id)\(tag)") }
    }

    /// Answers a command as a device would (the JSON written here, not by the project's encoder).
    func ack(_ cmdID: String, result: String = "ok", detail: String = "xong") throws {
        try send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"\#(cmdID)","result":"\#(result)","detail":"\#(detail)","ts":$TS}"#)
    }
}

/// The cases, one per row of the document's tables.
enum Conformance {
    static func deviceID(_ c: ConformanceCase) -> String {
        let i = cases.firstIndex { $0.key == c.key } ?? 0
        return String(format: "CF-%03d", i)
    }

    /// The registry every case's device is in: commune `cam-la` (and `yen-giang` for identity).
    static func fleet(_ cases: [ConformanceCase]) -> String {
        var devices = ""
        for c in cases {
            guard let cls = c.cls else { continue }
            var extra = ""
            if let v = c.maxVolume { extra += ", max_volume: \(v)" }
            if cls == .kiosk { extra += ", kiosk_role: both" }
            devices += "                        - {id: \(deviceID(c)), class: \(cls.rawValue), model: M-1, firmware: \"1.0\"\(extra)}\n"
        }
        return """
            province:
              id: qn
              name: Tỉnh Quảng Ninh
              communes:
                - id: cam-la
                  name: Xã Cẩm La
                  villages:
                    - id: thon-cam-la
                      name: Thôn Cẩm La
                      sites:
                        - id: nvh
                          name: Nhà văn hóa thôn Cẩm La
                          kind: cultural_house
                          devices:
            \(devices)
                - id: yen-giang
                  name: Phường Yên Giang
            """
    }

    // MARK: literal messages

    static let speakerOK = #""speaker":{"volume":50,"amp_ok":true,"line_ok":true,"playing":false,"rssi":-70,"power":"mains","battery_pct":null}"#
    static let cameraOK = #""camera":{"recording":true,"stream_ok":true,"storage_used_bytes":100,"storage_total_bytes":1000000000000,"oldest_recording_ts":$TS-3600000,"write_rate_bps":1000}"#
    static let apOK = #""access_point":{"uplink_ok":true,"clients":3,"rx_bps":1000,"tx_bps":1000,"cpu_pct":10,"mem_pct":20}"#
    static let kioskOK = #""kiosk":{"printer_ok":true,"paper_low":false,"paper_out":false,"tickets_issued":0,"tickets_served":0,"ratings":{}}"#

    static func tel(_ seq: Int, _ object: String, ts: String = "$TS", v: String = "1", device: String = "$D", boot: String = "b1") -> String {
        #"{"v":\#(v),"device":"\#(device)","boot":"\#(boot)","seq":\#(seq),"ts":\#(ts),\#(object)}"#
    }
    static func sub(_ s: String, _ pairs: (String, String)...) -> String {
        var s = s
        for (a, b) in pairs {
            precondition(s.contains(a), "\(a) not in \(s)")
            s = s.replacingOccurrences(of: a, with: b)
        }
        return s
    }
    static func event(_ seq: Int, _ body: String, ts: String = "$TS") -> String {
        #"{"v":1,"device":"$D","boot":"b1","seq":\#(seq),"ts":\#(ts),\#(body)}"#
    }
    static func birth(_ cls: String, model: String = "M-1", firmware: String = "1.0", caps: String = #"["ping"]"#, hb: String = "30",
                      boot: String = #""b1""#, v: String = "1", device: String = "$D", ts: String = #","ts":$TS"#) -> String {
        #"{"v":\#(v),"device":"\#(device)","class":"\#(cls)","model":"\#(model)","firmware":"\#(firmware)","capabilities":\#(caps),"heartbeat_s":\#(hb),"boot":\#(boot)\#(ts)}"#
    }
    static func play(_ body: String, v: String = "1", ts: String = "$TS") -> String {
        #"{"v":\#(v),"device":"$D","boot":"b1","ts":\#(ts),\#(body)}"#
    }

    /// A telemetry field case: `good` accepted (stored as the latest reading), each of `bad` refused.
    static func field(_ table: String, _ row: String, _ cls: DeviceClass, _ ok: String, good: [String] = [],
                      bad: [(String, String)]) -> ConformanceCase {
        ConformanceCase(table: table, row: row, cls: cls) { d in
            var seq = 0
            for g in [ok] + good {
                seq += 1
                let sent = try d.send("telemetry", tel(seq, g))
                try await d.until("reading accepted: \(g)") { $0?.lastTelemetry == sent }
            }
            for (b, reason) in bad {
                seq += 1
                try d.send("telemetry", tel(seq, b))
                try await d.rejected(reason, on: "telemetry")
            }
            try await d.settled()
        }
    }

    /// A fault case: the reading makes the device degraded with exactly `fault`.
    static func fault(_ code: String, _ cls: DeviceClass, _ object: String) -> ConformanceCase {
        ConformanceCase(table: "Faults a device can cause / Fault", row: code, cls: cls) { d in
            try d.send("telemetry", tel(1, object))
            try await d.until("degraded by \(code)") { $0?.liveness.state == .degraded && $0?.liveness.faults.map(\.code.rawValue) == [code] }
            try d.send("telemetry", tel(2, okObject(cls)))
            try await d.until("the fault clears with a reading without it") { $0?.liveness.state == .ok }
        }
    }

    static func okObject(_ cls: DeviceClass) -> String {
        switch cls {
        case .speaker: speakerOK
        case .camera: cameraOK
        case .accessPoint: apOK
        case .kiosk: kioskOK
        }
    }

    /// Fills a message with spaces to exactly `size` bytes (trailing whitespace is valid JSON).
    static func padded(_ json: String, to size: Int) -> String {
        json + String(repeating: " ", count: size - json.utf8.count)
    }

    static let cases: [ConformanceCase] = birthCases + stateCases + telemetryCases + classCases + eventCases + commandCases + ackCases
        + playbackCases + faultCases + reasonCases + ignoredCases + fleetConfigCases + firmwareCases
}
