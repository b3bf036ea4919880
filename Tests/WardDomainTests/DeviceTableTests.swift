import Foundation
import Testing
@testable import WardDomain

/// Issue 16 (4): per-device state held densely must behave exactly as the dictionaries it replaces.
@Suite struct DeviceTableTests {
    @Test func behavesAsADictionaryUnderRandomUse() {
        var rng = SeededRandom(seed: 16)
        var table = DeviceTable<Int>()
        var model: [String: Int] = [:]
        let ids = (0..<200).map { "LOA-\($0)" }
        for step in 0..<20_000 {
            let id = ids[Int(rng.next() % UInt64(ids.count))]
            switch rng.next() % 5 {
            case 0, 1:
                table[id] = step
                model[id] = step
            case 2:
                table[id] = nil
                model[id] = nil
            case 3:
                let r = table.modify(id) { v -> Int in v += 1; return v }
                if model[id] != nil { model[id]! += 1 }
                #expect(r == model[id])
            default:
                #expect(table[id] == model[id])
                #expect(table.contains(id) == (model[id] != nil))
            }
            #expect(table.count == model.count)
        }
        #expect(table.dictionary == model)
        #expect(Set(table.ids) == Set(model.keys))
        #expect(table.values.reduce(0, +) == model.values.reduce(0, +))
    }

    @Test func updateEachAndRemoveAllChangeInPlace() {
        var table = DeviceTable<Int>()
        for i in 0..<10 { table["D\(i)"] = i }
        table.updateEach { _, v in v *= 10 }
        table.removeAll { _, v in v >= 50 }
        #expect(table.dictionary == ["D0": 0, "D1": 10, "D2": 20, "D3": 30, "D4": 40])
        // Freed slots are reused: the table does not grow with churn.
        for i in 10..<15 { table["D\(i)"] = i }
        #expect(table.count == 10)
        #expect(table.dictionary["D14"] == 14)
    }

    @Test func trackerKeepsItsDictionaryView() {
        var t = LivenessTracker()
        t.track("A", DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: t0))
        t.track("B", DeviceLiveness(deviceClass: .camera, config: .defaults(for: .camera), since: t0))
        t.untrack("A")
        #expect(Set(t.devices.keys) == ["B"])
        #expect(t.count == 1 && t.isTracked("B") && !t.isTracked("A"))
    }
}

@Suite struct MessageBudgetMemoryTests {
    let start = Date(timeIntervalSince1970: 1_790_000_000)

    /// A fleet reading once a minute keeps no bucket per device: full buckets are forgotten.
    @Test func aQuietFleetHoldsFewBuckets() {
        var b = MessageBudget(perSecond: 20, burst: 200)
        for i in 0..<20_000 {
            let allowed = b.allow("AP-\(i)", at: start.addingTimeInterval(Double(i) * 0.003))
            #expect(allowed)
        }
        #expect(b.heldBuckets < 2_100)
    }

    /// Forgetting full buckets changes no decision: the same traffic as a budget that keeps every bucket.
    @Test func pruningChangesNoDecision() {
        var rng = SeededRandom(seed: 7)
        var b = MessageBudget(perSecond: 5, burst: 20)
        var reference: [String: (tokens: Double, at: Date)] = [:]
        var now = start
        for _ in 0..<60_000 {
            now += rng.unit() * 0.01
            // Most of 3,000 devices are quiet; a few flood.
            let id = rng.next() % 4 == 0 ? "FLOOD-\(rng.next() % 3)" : "D-\(rng.next() % 3_000)"
            var r = reference[id] ?? (20, now)
            r.tokens = min(20, r.tokens + max(0, now.timeIntervalSince(r.at)) * 5)
            r.at = now
            let expected = r.tokens >= 1
            if expected { r.tokens -= 1 }
            reference[id] = r
            #expect(b.allow(id, at: now) == expected)
        }
        #expect(b.heldBuckets < reference.count)
    }
}

/// Issue 16 (4): the compact forms of long-lived per-device and per-place values give back exactly what they were given.
@Suite struct CompactValueTests {
    @Test func sortedTableAnswersAsTheDictionaryItReplaces() {
        var rng = SeededRandom(seed: 4)
        var entries: [(String, Int)] = []
        for i in 0..<2_000 { entries.append(("xa\(rng.next() % 700)-t\(rng.next() % 10)", i)) }
        let table = SortedTable(entries)
        let model = Dictionary(entries, uniquingKeysWith: { a, _ in a })  // the first of a repeated id wins
        #expect(table.count == model.count)
        for (k, v) in model { #expect(table[k] == v) }
        for k in ["", "xa", "xa1000-t1", "zz", "Thôn Cẩm La"] { #expect(table[k] == model[k]) }
        #expect(SortedTable<Int>()["a"] == nil)
    }

    @Test func bootIDsRoundTrip() throws {
        for text in ["00000000000000ff", "9e3779b97f4a7c15", "ffffffffffffffff", "0000000000000000",
                     "9E3779B97F4A7C15", "boot-1", "", "9e3779b97f4a7c1", "9e3779b97f4a7c155", "+e3779b97f4a7c15", "Thôn"] {
            #expect(BootID(text).text == text)
            #expect(BootID(text) == BootID(text))
        }
        #expect(BootID("00000000000000ff") != BootID("00000000000000FF"))
        var l = DeviceLiveness(deviceClass: .speaker, config: .defaults(for: .speaker), since: Date(timeIntervalSince1970: 0))
        l.bootID = "9e3779b97f4a7c15"
        let json = try JSONEncoder().encode(l)
        #expect(String(decoding: json, as: UTF8.self).contains("\"bootID\":\"9e3779b97f4a7c15\""))
        #expect(try JSONDecoder().decode(DeviceLiveness.self, from: json) == l)
        l.bootID = nil
        #expect(l.bootID == nil)
    }

    /// The packed liveness reads back every value written, optional or not, and compares by value.
    @Test func livenessKeepsEveryValueInItsCompactForm() throws {
        var rng = SeededRandom(seed: 96)
        let configs = [DeviceConfig(), .defaults(for: .camera), .defaults(for: .speaker), .defaults(for: .kiosk),
                       DeviceConfig(requiredRetentionDays: 0, maxVolume: 0, kioskRole: .rating), DeviceConfig(requiredRetentionDays: 365)]
        for _ in 0..<500 {
            let config = configs[Int(rng.next() % UInt64(configs.count))]
            var l = DeviceLiveness(deviceClass: DeviceClass.allCases[Int(rng.next() % 4)], config: config,
                                   since: Date(timeIntervalSince1970: Double(rng.next() % 2_000_000_000)))
            let seq: UInt64? = rng.next() % 3 == 0 ? nil : [0, 1, UInt64.max, rng.next()][Int(rng.next() % 4)]
            let eventSeq: UInt64? = rng.next() % 3 == 0 ? nil : rng.next() % 5
            let heard: Date? = rng.next() % 3 == 0 ? nil : [Date(timeIntervalSinceReferenceDate: 0), Date(timeIntervalSince1970: 1.5e9)][Int(rng.next() % 2)]
            let expected: Date? = rng.next() % 2 == 0 ? nil : Date(timeIntervalSince1970: Double(rng.next() % 1_000))
            let boot: String? = rng.next() % 3 == 0 ? nil : ["9e3779b97f4a7c15", "boot-\(rng.next() % 9)", ""][Int(rng.next() % 3)]
            l.lastSeq = seq; l.lastEventSeq = eventSeq; l.lastHeard = heard; l.expectedBy = expected; l.bootID = boot
            l.state = HealthState.allCases[Int(rng.next() % 4)]
            #expect(l.lastSeq == seq && l.lastEventSeq == eventSeq && l.lastHeard == heard && l.expectedBy == expected)
            #expect(l.bootID == boot && l.config == config)
            let decoded = try JSONDecoder().decode(DeviceLiveness.self, from: JSONEncoder().encode(l))
            #expect(decoded == l && decoded.hashValue == l.hashValue)
            // Unset again, a value compares equal to one never set.
            var cleared = l
            cleared.lastSeq = nil; cleared.lastEventSeq = nil; cleared.lastHeard = nil; cleared.expectedBy = nil; cleared.bootID = nil
            var fresh = l
            fresh.lastSeq = 7; fresh.lastSeq = nil; fresh.lastEventSeq = nil; fresh.lastHeard = nil; fresh.expectedBy = nil; fresh.bootID = nil
            #expect(cleared == fresh)
            if seq != nil { #expect(cleared != l) }
        }
        // Configuration numbers past 32 bits saturate (days of footage, a volume percentage).
        var big = DeviceLiveness(deviceClass: .camera, config: DeviceConfig(requiredRetentionDays: Int.max), since: Date())
        #expect(big.config.requiredRetentionDays == Int(Int32.max))
        big.config = DeviceConfig(maxVolume: -5)
        #expect(big.config == DeviceConfig(maxVolume: -5))
    }

    /// A province's fleet holds one liveness per device for the whole run (issue 16, item 4).
    @Test func livenessStaysCompact() {
        #expect(MemoryLayout<DeviceLiveness>.stride <= 96)
        #expect(MemoryLayout<DeviceLiveness?>.stride <= 96)
    }
}
