// Compiled into this package's copy of the engine module (its sources come in through the
// `Engine` symlink), so it reaches the internal JSONReader and ActionNormalizer.normalizeObjects
// with the engine's own release optimization.

/// What a walk saw; the same counters as the C shim's `simd_walk_stats`.
public struct WalkStats: Sendable, Equatable {
    public var documents: UInt64 = 0
    public var errors: UInt64 = 0
    public var objects: UInt64 = 0
    public var arrays: UInt64 = 0
    public var keys: UInt64 = 0
    public var keyBytes: UInt64 = 0
    public var strings: UInt64 = 0
    public var stringBytes: UInt64 = 0
    public var ints: UInt64 = 0
    public var intSum: UInt64 = 0
    public var doubles: UInt64 = 0
    public var doubleBits: UInt64 = 0
    public var bools: UInt64 = 0
    public var nulls: UInt64 = 0

    public init() {}
}

/// Entry points for the measurement.
public enum BenchHooks {
    /// Walks every value of every line with JSONReader, as the normalizer reads (keys into a
    /// reused key buffer, strings appended to a per-document scratch, numbers parsed into
    /// `Value`), but keeping nothing: the Swift side of the parse-only comparison.
    @inline(never)
    public static func swiftWalk(
        _ buffer: UnsafeBufferPointer<UInt8>,
        starts: [UInt64],
        ends: [UInt64]
    ) -> WalkStats {
        var w = Walker()
        for i in starts.indices {
            let line = UnsafeBufferPointer(
                rebasing: buffer[Int(starts[i])..<Int(ends[i])]
            )
            w.scratch.removeAll(keepingCapacity: true)
            do {
                var r = JSONReader(line, offsetBias: Int(starts[i]))
                try w.value(&r, depth: 0)
                try r.expectEnd()
                w.stats.documents += 1
            } catch {
                w.stats.errors += 1
            }
        }
        return w.stats
    }

    /// Normalizes every line as `Store.append` does on one core (`normalizeObjects` into a
    /// fresh `NormalizedBatch` per batch of `batchSize` lines, as `actionstore import` submits
    /// them). Returns the actions normalized, those rejected, and the leaves kept.
    @inline(never)
    public static func normalize(
        _ lines: [ArraySlice<UInt8>],
        batchSize: Int = 5000
    ) -> (
        rows: Int, rejected: Int, leaves: Int
    ) {
        let normalizer = ActionNormalizer()
        var rows = 0
        var rejected = 0
        var leaves = 0
        var lo = 0
        while lo < lines.count {
            let hi = min(lines.count, lo + batchSize)
            var batch = NormalizedBatch()
            normalizer.normalizeObjects(lines, lo..<hi, receivedAt: 0, into: &batch)
            rows += batch.rowCount
            rejected += batch.outcomes.count - batch.rowCount
            leaves += batch.leafPath.count
            lo = hi
        }
        return (rows, rejected, leaves)
    }
}

/// The Swift walker: every value visited, through the JSONReader calls the normalizer makes.
struct Walker {
    var stats = WalkStats()
    var key: [UInt8] = []
    var scratch: [UInt8] = []

    mutating func value(_ r: inout JSONReader, depth: Int) throws(ActionStoreError) {
        guard let c = r.peek() else { throw r.error("unexpected end of input, expected a value") }
        switch c {
        case 0x7B:
            guard depth + 1 <= r.depthMax else { throw r.error("nesting deeper than \(r.depthMax)") }
            stats.objects += 1
            if try r.beginObject() {
                repeat {
                    try r.readKey(into: &key)
                    stats.keys += 1
                    stats.keyBytes += UInt64(key.count)
                    try value(&r, depth: depth + 1)
                } while try r.nextMember()
            }
        case 0x5B:
            guard depth + 1 <= r.depthMax else { throw r.error("nesting deeper than \(r.depthMax)") }
            stats.arrays += 1
            if try r.beginArray() {
                repeat {
                    try value(&r, depth: depth + 1)
                } while try r.nextElement()
            }
        case 0x22:
            let start = scratch.count
            try r.readStringBytes(into: &scratch)
            stats.strings += 1
            stats.stringBytes += UInt64(scratch.count - start)
        case 0x74, 0x66, 0x6E:
            if try r.readLiteral() != nil {
                stats.bools += 1
            } else {
                stats.nulls += 1
            }
        case 0x2D, 0x30...0x39:
            switch try r.readNumber() {
            case .int(let v):
                stats.ints += 1
                stats.intSum &+= UInt64(bitPattern: v)
            case .double(let d):
                stats.doubles += 1
                stats.doubleBits ^= d.bitPattern
            default: break
            }
        default:
            throw r.error("unexpected \(r.describe(c)), expected a value")
        }
    }
}
