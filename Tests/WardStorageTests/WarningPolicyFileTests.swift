import FleetFile
import Foundation
import Testing
import WardDomain

/// A deployment's warning policy from YAML (`wardfleet run --warning-policy FILE`): keys left out keep
/// the documented default; every wrong value is named.
@Suite struct WarningPolicyFileTests {
    @Test func anEmptyFileIsTheDocumentedDefault() throws {
        #expect(try WarningPolicyFile.parse("") == .standard)
        #expect(try WarningPolicyFile.parse("horizon_hours: 12\n") == .standard)
    }

    @Test func aDeploymentsPolicyIsReadAsWritten() throws {
        let p = try WarningPolicyFile.parse("""
            rules:
              - severities: [Extreme]
                level: emergency
              - severities: [severe]
                urgencies: [Immediate]
                certainties: [Observed, Likely]
                level: khẩn cấp
            otherwise: priority
            risk_by_severity: {Severe: 4}
            repeat_minutes: {3: 20, 4: 15, 5: 10}
            horizon_hours: 24
            all_clear_on_cancel: true
            """)
        #expect(p.rules.count == 2 && p.rules[1] == .init(severities: [.severe], urgencies: [.immediate], certainties: [.observed, .likely], level: .emergency))
        #expect(p.riskBySeverity[.severe] == .four && p.riskBySeverity[.extreme] == .four && p.riskBySeverity[.minor] == .one)
        #expect(p.repeatMinutes == [.three: 20, .four: 15, .five: 10], "the listed levels only: level 2 now plays once")
        #expect(p.horizonHours == 24 && p.allClearOnCancel)
    }

    @Test func wrongValuesAreNamed() {
        func problem(_ yaml: String) -> String? {
            do { _ = try WarningPolicyFile.parse(yaml); return nil } catch { return "\(error)" }
        }
        #expect(problem("rules:\n  - severities: [Extreme]\n    level: normal\n")?.contains("rules[1].level") == true)
        #expect(problem("rules:\n  - severities: [Huge]\n    level: emergency\n")?.contains("rules[1].severities") == true)
        #expect(problem("rules:\n  - severities: [Extreme]\n")?.contains("rules[1].level") == true)
        #expect(problem("risk_by_severity: {Extreme: 6}\n")?.contains("risk_by_severity.Extreme") == true)
        #expect(problem("repeat_minutes: {3: 2}\n")?.contains("repeat_minutes.3") == true, "under 5 minutes")
        #expect(problem("horizon_hours: 1000\n")?.contains("horizon_hours") == true)
        #expect(problem("otherwise: sometimes\n")?.contains("otherwise") == true)
        #expect(problem("rules: 3\n") != nil)
    }
}
