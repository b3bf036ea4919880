import Foundation

// SMS notifications of alarms (issue 16 item 7): phone numbers, contacts in escalation order,
// Vietnamese templates with an unaccented ("không dấu") option, rate limits per recipient and per
// storm, and escalation of unacknowledged alarms. Pure: the controller's SMSNotifier feeds it the
// alarms and what was already sent, and queues what it decides in the notifications outbox.

/// A refused phone number, contact or template.
public struct SMSRefusal: Refusal, Equatable {
    public let description: String
    public init(_ vi: String, _ en: String) { description = "\(vi) / \(en)" }
}

/// A Vietnamese mobile number, kept in +84 form ("+84912345678").
public struct PhoneNumber: Hashable, Sendable, Codable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    /// Accepts 0912345678, 84912345678, +84 912 345 678, (+84) 912.345.678: a mobile number has
    /// nine digits after the country code, the first one 3, 5, 7, 8 or 9.
    public init(_ text: String) throws {
        var digits = ""
        for (i, c) in text.enumerated() {
            if c.isASCII, c.isNumber { digits.append(c) }
            else if c == "+", i == 0 || text.hasPrefix("(+") { continue }
            else if " .-()".contains(c) { continue }
            else { throw SMSRefusal("số điện thoại '\(text)' có ký tự lạ", "phone number '\(text)' has a stray character") }
        }
        var national: Substring
        if digits.hasPrefix("84"), digits.count == 11 { national = digits.dropFirst(2) }
        else if digits.hasPrefix("0"), digits.count == 10 { national = digits.dropFirst(1) }
        else {
            throw SMSRefusal("số điện thoại '\(text)' không phải số di động Việt Nam (+84 và 9 chữ số, hoặc 0 và 9 chữ số)",
                             "phone number '\(text)' is not a Vietnamese mobile number (+84 and 9 digits, or 0 and 9 digits)")
        }
        guard let first = national.first, "35789".contains(first) else {
            throw SMSRefusal("số '\(text)' không phải số di động (đầu số 3, 5, 7, 8, 9)", "'\(text)' is not a mobile number (prefixes 3, 5, 7, 8, 9)")
        }
        value = "+84" + national
    }

    public init(from decoder: any Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

/// Someone alarms are texted to. `level` 0 is told first; an alarm left unacknowledged goes on to
/// level 1, then 2, … `commune` nil: every commune (a district or province duty officer).
public struct SMSContact: Hashable, Sendable, Codable {
    public var phone: PhoneNumber
    public var name: String
    public var commune: String?
    public var level: Int

    public init(phone: PhoneNumber, name: String, commune: String? = nil, level: Int = 0) {
        self.phone = phone
        self.name = name.precomposedStringWithCanonicalMapping
        self.commune = commune
        self.level = level
    }
}

/// What an SMS says about one alarm.
public enum SMSEvent: String, Sendable, Codable, CaseIterable {
    /// First message of an alarm, to level 0.
    case raised
    /// The alarm is still unacknowledged: to the contacts of the next level.
    case escalated
    /// The condition is over: to everyone who was texted about it.
    case cleared
}

/// Message templates. Placeholders: {event} {kind} {severity} {device} {place} {since} {detail}
/// {level} {brand}; a storm summary also {count} {kinds} {places}. A template is chosen by the
/// most specific key present: "event.kind.severity", "event.kind", "event.severity", "event".
public struct SMSTemplates: Sendable, Codable, Hashable {
    public var templates: [String: String]
    public var storm: String

    public init(templates: [String: String] = SMSTemplates.defaults, storm: String = SMSTemplates.defaultStorm) throws {
        var all = SMSTemplates.defaults
        for (k, v) in templates {
            let parts = k.split(separator: ".").map(String.init)
            guard let e = parts.first, SMSEvent(rawValue: e) != nil, parts.count <= 3,
                  parts.dropFirst().allSatisfy({ AlarmKind(rawValue: $0) != nil || AlarmSeverity(rawValue: $0) != nil }) else {
                throw SMSRefusal("mẫu tin '\(k)' không rõ: dùng raised|escalated|cleared[.loại][.mức]",
                                 "template key '\(k)' is unknown: use raised|escalated|cleared[.kind][.severity]")
            }
            all[k] = v.precomposedStringWithCanonicalMapping
        }
        self.templates = all
        self.storm = storm.precomposedStringWithCanonicalMapping
    }

    public static let defaults: [String: String] = [
        "raised": "{brand}: CẢNH BÁO {severity}: {kind} {device} tại {place} từ {since}. {detail}",
        "raised.major": "{brand}: KHẨN - {kind} {device} tại {place} từ {since}. {detail} Đề nghị kiểm tra ngay.",
        "escalated": "{brand}: CHƯA AI XỬ LÝ (báo cấp {level}): {kind} {device} tại {place} từ {since}. Đề nghị xác nhận trên bảng điều khiển.",
        "cleared": "{brand}: ĐÃ HẾT: {kind} {device} tại {place}.",
        "raised.village_outage": "{brand}: CẢNH BÁO: mất điện hoặc mất mạng tại {place} từ {since} ({detail}).",
    ]
    public static let defaultStorm = "{brand}: {count} cảnh báo cùng lúc tại {places}: {kinds}. Xem bảng điều khiển WardFleet."

    func template(_ event: SMSEvent, _ kind: AlarmKind, _ severity: AlarmSeverity) -> String {
        let e = event.rawValue
        return templates["\(e).\(kind.rawValue).\(severity.rawValue)"] ?? templates["\(e).\(kind.rawValue)"]
            ?? templates["\(e).\(severity.rawValue)"] ?? templates[e] ?? "{brand}: {kind} {device} {place}"
    }
}

/// How texts are written and limited.
public struct SMSPolicy: Sendable, Codable, Hashable {
    /// Sender name shown on the phone (a registered brand name) and used as {brand}.
    public var brand: String
    /// Write without diacritics: GSM-7, 160 characters a part instead of 70 (cheaper on most gateways).
    public var unaccented: Bool
    /// At most this many texts to one number in any hour; what waits goes out as one summary.
    public var perRecipientPerHour: Int
    /// More than this many alarms for one number within `stormWindow`: one summary instead.
    public var stormThreshold: Int
    public var stormWindow: TimeInterval
    /// An alarm unacknowledged this long goes to the next level's contacts, and so on; nil: never.
    public var escalateAfter: TimeInterval?
    /// Only alarms at least this severe are texted.
    public var minSeverity: AlarmSeverity
    /// Tell those texted when the alarm is over.
    public var notifyCleared: Bool
    /// Longest text in characters (gateways split long ones into parts, each charged).
    public var maxLength: Int

    public init(brand: String = "WardFleet", unaccented: Bool = false, perRecipientPerHour: Int = 10, stormThreshold: Int = 3,
                stormWindow: TimeInterval = 300, escalateAfter: TimeInterval? = 900, minSeverity: AlarmSeverity = .minor,
                notifyCleared: Bool = true, maxLength: Int = 320) {
        self.brand = brand
        self.unaccented = unaccented
        self.perRecipientPerHour = perRecipientPerHour
        self.stormThreshold = stormThreshold
        self.stormWindow = stormWindow
        self.escalateAfter = escalateAfter
        self.minSeverity = minSeverity
        self.notifyCleared = notifyCleared
        self.maxLength = maxLength
    }
}

/// "không dấu": Vietnamese without diacritics (đ → d), for GSM-7 gateways.
public enum Unaccented {
    public static func text(_ s: String) -> String {
        var out = ""
        for scalar in s.decomposedStringWithCanonicalMapping.unicodeScalars {
            switch scalar {
            case "đ": out.append("d")
            case "Đ": out.append("D")
            case "\u{0300}"..."\u{036F}": continue  // combining marks
            case "–", "—": out.append("-")
            case "‘", "’": out.append("'")
            case "“", "”": out.append("\"")
            case "…": out.append("...")
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Characters a text costs as SMS parts: 160/153 per part in GSM-7, 70/67 in UCS-2.
    public static func parts(_ s: String) -> Int {
        let gsm = s.unicodeScalars.allSatisfy { $0.isASCII }
        let n = gsm ? s.unicodeScalars.count : s.utf16.count
        let (single, multi) = gsm ? (160, 153) : (70, 67)
        return n <= single ? 1 : (n + multi - 1) / multi
    }
}

/// One alarm as the SMS planner sees it, with the words for its placeholders.
public struct SMSAlarm: Sendable, Hashable {
    public var alarm: Alarm
    /// "Nhà văn hóa thôn Đông, Thôn Đông, Xã Duy Phước"
    public var place: String
    /// The village or commune name a storm summary lists.
    public var area: String

    public init(alarm: Alarm, place: String, area: String) {
        self.alarm = alarm
        self.place = place
        self.area = area
    }
}

/// A text already queued for a number, as the planner needs it back (from the outbox).
public struct SMSSent: Sendable, Hashable {
    public var recipient: PhoneNumber
    public var at: Date
    /// The alarms it covered, each with the event and level: escalation and "cleared" read these.
    public var covers: [Coverage]

    public struct Coverage: Sendable, Hashable {
        public var alarmID: Int64
        public var event: SMSEvent
        public var level: Int
        public init(alarmID: Int64, event: SMSEvent, level: Int) {
            self.alarmID = alarmID
            self.event = event
            self.level = level
        }
    }

    public init(recipient: PhoneNumber, at: Date, covers: [Coverage]) {
        self.recipient = recipient
        self.at = at
        self.covers = covers
    }
}

/// A text to queue.
public struct SMSMessage: Sendable, Hashable {
    public var recipient: PhoneNumber
    public var text: String
    public var covers: [SMSSent.Coverage]
    /// One alarm's message, or a storm or rate-limit summary.
    public var isSummary: Bool
}

public enum SMSPlanner {
    /// What one alarm still owes which contact: its level-0 message, an escalation due by now, or
    /// "cleared" to those who were told. Acknowledged alarms escalate no further.
    public static func owed(_ a: SMSAlarm, contacts: [SMSContact], sent: [SMSSent], policy: SMSPolicy, now: Date)
        -> [(contact: SMSContact, coverage: SMSSent.Coverage)] {
        guard let id = a.alarm.id, a.alarm.severity <= policy.minSeverity else { return [] }
        let mine = contacts.filter { $0.commune == nil || $0.commune == a.alarm.communeID }
        let told = sent.flatMap { s in s.covers.filter { $0.alarmID == id }.map { (s.recipient, $0) } }
        var out: [(SMSContact, SMSSent.Coverage)] = []
        if a.alarm.clearedAt != nil {
            guard policy.notifyCleared else { return [] }
            let reached = Set(told.filter { $0.1.event != .cleared }.map(\.0))
            let done = Set(told.filter { $0.1.event == .cleared }.map(\.0))
            for c in mine where reached.contains(c.phone) && !done.contains(c.phone) {
                out.append((c, .init(alarmID: id, event: .cleared, level: c.level)))
            }
            return out
        }
        let levels = Set(mine.map(\.level)).sorted()
        guard !levels.isEmpty else { return [] }
        // Level index due by now: the first at once, the next after each `escalateAfter` unacknowledged.
        var due = 0
        if a.alarm.ackedAt == nil, let after = policy.escalateAfter, after > 0 {
            due = min(levels.count - 1, Int(now.timeIntervalSince(a.alarm.raisedAt) / after))
        } else if a.alarm.ackedAt != nil {
            // Acknowledged: no new level; the ones already reached stay as they are.
            due = told.map { $0.1.level }.compactMap { levels.firstIndex(of: $0) }.max() ?? 0
        }
        let reachedNumbers = Set(told.map(\.0))
        for (index, level) in levels.enumerated() where index <= due {
            for c in mine where c.level == level && !reachedNumbers.contains(c.phone) {
                // An acknowledged alarm nobody was told of yet is not worth a text any more.
                if a.alarm.ackedAt != nil, told.isEmpty { continue }
                out.append((c, .init(alarmID: id, event: index == 0 ? .raised : .escalated, level: level)))
            }
        }
        return out
    }

    /// Everything to text now: per number, each alarm's own message while within the limits, or
    /// one summary when a storm (more than `stormThreshold` alarms within `stormWindow`) or the
    /// hourly limit would be passed. With the hourly limit used up, nothing goes now: the owed
    /// messages stay owed and go out as one summary when a slot frees.
    public static func plan(alarms: [SMSAlarm], contacts: [SMSContact], sent: [SMSSent], policy: SMSPolicy,
                            templates: SMSTemplates, now: Date) -> [SMSMessage] {
        var owedBy: [PhoneNumber: [(SMSAlarm, SMSSent.Coverage)]] = [:]
        for a in alarms {
            for (c, cov) in owed(a, contacts: contacts, sent: sent, policy: policy, now: now) { owedBy[c.phone, default: []].append((a, cov)) }
        }
        var out: [SMSMessage] = []
        for phone in owedBy.keys.sorted(by: { $0.value < $1.value }) {
            let items = owedBy[phone]!.sorted { ($0.0.alarm.raisedAt, $0.0.alarm.id ?? 0) < ($1.0.alarm.raisedAt, $1.0.alarm.id ?? 0) }
            let mine = sent.filter { $0.recipient == phone }
            let lastHour = mine.filter { now.timeIntervalSince($0.at) < 3600 }.count
            let slots = policy.perRecipientPerHour - lastHour
            guard slots > 0 else { continue }
            let inWindow = mine.filter { now.timeIntervalSince($0.at) < policy.stormWindow }.flatMap(\.covers).count
            let storm = inWindow + items.count > policy.stormThreshold
            if items.count == 1 || (!storm && items.count <= slots) {
                for (a, cov) in items {
                    out.append(SMSMessage(recipient: phone, text: render(a, cov, policy: policy, templates: templates),
                                          covers: [cov], isSummary: false))
                }
            } else {
                out.append(SMSMessage(recipient: phone, text: summary(items.map { ($0.0, $0.1.event) }, policy: policy, templates: templates),
                                      covers: items.map(\.1), isSummary: true))
            }
        }
        return out
    }

    public static func render(_ a: SMSAlarm, _ cov: SMSSent.Coverage, policy: SMSPolicy, templates: SMSTemplates) -> String {
        let al = a.alarm
        let template = templates.template(cov.event, al.kind, al.severity)
        let values = [
            "event": cov.event.rawValue, "kind": al.kind.vietnamese, "severity": al.severity.vietnamese, "device": al.deviceID ?? "",
            "place": a.place, "since": LocalCalendar.vietnam.display(al.since), "detail": al.detail, "level": String(cov.level + 1),
            "brand": policy.brand,
        ]
        return finish(fill(template, values), policy)
    }

    public static func summary(_ items: [(SMSAlarm, SMSEvent)], policy: SMSPolicy, templates: SMSTemplates) -> String {
        var kinds: [String: Int] = [:]
        var order: [String] = []
        for (a, e) in items {
            let k = e == .cleared ? "\(a.alarm.kind.vietnamese) (đã hết)" : a.alarm.kind.vietnamese
            if kinds[k] == nil { order.append(k) }
            kinds[k, default: 0] += 1
        }
        var areas: [String] = []
        for (a, _) in items where !areas.contains(a.area) { areas.append(a.area) }
        let values = [
            "count": String(items.count), "kinds": order.map { "\(kinds[$0]!) \($0)" }.joined(separator: ", "),
            "places": areas.prefix(3).joined(separator: ", ") + (areas.count > 3 ? " và \(areas.count - 3) nơi khác" : ""),
            "brand": policy.brand,
        ]
        return finish(fill(templates.storm, values), policy)
    }

    static func fill(_ template: String, _ values: [String: String]) -> String {
        var s = template
        for (k, v) in values { s = s.replacingOccurrences(of: "{\(k)}", with: v) }
        // Empty placeholders leave no double spaces or dangling punctuation.
        while s.contains("  ") { s = s.replacingOccurrences(of: "  ", with: " ") }
        return s.replacingOccurrences(of: " .", with: ".").trimmingCharacters(in: .whitespaces)
    }

    static func finish(_ s: String, _ policy: SMSPolicy) -> String {
        var t = policy.unaccented ? Unaccented.text(s) : s.precomposedStringWithCanonicalMapping
        if t.count > policy.maxLength { t = String(t.prefix(policy.maxLength - 1)) + "…" }
        if policy.unaccented, t.hasSuffix("…") { t = String(t.dropLast()) + "..." }
        return t
    }
}
