/// Per-device values keyed by device id, stored densely: ids are interned to slots of one array.
///
/// A `[String: Value]` holding 100,000 devices keeps 262,144 buckets (its load factor is at most
/// 3/4 and its capacity a power of two), each `Value`-sized: a 180-byte value costs 47 MB. Here the
/// values sit in an array sized by the fleet, and the hash index holds only 4-byte slot numbers
/// (open addressing over the ids kept in `keys`): 1 MB of index for 100,000 devices, where a
/// `[String: Int32]` index would take 5 MB. Slots of removed ids are reused.
/// Iteration order is slot order (not sorted, as a dictionary's is not).
public struct DeviceTable<Value>: Sendable where Value: Sendable {
    /// Power-of-two sized; each entry a slot, `empty` or `removed` (a tombstone: probing goes on past it).
    private var index: [Int32] = []
    private var tombstones = 0
    private var keys: [String?] = []
    private var storage: [Value?] = []
    private var free: [Int32] = []
    public private(set) var count = 0

    private static var empty: Int32 { -1 }
    private static var removed: Int32 { -2 }

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public func contains(_ id: String) -> Bool { slot(of: id) != nil }

    /// Room for `n` ids without growing: a fleet read at once is held in arrays of its size,
    /// not in ones doubled past it (up to twice the memory) as appends would leave them.
    public mutating func reserveCapacity(_ n: Int) {
        keys.reserveCapacity(n)
        storage.reserveCapacity(n)
        if n > Self.load(index.count) { rebuildIndex(for: n) }
    }

    /// Entries an index of `size` takes before it grows (3/4 full, tombstones included).
    private static func load(_ size: Int) -> Int { size / 4 * 3 }

    private func slot(of id: String) -> Int32? {
        guard !index.isEmpty else { return nil }
        let mask = index.count - 1
        var i = id.hashValue & mask
        while true {
            let s = index[i]
            if s == Self.empty { return nil }
            if s != Self.removed, keys[Int(s)] == id { return s }
            i = (i + 1) & mask
        }
    }

    /// Where `id` (not present) goes: the first tombstone or empty entry on its probe.
    private func insertionPoint(of id: String) -> Int {
        let mask = index.count - 1
        var i = id.hashValue & mask
        while index[i] >= 0 { i = (i + 1) & mask }
        return i
    }

    private mutating func rebuildIndex(for n: Int) {
        var size = 16
        while Self.load(size) < n { size *= 2 }
        index = Array(repeating: Self.empty, count: size)
        tombstones = 0
        for (s, k) in keys.enumerated() {
            guard let k else { continue }
            index[insertionPoint(of: k)] = Int32(s)
        }
    }

    public subscript(id: String) -> Value? {
        get { slot(of: id).flatMap { storage[Int($0)] } }
        set {
            if let newValue {
                if let s = slot(of: id) {
                    storage[Int(s)] = newValue
                    return
                }
                if count + tombstones + 1 > Self.load(index.count) { rebuildIndex(for: Swift.max(count + 1, 2 * count)) }
                let s: Int32
                if let reused = free.popLast() {
                    s = reused
                    keys[Int(s)] = id
                    storage[Int(s)] = newValue
                } else {
                    s = Int32(storage.count)
                    keys.append(id)
                    storage.append(newValue)
                }
                let at = insertionPoint(of: id)
                if index[at] == Self.removed { tombstones -= 1 }
                index[at] = s
                count += 1
            } else if let s = slot(of: id) {
                let mask = index.count - 1
                var i = id.hashValue & mask
                while index[i] != s { i = (i + 1) & mask }
                index[i] = Self.removed
                tombstones += 1
                keys[Int(s)] = nil
                storage[Int(s)] = nil
                free.append(s)
                count -= 1
            }
        }
    }

    /// Changes the value of `id` in place (no copy of the value); nil when `id` is not present.
    @discardableResult
    public mutating func modify<R>(_ id: String, _ body: (inout Value) throws -> R) rethrows -> R? {
        guard let s = slot(of: id) else { return nil }
        return try body(&storage[Int(s)]!)
    }

    /// Calls `body` with every id and its value, which it may change in place.
    public mutating func updateEach(_ body: (String, inout Value) throws -> Void) rethrows {
        for i in storage.indices {
            guard let id = keys[i], storage[i] != nil else { continue }
            try body(id, &storage[i]!)
        }
    }

    /// Every value (slot order), read as it goes: no copy of the fleet.
    public var values: LazyMapSequence<DeviceTable, Value> { lazy.map(\.value) }

    /// Every id present (slot order).
    public var ids: [String] { keys.compactMap { $0 } }

    /// Drops every id `keep` refuses.
    public mutating func removeAll(where remove: (String, Value) throws -> Bool) rethrows {
        for i in storage.indices {
            guard let id = keys[i], let v = storage[i], try remove(id, v) else { continue }
            self[id] = nil
        }
    }

    /// The same values as a dictionary (for tests and rare whole-fleet views; costs the dictionary).
    public var dictionary: [String: Value] {
        var out = [String: Value](minimumCapacity: count)
        for (id, v) in self { out[id] = v }
        return out
    }
}

extension DeviceTable: Sequence {
    public struct Iterator: IteratorProtocol {
        fileprivate let table: DeviceTable
        fileprivate var i = 0
        public mutating func next() -> (id: String, value: Value)? {
            while i < table.storage.count {
                defer { i += 1 }
                if let id = table.keys[i], let v = table.storage[i] { return (id, v) }
            }
            return nil
        }
    }
    public func makeIterator() -> Iterator { Iterator(table: self) }
    public var underestimatedCount: Int { count }
}
