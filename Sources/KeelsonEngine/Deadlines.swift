/// Keys with one deadline each, earliest first: a binary min-heap with an index of where each key
/// sits, so that setting, moving or removing a key's deadline costs O(log n), and reading the
/// earliest O(1). Ties are broken by key, so the order is the same in every run.
struct Deadlines<Key: Hashable & Comparable & Sendable, Time: Comparable & Sendable>: Sendable {
    private var heap: [(at: Time, key: Key)] = []
    private var slots: [Key: Int] = [:]

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    /// The earliest deadline, if any.
    var earliest: Time? { heap.first?.at }

    func deadline(of key: Key) -> Time? { slots[key].map { heap[$0].at } }

    /// Sets (or moves) `key`'s deadline.
    mutating func set(_ key: Key, at time: Time) {
        if let slot = slots[key] {
            let old = heap[slot].at
            heap[slot].at = time
            if time < old { up(slot) } else { down(slot) }
        } else {
            heap.append((time, key))
            slots[key] = heap.count - 1
            up(heap.count - 1)
        }
    }

    mutating func remove(_ key: Key) {
        guard let slot = slots.removeValue(forKey: key) else { return }
        let last = heap.count - 1
        if slot != last {
            heap.swapAt(slot, last)
            slots[heap[slot].key] = slot
        }
        heap.removeLast()
        if slot < heap.count {
            up(slot)
            down(slot)
        }
    }

    /// Removes the keys whose deadline is at or before `now`, and returns them earliest first.
    mutating func popDue(at now: Time) -> [Key] {
        var due: [Key] = []
        while let first = heap.first, first.at <= now {
            due.append(first.key)
            remove(first.key)
        }
        return due
    }

    /// Removes and returns the earliest key if its deadline is at or before `now`.
    mutating func popFirst(dueAt now: Time) -> Key? {
        guard let first = heap.first, first.at <= now else { return nil }
        remove(first.key)
        return first.key
    }

    /// The keys whose deadline is at or before `now`, sorted by key; they stay.
    func due(at now: Time) -> [Key] {
        var due: [Key] = []
        var stack = heap.isEmpty ? [] : [0]
        // Only the part of the heap at or before `now` is visited: a child is never earlier.
        while let slot = stack.popLast() {
            guard heap[slot].at <= now else { continue }
            due.append(heap[slot].key)
            if 2 * slot + 1 < heap.count { stack.append(2 * slot + 1) }
            if 2 * slot + 2 < heap.count { stack.append(2 * slot + 2) }
        }
        return due.sorted()
    }

    private func before(_ a: Int, _ b: Int) -> Bool {
        heap[a].at < heap[b].at || (heap[a].at == heap[b].at && heap[a].key < heap[b].key)
    }

    private mutating func swap(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        slots[heap[a].key] = a
        slots[heap[b].key] = b
    }

    private mutating func up(_ start: Int) {
        var slot = start
        while slot > 0 {
            let parent = (slot - 1) / 2
            guard before(slot, parent) else { return }
            swap(slot, parent)
            slot = parent
        }
    }

    private mutating func down(_ start: Int) {
        var slot = start
        while true {
            var first = slot
            let left = 2 * slot + 1
            if left < heap.count, before(left, first) { first = left }
            if left + 1 < heap.count, before(left + 1, first) { first = left + 1 }
            guard first != slot else { return }
            swap(slot, first)
            slot = first
        }
    }
}
