/// One column of a source, as the query engine reads it. Rows where `present` is clear have no
/// value (their slot in the value array is ignored); a nil `present` means every row has a value.
public enum QueryColumn: Sendable {
    /// Dictionary-encoded strings: row `i` is `dictionary[codes[i]]`. The dictionary need not be sorted
    /// but must not repeat a string.
    case strings(dictionary: [String], codes: [UInt32], present: RowBitmap?)
    case ints([Int64], present: RowBitmap?)
    case doubles([Double], present: RowBitmap?)
    case bools([Bool], present: RowBitmap?)
    /// Arrays as compact JSON text.
    case arrays([String], present: RowBitmap?)

    public var present: RowBitmap? {
        switch self {
        case .strings(_, _, let p), .ints(_, let p), .doubles(_, let p), .bools(_, let p), .arrays(_, let p): p
        }
    }

    /// Whether row `i` has a value.
    @inline(__always) func has(_ i: Int) -> Bool { present?[i] ?? true }

    /// An estimate of the bytes this column holds decoded, for `QueryStats.bytesDecoded`.
    var decodedBytes: Int {
        let p = (present?.words.count ?? 0) * 8
        switch self {
        case .strings(let d, let c, _): return p + c.count * 4 + d.reduce(0) { $0 + $1.utf8.count + 16 }
        case .ints(let v, _): return p + v.count * 8
        case .doubles(let v, _): return p + v.count * 8
        case .bools(let v, _): return p + v.count
        case .arrays(let v, _): return p + v.reduce(0) { $0 + $1.utf8.count + 16 }
        }
    }
}

/// A set of rows the query engine can scan: a memtable (``ActionsSource``), a segment, or anything
/// else that can hand out whole columns.
///
/// Columns are named as in queries: `action_name`, `user_id`, `request.uri`, `metadata.amount`.
/// The engine calls a source from one thread at a time, but different sources from different threads.
public protocol ScanSource: Sendable {
    /// The number of rows.
    var rowCount: Int { get }
    /// The least `time` of any row (any value when `rowCount` is 0).
    var minTime: Int64 { get }
    /// The greatest `time` of any row.
    var maxTime: Int64 { get }
    /// Whether rows are in ascending `time` order, which lets the engine cut the time range by binary
    /// search. Default false.
    var isSortedByTime: Bool { get }
    /// An opaque name of the partition holding this source, for `QueryStats`; nil if none. Default nil.
    var partitionKey: String? { get }

    /// The `time` of every row.
    func times() throws -> [Int64]
    /// A column by query name, or nil when no row has the field.
    func column(_ name: String) throws -> QueryColumn?
    /// Every column name with at least one value (fixed fields and `metadata.<path>`), for export.
    func columnNames() throws -> [String]
    /// Whether some row may hold `value` in `column`; false only if certainly none does (from a
    /// dictionary or a bloom filter), nil if unknown. Default nil.
    func mayContain(column: String, value: Value) -> Bool?
    /// The sorted rows holding exactly `value` in `column`, if an index has them. Default nil.
    func postings(column: String, value: Value) throws -> [UInt32]?
    /// For an id column (`user_id`, `anonymous_id`, `company_id`, `subscription_id`): the app-wide
    /// code (`IdDictionary`) of each entry of `dictionary`, the dictionary `column(name)` returned;
    /// `UInt32.max` for a value without one. Nil when the source has no codes. Default nil.
    func appCodes(column: String, dictionary: [String]) -> [UInt32]?
}

/// The app-wide codes and aliases a store source's query sees (nil for other sources).
func idSnapshot(of source: any ScanSource) -> IdCodeSnapshot? {
    (source as? SegmentSource)?.ids ?? (source as? ActionsSource)?.ids
}

extension ScanSource {
    public var isSortedByTime: Bool { false }
    public var partitionKey: String? { nil }
    public func mayContain(column: String, value: Value) -> Bool? { nil }
    public func postings(column: String, value: Value) throws -> [UInt32]? { nil }
    public func appCodes(column: String, dictionary: [String]) -> [UInt32]? { nil }
}
