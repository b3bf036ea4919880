/// Per-device values keyed by device id, stored densely: ids are interned to slots of one array.
///
/// A `[String: Value]` holding 100,000 devices keeps 262,144 buckets (its load factor is at most
/// 3/4 and its capacity a power of two), each `Value`-sized: a 180-byte value costs 47 MB. Here the
/// hash table maps ids to 4-byte slots and the values sit in an array sized by the fleet, so the
/// same devices cost about 5 MB of index plus 100,000 values. Slots of removed ids are reused.
/// Iteration order is slot order (not sorted, as a dictionary's is not).
public struct DeviceTable<Value>: Sendable where Value: Sendable {
    private var slots: [String: Int32] = [:]
    private var keys: [String?] = []
    private var storage: [Value?] = []
    private var free: [Int32] = []

    public init() {}

    public var count: Int { slots.count }
    public var isEmpty: Bool { slots.isEmpty }

    public func contains(_ id: String) -> Bool { slots[id] != nil }

    public subscript(id: String) -> Value? {
        get { slots[id].flatMap { storage[Int($0)] } }
        set {
            if let newValue {
                if let s = slots[id] {
                    storage[Int(s)] = newValue
                } else if let s = free.popLast() {
                    slots[id] = s
                    keys[Int(s)] = id
                    storage[Int(s)] = newValue
                } else {
                    slots[id] = Int32(storage.count)
                    keys.append(id)
                    storage.append(newValue)
                }
            } else if let s = slots.removeValue(forKey: id) {
                keys[Int(s)] = nil
                storage[Int(s)] = nil
                free.append(s)
            }
        }
    }

    /// Changes the value of `id` in place (no copy of the value); nil when `id` is not present.
    @discardableResult
    public mutating func modify<R>(_ id: String, _ body: (inout Value) throws -> R) rethrows -> R? {
        guard let s = slots[id] else { return nil }
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
