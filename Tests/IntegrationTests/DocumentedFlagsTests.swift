import Foundation
import Testing

/// docs/configuration.md names the flags the binaries really have (issue 19, item 6): every
/// `--flag` of a row exists in the `--help` of a command that row names, every flag of
/// `wardfleet run` is documented, and the systemd unit passes only real flags, `--secure-cookies`
/// among them (the unit serves the console on loopback, behind the HTTPS proxy docs/security.md asks for).
@Suite struct DocumentedFlagsTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `binary args… --help`, as a person would read it.
    static func help(_ binary: String, _ path: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary(binary))
        p.arguments = path + ["--help"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The option names of a help text: those that start its option lines ("  -h, --help", "  --db <db>").
    static func flags(inHelp text: String) -> Set<String> {
        var out: Set<String> = []
        for line in text.split(separator: "\n") {
            guard let names = line.firstMatch(of: /^\s+((?:-{1,2}[A-Za-z][\w-]*(?: <[^>]+>)?(?:, )?)+)/)?.1 else { continue }
            for m in names.matches(of: /--[a-z][a-z0-9-]*/) { out.insert(String(m.0)) }
        }
        return out
    }

    /// Every `--flag` a text names (not the tail of a longer word such as `a--b`).
    static func flags(in text: some StringProtocol) -> [String] {
        String(text).matches(of: /(?:^|[^\w-])(--[a-z][a-z0-9-]*)/).map { String($0.1) }
    }

    /// The commands a table cell names: each code span that starts with a binary, or continues the
    /// previous span's binary ("`wardfleet devices rotate ID`, `devices revoke ID`"). Words up to
    /// the first argument (ID, FILE, [..], --flag) are the subcommand path.
    static func commands(inCell cell: Substring) -> [(binary: String, path: [String])] {
        var out: [(String, [String])] = []
        var binary: String?
        for span in cell.matches(of: /`([^`]+)`/) {
            var words = span.1.split(separator: " ").map(String.init)
            if let w = words.first, ["wardfleet", "firmware-sim"].contains(w) {
                binary = words.removeFirst()
            } else if span.1.contains("/") {
                continue  // a file (deploy/…), not a command
            }
            guard let binary else { continue }
            let path = Array(words.prefix { $0.wholeMatch(of: /[a-z][a-z-]*/) != nil })
            if !path.isEmpty { out.append((binary, path)) }
        }
        // The unit file runs the controller: its flags are `wardfleet run`'s.
        if cell.contains("deploy/systemd/wardfleet.service") { out.append(("wardfleet", ["run"])) }
        return out
    }

    @Test func configurationDocNamesOnlyRealFlagsAndEveryFlagOfRun() throws {
        let doc = try String(contentsOf: Self.repo.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        var helps: [String: Set<String>] = [:]
        func known(_ c: (binary: String, path: [String])) throws -> Set<String> {
            let key = ([c.binary] + c.path).joined(separator: " ")
            if let h = helps[key] { return h }
            let text = try Self.help(c.binary, c.path)
            let h = Self.flags(inHelp: text)
            #expect(!h.isEmpty, "`\(key) --help` lists no options: \(text.prefix(300))")
            helps[key] = h
            return h
        }
        var current: [(binary: String, path: [String])] = []
        var checked = 0
        for line in doc.split(separator: "\n") where line.hasPrefix("|") && !line.hasPrefix("|---") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst()
            guard let first = cells.first else { continue }
            // A row whose first cell is empty continues the command above.
            if !first.trimmingCharacters(in: .whitespaces).isEmpty { current = Self.commands(inCell: first) }
            let named = Self.flags(in: line)
            guard !named.isEmpty else { continue }
            guard !current.isEmpty else {
                Issue.record("docs/configuration.md names \(named) in a row of no command: \(line.prefix(120))")
                continue
            }
            let available = try current.reduce(into: Set<String>()) { $0.formUnion(try known($1)) }
            for flag in named {
                checked += 1
                #expect(available.contains(flag), "docs/configuration.md: \(flag) is not an option of \(current.map { $0.path.joined(separator: " ") })")
            }
        }
        #expect(checked >= 30)
        // Every option of the controller is documented (those of the CLI's remote mode, which run
        // refuses, and --help excepted).
        let documented = Set(Self.flags(in: doc))
        let run = try known(("wardfleet", ["run"])).subtracting(["--help", "--server", "--token"])
        #expect(run.subtracting(documented).isEmpty, "wardfleet run options missing from docs/configuration.md: \(run.subtracting(documented).sorted())")
    }

    @Test func systemdUnitPassesRealFlagsAndSecureCookies() throws {
        let unit = try String(contentsOf: Self.repo.appendingPathComponent("deploy/systemd/wardfleet.service"), encoding: .utf8)
        let exec = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let passed = Self.flags(in: exec)
        let run = Self.flags(inHelp: try Self.help("wardfleet", ["run"]))
        #expect(!passed.isEmpty && Set(passed).isSubset(of: run), "not options of run: \(Set(passed).subtracting(run).sorted())")
        #expect(passed.contains("--secure-cookies"), "\(exec)")
        #expect(passed.contains("--http-host") && exec.contains("--http-host 127.0.0.1"), "the console on loopback, behind the proxy")
    }
}
