/// A ``ScanSource`` over actions in memory: a memtable's column chunks (or actions a caller hands
/// in, turned into chunks). Query columns are built from the chunks' columns on first use — strings
/// dictionary-encoded by their bytes, so a `String` is made once per distinct value — and cached.
public final class ActionsSource: ScanSource {
    // Constant after init
    let chunks: [ColumnChunk]
    public let rowCount: Int
    public let minTime: Int64
    public let maxTime: Int64
    public let isSortedByTime: Bool
    public let partitionKey: String?
    let ids: IdCodeSnapshot?

    // Guarded by cache
    private let cache = Locked<[UTF8Key: QueryColumn?]>([:])

    /// - Parameters:
    ///   - actions: the rows, in any order.
    ///   - partitionKey: the partition's name for `QueryStats`, if any.
    public convenience init(_ actions: [Action], partitionKey: String? = nil) {
        self.init(chunks: ColumnChunk.chunks(of: actions), partitionKey: partitionKey)
    }

    init(chunks: [ColumnChunk], partitionKey: String? = nil, ids: IdCodeSnapshot? = nil) {
        self.ids = ids
        self.chunks = chunks.filter { !$0.isEmpty }
        rowCount = self.chunks.reduce(0) { $0 + $1.rowCount }
        minTime = self.chunks.map(\.minTime).min() ?? 0
        maxTime = self.chunks.map(\.maxTime).max() ?? 0
        var sorted = true
        var last = Int64.min
        outer: for c in self.chunks {
            for t in c.times {
                if t < last {
                    sorted = false
                    break outer
                }
                last = t
            }
        }
        isSortedByTime = sorted
        self.partitionKey = partitionKey
    }

    public func times() throws -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(rowCount)
        for c in chunks { out += c.times }
        return out
    }

    public func column(_ name: String) throws -> QueryColumn? {
        if let c = cache.withLock({ $0[UTF8Key(s: name)] }) { return c }
        let built = build(name)
        cache.withLock { $0[UTF8Key(s: name)] = built }
        return built
    }

    public func columnNames() throws -> [String] {
        var names = [String]()
        for f in FixedField.allCases where chunks.contains(where: { $0.fixed[f.rawValue].count > 0 }) {
            names.append(f.name)
        }
        var paths: [String] = []
        var seen = Set<UTF8Key>()
        for c in chunks {
            for p in c.metadataPaths where seen.insert(UTF8Key(s: p)).inserted { paths.append(p) }
        }
        return names + paths.sorted(by: utf8Less).map { "metadata." + $0 }
    }

    public func appCodes(column: String, dictionary: [String]) -> [UInt32]? {
        guard let ids, let field = IdCodeSnapshot.field(ofColumn: column) else { return nil }
        return ids.codes(field, of: dictionary)
    }

    public func mayContain(column name: String, value: Value) -> Bool? {
        guard case .string(let s) = value else { return nil }
        // Building the column is what a scan would do anyway; it is cached for the scan.
        guard let c = try? column(name) else { return false }
        guard case .strings(let dictionary, _, _) = c else { return nil }
        return dictionary.contains { utf8Equal($0, s) }
    }

    /// The column of each chunk that `field` names (nil where a chunk lacks it).
    private func columns(_ field: QueryField) -> [ColumnChunk.Column?] {
        chunks.map { chunk -> ColumnChunk.Column? in
            switch field {
            case .time: return nil
            case .fixed(let f): return chunk.fixed[f.rawValue].count > 0 ? chunk.fixed[f.rawValue] : nil
            case .metadata(let path): return chunk.metadataColumn(path)
            }
        }
    }

    private func build(_ name: String) -> QueryColumn? {
        guard let field = QueryField(name: name) else { return nil }
        if case .time = field { return .ints((try? times()) ?? [], present: nil) }
        let cols = columns(field)
        // One kind per column: the first chunk's (the schema gives a path one type; values of
        // another kind, which only hand-made actions can have, read as absent).
        guard let kind = cols.lazy.compactMap({ $0?.kind }).first else { return nil }
        var present = RowBitmap(count: rowCount)
        var all = true
        var base = 0
        for (chunk, col) in zip(chunks, cols) {
            if let col, col.kind == kind {
                if col.count < chunk.rowCount { all = false }
                for r in col.rows { present[base + Int(r)] = true }
            } else {
                all = false
            }
            base += chunk.rowCount
        }
        // Calls `body(row, chunk, column, index)` for every value of the chosen kind.
        func each(_ body: (Int, ColumnChunk, ColumnChunk.Column, Int) -> Void) {
            var base = 0
            for (chunk, col) in zip(chunks, cols) {
                if let col, col.kind == kind {
                    for (i, r) in col.rows.enumerated() { body(base + Int(r), chunk, col, i) }
                }
                base += chunk.rowCount
            }
        }
        let p = all ? nil : present
        switch kind {
        case .string:
            var dictionary = [String]()
            var index = [ArraySlice<UInt8>: UInt32]()
            var codes = [UInt32](repeating: 0, count: rowCount)
            each { row, chunk, col, i in
                let b = chunk.bytes(col.slots[i])
                if let c = index[b] {
                    codes[row] = c
                } else {
                    let c = UInt32(dictionary.count)
                    index[b] = c
                    dictionary.append(String(decoding: b, as: UTF8.self))
                    codes[row] = c
                }
            }
            return .strings(dictionary: dictionary, codes: codes, present: p)
        case .number:
            let anyDouble = zip(chunks, cols).contains { _, c in
                c.map { $0.kind == kind && $0.isDouble.contains(true) } ?? false
            }
            if !anyDouble {
                var v = [Int64](repeating: 0, count: rowCount)
                each { row, _, col, i in v[row] = Int64(bitPattern: col.slots[i]) }
                return .ints(v, present: p)
            }
            var v = [Double](repeating: 0, count: rowCount)
            each { row, _, col, i in
                let s = col.slots[i]
                v[row] = !col.isDouble.isEmpty && col.isDouble[i] ? Double(bitPattern: s) : Double(Int64(bitPattern: s))
            }
            return .doubles(v, present: p)
        case .bool:
            var v = [Bool](repeating: false, count: rowCount)
            each { row, _, col, i in v[row] = col.slots[i] != 0 }
            return .bools(v, present: p)
        case .array:
            var v = [String](repeating: "", count: rowCount)
            each { row, chunk, col, i in v[row] = chunk.string(col.slots[i]) }
            return .arrays(v, present: p)
        }
    }
}
