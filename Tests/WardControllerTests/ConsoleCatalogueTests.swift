import Foundation
import Testing
import WardDomain
import WardProtocol

/// The console's two string catalogues (Sources/WardHTTP/Console/i18n) put every machine code the
/// API can send into words: each case of each code enum, and each audit action the sources write,
/// has an entry in both languages. index.html preloads the shell (every module imported before the
/// sign-in page is drawn) and only files that exist; no console line is much longer than 120 characters.
@Suite struct ConsoleCatalogueTests {
    static let console = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/WardHTTP/Console")
    static let sources = console.deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: console.appendingPathComponent(path), encoding: .utf8)
    }

    /// The keys of one top-level group (`  name: { … }`) of a catalogue file.
    static func keys(_ group: String, in file: String) throws -> Set<String> {
        let s = try text(file)
        guard let start = s.range(of: "\n  \(group): {") else { return [] }
        // The keys are what stands before a ':' outside strings, at the group's own depth.
        var depth = 0, quote: Character?, token = "", keys: Set<String> = [], last = ""
        for c in s[start.upperBound...] {
            if let q = quote {
                if c == q { quote = nil; last = token; token = "" } else { token.append(c) }
                continue
            }
            switch c {
            case "\"", "'", "`": quote = c; token = ""
            case "{", "[": depth += 1
            case "}", "]":
                if depth == 0 { return keys }
                depth -= 1
            case ":": if depth == 0 { keys.insert(token.isEmpty ? last : token) }; token = ""
            case _ where c.isLetter || c.isNumber || c == "_": token.append(c)
            default: token = ""; if !c.isWhitespace { last = "" }
            }
        }
        return keys
    }

    static let groups: [(String, [String])] = [
        ("cls", DeviceClass.allCases.map(\.rawValue)), ("state", HealthState.allCases.map(\.rawValue)),
        ("kpi", KPIID.allCases.map(\.rawValue)), ("alarm", AlarmKind.allCases.map(\.rawValue)),
        ("severity", AlarmSeverity.allCases.map(\.rawValue)), ("fault", FaultCode.allCases.map(\.rawValue)),
        ("playEvent", PlaybackEvent.allCases.map(\.rawValue)), ("reason", PlaybackReason.allCases.map(\.rawValue)),
        ("result", AckMessage.Result.allCases.map(\.rawValue)), ("command", CommandName.allCases.map(\.rawValue)),
        ("role", Role.allCases.map(\.rawValue)), ("level", BroadcastLevel.allCases.map(\.rawValue)),
        ("status", BroadcastStatus.allCases.map(\.rawValue)), ("site", SiteKind.allCases.map(\.rawValue)),
        ("event", EventType.allCases.map(\.rawValue)), ("reject", RejectReason.allCases.map(\.rawValue)),
        ("campaignState", CampaignState.allCases.map(\.rawValue)), ("jobState", JobState.allCases.map(\.rawValue)),
        ("jobFailure", JobFailure.allCases.map(\.rawValue)), ("drift", ["unset", "in_sync", "pending", "rejected", "differs"]),
        ("configField", DeviceSettings.fieldNames), ("warningState", WarningRecord.State.allCases.map(\.rawValue)),
        ("reachOutcome", WarningReach.Outcome.allCases.map(\.rawValue)), ("riskColour", RiskLevel.allCases.map { "\($0.rawValue)" }),
        ("untargetable", ["no_coordinates", "no_code"]),
    ]

    @Test(arguments: ["i18n/vi.js", "i18n/en.js"])
    func everyCodeHasWords(_ file: String) throws {
        for (group, codes) in Self.groups {
            let have = try Self.keys(group, in: file)
            #expect(Set(codes).subtracting(have).isEmpty, "\(file) \(group) lacks \(Set(codes).subtracting(have).sorted())")
        }
    }

    @Test func bothLanguagesHaveTheSameKeys() throws {
        for group in ["ui", "cls", "state", "kpi", "alarm", "severity", "fault", "audit", "field", "reject", "outcome", "site", "param",
                      "campaignState", "jobState", "jobFailure", "drift", "configField",
                      "warningState", "reachOutcome", "villageReach", "riskColour", "untargetable"] {
            #expect(try Self.keys(group, in: "i18n/vi.js") == Self.keys(group, in: "i18n/en.js"), "\(group)")
        }
    }

    /// Every audit action written anywhere in the sources (a literal "family.action") has words.
    @Test func everyAuditActionHasWords() throws {
        var actions: Set<String> = ["login"]
        let files = FileManager.default.enumerator(at: Self.sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let s = try String(contentsOf: url, encoding: .utf8)
            for line in s.split(separator: "\n") where line.contains("audit") || line.contains("action:") {
                for m in line.matches(of: /"((?:access|alarm|alarm_rule|broadcast|device|firmware|group|inbox|kpi_targets|login|media|node|places|quiet_hours|report|user|warning)\.[a-z_]+)"/) {
                    actions.insert(String(m.1))
                }
            }
        }
        #expect(actions.count > 20)
        for file in ["i18n/vi.js", "i18n/en.js"] {
            let have = try Self.keys("audit", in: file)
            #expect(actions.subtracting(have).isEmpty, "\(file) audit lacks \(actions.subtracting(have).sorted())")
        }
    }

    @Test func indexPreloadsEveryModuleAndLinesStayShort() throws {
        let index = try Self.text("index.html")
        let files = FileManager.default.enumerator(at: Self.console, includingPropertiesForKeys: nil)!
        var modules: Set<String> = []
        for case let url as URL in files where ["js", "css", "html"].contains(url.pathExtension) {
            let relative = String(url.path.dropFirst(Self.console.path.count + 1))
            if url.pathExtension == "js" { modules.insert(relative) }
            let lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
            let long = lines.enumerated().filter { $0.element.count > 125 }.map { $0.offset + 1 }
            #expect(long.isEmpty, "\(relative): lines \(long) longer than 125 characters")
        }
        let preloaded = Set(index.matches(of: /modulepreload" href="\/console\/([^"]+)"/).map { String($0.1) })
        #expect(preloaded.isSubset(of: modules), "preloaded but missing: \(preloaded.subtracting(modules).sorted())")
        let shell = ["lib/i18n.js", "i18n/vi.js", "i18n/en.js", "lib/core.js", "lib/ui.js", "lib/live.js", "pages/login.js"]
        #expect(Set(shell).isSubset(of: preloaded), "the shell is not preloaded: \(Set(shell).subtracting(preloaded).sorted())")
    }
}
