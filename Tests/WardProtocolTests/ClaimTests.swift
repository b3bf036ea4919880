import Foundation
import Testing
@testable import WardProtocol

@Suite struct ClaimCodeTests {
    @Test func codesAreTwelveUnambiguousCharactersInThreeGroups() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let c = ClaimCode.generate(using: &rng)
            #expect(c.count == 14 && c.split(separator: "-").map(\.count) == [4, 4, 4], "\(c)")
            #expect(!c.contains(where: { "ILOU".contains($0) }), "\(c)")
            #expect(ClaimCode.normalize(c) == c.replacingOccurrences(of: "-", with: ""))
        }
    }

    @Test func typedCodesAreForgivenCaseSpacesAndLookalikes() {
        #expect(ClaimCode.normalize("abcd-efgh-jkmn") == "ABCDEFGHJKMN")
        #expect(ClaimCode.normalize(" ABCD EFGH JKMN ") == "ABCDEFGHJKMN")
        #expect(ClaimCode.normalize("O0Il-2345-6789") == "001123456789")
        #expect(ClaimCode.secret("abcd-efgh-jkmn") == ClaimCode.secret("ABCDEFGHJKMN"))
        for bad in ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKM!", "ABCD-EFGH-JKMU", "ẮBCD-EFGH-JKMN"] {
            #expect(ClaimCode.normalize(bad) == nil, "\(bad)")
            #expect(ClaimCode.secret(bad) == nil, "\(bad)")
        }
    }

    @Test func theProofBindsCodeDeviceAndNonce() {
        let secret = ClaimCode.secret("ABCD-EFGH-JKMN")!
        let other = ClaimCode.secret("ABCD-EFGH-JKMP")!
        let r = ClaimRequest(device: "AP-1", secret: secret, nonce: "bm9uY2U=")
        #expect(ClaimCrypto.verify(r, secret: secret))
        #expect(!ClaimCrypto.verify(r, secret: other))
        var moved = r
        moved.device = "AP-2"
        #expect(!ClaimCrypto.verify(moved, secret: secret), "a proof for one device is no good for another")
        var replayed = r
        replayed.nonce = "b3RoZXI="
        #expect(!ClaimCrypto.verify(replayed, secret: secret))
        var upper = r
        upper.proof = r.proof.uppercased()
        #expect(ClaimCrypto.verify(upper, secret: secret), "hex in either case")
        var short = r
        short.proof = String(r.proof.dropLast())
        #expect(!ClaimCrypto.verify(short, secret: secret))
    }

    @Test func sealedCredentialsOpenOnlyWithTheSameCodeDeviceAndNonce() throws {
        let secret = ClaimCode.secret("ABCD-EFGH-JKMN")!
        let c = ClaimCredentials(username: "AP-1", password: "mật-khẩu", clientID: "AP-1", topicPrefix: "wardfleet/v1/cam-la/AP-1/")
        let sealed = try ClaimCrypto.seal(c, secret: secret, device: "AP-1", nonce: "n1")
        #expect(!sealed.contains("mật") && !Data(base64Encoded: sealed)!.isEmpty)
        #expect(ClaimCrypto.open(sealed, secret: secret, device: "AP-1", nonce: "n1") == c)
        #expect(ClaimCrypto.open(sealed, secret: ClaimCode.secret("ABCD-EFGH-JKMP")!, device: "AP-1", nonce: "n1") == nil)
        #expect(ClaimCrypto.open(sealed, secret: secret, device: "AP-2", nonce: "n1") == nil)
        #expect(ClaimCrypto.open(sealed, secret: secret, device: "AP-1", nonce: "n2") == nil)
        var bytes = Array(Data(base64Encoded: sealed)!)
        bytes[bytes.count / 2] ^= 1
        #expect(ClaimCrypto.open(Data(bytes).base64EncodedString(), secret: secret, device: "AP-1", nonce: "n1") == nil, "tampered")
        #expect(ClaimCrypto.open("không phải base64", secret: secret, device: "AP-1", nonce: "n1") == nil)
    }

    @Test func claimTopics() {
        #expect(Topics.claimRequest("AP-1") == "wardfleet/provision/AP-1/request")
        #expect(Topics.claimRequestDevice("wardfleet/provision/AP-1/request") == "AP-1")
        for t in ["wardfleet/provision/AP-1/response", "wardfleet/provision/+/request", "wardfleet/provision//request",
                  "wardfleet/v1/cam-la/AP-1/ack", "wardfleet/provision/AP-1/request/x"] {
            #expect(Topics.claimRequestDevice(t) == nil, "\(t)")
        }
    }
}
