import CXXHash

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Byte strings as a segment column's writer takes them: slots (`offset << 32 | length`) into an
/// arena, as a ``ColumnChunk`` holds them. No `String` per value.
struct ByteStrings {
    let arena: [UInt8]
    let slots: [UInt64]

    init(arena: [UInt8], slots: [UInt64]) {
        self.arena = arena
        self.slots = slots
    }

    /// Strings copied into an arena (the writer's path for values it only has as `String`).
    init(_ strings: [String]) {
        var arena: [UInt8] = []
        var slots: [UInt64] = []
        slots.reserveCapacity(strings.count)
        for s in strings {
            slots.append(ColumnChunk.slot(offset: arena.count, length: s.utf8.count))
            arena.append(contentsOf: s.utf8)
        }
        self.init(arena: arena, slots: slots)
    }

    var count: Int { slots.count }

    func length(_ i: Int) -> Int { Int(slots[i] & 0xFFFF_FFFF) }

    func string(_ i: Int) -> String {
        let o = Int(slots[i] >> 32)
        return String(decoding: arena[o..<o + length(i)], as: UTF8.self)
    }

    /// Appends value `i`'s bytes to `out`.
    func append(_ i: Int, to out: inout [UInt8]) {
        let o = Int(slots[i] >> 32)
        arena.withUnsafeBufferPointer { out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[o..<o + length(i)])) }
    }

    /// `parse` of every value, or nil as soon as one does not parse.
    func allParse<T>(_ parse: (UnsafeBufferPointer<UInt8>) -> T?) -> [T]? {
        arena.withUnsafeBufferPointer { base in
            var out: [T] = []
            out.reserveCapacity(slots.count)
            for s in slots {
                let o = Int(s >> 32)
                guard let p = parse(UnsafeBufferPointer(rebasing: base[o..<o + Int(s & 0xFFFF_FFFF)])) else {
                    return nil
                }
                out.append(p)
            }
            return out
        }
    }

    /// The indexes of the least and the greatest value by bytes, nil when empty.
    func minMax() -> (Int, Int)? {
        guard !slots.isEmpty else { return nil }
        return arena.withUnsafeBufferPointer { base in
            var lo = 0
            var hi = 0
            for i in 1..<slots.count {
                if Self.compare(base, slots[i], slots[lo]) < 0 { lo = i }
                if Self.compare(base, slots[hi], slots[i]) < 0 { hi = i }
            }
            return (lo, hi)
        }
    }

    /// memcmp order of two slots' bytes, shorter first on a tie.
    static func compare(_ base: UnsafeBufferPointer<UInt8>, _ a: UInt64, _ b: UInt64) -> Int {
        let la = Int(a & 0xFFFF_FFFF)
        let lb = Int(b & 0xFFFF_FFFF)
        let n = min(la, lb)
        if n > 0 {
            // Safe because both ranges lie inside the arena.
            let c = memcmp(base.baseAddress! + Int(a >> 32), base.baseAddress! + Int(b >> 32), n)
            if c != 0 { return Int(c) }
        }
        return la - lb
    }

    /// The distinct values: `first[id]` is the index of the first value with id `id` (ids in
    /// first-seen order), `order` the ids in byte order, `codes[i]` value `i`'s position in
    /// `order`, `bytes` the distinct values' total length.
    struct Dictionary {
        var first: [Int32]
        var order: [Int32]
        var codes: [UInt32]
        var bytes: Int
    }

    /// Builds the dictionary. A flat open-addressing table of XXH3-64 hashes (Swift's
    /// `Dictionary` would hash every value again with SipHash through a `String`).
    func dictionary() -> Dictionary {
        arena.withUnsafeBufferPointer { base -> Dictionary in
            var capacity = 16
            while capacity < slots.count * 2 { capacity <<= 1 }
            let mask = capacity - 1
            var table = [Int32](repeating: -1, count: capacity)
            var hashes: [UInt64] = []
            var first: [Int32] = []
            var provisional = [UInt32](repeating: 0, count: slots.count)
            var bytes = 0
            for (i, s) in slots.enumerated() {
                let o = Int(s >> 32)
                let n = Int(s & 0xFFFF_FFFF)
                let h = XXH3_64bits(base.baseAddress.map { $0 + o }, n)
                var p = Int(truncatingIfNeeded: h) & mask
                while true {
                    let id = table[p]
                    if id < 0 {
                        table[p] = Int32(first.count)
                        provisional[i] = UInt32(first.count)
                        first.append(Int32(i))
                        hashes.append(h)
                        bytes += n
                        break
                    }
                    if hashes[Int(id)] == h, Self.compare(base, slots[Int(first[Int(id)])], s) == 0 {
                        provisional[i] = UInt32(id)
                        break
                    }
                    p = (p + 1) & mask
                }
            }
            var order = (0..<Int32(first.count)).map { $0 }
            order.sort { Self.compare(base, slots[Int(first[Int($0)])], slots[Int(first[Int($1)])]) < 0 }
            var remap = [UInt32](repeating: 0, count: first.count)
            for (code, id) in order.enumerated() { remap[Int(id)] = UInt32(code) }
            let codes = provisional.map { remap[Int($0)] }
            return Dictionary(first: first, order: order, codes: codes, bytes: bytes)
        }
    }
}
