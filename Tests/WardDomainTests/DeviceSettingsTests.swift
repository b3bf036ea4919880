import Foundation
import Testing
@testable import WardDomain

@Suite struct DeviceSettingsTests {
    @Test func aSetChangesOnlyTheFieldsGiven() {
        let desired = DeviceSettings(heartbeatSeconds: 30, maxVolume: 90, ntp: ["a.vn"])
        let next = desired.merging(DeviceSettings(maxVolume: 80))
        #expect(next == DeviceSettings(heartbeatSeconds: 30, maxVolume: 80, ntp: ["a.vn"]))
        #expect(desired.merging(DeviceSettings()) == desired)
    }

    @Test func valuesAreCheckedAgainstTheirRangesAndTheDeviceClass() {
        #expect(DeviceSettings(heartbeatSeconds: 1).problem(for: .camera) == nil)
        #expect(DeviceSettings(heartbeatSeconds: 3600).problem(for: .kiosk) == nil)
        #expect(DeviceSettings(heartbeatSeconds: 0).problem(for: .speaker)?.contains("1–3600") == true)
        #expect(DeviceSettings(heartbeatSeconds: 3601).problem(for: .speaker) != nil)
        #expect(DeviceSettings(maxVolume: 0).problem(for: .speaker) == nil)
        #expect(DeviceSettings(maxVolume: 101).problem(for: .speaker) != nil)
        #expect(DeviceSettings(maxVolume: 50).problem(for: .camera)?.contains("speakers only") == true)
        #expect(DeviceSettings(retentionDays: 365).problem(for: .camera) == nil)
        #expect(DeviceSettings(retentionDays: 0).problem(for: .camera) != nil)
        #expect(DeviceSettings(retentionDays: 30).problem(for: .speaker)?.contains("cameras only") == true)
        #expect(DeviceSettings(mediaBaseURL: "https://media.cam-la.vn:8443/m").problem(for: .speaker) == nil)
        #expect(DeviceSettings(mediaBaseURL: "http://10.0.0.2:8080").problem(for: .speaker) == nil)
        for bad in ["ftp://x.vn", "http://", "not a url", "http://user:pw@x.vn/", "x.vn"] {
            #expect(DeviceSettings(mediaBaseURL: bad).problem(for: .speaker) != nil, "\(bad)")
        }
        #expect(DeviceSettings(ntp: ["0.vn.pool.ntp.org", "10.0.0.1"]).problem(for: .accessPoint) == nil)
        #expect(DeviceSettings(ntp: []).problem(for: .accessPoint) != nil)
        #expect(DeviceSettings(ntp: ["a", "b", "c", "d", "e"]).problem(for: .accessPoint) != nil)
        for bad in ["a b", "-x.vn", "x..vn", "", "máy.vn"] {
            #expect(DeviceSettings(ntp: [bad]).problem(for: .accessPoint) != nil, "\(bad)")
        }
        // Reports are checked without a class (a device reports what it runs).
        #expect(DeviceSettings(maxVolume: 80, retentionDays: 30).problem(for: nil) == nil)
    }

    @Test func theWireNamesAreTheProtocols() throws {
        let json = String(decoding: try JSONEncoder().encode(DeviceSettings(heartbeatSeconds: 60, maxVolume: 80, retentionDays: 30,
                                                                              mediaBaseURL: "http://m", ntp: ["n"])), as: UTF8.self)
        for name in DeviceSettings.fieldNames { #expect(json.contains("\"\(name)\""), "\(name)") }
    }
}

@Suite struct ConfigDriftTests {
    let desired = DeviceSettings(heartbeatSeconds: 60, maxVolume: 80)

    func record(version: Int64 = 3, applied: Int64? = 3, reported: DeviceSettings? = nil, last: (Int64, ConfigResult, String?)? = nil) -> DeviceConfigRecord {
        DeviceConfigRecord(deviceID: "LOA-1", version: version, desired: desired, publishedVersion: version, appliedVersion: applied,
                           reported: reported ?? DeviceSettings(heartbeatSeconds: 60, maxVolume: 80, ntp: ["x"]),
                           lastReportVersion: last?.0, lastResult: last?.1, lastDetail: last?.2)
    }

    @Test func nothingDesiredIsNoDrift() {
        #expect(ConfigDrift.of(DeviceConfigRecord(deviceID: "LOA-1")) == .unset)
        #expect(!ConfigDrift.unset.isDrift)
    }

    @Test func theDesiredVersionAppliedWithItsValuesIsInSync() {
        // Reported fields nobody manages (ntp here) do not count.
        #expect(record().drift == .inSync)
        #expect(!record().drift.isDrift)
    }

    @Test func aVersionNotYetAppliedIsDrift() {
        #expect(record(applied: 2).drift == .pending(desired: 3, applied: 2))
        #expect(record(applied: nil).drift == .pending(desired: 3, applied: nil))
        #expect(record(applied: 2).drift.isDrift)
        #expect(record(applied: 2).drift.text.contains("DRIFT"))
    }

    @Test func aRejectedVersionIsDriftWithTheDevicesReason() {
        let r = record(applied: 2, last: (3, .rejected, "flash write failed"))
        #expect(r.drift == .rejected(version: 3, detail: "flash write failed"))
        #expect(r.drift.text.contains("flash write failed"))
        // A rejection of an older version does not hide that the newest is simply pending.
        #expect(record(version: 4, applied: 2, last: (3, .rejected, "x")).drift == .pending(desired: 4, applied: 2))
    }

    @Test func aReportedValueThatDiffersIsDriftEvenAtTheSameVersion() {
        let r = record(reported: DeviceSettings(heartbeatSeconds: 60, maxVolume: 100))
        #expect(r.drift == .differs(fields: ["max_volume"]))
        #expect(record(reported: DeviceSettings(heartbeatSeconds: 60)).drift == .differs(fields: ["max_volume"]))
        #expect(ConfigDrift.differences(desired: desired, reported: DeviceSettings()) == ["heartbeat_s", "max_volume"])
    }
}

@Suite struct CredentialRotationTests {
    @Test func onlyAWaitingRotationMovesOnAReport() {
        #expect(CredentialRotation.next(after: .sent, report: true) == .stored)
        #expect(CredentialRotation.next(after: .sent, report: false) == .refused)
        #expect(CredentialRotation.next(after: .created, report: true) == .stored)
        for s in [CredentialRotation.State.stored, .applied, .refused, .superseded] {
            #expect(CredentialRotation.next(after: s, report: true) == nil)
        }
        #expect(CredentialRotation.State.allCases.filter(\.isOpen) == [.created, .sent, .stored])
    }

    @Test func idsAreFreshAndShort() {
        var rng = SeededRandom(seed: 3)
        let ids = (0..<1000).map { _ in CredentialRotation.newID(using: &rng) }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.hasPrefix("rot-") && $0.count == 20 })
    }
}
