import Foundation
import Testing
import WardDomain

@Suite struct CampaignPlannerTests {
    let t0 = Date(timeIntervalSince1970: 1_796_000_000)
    let image = FirmwareImage(sha256: String(repeating: "ab", count: 32), deviceClass: .speaker, model: "M1", version: "2.0.0", size: 10,
                              notes: nil, uploadedBy: nil, uploadedAt: Date(timeIntervalSince1970: 1_796_000_000), signature: "s", keyFingerprint: "f")

    func campaign(_ waves: String = "1%,10%,rest", configure: (inout CampaignPolicy) -> Void = { _ in }) -> Campaign {
        var p = CampaignPolicy()
        p.ratePerMinute = 1000
        configure(&p)
        var c = Campaign(id: 7, name: "t", image: image, target: CampaignTarget(deviceClass: .speaker, model: "M1"),
                         waves: WaveSize.parse(waves)!, policy: p, createdBy: nil, createdAt: t0)
        c.state = .running
        return c
    }

    func ids(_ n: Int) -> [String] { (0..<n).map { String(format: "LOA-%03d", $0) } }

    func online(_ ids: [String], firmware: String = "1.0.0") -> [String: CampaignPlanner.DeviceNow] {
        Dictionary(uniqueKeysWithValues: ids.map { ($0, CampaignPlanner.DeviceNow(online: true, capabilities: ["ota", "ping"], firmware: firmware)) })
    }

    /// Applies a step's changes to the job list.
    func merge(_ jobs: inout [FirmwareJob], _ step: CampaignPlanner.Step) {
        for i in jobs.indices { if let c = step.changed[jobs[i].deviceID] { jobs[i] = c } }
    }

    @Test func wavesParseAndCut() {
        #expect(WaveSize.parse("1%,10%,rest") == [.percent(1), .percent(10), .rest])
        #expect(WaveSize.parse("20,100") == [.count(20), .count(100), .rest])
        #expect(WaveSize.parse("rest,10") == nil)
        #expect(WaveSize.parse("0%") == nil)
        #expect(WaveSize.sizes([.percent(1), .percent(10), .rest], total: 200) == [2, 20, 178])
        #expect(WaveSize.sizes([.count(20), .count(100), .rest], total: 50) == [20, 30])
        #expect(WaveSize.sizes([.percent(1), .rest], total: 3) == [1, 2])
    }

    @Test func maintenanceWindowIsLocalTimeAcrossMidnight() {
        let w = MaintenanceWindow("22:00-05:00")!
        // 2026-12-03 15:30 UTC = 22:30 in Hà Nội.
        let local2230 = Date(timeIntervalSince1970: 1_796_311_800)
        #expect(w.contains(local2230))
        #expect(!w.contains(local2230.addingTimeInterval(-3600)))  // 21:30
        #expect(w.contains(local2230.addingTimeInterval(6 * 3600)))  // 04:30
        #expect(!w.contains(local2230.addingTimeInterval(7 * 3600)))  // 05:30
        #expect(MaintenanceWindow("25:00-01:00") == nil)
    }

    @Test func wavesGoOneAfterAnotherAndSucceedOnTheNewVersionsBirth() {
        var c = campaign("2,rest")
        let devs = ids(5)
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: devs, waves: c.waves, at: t0)
        var s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0)
        #expect(s.send.map(\.deviceID) == ["LOA-000", "LOA-001"])
        #expect(s.send.allSatisfy { $0.jobID == "7.1" })
        merge(&jobs, s)
        // The second wave waits for the first.
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(1))
        #expect(s.send.isEmpty)
        for d in ["LOA-000", "LOA-001"] {
            let i = jobs.firstIndex { $0.deviceID == d }!
            jobs[i] = CampaignPlanner.apply(.report(device: d, job: "7.1", state: .rebooting, reason: nil, at: t0), to: jobs[i], campaign: c)!.job
            let r = CampaignPlanner.apply(.birth(device: d, firmware: "2.0.0", capabilities: ["ota"], at: t0), to: jobs[i], campaign: c)!
            #expect(r.clear)
            jobs[i] = r.job
            #expect(jobs[i].state == .succeeded)
        }
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(2))
        #expect(s.send.map(\.deviceID) == ["LOA-002", "LOA-003", "LOA-004"])
        merge(&jobs, s)
        for i in 2..<5 { jobs[i].state = .succeeded }
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(3))
        #expect(s.campaign.state == .completed)
        c = s.campaign
        #expect(c.endedAt != nil)
    }

    @Test func comingBackOnTheOldVersionIsAFailureAndARollbackReportNamesIt() {
        let c = campaign("rest")
        var j = FirmwareJob(campaignID: 7, deviceID: "A", wave: 0, at: t0)
        j.attempts = 1
        j.state = .rebooting
        let r = CampaignPlanner.apply(.birth(device: "A", firmware: "1.0.0", capabilities: ["ota"], at: t0), to: j, campaign: c)!
        #expect(r.job.state == .failed && r.job.reason == .cameBackOldVersion)
        let rb = CampaignPlanner.apply(.report(device: "A", job: "7.1", state: .rolledBack, reason: nil, at: t0), to: r.job, campaign: c)!
        #expect(rb.job.state == .rolledBack)
        // A reconnect before installing keeps the order.
        j.state = .downloading
        #expect(CampaignPlanner.apply(.birth(device: "A", firmware: "1.0.0", capabilities: ["ota"], at: t0), to: j, campaign: c) == nil)
        // A report of an earlier attempt is not this job's.
        #expect(CampaignPlanner.apply(.report(device: "A", job: "7.0", state: .failed, reason: .badHash, at: t0), to: j, campaign: c) == nil)
    }

    @Test func abortsAtTheWaveThatCrossesTheThreshold() {
        let c = campaign("4,10,rest") { $0.maxFailuresPercent = 20; $0.minFinished = 5 }
        let devs = ids(30)
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: devs, waves: c.waves, at: t0)
        // Wave 0: 1 of 4 fails (25 % of all four: the small wave is judged when all of it finished).
        // Make it pass instead: 0 failures.
        for i in 0..<4 { jobs[i].state = .succeeded }
        var s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0)
        #expect(s.campaign.state == .running)
        #expect(s.send.count == 10)
        merge(&jobs, s)
        // Wave 1: 1 failure in the first 4 finished: under the minimum, no verdict yet.
        for i in 4..<7 { jobs[i].state = .succeeded }
        jobs[7].state = .failed
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(1))
        #expect(s.campaign.state == .running)
        // Fifth finished, a second failure: 2/5 = 40 % > 20 %.
        jobs[8].state = .failed
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(2))
        #expect(s.campaign.state == .aborted)
        #expect(s.campaign.abortedWave == 1)
        // Sent orders not started are taken back; the third wave never starts.
        #expect(s.clear == Set(devs[9..<14]))
        #expect(s.changed.values.allSatisfy { $0.state == .cancelled })
        #expect(s.changed.count == 5 + 16)
    }

    @Test func aSmallPilotIsJudgedWhenItsLastDeviceFinished() {
        let c = campaign("2,rest") { $0.maxFailuresPercent = 10; $0.minFinished = 10 }
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: ids(20), waves: c.waves, at: t0)
        jobs[0].state = .succeeded
        jobs[1].state = .rolledBack
        let s = CampaignPlanner.step(c, jobs: jobs, devices: online(ids(20)), now: t0)
        #expect(s.campaign.state == .aborted && s.campaign.abortedWave == 0)
        #expect(s.send.isEmpty)
    }

    @Test func rateLimitAndWindow() {
        var c = campaign("rest") { $0.ratePerMinute = 3 }
        let devs = ids(10)
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: devs, waves: c.waves, at: t0)
        var s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0)
        #expect(s.send.count == 3)
        merge(&jobs, s)
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(30))
        #expect(s.send.isEmpty)
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(60))
        #expect(s.send.count == 3)
        // Outside the maintenance window nothing is sent. t0 + 1 h is 08:53 in Hà Nội.
        c.policy.window = MaintenanceWindow("22:00-05:00")
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(devs), now: t0.addingTimeInterval(3600))
        #expect(s.send.isEmpty)
    }

    @Test func offlineDevicesStayQueuedAndAreSentWhenTheyReturn() {
        let c = campaign("rest")
        var devices = online(["A", "B"])
        devices["B"]!.online = false
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: ["A", "B"], waves: c.waves, at: t0)
        var s = CampaignPlanner.step(c, jobs: jobs, devices: devices, now: t0)
        #expect(s.send.map(\.deviceID) == ["A"])
        merge(&jobs, s)
        devices["B"]!.online = true
        s = CampaignPlanner.step(c, jobs: jobs, devices: devices, now: t0.addingTimeInterval(3600))
        #expect(s.send.map(\.deviceID) == ["B"])
    }

    @Test func aSilentOrderTimesOutAndIsRetriedWithBackoff() {
        let c = campaign("rest") { $0.timeoutSeconds = 600; $0.backoffSeconds = 60; $0.maxRetries = 1 }
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: ["A"], waves: c.waves, at: t0)
        var s = CampaignPlanner.step(c, jobs: jobs, devices: online(["A"]), now: t0)
        merge(&jobs, s)
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(["A"]), now: t0.addingTimeInterval(600))
        #expect(s.clear == ["A"])
        #expect(s.changed["A"]?.state == .queued)
        #expect(s.send.isEmpty)  // backoff first
        merge(&jobs, s)
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(["A"]), now: t0.addingTimeInterval(660))
        #expect(s.send.first?.jobID == "7.2")
        merge(&jobs, s)
        s = CampaignPlanner.step(c, jobs: jobs, devices: online(["A"]), now: t0.addingTimeInterval(1260))
        #expect(s.changed["A"]?.state == .failed && s.changed["A"]?.reason == .timeout)

        // A device that does not come back from restarting into its update fails at once (it may be bricked).
        var r = CampaignPlanner.jobs(campaign: c.id, devices: ["B"], waves: c.waves, at: t0)
        r[0].state = .rebooting
        r[0].attempts = 1
        s = CampaignPlanner.step(c, jobs: r, devices: online(["B"]), now: t0.addingTimeInterval(600))
        #expect(s.changed["B"]?.state == .failed && s.changed["B"]?.reason == .timeout && s.clear == ["B"])
    }

    @Test func neverDuringAPlayAndABusyAnswerIsRetried() {
        let c = campaign("rest") { $0.busyBeforeSeconds = 300; $0.busyAfterSeconds = 60 }
        var devices = online(["A"])
        devices["A"]!.busy = [DateInterval(start: t0.addingTimeInterval(200), duration: 120)]
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: ["A"], waves: c.waves, at: t0)
        for dt in [0.0, 200, 300, 379] {
            #expect(CampaignPlanner.step(c, jobs: jobs, devices: devices, now: t0.addingTimeInterval(dt)).send.isEmpty)
        }
        let s = CampaignPlanner.step(c, jobs: jobs, devices: devices, now: t0.addingTimeInterval(380))
        #expect(s.send.count == 1)
        merge(&jobs, s)
        let r = CampaignPlanner.apply(.report(device: "A", job: "7.1", state: .failed, reason: .busy, at: t0.addingTimeInterval(381)),
                                      to: jobs[0], campaign: c)!
        #expect(r.job.state == .queued && r.clear && r.job.notBefore != nil)
    }

    @Test func pausedSendsNothingAndCancelTakesBackUnstartedOrders() {
        var c = campaign("rest")
        c.state = .paused
        var jobs = CampaignPlanner.jobs(campaign: c.id, devices: ["A", "B", "C"], waves: c.waves, at: t0)
        #expect(CampaignPlanner.step(c, jobs: jobs, devices: online(["A", "B", "C"]), now: t0).send.isEmpty)
        jobs[0].state = .notified
        jobs[1].state = .installing
        let s = CampaignPlanner.cancel(c, jobs: jobs, now: t0)
        #expect(s.campaign.state == .cancelled)
        #expect(s.changed["C"]?.state == .cancelled && s.changed["A"] == nil && s.changed["B"] == nil)
        for i in jobs.indices { if let n = s.changed[jobs[i].deviceID] { jobs[i] = n } }
        // The controller's next step takes back the order not started and follows the one under way.
        let next = CampaignPlanner.step(s.campaign, jobs: jobs, devices: online(["A", "B", "C"]), now: t0.addingTimeInterval(1))
        #expect(next.clear == ["A"] && next.changed["A"]?.state == .cancelled && next.changed["B"] == nil && next.send.isEmpty)
    }

    @Test func targetsResolveByEveryCriterion() {
        let cands = [
            CampaignTarget.Candidate(id: "B", deviceClass: .speaker, model: "M1", firmware: "1.0", communeID: "c1", villageID: "v1"),
            CampaignTarget.Candidate(id: "A", deviceClass: .speaker, model: "M1", firmware: "1.1", communeID: "c1", villageID: "v2"),
            CampaignTarget.Candidate(id: "C", deviceClass: .speaker, model: "M2", firmware: "1.0", communeID: "c1", villageID: "v1"),
            CampaignTarget.Candidate(id: "D", deviceClass: .camera, model: "M1", firmware: "1.0", communeID: "c2", villageID: "v3"),
        ]
        #expect(CampaignTarget(deviceClass: .speaker, model: "M1").resolve(cands) == ["A", "B"])
        #expect(CampaignTarget(deviceClass: .speaker, model: "M1", currentFirmware: ["1.0"]).resolve(cands) == ["B"])
        #expect(CampaignTarget(deviceClass: .speaker, model: "M1", villages: ["v2"]).resolve(cands) == ["A"])
        #expect(CampaignTarget(deviceClass: .speaker, model: "M1", communes: ["c2"]).resolve(cands) == [])
        #expect(CampaignTarget(deviceClass: .speaker, model: "M1", devices: ["B", "C"]).resolve(cands) == ["B"])
    }

    @Test func manifestBindsClassModelVersionHashAndSize() {
        #expect(image.manifest == "wardfleet-firmware-v1\nspeaker\nM1\n2.0.0\n\(String(repeating: "ab", count: 32))\n10")
    }
}
