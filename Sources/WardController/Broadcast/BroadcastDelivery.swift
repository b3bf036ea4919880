import Dispatch
import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol
import WardStorage

/// Where schedules go out; the MQTT client in service, a recorder in tests.
public protocol SchedulePublisher: Sendable {
    func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool) throws
}

extension MQTTClient: SchedulePublisher {}

public struct DeliveryConfiguration: Sendable {
    public var rules = DeliverySettings()
    /// How often the schedule's revision is checked. Changes made in this process wake the
    /// delivery at once; this is the delay for changes written by another process.
    public var poll: Duration = .milliseconds(50)
    /// How often agendas are re-evaluated as time passes.
    public var tick: Duration = .seconds(1)
    /// Base URL devices download media from (the controller's HTTP server as they reach it);
    /// nil until the server is listening.
    public var mediaBaseURL: @Sendable () -> String? = { nil }
    /// Checks a relay's source when its play is first sent (within the lead); nil: not checked.
    public var streamProbe: (any StreamSourceProbe)? = HTTPStreamProbe()
    /// The communes whose speakers this delivery serves (a cluster node's commune unit); nil: all.
    public var communes: Set<String>?
    /// Where the schedule's revision is read (a node's units share one read); nil: from the database.
    public var revision: (@Sendable () throws -> Int64)?
    /// A new emergency goes out first as one publish per commune on its emergency topic, for the
    /// speakers whose birth announces the capability (protocol §4, `emergency`); their agendas follow.
    /// False: every speaker gets it through its own agenda only.
    public var fanout = true
    /// Which speakers announce the commune topic in their latest birth, asked when an emergency is
    /// called (the controller's ingest knows it live); nil: read from their stored births then.
    public var capableSpeakers: (@Sendable () async throws -> Set<String>)?
    /// How long after the commune message the agendas of the speakers it reached follow: they
    /// already play it, and 5,000 agendas at once would only hold up their reports at the broker.
    public var fanoutAgendaDelay: TimeInterval = 2
    /// Counts agendas published and failed (`WardMetrics`); nil: not counted.
    public var metrics: WardMetrics?

    public init() {}
}

/// Sends each loudspeaker cluster its agenda (retained, QoS 1) and keeps the playback log:
/// `scheduled` when a play is sent, and a final line for every play the speaker did not close.
public actor BroadcastDelivery {
    struct Pair: Hashable {
        var key: PlayKey
        var speaker: String
    }

    private let db: WardDatabase
    private let publisher: any SchedulePublisher
    private let clock: any TimeSource
    private let configuration: DeliveryConfiguration
    private let logger: Logger
    private let writer = DispatchQueue(label: "wardfleet.playback-writer")

    private var revision: Int64 = -1
    /// Something the agendas depend on changed since the last evaluation.
    private var changed = true
    /// Where each served speaker is: all the delivery needs of the registry (not the place tree
    /// nor whole devices, a province's of which would be held again here for the whole run).
    private var locations: [String: SpeakerDirectory.Location] = [:]
    /// The controller hands the registry in before `run` (`updateRegistry`): then it is not read again.
    private var registryGiven = false
    private var groups: [String: Set<String>] = [:]
    private var quietHours: [String: QuietHours] = [:]
    /// Each speaker's commune's quiet hours, rebuilt when the schedule or the registry changes
    /// (not on every tick: thousands of speakers).
    private var speakerQuietHours: [String: QuietHours] = [:]
    private var broadcasts: [String: ScheduledBroadcast] = [:]
    private var media: [String: MediaItem] = [:]
    private var directory = SpeakerDirectory(speakers: [:])
    private var audiences: [String: Set<String>] = [:]
    private var agendas: [String: SpeakerAgenda] = [:]
    /// What each speaker was last sent (`plays` nil until sent once by this run: then everything is
    /// sent), and the revision it carried. One dense table (`DeviceTable`), not two dictionaries of
    /// a province's speakers: 2.6 MB for 50,000, not 6.3 MB.
    private var lastSent = DeviceTable<SentAgenda>()
    private struct SentAgenda: Sendable {
        var plays: [SchedulePlay]?
        var rev: Int64
    }
    private var everyoneSent = false
    /// Plays sent (their `scheduled` line written) and not yet closed, with when to close them.
    private var open: [Pair: Date] = [:]
    private var logged = Set<Pair>()
    private var playsJSON: [[SchedulePlay]: String] = [:]
    /// When the previous run was last known alive: the first agenda each speaker gets from this
    /// run asks it to re-send its reports from then on (protocol: `resend_since`), since reports
    /// the broker handed to a controller that died before storing them are gone otherwise.
    private var resendSince: Int64?
    private var askedToResend = Set<String>()
    /// Plays an earlier run left open, held open until `resumedUntil`.
    private var resumed = Set<Pair>()
    private var resumedUntil = Date.distantPast
    public private(set) var publishFailures = 0
    /// Reads the stored births when no live source is configured.
    private var capabilityReader = CapabilityReader()
    /// Speakers reached on their commune's topic, whose agenda waits until then (`fanoutAgendaDelay`).
    private var agendaHeld: [String: Date] = [:]
    /// Emergency plays sent on a commune topic, with those communes and when to forget them.
    private var fannedOut: [PlayKey: (communes: Set<String>, until: Date)] = [:]
    /// Emergencies sent on a commune topic whose speakers' `scheduled` lines are still to write.
    private var undispatched: [EmergencyDispatch] = []
    /// Commune-wide emergency messages sent (plays and cancellations).
    public private(set) var fanouts = 0
    /// When the last evaluation that sent something finished handing schedules to the broker client.
    public private(set) var lastPublishedAt: ContinuousClock.Instant?

    public init(database: WardDatabase, publisher: any SchedulePublisher, clock: any TimeSource,
                configuration: DeliveryConfiguration = DeliveryConfiguration(),
                logger: Logger = Logger(label: "wardfleet.delivery")) {
        db = database
        self.publisher = publisher
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    /// Speakers are asked, once each, to re-send their playback reports made since `lastAlive`.
    public func resendReports(since lastAlive: Date) { resendSince = lastAlive.unixMillis }

    /// Runs until cancelled: polls the schedule's revision, re-evaluates every tick and whenever
    /// the schedule or the registry (handed in by `updateRegistry`) changed.
    public func run() async {
        do {
            if registryGiven {
                try reloadSchedule()
                revision = try BroadcastRepository(db).revision()
            } else {
                try refresh()
            }
            // An emergency dispatched on a commune topic by an earlier run that stopped before
            // writing its speakers' lines: written now, so those plays are open like the others.
            let repaired = try PlaybackRepository(db).incompleteDispatches(communes: configuration.communes)
            if !repaired.isEmpty {
                try PlaybackRepository(db).complete(repaired, recordedAt: clock.now())
                logger.notice("wrote the scheduled lines of \(repaired.count) emergency dispatches left incomplete by the last run")
            }
            // Plays left open by an earlier run: their speakers get the grace again from now to
            // re-send reports that run may have lost (`resend_since`) before the log closes them.
            resumedUntil = clock.now().addingTimeInterval(configuration.rules.closeGrace)
            for (k, s) in try PlaybackRepository(db).open(since: clock.now().addingTimeInterval(-7 * 86_400))
            where configuration.communes == nil || directory.speakers[s] != nil {  // another node's speakers are its to close
                let pair = Pair(key: k, speaker: s)
                open[pair] = closeTime(of: pair, plannedStart: k.start)
                resumed.insert(pair)
                logged.insert(pair)
            }
        } catch {
            logger.error("broadcast delivery cannot read the schedule: \(error)")
        }
        var lastTick = ContinuousClock.now - configuration.tick
        while !Task.isCancelled {
            do {
                let rev = try configuration.revision?() ?? BroadcastRepository(db).revision()
                if rev != revision {
                    try reloadSchedule()
                    revision = rev
                }
            } catch {
                logger.error("broadcast delivery: reading the schedule failed: \(error)")
            }
            if changed || ContinuousClock.now - lastTick >= configuration.tick {
                lastTick = .now
                await evaluate()
            }
            await ChangeSignal.schedule.wait(upTo: configuration.poll)
        }
    }

    // MARK: reading

    /// Reads registry and schedule from storage now (at start, and for tests).
    public func refresh() throws {
        updateRegistry(tree: try PlaceRepository(db).tree(), devices: try DeviceRepository(db).list())
        try reloadSchedule()
        revision = try BroadcastRepository(db).revision()
    }

    /// The controller's periodic registry read, shared with the ingest side.
    public func updateRegistry(tree: PlaceTree, devices: [Device]) {
        registryGiven = true
        var located = SpeakerDirectory.locations(tree: tree, devices: devices)
        if let communes = configuration.communes { located = located.filter { communes.contains($0.value.commune) } }
        locations = located
        if rebuildDirectory() { recomputeAudiences() }
    }

    /// Items, their media and the speaker groups: everything a revision bump may have changed.
    func reloadSchedule() throws {
        let repo = BroadcastRepository(db)
        let all = try repo.list(includeCancelled: true)
        broadcasts = Dictionary(all.map { ($0.id, $0) }, uniquingKeysWith: { _, b in b })
        for b in all where b.status == .approved {
            if case .media(let sha) = b.programme, media[sha] == nil { media[sha] = try MediaRepository(db).get(sha) }
        }
        groups = try repo.groups()
        quietHours = try repo.allQuietHours()
        _ = rebuildDirectory()
        recomputeAudiences()
    }



    /// True when speakers, their places or the groups changed.
    private func rebuildDirectory() -> Bool {
        let fresh = SpeakerDirectory(speakers: locations, groups: groups)
        guard fresh.speakers != directory.speakers || fresh.groups != directory.groups else { return false }
        directory = fresh
        return true
    }

    private func recomputeAudiences() {
        speakerQuietHours = quietHours.isEmpty ? [:] : directory.speakers.compactMapValues { quietHours[$0.commune] }
        audiences = [:]
        for b in broadcasts.values where b.status == .approved { audiences[b.id] = directory.resolve(b.item.target).speakers }
        changed = true
    }

    // MARK: evaluation

    /// Sends what changed and keeps the log; also called directly by tests on a manual clock.
    public func evaluate() async {
        changed = false
        let now = clock.now()
        let approved = broadcasts.values.filter { $0.status == .approved }.map(\.item)
        agendas = DeliveryPlanner.agendas(items: approved, audiences: audiences, now: now, settings: configuration.rules,
                                          quietHours: speakerQuietHours)
        var lines: [PlaybackEntry] = []
        /// Emergency plays sent for the first time, by speaker: candidates for the commune topic.
        var fresh: [String: [AgendaEntry]] = [:]
        for (speaker, agenda) in agendas {
            for p in agenda.plays where p.start <= now.addingTimeInterval(configuration.rules.lead) {
                if note(Pair(key: p.key, speaker: speaker), plannedStart: p.start, now: now, into: &lines), p.level == .emergency {
                    fresh[speaker, default: []].append(p)
                }
            }
            for key in Array(agenda.skipped.keys) + agenda.quiet where key.start <= now.addingTimeInterval(configuration.rules.lead) {
                note(Pair(key: key, speaker: speaker), plannedStart: key.start, now: now, into: &lines)
            }
        }
        // Logged before it is sent: a speaker's report is accepted only for a play logged as sent to
        // it, so a play must never reach a speaker without its `scheduled` line, crash or not. An
        // emergency on a commune's topic is logged by one dispatch row; its speakers' lines follow.
        let capable = fresh.isEmpty || !configuration.fanout ? [] : await capableSpeakers()
        let base = configuration.mediaBaseURL()
        let fanout = base.map { prepareFanout(fresh, capable: capable, base: $0, now: now) } ?? []
        let dispatches = fanout.map(\.dispatch)
        let covered = Set(dispatches.flatMap { d in d.speakers.map { Pair(key: d.key, speaker: $0) } })
        guard await write(lines.filter { !covered.contains(Pair(key: $0.key, speaker: $0.speaker)) }, dispatches: dispatches) else {
            for l in lines {
                logged.remove(Pair(key: l.key, speaker: l.speaker))
                open[Pair(key: l.key, speaker: l.speaker)] = nil
            }
            changed = true  // try again at the next evaluation
            return
        }
        let reached = publishFanout(fanout, now: now)
        undispatched += dispatches
        await completeDispatches()
        if publishAgendas(now: now, reached: reached) > 0 { lastPublishedAt = ContinuousClock.now }
        checkRelaySources(Set(lines.map(\.key)))
        await close(now: now)
        if logged.count > 100_000 {
            let cutoff = now.addingTimeInterval(-2 * 86_400)
            logged = logged.filter { $0.key.start > cutoff || open[$0] != nil }
        }
    }

    @discardableResult
    private func note(_ pair: Pair, plannedStart: Date, now: Date, into lines: inout [PlaybackEntry]) -> Bool {
        guard logged.insert(pair).inserted else { return false }
        open[pair] = closeTime(of: pair, plannedStart: plannedStart)
        lines.append(PlaybackEntry(key: pair.key, speaker: pair.speaker, event: .scheduled, at: now,
                                   detail: plannedStart != pair.key.start ? "start \(plannedStart.unixMillis)" : nil))
        return true
    }

    private func closeTime(of pair: Pair, plannedStart: Date) -> Date {
        let duration = broadcasts[pair.key.item]?.item.duration ?? 0
        return max(plannedStart, pair.key.start).addingTimeInterval(duration + configuration.rules.closeGrace)
    }

    /// Returns how many schedules it sent. `reached`: speakers just sent an emergency on their
    /// commune's topic, whose agendas wait (`fanoutAgendaDelay`).
    private func publishAgendas(now: Date, reached: Set<String> = []) -> Int {
        var speakers = Set(agendas.keys)
        if everyoneSent {
            speakers.formUnion(lastSent.lazy.filter { $0.value.plays?.isEmpty == false }.map(\.id))
        } else {
            // First pass of this run: whatever is retained may be stale (cancelled while we were down).
            speakers.formUnion(directory.speakers.keys)
        }
        guard let base = configuration.mediaBaseURL() else {
            if agendas.values.contains(where: { !$0.plays.isEmpty }) {
                logger.debug("media server not listening yet: schedules wait")
            }
            return 0
        }
        var failed = false
        var sent = 0
        cancelFannedOut(now: now)
        for s in reached { agendaHeld[s] = now.addingTimeInterval(configuration.fanoutAgendaDelay) }
        // Speakers the commune topic did not reach first: theirs is the only way the emergency comes.
        let ordered = reached.isEmpty ? Array(speakers) : speakers.filter { !reached.contains($0) } + speakers.filter { reached.contains($0) }
        for speaker in ordered {
            if !agendaHeld.isEmpty, let until = agendaHeld[speaker] {
                guard now >= until else { continue }  // sent at a later evaluation (every tick)
                agendaHeld[speaker] = nil
            }
            guard let commune = directory.speakers[speaker]?.commune else { continue }
            let plays = (agendas[speaker]?.plays ?? []).compactMap { schedulePlay($0, base: base) }
            // Also when a play has ended: the retained agenda must not keep it, or a speaker that
            // restarts (and forgot what it played) would take it for one still to come.
            let last = lastSent[speaker]
            guard everyoneSent == false || last?.plays != plays else { continue }
            let rev = max((last?.rev ?? 0) + 1, now.unixMillis)
            let json = playsJSON[plays] ?? String(decoding: ProtocolEncoder.encode(plays), as: UTF8.self)
            if playsJSON.count > 1_000 { playsJSON.removeAll() }
            playsJSON[plays] = json
            // Same bytes as ProtocolEncoder (sorted keys), built around the shared list of plays.
            let resend = resendSince.flatMap { askedToResend.contains(speaker) ? nil : ",\"resend_since\":\($0)" } ?? ""
            let payload = "{\"device\":\"\(speaker)\",\"plays\":\(json)\(resend),\"rev\":\(rev),\"ts\":\(now.unixMillis),\"v\":\(ProtocolLimits.version)}"
            do {
                try publisher.publish(topic: TopicAddress(commune: commune, device: speaker, kind: .schedule).topic,
                                      payload: Array(payload.utf8), qos: 1, retain: true)
                lastSent[speaker] = SentAgenda(plays: plays, rev: rev)
                if !resend.isEmpty { askedToResend.insert(speaker) }
                sent += 1
                configuration.metrics?.countAgenda(published: true)
            } catch {
                publishFailures += 1
                configuration.metrics?.countAgenda(published: false)
                failed = true
                lastSent.modify(speaker) { $0.plays = nil }  // try again next evaluation
            }
        }
        if failed { logger.warning("some schedules could not be sent (broker link down?): will retry") }
        everyoneSent = everyoneSent || !failed
        return sent
    }

    // MARK: the commune's emergency topic

    /// Speakers whose latest birth announces the commune topic; none when that cannot be known
    /// (every speaker then gets the emergency through its agenda, as before).
    private func capableSpeakers() async -> Set<String> {
        if let live = configuration.capableSpeakers {
            do { return try await live() } catch {
                logger.warning("cannot tell which speakers take the commune emergency topic: \(error)")
                return []
            }
        }
        return capabilityReader.read(db, logger: logger) ?? []
    }

    /// An emergency message for one commune's topic, ready to send, with its dispatch row.
    struct PreparedFanout {
        var plan: FanoutPlan
        var payload: [UInt8]
        var dispatch: EmergencyDispatch
    }

    /// Each new emergency play once per commune, for the speakers that announce the topic.
    private func prepareFanout(_ fresh: [String: [AgendaEntry]], capable: Set<String>, base: String, now: Date) -> [PreparedFanout] {
        guard configuration.fanout, !capable.isEmpty else { return [] }
        let communeOf = directory.speakers.mapValues(\.commune)
        let plans = EmergencyFanout.plan(new: fresh, communeOf: communeOf, capable: capable)
        guard !plans.isEmpty else { return [] }
        // Everyone a commune's message may reach: its speakers given that very entry (the audience
        // leaves out the others), whether or not their birth announced the topic. Grouped once:
        // a province-wide emergency has a plan per commune.
        struct Group: Hashable { var commune: String; var entry: AgendaEntry }
        var given: [Group: [String]] = [:]
        for (s, entries) in fresh {
            guard let c = communeOf[s] else { continue }
            for e in entries where e.level == .emergency { given[Group(commune: c, entry: e), default: []].append(s) }
        }
        var out: [PreparedFanout] = []
        for plan in plans {
            guard let play = schedulePlay(plan.entry, base: base) else { continue }
            let payload = ProtocolEncoder.encode(EmergencyMessage.play(play, commune: plan.commune, ts: now.unixMillis, audience: plan.audience))
            // Speakers' buffers are sized for the protocol's messages: a longer list goes per speaker.
            guard payload.count <= ProtocolLimits.maxPayloadBytes else {
                logger.info("emergency \(plan.key.id) in \(plan.commune): \(plan.audience.listed) speakers to list, sent per speaker")
                continue
            }
            let speakers = given[Group(commune: plan.commune, entry: plan.entry)] ?? []
            out.append(PreparedFanout(plan: plan, payload: payload, dispatch: EmergencyDispatch(
                key: plan.key, commune: plan.commune, at: now, speakers: speakers.sorted(),
                detail: plan.entry.start != plan.key.start ? "start \(plan.entry.start.unixMillis)" : nil)))
        }
        return out
    }

    /// Sends the prepared messages; returns the speakers expected to have the emergency that
    /// way. Their agendas (with the same entry) follow; one that misses the message loses only time.
    private func publishFanout(_ prepared: [PreparedFanout], now: Date) -> Set<String> {
        var reached = Set<String>()
        for f in prepared {
            do {
                try publisher.publish(topic: Topics.emergency(commune: f.plan.commune), payload: f.payload, qos: 1, retain: false)
                fanouts += 1
                reached.formUnion(f.plan.reached)
                let until = max(f.plan.entry.latestStart, f.plan.entry.start.addingTimeInterval(f.plan.entry.duration))
                    .addingTimeInterval(configuration.rules.closeGrace)
                fannedOut[f.plan.key, default: ([], until)].communes.insert(f.plan.commune)
            } catch {
                publishFailures += 1  // its agendas still carry it
            }
        }
        return reached
    }

    /// An emergency sent on a commune topic and cancelled since stops there too, at once (the
    /// agendas that follow drop it as well, for speakers that were not listening).
    private func cancelFannedOut(now: Date) {
        for (key, sent) in fannedOut {
            let status = broadcasts[key.item]?.status
            guard now < sent.until else {
                fannedOut[key] = nil
                continue
            }
            guard status == .cancelled || status == nil else { continue }
            var left = sent.communes
            for commune in sent.communes.sorted() {
                let payload = ProtocolEncoder.encode(EmergencyMessage.cancel(key.id, commune: commune, ts: now.unixMillis))
                do {
                    try publisher.publish(topic: Topics.emergency(commune: commune), payload: payload, qos: 1, retain: false)
                    fanouts += 1
                    left.remove(commune)
                } catch {
                    publishFailures += 1  // tried again next evaluation; the agendas drop it meanwhile
                }
            }
            fannedOut[key] = left.isEmpty ? nil : (left, sent.until)
        }
    }

    private func schedulePlay(_ e: AgendaEntry, base: String) -> SchedulePlay? {
        guard let b = broadcasts[e.key.item] else { return nil }
        var ref: MediaReference?
        var stream: String?
        switch b.programme {
        case .media(let sha):
            guard let m = media[sha] else { return nil }
            ref = MediaReference(url: base.trimmingSuffix("/") + "/media/\(sha)", sha256: sha, size: m.sizeBytes, format: m.format.rawValue)
        case .stream(let url): stream = url
        }
        return SchedulePlay(play: e.key.id, item: b.id, title: b.item.title, level: e.level, start: e.start.unixMillis,
                            durationSeconds: e.duration, latestStart: e.latestStart.unixMillis, volume: e.volume, media: ref, stream: stream)
    }

    /// A relay whose source does not answer shortly before it goes on air is logged as a warning, once
    /// per play (the officer was warned when scheduling; the source may have gone since).
    private func checkRelaySources(_ keys: Set<PlayKey>) {
        guard let probe = configuration.streamProbe else { return }
        for key in keys {
            guard let b = broadcasts[key.item], case .stream(let url) = b.programme else { continue }
            Task { [logger] in
                guard let why = await probe.problem(with: url) else { return }
                let text = "nguồn tiếp sóng của \(b.item.title) lúc \(key.start) không mở được"
                    + " / the relay source of \(key.id) cannot be opened: \(why)"
                logger.warning("\(text)", metadata: ["item": "\(key.item)", "stream": "\(url)"])
            }
        }
    }

    // MARK: closing plays

    /// The world stops with this controller (the demo ends, its simulated speakers with it): nobody
    /// will report again, so every open play whose time is over is closed now by the same rules as
    /// at its close time, without waiting for the grace. A controller that only restarts must not:
    /// its speakers re-send what it missed (`resend_since`), and the next run closes the rest.
    public func settle() async {
        await close(now: clock.now(), waiveGrace: true)
    }

    /// Appends a final line for open plays that are over (or will not happen) and that the
    /// speaker did not close itself.
    private func close(now: Date, waiveGrace: Bool = false) async {
        // Due: its time is over; or, earlier, it left the speaker's agenda (cancelled, moved,
        // retargeted) or the rules skip it and its start has come.
        var due: [(pair: Pair, overdue: Bool, context: PlaybackClosure.Context)] = []
        let holdResumed = now < resumedUntil && !waiveGrace
        if !holdResumed { resumed.removeAll() }
        for (pair, closeAt) in open {
            if holdResumed, resumed.contains(pair) { continue }
            let agenda = agendas[pair.speaker]
            let skippedBy = agenda?.skipped[pair.key]
            let quiet = agenda?.quiet.contains(pair.key) ?? false
            let planned = agenda?.plays.contains { $0.key == pair.key } ?? false
            let overdue = now >= (waiveGrace ? closeAt.addingTimeInterval(-configuration.rules.closeGrace) : closeAt)
            // Off the agenda after its latest start is a play whose time is over, not one withdrawn:
            // it is closed at its close time, as unreported (a speaker offline meanwhile reports on return).
            let timeOver = now >= pair.key.start.addingTimeInterval(configuration.rules.startGrace)
                && broadcasts[pair.key.item]?.status == .approved
            guard overdue || (!planned && !timeOver && (skippedBy == nil && !quiet || now >= pair.key.start)) else { continue }
            // Past its close time a play has left the agenda because it is over, not withdrawn.
            due.append((pair, overdue, PlaybackClosure.Context(
                skippedBy: skippedBy?.id, itemCancelled: broadcasts[pair.key.item]?.status == .cancelled,
                stillPlanned: planned || overdue, quietHours: quiet)))
        }
        guard !due.isEmpty else { return }
        let entries: [PlaybackEntry]
        do {
            entries = try PlaybackRepository(db).entries(of: due.map { ($0.pair.key, $0.pair.speaker) })
        } catch {
            return logger.error("playback log read failed: \(error)")
        }
        let byPair = Dictionary(grouping: entries) { Pair(key: $0.key, speaker: $0.speaker) }
        var lines: [PlaybackEntry] = []
        for (pair, overdue, context) in due {
            let mine = byPair[pair] ?? []
            // The speaker said how it ended: nothing to add, and nothing to read again next tick
            // (a cancelled emergency's 5,000 interrupted plays were re-read every second until overdue).
            if mine.contains(where: { $0.event.isTerminal }) {
                open[pair] = nil
                continue
            }
            // Started, then taken off the agenda: the speaker reports how it ended; wait for that.
            // So too when it had the play and its start has come: it may have started already, its
            // report still on the way (under load a 5,000-speaker emergency cancelled seconds after
            // its start was logged "withdrawn" and then "finished" by the same speakers).
            let mayHaveStarted = mine.contains { $0.event == .started }
                || (now >= pair.key.start && mine.contains { $0.event == .received || $0.event == .mediaReady })
            if !overdue, mayHaveStarted { continue }
            if let line = PlaybackClosure.close(mine, key: pair.key, speaker: pair.speaker, context: context, at: now) { lines.append(line) }
            open[pair] = nil
        }
        await write(lines)
    }

    @discardableResult
    private func write(_ lines: [PlaybackEntry], dispatches: [EmergencyDispatch] = []) async -> Bool {
        guard !lines.isEmpty || !dispatches.isEmpty else { return true }
        let repo = PlaybackRepository(db)
        let now = clock.now()
        let result: Result<Void, any Error> = await withCheckedContinuation { c in
            writer.async { c.resume(returning: Result { try repo.dispatch(lines, announcing: dispatches, recordedAt: now) }) }
        }
        if case .failure(let e) = result {
            logger.error("playback log write failed: \(e)", metadata: ["lines": "\(lines.count)", "dispatches": "\(dispatches.count)"])
            return false
        }
        return true
    }

    /// Writes the `scheduled` lines of dispatched emergencies (kept for the next evaluation if
    /// that fails: the dispatch rows hold them meanwhile, and reports are accepted through them).
    private func completeDispatches() async {
        guard !undispatched.isEmpty else { return }
        let repo = PlaybackRepository(db)
        let now = clock.now()
        let pending = undispatched
        let result: Result<Void, any Error> = await withCheckedContinuation { c in
            writer.async { c.resume(returning: Result { try repo.complete(pending, recordedAt: now) }) }
        }
        switch result {
        case .success: undispatched.removeFirst(pending.count)
        case .failure(let e): logger.error("playback log write failed: \(e)", metadata: ["dispatches": "\(pending.count)"])
        }
    }

    // MARK: inspection

    public func agenda(of speaker: String) -> SpeakerAgenda? { agendas[speaker] }

    /// When each of these speakers plays (its current agenda: start to end of every play), for firmware campaigns.
    public func busyWindows(of speakers: some Sequence<String>) -> [String: [DateInterval]] {
        var out: [String: [DateInterval]] = [:]
        for s in speakers {
            guard let a = agendas[s], !a.plays.isEmpty else { continue }
            out[s] = a.plays.map { DateInterval(start: $0.start, duration: max(0, $0.duration)) }
        }
        return out
    }

    public var openPlays: Int { open.count }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
