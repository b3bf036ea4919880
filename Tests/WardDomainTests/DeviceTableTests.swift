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
}
