import Foundation
import Testing
@testable import WardDomain

/// Issue 16 (6): the report's faster paths must give exactly what the plain ones gave.
@Suite struct ReportSpeedTests {
    @Test func radixOrderIsTheComparisonOrder() {
        var rng = SeededRandom(seed: 6)
        for n in [0, 1, 5, 256, 257, 1_000, 60_000] {
            var values: [Double] = []
            for i in 0..<n {
                switch rng.next() % 6 {
                case 0: values.append(Double(rng.next() % 3_600))                        // whole seconds, many equal
                case 1: values.append(Double(rng.next() % 100_000) / 1000)               // millisecond waits
                case 2: values.append(-Double(rng.next() % 500) / 7)                    // negatives
                case 3: values.append(i % 2 == 0 ? 0.0 : -0.0)
                case 4: values.append(Double(bitPattern: rng.next() >> 2))               // anything finite and positive
                default: values.append([Double.infinity, -Double.infinity, .leastNonzeroMagnitude, 1e300][Int(rng.next() % 4)])
                }
            }
            let radix = KioskFigures.ascending(values), plain = values.sorted()
            #expect(radix.count == plain.count)
            #expect(zip(radix, plain).allSatisfy { $0 == $1 }, "n = \(n)")
            // The sum the report takes (in ascending order) is the same.
            let a = radix.reduce(0, +), b = plain.reduce(0, +)
            #expect(a == b || (a.isNaN && b.isNaN))  // NaN when both infinities were drawn
            #expect(KioskFigures.percentile(sorted: radix, 0.9) == KioskFigures.percentile(values, 0.9))
        }
    }

    @Test func nfcFastPathKeepsNormalisation() {
        let composed = "Thôn Cẩm La, Xã Đông Ngũ - Quảng Ninh, Phường Hồng Hải"
        let decomposed = composed.decomposedStringWithCanonicalMapping
        #expect(decomposed.unicodeScalars.count > composed.unicodeScalars.count)
        #expect(composed.isSurelyNFC)
        #expect(!decomposed.isSurelyNFC)
        #expect(decomposed.nfc.unicodeScalars.elementsEqual(composed.unicodeScalars))
        #expect(composed.nfc.unicodeScalars.elementsEqual(composed.unicodeScalars))
        // Outside the fast ranges the full normalisation still runs: Ω (U+2126) becomes Ω (U+03A9).
        #expect("\u{2126}".nfc.unicodeScalars.first?.value == 0x3A9)
        #expect(!"Xã A – B".isSurelyNFC && "Xã A – B".nfc == "Xã A – B")  // an en dash takes the full path, unchanged
        #expect(Place(id: "t", level: .village, name: decomposed).name.unicodeScalars.elementsEqual(composed.unicodeScalars))
    }

    @Test func sortedTableKeepsTheFirstOfEqualKeys() {
        var rng = SeededRandom(seed: 7)
        var entries: [(String, Int)] = []
        for i in 0..<5_000 { entries.append(("P-\(rng.next() % 1_500)", i)) }
        let table = SortedTable(entries)
        var firsts: [String: Int] = [:]
        for (k, v) in entries where firsts[k] == nil { firsts[k] = v }
        #expect(table.count == firsts.count)
        for (k, v) in firsts { #expect(table[k] == v) }
        #expect(table["absent"] == nil)
    }
}
