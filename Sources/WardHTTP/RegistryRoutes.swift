import FleetFile
import Foundation
import Hummingbird
import WardController
import WardDomain
import WardProtocol
import WardStorage

/// Places, device registration, telemetry and the media library: the registry side of the CLI.
extension OperatorAPI {
    struct NewDevice: Decodable {
        var id: String
        var deviceClass: DeviceClass
        var site: String
        var model: String?
        var firmware: String?
        var installed: String?
        var retentionDays: Int?
        var maxVolume: Int?
        var kioskRole: KioskRole?
    }

    struct SpeechBody: Decodable { var text: String; var voice: String?; var title: String? }

    /// Audio uploads are bulletins of a few minutes; 64 MiB is far above any the policy accepts.
    static let mediaBodyLimit = 64 << 20
    static let placesBodyLimit = 8 << 20

    var registryRoutes: [Route] {
        let db = database
        return [
            Route(method: .post, path: "/api/v1/places/import", permission: .manageDevices, bodyLimit: Self.placesBodyLimit) { call in
                let text = String(decoding: call.body.readableBytesView, as: UTF8.self)
                let format = call.query("format")
                guard format == nil || format == "yaml" || format == "csv" else { throw APIInput.bad("format", "yaml, csv") }
                let withDevices = try call.flag("with_devices")
                let csv = format == "csv" || (format == nil && (call.request.headers[.contentType] ?? "").contains("csv"))
                let now = self.clock.now()
                let fleet = try csv ? FleetFileReader.parseCSV(text, file: "upload.csv", registeredAt: now)
                    : FleetFileReader.parseYAML(text, file: "upload.yaml", registeredAt: now)
                guard !fleet.places.isEmpty || !fleet.devices.isEmpty else {
                    throw APIError(.unprocessableContent, "tệp không có địa điểm hay thiết bị nào / the file lists no places or devices")
                }
                try self.requireScope(call, communes: try self.communes(touchedBy: fleet, for: call))
                if withDevices {
                    let after = try PlaceRepository(db).tree(after: fleet.places)
                    for d in fleet.devices {
                        if let c = after.ancestor(of: d.siteID, at: .commune)?.id { try self.requireReportsFrom(d.id, commune: c, for: call) }
                    }
                }
                let (pi, pu) = try PlaceRepository(db).upsert(fleet.places)
                var devices = (0, 0)
                if withDevices, !fleet.devices.isEmpty { devices = try DeviceRepository(db).upsert(fleet.devices) }
                try self.audit(call, "places.import", target: nil,
                               detail: "places \(pi)+\(pu)" + (devices == (0, 0) ? "" : ", devices \(devices.0)+\(devices.1)"))
                return try Self.json(["places_new": pi, "places_updated": pu, "devices_new": devices.0, "devices_updated": devices.1,
                                      "devices_in_file": fleet.devices.count])
            },
            Route(method: .post, path: "/api/v1/devices", permission: .manageDevices) { call in
                let b = try Self.decode(NewDevice.self, call.body, allowed: ["id", "device_class", "site", "model", "firmware", "installed",
                                                                             "retention_days", "max_volume", "kiosk_role"])
                let tree = try self.tree()
                guard tree[b.site]?.level == .site, let commune = tree.ancestor(of: b.site, at: .commune)?.id else {
                    throw APIError(.unprocessableContent, "site: không có điểm lắp đặt \(b.site) / no site \(b.site)", code: "unknown_site")
                }
                try self.requireScope(call, communes: [commune])
                // An id already registered is changed only by someone who has its commune too: a
                // registration must not be a way to move another commune's device into one's own.
                let existing = try DeviceRepository(db).get(b.id)
                if let existing, !call.principal!.covers(commune: tree.ancestor(of: existing.siteID, at: .commune)?.id) {
                    throw APIError(.conflict, "mã thiết bị \(b.id) đã được dùng / device id \(b.id) is already registered")
                }
                try self.requireReportsFrom(b.id, commune: commune, for: call)
                let installed = try b.installed.map { s -> Date in
                    try LocalCalendar.vietnam.day(named: APIInput.day(s, field: "installed").description)!.start
                }
                let d = Device.registering(b.id, b.deviceClass, site: b.site, model: b.model, firmware: b.firmware, installedOn: installed,
                                           retentionDays: b.retentionDays, maxVolume: b.maxVolume, kioskRole: b.kioskRole,
                                           over: existing, at: self.clock.now())
                let (inserted, _) = try DeviceRepository(db).upsert([d])
                try self.audit(call, inserted == 1 ? "device.register" : "device.update", target: b.id, detail: "site \(b.site)",
                               before: existing.map(DeviceState.init), after: DeviceState(d))
                return try Self.json(["device": b.id, "result": inserted == 1 ? "registered" : "updated"], status: inserted == 1 ? .created : .ok)
            },
            Route(method: .delete, path: "/api/v1/devices/{id}", permission: .manageDevices) { call in
                let id = try self.scopedDevice(call, active: true).device.id
                let revoked: Bool
                do {
                    revoked = try await DeviceRemoval(db, accounts: self.deviceAccounts).remove(id, at: self.clock.now())
                } catch let r as DeviceRemovalRefusal {
                    throw APIError(r.code == "not_found" ? .notFound : .serviceUnavailable, r.description, code: r.code)
                }
                try self.audit(call, "device.remove", target: id, detail: revoked ? "tài khoản MQTT đã thu hồi / broker account revoked" : nil)
                return try Self.json(["removed": id, "broker_account": revoked ? "revoked" : "none"])
            },
            Route(method: .post, path: "/api/v1/devices/{id}/claim-code", permission: .manageDevices) { call in
                struct Body: Decodable { var validHours: Double? }
                let b = call.body.readableBytes == 0 ? Body() : try Self.decode(Body.self, call.body, allowed: ["valid_hours"])
                let id = try self.scopedDevice(call, active: true).device.id
                let (code, expires) = try ClaimCodes.issue(db, device: id, by: call.user.name, validHours: b.validHours ?? 72,
                                                           now: self.clock.now())
                try self.audit(call, "device.claim_code", target: id)
                return try Self.json(["device": id, "code": code, "expires": ISO8601DateFormatter().string(from: expires)], status: .created)
            },
            Route(method: .get, path: "/api/v1/devices/{id}/telemetry", permission: .view) { call in
                let (d, _, _) = try self.scopedDevice(call, active: false)
                let id = d.id
                let hours = try call.number("hours", in: 1...(24 * 366)) ?? 24
                let now = self.clock.now()
                // Up to 3 days from raw samples, up to 45 days from hourly roll-ups, beyond from daily ones.
                return try Self.json(try LifecycleRepository(db).series(device: id, window: DateInterval(start: now - hours * 3600, end: now + 1)))
            },
            Route(method: .post, path: "/api/v1/media", permission: .schedule, bodyLimit: Self.mediaBodyLimit) { call in
                let library = try self.requireLibrary()
                let name = call.query("file_name") ?? "upload.wav"
                guard let ext = ["wav", "mp3", "ogg"].first(where: { name.lowercased().hasSuffix("." + $0) }) else {
                    throw APIError(.badRequest, "file_name: .wav, .mp3 hoặc .ogg / .wav, .mp3 or .ogg")
                }
                guard call.body.readableBytes > 0 else { throw APIError(.unprocessableContent, "tệp trống / the file is empty") }
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-upload-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: dir) }
                // Keep the operator's file name (it shows as the source) but never as a path.
                let safe = URL(fileURLWithPath: name).lastPathComponent.nfc
                let file = dir.appendingPathComponent(safe.isEmpty || safe.hasPrefix(".") ? "upload.\(ext)" : safe)
                try Data(buffer: call.body).write(to: file)
                let (item, isNew) = try await library.add(file: file.path, title: call.query("title"), by: call.user.name)
                try self.audit(call, "media.add", target: item.sha256, detail: item.title)
                return try Self.json(try self.visibleMedia(call, [item]).first ?? item, status: isNew ? .created : .ok)  // as the caller added it
            },
            Route(method: .post, path: "/api/v1/media/tts", permission: .schedule) { call in
                let library = try self.requireLibrary()
                let b = try Self.decode(SpeechBody.self, call.body, allowed: ["text", "voice", "title"])
                try APIInput.text(b.text, field: "text", max: 5000)
                guard let voice = TTSVoice(rawValue: b.voice ?? "northern") else { throw APIError(.badRequest, "voice: northern, central, southern") }
                let (item, isNew) = try await library.addSpeech(b.text, voice: voice, title: b.title, by: call.user.name)
                try self.audit(call, "media.tts", target: item.sha256, detail: item.title)
                return try Self.json(try self.visibleMedia(call, [item]).first ?? item, status: isNew ? .created : .ok)  // as the caller added it
            },
        ]
    }

    /// The communes a places/devices file creates or changes, in the tree as it would be after
    /// the import (a file may add villages under an existing commune). Places above communes
    /// (provinces, districts) are only for users without a commune limit.
    /// Both where they are now and where they would be after: a file must not move another
    /// commune's villages, sites or devices into one's own. Places above communes (provinces,
    /// districts) may be repeated unchanged by anyone (a file names its province); only users
    /// without a commune limit may add or change them.
    func communes(touchedBy fleet: FleetFile, for call: Call) throws -> Set<String> {
        let now = try PlaceRepository(database).tree()
        if call.principal!.communes != nil {
            for above in fleet.places where above.level < .commune {
                guard let stored = now[above.id], stored.level == above.level, stored.name == above.name, stored.parentID == above.parentID else {
                    throw APIError(.forbidden, "chỉ người dùng không giới hạn xã được thêm hoặc sửa \(above.level.vietnamese) \(above.id) / only users without a commune limit may add or change \(above.id)")
                }
            }
        }
        let after = try PlaceRepository(database).tree(after: fleet.places)
        let places = fleet.places.filter { $0.level >= .commune }.map(\.id)
        var touched = Set((places + fleet.devices.map(\.siteID)).compactMap { after.ancestor(of: $0, at: .commune)?.id })
        touched.formUnion(places.compactMap { now.ancestor(of: $0, at: .commune)?.id })
        let registered = Dictionary(try DeviceRepository(database).list(includeRemoved: true).map { ($0.id, $0.siteID) }, uniquingKeysWith: { a, _ in a })
        touched.formUnion(fleet.devices.compactMap { registered[$0.id].flatMap { now.ancestor(of: $0, at: .commune)?.id } })
        return touched
    }

    /// A device that has already spoken (pending) names its commune in every topic: registered to
    /// a site of another commune, everything it says would be refused.
    func requireReportsFrom(_ id: String, commune: String, for call: Call) throws {
        guard let other = try HealthQueries(database).pendingCommune(of: id, ifNot: commune) else { return }
        let known = call.principal!.covers(commune: other)
        throw APIError(.unprocessableContent, "thiết bị \(id) báo về xã \(known ? other : "khác"), không phải xã \(commune) của điểm này / device \(id) reports from \(known ? "commune " + other : "another commune"), not \(commune), this site's",
                       code: "reports_from_other_commune")
    }

    /// A registration as the audit log records it before and after.
    struct DeviceState: Encodable {
        var deviceClass: DeviceClass
        var site: String
        var model: String
        var firmware: String
        var config: DeviceConfig
        var removedAt: Date?

        init(_ d: Device) {
            deviceClass = d.deviceClass
            site = d.siteID
            model = d.model
            firmware = d.firmware
            config = d.config
            removedAt = d.removedAt
        }
    }
}
