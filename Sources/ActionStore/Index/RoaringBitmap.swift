import CRoaring

/// A compressed set of 32-bit row numbers (CRoaring), the posting list of one dictionary value.
///
/// Immutable after construction: set operations return new bitmaps.
///
/// `@unchecked Sendable` because the wrapped `roaring_bitmap_t` is only read after `init`
/// (CRoaring reads are thread-safe when copy-on-write is off, its default), and freed once in `deinit`.
public final class RoaringBitmap: @unchecked Sendable, CustomStringConvertible {
    // Owned; never nil, never mutated after init.
    private let handle: UnsafeMutablePointer<roaring_bitmap_t>

    private init(owning handle: UnsafeMutablePointer<roaring_bitmap_t>) {
        self.handle = handle
    }

    /// The empty set.
    public convenience init() {
        self.init(owning: unsafe roaring_bitmap_create()!)
    }

    /// The set of `values` (any order, duplicates allowed), run-optimized.
    public convenience init(_ values: [UInt32]) {
        let h = unsafe roaring_bitmap_create()!
        values.withUnsafeBufferPointer { unsafe roaring_bitmap_add_many(h, $0.count, $0.baseAddress) }
        _ = unsafe roaring_bitmap_run_optimize(h)
        self.init(owning: h)
    }

    deinit { unsafe roaring_bitmap_free(handle) }

    public func contains(_ value: UInt32) -> Bool { unsafe roaring_bitmap_contains(handle, value) }

    public var cardinality: Int { Int(unsafe roaring_bitmap_get_cardinality(handle)) }

    public var isEmpty: Bool { cardinality == 0 }

    /// The largest member, nil when empty.
    public var maximum: UInt32? { isEmpty ? nil : unsafe roaring_bitmap_maximum(handle) }

    public func and(_ other: RoaringBitmap) -> RoaringBitmap {
        RoaringBitmap(owning: unsafe roaring_bitmap_and(handle, other.handle)!)
    }

    public func or(_ other: RoaringBitmap) -> RoaringBitmap {
        RoaringBitmap(owning: unsafe roaring_bitmap_or(handle, other.handle)!)
    }

    public func andNot(_ other: RoaringBitmap) -> RoaringBitmap {
        RoaringBitmap(owning: unsafe roaring_bitmap_andnot(handle, other.handle)!)
    }

    /// The members in increasing order.
    public func toArray() -> [UInt32] {
        let n = cardinality
        guard n > 0 else { return [] }
        return [UInt32](unsafeUninitializedCapacity: n) { buf, count in
            unsafe roaring_bitmap_to_uint32_array(handle, buf.baseAddress)
            count = n
        }
    }

    /// The portable (cross-language) serialization, as written in segment indexes.
    public func serialized() -> [UInt8] {
        let n = unsafe roaring_bitmap_portable_size_in_bytes(handle)
        var out = [UInt8](repeating: 0, count: n)
        let written = out.withUnsafeMutableBytes {
            unsafe roaring_bitmap_portable_serialize(handle, $0.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        precondition(written == n, "roaring_bitmap_portable_serialize wrote \(written) of \(n) bytes")
        return out
    }

    /// Reads a portable serialization that must span `bytes` exactly.
    /// - Returns: nil if the bytes are not one valid portable bitmap.
    public static func deserialize(_ bytes: UnsafeRawBufferPointer) -> RoaringBitmap? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        guard
            let h = unsafe roaring_bitmap_portable_deserialize_safe(
                base.assumingMemoryBound(to: CChar.self),
                bytes.count
            )
        else { return nil }
        let bitmap = RoaringBitmap(owning: h)
        guard unsafe roaring_bitmap_portable_size_in_bytes(h) == bytes.count else { return nil }
        return bitmap
    }

    public static func deserialize(_ bytes: [UInt8]) -> RoaringBitmap? {
        bytes.withUnsafeBytes { unsafe deserialize($0) }
    }

    public var description: String { "RoaringBitmap(cardinality: \(cardinality))" }
}
