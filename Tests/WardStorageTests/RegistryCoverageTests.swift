import FleetFile
import Foundation
import Testing
import WardDomain
@testable import WardStorage

/// Places and devices, on both backends.
@Suite struct RegistryCoverageTests {
    @Test(arguments: Backend.allCases) func placeTreePreviewWritesNothing(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = PlaceRepository(db)
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        let preview = try repo.tree(after: f.places)
        #expect(preview.places.count == 7 && preview.ancestor(of: "nvh", at: .commune)?.name == "Xã Cẩm La")
        #expect(try repo.all().isEmpty)
        try repo.upsert(f.places)
        let tree = try repo.tree()
        #expect(tree["nvh"]?.coordinate == Coordinate(latitude: 20.94, longitude: 106.82))
        #expect(tree["nvh"]?.siteKind == .culturalHouse && tree["tdp-5"]?.kindLabel == "tổ dân phố")
        #expect(tree["qn"]?.parentID == nil && tree["qn"]?.coordinate == nil)
        let renamed = Place(id: "tdp-5", level: .village, name: "Tổ dân phố số 5", parentID: "cam-la", kindLabel: "tổ dân phố")
        #expect(try repo.tree(after: [renamed])["tdp-5"]?.name == "Tổ dân phố số 5")
        #expect(throws: PlaceError.duplicateID("tdp-5")) { try repo.tree(after: [renamed, renamed]) }
        #expect(try repo.all().first { $0.id == "tdp-5" }?.name == "Tổ dân phố 5")
    }

    /// The registry snapshot reports read is reused only while nothing in `devices` or `places` changed,
    /// whoever wrote it (here: plain SQL, as another process or tool would).
    @Test(arguments: Backend.allCases) func theRegistrySnapshotIsReadAgainAfterAnyChange(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        try PlaceRepository(db).upsert(f.places)
        try DeviceRepository(db).upsert(f.devices)
        let a = try db.registry()
        #expect(a.devices.map(\.id).sorted() == f.devices.map(\.id).sorted() && a.tree.places.count == 7)
        #expect(try db.registry().revision == a.revision, "nothing changed: the same snapshot")
        try db.store.write { try $0.execute(sql: "UPDATE places SET name = ? WHERE id = ?", arguments: ["Tổ dân phố số 5", "tdp-5"]) }
        let b = try db.registry()
        #expect(b.revision > a.revision && b.tree["tdp-5"]?.name == "Tổ dân phố số 5")
        #expect(try DeviceRepository(db).remove("LOA-01", at: at(10)))
        let c = try db.registry()
        #expect(c.revision > b.revision && c.devices.first { $0.id == "LOA-01" }?.removedAt == at(10), "removed devices stay, marked")
    }

    /// A long-running process lets an unused snapshot go (a province's is tens of MB); the next use reads it again.
    @Test(arguments: Backend.allCases) func anIdleRegistrySnapshotIsLetGo(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        try PlaceRepository(db).upsert(f.places)
        try DeviceRepository(db).upsert(f.devices)
        #expect(!db.holdsRegistry && !db.releaseIdleRegistry(after: .zero))
        let a = try db.registry()
        #expect(db.holdsRegistry)
        #expect(!db.releaseIdleRegistry(after: .seconds(3600)), "used just now: kept")
        #expect(db.holdsRegistry)
        #expect(db.releaseIdleRegistry(after: .zero))
        #expect(!db.holdsRegistry)
        let b = try db.registry()
        #expect(db.holdsRegistry && b.revision == a.revision && b.devices == a.devices && b.tree.places == a.tree.places)
    }

    @Test(arguments: Backend.allCases) func devicesRoundTripAndBumpTheRegistryRevision(_ backend: Backend) throws {
        let db = try backend.open()
        let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
        let devices = DeviceRepository(db)
        let r0 = try devices.revision()
        try PlaceRepository(db).upsert(f.places)
        let r1 = try devices.revision()
        #expect(r1 > r0)
        #expect(try devices.upsert(f.devices) == (inserted: 3, updated: 0))
        let r2 = try devices.revision()
        #expect(r2 > r1)
        let loa = try #require(try devices.get("LOA-01"))
        #expect(loa == f.devices.first { $0.id == "LOA-01" })
        #expect(loa.model == "IP Loa 4G" && loa.config.maxVolume == 80 && loa.installedOn != nil)
        #expect(try devices.get("NONE") == nil)

        // Moved and renamed model: updated in place; a removed device comes back on re-registration.
        var moved = loa
        moved.siteID = "mot-cua"
        moved.model = "Loa thông minh Hà Nội"
        #expect(try devices.upsert([moved]) == (inserted: 0, updated: 1))
        #expect(try devices.get("LOA-01")?.siteID == "mot-cua" && devices.get("LOA-01")?.model == "Loa thông minh Hà Nội")
        #expect(try devices.remove("LOA-01", at: at(10)))
        #expect(try devices.revision() > r2)
        #expect(try devices.list().map(\.id) == ["CAM-01", "KIOSK-01"])
        #expect(try devices.list(includeRemoved: true).map(\.id) == ["CAM-01", "KIOSK-01", "LOA-01"])
        try devices.upsert([moved])
        #expect(try devices.get("LOA-01")?.removedAt == nil)
        #expect(throws: DeviceError.duplicate("CAM-01")) { try devices.upsert([f.devices[2], f.devices[2]]) }
    }

    @Test(arguments: Backend.allCases) func pendingDevicesAreDismissedOrSettled(_ backend: Backend) throws {
        let db = try fleetDB(backend)
        var b = IngestBatch()
        b.pending = [PendingRecord(deviceID: "AP-9", communeID: "cam-la", deviceClass: "access_point", model: "Wi-Fi công cộng",
                                   firmware: "1.2", birth: "{\"fw\":\"1.2\"}", firstSeen: at(1), lastSeen: at(2), messages: 1),
                     PendingRecord(deviceID: "LOA-9", communeID: "cam-la", firstSeen: at(3), lastSeen: at(3), messages: 1)]
        try IngestRepository(db).write(b)
        let q = HealthQueries(db)
        #expect(try q.pending().map(\.deviceID) == ["LOA-9", "AP-9"])  // latest heard first
        #expect(try q.pending().last?.model == "Wi-Fi công cộng")
        try DeviceRepository(db).dismissPending("AP-9")
        #expect(try q.pending().map(\.deviceID) == ["LOA-9"])
        var settle = IngestBatch()
        settle.settledPending = ["LOA-9"]
        try IngestRepository(db).write(settle)
        #expect(try q.pending().isEmpty)
    }
}
