import Foundation
import WardDomain
import WardStorage

/// A bulletin as the provincial source system posts it (`POST /api/v1/upstream/bulletins`).
/// Exactly one of `text` (rendered by TTS), `audio_base64` (WAV/MP3/OGG) or `stream_url`.
public struct UpstreamRequest: Codable, Sendable {
    public var source: String
    public var id: String
    public var title: String
    public var level: BroadcastLevel
    public var communes: [String]
    public var text: String?
    public var voice: TTSVoice?
    public var audioBase64: String?
    public var streamURL: String?
    public var durationSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case source, id, title, level, communes, text, voice, audioBase64 = "audio_base64", streamURL = "stream_url",
             durationSeconds = "duration_s"
    }
    /// The body's fields, as it spells them; any other is refused.
    public static let fields: Set<String> = ["source", "id", "title", "level", "communes", "text", "voice", "audio_base64",
                                             "stream_url", "duration_s"]

    public init(source: String, id: String, title: String, level: BroadcastLevel, communes: [String], text: String? = nil,
                voice: TTSVoice? = nil, audioBase64: String? = nil, streamURL: String? = nil, durationSeconds: Double? = nil) {
        self.source = source
        self.id = id
        self.title = title
        self.level = level
        self.communes = communes
        self.text = text
        self.voice = voice
        self.audioBase64 = audioBase64
        self.streamURL = streamURL
        self.durationSeconds = durationSeconds
    }
}

/// Receives upstream bulletins: normal and priority ones into the inbox, emergencies on air.
public struct UpstreamService: Sendable {
    let db: WardDatabase
    let library: MediaLibrary
    let clock: any TimeSource

    public init(database: WardDatabase, library: MediaLibrary, clock: any TimeSource = SystemTimeSource()) {
        db = database
        self.library = library
        self.clock = clock
    }

    var broadcasts: BroadcastService { BroadcastService(db, clock: clock) }

    /// Stores (once per source and id) and acts on a bulletin. Throws `ScheduleRefusal.invalid`
    /// for a request that cannot be understood; a valid emergency that cannot go on air is
    /// stored as `failed` with the reason.
    public func receive(_ r: UpstreamRequest) async throws -> (UpstreamBulletin, isNew: Bool) {
        func invalid(_ s: String) -> ScheduleRefusal { .invalid(s) }
        guard Identifier.isValid(r.source) else { throw invalid("source: mã nguồn không hợp lệ / not a valid source id") }
        guard !r.id.isEmpty, r.id.utf8.count <= 128 else { throw invalid("id: 1–128 ký tự / characters") }
        let title = r.title.nfc.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= 200 else { throw invalid("title: 1–200 ký tự / characters") }
        guard !r.communes.isEmpty else { throw invalid("communes: cần ít nhất một xã / at least one commune") }
        let tree = try PlaceRepository(db).tree()
        let unknown = r.communes.filter { tree[$0]?.level != .commune }
        guard unknown.isEmpty else { throw invalid("communes: không có xã / unknown communes: " + unknown.joined(separator: ", ")) }
        let given = [r.text != nil, r.audioBase64 != nil, r.streamURL != nil].filter { $0 }.count
        guard given == 1 else { throw invalid("cần đúng một trong text, audio_base64, stream_url / exactly one of text, audio_base64, stream_url") }
        let repo = UpstreamRepository(db)
        if let existing = try repo.find(source: r.source, sourceID: r.id) { return (existing, false) }

        let actor = "upstream:\(r.source)"
        let programme: Programme
        var duration: TimeInterval
        do {
            if let text = r.text {
                let m = try await library.addSpeech(text, voice: r.voice ?? .northern, title: title, by: actor).item
                programme = .media(sha256: m.sha256)
                duration = m.duration
            } else if let b64 = r.audioBase64 {
                guard let data = Data(base64Encoded: b64, options: .ignoreUnknownCharacters), !data.isEmpty else {
                    throw invalid("audio_base64: không phải base64 / not base64")
                }
                let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("wardfleet-upstream-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: tmp) }
                try data.write(to: tmp)
                let m = try await library.add(file: tmp.path, title: title, by: actor, source: .upload(fileName: "\(r.source)/\(r.id)")).item
                programme = .media(sha256: m.sha256)
                duration = m.duration
            } else {
                let url = r.streamURL!
                guard Programme.validStreamURL(url) else { throw invalid("stream_url: phải là http(s) / must be http(s)") }
                guard let d = r.durationSeconds, d >= 60, d <= 6 * 3600 else {
                    throw invalid("duration_s: tiếp sóng cần 60–21600 giây / a relay needs 60–21600 s")
                }
                programme = .stream(url: url)
                duration = d
            }
        } catch let e as ScheduleRefusal {
            throw e
        } catch {
            throw invalid("nội dung không dùng được: \(error) / unusable content: \(error)")
        }
        let now = clock.now()
        var (b, isNew) = try repo.receive(UpstreamBulletin(source: r.source, sourceID: r.id, title: title, level: r.level,
                                                           communes: r.communes, programme: programme, duration: duration, receivedAt: now))
        guard isNew, r.level == .emergency else { return (b, isNew) }
        do {
            let service = broadcasts
            let request = service.emergencyRequest(title: title, programme: programme, duration: duration,
                                                   target: BroadcastTarget(communes: r.communes), volume: nil)
            let item = try service.create(request, status: .approved, actor: actor)
            try repo.setStatus(b.id, .onAir, item: item.id, by: actor, at: now)
        } catch {
            try repo.setStatus(b.id, .failed, item: nil, by: actor, at: now, detail: "\(error)")
        }
        b = try repo.get(b.id)
        return (b, true)
    }

    /// The communes of bulletin `b` that `user` handles now: those of theirs (all, for a user
    /// without a commune limit) that nobody has handled yet. Refused when none is left.
    func open(_ b: UpstreamBulletin, for user: String) throws -> Set<String> {
        let limit = try AuthRepository(db).credentials(user)?.communes
        let theirs = Set(b.communes).intersection(limit ?? Set(b.communes))
        let open = theirs.subtracting(try UpstreamRepository(db).handling(b.id).keys)
        guard b.status == .inbox, !open.isEmpty else {
            throw ScheduleRefusal.invalid("bản tin nguồn #\(b.id) đã được xử lý, không còn trong hộp thư / upstream bulletin #\(b.id) was handled already")
        }
        return open
    }

    /// Puts an inbox bulletin on the schedule for the user's communes among its own (unless
    /// `target` says where); the other communes it was sent to keep it in their inbox.
    public func schedule(_ id: Int64, recurrence: Recurrence, target: BroadcastTarget? = nil, volume: Int? = nil,
                         by user: String) throws -> ScheduledBroadcast {
        let repo = UpstreamRepository(db)
        let b = try repo.get(id)
        let communes = try open(b, for: user)
        // A warning's bulletin: only while the warning is in force (a Cancel or an Update ended it).
        var warningTarget: BroadcastTarget?
        if b.source == WarningService.bulletinSource, let w = try WarningRepository(db).alert(bulletin: b.id) {
            guard w.state == .active else {
                throw ScheduleRefusal.invalid("cảnh báo \(w.id) không còn hiệu lực (\(w.state.vietnamese)) / warning \(w.id) is no longer in force (\(w.state.rawValue))")
            }
            warningTarget = try alertTarget(w, within: communes)
        }
        // Left out: a warning's bulletin goes where its area reaches in these communes (its villages and commune-level
        // sites), any other bulletin to the whole communes.
        let item = try broadcasts.schedule(BroadcastService.Request(
            title: b.title, level: b.level, programme: b.programme, duration: b.duration, recurrence: recurrence,
            target: target ?? warningTarget ?? BroadcastTarget(communes: communes.sorted()), volume: volume), by: user)
        try repo.handle(id, communes: communes, .scheduled, item: item.id, by: user, at: clock.now())
        return item
    }

    /// What a warning targets within `communes`: whole communes, villages, the speakers of commune-level sites.
    func alertTarget(_ w: WarningRecord, within communes: Set<String>) throws -> BroadcastTarget? {
        let tree = try PlaceRepository(db).tree()
        let inside = { (id: String) in tree.ancestor(of: id, at: .commune).map { communes.contains($0.id) } == true }
        var t = w.targets
        t.wholeCommunes = t.wholeCommunes.filter(communes.contains)
        t.villages = t.villages.filter(inside)
        t.sites = t.sites.filter(inside)
        let target = t.broadcastTarget(devices: try DeviceRepository(db).list())
        return target.isEmpty ? nil : target
    }

    public func dismiss(_ id: Int64, by userName: String, reason: String?) throws {
        let user = try BroadcastRepository(db).user(userName)
        guard user.role.canSchedule else { throw ApprovalError.notAllowed(user: user.name, role: user.role, action: .schedule) }
        let repo = UpstreamRepository(db)
        let communes = try open(try repo.get(id), for: user.name)
        try repo.handle(id, communes: communes, .dismissed, item: nil, by: user.name, at: clock.now(), detail: reason)
    }
}
