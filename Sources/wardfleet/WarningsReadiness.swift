import ArgumentParser
import Foundation
import MQTTClient
import WardClock
import WardController
import WardDomain
import WardStorage

extension WarningsCommand {
    /// `wardfleet warnings readiness`: before landfall, who would hear the next warning (docs/warnings.md).
    struct Readiness: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "readiness",
            abstract: "Sẵn sàng trước bão: loa nào sẽ nghe được cảnh báo / Storm readiness: which villages would hear a warning now.",
            discussion: """
                Every loudspeaker of the commune or area that is online and can self-test is asked to (amplifier, speaker line, \
                power); the others are unreachable, or judged on their latest telemetry. Per village: reachable, self-test, power \
                (mains, battery % and estimated hours), last heard; then the villages that would NOT hear a warning now, worst first. \
                Exit status 3 when some would not.
                """)
        @OptionGroup var db: DatabaseOptions
        @OptionGroup var brokerOptions: BrokerOptions
        @Option(help: "Area file: CAP polygons (\"lat,lon lat,lon …\", closed) and circles (\"lat,lon radius_km\"), one per line; or a GeoJSON Polygon/MultiPolygon.")
        var area: String?
        @Option(help: "Commune id.") var commune: String?
        @Flag(help: "JSON output.") var json = false
        @Flag(help: "A short, quiet test tone with the self-test (only where you ask for it).") var tone = false
        @Option(help: "Seconds of the test tone, 1–5.") var toneSeconds: Double = 3
        @Option(help: "Seconds to wait for the speakers' answers.") var timeout: Double = 15

        func run() async throws {
            guard (area == nil) != (commune == nil) else { throw ValidationError("cần đúng một trong --area, --commune / give exactly one of --area, --commune") }
            guard (1...60).contains(timeout) else { throw ValidationError("--timeout: 1…60") }
            guard (1...5).contains(toneSeconds) else { throw ValidationError("--tone-seconds: 1…5") }
            let areaText = try area.map { path in
                guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("không đọc được / cannot read \(path)") }
                return t
            }
            if let remote = try db.remote {
                // Through the API (its roles, scope and audit log); shown as here.
                let data = try await remote.call("POST", RemoteAPI.path("warnings", "readiness"), json: [
                    "commune": commune, "area": areaText, "tone": tone ? true : nil, "tone_seconds": tone ? toneSeconds : nil, "timeout_s": timeout,
                ])
                let d = JSONDecoder()
                d.dateDecodingStrategy = .iso8601
                d.keyDecodingStrategy = .convertFromSnakeCase
                guard let report = try? d.decode(ReadinessReport.self, from: data) else {
                    FileHandle.standardOutput.write(data)
                    throw ExitCode(1)
                }
                return try show(report)
            }
            var parsed: CAPArea?
            if let areaText {
                do { parsed = try ReadinessArea.parse(areaText) } catch { throw ValidationError(String(describing: error)) }
            }
            let request = ReadinessCheck.Request(commune: commune, area: parsed, toneSeconds: tone ? toneSeconds : nil,
                                                 timeout: .milliseconds(Int64(timeout * 1000)))
            let database = try db.open()
            let plan: ReadinessCheck.Plan
            do { plan = try ReadinessCheck.plan(request, database: database) } catch let e as ReadinessCheck.Failure {
                throw ValidationError(e.description)
            }
            // The states come from the running controller's records: said when they may be old.
            let queries = HealthQueries(database)
            let alive = try queries.controllerLastAlive()
            if alive.map({ Clocks.fromEnvironment().now().timeIntervalSince($0) > 30 }) ?? true {
                FileHandle.standardError.write(Data("⚠ Bộ điều khiển không chạy: trạng thái loa có thể đã cũ, loa được coi là không liên lạc được có thể vẫn hoạt động / the controller is not running: speakers' states may be stale\n".utf8))
            } else if try queries.controllerLink()?.connected == false {
                FileHandle.standardError.write(Data("⚠ Bộ điều khiển mất kết nối tới MQTT broker: trạng thái loa có thể đã cũ / the controller has no broker connection: states may be stale\n".utf8))
            }
            let client = try MQTTClient(try brokerOptions.configuration(clientID: "wardfleet-readiness-\(getpid())"))
            for c in plan.communes.sorted() { try client.subscribe("wardfleet/v1/\(c)/+/ack", qos: 1) }
            try await client.connect()
            let report = try await ReadinessCheck.run(plan, request: request, publisher: client, clock: Clocks.fromEnvironment()) { id, devices, deadline in
                await ReadinessCheck.brokerAnswers(client, cmdID: id, devices: devices, until: deadline)
            }
            client.disconnect()
            try show(report)
        }

        func show(_ report: ReadinessReport) throws {
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                e.dateEncodingStrategy = .iso8601
                e.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try e.encode(report), as: UTF8.self))
            } else {
                Self.render(report)
            }
            if !report.wouldNotHear.isEmpty { throw ExitCode(3) }
        }

        static func power(_ v: VillageReadiness) -> String {
            var parts: [String] = []
            if v.onMains > 0 { parts.append("điện lưới \(v.onMains)") }
            if v.onSolar > 0 { parts.append("mặt trời \(v.onSolar)") }
            if v.onBattery > 0 {
                let lowest = v.onBattery == 1 ? "" : "thấp nhất / lowest "
                let figures = [v.lowestBatteryPercent.map { "\(lowest)\($0)%" },
                               v.shortestHours.map { "còn ~" + BatteryText.hours(minutes: Int($0 * 60)) }].compactMap { $0 }
                parts.append("pin \(v.onBattery)" + (figures.isEmpty ? "" : " (" + figures.joined(separator: ", ") + ")"))
            }
            return parts.isEmpty ? "—" : parts.joined(separator: "; ")
        }

        static func render(_ r: ReadinessReport) {
            let cal = Render.cal
            print("SẴN SÀNG TRƯỚC BÃO / STORM READINESS — \(cal.display(r.at)) (giờ Việt Nam / Asia/Ho_Chi_Minh)")
            print("Đã hỏi / asked: \(r.asked) loa; trả lời / answered: \(r.answered)")
            Table.print(header: ["Xã / Commune", "Thôn / Village", "Loa", "Liên lạc / Reachable", "Tự kiểm tra tốt / Ready", "Nguồn / Power",
                                 "Nghe lần cuối / Last heard"],
                        rows: r.villages.map { v in
                            [v.communeName, v.name, "\(v.speakers)", "\(v.reachable)", "\(v.ready)", power(v), v.lastHeard.map(cal.display) ?? "—"]
                        })
            for v in r.villages where v.speakerRows.contains(where: { $0.status != .ready }) {
                for s in v.speakerRows where s.status != .ready {
                    print("  \(v.name) · \(s.device): \(s.statusText)" + (s.detail.map { " — \($0)" } ?? ""))
                }
            }
            let byID = Dictionary(r.villages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            if !r.onBatteryOnly.isEmpty {
                print("\nCHỈ CÒN CHẠY PIN / ON BATTERY ONLY (\(r.onBatteryOnly.count)), ít thời gian nhất trước / shortest first:")
                for id in r.onBatteryOnly { if let v = byID[id] { print("  \(v.communeName) · \(v.name): \(power(v))") } }
            }
            print("\nKHÔNG NGHE ĐƯỢC CẢNH BÁO LÚC NÀY / WOULD NOT HEAR A WARNING NOW (\(r.wouldNotHear.count)), nặng nhất trước / worst first:")
            if r.wouldNotHear.isEmpty { print("  (không có / none)") }
            for id in r.wouldNotHear {
                guard let v = byID[id] else { continue }
                print("  \(v.communeName) · \(v.name): \(v.problemText ?? "")" + (v.lastHeard.map { "; nghe lần cuối / last heard \(cal.display($0))" } ?? ""))
            }
            if !r.cannotBeTargeted.isEmpty {
                print("\nKhông xác định được có trong vùng (thiếu tọa độ hoặc mã) / cannot be targeted: \(r.cannotBeTargeted.joined(separator: ", "))")
            }
        }
    }
}
