import Foundation
import NIOCore
import WardController
import WardDomain
import WardStorage

/// `POST /api/v1/warnings/readiness`: storm readiness (docs/warnings.md). The loudspeakers of a commune or an
/// area self-test through the controller's broker link; the answers, stored by the controller as they come,
/// are awaited until the deadline and judged per village. Limited to the caller's communes.
extension OperatorAPI {
    struct ReadinessBody: Decodable {
        var commune: String?
        var area: String?
        var tone: Bool?
        var toneSeconds: Double?
        var timeoutS: Double?
    }

    var readinessRoutes: [Route] {
        [
            Route(method: .post, path: "/api/v1/warnings/readiness", permission: .manageDevices) { call in
                let b = try Self.decode(ReadinessBody.self, call.body, allowed: ["commune", "area", "geojson", "tone", "tone_seconds", "timeout_s"])
                // A GeoJSON object may come as it is (`geojson`) or as text in `area`.
                var areaText = b.area
                if let object = (try? JSONSerialization.jsonObject(with: Data(buffer: call.body))) as? [String: Any], let g = object["geojson"] {
                    guard JSONSerialization.isValidJSONObject(g), let data = try? JSONSerialization.data(withJSONObject: g) else {
                        throw APIError(.badRequest, "geojson: cần một đối tượng GeoJSON / a GeoJSON object is expected")
                    }
                    guard areaText == nil else {
                        throw APIError(.unprocessableContent, "area, geojson: chỉ một / one of them", code: "one_of")
                    }
                    areaText = String(decoding: data, as: UTF8.self)
                }
                guard (b.commune == nil) != (areaText == nil) else {
                    throw APIError(.unprocessableContent, "cần đúng một trong commune, area, geojson / give exactly one of commune, area, geojson",
                                   code: "one_of")
                }
                if let t = b.timeoutS, !(1...60).contains(t) { throw APIError(.badRequest, "timeout_s: 1…60") }
                if let t = b.toneSeconds, !(1...5).contains(t) { throw APIError(.badRequest, "tone_seconds: 1…5") }
                var area: CAPArea?
                if let text = areaText {
                    do { area = try ReadinessArea.parse(text) } catch {
                        throw APIError(.unprocessableContent, String(describing: error), code: "bad_area")
                    }
                }
                let request = ReadinessCheck.Request(commune: b.commune, area: area, toneSeconds: b.tone == true ? (b.toneSeconds ?? 3) : nil,
                                                     timeout: .milliseconds(Int64((b.timeoutS ?? 15) * 1000)))
                let plan: ReadinessCheck.Plan
                do { plan = try ReadinessCheck.plan(request, database: self.database, scope: call.principal!.communes) } catch let e as ReadinessCheck.Failure {
                    switch e {
                    case .noSuchCommune: throw APIError(.notFound, e.description)
                    case .nothingInArea: throw APIError(.unprocessableContent, e.description, code: "nothing_in_area")
                    case .badTone, .bothOrNeither: throw APIError(.unprocessableContent, e.description, code: "one_of")
                    }
                }
                guard let publisher = self.publisher else {
                    throw APIError(.serviceUnavailable, "máy chủ này không gửi lệnh / this server sends no commands")
                }
                try self.audit(call, "device.readiness", target: b.commune ?? "area",
                               detail: "\(plan.ask.count) loa được hỏi / speakers asked" + (request.toneSeconds.map { ", tone \(Int($0)) s" } ?? ""))
                let db = self.database
                let report = try await ReadinessCheck.run(plan, request: request, publisher: publisher, clock: self.clock) { id, devices, deadline in
                    await ReadinessCheck.storedAnswers(db, cmdID: id, devices: devices, until: deadline)
                }
                return try Self.json(report)
            }
        ]
    }
}
