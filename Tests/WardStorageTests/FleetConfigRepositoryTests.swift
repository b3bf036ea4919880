import Foundation
import Testing
import WardDomain
@testable import WardStorage

@Suite struct FleetConfigRepositoryTests {
    let t0 = Date(timeIntervalSince1970: 1_796_000_000)

    @Test(arguments: Backend.allCases) func desiredVersionsReportsAndDrift(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = FleetConfigRepository(db)
        #expect(try repo.get("LOA-1") == nil)
        var r = try repo.set(device: "LOA-1", change: DeviceSettings(heartbeatSeconds: 60, maxVolume: 80), by: "quantri", at: t0)
        #expect(r.version == 1 && r.publishedVersion == 0 && r.updatedBy == "quantri")
        r = try repo.set(device: "LOA-1", change: DeviceSettings(ntp: ["0.vn.pool.ntp.org"]), by: "vanhoa", at: t0)
        #expect(r.version == 2 && r.desired == DeviceSettings(heartbeatSeconds: 60, maxVolume: 80, ntp: ["0.vn.pool.ntp.org"]))
        #expect(try repo.unpublished().map(\.deviceID) == ["LOA-1"])
        #expect(try repo.awaitingApply() == ["LOA-1"])
        try repo.markPublished(device: "LOA-1", version: 2, at: t0)
        try repo.markPublished(device: "LOA-1", version: 1, at: t0)  // never backwards
        #expect(try repo.unpublished().isEmpty)
        #expect(try repo.get("LOA-1")?.publishedVersion == 2)
        #expect(try repo.get("LOA-1")?.drift == .pending(desired: 2, applied: nil))

        // Reports, as one ingest flush writes them; one from a device nobody configured too.
        try db.store.write { c in
            try FleetConfigRepository.write(c, config: [
                ConfigReportRecord(deviceID: "LOA-1", version: 2, result: .applied, detail: nil,
                                   reported: DeviceSettings(heartbeatSeconds: 60, maxVolume: 80, ntp: ["0.vn.pool.ntp.org"]), receivedAt: t0),
                ConfigReportRecord(deviceID: "CAM-1", version: 7, result: .rejected, detail: "flash", reported: DeviceSettings(retentionDays: 30),
                                   receivedAt: t0),
            ], credentials: [])
        }
        #expect(try repo.get("LOA-1")?.drift == .inSync)
        #expect(try repo.awaitingApply().isEmpty)
        let cam = try #require(try repo.get("CAM-1"))
        #expect(cam.version == 0 && cam.drift == .unset && cam.lastResult == .rejected && cam.lastDetail == "flash" && cam.appliedVersion == nil)

        // A birth's config_version counts as applied only when newer.
        _ = try repo.set(device: "LOA-1", change: DeviceSettings(heartbeatSeconds: 30), by: "quantri", at: t0)
        try repo.noteBirthVersion(device: "LOA-1", version: 1)
        #expect(try repo.get("LOA-1")?.appliedVersion == 2)
        try repo.noteBirthVersion(device: "LOA-1", version: 3)
        #expect(try repo.get("LOA-1")?.appliedVersion == 3)
        #expect(try repo.get("LOA-1")?.drift == .differs(fields: ["heartbeat_s"]))  // the report still says 60
    }

    @Test(arguments: Backend.allCases) func rotationsMoveOnlyForward(_ backend: Backend) throws {
        let db = try backend.open()
        let repo = FleetConfigRepository(db)
        try repo.storeSecret(device: "LOA-1", sealed: "sealed-old", at: t0)
        #expect(try repo.secret(device: "LOA-1") == "sealed-old")
        try repo.createRotation(id: "rot-a", device: "LOA-1", sealedPassword: "sealed-a", by: "quantri", at: t0)
        try repo.markSent("rot-a", message: "{}", at: t0)
        // A newer rotation supersedes one not yet acknowledged.
        try repo.createRotation(id: "rot-b", device: "LOA-1", sealedPassword: "sealed-b", by: "quantri", at: t0.addingTimeInterval(1))
        #expect(try repo.rotation("rot-a")?.state == .superseded)
        #expect(try repo.rotations(in: [.created]).map { $0.0.id } == ["rot-b"])
        #expect(try repo.rotations(in: [.created]).first?.sealedPassword == "sealed-b")
        try repo.markSent("rot-b", message: "{}", at: t0)
        try db.store.write { c in
            try FleetConfigRepository.write(c, config: [], credentials: [
                CredentialsReportRecord(deviceID: "LOA-1", rotation: "rot-a", stored: true, reason: nil, receivedAt: t0),  // superseded: ignored
                CredentialsReportRecord(deviceID: "LOA-2", rotation: "rot-b", stored: true, reason: nil, receivedAt: t0),  // not its rotation
                CredentialsReportRecord(deviceID: "LOA-1", rotation: "rot-b", stored: true, reason: nil, receivedAt: t0),
            ])
        }
        #expect(try repo.rotation("rot-a")?.state == .superseded)
        #expect(try repo.rotation("rot-b")?.state == .stored)
        try repo.markApplied("rot-b", device: "LOA-1", sealedPassword: "sealed-b", at: t0)
        #expect(try repo.rotation("rot-b")?.state == .applied && repo.rotation("rot-b")?.appliedAt == t0)
        #expect(try repo.secret(device: "LOA-1") == "sealed-b")
        // The superseded one had been sent: listed once to close, then not again.
        #expect(try repo.refusedToClear().map(\.id) == ["rot-a"])
        try repo.closeRefused("rot-a")
        #expect(try repo.refusedToClear().isEmpty)
        #expect(try repo.rotations(device: "LOA-1").map(\.id) == ["rot-b", "rot-a"])
    }
}
