import Foundation
import WardDomain
import Yams

/// Places and devices read from a file (YAML or CSV; docs/places-file.md).
public struct FleetFile: Sendable {
    public var places: [Place]
    public var devices: [Device]

    public init(places: [Place], devices: [Device]) {
        self.places = places
        self.devices = devices
    }

    /// The validated tree of this file's places.
    public func tree() throws -> PlaceTree { try PlaceTree(places) }

    /// The commune each device belongs to (the topic segment it publishes under).
    public func communeOfDevices() throws -> [String: String] {
        let t = try tree()
        var out: [String: String] = [:]
        for d in devices { out[d.id] = t.ancestor(of: d.siteID, at: .commune)?.id }
        return out
    }
}

public struct FleetFileError: Refusal {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}

/// "dòng N: … / line N: …": the line number in each language's half, so either reads whole.
func atLine(_ n: Int, _ message: String) -> String {
    let (vi, en) = Bilingual.split(message)
    return "dòng \(n): \(vi) / line \(n): \(en)"
}

public enum FleetFileReader {
    /// Reads `path`; the format follows the extension (.yaml/.yml or .csv).
    public static func read(path: String, registeredAt: Date) throws -> FleetFile {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FleetFileError(file: path, message: "không đọc được tệp / cannot read file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw FleetFileError(file: path, message: "tệp không phải UTF-8 / file is not UTF-8")
        }
        switch url.pathExtension.lowercased() {
        case "yaml", "yml": return try parseYAML(text.nfc, file: path, registeredAt: registeredAt)
        case "csv": return try parseCSV(text.nfc, file: path, registeredAt: registeredAt)
        default:
            throw FleetFileError(file: path, message: "định dạng không hỗ trợ, dùng .yaml hoặc .csv / unsupported format, use .yaml or .csv")
        }
    }

    // MARK: YAML

    struct DeviceNode: Decodable {
        var id: String
        var `class`: String
        var site: String?
        var model: String?
        var firmware: String?
        var installed: String?
        var required_retention_days: Int?
        var max_volume: Int?
        var kiosk_role: String?
    }
    struct SiteNode: Decodable {
        var id: String; var name: String; var kind: String; var lat: Double?; var lon: Double?
        var devices: [DeviceNode]?
    }
    struct VillageNode: Decodable {
        var id: String; var name: String; var kind: String?; var lat: Double?; var lon: Double?; var code: AdminCode?
        var sites: [SiteNode]?
    }
    struct CommuneNode: Decodable {
        var id: String; var name: String; var kind: String?; var lat: Double?; var lon: Double?; var code: AdminCode?
        var villages: [VillageNode]?; var sites: [SiteNode]?
    }
    struct DistrictNode: Decodable { var id: String; var name: String; var communes: [CommuneNode]? }
    struct ProvinceNode: Decodable {
        var id: String; var name: String; var code: AdminCode?; var districts: [DistrictNode]?; var communes: [CommuneNode]?
    }
    /// An administrative unit code (mã đơn vị hành chính): YAML reads `code: 22` as a number and `code: "00022"`
    /// as text; both are kept as written (leading zeros matter, so quote codes that have them).
    struct AdminCode: Decodable {
        var text: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { text = s } else { text = String(try c.decode(Int.self)) }
        }
    }
    struct Root: Decodable { var province: ProvinceNode?; var devices: [DeviceNode]? }

    public static func parseYAML(_ text: String, file: String = "<yaml>", registeredAt: Date) throws -> FleetFile {
        let root: Root
        do { root = try YAMLDecoder().decode(Root.self, from: text) } catch {
            throw FleetFileError(file: file, message: "YAML không hợp lệ / invalid YAML: \(describe(error))")
        }
        var places: [Place] = []
        var devices: [DeviceNode] = root.devices ?? []
        func coord(_ lat: Double?, _ lon: Double?) -> Coordinate? {
            guard let lat, let lon else { return nil }
            return Coordinate(latitude: lat, longitude: lon)
        }
        func code(_ c: AdminCode?, _ id: String) throws -> String? {
            guard let c else { return nil }
            guard let valid = Self.adminCode(c.text) else { throw FleetFileError(file: file, message: Self.badCode(id: id, c.text)) }
            return valid
        }
        func sites(_ list: [SiteNode]?, parent: String) throws {
            for s in list ?? [] {
                guard let kind = SiteKind(rawValue: s.kind) else {
                    throw FleetFileError(file: file, message: "\(s.id): loại điểm '\(s.kind)' không hợp lệ / unknown site kind; one of: "
                        + SiteKind.allCases.map(\.rawValue).joined(separator: ", "))
                }
                places.append(Place(id: s.id, level: .site, name: s.name, parentID: parent, siteKind: kind,
                                    coordinate: coord(s.lat, s.lon)))
                for var d in s.devices ?? [] {
                    d.site = d.site ?? s.id
                    devices.append(d)
                }
            }
        }
        func communes(_ list: [CommuneNode]?, parent: String) throws {
            for c in list ?? [] {
                places.append(Place(id: c.id, level: .commune, name: c.name, parentID: parent, kindLabel: c.kind,
                                    coordinate: coord(c.lat, c.lon), code: try code(c.code, c.id)))
                for v in c.villages ?? [] {
                    places.append(Place(id: v.id, level: .village, name: v.name, parentID: c.id, kindLabel: v.kind,
                                        coordinate: coord(v.lat, v.lon), code: try code(v.code, v.id)))
                    try sites(v.sites, parent: v.id)
                }
                try sites(c.sites, parent: c.id)
            }
        }
        if let p = root.province {
            places.append(Place(id: p.id, level: .province, name: p.name, code: try code(p.code, p.id)))
            for d in p.districts ?? [] {
                places.append(Place(id: d.id, level: .district, name: d.name, parentID: p.id))
                try communes(d.communes, parent: d.id)
            }
            try communes(p.communes, parent: p.id)
        }
        return FleetFile(places: places, devices: try devices.map { try device($0, file: file, registeredAt: registeredAt) })
    }

    static func device(_ n: DeviceNode, file: String, registeredAt: Date) throws -> Device {
        guard let cls = DeviceClass(rawValue: n.class) else {
            throw FleetFileError(file: file, message: "\(n.id): loại thiết bị '\(n.class)' không hợp lệ / unknown class; one of: "
                + DeviceClass.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let site = n.site, !site.isEmpty else {
            throw FleetFileError(file: file, message: "\(n.id): thiếu điểm lắp đặt (site) / missing site")
        }
        var installed: Date?
        if let text = n.installed, !text.isEmpty {
            guard let day = LocalCalendar.vietnam.day(named: text) else {
                throw FleetFileError(file: file, message: "\(n.id): ngày lắp đặt '\(text)' phải là YYYY-MM-DD / installed must be YYYY-MM-DD")
            }
            installed = day.start
        }
        var role: KioskRole?
        if let r = n.kiosk_role, !r.isEmpty {
            guard let k = KioskRole(rawValue: r) else {
                throw FleetFileError(file: file, message: "\(n.id): kiosk_role '\(r)' phải là queue, rating hoặc both / must be queue, rating or both")
            }
            role = k
        }
        return Device(id: n.id, deviceClass: cls, model: n.model ?? "", firmware: n.firmware ?? "", siteID: site,
                      installedOn: installed,
                      config: DeviceConfig(requiredRetentionDays: n.required_retention_days, maxVolume: n.max_volume,
                                           kioskRole: role),
                      registeredAt: registeredAt)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let k, let c): "thiếu / missing '\(k.stringValue)' at \(path(c.codingPath))"
        case DecodingError.typeMismatch(let t, let c): "sai kiểu / wrong type at \(path(c.codingPath)), expected \(t)"
        case DecodingError.valueNotFound(let t, let c): "thiếu giá trị / missing value at \(path(c.codingPath)), expected \(t)"
        case DecodingError.dataCorrupted(let c): "\(c.debugDescription) at \(path(c.codingPath))"
        default: "\(error)"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "<root>" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    // MARK: CSV

    /// An administrative unit code: 1–16 ASCII digits or letters (the national codes are digits: 2 for a
    /// province, 5 for a commune; villages have local ones). Nil when it is not one.
    static func adminCode(_ s: String) -> String? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard (1...16).contains(t.utf8.count), t.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) })
        else { return nil }
        return t
    }

    static func badCode(id: String, _ code: String) -> String {
        "\(id): mã đơn vị hành chính '\(code.prefix(20))' không hợp lệ (1–16 chữ số hoặc chữ cái, chỉ cho tỉnh, xã, thôn) / "
            + "invalid administrative unit code (1–16 digits or letters; provinces, communes and villages only)"
    }

    /// Places CSV: `level,id,name,parent,kind,lat,lon[,code]`. Devices CSV:
    /// `id,class,site,model,firmware,installed,required_retention_days,max_volume,kiosk_role`.
    public static func parseCSV(_ text: String, file: String = "<csv>", registeredAt: Date) throws -> FleetFile {
        let rows = try CSV.parse(text, file: file)
        guard let header = rows.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            return FleetFile(places: [], devices: [])
        }
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        if header.contains("level") {
            guard let li = column("level"), let ii = column("id"), let ni = column("name") else {
                throw FleetFileError(file: file, message: "cần các cột level,id,name / needs columns level,id,name")
            }
            var places: [Place] = []
            for row in rows.dropFirst() {
                func v(_ i: Int?) -> String? {
                    guard let i, i < row.fields.count else { return nil }
                    let s = row.fields[i].trimmingCharacters(in: .whitespaces)
                    return s.isEmpty ? nil : s
                }
                guard let levelText = v(li), let level = PlaceLevel(rawValue: levelText.lowercased()) else {
                    throw FleetFileError(file: file, message: atLine(row.line, "level phải là / must be one of "
                        + PlaceLevel.allCases.map(\.rawValue).joined(separator: ", ")))
                }
                var siteKind: SiteKind?, label: String?
                if let k = v(column("kind")) {
                    if level == .site {
                        guard let sk = SiteKind(rawValue: k) else {
                            throw FleetFileError(file: file, message: atLine(row.line, "loại điểm '\(k)' không hợp lệ / unknown site kind"))
                        }
                        siteKind = sk
                    } else { label = k }
                }
                var coordinate: Coordinate?
                if let la = v(column("lat")), let lo = v(column("lon")) {
                    guard let lat = Double(la), let lon = Double(lo) else {
                        throw FleetFileError(file: file, message: atLine(row.line, "tọa độ không phải số / coordinates are not numbers"))
                    }
                    coordinate = Coordinate(latitude: lat, longitude: lon)
                }
                var code: String?
                if let c = v(column("code")) {
                    guard level != .site, level != .district, let valid = Self.adminCode(c) else {
                        throw FleetFileError(file: file, message: atLine(row.line, Self.badCode(id: v(ii) ?? "", c)))
                    }
                    code = valid
                }
                places.append(Place(id: v(ii) ?? "", level: level, name: v(ni) ?? "", parentID: v(column("parent")),
                                    siteKind: siteKind, kindLabel: label, coordinate: coordinate, code: code))
            }
            return FleetFile(places: places, devices: [])
        }
        guard let ii = column("id"), let ci = column("class") else {
            throw FleetFileError(file: file, message: "cần cột level (địa điểm) hoặc id,class (thiết bị) / needs a level column (places) or id,class (devices)")
        }
        var devices: [Device] = []
        for row in rows.dropFirst() {
            func v(_ i: Int?) -> String? {
                guard let i, i < row.fields.count else { return nil }
                let s = row.fields[i].trimmingCharacters(in: .whitespaces)
                return s.isEmpty ? nil : s
            }
            func int(_ name: String) throws -> Int? {
                guard let s = v(column(name)) else { return nil }
                guard let n = Int(s) else {
                    throw FleetFileError(file: file, message: atLine(row.line, "\(name) '\(s)' không phải số nguyên / not an integer"))
                }
                return n
            }
            let node = DeviceNode(id: v(ii) ?? "", class: v(ci) ?? "", site: v(column("site")), model: v(column("model")),
                                  firmware: v(column("firmware")), installed: v(column("installed")),
                                  required_retention_days: try int("required_retention_days"),
                                  max_volume: try int("max_volume"), kiosk_role: v(column("kiosk_role")))
            do { devices.append(try device(node, file: file, registeredAt: registeredAt)) } catch let e as FleetFileError {
                throw FleetFileError(file: file, message: atLine(row.line, e.message))
            }
        }
        return FleetFile(places: [], devices: devices)
    }
}

/// RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. Rows keep their line numbers.
enum CSV {
    struct Row { var line: Int; var fields: [String] }

    static func parse(_ text: String, file: String) throws -> [Row] {
        var rows: [Row] = []
        var field = "", fields: [String] = []
        var inQuotes = false, line = 1, rowLine = 1
        var it = Array(text.unicodeScalars)[...]
        if it.first == "\u{FEFF}" { it = it.dropFirst() }  // Excel's BOM
        var i = it.startIndex
        func endRow() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty) { rows.append(Row(line: rowLine, fields: fields)) }
            fields = []
            field = ""
        }
        while i < it.endIndex {
            let c = it[i]
            if inQuotes {
                if c == "\"" {
                    if it.index(after: i) < it.endIndex && it[it.index(after: i)] == "\"" {
                        field.unicodeScalars.append("\"")
                        i = it.index(after: i)
                    } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "\"": inQuotes = true
                case ",": fields.append(field); field = ""
                case "\r": break
                case "\n":
                    endRow()
                    line += 1
                    rowLine = line
                default: field.unicodeScalars.append(c)
                }
            }
            i = it.index(after: i)
        }
        if inQuotes { throw FleetFileError(file: file, message: atLine(rowLine, "thiếu dấu \" đóng / unterminated quote")) }
        if !field.isEmpty || !fields.isEmpty { endRow() }
        return rows
    }
}

/// The brokers file of a cluster:
///
///     brokers:
///       - {name: bac, address: 10.0.0.11:1883, communes: [xa-1, xa-2]}
///       - {name: nam, address: 10.0.0.12:1883, communes: [xa-3]}
///     default: bac
public enum BrokerMapFile {
    struct Document: Decodable {
        var brokers: [BrokerMap.Broker]
        var `default`: String?
    }

    public static func read(path: String) throws -> BrokerMap {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw BrokerMapError("không đọc được \(path) / cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String = "brokers") throws -> BrokerMap {
        let doc: Document
        do { doc = try YAMLDecoder().decode(Document.self, from: text) } catch {
            throw BrokerMapError("\(source): tệp broker sai cấu trúc / malformed brokers file: \(error)")
        }
        return try BrokerMap(brokers: doc.brokers, defaultBroker: doc.default)
    }
}
