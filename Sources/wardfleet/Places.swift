import ArgumentParser
import FleetFile
import Foundation
import WardController
import WardDomain
import WardStorage

struct Places: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Địa điểm: tỉnh, xã, thôn, điểm lắp đặt / Places: province, commune, village, site.",
        subcommands: [Import.self, List.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nhập địa điểm từ tệp YAML hoặc CSV / Import places from a YAML or CSV file (docs/places-file.md).")
        @OptionGroup var db: DatabaseOptions
        @Argument(help: "YAML or CSV file.") var file: String
        @Flag(help: "Also register the devices the file lists.") var withDevices = false

        func run() async throws {
            if let remote = try db.remote {
                let csv = file.lowercased().hasSuffix(".csv")
                return try await remote.run("POST", "/api/v1/places/import", query: ["format": csv ? "csv" : "yaml", "with_devices": withDevices ? "true" : nil],
                                            raw: try Data(contentsOf: URL(fileURLWithPath: file)), contentType: csv ? "text/csv" : "application/yaml")
            }
            let database = try db.open()
            let fleet = try FleetFileReader.read(path: file, registeredAt: Date())
            let (ins, upd) = try PlaceRepository(database).upsert(fleet.places)
            print("Địa điểm / places: \(ins) mới / new, \(upd) cập nhật / updated")
            if withDevices, !fleet.devices.isEmpty {
                let (di, du) = try DeviceRepository(database).upsert(fleet.devices)
                print("Thiết bị / devices: \(di) mới / new, \(du) cập nhật / updated")
            } else if !fleet.devices.isEmpty {
                print("(\(fleet.devices.count) thiết bị trong tệp chưa nhập; dùng --with-devices hoặc `wardfleet devices import` / devices in the file not imported: use --with-devices or `wardfleet devices import`)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Liệt kê địa điểm / List places as a tree.")
        @OptionGroup var db: DatabaseOptions
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            if let remote = try db.remote { return try await remote.run("GET", "/api/v1/places") }
            let tree = try PlaceRepository(db.open()).tree()
            if json { return try printJSON(tree.topologicalOrder) }
            func show(_ p: Place, depth: Int) {
                let kind = p.siteKind.map { " [\($0.vietnamese)]" } ?? p.kindLabel.map { " [\($0)]" } ?? ""
                let coord = p.coordinate.map { String(format: " (%.5f, %.5f)", $0.latitude, $0.longitude) } ?? ""
                print(String(repeating: "  ", count: depth) + "\(p.name)\(kind) — \(p.id)\(coord)")
                for c in tree.children(of: p.id) { show(c, depth: depth + 1) }
            }
            let roots = tree.topologicalOrder.filter { $0.parentID == nil }
            if roots.isEmpty { print("Chưa có địa điểm / no places yet: wardfleet places import FILE") }
            for r in roots { show(r, depth: 0) }
        }
    }
}
