/// A fixed-size bit set over the rows of a segment (or of one block): presence of a sparse column,
/// values of a boolean column.
public struct RowBitmap: Sendable, Hashable {
    /// Bits, LSB first: row `i` is bit `i % 64` of `words[i / 64]`.
    public private(set) var words: [UInt64]
    /// The number of rows covered.
    public let count: Int

    /// All rows cleared (or all set).
    public init(count: Int, allSet: Bool = false) {
        self.count = count
        words = [UInt64](repeating: allSet ? ~0 : 0, count: (count + 63) / 64)
        if allSet, count % 64 != 0 { words[words.count - 1] = (1 << UInt64(count % 64)) - 1 }
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

    /// The set rows in increasing order.
    public var setRows: [Int] {
        var out: [Int] = []
        for (wi, w0) in words.enumerated() {
            var w = w0
            while w != 0 {
                out.append(wi * 64 + w.trailingZeroBitCount)
                w &= w - 1
            }
        }
        return out
    }
}
