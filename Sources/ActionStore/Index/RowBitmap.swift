/// A fixed-size set of row numbers `0..<count`, one bit per row: presence of a sparse column and
/// values of a boolean column in a segment, the rows a query selects.
public struct RowBitmap: Sendable, Hashable {
    /// Bits, LSB first: row `i` is bit `i % 64` of `words[i / 64]`. Bits at and past `count` are clear.
    public internal(set) var words: [UInt64]
    /// The number of rows covered.
    public let count: Int

    /// All rows cleared (or all set).
    public init(count: Int, allSet: Bool = false) {
        self.count = count
        words = [UInt64](repeating: allSet ? ~0 : 0, count: (count + 63) >> 6)
        if allSet { clearTail() }
    }

    /// A bitmap from one flag per row.
    public init(_ flags: some Collection<Bool>) {
        self.init(count: flags.count)
        for (i, f) in flags.enumerated() where f { words[i >> 6] |= 1 << UInt64(i & 63) }
    }

    public subscript(row: Int) -> Bool {
        get { words[row >> 6] & (1 << UInt64(row & 63)) != 0 }
        set {
            if newValue {
                words[row >> 6] |= 1 << UInt64(row & 63)
            } else {
                words[row >> 6] &= ~(1 << UInt64(row & 63))
            }
        }
    }

    /// The number of set rows.
    public var cardinality: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Whether no row is set.
    var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Clears the bits past `count` in the last word.
    mutating func clearTail() {
        if count & 63 != 0, !words.isEmpty { words[words.count - 1] &= (1 << UInt64(count & 63)) - 1 }
    }

    mutating func formIntersection(_ o: RowBitmap) {
        for i in words.indices { words[i] &= o.words[i] }
    }

    mutating func formUnion(_ o: RowBitmap) {
        for i in words.indices { words[i] |= o.words[i] }
    }

    mutating func invert() {
        for i in words.indices { words[i] = ~words[i] }
        clearTail()
    }

    /// The set rows in increasing order.
    /// - Complexity: O(count / 64 + set rows).
    public var setRows: [Int] { setRows(as: Int.self) }

    /// The set rows in increasing order, as 32-bit row numbers (query row lists).
    /// - Complexity: O(count / 64 + set rows).
    public func rows() -> [UInt32] { setRows(as: UInt32.self) }

    @inline(__always)
    private func setRows<T: FixedWidthInteger>(as _: T.Type) -> [T] {
        var out = [T]()
        out.reserveCapacity(cardinality)
        for (wi, w0) in words.enumerated() {
            var w = w0
            while w != 0 {
                out.append(T(truncatingIfNeeded: wi << 6 + w.trailingZeroBitCount))
                w &= w - 1
            }
        }
        return out
    }
}
