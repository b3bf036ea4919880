import Foundation

/// What one warning put on air: its first play, each repeat, or the all-clear of its Cancel — one
/// emergency broadcast item each, so that reach can be told per repetition.
public struct WarningPlay: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The alert (number 1) or one of its repeats (2, 3, …).
        case play
        /// "Hết cảnh báo …", played when a Cancel ends it and the policy says so (number 0).
        case allClear = "all_clear"

        public var vietnamese: String {
            switch self {
            case .play: "phát cảnh báo"
            case .allClear: "thông báo hết cảnh báo"
            }
        }
    }

    public var alertID: Int64
    /// 1: the first play, 2…: repeats, as numbered by `RepetitionPlan.due`; 0: the all-clear.
    public var number: Int
    public var kind: Kind
    public var itemID: String
    /// When the plan had it (the all-clear: when the Cancel came).
    public var dueAt: Date
    /// When the broadcast item was made.
    public var madeAt: Date

    public init(alertID: Int64, number: Int, kind: Kind, itemID: String, dueAt: Date, madeAt: Date) {
        self.alertID = alertID
        self.number = number
        self.kind = kind
        self.itemID = itemID
        self.dueAt = dueAt
        self.madeAt = madeAt
    }

    /// The broadcast item id of a repeat: fixed by the alert and the number, so that a controller
    /// stopped between making the item and recording it finds it again instead of making a second.
    public static func itemID(alert: Int64, number: Int, day: LocalDay) -> String {
        "BT-\(day.description.replacingOccurrences(of: "-", with: ""))-w\(alert)r\(number)"
    }
}

/// A repeat of a **priority** warning in the communes that approved it (issue 20, item 4). A priority
/// warning waits in the communes' inbox; the item an officer schedules from it is, once approved, play 1 of
/// that commune's repeats (`approvedItem`), and each repeat (2, 3, …) is a priority item on the same targets
/// at the policy's interval from that play, until the warning's `expires` (or the horizon), an Update or a Cancel.
public struct WarningApprovedPlay: Sendable, Hashable, Codable {
    /// The item scheduled from the inbox and approved: the repeats' anchor (its first start) and model.
    public var approvedItem: String
    /// The repeat as a play of the warning: its number 2, 3, … as `RepetitionPlan.due` numbers them (1 is the
    /// approved item itself), its item, when the plan has it and when its item was made (ahead of that time).
    public var play: WarningPlay

    public init(alertID: Int64, approvedItem: String, number: Int, itemID: String, dueAt: Date, madeAt: Date) {
        self.approvedItem = approvedItem
        play = WarningPlay(alertID: alertID, number: number, kind: .play, itemID: itemID, dueAt: dueAt, madeAt: madeAt)
    }

    /// Fixed by the alert, the approved item and the number, as an emergency repeat's (`WarningPlay.itemID`).
    public static func itemID(alert: Int64, approvedItem: String, number: Int, day: LocalDay) -> String {
        let tail = approvedItem.split(separator: "-").last.map(String.init) ?? approvedItem
        return "BT-\(day.description.replacingOccurrences(of: "-", with: ""))-w\(alert)a\(tail)r\(number)"
    }
}

/// Proof of reach of one warning, from the playback log alone (the same lines as the radio's
/// reports): per play, per place (village, or a commune-level site), speaker by speaker.
public struct WarningReach: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable, CaseIterable {
        /// Played in full (`finished`).
        case played
        /// Started, not over yet.
        case playing
        /// Started and cut off (cancelled, preempted, no report of its end).
        case interrupted
        /// Never started: the reason says why (offline, refused download, late, cancelled …).
        case missed
        /// Sent, nothing final yet.
        case pending

        public var vietnamese: String {
            switch self {
            case .played: "đã phát trọn"
            case .playing: "đang phát"
            case .interrupted: "bị ngắt"
            case .missed: "không phát"
            case .pending: "chờ phát"
            }
        }

        init(_ o: PlaybackRow.Outcome) {
            switch o {
            case .finished: self = .played
            case .playing: self = .playing
            case .interrupted: self = .interrupted
            case .missed: self = .missed
            case .pending: self = .pending
            }
        }
    }

    public struct Speaker: Sendable, Hashable, Codable {
        public var id: String
        public var outcome: Outcome
        public var outcomeText: String
        /// Why it was interrupted or missed, as the log holds it.
        public var reason: PlaybackReason?
        public var reasonText: String?
        public var startedAt: Date?
        public var endedAt: Date?
        /// Seconds from the alert's receipt to this speaker's start.
        public var delayFromReceipt: Double?
        /// Seconds from this play's scheduled start to this speaker's start.
        public var delayFromStart: Double?
    }

    public struct Tally: Sendable, Hashable, Codable {
        /// Speakers the play was sent to (a `scheduled` line in the log).
        public var sent = 0
        public var played = 0
        public var playing = 0
        public var interrupted = 0
        public var missed = 0
        public var pending = 0
        /// Missed and interrupted plays by the log's reason (`none` when it gives none).
        public var reasons: [String: Int] = [:]

        public init() {}

        mutating func add(_ s: Speaker) {
            sent += 1
            switch s.outcome {
            case .played: played += 1
            case .playing: playing += 1
            case .interrupted: interrupted += 1
            case .missed: missed += 1
            case .pending: pending += 1
            }
            if s.outcome == .missed || s.outcome == .interrupted { reasons[s.reason?.rawValue ?? "none", default: 0] += 1 }
        }

        mutating func add(_ t: Tally) {
            sent += t.sent
            played += t.played
            playing += t.playing
            interrupted += t.interrupted
            missed += t.missed
            pending += t.pending
            for (k, n) in t.reasons { reasons[k, default: 0] += n }
        }
    }

    /// Where a speaker hangs, for grouping: its village, or its site when it is under the commune directly.
    public struct Location: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        public var level: PlaceLevel
        public var commune: String?

        public init(id: String, name: String, level: PlaceLevel, commune: String?) {
            self.id = id
            self.name = name.nfc
            self.level = level
            self.commune = commune
        }
    }

    public struct Place: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        public var level: PlaceLevel
        public var commune: String?
        /// The alert targeted it (a place reached through a whole commune is not listed as targeted).
        public var targeted: Bool
        public var tally: Tally
        public var speakers: [Speaker]
    }

    public struct Play: Sendable, Hashable, Codable {
        public var number: Int
        public var kind: WarningPlay.Kind
        public var item: String
        public var dueAt: Date
        public var madeAt: Date
        public var tally: Tally
        public var places: [Place]
        /// A priority warning's play in the commune that approved it (nil: an emergency's play, everywhere at once).
        public var commune: String?
        public var communeName: String?
    }

    public var alert: Int64
    public var receivedAt: Date
    public var plays: [Play]

    public init(alert: Int64, receivedAt: Date, plays: [Play]) {
        self.alert = alert
        self.receivedAt = receivedAt
        self.plays = plays
    }

    /// The reach of one play from its rows (`PlaybackRow.fold` of the log lines of its item). `locate`
    /// places a speaker (nil: outside what the caller may see — left out); `targeted` are the places
    /// the alert names, listed even when the log holds nothing for them.
    public static func play(_ p: WarningPlay, rows: [PlaybackRow], receivedAt: Date, locate: (String) -> Location?,
                            targeted: [Location]) -> Play {
        var places: [String: Place] = [:]
        for t in targeted {
            places[t.id] = Place(id: t.id, name: t.name, level: t.level, commune: t.commune, targeted: true, tally: Tally(), speakers: [])
        }
        for r in rows where r.key.item == p.itemID {
            guard let at = locate(r.speaker) else { continue }
            var reason: PlaybackReason?
            switch r.outcome {
            case .interrupted(let x, _), .missed(let x, _): reason = x
            default: reason = nil
            }
            let outcome = Outcome(r.outcome)
            let s = Speaker(id: r.speaker, outcome: outcome, outcomeText: outcome.vietnamese, reason: reason, reasonText: reason?.vietnamese,
                            startedAt: r.startedAt, endedAt: r.endedAt,
                            delayFromReceipt: r.startedAt.map { $0.timeIntervalSince(receivedAt) },
                            delayFromStart: r.startedAt.map { $0.timeIntervalSince(r.key.start) })
            var place = places[at.id] ?? Place(id: at.id, name: at.name, level: at.level, commune: at.commune, targeted: false,
                                               tally: Tally(), speakers: [])
            place.speakers.append(s)
            place.tally.add(s)
            places[at.id] = place
        }
        var total = Tally()
        let list = places.values.map { p -> Place in
            var p = p
            p.speakers.sort { $0.id < $1.id }
            return p
        }.sorted { ($0.commune ?? "", $0.level == .village ? 0 : 1, $0.name, $0.id) < ($1.commune ?? "", $1.level == .village ? 0 : 1, $1.name, $1.id) }
        for p in list { total.add(p.tally) }
        return Play(number: p.number, kind: p.kind, item: p.itemID, dueAt: p.dueAt, madeAt: p.madeAt, tally: total, places: list)
    }

    /// One line per play for a person (and the CAP Ack's note): "Lần 1: 3/3 loa phát trọn; …".
    public var summary: String {
        plays.map { p in
            var what = p.kind == .allClear ? "Hết cảnh báo" : "Lần \(p.number)"
            if let c = p.communeName { what += " tại \(c)" }
            var s = "\(what): \(p.tally.played)/\(p.tally.sent) loa phát trọn"
            if p.tally.interrupted > 0 { s += ", \(p.tally.interrupted) bị ngắt" }
            if p.tally.missed > 0 { s += ", \(p.tally.missed) không phát" }
            if p.tally.playing + p.tally.pending > 0 { s += ", \(p.tally.playing + p.tally.pending) chưa xong" }
            let silent = p.places.filter { $0.tally.played + $0.tally.playing == 0 }.map(\.name)
            if !silent.isEmpty { s += "; chưa nghe: " + silent.joined(separator: ", ") }
            return s
        }.joined(separator: ". ")
    }
}

extension WarningSpeech {
    /// The all-clear of a Cancel: "Hết cảnh báo" and the event, then the Cancel's own Vietnamese words if it has any.
    public static func allClear(event: String?, info: CAPInfo?) -> String {
        var parts = ["Hết cảnh báo" + (event.map { " " + sentence($0).trimmingCharacters(in: CharacterSet(charactersIn: ".")) } ?? "") + "."]
        for p in [info?.headline, info?.description, info?.instruction].compactMap({ $0 }) where !p.isEmpty { parts.append(sentence(p)) }
        return parts.joined(separator: " ").nfc
    }
}

/// A CAP 1.2 `Ack` (§3.2.1 msgType): WardFleet's answer to a source, naming the alert in `references`
/// and carrying the reach of a play in `note`. Elements in the order the CAP schema gives them.
public enum CAPAck {
    public static func xml(sender: String, identifier: String, sent: CAPTime, references: [CAPReference], note: String) -> String {
        func e(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        let refs = references.map { "\($0.sender),\($0.identifier),\($0.sent.text)" }.joined(separator: " ")
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
              <identifier>\(e(identifier))</identifier>
              <sender>\(e(sender))</sender>
              <sent>\(sent.text)</sent>
              <status>Actual</status>
              <msgType>Ack</msgType>
              <scope>Public</scope>
              <note>\(e(note.nfc))</note>
              <references>\(e(refs))</references>
            </alert>

            """
    }
}
