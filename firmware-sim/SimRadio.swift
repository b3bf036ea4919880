import Crypto
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPStream
import MQTTClient
import WardDomain
import WardProtocol

/// One play on a simulated speaker's agenda.
struct RadioPlay: Sendable {
    var play: SchedulePlay
    var start: Date { Date(unixMillis: play.start) }
    var latestStart: Date { Date(unixMillis: play.latestStart) }
    var mediaReady: Bool
    var downloadFailed = false
    var started: Date?
    /// Reported finished, interrupted or missed: nothing more happens to it.
    var closed = false
    /// A relay: its stream, once opened (read for as long as the play sounds), or why it could not be.
    var relay: HTTPStream?
    var relayOpening = false
    var relayFailed: String?
}

/// Downloads media by hash for every speaker of the process, once per file, and verifies it.
/// (Co-simulated speakers share the download; each still reports its own media_ready.)
actor MediaFetcher {
    static let shared = MediaFetcher()
    /// Verified files by hash: read without a hop onto the actor, so a speaker that has the file
    /// (every emergency after the first) is ready in the same turn it hears of the play.
    private let done = Mutex<[String: Int64]>([:])
    private var inFlight: [String: Task<Result<Int64, FetchError>, Never>] = [:]

    nonisolated func cached(_ sha256: String) -> Int64? { done.withLock { $0[sha256] } }

    struct FetchError: Error, CustomStringConvertible {
        var description: String
    }

    func fetch(_ ref: MediaReference) async -> Result<Int64, FetchError> {
        if let size = cached(ref.sha256) { return .success(size) }
        if let t = inFlight[ref.sha256] { return await t.value }
        let t = Task { await Self.download(ref) }
        inFlight[ref.sha256] = t
        let r = await t.value
        inFlight[ref.sha256] = nil
        if case .success(let size) = r { done.withLock { $0[ref.sha256] = size } }  // failures are retried next time
        return r
    }

    private static func download(_ ref: MediaReference) async -> Result<Int64, FetchError> {
        guard let url = URL(string: ref.url) else { return .failure(FetchError(description: "bad url \(ref.url)")) }
        do {
            let (data, response) = try await URLSession.shared.data(from: url)
            if let h = response as? HTTPURLResponse, h.statusCode != 200 {
                return .failure(FetchError(description: "HTTP \(h.statusCode)"))
            }
            let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            guard sha == ref.sha256.lowercased() else {
                return .failure(FetchError(description: "sha256 mismatch: got \(sha.prefix(12))…"))
            }
            guard Int64(data.count) == ref.size else {
                return .failure(FetchError(description: "size \(data.count) ≠ \(ref.size)"))
            }
            return .success(Int64(data.count))
        } catch {
            return .failure(FetchError(description: "\(error.localizedDescription)"))
        }
    }
}

/// The commune-radio side of a simulated loudspeaker cluster (protocol §4 schedule/playback):
/// keeps its agenda, downloads media, plays on time by the rules of Thông tư 39, reports.
extension SimDevice {
    func handleSchedule(_ m: MQTTMessage) {
        reportingTogether { applySchedule(m) }
    }

    private func applySchedule(_ m: MQTTMessage) {
        guard m.payload.count > 0 else { return }
        guard let s = try? SimDecoding.json.decode(ScheduleMessage.self, from: Data(m.payload)), s.device == device.id else {
            logger.warning("\(device.id): unreadable schedule ignored")
            return
        }
        guard s.rev > lastScheduleRev else { return }  // an older retained copy
        lastScheduleRev = s.rev
        let now = clock.now()
        if let since = s.resendSince { resendReports(since: Date(unixMillis: since)) }
        let ids = Set(s.plays.map(\.play))
        var dueNow = false
        // Gone from the agenda: cancelled or withdrawn. A sounding one stops.
        // Gone and not sounding: the controller logs why; nothing to report.
        for id in agenda.keys where !ids.contains(id) {
            // Heard on the commune topic after this agenda was made: the next agenda lists it.
            if let heard = heardOnCommuneTopic[id], s.ts < heard { continue }
            heardOnCommuneTopic[id] = nil
            if current == id {
                report(.interrupted, id, reason: .cancelled)
                stopCurrent()
            }
            agenda[id]?.relay?.close()
            agenda[id] = nil
        }
        for p in s.plays {
            if var known = agenda[p.play] {
                known.play = p  // start, latest start or volume may have moved
                agenda[p.play] = known
                continue
            }
            if adopt(p, now: now) { dueNow = true }
        }
        // Due already (an emergency) and ready: start in this turn, as a speaker would, rather
        // than through a timer.
        if dueNow { playerTick() } else { reschedulePlayer() }
    }

    /// A play heard of for the first time (in an agenda or on the commune's emergency topic): report
    /// it received, get its media. Returns whether it is due now and ready.
    private func adopt(_ p: SchedulePlay, now: Date) -> Bool {
        guard !seenPlays.contains(p.play) else { return false }
        seenPlays.insert(p.play)
        let end = Date(unixMillis: max(p.latestStart, p.start + Int64(p.durationSeconds * 1000)))
        guard end > now else { return false }  // over before we heard of it
        report(.received, p.play)
        let have = p.media.map { MediaFetcher.shared.cached($0.sha256) != nil } ?? true
        agenda[p.play] = RadioPlay(play: p, mediaReady: have)
        if have {
            if p.media != nil { report(.mediaReady, p.play) }
            return p.start <= now.unixMillis
        } else if let ref = p.media {
            fetch(ref, for: p.play)
        }
        return false
    }

    /// The commune's emergency topic (protocol §4, `emergency`): an emergency for this speaker joins
    /// its agenda at once, as if its agenda had listed it (same play, same rules); a cancelled one
    /// stops. Its own agenda, sent right after, lists the same play and so changes nothing.
    func handleEmergency(_ m: MQTTMessage) {
        reportingTogether { applyEmergency(m) }
    }

    private func applyEmergency(_ m: MQTTMessage) {
        let e: EmergencyMessage
        do {
            e = try EmergencyReader.shared.read(m)
        } catch {
            return logger.warning("\(device.id): emergency message ignored: \(error)")
        }
        guard e.commune == commune, e.concerns(device.id) else { return }
        let now = clock.now()
        switch e.action {
        case .play:
            guard let p = e.entry, agenda[p.play] == nil else { return }
            if !seenPlays.contains(p.play) { heardOnCommuneTopic[p.play] = e.ts }
            if adopt(p, now: now) { playerTick() } else { reschedulePlayer() }
        case .cancel:
            // Also one not heard of yet: an older agenda arriving late must not start it.
            seenPlays.insert(e.play)
            heardOnCommuneTopic[e.play] = nil
            guard agenda[e.play] != nil else { return }
            if current == e.play {
                report(.interrupted, e.play, reason: .cancelled)
                stopCurrent()
            }
            agenda[e.play]?.relay?.close()
            agenda[e.play] = nil
            reschedulePlayer()
        }
    }

    private func fetch(_ ref: MediaReference, for id: String) {
        Task { [weak self] in
            let r = await MediaFetcher.shared.fetch(ref)
            await self?.fetched(id, r)
        }
    }

    private func fetched(_ id: String, _ r: Result<Int64, MediaFetcher.FetchError>) {
        guard var p = agenda[id] else { return }
        switch r {
        case .success:
            p.mediaReady = true
            report(.mediaReady, id)
        case .failure(let e):
            p.downloadFailed = true
            report(.downloadFailed, id, detail: e.description)
            logger.warning("\(device.id): media for \(id) failed: \(e)")
        }
        agenda[id] = p
        reschedulePlayer()
    }

    /// Applies everything due now, then sleeps until the next thing is due.
    func playerTick() {
        guard !dark else { return }  // out of battery: nothing sounds
        let now = clock.now()
        if let c = current, let ends = currentEnds, now >= ends {
            report(.finished, c)
            stopCurrent()
        }
        let due = agenda.values.filter { !$0.closed && $0.started == nil && $0.start <= now }
            .sorted { ($0.play.level, $1.start) > ($1.play.level, $0.start) }
        for p in due {
            let id = p.play.play
            if p.downloadFailed {
                close(id, .missed, reason: .downloadFailed)
                continue
            }
            if now > p.latestStart {
                close(id, .missed, reason: .late)
                continue
            }
            guard p.mediaReady else { continue }  // may still arrive before its latest start
            if let url = p.play.stream {
                // A relay sounds only what its source sends: open it first; a source that cannot be
                // opened is a play missed (`stream_failed`), never one reported played.
                if let why = p.relayFailed {
                    close(id, .missed, reason: .streamFailed, detail: why)
                    continue
                }
                guard p.relay != nil else {
                    if !p.relayOpening { openRelay(url, for: id, latestStart: p.latestStart) }
                    continue
                }
            }
            if let c = current, let holder = agenda[c] {
                if p.play.level > holder.play.level {
                    report(.interrupted, c, reason: .preempted, by: id)
                    stopCurrent()
                } else if p.play.level == .normal {
                    close(id, .missed, reason: .preempted, by: c)
                    continue
                } else {
                    continue  // priority and emergency wait for the speaker
                }
            }
            agenda[id]?.started = now
            current = id
            currentEnds = now.addingTimeInterval(p.play.durationSeconds)
            if let v = p.play.volume { volume = min(v, device.config.maxVolume ?? 100) }
            playingUntil = currentEnds
            report(.started, id, at: now)
        }
        reschedulePlayer()
    }

    private func close(_ id: String, _ event: PlaybackEvent, reason: PlaybackReason, by: String? = nil, detail: String? = nil) {
        agenda[id]?.closed = true
        agenda[id]?.relay?.close()
        report(event, id, reason: reason, by: by, detail: detail)
    }

    /// Opens a relay's stream (HTTP GET) in the background; the player goes on when it answers.
    private func openRelay(_ url: String, for id: String, latestStart: Date) {
        agenda[id]?.relayOpening = true
        let timeout = min(5, max(1, latestStart.timeIntervalSince(clock.now())))
        let agent = "WardFleet firmware-sim \(device.id)"
        Task { [weak self] in
            let r = await HTTPStream.open(url, timeout: timeout, userAgent: agent) { [weak self] failure in
                Task { await self?.relayEnded(id, failure) }
            }
            await self?.relayOpened(id, r)
        }
    }

    private func relayOpened(_ id: String, _ r: Result<HTTPStream, HTTPStream.Failure>) {
        guard let p = agenda[id], !p.closed else {
            if case .success(let s) = r { s.close() }
            return
        }
        switch r {
        case .success(let s): agenda[id]?.relay = s
        case .failure(let f):
            agenda[id]?.relayFailed = f.description
            logger.warning("\(device.id): stream of \(id) cannot be opened: \(f)")
        }
        reportingTogether { playerTick() }
    }

    /// The source stopped sending while the relay sounds: what is left of it is not played.
    private func relayEnded(_ id: String, _ failure: HTTPStream.Failure?) {
        guard current == id, let ends = currentEnds, clock.now() < ends else { return }
        report(.interrupted, id, reason: .streamFailed, detail: failure?.description ?? "the stream ended early")
        stopCurrent()
        reschedulePlayer()
    }

    private func stopCurrent() {
        if let c = current {
            agenda[c]?.closed = true
            agenda[c]?.relay?.close()
        }
        current = nil
        currentEnds = nil
        playingUntil = nil
    }

    /// One timer per speaker, only while something is pending: thousands of idle speakers cost nothing.
    func reschedulePlayer() {
        playerTask?.cancel()
        let now = clock.now()
        var next: [Date] = agenda.values.filter { !$0.closed && $0.started == nil }.map { p in
            p.start > now ? p.start : p.latestStart
        }
        if let e = currentEnds { next.append(e) }
        guard let first = next.min() else { return }
        // Re-check at least every second: the test clock may jump.
        let delay = min(max(first.timeIntervalSince(now), 0), 1)
        playerTask = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000) + 1))
            guard !Task.isCancelled else { return }
            await self?.playerTick()
        }
    }

    func report(_ event: PlaybackEvent, _ play: String, reason: PlaybackReason? = nil, by: String? = nil, detail: String? = nil,
                at: Date? = nil) {
        outbox.append(PlaybackReport(device: device.id, boot: boot, ts: (at ?? clock.now()).unixMillis, play: play, event: event,
                                     reason: reason, by: by, detail: detail))
        if batching == 0 { flushOutbox() }
    }

    /// Reports wait here while the speaker is offline and go out when it is back. Reports made in
    /// the same turn go in one message (`more`): an emergency's received, media_ready and started
    /// are one publish, not three, for 5,000 speakers at once.
    func flushOutbox() {
        guard connected, let c = client, !outbox.isEmpty else { return }
        let now = clock.now()
        var sent = 0
        while sent < outbox.count {
            var group = Array(outbox[sent..<min(outbox.count, sent + 1 + ProtocolLimits.maxPlaybackBatch)])
            for i in group.indices { group[i].boot = boot }
            var first = group[0]
            if group.count > 1 { first.more = Array(group.dropFirst()) }
            let message = MQTTMessage(topic: topic(.playback), payload: first.encoded(), qos: 1, retained: false)
            do {
                if let journal = options.journal {
                    try c.publish(message) { [group] in journal.note(group) }
                } else {
                    try c.publish(message)
                }
            } catch { break }
            sentReports += group.map { (now, $0) }
            sent += group.count
        }
        outbox.removeFirst(sent)
        sentReports.removeAll { now.timeIntervalSince($0.at) > 900 }
    }

    /// A restarted controller may have lost what it received after `since`: publish those
    /// reports again (a minute earlier, for clocks that differ); it records each once.
    private func resendReports(since: Date) {
        let again = sentReports.filter { $0.at >= since.addingTimeInterval(-60) }.map(\.report)
        guard !again.isEmpty else { return }
        sentReports.removeAll { $0.at >= since.addingTimeInterval(-60) }
        logger.info("\(device.id): controller restarted, re-sending \(again.count) playback reports")
        outbox.insert(contentsOf: again, at: 0)
    }

    /// Holds reports back until `body` is done, then sends them together.
    func reportingTogether(_ body: () -> Void) {
        batching += 1
        body()
        batching -= 1
        if batching == 0 { flushOutbox() }
    }

    /// A reboot cuts what sounds; the agenda is kept (devices store it), so pending plays still play.
    func rebootRadio() {
        if let c = current {
            report(.interrupted, c, reason: .error, detail: "reboot")
            stopCurrent()
        }
    }
}

/// The commune's emergency message reaches every co-simulated speaker of the commune with the
/// same bytes: it is decoded and checked once per process, not once per speaker (5,000 decodes
/// of one message were most of the simulator's work in an emergency, which real speakers each
/// do on their own processor). What each speaker does with it is unchanged.
final class EmergencyReader: Sendable {
    static let shared = EmergencyReader()
    private let last = Mutex<(topic: String, payload: [UInt8], result: Result<EmergencyMessage, any Error>)?>(nil)

    func read(_ m: MQTTMessage) throws -> EmergencyMessage {
        if let hit = last.withLock({ l in l.flatMap { $0.topic == m.topic && $0.payload == m.payload ? $0.result : nil } }) {
            return try hit.get()
        }
        let result = Result { try EmergencyMessage.read(m.payload, topic: m.topic) }
        last.withLock { $0 = (m.topic, Array(m.payload), result) }
        return try result.get()
    }
}

enum SimDecoding {
    /// Shared: decoding does not mutate it, and thousands of speakers decode at once in an emergency.
    nonisolated(unsafe) static let json = JSONDecoder()
}
