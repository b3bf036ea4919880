import Foundation

/// A CAP 1.2 alert written as XML, elements in the order the CAP schema gives them, so that reading it
/// back (`CAPXML.alert`) gives the same alert. WardFleet writes one when an approver updates a warning
/// from the console or the API: the update is an ordinary CAP Update and takes the path every
/// Update takes (targeting, policy, speech, replacing the queued repeats).
public enum CAPWriter {
    public static func xml(_ a: CAPAlert) -> String {
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"\(CAPAlert.namespace)\">\n"
        func el(_ name: String, _ value: String?, indent: Int = 1) {
            guard let value else { return }
            x += String(repeating: "  ", count: indent) + "<\(name)>\(escape(value))</\(name)>\n"
        }
        func pair(_ name: String, _ p: CAPValuePair, indent: Int) {
            let pad = String(repeating: "  ", count: indent)
            x += "\(pad)<\(name)>\n"
            el("valueName", p.valueName, indent: indent + 1)
            el("value", p.value, indent: indent + 1)
            x += "\(pad)</\(name)>\n"
        }
        el("identifier", a.identifier)
        el("sender", a.sender)
        el("sent", a.sent.text)
        el("status", a.status.rawValue)
        el("msgType", a.msgType.rawValue)
        el("source", a.source)
        el("scope", a.scope.rawValue)
        el("restriction", a.restriction)
        el("addresses", a.addresses)
        for c in a.codes { el("code", c) }
        el("note", a.note)
        if !a.references.isEmpty {
            el("references", a.references.map { "\($0.sender),\($0.identifier),\($0.sent.text)" }.joined(separator: " "))
        }
        el("incidents", a.incidents)
        for i in a.infos {
            x += "  <info>\n"
            el("language", i.language, indent: 2)
            for c in i.categories { el("category", c.rawValue, indent: 2) }
            el("event", i.event, indent: 2)
            for r in i.responseTypes { el("responseType", r.rawValue, indent: 2) }
            el("urgency", i.urgency.rawValue, indent: 2)
            el("severity", i.severity.rawValue, indent: 2)
            el("certainty", i.certainty.rawValue, indent: 2)
            for c in i.eventCodes { pair("eventCode", c, indent: 2) }
            el("effective", i.effective?.text, indent: 2)
            el("onset", i.onset?.text, indent: 2)
            el("expires", i.expires?.text, indent: 2)
            el("senderName", i.senderName, indent: 2)
            el("headline", i.headline, indent: 2)
            el("description", i.description, indent: 2)
            el("instruction", i.instruction, indent: 2)
            for p in i.parameters { pair("parameter", p, indent: 2) }
            for r in i.resources {
                x += "    <resource>\n"
                el("resourceDesc", r.resourceDesc, indent: 3)
                el("mimeType", r.mimeType, indent: 3)
                el("size", r.size.map(String.init), indent: 3)
                el("uri", r.uri, indent: 3)
                el("digest", r.digest, indent: 3)
                x += "    </resource>\n"
            }
            for area in i.areas {
                x += "    <area>\n"
                el("areaDesc", area.areaDesc, indent: 3)
                for p in area.polygons { el("polygon", p.points.map(point).joined(separator: " "), indent: 3) }
                for c in area.circles { el("circle", "\(point(c.centre)) \(number(c.radiusKm))", indent: 3) }
                for g in area.geocodes { pair("geocode", g, indent: 3) }
                x += "    </area>\n"
            }
            x += "  </info>\n"
        }
        x += "</alert>\n"
        return x
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"  // kept, not folded into a line feed by the reader
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func point(_ c: Coordinate) -> String { "\(number(c.latitude)),\(number(c.longitude))" }

    /// A decimal without an exponent (CAP's WGS 84 values are plain decimals), as short as reads back exactly.
    static func number(_ v: Double) -> String {
        let plain = "\(v)"
        guard plain.contains("e") else { return plain.hasSuffix(".0") ? String(plain.dropLast(2)) : plain }
        var digits = 17
        while digits < 40, Double(String(format: "%.\(digits)f", v)) != v { digits += 1 }
        return String(format: "%.\(digits)f", v)
    }
}
