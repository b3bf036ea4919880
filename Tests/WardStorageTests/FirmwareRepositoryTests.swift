import Foundation
import Testing
import WardDomain
@testable import WardStorage

@Suite struct FirmwareRepositoryTests {
    let t0 = Date(timeIntervalSince1970: 1_796_000_000)

    func image(_ version: String, sha: String) -> FirmwareImage {
        FirmwareImage(sha256: sha, deviceClass: .speaker, model: "VNPT iSpeaker 4G", version: version, size: 1234, notes: "Sửa lỗi âm lượng",
                      uploadedBy: "quantri", uploadedAt: t0, signature: "c2ln", keyFingerprint: "01:02")
    }

    @Test(arguments: Backend.allCases) func imagesCampaignsAndJobsRoundTrip(_ backend: Backend) throws {
        let repo = FirmwareRepository(try backend.open())
        let a = image("2.0.0", sha: String(repeating: "a", count: 64))
        #expect(try repo.add(a).isNew)
        #expect(try repo.add(a) == (a, false))
        #expect(throws: FirmwareStoreError.self) { try repo.add(image("2.0.0", sha: String(repeating: "b", count: 64))) }
        #expect(try repo.image(a.sha256) == a)
        #expect(try repo.image(deviceClass: .speaker, model: a.model, version: "2.0.0") == a)
        #expect(try repo.images() == [a])

        var p = CampaignPolicy()
        p.window = MaintenanceWindow("22:00-05:00")
        let c = try repo.create(Campaign(id: 0, name: "Đợt 1", image: a, target: CampaignTarget(deviceClass: .speaker, model: a.model, communes: ["cam-la"]),
                                         waves: WaveSize.parse("1%,10%,rest")!, policy: p, createdBy: "quantri", createdAt: t0)) {
            CampaignPlanner.jobs(campaign: $0, devices: ["LOA-1", "LOA-2", "LOA-3"], waves: WaveSize.parse("1,rest")!, at: t0)
        }
        #expect(c.id == 1)
        #expect(try repo.campaign(1) == c)
        #expect(try repo.active().isEmpty)
        try repo.update(1, at: t0) { c, jobs in
            var c = c
            c.state = .running
            var j = jobs[0]
            j.state = .notified
            j.attempts = 1
            j.sentAt = t0
            j.fromVersion = "1.0.0"
            return (c, [j], ())
        }
        #expect(try repo.active().map(\.id) == [1])
        let jobs = try repo.jobs(1)
        #expect(jobs.map(\.deviceID) == ["LOA-1", "LOA-2", "LOA-3"])
        #expect(jobs[0].state == .notified && jobs[0].sentAt == t0 && jobs[0].fromVersion == "1.0.0" && jobs[0].wave == 0)
        #expect(jobs[1].wave == 1 && jobs[1].state == .queued)
        var failed = jobs[0]
        failed.state = .failed
        failed.reason = .badSignature
        try repo.save(nil, jobs: [failed], at: t0)
        #expect(try repo.history(device: "LOA-1") == [failed])
        // Cancelled with an order still out: still driven until it ends.
        var sent = jobs[1]
        sent.state = .downloading
        try repo.update(1, at: t0) { c, _ in
            var c = c
            c.state = .cancelled
            return (c, [sent], ())
        }
        #expect(try repo.active().map(\.id) == [1])
        sent.state = .succeeded
        try repo.save(nil, jobs: [sent], at: t0)
        #expect(try repo.active().isEmpty)
    }
}
