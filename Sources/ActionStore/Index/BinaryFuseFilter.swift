import Foundation

/// An immutable membership filter over a fixed set of 64-bit keys (the XXH3 hashes of a segment's
/// transaction ids): `mayContain` is always true for a key of the set, and true for about 1 in 256
/// other keys. A binary fuse filter with 8-bit fingerprints (Graf & Lemire, "Binary Fuse Filters:
/// Fast and Smaller Than Xor Filters", 2022): about 9.05 bits per key at a million keys, three
/// probes in three consecutive segments of one byte array. Format and hashing: docs/binary-fuse-filter.md.
///
/// Each key hashes to three slots and an 8-bit fingerprint; construction fills the slots so that the
/// XOR of a key's three slots equals its fingerprint. A key outside the set passes when the XOR of
/// its three (effectively random) bytes happens to equal its fingerprint: 1 in 256.
struct BinaryFuseFilter: Sendable, Hashable {
    /// Mixed with each key before hashing; the first of the builder's seed sequence whose hashing
    /// lets every key be placed. 0 in the empty filter.
    let seed: UInt64
    /// Slots per segment: a power of two in `1...segmentLengthMax`, 0 in the empty filter.
    let segmentLength: UInt32
    /// The number of segments a key's first slot can fall in; the array holds `segmentCount + 2`
    /// segments because the second and third slots lie one and two segments further on. 0 in the
    /// empty filter.
    let segmentCount: UInt32
    /// The number of distinct keys the filter was built from.
    let keyCount: Int
    /// One byte per slot: `(segmentCount + 2) * segmentLength` bytes, none in the empty filter.
    let fingerprints: [UInt8]

    /// Where a hash's slots are (derived from the fields above, not encoded).
    private let shape: Shape

    /// The largest segment length: the second and third slots take their offsets inside a segment
    /// from hash bits 18..<36 and 0..<18, so a segment can have at most 2^18 slots.
    static let segmentLengthMax: UInt32 = 1 << 18
    /// The most keys one filter takes: keeps the array length (about 1.125 bytes a key plus three
    /// segments) and every slot number below 2^32, as the 32-bit header fields need.
    static let keyCountMax = 1 << 31
    /// Seeds tried before construction gives up. Each attempt succeeds with probability well over
    /// 1/2 for any set of distinct keys (near 1 past a few hundred keys), so the limit is reached
    /// only by a bug.
    static let attemptsMax = 100
    /// The encoded header: seed u64, segment length u32, segment count u32, key count u32.
    static let headerBytes = 20

    /// Builds the filter of `keys` (any order; duplicates are removed first).
    /// - Parameter keys: the keys; at most `keyCountMax` distinct ones.
    /// - Throws: `ActionStoreError(.limitExceeded)` when there are more than `keyCountMax` distinct
    ///   keys or when `attemptsMax` seeds all fail (which needs a bug: distinct keys peel with
    ///   probability over 1/2 per seed).
    /// - Complexity: expected O(n): a radix sort (a comparison sort below `radixSortCountMin`
    ///   keys), then nearly always one peeling pass; about 40 bytes of scratch per key.
    init(keys: [UInt64]) throws {
        self = try Self._testingBuild(keys: keys, attemptsMax: Self.attemptsMax).filter
    }

    /// Builds the filter of `keys` trying at most `attemptsMax` seeds, and says how many it took:
    /// lets tests reach the retry and the failure paths. Not API.
    static func _testingBuild(keys: [UInt64], attemptsMax: Int) throws -> (filter: Self, attempts: Int) {
        var unique = keys.count < radixSortCountMin ? keys.sorted() : radixSorted(keys)
        unique.removeDuplicatesFromSorted()
        guard unique.count <= keyCountMax else {
            throw ActionStoreError(
                .limitExceeded,
                "binary fuse filter: \(unique.count) distinct keys exceed the limit of \(keyCountMax) a filter"
            )
        }
        guard !unique.isEmpty else { return (Self.empty, 0) }
        var builder = Builder(keyCount: unique.count)
        var seeds = SeedSequence()
        var attempt = 0
        while attempt < attemptsMax {
            attempt += 1
            let seed = seeds.next()
            if let fingerprints = builder.fill(unique, seed: seed) {
                let filter = Self(
                    seed: seed,
                    segmentLength: builder.segmentLength,
                    segmentCount: builder.segmentCount,
                    keyCount: unique.count,
                    fingerprints: fingerprints
                )
                return (filter, attempt)
            }
        }
        throw ActionStoreError(
            .limitExceeded,
            "binary fuse filter: no placement of \(unique.count) distinct keys found with \(attemptsMax) seeds"
                + " (each seed should succeed with probability over 1/2: this is a bug, please report it)"
        )
    }

    /// The filter of no keys: no fingerprint bytes, `mayContain` always false.
    static let empty = Self(seed: 0, segmentLength: 0, segmentCount: 0, keyCount: 0, fingerprints: [])

    private init(seed: UInt64, segmentLength: UInt32, segmentCount: UInt32, keyCount: Int, fingerprints: [UInt8]) {
        assert(fingerprints.count == Self.arrayLength(segmentLength: segmentLength, segmentCount: segmentCount))
        self.seed = seed
        self.segmentLength = segmentLength
        self.segmentCount = segmentCount
        self.keyCount = keyCount
        self.fingerprints = fingerprints
        shape = Shape(segmentLength: segmentLength, segmentCount: segmentCount)
    }

    /// Whether `key` may be in the set: always true for a key of the set, true for about 1/256 of
    /// other keys, false for every key in the empty filter.
    /// - Complexity: O(1): one 64-bit mix, three byte loads, no allocation.
    @inline(__always)
    func mayContain(_ key: UInt64) -> Bool {
        guard !fingerprints.isEmpty else { return false }
        let hash = Self.mix(key, seed: seed)
        let (a, b, c) = shape.slots(of: hash)
        return Self.fingerprint(of: hash) ^ fingerprints[a] ^ fingerprints[b] ^ fingerprints[c] == 0
    }

    /// The bytes of the encoding (header and fingerprints); the filter's memory is the same plus
    /// a few words.
    var byteCount: Int { Self.headerBytes + fingerprints.count }

    // MARK: Hashing (docs/binary-fuse-filter.md, "Hashing")

    /// The 64-bit finalizer of MurmurHash3 over `key + seed` (wrapping): a bijection, so distinct
    /// keys keep distinct hashes under every seed.
    @inline(__always)
    static func mix(_ key: UInt64, seed: UInt64) -> UInt64 {
        var h = key &+ seed
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// The low byte of `hash ^ (hash >> 32)`.
    @inline(__always)
    static func fingerprint(of hash: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: hash ^ (hash >> 32)) }

    /// The slot layout of one filter: what `slots(of:)` needs, precomputed.
    struct Shape: Sendable, Hashable {
        let segmentLength: UInt32
        let segmentLengthMask: UInt32
        /// `segmentCount * segmentLength`: the range of a key's first slot.
        let firstSlotRange: UInt64

        init(segmentLength: UInt32, segmentCount: UInt32) {
            self.segmentLength = segmentLength
            segmentLengthMask = segmentLength &- 1
            firstSlotRange = UInt64(segmentCount) * UInt64(segmentLength)
        }

        /// The three slots of `hash`: the first anywhere in the first `segmentCount` segments (the
        /// high word of `hash * segmentCount * segmentLength`), the second and third at the same
        /// place one and two segments on, their offsets inside the segment flipped by hash bits
        /// 18..<36 and 0..<18. Every slot is below `(segmentCount + 2) * segmentLength`.
        @inline(__always)
        func slots(of hash: UInt64) -> (Int, Int, Int) {
            let first = UInt32(truncatingIfNeeded: hash.multipliedFullWidth(by: firstSlotRange).high)
            let second = (first &+ segmentLength) ^ (UInt32(truncatingIfNeeded: hash >> 18) & segmentLengthMask)
            let third = (first &+ 2 &* segmentLength) ^ (UInt32(truncatingIfNeeded: hash) & segmentLengthMask)
            return (Int(first), Int(second), Int(third))
        }
    }

    /// The slots of `segmentCount` segments plus the two the last keys spill into; 0 when there
    /// are no segments.
    static func arrayLength(segmentLength: UInt32, segmentCount: UInt32) -> Int {
        segmentCount == 0 ? 0 : (Int(segmentCount) + 2) * Int(segmentLength)
    }

    // MARK: Encoding (docs/binary-fuse-filter.md, "Format")

    /// Appends the filter: the 20-byte header (seed u64, segment length u32, segment count u32,
    /// key count u32, little-endian), then the fingerprint bytes.
    /// - Complexity: O(byteCount).
    func encode<Sink: ByteSink>(into w: inout ByteEncoder<Sink>) {
        w.u64(seed)
        w.u32(segmentLength)
        w.u32(segmentCount)
        w.u32(UInt32(keyCount))
        w.append(fingerprints)
    }

    /// The encoding alone.
    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: byteCount)
        encode(into: &w)
        return w.bytes
    }

    /// Reads a filter written by `encode(into:)` at the reader's offset and moves past it.
    /// - Throws: `ActionStoreError(.corruption)` naming the reader's region, the field that is
    ///   wrong and its byte offset: truncated bytes, a segment length that is not a power of two in
    ///   `1...segmentLengthMax`, an array past 2^32 bytes, a key count of 0 in a non-empty filter or
    ///   above the slot count, a non-zero field in the empty filter.
    /// - Complexity: O(fingerprint bytes), one copy.
    init(decoding r: inout ByteReader) throws {
        let start = r.offset
        func fail(_ what: String, at field: Int) -> ActionStoreError {
            ActionStoreError(.corruption, "\(r.region()): binary fuse filter \(what) at byte \(start + field)")
        }
        try r.need(Self.headerBytes)
        let seed = try r.u64()
        let segmentLength = try r.u32()
        let segmentCount = try r.u32()
        let keyCount = try r.u32()
        if segmentCount == 0 {
            guard segmentLength == 0 else { throw fail("segment length \(segmentLength) with 0 segments", at: 8) }
            guard keyCount == 0 else { throw fail("key count \(keyCount) with 0 segments", at: 16) }
            guard seed == 0 else { throw fail("seed \(seed) with 0 segments", at: 0) }
            self = Self.empty
            return
        }
        guard segmentLength.nonzeroBitCount == 1, segmentLength <= Self.segmentLengthMax else {
            throw fail("segment length \(segmentLength) is not a power of two in 1...\(Self.segmentLengthMax)", at: 8)
        }
        let length = Self.arrayLength(segmentLength: segmentLength, segmentCount: segmentCount)
        guard length <= Int(UInt32.max) else {
            throw fail(
                "segment count \(segmentCount) makes \(length) slots of length \(segmentLength), past 2^32",
                at: 12
            )
        }
        guard keyCount > 0, keyCount <= length else {
            throw fail("key count \(keyCount) is not in 1...\(length) (the slot count)", at: 16)
        }
        guard length <= r.remaining else {
            throw fail(
                "truncated: \(length) fingerprint bytes declared, \(r.remaining) left",
                at: Self.headerBytes
            )
        }
        let bytes = [UInt8](try r.bytes(length))
        self.init(
            seed: seed,
            segmentLength: segmentLength,
            segmentCount: segmentCount,
            keyCount: Int(keyCount),
            fingerprints: bytes
        )
    }

    /// Reads a filter that must span `bytes` exactly.
    /// - Parameter region: names the bytes in error messages ("segment 12 transaction_id filter").
    /// - Throws: as `init(decoding:)` with a reader, and when bytes follow the filter.
    init(decoding bytes: [UInt8], region: @autoclosure @escaping () -> String = "binary fuse filter") throws {
        self = try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, region: region)
            let filter = try Self(decoding: &r)
            guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the binary fuse filter") }
            return filter
        }
    }
}

// MARK: - Construction

extension BinaryFuseFilter {
    /// The seeds tried in turn: SplitMix64 from a fixed start, so a key set always builds the same
    /// bytes.
    struct SeedSequence {
        private var state: UInt64 = 0x4163_7469_6F6E_5354  // "ActionST"

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The sizing of a filter of `keyCount` keys and its scratch arrays, reused across seeds.
    ///
    /// Construction is peeling: a slot that only one key maps to can hold whatever that key needs,
    /// so that key is taken out (pushed on a stack) and its other two slots lose it, which may leave
    /// them with one key in turn. If every key comes out, the fingerprints are assigned in reverse
    /// order of removal: each key's own slot is set last among the slots touching it, to the XOR of
    /// its fingerprint and its two other slots. If some slots keep two or more keys (a cycle), the
    /// seed is changed and everything restarts.
    struct Builder {
        let segmentLength: UInt32
        let segmentCount: UInt32
        let arrayLength: Int
        /// Hash bits (from the top) that order keys by their first segment before insertion, so
        /// neighbouring keys touch neighbouring slots: far fewer cache misses past ~100k keys.
        private let blockBits: Int

        /// Per slot: `keys << 2 | tags`, where tags is the XOR of the key positions (0, 1, 2) that
        /// map there, so a slot left with one key knows which of that key's three slots it is.
        private var slotState: [UInt8]
        /// Per slot: the XOR of the hashes of the keys still mapping to it; with one key left,
        /// that key's hash.
        private var slotHashes: [UInt64]
        /// Keys' hashes by first segment (block of top hash bits).
        private var ordered: [UInt64]
        /// The removed keys in order, with the position (0, 1, 2) of the slot each was removed from.
        private var removed: [UInt64]
        private var removedPosition: [UInt8]
        /// Slots with one key, waiting to be peeled.
        private var singles: [UInt32]

        init(keyCount n: Int) {
            precondition(n > 0 && n <= BinaryFuseFilter.keyCountMax)
            let l = Self.segmentLength(keyCount: n)
            let capacity = n == 1 ? 0 : Int((Double(n) * Self.sizeFactor(keyCount: n)).rounded())
            let segmentsCovering = (capacity + l - 1) / l
            let count = max(1, segmentsCovering - 2)
            segmentLength = UInt32(l)
            segmentCount = UInt32(count)
            arrayLength = (count + 2) * l
            var bits = 0
            while 1 << bits < count { bits += 1 }
            blockBits = bits
            slotState = []
            slotHashes = []
            ordered = []
            removed = []
            removedPosition = []
            singles = []
        }

        /// 2 to the power `floor(ln n / ln 3.33 + 2.25)`, at most `segmentLengthMax`: the segment
        /// length the paper found fastest to build for arity 3.
        static func segmentLength(keyCount n: Int) -> Int {
            guard n > 1 else { return 4 }
            let exponent = Int((log(Double(n)) / log(3.33) + 2.25).rounded(.down))
            return min(1 << exponent, Int(BinaryFuseFilter.segmentLengthMax))
        }

        /// Slots per key before rounding up to whole segments: `max(1.125, 0.875 + 0.25 * ln 10^6 / ln n)`,
        /// more room for small sets, where peeling needs it.
        static func sizeFactor(keyCount n: Int) -> Double {
            max(1.125, 0.875 + 0.25 * log(1_000_000) / log(Double(n)))
        }

        /// Tries one seed: the fingerprint array if every key could be placed, nil if not.
        /// - Parameter keys: sorted, without duplicates.
        mutating func fill(_ keys: [UInt64], seed: UInt64) -> [UInt8]? {
            let shape = Shape(segmentLength: segmentLength, segmentCount: segmentCount)
            order(keys, seed: seed)
            guard insert(shape) else { return nil }
            guard peel(shape, keyCount: keys.count) else { return nil }
            return assign(shape)
        }

        /// Fills `ordered` with the keys' hashes, grouped by their top `blockBits` bits (a counting
        /// sort), which follows the order of their first slots.
        private mutating func order(_ keys: [UInt64], seed: UInt64) {
            let shift = UInt64(64 - blockBits)
            var starts = [Int](repeating: 0, count: (1 << blockBits) + 1)
            if blockBits > 0 {
                for key in keys { starts[Int(BinaryFuseFilter.mix(key, seed: seed) >> shift) + 1] += 1 }
                for b in 1..<starts.count { starts[b] += starts[b - 1] }
            }
            ordered = [UInt64](repeating: 0, count: keys.count)
            for key in keys {
                let hash = BinaryFuseFilter.mix(key, seed: seed)
                let block = blockBits > 0 ? Int(hash >> shift) : 0
                ordered[starts[block]] = hash
                starts[block] += 1
            }
        }

        /// Counts every key in its three slots; false if a slot's count overflows its 6 bits
        /// (64 keys in one slot: a hopeless seed).
        private mutating func insert(_ shape: Shape) -> Bool {
            slotState = [UInt8](repeating: 0, count: arrayLength)
            slotHashes = [UInt64](repeating: 0, count: arrayLength)
            var overflow = false
            for hash in ordered {
                let (a, b, c) = shape.slots(of: hash)
                overflow = add(hash, at: a, position: 0) || overflow
                overflow = add(hash, at: b, position: 1) || overflow
                overflow = add(hash, at: c, position: 2) || overflow
            }
            return !overflow
        }

        /// Adds one key to a slot; true on overflow.
        @inline(__always)
        private mutating func add(_ hash: UInt64, at slot: Int, position: UInt8) -> Bool {
            let (state, overflow) = slotState[slot].addingReportingOverflow(4)
            slotState[slot] = state ^ position
            slotHashes[slot] ^= hash
            return overflow
        }

        /// Takes out keys that are alone in a slot until none is left; false if some key is stuck.
        private mutating func peel(_ shape: Shape, keyCount: Int) -> Bool {
            singles.removeAll(keepingCapacity: true)
            singles.reserveCapacity(arrayLength)
            removed.removeAll(keepingCapacity: true)
            removed.reserveCapacity(keyCount)
            removedPosition.removeAll(keepingCapacity: true)
            removedPosition.reserveCapacity(keyCount)
            for slot in 0..<arrayLength where slotState[slot] >> 2 == 1 { singles.append(UInt32(slot)) }
            while let next = singles.popLast() {
                let slot = Int(next)
                // A slot can lose its one key through another slot after it was queued.
                guard slotState[slot] >> 2 == 1 else { continue }
                let hash = slotHashes[slot]
                let position = slotState[slot] & 3
                removed.append(hash)
                removedPosition.append(position)
                slotState[slot] = 0
                let (a, b, c) = shape.slots(of: hash)
                // The two slots of this key other than `slot`, with their positions.
                switch position {
                case 0:
                    remove(hash, from: b, position: 1)
                    remove(hash, from: c, position: 2)
                case 1:
                    remove(hash, from: a, position: 0)
                    remove(hash, from: c, position: 2)
                default:
                    remove(hash, from: a, position: 0)
                    remove(hash, from: b, position: 1)
                }
            }
            return removed.count == keyCount
        }

        @inline(__always)
        private mutating func remove(_ hash: UInt64, from slot: Int, position: UInt8) {
            let state = (slotState[slot] &- 4) ^ position
            slotState[slot] = state
            slotHashes[slot] ^= hash
            if state >> 2 == 1 { singles.append(UInt32(slot)) }
        }

        /// Sets each removed key's own slot, last removed first, so that its three slots XOR to
        /// its fingerprint; later assignments never touch a slot an earlier key relies on.
        private func assign(_ shape: Shape) -> [UInt8] {
            var fingerprints = [UInt8](repeating: 0, count: arrayLength)
            for i in removed.indices.reversed() {
                let hash = removed[i]
                let (a, b, c) = shape.slots(of: hash)
                let f = BinaryFuseFilter.fingerprint(of: hash)
                switch removedPosition[i] {
                case 0: fingerprints[a] = f ^ fingerprints[b] ^ fingerprints[c]
                case 1: fingerprints[b] = f ^ fingerprints[a] ^ fingerprints[c]
                default: fingerprints[c] = f ^ fingerprints[a] ^ fingerprints[b]
                }
            }
            return fingerprints
        }
    }
}

extension BinaryFuseFilter {
    /// From this many keys `radixSorted` beats the standard library's comparison sort.
    static let radixSortCountMin = 2048

    /// `keys` in increasing order by a least-significant-digit radix sort, a byte a pass, skipping
    /// the bytes all keys share: 8 linear passes instead of ~n log n comparisons, half the build
    /// time at a million keys.
    /// - Complexity: O(n), with n extra words.
    static func radixSorted(_ keys: [UInt64]) -> [UInt64] {
        var from = keys
        guard let any = keys.first else { return from }
        var to = [UInt64](repeating: 0, count: keys.count)
        var counts = [Int](repeating: 0, count: 8 * 256)
        for key in keys {
            for digit in 0..<8 { counts[digit << 8 | Int(truncatingIfNeeded: key >> (digit * 8)) & 0xFF] += 1 }
        }
        for digit in 0..<8 {
            let shift = UInt64(digit * 8)
            // Every key has the byte of `any` here: this pass would not move anything.
            if counts[digit << 8 | Int(truncatingIfNeeded: any >> shift) & 0xFF] == keys.count { continue }
            var next = [Int](repeating: 0, count: 256)
            var sum = 0
            for byte in 0..<256 {
                next[byte] = sum
                sum += counts[digit << 8 | byte]
            }
            for key in from {
                let byte = Int(truncatingIfNeeded: key >> shift) & 0xFF
                to[next[byte]] = key
                next[byte] += 1
            }
            swap(&from, &to)
        }
        return from
    }
}

extension Array where Element: Equatable {
    /// Drops each element equal to the one before it: on a sorted array, the duplicates.
    /// - Complexity: O(n), in place.
    fileprivate mutating func removeDuplicatesFromSorted() {
        guard count > 1 else { return }
        var kept = 1
        for i in 1..<count where self[i] != self[kept - 1] {
            self[kept] = self[i]
            kept += 1
        }
        removeSubrange(kept...)
    }
}
