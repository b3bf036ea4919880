import Foundation
import Testing
@testable import WardDomain

@Suite struct BrokerPolicyTests {
    /// Generated passwords go on command lines (`--password …`): one starting with '-' was read
    /// as an option and broke the claim test one run in 64.
    @Test func generatedPasswordsNeverLookLikeAnOption() {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<5_000 {
            let p = BrokerPolicy.password(using: &rng)
            #expect(p.count == 32)
            #expect(p.first!.isLetter || p.first!.isNumber, "\(p)")
            #expect(p.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
    }
}
