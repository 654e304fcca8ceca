/// A value in a query result: a group key or a metric.
public enum QueryValue: Sendable, Hashable, CustomStringConvertible {
    /// A missing group key, or a metric over no values (sum, avg, min, max, percentiles).
    case null
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// A UTC instant in microseconds, rendered in the fixed offset (seconds east of UTC).
    case timestamp(Int64, offsetSeconds: Int)
    /// An array value, as compact JSON text.
    case json(String)

    /// A number, integral doubles within ±2^53 made ints, so that 10 and 10.0 group and count as one.
    static func number(_ d: Double) -> QueryValue {
        if d == d.rounded(), abs(d) <= 9_007_199_254_740_992 { return .int(Int64(d)) }
        return .double(d)
    }

    /// Total order used for sorting: nulls after everything; numbers by value; strings (and array
    /// text) by their UTF-8 bytes, as DuckDB and ClickHouse order them; false before true;
    /// timestamps by instant.
    public static func compare(_ a: QueryValue, _ b: QueryValue) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.null, _): return 1
        case (_, .null): return -1
        case (.int(let x), .int(let y)): return x < y ? -1 : x == y ? 0 : 1
        case (.int(let x), .double(let y)): return cmp(Double(x), y)
        case (.double(let x), .int(let y)): return cmp(x, Double(y))
        case (.double(let x), .double(let y)): return cmp(x, y)
        case (.string(let x), .string(let y)), (.json(let x), .json(let y)): return utf8Compare(x, y)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.timestamp(let x, _), .timestamp(let y, _)): return x < y ? -1 : x == y ? 0 : 1
        default: return a.rank < b.rank ? -1 : a.rank == b.rank ? 0 : 1
        }
    }

    private static func cmp(_ x: Double, _ y: Double) -> Int { x < y ? -1 : x == y ? 0 : 1 }

    /// Equality by bytes for strings and array text (Swift's `String ==` is canonical
    /// equivalence, which would merge NFC and NFD "café" into one group).
    public static func == (a: QueryValue, b: QueryValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.string(let x), .string(let y)), (.json(let x), .json(let y)): return utf8Equal(x, y)
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.timestamp(let x, let ox), .timestamp(let y, let oy)): return x == y && ox == oy
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        h.combine(rank)
        switch self {
        case .null: break
        case .string(let s), .json(let s): utf8Hash(s, into: &h)
        case .int(let v): h.combine(v)
        case .double(let v): h.combine(v)
        case .bool(let v): h.combine(v)
        case .timestamp(let v, let o):
            h.combine(v)
            h.combine(o)
        }
    }

    private var rank: Int {
        switch self {
        case .int, .double: 0
        case .string: 1
        case .bool: 2
        case .timestamp: 3
        case .json: 4
        case .null: 5
        }
    }

    /// The value as a Double, for numbers.
    public var doubleValue: Double? {
        switch self {
        case .int(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    /// The JSON text of the value.
    public var json: String {
        var s = ""
        appendJSON(to: &s)
        return s
    }

    func appendJSON(to out: inout String) {
        switch self {
        case .null: out.append("null")
        case .string(let s): JSONWriter.appendString(s, to: &out)
        case .int(let v): out.append(String(v))
        case .double(let v): JSONText.appendDouble(v, to: &out)
        case .bool(let b): out.append(b ? "true" : "false")
        case .timestamp: JSONWriter.appendString(description, to: &out)
        case .json(let s): out.append(s)
        }
    }

    /// Plain text: strings unquoted, timestamps ISO 8601 in their offset.
    public var description: String {
        switch self {
        case .null: return "null"
        case .string(let s): return s
        case .int(let v): return String(v)
        case .double(let v): return v.isFinite ? v.description : "null"
        case .bool(let b): return b ? "true" : "false"
        case .json(let s): return s
        case .timestamp(let t, let offset):
            if offset == 0 { return Timestamp.format(t) }
            var s = Timestamp.format(t + Int64(offset) * 1_000_000)
            s.removeLast()
            let a = abs(offset) / 60
            let hh = a / 60
            let mm = a % 60
            return s + (offset < 0 ? "-" : "+") + (hh < 10 ? "0" : "") + String(hh) + ":" + (mm < 10 ? "0" : "")
                + String(mm)
        }
    }
}

/// One result row: the group key values (in `group_by` order) and the metric values (in `metrics` order).
public struct QueryRow: Sendable, Hashable {
    public var keys: [QueryValue]
    public var metrics: [QueryValue]

    public init(keys: [QueryValue], metrics: [QueryValue]) {
        self.keys = keys
        self.metrics = metrics
    }
}

/// What a query did, for tuning and for `stats` in results.
public struct QueryStats: Sendable, Hashable {
    /// Distinct ``ScanSource/partitionKey`` values among the sources, and those whose every source was pruned.
    public var partitionsTotal = 0
    public var partitionsPruned = 0
    /// Sources given, and those skipped by time range or dictionary without reading rows.
    public var segmentsTotal = 0
    public var segmentsPruned = 0
    /// Rows of the sources that were not pruned.
    public var rowsScanned = 0
    /// An estimate of the bytes of decoded columns the query read.
    public var bytesDecoded = 0
    public var elapsedMilliseconds = 0.0
    /// Values ignored because their column's storage type does not match the path's schema type.
    public var skipped = 0
    /// Segments left out because they are damaged (unreadable or failing a checksum), with why.
    /// The answer covers the rest of the data.
    public var damagedSegments: [String] = []

    public init() {}
}

/// The answer to a query.
public struct QueryResult: Sendable, Hashable {
    /// Group key names, in `group_by` order (`time` for a time bucket).
    public var keyNames: [String]
    /// Metric names, in `metrics` order (``Metric/name``).
    public var metricNames: [String]
    public var rows: [QueryRow]
    public var stats: QueryStats
    /// Whether the result is one page of a journey: JSON then has `next_cursor`.
    public var isPaged = false
    /// A journey page's cursor to the next page; nil on the last page.
    public var nextCursor: String?

    public init(keyNames: [String], metricNames: [String], rows: [QueryRow], stats: QueryStats) {
        self.keyNames = keyNames
        self.metricNames = metricNames
        self.rows = rows
        self.stats = stats
    }

    /// The result as JSON: `{"rows": [{keys…, metrics…}], "stats": {…}}`, keys in `group_by` then
    /// `metrics` order, stats in a fixed order.
    public func json() -> String {
        var out = "{\"rows\": ["
        for (i, row) in rows.enumerated() {
            out.append(i == 0 ? "{" : ", {")
            var first = true
            for (name, v) in Array(zip(keyNames, row.keys)) + Array(zip(metricNames, row.metrics)) {
                if !first { out.append(", ") }
                first = false
                JSONWriter.appendString(name, to: &out)
                out.append(": ")
                v.appendJSON(to: &out)
            }
            out.append("}")
        }
        out.append("]")
        if isPaged {
            out.append(", \"next_cursor\": ")
            out.append(nextCursor.map { JSONWriter.quoted($0) } ?? "null")
        }
        out.append(", \"stats\": {")
        let s = stats
        out.append("\"partitions_total\": \(s.partitionsTotal), \"partitions_pruned\": \(s.partitionsPruned), ")
        out.append("\"segments_total\": \(s.segmentsTotal), \"segments_pruned\": \(s.segmentsPruned), ")
        out.append("\"rows_scanned\": \(s.rowsScanned), \"bytes_decoded\": \(s.bytesDecoded), ")
        var ms = ""
        JSONText.appendDouble((s.elapsedMilliseconds * 1000).rounded() / 1000, to: &ms)
        out.append("\"elapsed_ms\": \(ms), \"skipped\": \(s.skipped), \"damaged_segments\": [")
        for (i, d) in s.damagedSegments.enumerated() {
            if i > 0 { out.append(", ") }
            out.append(JSONWriter.quoted(d))
        }
        out.append("]}}")
        return out
    }

    /// The result as an aligned text table for people, then one line of stats.
    public func table() -> String {
        let header = keyNames + metricNames
        let cells = rows.map { ($0.keys + $0.metrics).map(\.description) }
        var widths = header.map(\.count)
        for r in cells { for (i, c) in r.enumerated() { widths[i] = Swift.max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            var s = ""
            for (i, c) in r.enumerated() {
                if i > 0 { s += "  " }
                let numeric = i >= keyNames.count
                let pad = String(repeating: " ", count: widths[i] - c.count)
                s += numeric ? pad + c : c + pad
            }
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
        var out = line(header) + "\n" + line(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for r in cells { out += line(r) + "\n" }
        let s = stats
        out += "(\(rows.count) rows; \(s.rowsScanned) rows scanned; segments \(s.segmentsTotal - s.segmentsPruned)"
        out += "/\(s.segmentsTotal) read; \(s.bytesDecoded) bytes decoded; "
        out += "\((s.elapsedMilliseconds * 10).rounded() / 10) ms; \(s.skipped) skipped)\n"
        if isPaged { out += "next_cursor: \(nextCursor ?? "none (last page)")\n" }
        for d in s.damagedSegments { out += "warning: damaged data left out: \(d)\n" }
        return out
    }
}
