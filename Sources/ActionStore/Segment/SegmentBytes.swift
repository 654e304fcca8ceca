import CLZ4
import CXXHash

// Byte-level helpers of the segment codecs: little-endian writer, bounds-checked reader,
// varints, bit-packing, LZ4 and checksums. See docs/segment-format.md.

/// An append-only little-endian byte buffer.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ v: Int) { varint(UInt64(v)) }

    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    mutating func string(_ s: String) {
        varint(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }

    mutating func append(_ other: [UInt8]) { bytes.append(contentsOf: other) }
}

/// A cursor over bytes that throws ``ActionStoreError`` (`.corruption`) instead of reading out of bounds.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    var offset: Int
    /// Names the region in error messages ("footer", "column x block 3").
    let region: () -> String

    init(_ base: UnsafeRawBufferPointer, offset: Int = 0, region: @escaping () -> String) {
        self.base = base
        self.offset = offset
        self.region = region
    }

    var remaining: Int { base.count - offset }
    var isAtEnd: Bool { offset == base.count }

    func fail(_ what: String) -> ActionStoreError {
        ActionStoreError(.corruption, "\(region()): \(what) at byte \(offset)")
    }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= remaining else { throw fail("truncated (need \(n) bytes, have \(remaining))") }
    }

    mutating func u8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        // Safe because need(1) checked the bounds.
        return unsafe base[offset]
    }

    mutating func u32() throws -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return unsafe UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return unsafe UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64, shift < 63 || b <= 1 else { throw fail("varint overflow") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    /// A varint that must be at most `limit`, as an Int.
    mutating func count(max limit: Int, _ what: String) throws -> Int {
        let v = try varint()
        guard v <= UInt64(limit) else { throw fail("\(what) \(v) exceeds \(limit)") }
        return Int(v)
    }

    mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        try need(n)
        defer { offset += n }
        return unsafe UnsafeRawBufferPointer(rebasing: base[offset..<offset + n])
    }

    mutating func string() throws -> String {
        let n = try count(max: remaining, "string length")
        return String(decoding: try bytes(n), as: UTF8.self)
    }
}

/// Checksums of the segment format: XXH3-64 of the stored bytes.
enum Checksum {
    static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        unsafe XXH3_64bits(bytes.baseAddress, bytes.count)
    }

    static func xxh3(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { unsafe xxh3($0) }
    }

    /// Whether a stored checksum matches the one computed. A fuzzing build (`-DFUZZING`, made by
    /// `make fuzz` only, never shipped) accepts any stored value, so that libFuzzer's mutations
    /// reach the decoders behind the checksums instead of all stopping at the first mismatch: the
    /// reader must survive a file whose checksums are right and whose contents are hostile.
    @inline(__always)
    static func matches<T: FixedWidthInteger>(_ stored: T, _ computed: T) -> Bool {
        #if FUZZING
        return true
        #else
        return stored == computed
        #endif
    }
}

/// LZ4 block compression (no frame format: sizes live in the footer).
enum LZ4 {
    /// Compresses `raw`; returns nil when compression does not save at least 1/16 of the bytes.
    static func compress(_ raw: [UInt8]) -> [UInt8]? {
        guard !raw.isEmpty, raw.count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(raw.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let n = raw.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                unsafe LZ4_compress_default(
                    src.baseAddress!.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(raw.count),
                    Int32(bound)
                )
            }
        }
        guard n > 0, Int(n) < raw.count - raw.count / 16 else { return nil }
        out.removeLast(out.count - Int(n))
        return out
    }

    /// Decompresses exactly `rawSize` bytes into a fresh buffer followed by `slack` zero bytes.
    /// - Returns: nil if the input is not an LZ4 block of exactly that size.
    static func decompress(_ src: UnsafeRawBufferPointer, rawSize: Int, slack: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: rawSize + slack)
        guard rawSize > 0 else { return src.isEmpty ? out : nil }
        guard src.count > 0, src.count <= Int(Int32.max), rawSize <= Int(Int32.max) else { return nil }
        let n = out.withUnsafeMutableBytes { dst in
            unsafe LZ4_decompress_safe(
                src.baseAddress!.assumingMemoryBound(to: CChar.self),
                dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(src.count),
                Int32(rawSize)
            )
        }
        return Int(n) == rawSize ? out : nil
    }
}

/// Little-endian bit-packing of unsigned values at a fixed width (0...64), LSB first.
enum BitPacking {
    /// Bits needed to represent `v` (0 for 0).
    static func width(_ v: UInt64) -> Int { 64 - v.leadingZeroBitCount }

    static func packedBytes(count: Int, width: Int) -> Int { (count * width + 7) / 8 }

    /// Appends `values` packed at `width` bits each.
    static func pack(_ values: some Sequence<UInt64>, width: Int, into w: inout ByteWriter) {
        guard width > 0 else { return }
        var acc: UInt64 = 0
        var bits = 0
        for v in values {
            acc |= v << UInt64(bits)
            let total = bits + width
            if total >= 64 {
                w.u64(acc)
                let consumed = 64 - bits
                acc = consumed == 64 ? 0 : v >> UInt64(consumed)
                bits = total - 64
            } else {
                bits = total
            }
        }
        var b = 0
        while b < bits {
            w.u8(UInt8(truncatingIfNeeded: acc))
            acc >>= 8
            b += 8
        }
    }

    /// Calls `body(i, value)` for `count` values packed at `width` bits starting at `src`.
    ///
    /// - Precondition: `src` has at least `packedBytes(count:width:) + 8` readable bytes (decoders
    ///   allocate 8 bytes of zero slack after every block so that the last value can be read with one load).
    /// - Complexity: O(count), one unaligned 64-bit load per value for widths up to 56.
    @inline(__always)
    static func unpack(
        _ src: UnsafeRawBufferPointer,
        count: Int,
        width: Int,
        _ body: (Int, UInt64) -> Void
    ) {
        precondition(src.count >= packedBytes(count: count, width: width) + 8)
        if width == 0 {
            for i in 0..<count { body(i, 0) }
            return
        }
        let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
        if width <= 56 {
            var bit = 0
            for i in 0..<count {
                // Safe because of the precondition: bit / 8 + 8 <= packedBytes + 8.
                let word = unsafe UInt64(littleEndian: src.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self))
                body(i, (word >> UInt64(bit & 7)) & mask)
                bit += width
            }
        } else {
            var bit = 0
            for i in 0..<count {
                let byte = bit >> 3
                let shift = UInt64(bit & 7)
                let lo = unsafe UInt64(littleEndian: src.loadUnaligned(fromByteOffset: byte, as: UInt64.self))
                var v = lo >> shift
                if shift + UInt64(width) > 64 {
                    let hi = unsafe UInt64(littleEndian: src.loadUnaligned(fromByteOffset: byte + 8, as: UInt64.self))
                    v |= hi << (64 - shift)
                }
                body(i, v & mask)
                bit += width
            }
        }
    }
}
