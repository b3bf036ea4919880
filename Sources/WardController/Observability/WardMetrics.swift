import Foundation
import CoreMetrics
import Metrics
import MQTTClient
import Prometheus
import Synchronization
import WardDomain
import WardProtocol
import WardStorage

/// One process's metrics, in the Prometheus text format (`GET /metrics`).
///
/// Handles are made through swift-metrics with an explicit factory (`CoreMetrics.Counter(label:dimensions:factory:)`)
/// over a `PrometheusCollectorRegistry` this object owns: swift-metrics' global bootstrap is once per
/// process, and tests run many controllers (each with its own `WardMetrics`) in one process.
///
/// What is counted is bridged where it is already counted (the ingest actor's counters, the
/// notification dispatcher's outcomes, the delivery's publications, the flush); what is a state is
/// read when scraped (devices by class and state from the ingest actors' memory, the inbound
/// queues, the broker links, open alarms and communes without a live owner from cheap queries).
/// Labels are bounded: reasons, classes, states, severities, route templates, broker addresses;
/// never a device id or a raw path.
public final class WardMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// The database open alarms and unowned communes are read from; nil: those families are left out.
    private let database: Mutex<WardDatabase?> = Mutex(nil)
    /// The node's own broker links besides its controllers' (the API's publishers, by broker address).
    private let extraLinks: Mutex<(@Sendable () -> [(String, Bool)])?> = Mutex(nil)
    private let controllers = Mutex<[ObjectIdentifier: Attached]>([:])
    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let flushTimer: CoreMetrics.Timer
    private let scrapeClock: @Sendable () -> Date

    struct Attached: Sendable {
        var controller: FleetController
        /// The inbound queue's drops already counted.
        var dropped: UInt64
    }

    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A flush writes one batch in one transaction: milliseconds normally, seconds when the disk struggles.
        factory.durationHistogramBuckets[Names.flushDuration] = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.durationHistogramBuckets[Names.httpDuration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        self.registry = registry
        self.factory = factory
        self.scrapeClock = now
        flushTimer = CoreMetrics.Timer(label: Names.flushDuration, dimensions: [], factory: factory)
        // Families present from the start, at zero, so rules and dashboards see them before the first event.
        for name in [Names.received, Names.processed, Names.queueDropped, Names.agendasPublished, Names.agendaPublishFailures,
                     Names.flushFailures] {
            _ = counter(name, [])
        }
        for outcome in NotificationOutcome.allCases { _ = counter(Names.notifications, [("outcome", outcome.rawValue)]) }
        for reason in RejectReason.allCases { _ = counter(Names.rejected, [("reason", reason.rawValue)]) }
        for reason in CAPError.Reason.allCases { _ = counter(Names.warningsRefused, [("reason", reason.rawValue)]) }
        for status in CAPStatus.allCases.map({ $0.rawValue.lowercased() }) + ["duplicate"] {
            _ = counter(Names.warningsReceived, [("status", status)])
        }
        for event in PlaybackEvent.allCases { _ = counter(Names.playbackReports, [("event", event.rawValue)]) }
        for name in [IngestCounter.ignoredUnknownEvent, IngestCounter.ignoredDuplicateEvent, IngestCounter.pendingMessages,
                     IngestCounter.commandEchoes] {
            countIngest(name, by: 0)
        }
    }

    public enum Names {
        public static let received = "wardfleet_ingest_received_total"
        public static let processed = "wardfleet_ingest_processed_total"
        public static let rejected = "wardfleet_ingest_rejected_total"
        public static let ignored = "wardfleet_ingest_ignored_total"
        public static let otherIngest = "wardfleet_ingest_other_total"
        public static let queueDepth = "wardfleet_inbound_queue_depth"
        public static let queueCapacity = "wardfleet_inbound_queue_capacity"
        public static let queueDropped = "wardfleet_inbound_queue_dropped_total"
        public static let flushDuration = "wardfleet_flush_duration_seconds"
        public static let flushFailures = "wardfleet_flush_failures_total"
        public static let devices = "wardfleet_devices"
        public static let brokerConnected = "wardfleet_broker_connected"
        public static let alarmsOpen = "wardfleet_alarms_open"
        public static let notifications = "wardfleet_notifications_total"
        public static let agendasPublished = "wardfleet_agendas_published_total"
        public static let agendaPublishFailures = "wardfleet_agenda_publish_failures_total"
        public static let playbackReports = "wardfleet_playback_reports_total"
        public static let communesUnowned = "wardfleet_communes_unowned"
        public static let httpRequests = "wardfleet_http_requests_total"
        public static let httpDuration = "wardfleet_http_request_duration_seconds"
        public static let warningsReceived = "wardfleet_warnings_received_total"
        public static let warningsRefused = "wardfleet_warnings_refused_total"
        /// Every family this process can expose (the rules in deploy/prometheus may name only these).
        public static let all: Set<String> = [
            received, processed, rejected, ignored, otherIngest, queueDepth, queueCapacity, queueDropped, flushDuration, flushFailures,
            devices, brokerConnected, alarmsOpen, notifications, agendasPublished, agendaPublishFailures, playbackReports,
            communesUnowned, httpRequests, httpDuration, warningsReceived, warningsRefused,
        ]
    }

    public enum NotificationOutcome: String, CaseIterable, Sendable {
        /// The sink took it.
        case delivered
        /// An attempt failed; it will be retried.
        case failed
        /// Given up: no more attempts (permanent error, retries exhausted, sink not configured).
        case gaveUp = "gave_up"
    }

    // MARK: wiring

    /// Open alarms and communes without a live owner are read from this database when scraped.
    public func observe(database db: WardDatabase) { database.withLock { $0 = db } }

    /// Broker links this process has besides its controllers' (broker address → connected).
    public func observeLinks(_ links: @escaping @Sendable () -> [(String, Bool)]) { extraLinks.withLock { $0 = links } }

    /// A controller (or a cluster node's commune unit) counts here while it runs.
    func attach(_ c: FleetController) {
        let dropped = c.client.messages.counts.dropped
        controllers.withLock { $0[ObjectIdentifier(c)] = Attached(controller: c, dropped: dropped) }
    }

    func detach(_ c: FleetController) {
        syncQueues()
        _ = controllers.withLock { $0.removeValue(forKey: ObjectIdentifier(c)) }
    }

    // MARK: bridged counts

    private func counter(_ name: String, _ labels: [(String, String)]) -> CoreMetrics.Counter {
        let key = labels.isEmpty ? name : name + "|" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        if let c = counters.withLock({ $0[key] }) { return c }
        let c = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
        counters.withLock { $0[key] = c }
        return c
    }

    /// An ingest counter moved (`IngestCounter` names: received, processed, rejected.<reason>, ignored.<why>, …).
    public func countIngest(_ name: String, by n: UInt64) {
        let c: CoreMetrics.Counter
        switch name {
        case IngestCounter.received: c = counter(Names.received, [])
        case IngestCounter.processed: c = counter(Names.processed, [])
        default:
            if name.hasPrefix("rejected.") {
                c = counter(Names.rejected, [("reason", String(name.dropFirst("rejected.".count)))])
            } else if name.hasPrefix("ignored.") {
                c = counter(Names.ignored, [("reason", String(name.dropFirst("ignored.".count)))])
            } else {
                c = counter(Names.otherIngest, [("counter", name)])
            }
        }
        if n > 0 { c.increment(by: Int64(clamping: n)) }
    }

    /// A CAP intake tally (`WarningService`): `received.<status>`, `duplicate`, `refused.<reason>`.
    public func countWarning(_ name: String) {
        if name.hasPrefix("refused.") {
            counter(Names.warningsRefused, [("reason", String(name.dropFirst("refused.".count)))]).increment()
        } else if name.hasPrefix("received.") {
            counter(Names.warningsReceived, [("status", String(name.dropFirst("received.".count)))]).increment()
        } else {
            counter(Names.warningsReceived, [("status", name)]).increment()
        }
    }

    public func countNotification(_ outcome: NotificationOutcome) {
        counter(Names.notifications, [("outcome", outcome.rawValue)]).increment()
    }

    public func countAgenda(published: Bool) {
        counter(published ? Names.agendasPublished : Names.agendaPublishFailures, []).increment()
    }

    /// One flush of the ingest pipeline: how long its transaction took, and what it stored.
    func flushed(duration: Duration, ok: Bool, playback: [(entry: PlaybackEntry, receivedAt: Date)]) {
        let (s, atto) = duration.components
        flushTimer.recordNanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
        guard ok else { return counter(Names.flushFailures, []).increment() }
        var byEvent: [String: Int] = [:]
        for p in playback { byEvent[p.entry.event.rawValue, default: 0] += 1 }
        for (event, n) in byEvent { counter(Names.playbackReports, [("event", event)]).increment(by: n) }
    }

    /// One HTTP request: `route` is the route's template (`/api/v1/devices/{id}`), never the raw path.
    public func countRequest(route: String, method: String, status: Int, duration: Duration) {
        counter(Names.httpRequests, [("route", route), ("method", method), ("status", String(status))]).increment()
        let (s, atto) = duration.components
        CoreMetrics.Timer(label: Names.httpDuration, dimensions: [("route", route), ("method", method)], factory: factory)
            .recordNanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }

    // MARK: scrape

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory).record(value)
    }

    private func syncQueues() {
        controllers.withLock { all in
            for (k, var a) in all {
                let dropped = a.controller.client.messages.counts.dropped
                if dropped > a.dropped { counter(Names.queueDropped, []).increment(by: Int64(clamping: dropped - a.dropped)) }
                a.dropped = dropped
                all[k] = a
            }
        }
    }

    /// Brings the states up to date and renders everything in the Prometheus text format (0.0.4).
    public func render() async -> String {
        syncQueues()
        let attached = controllers.withLock { $0.values.map(\.controller) }

        var depth = 0, capacity = 0
        var links: [String: Bool] = [:]
        var devices: [DeviceClass: [HealthState: Int]] = [:]
        for c in attached {
            let counts = c.client.messages.counts
            depth += counts.waiting
            capacity += c.client.messages.capacity
            let address = "\(c.configuration.mqtt.host):\(c.configuration.mqtt.port)"
            links[address] = (links[address] ?? true) && c.client.isConnected
            for (cls, states) in await c.ingestor.stateCounts() {
                for (state, n) in states { devices[cls, default: [:]][state, default: 0] += n }
            }
        }
        for (address, up) in extraLinks.withLock({ $0 })?() ?? [] { links[address] = (links[address] ?? true) && up }
        gauge(Names.queueDepth, [], Double(depth))
        gauge(Names.queueCapacity, [], Double(capacity))
        for (address, up) in links { gauge(Names.brokerConnected, [("broker", address)], up ? 1 : 0) }
        for cls in DeviceClass.allCases {
            for state in HealthState.allCases {
                gauge(Names.devices, [("class", cls.rawValue), ("state", state.rawValue)], Double(devices[cls]?[state] ?? 0))
            }
        }

        if let db = database.withLock({ $0 }) {
            if let open = try? AlarmRepository(db).open() {
                for severity in AlarmSeverity.allCases {
                    gauge(Names.alarmsOpen, [("severity", severity.rawValue)], Double(open.filter { $0.severity == severity }.count))
                }
            }
            if let view = try? ClusterView.read(db, now: scrapeClock()) {
                gauge(Names.communesUnowned, [], Double(view.unowned.count))
            }
        }
        return registry.emitToString()
    }
}
