import Foundation

// OASIS Common Alerting Protocol 1.2 (ITU-T X.1303): the alert as WardFleet keeps it, and the rules
// CAP 1.2 sets for it. An element tree read from XML (CAPXML.swift) becomes a `CAPAlert` only through
// `CAPAlert(validating:)`, and every refusal names the element at fault ("alert/info[1]/urgency").

public enum CAPStatus: String, Sendable, Codable, CaseIterable {
    case actual = "Actual", exercise = "Exercise", system = "System", test = "Test", draft = "Draft"

    /// Only an Actual alert ever goes on air; an Exercise runs as a drill shown as one.
    public var goesOnAir: Bool { self == .actual }
}

public enum CAPMsgType: String, Sendable, Codable, CaseIterable {
    case alert = "Alert", update = "Update", cancel = "Cancel", ack = "Ack", error = "Error"
}

public enum CAPScope: String, Sendable, Codable, CaseIterable {
    case `public` = "Public", restricted = "Restricted", `private` = "Private"
}

public enum CAPCategory: String, Sendable, Codable, CaseIterable {
    case geo = "Geo", met = "Met", safety = "Safety", security = "Security", rescue = "Rescue", fire = "Fire",
         health = "Health", env = "Env", transport = "Transport", infra = "Infra", cbrne = "CBRNE", other = "Other"
}

public enum CAPResponseType: String, Sendable, Codable, CaseIterable {
    case shelter = "Shelter", evacuate = "Evacuate", prepare = "Prepare", execute = "Execute", avoid = "Avoid",
         monitor = "Monitor", assess = "Assess", allClear = "AllClear", none = "None"
}

public enum CAPUrgency: String, Sendable, Codable, CaseIterable {
    case immediate = "Immediate", expected = "Expected", future = "Future", past = "Past", unknown = "Unknown"
}

public enum CAPSeverity: String, Sendable, Codable, CaseIterable {
    case extreme = "Extreme", severe = "Severe", moderate = "Moderate", minor = "Minor", unknown = "Unknown"
}

public enum CAPCertainty: String, Sendable, Codable, CaseIterable {
    case observed = "Observed", likely = "Likely", possible = "Possible", unlikely = "Unlikely", unknown = "Unknown"
}

/// A CAP dateTime: "2026-09-06T16:49:00+07:00". The instant, and the zone offset it was written with.
public struct CAPTime: Sendable, Hashable, Codable, Comparable {
    public var date: Date
    /// Seconds east of UTC as written.
    public var offset: Int

    public init(date: Date, offset: Int) {
        self.date = date
        self.offset = offset
    }

    public static func < (a: CAPTime, b: CAPTime) -> Bool { a.date < b.date }

    /// CAP 1.2 §3.3.2: `YYYY-MM-DDThh:mm:ss±hh:mm`, the zone required. "-00:00" is UTC. An alphabetic
    /// "Z", which CAP forbids but feeds do send, is read as UTC rather than losing a warning over it.
    /// Fractional seconds and times without a zone are refused.
    public static func parse(_ text: String) -> CAPTime? {
        let b = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard b.count == 25 || b.count == 20 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2)
        else { return nil }
        var offset = 0
        if b.count == 20 {
            guard b[19] == 0x5A else { return nil }  // "Z"
        } else {
            guard b[19] == 0x2B || b[19] == 0x2D, b[22] == 0x3A, let oh = num(20, 2), let om = num(23, 2), oh <= 14, om < 60
            else { return nil }
            offset = (oh * 3600 + om * 60) * (b[19] == 0x2D ? -1 : 1)
        }
        guard y >= 1970, (1...12).contains(mo), d >= 1, d <= daysIn(month: mo, year: y), h < 24, mi < 60, s < 60 else { return nil }
        let days = daysFromCivil(y, mo, d)
        let seconds = days * 86_400 + h * 3600 + mi * 60 + s - offset
        return CAPTime(date: Date(timeIntervalSince1970: TimeInterval(seconds)), offset: offset)
    }

    /// As CAP writes it, in the zone it was written with.
    public var text: String {
        let local = Int(date.timeIntervalSince1970.rounded(.down)) + offset
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secs = local - days * 86_400
        let (y, m, d) = Self.civil(fromDays: days)
        let sign = offset < 0 ? "-" : "+"
        let o = abs(offset)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d%@%02d:%02d", y, m, d, secs / 3600, secs % 3600 / 60, secs % 60,
                      sign, o / 3600, o % 3600 / 60)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

/// `valueName` / `value`: eventCode, parameter, geocode.
public struct CAPValuePair: Sendable, Hashable, Codable {
    public var valueName: String
    public var value: String
    public init(valueName: String, value: String) {
        self.valueName = valueName
        self.value = value
    }
}

/// One entry of `references`: "sender,identifier,sent".
public struct CAPReference: Sendable, Hashable, Codable {
    public var sender: String
    public var identifier: String
    public var sent: CAPTime
    public init(sender: String, identifier: String, sent: CAPTime) {
        self.sender = sender
        self.identifier = identifier
        self.sent = sent
    }
}

public struct CAPResource: Sendable, Hashable, Codable {
    public var resourceDesc: String
    public var mimeType: String
    public var size: Int?
    public var uri: String?
    public var digest: String?
}

public struct CAPArea: Sendable, Hashable, Codable {
    public var areaDesc: String
    public var polygons: [GeoPolygon]
    public var circles: [GeoCircle]
    public var geocodes: [CAPValuePair]

    public init(areaDesc: String, polygons: [GeoPolygon] = [], circles: [GeoCircle] = [], geocodes: [CAPValuePair] = []) {
        self.areaDesc = areaDesc.nfc
        self.polygons = polygons
        self.circles = circles
        self.geocodes = geocodes
    }
}

public struct CAPInfo: Sendable, Hashable, Codable {
    /// RFC 3066 tag; CAP's default is "en-US".
    public var language: String
    public var categories: [CAPCategory]
    public var event: String
    public var responseTypes: [CAPResponseType]
    public var urgency: CAPUrgency
    public var severity: CAPSeverity
    public var certainty: CAPCertainty
    public var eventCodes: [CAPValuePair]
    public var effective: CAPTime?
    public var onset: CAPTime?
    public var expires: CAPTime?
    public var senderName: String?
    public var headline: String?
    public var description: String?
    public var instruction: String?
    public var parameters: [CAPValuePair]
    public var resources: [CAPResource]
    public var areas: [CAPArea]

    public init(language: String = "en-US", categories: [CAPCategory], event: String, responseTypes: [CAPResponseType] = [],
                urgency: CAPUrgency, severity: CAPSeverity, certainty: CAPCertainty, eventCodes: [CAPValuePair] = [],
                effective: CAPTime? = nil, onset: CAPTime? = nil, expires: CAPTime? = nil, senderName: String? = nil,
                headline: String? = nil, description: String? = nil, instruction: String? = nil,
                parameters: [CAPValuePair] = [], resources: [CAPResource] = [], areas: [CAPArea] = []) {
        self.language = language
        self.categories = categories
        self.event = event.nfc
        self.responseTypes = responseTypes
        self.urgency = urgency
        self.severity = severity
        self.certainty = certainty
        self.eventCodes = eventCodes
        self.effective = effective
        self.onset = onset
        self.expires = expires
        self.senderName = senderName?.nfc
        self.headline = headline?.nfc
        self.description = description?.nfc
        self.instruction = instruction?.nfc
        self.parameters = parameters
        self.resources = resources
        self.areas = areas
    }

    /// Vietnamese: "vi" or "vi-VN" (any case).
    public var isVietnamese: Bool {
        let l = language.lowercased()
        return l == "vi" || l.hasPrefix("vi-")
    }

    public func parameter(_ name: String) -> String? {
        parameters.first { $0.valueName.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

public struct CAPAlert: Sendable, Hashable, Codable {
    public var identifier: String
    public var sender: String
    public var sent: CAPTime
    public var status: CAPStatus
    public var msgType: CAPMsgType
    public var source: String?
    public var scope: CAPScope
    public var restriction: String?
    public var addresses: String?
    public var codes: [String]
    public var note: String?
    public var references: [CAPReference]
    public var incidents: String?
    public var infos: [CAPInfo]

    public init(identifier: String, sender: String, sent: CAPTime, status: CAPStatus, msgType: CAPMsgType, source: String? = nil,
                scope: CAPScope, restriction: String? = nil, addresses: String? = nil, codes: [String] = [], note: String? = nil,
                references: [CAPReference] = [], incidents: String? = nil, infos: [CAPInfo] = []) {
        self.identifier = identifier
        self.sender = sender
        self.sent = sent
        self.status = status
        self.msgType = msgType
        self.source = source
        self.scope = scope
        self.restriction = restriction
        self.addresses = addresses
        self.codes = codes
        self.note = note?.nfc
        self.references = references
        self.incidents = incidents
        self.infos = infos
    }

    /// The info read aloud: the first Vietnamese one, else none (a warning is not read in another language).
    public var vietnameseInfo: CAPInfo? { infos.first(where: \.isVietnamese) }

    /// The latest `expires` of its infos; nil when none sets one.
    public var expires: CAPTime? { infos.compactMap(\.expires).max() }
}

/// Why an alert was refused, with the element at fault. `reason` is the metrics label.
public struct CAPError: Refusal, Equatable {
    public enum Reason: String, Sendable, CaseIterable {
        case tooLarge = "too_large"
        case doctype = "doctype"
        case malformed = "malformed_xml"
        case notCAP12 = "not_cap_1_2"
        case missing = "missing_element"
        case enumeration = "bad_enumeration"
        case time = "bad_time"
        case value = "bad_value"
        case repeated = "repeated_element"
    }

    public var reason: Reason
    /// Path of the element: "alert/info[2]/area[1]/polygon".
    public var element: String
    public var detail: String

    public init(_ reason: Reason, _ element: String, _ detail: String) {
        self.reason = reason
        self.element = element
        self.detail = detail
    }

    /// Both halves name the element, so the message in either language says where the fault is.
    public var description: String {
        let d = Bilingual.split(detail)
        let (vi, en): (String, String) = switch reason {
        case .tooLarge: ("cảnh báo quá lớn: \(d.vi)", "alert too large: \(d.en)")
        case .doctype: ("không chấp nhận khai báo DTD/ENTITY", "DTD and entity declarations are refused")
        case .malformed: ("XML không hợp lệ: \(d.vi)", "malformed XML: \(d.en)")
        case .notCAP12: ("không phải cảnh báo CAP 1.2: \(d.vi)", "not a CAP 1.2 alert: \(d.en)")
        case .missing: ("thiếu phần tử bắt buộc", "required element missing")
        case .enumeration: ("giá trị '\(detail)' không hợp lệ", "value '\(detail)' not allowed")
        case .time: ("thời gian '\(detail)' phải có dạng YYYY-MM-DDThh:mm:ss+hh:mm", "time '\(detail)' must be YYYY-MM-DDThh:mm:ss+hh:mm")
        case .value: (d.vi, d.en)
        case .repeated: ("chỉ được có một", "may appear only once")
        }
        return "\(element): \(vi) / \(element): \(en)"
    }
}
