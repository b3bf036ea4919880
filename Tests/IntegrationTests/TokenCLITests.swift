import Foundation
import Testing
import WardDomain
import WardHTTP
import WardStorage

/// The CLI's API tokens on the server machine (issue 19, item 2): made with a name and an expiry,
/// listed by id without the secret, revoked (through `--server` the same commands call the API
/// that TokenTests covers).
@Suite struct TokenCLITests {
    /// Runs `wardfleet args…` to completion: exit status, standard output, standard error.
    static func cli(_ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary("wardfleet"))
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func usersTokenTokensAndRevokeToken() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wf-tokcli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("t.sqlite").path
        let db = try WardDatabase(path: path)
        try BroadcastRepository(db).addUser(User(name: "lan", role: .operator, createdAt: Date()))

        var (st, out, err) = try Self.cli(["users", "token", "lan", "--label", "máy tính bảng", "--valid-days", "30", "--db", path])
        #expect(st == 0, "\(err)")
        let secret = out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.hasPrefix("wft_") && err.contains("shown once"))
        #expect(try AuthRepository(db).tokenUser(tokenHash: OperatorAPI.sha256(secret), now: Date()) == "lan")

        (st, out, err) = try Self.cli(["users", "tokens", "lan", "--json", "--db", path])
        #expect(st == 0, "\(err)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], "\(out)")
        let id = try #require(list.first?["id"] as? String)
        #expect(list.count == 1 && list[0]["name"] as? String == "máy tính bảng" && list[0]["expires_at"] != nil, "\(out)")
        #expect(!out.contains(secret) && !out.contains(OperatorAPI.sha256(secret)), "never the secret: \(out)")
        (st, out, _) = try Self.cli(["users", "tokens", "lan", "--db", path])
        #expect(st == 0 && out.contains(id) && out.contains("máy tính bảng") && !out.contains(secret), "\(out)")

        (st, out, err) = try Self.cli(["users", "revoke-token", "lan", id, "--db", path])
        #expect(st == 0 && out.contains(id), "\(err)")
        #expect(try AuthRepository(db).tokenUser(tokenHash: OperatorAPI.sha256(secret), now: Date()) == nil)
        (st, _, err) = try Self.cli(["users", "revoke-token", "lan", id, "--db", path])
        #expect(st != 0 && err.contains("no API token"), "\(err)")
        (st, _, _) = try Self.cli(["users", "token", "lan", "--valid-days", "0", "--db", path])
        #expect(st != 0)
        #expect(try AuthRepository(db).tokens(of: "lan").isEmpty)
    }
}
