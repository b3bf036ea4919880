import Foundation

/// Vietnamese text is data: every name entering the domain is normalised to NFC so that the
/// same name typed on different keyboards compares and stores identically.
extension String {
    public var nfc: String { isSurelyNFC ? self : precomposedStringWithCanonicalMapping }

    /// True when every scalar is below U+0300 or in Latin Extended Additional (U+1E00–U+1EFF):
    /// those all have NFC_Quick_Check = Yes, so the text is NFC as it is. Vietnamese written
    /// with precomposed letters is all there; normalising it anyway cost a third of loading a
    /// province's registry. Anything else (combining marks, other scripts) takes the full path.
    var isSurelyNFC: Bool {
        unicodeScalars.allSatisfy { $0.value < 0x300 || ($0.value >= 0x1E00 && $0.value < 0x1F00) }
    }
}

/// Levels of the administrative tree. Districts were abolished in 2025 and stay optional.
public enum PlaceLevel: String, Codable, Sendable, CaseIterable, Comparable {
    case province, district, commune, village, site

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: PlaceLevel, b: PlaceLevel) -> Bool { a.rank < b.rank }

    /// Which levels may stand directly above this one.
    public var allowedParents: [PlaceLevel] {
        switch self {
        case .province: []
        case .district: [.province]
        case .commune: [.province, .district]
        case .village: [.commune]
        case .site: [.village, .commune]
        }
    }

    public var vietnamese: String {
        switch self {
        case .province: "Tỉnh/Thành phố"
        case .district: "Huyện"
        case .commune: "Xã/Phường"
        case .village: "Thôn/Tổ dân phố"
        case .site: "Điểm lắp đặt"
        }
    }
}

/// Site kinds named in the plans; designated public sites feed the Wi-Fi coverage KPI.
public enum SiteKind: String, Codable, Sendable, CaseIterable {
    case communeOffice = "commune_office"
    case oneStopOffice = "one_stop_office"
    case culturalHouse = "cultural_house"
    case market
    case school
    case healthStation = "health_station"
    case heritageSite = "heritage_site"
    case playArea = "play_area"
    case busStation = "bus_station"
    case cultureSportsCentre = "culture_sports_centre"
    case postOffice = "post_office"
    case villageEntrance = "village_entrance"
    case pole
    case other

    public var vietnamese: String {
        switch self {
        case .communeOffice: "Trụ sở UBND"
        case .oneStopOffice: "Bộ phận Một cửa"
        case .culturalHouse: "Nhà văn hóa"
        case .market: "Chợ"
        case .school: "Trường học"
        case .healthStation: "Trạm y tế"
        case .heritageSite: "Di tích, điểm du lịch"
        case .playArea: "Khu vui chơi"
        case .busStation: "Bến xe"
        case .cultureSportsCentre: "Trung tâm Văn hóa - Thể thao"
        case .postOffice: "Điểm bưu điện văn hóa xã"
        case .villageEntrance: "Cổng làng"
        case .pole: "Cột loa"
        case .other: "Khác"
        }
    }
}

public struct Coordinate: Codable, Sendable, Hashable {
    public var latitude: Double
    public var longitude: Double
    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }
    public var isValid: Bool {
        (-90...90).contains(latitude) && (-180...180).contains(longitude)
    }
}

/// One node of the place tree. `kindLabel` keeps the local word for the unit
/// (xã, phường, thôn, xóm, bản, khu phố, tổ dân phố) when the source gave one.
public struct Place: Codable, Sendable, Hashable, Identifiable {
    public var id: String
    public var level: PlaceLevel
    public var name: String
    public var parentID: String?
    public var siteKind: SiteKind?
    public var kindLabel: String?
    public var coordinate: Coordinate?
    /// Administrative unit code (mã đơn vị hành chính) of a province, commune or village, when the places
    /// file gives one: CAP `geocode`s are matched against it.
    public var code: String?

    public init(
        id: String, level: PlaceLevel, name: String, parentID: String? = nil,
        siteKind: SiteKind? = nil, kindLabel: String? = nil, coordinate: Coordinate? = nil, code: String? = nil
    ) {
        self.id = id
        self.level = level
        self.name = name.nfc
        self.parentID = parentID
        self.siteKind = siteKind
        self.kindLabel = kindLabel?.nfc
        self.coordinate = coordinate
        self.code = code?.trimmingCharacters(in: .whitespaces).nfc
    }
}

public enum PlaceError: Refusal, Equatable {
    case emptyID
    case invalidID(String)
    case emptyName(id: String)
    case duplicateID(String)
    case unknownParent(id: String, parent: String)
    case wrongParentLevel(id: String, level: PlaceLevel, parentLevel: PlaceLevel)
    case missingParent(id: String, level: PlaceLevel)
    case siteWithoutKind(id: String)
    case invalidCoordinate(id: String)

    public var description: String {
        switch self {
        case .emptyID: "mã địa điểm trống / empty place id"
        case .invalidID(let id): "mã '\(id)' chỉ được dùng chữ, số, '-', '_', '.' / id '\(id)' may only use letters, digits, '-', '_', '.'"
        case .emptyName(let id): "địa điểm \(id) chưa có tên / place \(id) has no name"
        case .duplicateID(let id): "mã địa điểm trùng: \(id) / duplicate place id: \(id)"
        case .unknownParent(let id, let parent): "\(id): không có địa điểm cha \(parent) / unknown parent \(parent)"
        case .wrongParentLevel(let id, let level, let parentLevel):
            "\(id): \(level.rawValue) không thể nằm dưới \(parentLevel.rawValue) / a \(level.rawValue) cannot sit under a \(parentLevel.rawValue)"
        case .missingParent(let id, let level): "\(id): \(level.rawValue) cần địa điểm cha / a \(level.rawValue) needs a parent"
        case .siteWithoutKind(let id): "\(id): điểm lắp đặt cần loại (kind) / site needs a kind"
        case .invalidCoordinate(let id): "\(id): tọa độ không hợp lệ / invalid coordinates"
        }
    }
}

/// Identifiers travel in MQTT topics, so they are restricted to a topic-safe alphabet.
public enum Identifier {
    public static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 64 else { return false }
        return id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2D || b == 0x5F || b == 0x2E
        }
    }
}

/// The place tree, validated as a whole.
public struct PlaceTree: Sendable {
    public private(set) var places: [String: Place]

    public init(_ list: [Place]) throws(PlaceError) {
        var byID: [String: Place] = [:]
        for p in list {
            guard !p.id.isEmpty else { throw .emptyID }
            guard Identifier.isValid(p.id) else { throw .invalidID(p.id) }
            guard p.name.unicodeScalars.contains(where: { !CharacterSet.whitespaces.contains($0) }) else { throw .emptyName(id: p.id) }
            guard byID[p.id] == nil else { throw .duplicateID(p.id) }
            if p.level == .site && p.siteKind == nil { throw .siteWithoutKind(id: p.id) }
            if let c = p.coordinate, !c.isValid { throw .invalidCoordinate(id: p.id) }
            byID[p.id] = p
        }
        for p in list {
            if let parentID = p.parentID {
                guard let parent = byID[parentID] else { throw .unknownParent(id: p.id, parent: parentID) }
                guard p.level.allowedParents.contains(parent.level) else {
                    throw .wrongParentLevel(id: p.id, level: p.level, parentLevel: parent.level)
                }
            } else if p.level != .province {
                throw .missingParent(id: p.id, level: p.level)
            }
        }
        places = byID
    }

    public subscript(id: String) -> Place? { places[id] }

    /// The place of this level that `text` names when someone typed its name (or an id with
    /// other case or without diacritics) where an id was asked for: "Thôn Cẩm La", "cam la".
    public func named(_ text: String, at level: PlaceLevel) -> Place? {
        let k = Self.nameKey(text)
        return places.values.filter { $0.level == level && (Self.nameKey($0.name) == k || Self.nameKey($0.id) == k) }
            .min { $0.id < $1.id }
    }

    /// A name without diacritics, case, separators or the level word in front ("Xã", "Thôn"…).
    static func nameKey(_ s: String) -> String {
        let plain = s.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: Locale(identifier: "vi"))
            .replacingOccurrences(of: "đ", with: "d").replacingOccurrences(of: "-", with: " ")
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let words = ["xa ", "phuong ", "thi tran ", "thon ", "ban ", "khu pho ", "to dan pho ", "ap ", "lang ", "xom ", "to "]
        return words.reduce(plain) { s, p in s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s }
    }

    /// The nearest ancestor (or the place itself) at `level`.
    public func ancestor(of id: String, at level: PlaceLevel) -> Place? {
        var current = places[id]
        while let p = current {
            if p.level == level { return p }
            current = p.parentID.flatMap { places[$0] }
        }
        return nil
    }

    public func children(of id: String) -> [Place] {
        places.values.filter { $0.parentID == id }.sorted { $0.id < $1.id }
    }

    /// Parents before children, then by id: the order an import must apply them in.
    public var topologicalOrder: [Place] {
        places.values.sorted { ($0.level, $0.id) < ($1.level, $1.id) }
    }
}
