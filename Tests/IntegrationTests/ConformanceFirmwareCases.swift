import Foundation
import Testing
import WardDomain
import WardStorage

// Rows of docs/protocol.md's ota_report table (see ConformanceTests.swift).

extension Conformance {
    static func otaReport(job: String = #""1.1""#, state: String = #""downloading""#, extra: String = "", v: String = "1",
                          device: String = "$D", boot: String = #","boot":"b1""#, ts: String = "$TS") -> String {
        #"{"v":\#(v),"device":"\#(device)"\#(boot),"ts":\#(ts),"job":\#(job),"state":\#(state)\#(extra)}"#
    }

    /// A running campaign with one job for this device, its order sent (as the controller leaves it); returns the job id.
    static func openJob(_ d: CaseDevice) throws -> (campaign: Int64, job: String) {
        let repo = FirmwareRepository(d.w.h.db)
        let hex = (UUID().uuidString + UUID().uuidString).replacingOccurrences(of: "-", with: "").lowercased()
        let image = FirmwareImage(sha256: hex, deviceClass: .speaker, model: "M-1", version: "cf-\(d.id)", size: 1, notes: nil,
                                  uploadedBy: nil, uploadedAt: Date(), signature: "x", keyFingerprint: "x")
        _ = try repo.add(image)
        var c = Campaign(id: 0, name: "conformance", image: image, target: CampaignTarget(deviceClass: .speaker, model: "M-1", devices: [d.id]),
                         waves: [.rest], policy: CampaignPolicy(), createdBy: nil, createdAt: Date())
        c.state = .running
        let created = try repo.create(c) { id in
            var j = FirmwareJob(campaignID: id, deviceID: d.id, wave: 0, at: Date())
            j.state = .notified
            j.attempts = 1
            j.sentAt = Date()
            return [j]
        }
        return (created.id, "\(created.id).1")
    }

    static func jobState(_ d: CaseDevice, _ campaign: Int64, _ state: JobState, reason: JobFailure? = nil) async throws {
        try await d.w.until("job of campaign \(campaign) \(state.rawValue)") { _ in
            let j = try FirmwareRepository(d.w.h.db).jobs(campaign).first
            return j?.state == state && j?.reason == reason
        }
    }

    static let firmwareCases: [ConformanceCase] = [
        ConformanceCase(table: "ota_report", row: "v, device, boot, ts", cls: .speaker) { d in
            try d.send("ota_report", otaReport(v: "2"))
            try await d.rejected("unsupported_version", on: "ota_report")
            try d.send("ota_report", otaReport(device: "CF-OTHER"))
            try await d.rejected("identity_mismatch", on: "ota_report")
            try d.send("ota_report", otaReport(boot: ""))
            try await d.rejected("invalid_field", on: "ota_report")
            try d.send("ota_report", otaReport(ts: "1000"))
            try await d.rejected("out_of_range", on: "ota_report")
            let (campaign, job) = try openJob(d)
            try d.send("ota_report", otaReport(job: "\"\(job)\""))
            try await jobState(d, campaign, .downloading)
            try await d.settled()
        },
        ConformanceCase(table: "ota_report", row: "job", cls: .speaker) { d in
            try d.send("ota_report", otaReport(job: #""""#))
            try await d.rejected("invalid_field", on: "ota_report")
            try d.send("ota_report", otaReport(job: "\"\(String(repeating: "j", count: 65))\""))
            try await d.rejected("invalid_field", on: "ota_report")
            try d.send("ota_report", otaReport(job: "7"))
            try await d.rejected("invalid_field", on: "ota_report")
            let (campaign, job) = try openJob(d)
            // A report of an attempt never made is refused (unknown_job) and moves nothing; this job's does.
            try d.send("ota_report", otaReport(job: "\"\(campaign).9\"", state: #""installing""#))
            try await d.rejected("unknown_job", on: "ota_report")
            try d.send("ota_report", otaReport(job: "\"\(job)\"", state: #""verifying""#))
            try await jobState(d, campaign, .verifying)
            try await d.settled()
        },
        ConformanceCase(table: "Bad input / Reason", row: "unknown_job", cls: .speaker) { d in
            // No campaign of that number: refused, counted and listed, like any bad input.
            try d.send("ota_report", otaReport(job: #""987654.1""#))
            try await d.rejected("unknown_job", on: "ota_report")
            // A campaign that exists, but no job of it for this device.
            let (campaign, _) = try openJob(d)
            let repo = FirmwareRepository(d.w.h.db)
            guard let sha = try repo.campaign(campaign)?.image, let image = try repo.image(sha) else {
                throw ConformanceFailure("the campaign just made is not stored")
            }
            let other = try repo.create(Campaign(id: 0, name: "another device's", image: image,
                target: CampaignTarget(deviceClass: .speaker, model: "M-1", devices: ["CF-SOMEONE-ELSE"]), waves: [.rest],
                policy: CampaignPolicy(), createdBy: nil, createdAt: Date())) { id in
                [FirmwareJob(campaignID: id, deviceID: "CF-SOMEONE-ELSE", wave: 0, at: Date())]
            }
            try d.send("ota_report", otaReport(job: "\"\(other.id).1\"", state: #""downloading""#))
            try await d.rejected("unknown_job", on: "ota_report")
            try d.check(try FirmwareRepository(d.w.h.db).jobs(campaign).first?.state == .notified, "a refused report moved this device's job")
            try await d.settled()
        },
        ConformanceCase(table: "ota_report", row: "state", cls: .speaker) { d in
            for bad in [#""done""#, #""queued""#, #""succeeded""#, "3"] {
                try d.send("ota_report", otaReport(state: bad))
                try await d.rejected("invalid_field", on: "ota_report")
            }
            let (campaign, job) = try openJob(d)
            for s in ["notified", "downloading", "verifying", "installing", "rebooting"] {
                try d.send("ota_report", otaReport(job: "\"\(job)\"", state: "\"\(s)\""))
            }
            try await jobState(d, campaign, .rebooting)
            try d.send("ota_report", otaReport(job: "\"\(job)\"", state: #""rolled_back""#))
            try await jobState(d, campaign, .rolledBack)
            try await d.settled()
        },
        ConformanceCase(table: "ota_report", row: "reason", cls: .speaker) { d in
            try d.send("ota_report", otaReport(state: #""failed""#))
            try await d.rejected("invalid_field", on: "ota_report")
            try d.send("ota_report", otaReport(state: #""failed""#, extra: #","reason":"tired""#))
            try await d.rejected("invalid_field", on: "ota_report")
            try d.send("ota_report", otaReport(state: #""failed""#, extra: #","reason":"came_back_old_version""#))
            try await d.rejected("invalid_field", on: "ota_report")
            let (campaign, job) = try openJob(d)
            try d.send("ota_report", otaReport(job: "\"\(job)\"", state: #""failed""#, extra: #","reason":"bad_signature""#))
            try await jobState(d, campaign, .failed, reason: .badSignature)
            try await d.settled()
        },
        ConformanceCase(table: "ota_report", row: "detail", cls: .speaker) { d in
            try d.send("ota_report", otaReport(extra: ",\"detail\":\"\(String(repeating: "d", count: 513))\""))
            try await d.rejected("out_of_range", on: "ota_report")
            let (campaign, job) = try openJob(d)
            try d.send("ota_report", otaReport(job: "\"\(job)\"", state: #""failed""#,
                                               extra: ",\"reason\":\"download_failed\",\"detail\":\"\(String(repeating: "d", count: 512))\""))
            try await jobState(d, campaign, .failed, reason: .downloadFailed)
            try await d.settled()
        },
    ]
}
