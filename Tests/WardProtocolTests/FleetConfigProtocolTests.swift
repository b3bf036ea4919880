import Foundation
import Testing
import WardDomain
@testable import WardProtocol

@Suite struct FleetConfigProtocolTests {
    let now = Date(timeIntervalSince1970: 1_796_079_600)

    func decode(_ kind: String, _ json: String) -> Result<DecodedMessage, Rejection> {
        ProtocolDecoder().decode(topic: "wardfleet/v1/cam-la/LOA-1/\(kind)", payload: Array(json.utf8), now: now)
    }

    @Test func theNewKindsHaveTheirDirections() {
        #expect(MessageKind.configReport.fromDevice && MessageKind.credentialsReport.fromDevice)
        #expect(!MessageKind.config.fromDevice && !MessageKind.credentials.fromDevice)
        #expect(Topics.parse("wardfleet/v1/cam-la/LOA-1/config_report")?.kind == .configReport)
        #expect(Topics.parse("wardfleet/v1/cam-la/LOA-1/credentials")?.kind == .credentials)
        // The controller's own retained messages heard back are not device input.
        guard case .success(let m) = decode("config", "{}"), case .command = m.inbound else { Issue.record("config echo"); return }
    }

    @Test func aConfigReportIsDecodedAndChecked() throws {
        let ts = now.unixMillis
        let ok = #"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"version":3,"result":"applied","reported":{"heartbeat_s":60,"max_volume":80}}"#
        guard case .success(let m) = decode("config_report", ok), case .configReport(let r) = m.inbound else {
            Issue.record("not accepted")
            return
        }
        #expect(r.version == 3 && r.result == .applied && r.reported == DeviceSettings(heartbeatSeconds: 60, maxVolume: 80))
        let cases: [(String, RejectReason)] = [
            (#"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"version":3,"result":"rejected","reported":{}}"#, .invalidField),
            (#"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"version":3,"result":"maybe","reported":{}}"#, .invalidField),
            (#"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"version":-3,"result":"applied","reported":{}}"#, .outOfRange),
            (#"{"v":1,"device":"LOA-2","boot":"b1","ts":\#(ts),"version":3,"result":"applied","reported":{}}"#, .identityMismatch),
            (#"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"version":3,"result":"applied","reported":{"max_volume":300}}"#, .outOfRange),
            (#"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"version":3,"result":"applied"}"#, .invalidField),
        ]
        for (json, reason) in cases {
            guard case .failure(let r) = decode("config_report", json) else { Issue.record("accepted: \(json)"); continue }
            #expect(r.reason == reason, "\(json): \(r)")
        }
    }

    @Test func aCredentialsReportIsDecodedAndChecked() {
        let ts = now.unixMillis
        guard case .success(let m) = decode("credentials_report", #"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"rotation":"rot-1","result":"stored"}"#),
              case .credentialsReport(let r) = m.inbound else { Issue.record("not accepted"); return }
        #expect(r.stored && r.rotation == "rot-1")
        guard case .failure(let e) = decode("credentials_report", #"{"v":1,"device":"LOA-1","boot":"b1","ts":\#(ts),"rotation":"rot-1","result":"refused"}"#) else {
            Issue.record("refused without a reason accepted")
            return
        }
        #expect(e.reason == .invalidField)
    }

    @Test func aRotatedPasswordOpensOnlyWithTheDevicesCurrentPassword() throws {
        let m = try RotationCrypto.message(device: "LOA-1", rotation: "rot-1", currentPassword: "old-password", newPassword: "new-password", at: 1)
        #expect(Data(base64Encoded: m.nonce)?.count == 16)
        #expect(!m.sealed.contains("new-password"))
        #expect(RotationCrypto.open(m, currentPassword: "old-password") == "new-password")
        #expect(RotationCrypto.open(m, currentPassword: "another") == nil)
        var other = m
        other.device = "LOA-2"  // the key's info names the device: moved to another device, it does not open
        #expect(RotationCrypto.open(other, currentPassword: "old-password") == nil)
        var tampered = m
        var bytes = Array(Data(base64Encoded: m.sealed)!)
        bytes[bytes.count - 1] ^= 1
        tampered.sealed = Data(bytes).base64EncodedString()
        #expect(RotationCrypto.open(tampered, currentPassword: "old-password") == nil)
        var shortNonce = m
        shortNonce.nonce = Data([1, 2, 3]).base64EncodedString()
        #expect(RotationCrypto.open(shortNonce, currentPassword: "old-password") == nil)
        // Two messages for the same passwords differ (fresh nonce): nothing to correlate.
        let again = try RotationCrypto.message(device: "LOA-1", rotation: "rot-1", currentPassword: "old-password", newPassword: "new-password", at: 1)
        #expect(again.nonce != m.nonce && again.sealed != m.sealed)
    }

    @Test func aBirthMayCarryItsConfigurationVersion() {
        let b = #"{"v":1,"device":"LOA-1","class":"speaker","model":"M","firmware":"1","capabilities":["config"],"heartbeat_s":60,"boot":"b1","config_version":4}"#
        guard case .success(let m) = decode("birth", b), case .birth(let info) = m.inbound else { Issue.record("birth refused"); return }
        #expect(info.raw.configVersion == 4)
    }
}
