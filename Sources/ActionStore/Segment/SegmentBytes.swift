import CLZ4
import CXXHash

// Byte-level helpers of the segment codecs: bit-packing, LZ4 and checksums (the little-endian
// writer and reader are `ByteWriter` and `ByteReader`, Model/ByteCodec.swift). See
// docs/segment-format.md.

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
                let word = ByteReader.load(UInt64.self, src, at: bit >> 3)
                body(i, (word >> UInt64(bit & 7)) & mask)
                bit += width
            }
        } else {
            var bit = 0
            for i in 0..<count {
                let byte = bit >> 3
                let shift = UInt64(bit & 7)
                let lo = ByteReader.load(UInt64.self, src, at: byte)
                var v = lo >> shift
                if shift + UInt64(width) > 64 {
                    let hi = ByteReader.load(UInt64.self, src, at: byte + 8)
                    v |= hi << (64 - shift)
                }
                body(i, v & mask)
                bit += width
            }
        }
    }
}
