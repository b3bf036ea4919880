import Foundation
import MQTTClient
import Synchronization
import Testing
import WardDomain
import WardProtocol
import WardStorage
@testable import WardController

/// The controller's side of one-time claim codes, on a real SQLite file with a recording
/// publisher and a stand-in for the broker's account store.
@Suite struct ClaimServiceTests {
    final class Answers: SchedulePublisher {
        let sent = Mutex<[ClaimResponse]>([])
        func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool) throws {
            let r = try JSONDecoder().decode(ClaimResponse.self, from: Data(payload))
            #expect(topic == Topics.claimResponse(r.device) && !retain)
            sent.withLock { $0.append(r) }
        }
        var last: ClaimResponse? { sent.withLock { $0.last } }
        var count: Int { sent.withLock { $0.count } }
    }

    final class Accounts: DeviceAccounts {
        let made = Mutex<[(device: String, commune: String, password: String)]>([])
        let failing = Mutex(false)
        func provision(device: String, commune: String, password: String) async throws {
            if failing.withLock({ $0 }) { throw DynamicSecurity.Failure(command: "createClient", error: "broker away") }
            made.withLock { $0.append((device, commune, password)) }
        }
        let revoked = Mutex<[String]>([])
        func revoke(device: String) async throws {
            if failing.withLock({ $0 }) { throw DynamicSecurity.Failure(command: "deleteClient", error: "broker away") }
            revoked.withLock { $0.append(device) }
        }
    }

    final class Counts: Sendable {
        let names = Mutex<[String: Int]>([:])
    }

    struct World {
        let w: BroadcastServiceTests.World
        let answers = Answers()
        let accounts = Accounts()
        let counts = Counts()
        let service: ClaimService
        init() throws {
            w = try BroadcastServiceTests.World()
            let counts = self.counts
            service = ClaimService(database: w.db, publisher: answers, accounts: accounts, clock: w.clock,
                                   tally: { name in counts.names.withLock { $0[name, default: 0] += 1 } })
        }
        func count(_ name: String) -> Int { counts.names.withLock { $0[name] ?? 0 } }
        func issue(_ device: String, hours: Double = 72) throws -> String {
            let code = ClaimCode.generate()
            try ClaimRepository(w.db).issue(device: device, secret: ClaimCode.secret(code)!, by: "admin", at: w.clock.now(),
                                            expires: w.clock.now().addingTimeInterval(hours * 3600))
            return code
        }
        /// Sends a request as the device would; returns its nonce.
        @discardableResult
        func ask(_ device: String, _ code: String, topicDevice: String? = nil) async -> String {
            let nonce = ClaimCrypto.newNonce()
            let r = ClaimRequest(device: device, secret: ClaimCode.secret(code)!, nonce: nonce)
            await service.handle(MQTTMessage(topic: Topics.claimRequest(topicDevice ?? device), payload: ProtocolEncoder.encode(r), retained: false))
            return nonce
        }
    }

    /// One removal path for the CLI and the API: the account first, then the registration and
    /// its unused code; with the broker away nothing changes (a removed device whose account
    /// still works would reconnect and land in the pending list).
    @Test func removingADeviceRevokesItsAccountOrChangesNothing() async throws {
        let s = try World()
        _ = try s.issue("LOA-1")
        s.accounts.failing.withLock { $0 = true }
        let removal = DeviceRemoval(s.w.db, accounts: s.accounts)
        await #expect(throws: DeviceRemovalRefusal.self) { try await removal.remove("LOA-1", at: s.w.clock.now()) }
        #expect(try DeviceRepository(s.w.db).get("LOA-1")?.removedAt == nil)
        #expect(try ClaimRepository(s.w.db).lookup(device: "LOA-1", at: s.w.clock.now()) != .none)
        s.accounts.failing.withLock { $0 = false }
        #expect(try await removal.remove("LOA-1", at: s.w.clock.now()))
        #expect(s.accounts.revoked.withLock { $0 } == ["LOA-1"])
        #expect(try DeviceRepository(s.w.db).get("LOA-1")?.removedAt != nil)
        #expect(try ClaimRepository(s.w.db).lookup(device: "LOA-1", at: s.w.clock.now()) == .none)
        await #expect(throws: DeviceRemovalRefusal.self) { try await removal.remove("LOA-1", at: s.w.clock.now()) }
        // Without per-device accounts (an open broker) there is nothing to revoke.
        #expect(try await !DeviceRemoval(s.w.db, accounts: nil).remove("LOA-2", at: s.w.clock.now()))
    }

    @Test func aCodeGivesItsDeviceAnAccountOnceOnly() async throws {
        let s = try World()
        let code = try s.issue("LOA-1")
        let nonce = await s.ask("LOA-1", code)
        let ok = try #require(s.answers.last)
        #expect(ok.result == .ok && ok.nonce == nonce && ok.reason == nil)
        let creds = try #require(ClaimCrypto.open(ok.sealed!, secret: ClaimCode.secret(code)!, device: "LOA-1", nonce: nonce))
        let made = s.accounts.made.withLock { $0 }
        #expect(made.count == 1 && made[0].device == "LOA-1" && made[0].commune == "cam-la" && made[0].password == creds.password)
        #expect(creds.topicPrefix == "wardfleet/v1/cam-la/LOA-1/" && creds.password.count == 32)
        #expect(try AuthRepository(s.w.db).auditLog().contains { $0.action == "device.claim" && $0.target == "LOA-1" })

        await s.ask("LOA-1", code)
        #expect(s.answers.last?.result == .refused && s.answers.last?.reason == .used && s.answers.last?.sealed == nil)
        #expect(s.accounts.made.withLock { $0.count } == 1, "no second account, no new password")
    }

    @Test func wrongCodesAreRefusedCountedAndDoNotUseTheCodeUp() async throws {
        let s = try World()
        let code = try s.issue("LOA-1")
        await s.ask("LOA-1", ClaimCode.generate())
        #expect(s.answers.last?.reason == .wrongCode && s.answers.last?.retryAfter == nil)
        await s.ask("LOA-1", code)
        #expect(s.answers.last?.result == .ok, "a wrong try does not use the code up")
        #expect(s.count(ClaimCounter.refused(.wrongCode)) == 1 && s.count(ClaimCounter.granted) == 1)
    }

    /// A stranger with the device id from its label and the shared claim password sends five wrong
    /// proofs. Before, that locked the code for good and the installer's real code was refused as
    /// `locked`. Now the proofs are slowed down, the technician is alarmed, and the real code works
    /// once the wait has passed.
    @Test func aStrangerCannotBurnTheInstallersCode() async throws {
        let s = try World()
        let code = try s.issue("LOA-2")
        for _ in 0..<5 { await s.ask("LOA-2", ClaimCode.generate()) }
        let answers = s.answers.sent.withLock { $0 }
        #expect(answers.map(\.reason) == [.wrongCode, .wrongCode, .wrongCode, .locked, .locked])
        #expect(answers[2].retryAfter == 60 && answers[4].retryAfter == 60, "\(answers.map(\.retryAfter))")
        #expect(s.count(ClaimCounter.refused(.wrongCode)) == 3, "proofs sent during the wait are not even looked at")
        // The technician hears of it: an alarm on the device, which clears once the code is used.
        let incidents = try HealthQueries(s.w.db).latestIncidents(since: s.w.clock.now() - AlarmConditions.eventHold)
        #expect(incidents["LOA-2"]?["claim_attempts"] != nil)
        let alarms = AlarmService(database: s.w.db, clock: s.w.clock, configuration: AlarmConfiguration())
        let seen = [DeviceObservation(deviceID: "LOA-2", deviceClass: .speaker, villageID: nil, communeID: "cam-la", state: .unknown,
                                      since: s.w.clock.now())]
        let raised = try await alarms.evaluate(seen)
        #expect(raised.contains { if case .raised(let a) = $0 { a.kind == .claimAttempts } else { false } }, "\(raised)")

        await s.ask("LOA-2", code)
        #expect(s.answers.last?.reason == .locked && (s.answers.last?.retryAfter ?? 0) > 0, "the installer is told to wait, not to give up")
        s.w.clock.advance(by: 60)
        await s.ask("LOA-2", code)
        #expect(s.answers.last?.result == .ok, "the real code works once the wait has passed")
        #expect(try HealthQueries(s.w.db).latestIncidents(since: s.w.clock.now() - 3600)["LOA-2"]?["claim_attempts"] == nil)
        s.w.clock.advance(by: 60)
        let cleared = try await alarms.evaluate(seen)
        #expect(cleared.contains { if case .cleared(let a) = $0 { a.kind == .claimAttempts } else { false } }, "\(cleared)")

        // A stranger who keeps at it waits longer each time, up to an hour; a new code starts afresh.
        _ = try s.issue("LOA-1")
        for _ in 0..<3 { await s.ask("LOA-1", ClaimCode.generate()) }
        var waits: [Int] = []
        for _ in 0..<8 {
            s.w.clock.advance(by: TimeInterval(s.answers.last?.retryAfter ?? 0))
            await s.ask("LOA-1", ClaimCode.generate())
            waits.append(s.answers.last?.retryAfter ?? 0)
        }
        #expect(waits == [120, 240, 480, 960, 1920, 3600, 3600, 3600], "\(waits)")
        let fresh = try s.issue("LOA-1")
        await s.ask("LOA-1", fresh)
        #expect(s.answers.last?.result == .ok, "a new code starts afresh")
    }

    @Test func expiredMissingAndRemovedAreRefusedWithTheirReason() async throws {
        let s = try World()
        let code = try s.issue("LOA-1", hours: 1)
        s.w.clock.advance(by: 3601)
        await s.ask("LOA-1", code)
        #expect(s.answers.last?.reason == .expired)
        await s.ask("LOA-2", ClaimCode.generate())
        #expect(s.answers.last?.reason == .noCode)
        let code2 = try s.issue("LOA-2")
        _ = try DeviceRepository(s.w.db).remove("LOA-2", at: s.w.clock.now())
        await s.ask("LOA-2", code2)
        #expect(s.answers.last?.reason == .noCode)
        #expect(s.accounts.made.withLock { $0.isEmpty })
    }

    @Test func aBrokerFailureLeavesTheCodeUsable() async throws {
        let s = try World()
        let code = try s.issue("LOA-1")
        s.accounts.failing.withLock { $0 = true }
        await s.ask("LOA-1", code)
        #expect(s.answers.last?.reason == .tryAgain)
        s.accounts.failing.withLock { $0 = false }
        await s.ask("LOA-1", code)
        #expect(s.answers.last?.result == .ok)
    }

    @Test func unreadableOrMisaddressedRequestsAreCountedAndGetNoAnswer() async throws {
        let s = try World()
        let code = try s.issue("LOA-1")
        await s.ask("LOA-1", code, topicDevice: "LOA-2")  // payload says LOA-1, topic LOA-2
        for payload in ["", "{", "{\"v\":1}", String(repeating: "x", count: 5_000)] {
            await s.service.handle(MQTTMessage(topic: Topics.claimRequest("LOA-1"), payload: Array(payload.utf8), retained: false))
        }
        #expect(s.answers.count == 0)
        #expect(s.count(ClaimCounter.unreadable) == 5)
        await s.ask("LOA-1", code)
        #expect(s.answers.last?.result == .ok, "noise did not touch the code")
    }
}
