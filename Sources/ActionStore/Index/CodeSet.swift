import CRoaring

/// A growable set of app-wide id codes (`IdDictionary`) with value semantics: the exact distinct
/// state of `unique_users`, `unique_companies`, … for one group. A CRoaring bitmap (dense, sparse
/// and run containers chosen per 65,536 codes, as StarRocks and Doris count exact distincts),
/// copied on write when shared, so partials can be handed between threads and merged as values.
struct CodeSet: Sendable {
    private var box: Box?

    /// Owns one bitmap. `@unchecked Sendable`: the bitmap is mutated only through a box that
    /// `CodeSet` holds uniquely (checked before every write), so no two threads touch one bitmap
    /// while it changes.
    private final class Box: @unchecked Sendable {
        let handle: UnsafeMutablePointer<roaring_bitmap_t>

        init(_ handle: UnsafeMutablePointer<roaring_bitmap_t>) { self.handle = handle }

        deinit { unsafe roaring_bitmap_free(handle) }
    }

    init() {}

    /// The codes in `codes` (any order, repeats allowed).
    init(_ codes: [UInt32]) {
        add(contentsOf: codes)
    }

    var count: Int { box.map { Int(unsafe roaring_bitmap_get_cardinality($0.handle)) } ?? 0 }
    var isEmpty: Bool { count == 0 }

    /// Bytes held (CRoaring's serialized size, close to its memory).
    var bytes: Int { box.map { Int(unsafe roaring_bitmap_size_in_bytes($0.handle)) } ?? 0 }

    private mutating func unique() -> UnsafeMutablePointer<roaring_bitmap_t> {
        guard let b = box else {
            let h = unsafe roaring_bitmap_create()!
            box = Box(h)
            return h
        }
        if !isKnownUniquelyReferenced(&box!) {
            box = Box(unsafe roaring_bitmap_copy(b.handle)!)
        }
        return box!.handle
    }

    mutating func add(contentsOf codes: [UInt32]) {
        guard !codes.isEmpty else { return }
        let h = unique()
        codes.withUnsafeBufferPointer { unsafe roaring_bitmap_add_many(h, $0.count, $0.baseAddress) }
    }

    mutating func insert(_ code: UInt32) { unsafe roaring_bitmap_add(unique(), code) }

    func contains(_ code: UInt32) -> Bool { box.map { unsafe roaring_bitmap_contains($0.handle, code) } ?? false }

    /// Adds every code of `other`.
    mutating func formUnion(_ other: CodeSet) {
        guard let o = other.box else { return }
        if box == nil {
            box = o
            return
        }
        unsafe roaring_bitmap_or_inplace(unique(), o.handle)
    }
}
