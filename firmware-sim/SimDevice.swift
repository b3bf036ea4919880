import Foundation
import Logging
import MQTTClient
import WardDomain
import WardProtocol

struct SimOptions: Sendable {
    var host: String
    var port: Int
    var heartbeat: Double
    var seed: UInt64
    var lastWill: Bool
    /// Mean seconds between kiosk customers.
    var kioskInterval: Double
    /// Kiosk traffic at any hour instead of office hours only.
    var alwaysOpen: Bool
    var calendar = LocalCalendar.vietnam
    /// The device's clock (shifted in tests through WARDFLEET_CLOCK_FILE).
    var clock: any TimeSource = SystemTimeSource()
    /// Where acknowledged playback reports are noted (tests compare it with the playback log).
    var journal: ReportJournal?
    /// Speakers subscribe to their commune's emergency topic and say so in their birth.
    var emergencyTopic = true
    /// Broker passwords and applied configuration, per device (`--state FILE`); nil: anonymous, nothing kept.
    var state: SimStateFile?
    /// Firmware updates (SimOTA.swift).
    var ota = SimOTAOptions()
    /// Speakers: battery charge (%) when mains are cut (`mains-cut`, the storm), and how fast it drains (%/h).
    var stormBattery: Double = 100
    var stormDrainPerHour: Double = 10
    /// Fraction of loudspeakers that run on solar power (the same ones for a seed).
    var solarFraction: Double = 0.2
}

/// A line per playback report the broker acknowledged (PUBACK): what a speaker may count as
/// delivered. Written from the network thread, so it only appends under a lock.
final class ReportJournal: Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    init(path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        h.seekToEndOfFile()
        handle = h
    }

    func note(_ reports: [PlaybackReport]) {
        let lines = reports.map { "{\"device\":\"\($0.device)\",\"play\":\"\($0.play)\",\"event\":\"\($0.event)\",\"ts\":\($0.ts)}\n" }.joined()
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(lines.utf8))
    }
}

/// One simulated field device speaking protocol v1 over its own MQTT connection.
actor SimDevice {
    let device: Device
    let commune: String
    let options: SimOptions
    let logger: Logger
    var clock: any TimeSource { options.clock }
    private var rng: SeededRandom
    var boot: String
    private var seq: UInt64 = 0
    private var eventSeq: UInt64 = 0
    var client: MQTTClient?
    var commandTask: Task<Void, Never>?

    // Class state
    var volume: Int
    var playingUntil: Date?
    // Radio (speakers): see SimRadio.swift
    var agenda: [String: RadioPlay] = [:]
    var seenPlays = Set<String>()
    var lastScheduleRev: Int64 = 0
    /// Plays heard on the commune's emergency topic, with that message's `ts`: an agenda older
    /// than it does not take them away.
    var heardOnCommuneTopic: [String: Int64] = [:]
    var current: String?
    var currentEnds: Date?
    var outbox: [PlaybackReport] = []
    /// Reports published in the last 15 minutes, with when: a restarted controller may ask for
    /// them again (`resend_since` in its first agenda).
    var sentReports: [(at: Date, report: PlaybackReport)] = []
    /// Above zero while a turn's reports are being gathered into one message.
    var batching = 0
    var playerTask: Task<Void, Never>?
    private var rssi: Int
    private var power: PowerSource
    private var battery: Int?
    /// Mains cut (storm): when, and the charge then. The battery drains from it by the clock.
    private var mainsCut: (at: Date, charge: Double)?
    /// Out of battery: dark (nothing sent, no reconnect) until mains come back.
    var dark = false
    /// The link is down (`link-loss`): no reconnect until it ends.
    private var linkDown = false
    private var storageTotal: Int64 = 2_000_000_000_000
    private var baseWriteRate: Double = 350_000
    private var usedFraction: Double
    private var clients: Int
    private var ticketsIssued = 0
    private var ticketsServed = 0
    private var ratings: [SatisfactionLevel: Int] = [:]
    private var nextTicket = 1
    /// Faults switched on by behaviours.
    private var active = Set<Behaviour.Kind>()
    private var hung = false
    var connected = false
    // Remote configuration and credentials (SimConfig.swift)
    var heartbeat: Double
    var settings = DeviceSettings()
    var configVersion: Int64 = 0
    var password: String?
    var pendingPassword: (rotation: String, password: String)?
    var linkTask: Task<Void, Never>?
    var switchingPassword = false
    var activeFaults: Set<Behaviour.Kind> { active }
    // Firmware updates (SimOTA.swift)
    var ota = SimOTAState()

    init(device: Device, commune: String, options: SimOptions, logger: Logger) {
        self.device = device
        self.commune = commune
        self.options = options
        self.logger = logger
        var r = SeededRandom(seed: options.seed, stream: device.id)
        _ = r.hex(8)  // the seeded boot id of old: still drawn, so the rest of the seeded stream is unchanged
        boot = Self.freshBoot()
        volume = min(device.config.maxVolume ?? 100, 70)
        heartbeat = options.heartbeat
        rssi = -60 - Int(r.next() % 30)
        let solarDraw = r.unit()  // drawn for every class, so the rest of the seeded stream is unchanged
        power = solarDraw < options.solarFraction ? .solar : .mains
        battery = power == .solar ? 60 + Int(r.next() % 40) : nil
        usedFraction = 0.80 + r.unit() * 0.08
        clients = Int(r.next() % 20)
        rng = r
    }

    /// A new boot id at every start and reboot, from the system's entropy, not the seed: a seeded fleet
    /// started again must not repeat the boot ids (and so the (boot, seq) of events and reports) of its
    /// previous run, which the controller holds as replays or history (protocol §3, `boot`).
    static func freshBoot() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(to: 16)
    }

    func topic(_ kind: MessageKind) -> String {
        TopicAddress(commune: commune, device: device.id, kind: kind).topic
    }

    private var capabilities: [String] {
        switch device.deviceClass {
        case .speaker: ["set_volume", "test_tone", "self_test", "reboot", "ping"] + (options.emergencyTopic ? [Topics.emergencyCapability] : []) + fleetCapabilities + otaCapabilities
        default: ["reboot", "ping"] + fleetCapabilities + otaCapabilities
        }
    }

    /// The birth this device announces now (its applied heartbeat and configuration version).
    func currentBirth() -> Birth {
        var b = Birth(device: device.id, deviceClass: device.deviceClass, model: modelName,
                      firmware: runningFirmware, capabilities: capabilities,
                      heartbeatSeconds: heartbeat, boot: boot, ts: clock.now().unixMillis)
        b.configVersion = configVersion > 0 ? configVersion : nil
        return b
    }

    // MARK: connection

    func connect() async {
        guard !dark, !linkDown else { return }  // no power, or no link: nothing to connect with
        loadState()
        await connect(password: password)
    }

    /// Connects with this password (nil: anonymous); false when the broker refused it within `timeout`.
    @discardableResult
    func connect(password: String?, timeout: Duration? = nil) async -> Bool {
        var cfg = MQTTConfiguration(host: options.host, port: options.port, clientID: device.id)
        if let password {
            cfg.username = device.id
            cfg.password = password
        }
        cfg.keepAlive = Int32(max(5, min(60, heartbeat * 2)))
        cfg.reconnectDelay = 1...30
        cfg.inboundCapacity = 1_000
        cfg.sharedNetworkLoop = true  // thousands of devices in one process
        if options.lastWill {
            cfg.will = MQTTWill(topic: topic(.state), payload: ProtocolEncoder.encode(
                StateMessage(device: device.id, state: .offline, boot: boot, reason: .will, ts: nil)))
        }
        do {
            let c = try MQTTClient(cfg, logger: logger)
            let now = clock.now()
            c.setConnectMessages([
                MQTTMessage(topic: topic(.birth), payload: ProtocolEncoder.encode(currentBirth()), qos: 1, retained: true),
                MQTTMessage(topic: topic(.state), payload: ProtocolEncoder.encode(StateMessage(
                    device: device.id, state: .online, boot: boot, reason: nil, ts: now.unixMillis)), qos: 1, retained: true),
            ])
            try c.subscribe(topic(.cmd), qos: 1)
            try c.subscribe(topic(.config), qos: 1)
            try c.subscribe(topic(.credentials), qos: 1)
            if options.ota.enabled { try c.subscribe(topic(.ota), qos: 1) }
            if device.deviceClass == .speaker { try c.subscribe(topic(.schedule), qos: 1) }
            let emergencyTopic = Topics.emergency(commune: commune)
            if device.deviceClass == .speaker, options.emergencyTopic { try c.subscribe(emergencyTopic, qos: 1) }
            do {
                try await c.connect(timeout: timeout)
            } catch {
                await c.close(abrupt: true)
                return false
            }
            client = c
            connected = true
            flushOutbox()
            otaConnected()
            watchLink(c)
            let scheduleTopic = topic(.schedule), configTopic = topic(.config), credentialsTopic = topic(.credentials), otaTopic = topic(.ota)
            commandTask = Task { [weak self] in
                for await m in c.messages {
                    if m.topic == otaTopic {
                        await self?.handleOTA(m)
                    } else if m.topic == configTopic {
                        await self?.handleConfig(m)
                    } else if m.topic == credentialsTopic {
                        await self?.handleCredentials(m)
                    } else if m.topic == scheduleTopic {
                        await self?.handleSchedule(m)
                    } else if m.topic == emergencyTopic {
                        await self?.handleEmergency(m)
                    } else {
                        await self?.handleCommand(m)
                    }
                }
            }
        } catch {
            logger.error("\(device.id): cannot start MQTT client: \(error)")
        }
        return true
    }

    private func dropConnection(graceful: Bool, announce: Bool) async {
        guard let c = client else { return }
        client = nil
        connected = false
        commandTask?.cancel()
        linkTask?.cancel()
        if announce {
            try? c.publish(topic: topic(.state), payload: ProtocolEncoder.encode(StateMessage(
                device: device.id, state: .offline, boot: boot, reason: .shutdown, ts: clock.now().unixMillis)), qos: 1, retain: true)
        }
        await c.close(abrupt: !graceful)
    }

    func stop(graceful: Bool) async {
        await dropConnection(graceful: graceful, announce: graceful)
    }

    // MARK: behaviours

    func begin(_ b: Behaviour) async {
        logger.info("\(device.id): \(b.kind.rawValue) begins")
        switch b.kind {
        case .offlineWill: await dropConnection(graceful: false, announce: false)
        case .offlineSilent: await dropConnection(graceful: true, announce: false)
        case .hang: hung = true
        case .tamper:
            publishEvent(.tamper, detail: device.deviceClass == .camera ? "Camera bị che hoặc xoay hướng" : "Vỏ thiết bị bị mở")
        case .storageFull where device.deviceClass == .camera:
            usedFraction = 1
            publishEvent(.storageFull, detail: "Ổ lưu trữ đầy, đang ghi đè")
        case .mainsCut where device.deviceClass == .speaker:
            guard mainsCut == nil, power == .mains else { return }  // a solar cluster keeps its own supply
            mainsCut = (clock.now(), battery.map(Double.init) ?? options.stormBattery)
            power = .battery
            updateBattery()
            publishTelemetry()
        case .linkLoss:
            linkDown = true
            await dropConnection(graceful: false, announce: false)
        case .reboot:
            rebootRadio()
            await dropConnection(graceful: true, announce: true)
            _ = rng.hex(8)
            boot = Self.freshBoot()
            seq = 0
            eventSeq = 0
            await connect()
        default: active.insert(b.kind)
        }
    }

    func end(_ b: Behaviour) async {
        logger.info("\(device.id): \(b.kind.rawValue) ends")
        switch b.kind {
        case .offlineWill, .offlineSilent: await connect()  // same boot: only the link was lost
        case .hang: hung = false
        case .mainsCut:
            guard mainsCut != nil else { return }
            mainsCut = nil
            power = .mains
            battery = nil
            if dark {
                // Power is back: the cluster starts again, a new boot.
                dark = false
                _ = rng.hex(8)
                boot = Self.freshBoot()
                seq = 0
                eventSeq = 0
                await connect()
            }
        case .linkLoss:
            linkDown = false
            await connect()  // same boot: only the link was lost
        case .reboot, .tamper, .storageFull: break
        default: active.remove(b.kind)
        }
    }

    // MARK: periodic work

    /// The battery's charge now, while mains are cut; nil otherwise.
    private func updateBattery() {
        guard let cut = mainsCut else { return }
        let hours = max(0, clock.now().timeIntervalSince(cut.at)) / 3600
        battery = max(0, Int((cut.charge - hours * options.stormDrainPerHour).rounded(.up)))
    }

    /// Minutes left at the storm's drain rate (the device's own estimate), at most a week.
    private var batteryMinutes: Int? {
        guard power != .mains, let b = battery else { return nil }
        guard power == .battery, options.stormDrainPerHour > 0 else { return nil }
        return min(10_080, Int((Double(b) / options.stormDrainPerHour * 60).rounded(.down)))
    }

    /// Out of battery: the cluster dies as hardware does, without a word (the broker publishes the Last Will).
    private func goDarkIfFlat() async -> Bool {
        guard mainsCut != nil, battery == 0, !dark else { return dark }
        logger.info("\(device.id): battery flat, going dark")
        rebootRadio()  // what sounds is cut (reported when the speaker is back)
        dark = true
        playingUntil = nil
        await dropConnection(graceful: false, announce: false)
        return true
    }

    /// The storm's clock: called before telemetry and commands.
    func stormTick() async -> Bool {
        updateBattery()
        return await goDarkIfFlat()
    }

    func publishTelemetry() {
        guard connected, !hung, !dark, let c = client else { return }
        flushOutbox()
        seq += 1
        let now = clock.now()
        var t = TelemetryMessage(device: device.id, boot: boot, seq: seq, ts: now.unixMillis)
        switch device.deviceClass {
        case .speaker:
            rssi = max(-110, min(-50, rssi + Int(rng.next() % 5) - 2))
            if mainsCut != nil {
                updateBattery()
            } else if let b = battery {
                battery = max(5, min(100, b + Int(rng.next() % 3) - 1))
            }
            let playing = playingUntil.map { $0 > now } ?? false
            t.speaker = SpeakerFields(volume: volume, ampOK: !active.contains(.ampFault), lineOK: !active.contains(.lineFault),
                                      playing: playing, rssi: rssi, power: power, batteryPct: battery, batteryMinutes: batteryMinutes)
        case .camera:
            let rate = active.contains(.diskFill) ? baseWriteRate * 4 : baseWriteRate
            if active.contains(.diskFill) { usedFraction = min(0.97, usedFraction + 0.02) }
            let used = Int64(Double(storageTotal) * usedFraction)
            let retainedSeconds = Double(used) / baseWriteRate
            t.camera = CameraFields(recording: !active.contains(.notRecording), streamOK: !active.contains(.notRecording),
                                    storageUsedBytes: used, storageTotalBytes: storageTotal,
                                    oldestRecordingTs: now.addingTimeInterval(-retainedSeconds).unixMillis,
                                    writeRateBps: rate)
        case .accessPoint:
            clients = max(0, min(120, clients + Int(rng.next() % 7) - 3))
            let up = !active.contains(.uplinkLoss)
            t.accessPoint = AccessPointFields(uplinkOK: up, clients: up ? clients : 0,
                                              rxBps: up ? Double(clients) * 350_000 * rng.unit() : 0,
                                              txBps: up ? Double(clients) * 90_000 * rng.unit() : 0,
                                              cpuPct: 5 + rng.unit() * 30, memPct: 30 + rng.unit() * 20)
        case .kiosk:
            t.kiosk = KioskFields(printerOK: !active.contains(.printerFault), paperLow: active.contains(.paperOut),
                                  paperOut: active.contains(.paperOut), ticketsIssued: ticketsIssued,
                                  ticketsServed: ticketsServed,
                                  ratings: Dictionary(uniqueKeysWithValues: ratings.map { ($0.key.rawValue, $0.value) }))
        }
        try? c.publish(topic: topic(.telemetry), payload: ProtocolEncoder.encode(t), qos: 0)
    }

    /// One-stop office hours: Monday–Friday 7:30–11:30 and 13:30–17:00, Saturday morning.
    func officeOpen(_ date: Date) -> Bool {
        if options.alwaysOpen { return true }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = options.calendar.timeZone
        let c = cal.dateComponents([.weekday, .hour, .minute], from: date)
        let minutes = c.hour! * 60 + c.minute!
        let morning = (450..<690).contains(minutes), afternoon = (810..<1020).contains(minutes)
        switch c.weekday! {
        case 2...6: return morning || afternoon
        case 7: return morning
        default: return false
        }
    }

    /// A customer arrives: a ticket, later served, and a rating. Returns seconds to the next customer.
    func kioskCustomer() -> Double {
        let next = rng.exponential(mean: options.kioskInterval)
        guard device.deviceClass == .kiosk, connected, !hung, officeOpen(clock.now()) else { return next }
        let role = device.config.kioskRole ?? .both
        if role != .rating, !active.contains(.paperOut), !active.contains(.printerFault) {
            ticketsIssued += 1
            let ticket = String(format: "A%03d", nextTicket)
            nextTicket = nextTicket % 999 + 1
            publishEvent(.ticketIssued, ticket: ticket)
            // Served after a wait; reported now with the wait the citizen will have had.
            let wait = (60 + rng.exponential(mean: 600)).rounded()
            ticketsServed += 1
            publishEvent(.ticketServed, ticket: ticket, wait: wait)
        }
        if role != .queue, rng.unit() < 0.8 {
            let u = rng.unit()
            let level: SatisfactionLevel = u < 0.55 ? .verySatisfied : u < 0.85 ? .satisfied : u < 0.95 ? .neutral
                : u < 0.99 ? .dissatisfied : .veryDissatisfied
            ratings[level, default: 0] += 1
            publishEvent(.ratingSubmitted, rating: level)
        }
        return next
    }

    private func publishEvent(_ type: EventType, ticket: String? = nil, wait: Double? = nil, rating: SatisfactionLevel? = nil,
                              detail: String? = nil) {
        guard let c = client else { return }
        eventSeq += 1
        let e = EventMessage(device: device.id, boot: boot, seq: eventSeq, ts: clock.now().unixMillis, event: type,
                             ticket: ticket, waitSeconds: wait, rating: rating, detail: detail)
        try? c.publish(topic: topic(.event), payload: ProtocolEncoder.encode(e), qos: 1)
    }

    // MARK: commands

    private func handleCommand(_ m: MQTTMessage) async {
        guard client != nil, !hung else { return }
        if await stormTick() { return }  // flat: nothing answers
        guard let c = client else { return }
        let now = clock.now()
        func ack(_ id: String, _ result: AckMessage.Result, _ detail: String? = nil, findings: SelfTestFindings? = nil) {
            try? c.publish(topic: topic(.ack), payload: ProtocolEncoder.encode(AckMessage(
                device: device.id, boot: boot, cmdID: id, result: result, detail: detail, ts: now.unixMillis, selfTest: findings)), qos: 1)
        }
        guard let cmd = try? SimDecoding.json.decode(CommandMessage.self, from: Data(m.payload)) else {
            logger.warning("\(device.id): unreadable command ignored")
            return
        }
        if let e = cmd.expires, e < now.unixMillis { return ack(cmd.cmdID, .expired) }
        switch CommandName(rawValue: cmd.command) {
        case .ping: ack(cmd.cmdID, .ok, "pong")
        case .setVolume where device.deviceClass == .speaker:
            guard let v = cmd.volume, (0...maxVolume).contains(v) else {
                return ack(cmd.cmdID, .error, "volume must be 0…\(maxVolume)")
            }
            volume = v
            ack(cmd.cmdID, .ok, "volume \(v)")
            publishTelemetry()
        case .testTone where device.deviceClass == .speaker:
            let s = min(max(cmd.seconds ?? 5, 1), 60)
            playingUntil = now.addingTimeInterval(s)
            ack(cmd.cmdID, .ok, "tone \(Int(s)) s")
            publishTelemetry()
        case .selfTest where device.deviceClass == .speaker:
            // The amplifier and the line as they are now, and the supply: told truthfully from the simulated state.
            if let t = cmd.toneSeconds, !(1...CommandName.selfTestMaxToneSeconds).contains(t) {
                return ack(cmd.cmdID, .error, "tone_seconds must be 1…5")
            }
            updateBattery()
            let f = SelfTestFindings(amplifierOK: !active.contains(.ampFault), speakerLineOK: !active.contains(.lineFault),
                                     power: power, batteryPercent: power == .mains ? nil : battery, batteryMinutes: batteryMinutes)
            if let t = cmd.toneSeconds, f.amplifierOK, f.speakerLineOK, current == nil { playingUntil = now.addingTimeInterval(t) }
            ack(cmd.cmdID, f.amplifierOK && f.speakerLineOK ? .ok : .error,
                f.vietnamese + (cmd.toneSeconds.map { " (tone \(Int($0)) s)" } ?? ""), findings: f)
            publishTelemetry()
        case .reboot:
            ack(cmd.cmdID, .ok, "rebooting")
            try? await Task.sleep(for: .milliseconds(200))
            await begin(Behaviour(device: device.id, kind: .reboot, at: 0, duration: nil))
        default: ack(cmd.cmdID, .unsupported, "\(cmd.command) not supported by \(device.deviceClass.rawValue)")
        }
    }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
