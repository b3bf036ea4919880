/// A read-only map from string ids to values, held as two sorted arrays searched by halving.
///
/// For lookups that are rare but whose table lives for the whole run (alarm wording: a place's
/// name, a device's site). A `[String: V]` of a province's 108,000 places keeps 262,144 buckets;
/// here the same entries cost two arrays of exactly their count, and nothing per entry beyond
/// the strings themselves (ids of up to 15 bytes sit inside their array slot).
public struct SortedTable<Value: Sendable>: Sendable {
    private let keys: [String]
    private let values: [Value]

    /// Later duplicates of a key are dropped (the first one wins, as `uniquingKeysWith: { a, _ in a }`).
    public init<S: Sequence>(_ entries: S) where S.Element == (String, Value) {
        let pairs = Array(entries)
        // Sorting positions by the keys alone keeps the comparisons concrete (String, Int): sorting
        // the generic pairs went through runtime tuple metadata and cost 30× more (a report builds
        // a table of a province's places each time). Stable: among equal keys the first stays first.
        let given = pairs.map(\.0)
        let order = given.indices.sorted { given[$0] != given[$1] ? given[$0] < given[$1] : $0 < $1 }
        var keys: [String] = [], values: [Value] = []
        keys.reserveCapacity(pairs.count)
        values.reserveCapacity(pairs.count)
        for i in order where keys.last != given[i] {
            keys.append(given[i])
            values.append(pairs[i].1)
        }
        self.keys = keys
        self.values = values
    }

    public init() { self.init(EmptyCollection<(String, Value)>()) }

    public var count: Int { keys.count }

    public subscript(key: String) -> Value? {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid] < key { lo = mid + 1 } else { hi = mid }
        }
        return lo < keys.count && keys[lo] == key ? values[lo] : nil
    }
}
