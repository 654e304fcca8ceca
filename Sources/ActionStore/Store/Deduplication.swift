/// Idempotent ingest by transaction_id (issue 13 item 8). An action is a duplicate when its
/// application already holds the same transaction_id at a time within `dedupeWindow` of its own,
/// whatever the age of the data: a re-import (same time) and an SDK retry without `request.time`
/// (a receive time minutes later) are both caught.
///
/// Where the ids are looked for:
/// - rows in memory (memtables, and memtables a flush is writing): `RecentTransactionIds`, an
///   exact hash table per application, emptied as their segments land, so it is bounded by the
///   memtable budget;
/// - rows in segments: each segment's binary fuse filter (about 9 bits per id, 1/256 false
///   positives; `SegmentReader.transactionIdFilter`), probed before the store lock for the
///   segments whose time range meets the window; a hit is confirmed against the segment's
///   (hash, time) pairs, so the answer is exact. Pairs are cached per segment, up to
///   `TransactionIdPairsCache.capacity` pairs in all.
///
/// Ids are compared by their XXH3-64 (`ColumnChunk.hashes(of:arena:)`): two different ids
/// collide with probability 2⁻⁶⁴ per pair; an application is not part of the hash, since ids are
/// kept per application.
struct RecentTransactionIds: Sendable {
    /// Open addressing over the id hashes themselves (already uniformly random, so no second
    /// hash: Swift's `Dictionary` would SipHash every probe), linear probing, at most half full.
    /// `keys[i] == 0` is an empty slot (a hash of 0 is stored as 1: a 2⁻⁶⁴ merge). Written by
    /// hand for that reason: no package here offers a table keyed by a precomputed hash.
    private var slots: [Slot]
    /// Further times of a hash already in the table (the same id outside its own window, or two
    /// colliding ids): rare.
    private var more: [UInt64: [Int64]] = [:]
    private(set) var count = 0
    private var used = 0

    init() { self.init(capacity: 0) }

    /// Empty, with room for `capacity` ids (the size the previous generation reached, so the
    /// table does not grow through every power of two again after each flush).
    init(capacity: Int) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [Slot](repeating: Slot(), count: n)
    }

    /// A key and its time side by side: one cache line per probe.
    struct Slot: Sendable {
        var key: UInt64 = 0
        var time: Int64 = 0
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always) private static func key(_ hash: UInt64) -> UInt64 { hash == 0 ? 1 : hash }

    @inline(__always) private func slot(of k: UInt64) -> Int {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: k >> 7) & mask
        while slots[i].key != 0 && slots[i].key != k { i = (i + 1) & mask }
        return i
    }

    /// Whether `hash` is held at a time within `window` of `time`.
    func contains(_ hash: UInt64, near time: Int64, window: Int64) -> Bool {
        let k = Self.key(hash)
        let i = slot(of: k)
        guard slots[i].key == k else { return false }
        if near(slots[i].time, time, window) { return true }
        return more[k]?.contains { near($0, time, window) } ?? false
    }

    mutating func insert(_ hash: UInt64, time: Int64) {
        _ = insert(hash, time: time, unlessWithin: -1)
    }

    /// Inserts `hash` at `time` unless it is already held within `window` of it (a negative
    /// window: always inserts), with one probe sequence.
    /// - Returns: false, changing nothing, when it was held.
    mutating func insert(_ hash: UInt64, time: Int64, unlessWithin window: Int64) -> Bool {
        let k = Self.key(hash)
        let i = slot(of: k)
        if slots[i].key == k {
            if window >= 0 {
                if near(slots[i].time, time, window) { return false }
                if more[k]?.contains(where: { near($0, time, window) }) ?? false { return false }
            }
            count += 1
            more[k, default: []].append(time)
            return true
        }
        count += 1
        slots[i] = Slot(key: k, time: time)
        used += 1
        if used * 2 > slots.count { grow() }
        return true
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        for s in old where s.key != 0 { slots[slot(of: s.key)] = s }
    }

    /// Takes back one `insert(hash, time:)` (a row rejected later in its batch, or a batch whose
    /// record could not be enqueued).
    mutating func remove(_ hash: UInt64, time: Int64) {
        let k = Self.key(hash)
        if var m = more[k], let j = m.lastIndex(of: time) {
            m.remove(at: j)
            more[k] = m.isEmpty ? nil : m
            count -= 1
            return
        }
        let i = slot(of: k)
        guard slots[i].key == k, slots[i].time == time else { return }
        count -= 1
        if var m = more[k], !m.isEmpty {
            slots[i].time = m.removeFirst()
            more[k] = m.isEmpty ? nil : m
            return
        }
        // Backward-shift deletion keeps every probe sequence unbroken.
        let mask = slots.count - 1
        var hole = i
        var j = (i + 1) & mask
        while slots[j].key != 0 {
            let home = Int(truncatingIfNeeded: slots[j].key >> 7) & mask
            // Move j into the hole when its home is not cyclically within (hole, j].
            let between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !between {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = Slot()
        used -= 1
    }
}

/// `|a - b| <= window`, false when the difference overflows.
@inline(__always)
func near(_ a: Int64, _ b: Int64, _ window: Int64) -> Bool {
    let (d, overflow) = a.subtractingReportingOverflow(b)
    return !overflow && d.magnitude <= UInt64(window)
}

/// The ids of one application not yet in an installed segment: those of the memtables, and those
/// of the memtables a running flush is writing (dropped when its segments are installed).
struct ApplicationTransactionIds: Sendable {
    var current = RecentTransactionIds()
    var flushing = RecentTransactionIds()

    var count: Int { current.count + flushing.count }

    func contains(_ hash: UInt64, near time: Int64, window: Int64) -> Bool {
        current.contains(hash, near: time, window: window) || flushing.contains(hash, near: time, window: window)
    }

    /// Inserts into `current` unless held in either generation, with one probe of `current`
    /// (and one of `flushing` only while a flush runs).
    /// - Returns: false when it was held (a duplicate).
    mutating func insert(_ hash: UInt64, time: Int64, unlessWithin window: Int64) -> Bool {
        if !flushing.isEmpty && flushing.contains(hash, near: time, window: window) { return false }
        return current.insert(hash, time: time, unlessWithin: window)
    }
}

/// Confirmed (hash, time) pairs of recently probed segments, by segment path, bounded in pairs
/// (16 bytes each): the oldest entry is dropped first.
final class TransactionIdPairsCache: Sendable {
    static let capacity = 4 << 20

    private struct State {
        var pairs: [String: [(hash: UInt64, time: Int64)]] = [:]
        var order: [String] = []
        var total = 0
    }

    private let state = Locked(State())

    /// Whether `reader` holds `hash` at a time within `window` of `time`.
    func contains(_ reader: SegmentReader, _ hash: UInt64, near time: Int64, window: Int64) throws -> Bool {
        let pairs: [(hash: UInt64, time: Int64)]
        if let p = state.withLock({ $0.pairs[reader.path] }) {
            pairs = p
        } else {
            pairs = try reader.transactionIdTimes()
            state.withLock { s in
                guard s.pairs[reader.path] == nil else { return }
                s.pairs[reader.path] = pairs
                s.order.append(reader.path)
                s.total += pairs.count
                while s.total > Self.capacity, s.order.count > 1 {
                    let old = s.order.removeFirst()
                    s.total -= s.pairs.removeValue(forKey: old)?.count ?? 0
                }
            }
        }
        // The first pair with this hash, then its times in order.
        var lo = 0
        var hi = pairs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pairs[mid].hash < hash { lo = mid + 1 } else { hi = mid }
        }
        while lo < pairs.count, pairs[lo].hash == hash {
            if near(pairs[lo].time, time, window) { return true }
            lo += 1
        }
        return false
    }
}

extension Store {
    /// The segments of `application` whose time range meets `range`, with the manifest version
    /// they belong to.
    struct DedupeSegments {
        var version: UInt64
        var segments: [(path: String, reader: SegmentReader, minTime: Int64, maxTime: Int64)]
    }

    /// Taken under the store lock: the segments a batch's ids must be looked for in.
    /// - Complexity: O(partitions of the application); only partitions that meet `range` are read.
    static func dedupeSegments(_ s: State, application: String, range: ClosedRange<Int64>) -> DedupeSegments {
        var out = DedupeSegments(version: s.manifest.version, segments: [])
        guard let app = s.manifest.applications[application] else { return out }
        for (partition, segs) in app.partitions {
            for e in segs where e.rows > 0 && e.minTime <= range.upperBound && e.maxTime >= range.lowerBound {
                let rel = StoreFiles.segmentRelative(application: application, partition: partition, file: e.file)
                guard case .success(let reader) = s.readers[rel] else { continue }
                out.segments.append((rel, reader, e.minTime, e.maxTime))
            }
        }
        return out
    }

    /// The rows of a batch whose transaction id one of `segments` already holds near the row's
    /// time. Filters first; each hit confirmed against the segment's pairs.
    /// - Parameter skip: rows already known to be duplicates (or without an id).
    ///
    /// A segment whose filter or ids cannot be read is logged and passed over (its rows cannot
    /// be told apart, and one damaged segment must not stop ingest; `verify` reports it).
    func duplicatesInSegments(
        _ segments: DedupeSegments,
        hashes: [UInt64?],
        times: [Int64],
        except skip: RowBitmap? = nil
    ) -> RowBitmap? {
        guard !segments.segments.isEmpty else { return nil }
        var filters = [BinaryFuseFilter?](repeating: nil, count: segments.segments.count)
        var out: RowBitmap?
        let w = dedupeWindowMicros
        for (row, h) in hashes.enumerated() {
            guard let h, !(skip?[row] ?? false) else { continue }
            let t = times[row]
            for (k, seg) in segments.segments.enumerated() where seg.minTime <= t &+ w && seg.maxTime >= t &- w {
                do {
                    if filters[k] == nil { filters[k] = try seg.reader.transactionIdFilter() }
                    guard filters[k]!.mayContain(h) else { continue }
                    guard try transactionIdPairs.contains(seg.reader, h, near: t, window: w) else { continue }
                } catch {
                    logger.warning("deduplication: cannot read the transaction ids of \(seg.path): \(error)")
                    filters[k] = .empty
                    continue
                }
                if out == nil { out = RowBitmap(count: hashes.count) }
                out![row] = true
                break
            }
        }
        return out
    }
}
