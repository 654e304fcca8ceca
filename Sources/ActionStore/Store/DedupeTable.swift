/// The transaction ids one application stored recently, for idempotent ingest: an action whose
/// transaction_id is remembered is acknowledged as `.duplicate` and not stored again.
///
/// Each id is remembered as its 64-bit XXH3 hash in a `Set`, plus a FIFO ring of
/// `(hash, action time)` in insertion order for eviction. An id is forgotten when its action time
/// falls more than the window behind the newest action time seen (relative to the data, not the
/// wall clock, so replaying old data behaves the same), or when the table holds more than its cap
/// (the oldest inserted goes first). Eviction walks the ring from its head and stops at the first
/// id still inside the window: a late action inserted behind newer ones lives a little longer.
///
/// Memory: a `Set<UInt64>` element costs 8 bytes at a load factor between 3/8 and 3/4 (11–21
/// bytes) and a ring entry 16 bytes (up to twice that while the array grows): about 40 bytes per
/// remembered id, so the default cap of 2,000,000 ids is about 80 MB per application.
///
/// False positives: two different ids collide with probability 2⁻⁶⁴; a new id is wrongly taken
/// for a duplicate with probability about n / 2⁶⁴ for n remembered ids (1.1 × 10⁻¹³ at n = 2M,
/// i.e. about one wrong duplicate per 10¹³ actions at the cap).
///
/// Tables are per application, so the application is not part of the hash.
struct DedupeTable: Sendable {
    private(set) var ids = Set<UInt64>()
    private var ring: [Entry] = []
    private var head = 0
    /// The newest action time remembered (UTC µs).
    private(set) var newest = Int64.min

    struct Entry: Sendable {
        var hash: UInt64
        var time: Int64
    }

    var count: Int { ids.count }

    /// The hash of a transaction id.
    static func hash(_ transactionId: String) -> UInt64 {
        var s = transactionId
        return s.withUTF8 { unsafe Checksum.xxh3(UnsafeRawBufferPointer($0)) }
    }

    func contains(_ hash: UInt64) -> Bool { ids.contains(hash) }

    /// Remembers `hash`; returns false (changing nothing) when it is already remembered.
    /// - Complexity: O(1) amortized: one hash-set insertion.
    mutating func insert(_ hash: UInt64, time: Int64) -> Bool {
        guard ids.insert(hash).inserted else { return false }
        ring.append(Entry(hash: hash, time: time))
        if time > newest { newest = time }
        return true
    }

    /// Forgets the last `n` insertions (a batch whose journal record could not be enqueued).
    mutating func removeLast(_ n: Int) {
        precondition(n <= ring.count - head, "removing more than was inserted")
        for _ in 0..<n { ids.remove(ring.removeLast().hash) }
    }

    /// Forgets ids older than `window` behind the newest time, and the oldest beyond `cap`.
    /// - Complexity: O(evicted), amortized O(1) per insertion.
    mutating func evict(window: Int64, cap: Int) {
        let cutoff = newest == .min ? Int64.min : newest &- window
        while head < ring.count && (ring[head].time < cutoff || ids.count > cap) {
            ids.remove(ring[head].hash)
            head += 1
        }
        // Reclaim the consumed prefix once it is half the array.
        if head > 1024 && head * 2 > ring.count {
            ring.removeFirst(head)
            head = 0
        }
    }
}

/// Benchmark hook, not API (`actionstore _bench-compaction`): hashes `ids` and remembers them in a
/// fresh table as `commit` does (insert per id, evict per batch of 5,000), then looks every id up
/// again as a duplicate.
/// - Returns: nanoseconds per id for hashing, for inserting, and for a duplicate lookup.
public func _benchmarkDedupe(ids: [String], cap: Int = 2_000_000) -> (hash: Double, insert: Double, lookup: Double) {
    let clock = ContinuousClock()
    var hashes: [UInt64] = []
    hashes.reserveCapacity(ids.count)
    let tHash = clock.measure { for id in ids { hashes.append(DedupeTable.hash(id)) } }
    var table = DedupeTable()
    let window: Int64 = 7 * 86_400_000_000
    let tInsert = clock.measure {
        for (i, h) in hashes.enumerated() {
            _ = table.insert(h, time: Int64(i))
            if i % 5000 == 4999 { table.evict(window: window, cap: cap) }
        }
    }
    var found = 0
    let tLookup = clock.measure { for h in hashes where table.contains(h) { found += 1 } }
    precondition(found == min(ids.count, cap + 5000), "dedupe lost ids: \(found)")
    func ns(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
    }
    let n = Double(max(ids.count, 1))
    return (ns(tHash) / n, ns(tInsert) / n, ns(tLookup) / n)
}
