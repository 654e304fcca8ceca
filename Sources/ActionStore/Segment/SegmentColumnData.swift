/// The decoded values of one column over a run of rows (the segment, or one block), row-aligned:
/// element `i` belongs to row `i` of the run. `present` is nil when every row has a value; rows
/// without one hold 0, "" or false.
public enum SegmentColumnData: Sendable, Hashable {
    /// Dictionary-encoded strings: `dictionary[codes[i]]`; the dictionary is sorted by UTF-8 bytes.
    case strings(dictionary: [String], codes: [UInt32], present: RowBitmap?)
    /// Canonical UUID text as 128-bit numbers (first hex digit most significant), see ``formatUUID(_:)``.
    case uuids([UInt128], present: RowBitmap?)
    /// Canonical IPv4 text as 32-bit numbers (first octet most significant), see ``formatIPv4(_:)``.
    case ipv4s([UInt32], present: RowBitmap?)
    /// Time and integer number columns.
    case ints([Int64], present: RowBitmap?)
    /// Number columns with at least one non-integer value in the segment.
    case doubles([Double], present: RowBitmap?)
    case bools(RowBitmap, present: RowBitmap?)
    /// JSON array text.
    case arrays([String], present: RowBitmap?)

    /// The number of rows covered.
    public var count: Int {
        switch self {
        case .strings(_, let c, _): c.count
        case .uuids(let v, _): v.count
        case .ipv4s(let v, _): v.count
        case .ints(let v, _): v.count
        case .doubles(let v, _): v.count
        case .bools(let v, _): v.count
        case .arrays(let v, _): v.count
        }
    }

    /// Rows with a value; nil when all rows have one.
    public var present: RowBitmap? {
        switch self {
        case .strings(_, _, let p), .uuids(_, let p), .ipv4s(_, let p), .ints(_, let p), .doubles(_, let p),
            .bools(_, let p), .arrays(_, let p):
            p
        }
    }

    public func isPresent(_ row: Int) -> Bool { present?[row] ?? true }

    /// The value of a row as a ``Value`` (strings for UUID and IPv4 columns), nil when absent.
    public func value(at row: Int) -> Value? {
        guard isPresent(row) else { return nil }
        switch self {
        case .strings(let d, let c, _): return .string(d[Int(c[row])])
        case .uuids(let v, _): return .string(Self.formatUUID(v[row]))
        case .ipv4s(let v, _): return .string(Self.formatIPv4(v[row]))
        case .ints(let v, _): return .int(v[row])
        case .doubles(let v, _): return .double(v[row])
        case .bools(let v, _): return .bool(v[row])
        case .arrays(let v, _): return .array(v[row])
        }
    }

    /// Any string-like column as a sorted dictionary plus codes (UUID and IPv4 columns are
    /// dictionary-encoded on the fly), for grouping. Nil for other types.
    /// - Complexity: O(1) for dictionary columns; O(n log n) for UUID/IPv4 columns.
    public func dictionaryEncoded() -> (dictionary: [String], codes: [UInt32], present: RowBitmap?)? {
        switch self {
        case .strings(let d, let c, let p):
            return (d, c, p)
        case .uuids(let v, let p):
            return Self.encode(v, p, Self.formatUUID)
        case .ipv4s(let v, let p):
            // Numeric order is not text order for IPv4: sort the formatted texts.
            let (d, c, _) = Self.encode(v, p, Self.formatIPv4)
            let order = d.indices.sorted { utf8Less(d[$0], d[$1]) }
            var remap = [UInt32](repeating: 0, count: d.count)
            for (new, old) in order.enumerated() { remap[old] = UInt32(new) }
            return (order.map { d[$0] }, c.map { remap[Int($0)] }, p)
        default:
            return nil
        }
    }

    private static func encode<T: FixedWidthInteger>(
        _ v: [T],
        _ p: RowBitmap?,
        _ format: (T) -> String
    ) -> (dictionary: [String], codes: [UInt32], present: RowBitmap?) {
        var keys = [T]()
        keys.reserveCapacity(v.count)
        for i in v.indices where p?[i] ?? true { keys.append(v[i]) }
        keys = Array(Set(keys)).sorted()
        var slot = [T: UInt32](minimumCapacity: keys.count)
        for (i, k) in keys.enumerated() { slot[k] = UInt32(i) }
        let codes = v.indices.map { i in (p?[i] ?? true) ? slot[v[i]]! : 0 }
        return (keys.map(format), codes, p)
    }

    /// Canonical lowercase `8-4-4-4-12` text of a UUID value.
    public static func formatUUID(_ v: UInt128) -> String { CompactText.formatUUID(v) }

    /// Dotted-quad text of an IPv4 value.
    public static func formatIPv4(_ v: UInt32) -> String { CompactText.formatIPv4(v) }
}
