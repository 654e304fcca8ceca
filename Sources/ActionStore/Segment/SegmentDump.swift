/// The library half of `segdump`: human and JSON views of a segment file.
public enum SegmentDump {
    /// What to print.
    public struct Options: Sendable {
        /// Check every checksum and decode everything first; a failure throws, naming where.
        public var verify = false
        /// A table of every column (type, encoding, sizes, compression ratio, distinct, min, max, index size).
        public var columns = false
        /// Print the first N rows as NDJSON in the Moesif action shape.
        public var rows: Int? = nil
        /// Print one column's blocks (offsets, sizes, zone maps) and, with `rows`, its first values.
        public var column: String? = nil
        /// Print the summary and column table as one JSON object instead of text.
        public var json = false

        public init(
            verify: Bool = false,
            columns: Bool = false,
            rows: Int? = nil,
            column: String? = nil,
            json: Bool = false
        ) {
            self.verify = verify
            self.columns = columns
            self.rows = rows
            self.column = column
            self.json = json
        }
    }

    /// Dumps `path` to `write`, a line at a time.
    /// - Throws: `ActionStoreError` (`.corruption` naming file, region and offset; `.notFound`).
    public static func run(path: String, options: Options, write: (String) -> Void) throws {
        let r = try SegmentReader(path: path)
        if options.verify { try r.verify() }
        if options.json {
            write(summaryJSON(r, columns: options.columns || options.column == nil))
        } else {
            write("file:        \(path)")
            write("bytes:       \(r.fileBytes)")
            write("version:     \(SegmentFormat.version)")
            write("rows:        \(r.rowCount)")
            write("time:        \(Timestamp.format(r.minTime)) .. \(Timestamp.format(r.maxTime))")
            write("blocks:      \(r.blockCount) of \(r.blockRows) rows")
            let data = r.columns.reduce(0) { $0 + $1.storedBytes }
            write("columns:     \(r.columns.count), \(data) bytes of data, footer+header+trailer \(r.fileBytes - data)")
            if options.verify { write("verify:      OK (every checksum and block)") }
            if options.columns {
                write("")
                write(
                    pad("column", 28) + pad("type", 7) + pad("encoding", 16) + lpad("nulls", 9) + lpad("distinct", 9)
                        + lpad("stored", 10) + lpad("raw", 10) + lpad("ratio", 7) + lpad("index", 9) + "  min .. max"
                )
                for c in r.columns {
                    let ratio = c.storedBytes == 0 ? 1 : Double(c.rawBytes) / Double(c.storedBytes)
                    write(
                        pad(c.name, 28) + pad(c.type.description, 7) + pad(c.encoding.description, 16)
                            + lpad(String(c.nullCount), 9) + lpad(String(c.distinctCount), 9)
                            + lpad(String(c.storedBytes), 10) + lpad(String(c.rawBytes), 10)
                            + lpad(fixed(ratio, 2), 7) + lpad(c.index.map { String($0.storedSize) } ?? "-", 9)
                            + "  \(text(c.min, c)) .. \(text(c.max, c))"
                    )
                }
            }
        }
        if let name = options.column {
            guard let c = r.columnInfo(name) else {
                throw ActionStoreError(.notFound, "\(path): no column \(name) in this segment")
            }
            if options.json {
                write(columnJSON(c))
            } else {
                write("")
                write("column \(c.name): \(c.type) \(c.encoding), \(c.nullCount) nulls, \(c.distinctCount) distinct")
                if let d = c.dictionary {
                    write("  dictionary at \(d.offset): \(d.storedSize) bytes (\(d.rawSize) raw, \(d.codec))")
                }
                if let i = c.index { write("  index at \(i.offset): \(i.storedSize) bytes") }
                for (b, block) in c.blocks.enumerated() {
                    var line = "  block \(b): rows \(block.rowStart)..<\(block.rowStart + block.rowCount)"
                    line += ", \(block.presentCount) present, at \(block.region.offset)"
                    line += ", \(block.region.storedSize) bytes (\(block.region.rawSize) raw, \(block.region.codec))"
                    if let lo = block.min, let hi = block.max { line += ", zone \(text(lo, c)) .. \(text(hi, c))" }
                    write(line)
                }
                if let n = options.rows, let data = try r.column(name) {
                    for row in 0..<min(n, data.count) {
                        write("  [\(row)] " + (data.value(at: row).map { text($0, c) } ?? "null"))
                    }
                }
            }
        }
        if let n = options.rows, options.column == nil {
            let actions = try r.actions()
            for a in actions.prefix(n) { write(moesifJSON(a)) }
        }
    }

    // MARK: JSON

    /// The action in Moesif's shape, on one line; metadata paths rebuilt into nested objects.
    public static func moesifJSON(_ a: Action) -> String {
        var out = "{\"action_name\":" + quote(a.actionName)
        for (key, v) in [
            ("user_id", a.userId), ("anonymous_id", a.anonymousId), ("company_id", a.companyId),
            ("session_token", a.sessionToken), ("transaction_id", a.transactionId),
            ("subscription_id", a.subscriptionId),
        ] {
            if let v { out += ",\"\(key)\":" + quote(v) }
        }
        out += ",\"request\":{\"time\":" + quote(Timestamp.format(a.time))
        for (key, v) in [
            ("uri", a.requestURI), ("ip_address", a.requestIPAddress), ("user_agent_string", a.requestUserAgent),
            ("verb", a.requestVerb),
        ] {
            if let v { out += ",\"\(key)\":" + quote(v) }
        }
        out += "}"
        if !a.metadata.isEmpty {
            let tree = Node()
            for f in a.metadata {
                tree.insert(
                    f.path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)[...],
                    f.value
                )
            }
            out += ",\"metadata\":" + tree.json()
        }
        return out + "}"
    }

    /// A metadata object being rebuilt from paths, keys in first-insertion order.
    private final class Node {
        var keys: [String] = []
        var children: [String: Node] = [:]
        var leaves: [String: Value] = [:]

        func insert(_ path: ArraySlice<String>, _ value: Value) {
            let key = path.first!
            if path.count == 1 {
                guard leaves[key] == nil, children[key] == nil else { return }  // conflicting shapes: first wins
                keys.append(key)
                leaves[key] = value
                return
            }
            guard leaves[key] == nil else { return }
            if children[key] == nil {
                keys.append(key)
                children[key] = Node()
            }
            children[key]!.insert(path.dropFirst(), value)
        }

        func json() -> String {
            var parts: [String] = []
            for k in keys {
                if let v = leaves[k] { parts.append(quote(k) + ":" + SegmentDump.json(v)) }
                if let c = children[k] { parts.append(quote(k) + ":" + c.json()) }
            }
            return "{" + parts.joined(separator: ",") + "}"
        }
    }

    static func json(_ v: Value?) -> String {
        switch v {
        case nil: return "null"
        case .string(let s): return quote(s)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? String(d) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .array(let s): return s
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, readably
    /// (``JSONWriter/Escaping/readable``); other text as is.
    public static func quote(_ s: String) -> String { JSONWriter.quoted(s, escaping: .readable) }

    private static func summaryJSON(_ r: SegmentReader, columns: Bool) -> String {
        var out = "{\"file\":\(quote(r.path)),\"bytes\":\(r.fileBytes),\"version\":\(SegmentFormat.version)"
        out += ",\"rows\":\(r.rowCount),\"min_time\":\(quote(Timestamp.format(r.minTime)))"
        out += ",\"max_time\":\(quote(Timestamp.format(r.maxTime))),\"block_rows\":\(r.blockRows)"
        out += ",\"blocks\":\(r.blockCount)"
        if columns { out += ",\"columns\":[" + r.columns.map(columnJSON).joined(separator: ",") + "]" }
        return out + "}"
    }

    private static func columnJSON(_ c: SegmentColumnInfo) -> String {
        var out = "{\"name\":\(quote(c.name)),\"type\":\(quote(c.type.description))"
        out += ",\"encoding\":\(quote(c.encoding.description)),\"nulls\":\(c.nullCount),\"distinct\":\(c.distinctCount)"
        out += ",\"min\":\(json(c.min)),\"max\":\(json(c.max))"
        out += ",\"stored_bytes\":\(c.storedBytes),\"raw_bytes\":\(c.rawBytes)"
        out += ",\"dictionary_bytes\":\(c.dictionary?.storedSize ?? 0),\"index_bytes\":\(c.index?.storedSize ?? 0)"
        out += ",\"blocks\":["
        out += c.blocks.map { b in
            "{\"offset\":\(b.region.offset),\"stored\":\(b.region.storedSize),\"raw\":\(b.region.rawSize)"
                + ",\"present\":\(b.presentCount),\"min\":\(json(b.min)),\"max\":\(json(b.max))}"
        }.joined(separator: ",")
        return out + "]}"
    }

    // MARK: Text

    private static func text(_ v: Value?, _ c: SegmentColumnInfo) -> String {
        guard let v else { return "-" }
        if c.type == .time, case .int(let t) = v { return Timestamp.format(t) }
        if case .string(let s) = v { return quote(s.count > 40 ? String(s.prefix(40)) + "…" : s) }
        return json(v)
    }

    private static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
    }

    private static func lpad(_ s: String, _ n: Int) -> String {
        s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let n = Int((v * scale).rounded())
        let whole = n / Int(scale)
        let frac = String(n % Int(scale))
        return "\(whole)." + String(repeating: "0", count: digits - frac.count) + frac
    }
}
