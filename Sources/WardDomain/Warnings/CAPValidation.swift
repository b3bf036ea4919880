import Foundation

/// An XML element as read: local name, its text (character data, CDATA included), children in order.
/// What `CAPXML.read` produces and `CAPAlert(validating:)` checks; tests build it directly too.
public struct XMLElementNode: Sendable, Hashable {
    public var name: String
    public var namespace: String?
    public var text: String
    public var children: [XMLElementNode]
    public var attributes: [String: String] = [:]

    public init(_ name: String, namespace: String? = nil, text: String = "", children: [XMLElementNode] = []) {
        self.name = name
        self.namespace = namespace
        self.text = text
        self.children = children
    }

    public func all(_ name: String) -> [XMLElementNode] { children.filter { $0.name == name } }
}

extension CAPAlert {
    public static let namespace = "urn:oasis:names:tc:emergency:cap:1.2"

    /// CAP 1.2's rules (OASIS CAP 1.2 §3.2): required elements, enumerations, times with their zone,
    /// restriction/addresses for Restricted/Private scope, well-formed references, polygons and circles.
    /// Update and Cancel must reference what they act on. Unknown elements are ignored, as CAP allows.
    public init(validating root: XMLElementNode) throws(CAPError) {
        guard root.name == "alert" else { throw CAPError(.notCAP12, root.name, "phần tử gốc phải là alert / root must be alert") }
        guard root.namespace == Self.namespace else {
            throw CAPError(.notCAP12, "alert", "xmlns phải là \(Self.namespace) / xmlns must be \(Self.namespace)")
        }
        let r = Reader(node: root, path: "alert")
        let identifier = try r.required("identifier")
        try Self.checkNoSpaceOrComma(identifier, r.path + "/identifier")
        let sender = try r.required("sender")
        try Self.checkNoSpaceOrComma(sender, r.path + "/sender")
        let sent = try r.time("sent")!
        let status: CAPStatus = try r.enumeration("status")!
        let msgType: CAPMsgType = try r.enumeration("msgType")!
        let scope: CAPScope = try r.enumeration("scope")!
        let restriction = try r.optional("restriction")
        let addresses = try r.optional("addresses")
        if scope == .restricted && restriction == nil { throw CAPError(.missing, r.path + "/restriction", "") }
        if scope == .private && addresses == nil { throw CAPError(.missing, r.path + "/addresses", "") }
        var references: [CAPReference] = []
        if let text = try r.optional("references") {
            for entry in text.split(whereSeparator: \.isWhitespace) {
                let f = entry.split(separator: ",", omittingEmptySubsequences: false)
                guard f.count == 3, !f[0].isEmpty, !f[1].isEmpty else {
                    throw CAPError(.value, r.path + "/references", "mỗi mục là \"sender,identifier,sent\" / each entry is sender,identifier,sent")
                }
                guard let t = CAPTime.parse(String(f[2])) else { throw CAPError(.time, r.path + "/references", String(f[2])) }
                references.append(CAPReference(sender: String(f[0]), identifier: String(f[1]), sent: t))
            }
        }
        if (msgType == .update || msgType == .cancel) && references.isEmpty {
            throw CAPError(.missing, r.path + "/references", "")
        }
        var infos: [CAPInfo] = []
        for (i, node) in root.all("info").enumerated() {
            infos.append(try Self.info(node, path: "alert/info[\(i + 1)]"))
        }
        self.init(identifier: identifier, sender: sender, sent: sent, status: status, msgType: msgType,
                  source: try r.optional("source"), scope: scope, restriction: restriction, addresses: addresses,
                  codes: root.all("code").map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) },
                  note: try r.optional("note"), references: references, incidents: try r.optional("incidents"), infos: infos)
    }

    /// CAP: identifier and sender "MUST NOT include spaces, commas or restricted characters (< and &)".
    static func checkNoSpaceOrComma(_ s: String, _ path: String) throws(CAPError) {
        if s.contains(where: { $0.isWhitespace || $0 == "," || $0 == "<" || $0 == "&" }) {
            throw CAPError(.value, path, "không được chứa khoảng trắng, dấu phẩy, < hoặc & / may not contain spaces, commas, < or &")
        }
    }

    static func info(_ node: XMLElementNode, path: String) throws(CAPError) -> CAPInfo {
        let r = Reader(node: node, path: path)
        let categories: [CAPCategory] = try r.enumerations("category")
        guard !categories.isEmpty else { throw CAPError(.missing, path + "/category", "") }
        let event = try r.required("event")
        let responseTypes: [CAPResponseType] = try r.enumerations("responseType")
        let urgency: CAPUrgency = try r.enumeration("urgency")!
        let severity: CAPSeverity = try r.enumeration("severity")!
        let certainty: CAPCertainty = try r.enumeration("certainty")!
        var resources: [CAPResource] = []
        for (i, n) in node.all("resource").enumerated() {
            let rr = Reader(node: n, path: "\(path)/resource[\(i + 1)]")
            let sizeText = try rr.optional("size")
            var size: Int?
            if let sizeText {
                guard let s = Int(sizeText), s >= 0 else { throw CAPError(.value, rr.path + "/size", "phải là số nguyên / must be an integer") }
                size = s
            }
            resources.append(CAPResource(resourceDesc: try rr.required("resourceDesc"), mimeType: try rr.required("mimeType"), size: size,
                                         uri: try rr.optional("uri"), digest: try rr.optional("digest")))
        }
        var areas: [CAPArea] = []
        for (i, n) in node.all("area").enumerated() {
            let ap = "\(path)/area[\(i + 1)]"
            let ar = Reader(node: n, path: ap)
            let desc = try ar.required("areaDesc")
            var polygons: [GeoPolygon] = []
            for (k, p) in n.all("polygon").enumerated() {
                switch GeoPolygon.parse(p.text) {
                case .success(let g): polygons.append(g)
                case .failure(let e): throw CAPError(.value, "\(ap)/polygon[\(k + 1)]", e.description)
                }
            }
            var circles: [GeoCircle] = []
            for (k, c) in n.all("circle").enumerated() {
                switch GeoCircle.parse(c.text) {
                case .success(let g): circles.append(g)
                case .failure(let e): throw CAPError(.value, "\(ap)/circle[\(k + 1)]", e.description)
                }
            }
            areas.append(CAPArea(areaDesc: desc, polygons: polygons, circles: circles,
                                 geocodes: try Self.pairs(n, "geocode", path: ap)))
        }
        return CAPInfo(language: try r.optional("language") ?? "en-US", categories: categories, event: event, responseTypes: responseTypes,
                       urgency: urgency, severity: severity, certainty: certainty, eventCodes: try Self.pairs(node, "eventCode", path: path),
                       effective: try r.time("effective", required: false), onset: try r.time("onset", required: false),
                       expires: try r.time("expires", required: false), senderName: try r.optional("senderName"),
                       headline: try r.optional("headline"), description: try r.optional("description"),
                       instruction: try r.optional("instruction"), parameters: try Self.pairs(node, "parameter", path: path),
                       resources: resources, areas: areas)
    }

    static func pairs(_ node: XMLElementNode, _ name: String, path: String) throws(CAPError) -> [CAPValuePair] {
        var out: [CAPValuePair] = []
        for (i, n) in node.all(name).enumerated() {
            let r = Reader(node: n, path: "\(path)/\(name)[\(i + 1)]")
            out.append(CAPValuePair(valueName: try r.required("valueName"), value: try r.optional("value") ?? ""))
        }
        return out
    }

    /// Reads single children of one element, refusing a repeated one.
    struct Reader {
        let node: XMLElementNode
        let path: String

        func single(_ name: String) throws(CAPError) -> XMLElementNode? {
            let found = node.all(name)
            guard found.count <= 1 else { throw CAPError(.repeated, "\(path)/\(name)", "") }
            return found.first
        }

        func optional(_ name: String) throws(CAPError) -> String? {
            guard let n = try single(name) else { return nil }
            let t = n.text.trimmingCharacters(in: .whitespacesAndNewlines).nfc
            return t.isEmpty ? nil : t
        }

        func required(_ name: String) throws(CAPError) -> String {
            guard let t = try optional(name) else { throw CAPError(.missing, "\(path)/\(name)", "") }
            return t
        }

        func enumeration<E: RawRepresentable>(_ name: String) throws(CAPError) -> E? where E.RawValue == String {
            let t = try required(name)
            guard let v = E(rawValue: t) else { throw CAPError(.enumeration, "\(path)/\(name)", String(t.prefix(40))) }
            return v
        }

        func enumerations<E: RawRepresentable>(_ name: String) throws(CAPError) -> [E] where E.RawValue == String {
            var out: [E] = []
            for n in node.all(name) {
                let t = n.text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let v = E(rawValue: t) else { throw CAPError(.enumeration, "\(path)/\(name)", String(t.prefix(40))) }
                out.append(v)
            }
            return out
        }

        func time(_ name: String, required: Bool = true) throws(CAPError) -> CAPTime? {
            let t = required ? try self.required(name) : try optional(name)
            guard let t else { return nil }
            guard let v = CAPTime.parse(t) else { throw CAPError(.time, "\(path)/\(name)", String(t.prefix(40))) }
            return v
        }
    }
}
