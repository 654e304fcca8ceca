// The engine's one byte codec: a little-endian writer (`ByteEncoder`, usually as `ByteWriter`)
// and a bounds-checked reader (`ByteReader`), with LEB128 varints and zigzag. The journal's framing
// (docs/journal-format.md), its batch payloads (`BatchCodec`) and segment files
// (docs/segment-format.md) are all written and read with these.

/// Where a ``ByteEncoder`` puts its bytes.
protocol ByteSink {
    /// The bytes written so far.
    var count: Int { get }
    mutating func append(_ byte: UInt8)
    mutating func append(_ bytes: UnsafeRawBufferPointer)
}

/// A growable byte array: the sink of ``ByteWriter``.
extension [UInt8]: ByteSink {
    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
}

/// A buffer of a size known in advance (``BatchCodec`` computes it exactly): writes go straight
/// to memory, each checking the end (a write past it traps: the size computation was wrong).
struct FixedBytes: ByteSink {
    let base: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ base: UnsafeMutableBufferPointer<UInt8>) { self.base = UnsafeMutableRawBufferPointer(base) }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        precondition(count < base.count, "write past the end of a FixedBytes")
        unsafe base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= base.count - count, "write past the end of a FixedBytes")
        if bytes.count > 0 {
            unsafe (base.baseAddress! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        count += bytes.count
    }
}

/// The little-endian writer: fixed-width integers, LEB128 varints, zigzag, length-prefixed strings,
/// into any ``ByteSink``. ``ByteWriter`` (into a growable array) is the usual one.
struct ByteEncoder<Sink: ByteSink> {
    /// The bytes written, in their sink.
    var bytes: Sink

    init(_ sink: Sink) { bytes = sink }

    var count: Int { bytes.count }

    @inline(__always)
    mutating func u8(_ v: UInt8) { bytes.append(v) }

    @inline(__always)
    mutating func u16(_ v: UInt16) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append($0) }
    }

    @inline(__always)
    mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append($0) }
    }

    @inline(__always)
    mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append($0) }
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

    mutating func zigzag(_ v: Int64) { varint(ByteEncoder.zigzag(v)) }

    /// A string: its UTF-8 byte count as a varint, then the bytes.
    mutating func string(_ s: String) {
        // Native strings (all of ours) expose their UTF-8 in place; a bridged or lazily
        // transcoded string takes the copying path once.
        if s.utf8.withContiguousStorageIfAvailable({ utf8(UnsafeRawBufferPointer($0)) }) == nil {
            var copy = s
            copy.withUTF8 { utf8(UnsafeRawBufferPointer($0)) }
        }
    }

    @inline(__always)
    private mutating func utf8(_ src: UnsafeRawBufferPointer) {
        varint(src.count)
        bytes.append(src)
    }

    mutating func append(_ other: [UInt8]) { other.withUnsafeBytes { bytes.append($0) } }

    /// Signed to unsigned, small magnitudes to small numbers: 0, -1, 1, -2 → 0, 1, 2, 3.
    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    /// The bytes of `v` as a varint.
    static func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (70 - v.leadingZeroBitCount) / 7 }
}

/// An append-only little-endian byte buffer.
typealias ByteWriter = ByteEncoder<[UInt8]>

extension ByteEncoder where Sink == [UInt8] {
    /// An empty buffer with room for `capacity` bytes.
    init(capacity: Int = 0) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        self.init(bytes)
    }

    /// Appends to `bytes` in place (no copy) through a writer.
    static func appending<R>(to bytes: inout [UInt8], _ body: (inout ByteWriter) throws -> R) rethrows -> R {
        var w = ByteWriter()
        swap(&w.bytes, &bytes)
        defer { swap(&w.bytes, &bytes) }
        return try body(&w)
    }
}

/// A cursor over bytes that throws ``ActionStoreError`` (`.corruption`) instead of reading out of
/// bounds; each error names the region being read and the byte offset.
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

    @inline(__always)
    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= remaining else { throw fail("truncated (need \(n) bytes, have \(remaining))") }
    }

    @inline(__always)
    mutating func u8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        // Safe because need(1) checked the bounds.
        return unsafe base[offset]
    }

    @inline(__always)
    mutating func u16() throws -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return ByteReader.load(UInt16.self, base, at: offset)
    }

    @inline(__always)
    mutating func u32() throws -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return ByteReader.load(UInt32.self, base, at: offset)
    }

    @inline(__always)
    mutating func u64() throws -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return ByteReader.load(UInt64.self, base, at: offset)
    }

    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            // The 10th byte may carry only the top bit of a UInt64.
            guard shift < 63 || b <= 1 else { throw fail("varint overflows 64 bits") }
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

    mutating func zigzag() throws -> Int64 { ByteReader.unzigzag(try varint()) }

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        try need(n)
        defer { offset += n }
        return unsafe UnsafeRawBufferPointer(rebasing: base[offset..<offset + n])
    }

    /// A string written by ``ByteWriter/string(_:)``; invalid UTF-8 is repaired (U+FFFD).
    mutating func string() throws -> String {
        let n = try count(max: remaining, "string length")
        return String(decoding: try bytes(n), as: UTF8.self)
    }

    /// The inverse of `ByteEncoder.zigzag`.
    static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    /// The little-endian integer at `offset` of `bytes`, for a caller that has checked the bounds
    /// (asserted only): the journal reader's record scan, the bit unpacker.
    @inline(__always)
    static func load<T: FixedWidthInteger & BitwiseCopyable>(
        _: T.Type,
        _ bytes: UnsafeRawBufferPointer,
        at offset: Int
    ) -> T {
        assert(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count)
        return unsafe T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
