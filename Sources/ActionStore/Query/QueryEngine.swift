import Dispatch

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Runs queries over ``ScanSource``s: prunes sources, filters and aggregates each one in parallel
/// into a partial result keyed by local dictionary codes, then merges partials by key value.
public enum QueryEngine {
    /// Runs a query.
    /// - Parameters:
    ///   - query: the query; field types are checked against `schema`.
    ///   - sources: the memtables and segments of the application, in any order.
    ///   - schema: the application's schema.
    ///   - options: limits; see ``QueryOptions``.
    /// - Returns: the rows, ordered and limited, and what the query did.
    /// - Throws: `.invalidQuery` when a predicate's value type does not match its field's schema type
    ///   (and other semantic errors); `.limitExceeded` past `options.maxGroups` or `maxStateBytes`;
    ///   any error a source throws.
    public static func run(
        _ query: Query,
        sources: [any ScanSource],
        schema: Schema,
        options: QueryOptions = QueryOptions()
    ) throws -> QueryResult {
        try run(query, sources: sources, schema: schema, options: options, ids: nil)
    }

    /// `run` over sources that may give app-wide id codes (`ScanSource.appCodes`): `ids` turns
    /// the codes of the returned rows' keys back into text.
    static func run(
        _ query: Query,
        sources: [any ScanSource],
        schema: Schema,
        options: QueryOptions,
        ids: IdCodeSnapshot?
    ) throws -> QueryResult {
        if let r = try CustomerQueries.run(query, sources: sources, schema: schema, options: options, ids: ids) {
            return r
        }
        let start = Timestamp.now()
        let plan = try QueryPlan(query, schema: schema)
        // Each worker merges its sources into a partial of its own (no lock while scanning or
        // merging); the partials are merged once at the end. The lock guards only the first
        // error, which stops the other workers.
        struct Worker: WorkerState {
            var merged: GroupTable
            var stats = QueryStats()
            var pruned: [Int] = []
        }
        let workers = Swift.max(1, Swift.min(sources.count, options.parallelism ?? activeCores()))
        if let dense = DenseIdCounts.applies(plan, ids: ids) {
            return try runDense(
                plan,
                dense,
                sources: sources,
                workers: workers,
                options: options,
                ids: ids,
                start: start
            )
        }
        let results = try fanOut(sources, workers: workers, options: options) {
            Worker(merged: GroupTable(slots: plan.slots))
        } each: { mine, i in
            var scan = SourceScan(plan: plan, source: sources[i], options: options)
            let partial = try scan.run()
            mine.stats.addScan(scan.stats)
            if let p = partial { try mine.merged.absorb(p, options: options) } else { mine.pruned.append(i) }
        }
        var merged = GroupTable(slots: plan.slots)
        var stats = QueryStats()
        var pruned = [Bool](repeating: false, count: sources.count)
        for var r in results {
            stats.addScan(r.stats)
            for i in r.pruned { pruned[i] = true }
            if merged.keys.isEmpty {
                swap(&merged, &r.merged)
            } else {
                try merged.absorb(r.merged, options: options)
            }
        }
        stats.segmentsTotal = sources.count
        stats.segmentsPruned = pruned.filter { $0 }.count
        var partitions = [String: Bool]()
        for (i, s) in sources.enumerated() {
            if let k = s.partitionKey { partitions[k] = (partitions[k] ?? true) && pruned[i] }
        }
        stats.partitionsTotal = partitions.count
        stats.partitionsPruned = partitions.values.filter { $0 }.count
        if plan.keys.isEmpty && merged.keys.isEmpty {
            // No group_by: one row even when nothing matched.
            var one = GroupTable(slots: plan.slots)
            one.keys = [[]]
            for s in one.states.indices { one.states[s].grow(to: 1) }
            merged = one
        }
        let rows = finish(merged, plan, ids: ids)
        stats.elapsedMilliseconds = Double(Timestamp.now() - start) / 1000
        return QueryResult(keyNames: plan.keyNames, metricNames: plan.metrics.map(\.name), rows: rows, stats: stats)
    }

    /// Runs `each(&state, i)` for every source index on `workers` threads, each worker with a
    /// state of its own (`make`), and returns the workers' states. A damaged source is counted in
    /// the state's `stats` and passed over when `options.skipDamagedSources`; any other error
    /// stops every worker and is thrown.
    static func fanOut<W: WorkerState>(
        _ sources: [any ScanSource],
        workers: Int,
        options: QueryOptions,
        make: @Sendable () -> W,
        each: @Sendable (inout W, Int) throws -> Void
    ) throws -> [W] {
        let failure = Locked<(any Error)?>(nil)
        let results = ParallelResults<W>(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var mine = make()
            defer { results.set(w, mine) }
            var i = w
            while i < sources.count {
                if failure.withLock({ $0 != nil }) { return }
                do {
                    try each(&mine, i)
                } catch let e as ActionStoreError where e.code == .corruption && options.skipDamagedSources {
                    mine.stats.damagedSegments.append(e.message)
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                    return
                }
                i += workers
            }
        }
        if let e = failure.withLock({ $0 }) { throw e }
        return results.take()
    }

    /// `run` for counts grouped by one id column (`DenseIdCounts`).
    private static func runDense(
        _ plan: QueryPlan,
        _ dense: (column: String, kind: FieldKind, field: IdField),
        sources: [any ScanSource],
        workers: Int,
        options: QueryOptions,
        ids: IdCodeSnapshot?,
        start: Int64
    ) throws -> QueryResult {
        struct Worker: WorkerState {
            var counts: DenseIdCounts
            var stats = QueryStats()
            var pruned: [Int] = []
        }
        let codes = ids?.limits[dense.field.rawValue] ?? 0
        var all = try fanOut(sources, workers: workers, options: options) {
            Worker(counts: DenseIdCounts(plan: plan, column: dense.column, kind: dense.kind, codes: codes))
        } each: { mine, i in
            if try !mine.counts.add(sources[i], plan: plan, options: options, stats: &mine.stats) {
                mine.pruned.append(i)
            }
        }
        var merged = all.removeFirst()
        for r in all {
            try merged.counts.merge(r.counts, options: options)
            merged.stats.addScan(r.stats)
            merged.pruned += r.pruned
        }
        var stats = merged.stats
        let table = try merged.counts.table(plan, options: options)
        let pruned = Set(merged.pruned)
        stats.segmentsTotal = sources.count
        stats.segmentsPruned = pruned.count
        var partitions = [String: Bool]()
        for (i, s) in sources.enumerated() {
            if let k = s.partitionKey { partitions[k] = (partitions[k] ?? true) && pruned.contains(i) }
        }
        stats.partitionsTotal = partitions.count
        stats.partitionsPruned = partitions.values.filter { $0 }.count
        let rows = finish(table, plan, ids: ids)
        stats.elapsedMilliseconds = Double(Timestamp.now() - start) / 1000
        return QueryResult(keyNames: plan.keyNames, metricNames: plan.metrics.map(\.name), rows: rows, stats: stats)
    }

    /// Calls `body` with every action of `source` in `[from, to)` matching `filter`, in row order
    /// (for export). Actions are rebuilt from the source's columns.
    /// - Throws: `.invalidQuery` for a filter that does not type-check; errors of the source or `body`.
    public static func scan(
        _ source: any ScanSource,
        from: Int64? = nil,
        to: Int64? = nil,
        filter: Predicate? = nil,
        schema: Schema,
        _ body: (Action) throws -> Void
    ) throws {
        let plan = try QueryPlan(Query(from: from, to: to, filter: filter, metrics: []), schema: schema)
        var scan = SourceScan(plan: plan, source: source, options: QueryOptions())
        guard let rows = try scan.selectedRows() else { return }
        if rows.isEmpty { return }
        let times = try source.times()
        var fixed = [(FixedField, QueryColumn)]()
        var meta = [(String, QueryColumn)]()
        for name in try source.columnNames() {
            guard let c = try source.column(name), let f = QueryField(name: name) else { continue }
            switch f {
            case .fixed(let ff): fixed.append((ff, c))
            case .metadata(let p): meta.append((p, c))
            case .time: continue
            }
        }
        meta.sort { $0.0 < $1.0 }
        func value(_ c: QueryColumn, _ r: Int) -> Value? {
            guard c.has(r) else { return nil }
            switch c {
            case .strings(let d, let codes, _): return .string(d[Int(codes[r])])
            case .ints(let v, _): return .int(v[r])
            case .doubles(let v, _):
                // Integral doubles come back as ints: a source may store an int path as doubles.
                if case .int(let i) = QueryValue.number(v[r]) { return .int(i) }
                return .double(v[r])
            case .bools(let v, _): return .bool(v[r])
            case .arrays(let v, _): return .array(v[r])
            }
        }
        for r32 in rows {
            let r = Int(r32)
            var a = Action(time: times[r], actionName: "")
            for (f, c) in fixed { if case .string(let s)? = value(c, r) { a[f] = s } }
            for (p, c) in meta { if let v = value(c, r) { a.metadata.append(MetadataField(path: p, value: v)) } }
            try body(a)
        }
    }

    static func activeCores() -> Int {
        Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    static func tooManyGroups(_ o: QueryOptions) -> ActionStoreError {
        ActionStoreError(
            .limitExceeded,
            "query produces more than QueryOptions.maxGroups (\(o.maxGroups)) groups; group by fewer or coarser keys, or narrow the filter"
        )
    }

    static func tooMuchState(_ o: QueryOptions, _ bytes: Int) -> ActionStoreError {
        ActionStoreError(
            .limitExceeded,
            "query state of about \(bytes) bytes exceeds QueryOptions.maxStateBytes (\(o.maxStateBytes)); use approx_unique, fewer groups or a narrower filter"
        )
    }

    /// Group keys as values: id codes looked up in `ids` (one critical section for all).
    static func keyValues(_ t: GroupTable, _ plan: QueryPlan, ids: IdCodeSnapshot?) -> [[QueryValue]] {
        let fields = plan.keys.map { k -> IdField? in
            if case .column(let name, _) = k { return IdCodeSnapshot.field(ofColumn: name) }
            return nil
        }
        func plain(_ parts: [KeyPart]) -> [QueryValue] {
            parts.map {
                if case .value(let v) = $0 { return v }
                preconditionFailure("an id code in a group key, and no dictionary to read it")
            }
        }
        guard let ids, t.keys.contains(where: { $0.contains { if case .code = $0 { true } else { false } } }) else {
            return t.keys.map(plain)
        }
        return ids.dictionaries.fields.withLock { dicts in
            t.keys.map { parts in
                parts.enumerated().map { k, p in
                    switch p {
                    case .value(let v): return v
                    case .code(let c): return .string(dicts[fields[k]!.rawValue].string(c))
                    }
                }
            }
        }
    }

    /// Finalizes metrics, orders and limits.
    static func finish(_ t: GroupTable, _ plan: QueryPlan, ids: IdCodeSnapshot? = nil) -> [QueryRow] {
        var rows = [QueryRow]()
        rows.reserveCapacity(t.keys.count)
        let keys = keyValues(t, plan, ids: ids)
        for g in t.keys.indices {
            var metrics = [QueryValue]()
            for (m, s) in zip(plan.metrics, plan.metricSlots) {
                switch (m, t.states[s]) {
                case (.count, .count(let a)): metrics.append(.int(a[g]))
                case (.unique, .distinct(let a)), (.uniquePeople, .distinct(let a)):
                    metrics.append(.int(Int64(a[g].count)))
                case (.approxUnique, .approxDistinct(let a)): metrics.append(.int(Int64(a[g].estimate.rounded())))
                case (.sum, .numeric(let a)): metrics.append(a[g].sum)
                case (.avg, .numeric(let a)): metrics.append(a[g].avg)
                case (.min, .numeric(let a)): metrics.append(a[g].min)
                case (.max, .numeric(let a)): metrics.append(a[g].max)
                case (.percentile(let p, _), .values(let a)): metrics.append(a[g].percentile(p))
                default: preconditionFailure("metric and accumulator disagree")
                }
            }
            rows.append(QueryRow(keys: keys[g], metrics: metrics))
        }
        func less(_ a: QueryRow, _ b: QueryRow) -> Bool {
            for o in plan.orderBy {
                let c =
                    o.isMetric
                    ? QueryValue.compare(a.metrics[o.index], b.metrics[o.index])
                    : QueryValue.compare(a.keys[o.index], b.keys[o.index])
                if c != 0 { return o.descending ? c > 0 : c < 0 }
            }
            for k in plan.defaultKeyOrder {
                let c = QueryValue.compare(a.keys[k], b.keys[k])
                if c != 0 { return c < 0 }
            }
            return false
        }
        if let l = plan.limit, l < rows.count / 4 {
            // Top-k: keep the best `l` rows sorted; a row enters only if it beats the worst kept.
            // O(n log l) comparisons instead of sorting every group. Ties keep the earlier row
            // (insertion after equals), like the stable sort below.
            var best: [QueryRow] = []
            best.reserveCapacity(l + 1)
            for r in rows {
                if best.count == l, let worst = best.last, !less(r, worst) { continue }
                var lo = 0
                var hi = best.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if less(r, best[mid]) { hi = mid } else { lo = mid + 1 }
                }
                best.insert(r, at: lo)
                if best.count > l { best.removeLast() }
            }
            return best
        }
        rows.sort(by: less)
        if let l = plan.limit, rows.count > l { rows.removeSubrange(l...) }
        return rows
    }
}

/// One source's part of a query: selection, grouping and partial aggregates.
struct SourceScan {
    let plan: QueryPlan
    let source: any ScanSource
    let options: QueryOptions
    var stats = QueryStats()
    /// Decoded columns by name bytes.
    private var columns: [UTF8Key: QueryColumn?] = [:]
    private var timesCache: [Int64]?

    init(plan: QueryPlan, source: any ScanSource, options: QueryOptions) {
        self.plan = plan
        self.source = source
        self.options = options
    }

    mutating func times() throws -> [Int64] {
        if let t = timesCache { return t }
        let t = try source.times()
        stats.bytesDecoded += t.count * 8
        timesCache = t
        return t
    }

    /// A column checked against the kind the schema gives it; nil when absent or of another storage
    /// type (its values counted as skipped).
    mutating func column(_ name: String, _ kind: FieldKind) throws -> QueryColumn? {
        if let c = columns[UTF8Key(s: name)] { return c }
        var c = try source.column(name)
        if let cc = c {
            stats.bytesDecoded += cc.decodedBytes
            if !kind.fits(cc) {
                stats.skipped += cc.present?.cardinality ?? source.rowCount
                c = nil
            }
        }
        columns[UTF8Key(s: name)] = c
        return c
    }

    /// Whether the filter is certainly false for every row, from dictionaries alone.
    func prunable(_ f: Filter) -> Bool {
        switch f {
        case .none: return true
        case .leaf(.column(let name, .string), .compare(.eq, .string(let s))):
            return source.mayContain(column: name, value: .string(s)) == false
        case .leaf(.column(let name, .string), .isIn(let ls)):
            return ls.allSatisfy {
                guard case .string(let s) = $0 else { return true }
                return source.mayContain(column: name, value: .string(s)) == false
            }
        case .and(let fs): return fs.contains { prunable($0) }
        case .or(let fs): return fs.allSatisfy { prunable($0) }
        default: return false
        }
    }

    /// The rows in the time range that match the filter, or nil when the source is pruned.
    mutating func selectedRows() throws -> [UInt32]? {
        let n = source.rowCount
        if n == 0 { return nil }
        if let f = plan.from, source.maxTime < f { return nil }
        if let t = plan.to, source.minTime >= t { return nil }
        if prunable(plan.filter) { return nil }
        stats.rowsScanned = n
        var sel: RowBitmap
        let lo = plan.from ?? Int64.min
        let hi = plan.to ?? Int64.max
        if source.minTime >= lo && source.maxTime < hi {
            sel = RowBitmap(count: n, allSet: true)
        } else if source.isSortedByTime {
            let t = try times()
            let a = lowerBound(t, lo)
            let b = lowerBound(t, hi)
            sel = RowBitmap(count: n)
            for i in a..<Swift.max(a, b) { sel[i] = true }
        } else {
            let t = try times()
            sel = bits(n) { t[$0] >= lo && t[$0] < hi }
        }
        try evaluate(plan.filter, into: &sel)
        return sel.rows()
    }

    private func lowerBound(_ t: [Int64], _ v: Int64) -> Int {
        var lo = 0
        var hi = t.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if t[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// A bitset of `n` rows from a per-row test.
    /// - Complexity: O(n), one word written per 64 rows.
    @inline(__always) private func bits(_ n: Int, _ test: (Int) -> Bool) -> RowBitmap {
        var b = RowBitmap(count: n)
        var w = 0
        var base = 0
        while base < n {
            var word: UInt64 = 0
            let end = Swift.min(base + 64, n)
            for i in base..<end where test(i) { word |= 1 << UInt64(i - base) }
            b.setWord(w, word)
            w += 1
            base = end
        }
        return b
    }

    /// Narrows `sel` to rows matching `f`.
    mutating func evaluate(_ f: Filter, into sel: inout RowBitmap) throws {
        switch f {
        case .all: return
        case .none: sel = RowBitmap(count: sel.count)
        case .and(let fs):
            for c in fs {
                try evaluate(c, into: &sel)
                if sel.isEmpty { return }
            }
        case .or(let fs):
            var any = RowBitmap(count: sel.count)
            for c in fs {
                var b = sel
                try evaluate(c, into: &b)
                any.formUnion(b)
            }
            sel.formIntersection(any)
        case .not(let c):
            var b = sel
            try evaluate(c, into: &b)
            b.invert()
            sel.formIntersection(b)
        case .leaf(let src, let test):
            sel.formIntersection(try leaf(src, test, count: sel.count))
        }
    }

    private mutating func leaf(_ src: ValueSource, _ test: LeafTest, count n: Int) throws -> RowBitmap {
        switch src {
        case .missing:
            return RowBitmap(count: n)
        case .time:
            let t = try times()
            if case .compare(let op, .int(let l)) = test {
                switch op {
                case .eq: return bits(n) { t[$0] == l }
                case .ne: return bits(n) { t[$0] != l }
                case .gt: return bits(n) { t[$0] > l }
                case .gte: return bits(n) { t[$0] >= l }
                case .lt: return bits(n) { t[$0] < l }
                case .lte: return bits(n) { t[$0] <= l }
                }
            }
            return bits(n) { test.matches(int: t[$0]) }
        case .column(let name, let kind):
            if kind == .string, columns[UTF8Key(s: name)] == nil, let p = try postingsBits(name, test, n) { return p }
            guard let c = try column(name, kind) else { return RowBitmap(count: n) }
            var b: RowBitmap
            switch c {
            case .strings(let dictionary, let codes, _):
                if case .compare(.eq, .string(let s)) = test {
                    guard let code = dictionary.firstIndex(where: { utf8Equal($0, s) }).map(UInt32.init) else {
                        return RowBitmap(count: n)
                    }
                    b = bits(n) { codes[$0] == code }
                } else {
                    // One test per dictionary entry, then a table lookup per row.
                    let table = dictionary.map { test.matches(string: $0) }
                    b = bits(n) { table[Int(codes[$0])] }
                }
            case .ints(let v, _):
                if case .compare(let op, .int(let l)) = test {
                    switch op {
                    case .eq: b = bits(n) { v[$0] == l }
                    case .ne: b = bits(n) { v[$0] != l }
                    case .gt: b = bits(n) { v[$0] > l }
                    case .gte: b = bits(n) { v[$0] >= l }
                    case .lt: b = bits(n) { v[$0] < l }
                    case .lte: b = bits(n) { v[$0] <= l }
                    }
                } else {
                    b = bits(n) { test.matches(int: v[$0]) }
                }
            case .doubles(let v, _): b = bits(n) { test.matches(double: v[$0]) }
            case .bools(let v, _): b = bits(n) { test.matches(bool: v[$0]) }
            case .arrays(let v, _): b = bits(n) { test.matches(array: v[$0]) }
            }
            if let p = c.present { b.formIntersection(p) }
            return b
        }
    }

    /// Rows from the source's postings for eq/in on strings, without decoding the column.
    private func postingsBits(_ name: String, _ test: LeafTest, _ n: Int) throws -> RowBitmap? {
        let values: [String]
        switch test {
        case .compare(.eq, .string(let s)): values = [s]
        case .isIn(let ls): values = ls.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: return nil
        }
        var b = RowBitmap(count: n)
        for s in values {
            guard let rows = try source.postings(column: name, value: .string(s)) else { return nil }
            for r in rows where Int(r) < n { b[Int(r)] = true }
        }
        return b
    }

    /// The source's partial result, or nil when it was pruned.
    mutating func run() throws -> GroupTable? {
        guard let rows = try selectedRows() else { return nil }
        var table = GroupTable(slots: plan.slots)
        if rows.isEmpty { return table }
        let (groupOf, groupCount, keyValues) = try group(rows)
        table.keys = keyValues
        for (s, kind) in plan.slots.enumerated() {
            table.states[s] = try accumulate(kind, rows, groupOf, groupCount)
        }
        let perGroup = AccState.cellBytes * Swift.max(1, plan.slots.count) + 32 * plan.keys.count + 64
        table.bytes = groupCount * perGroup + table.states.reduce(0) { $0 + $1.extraBytes }
        if table.bytes > options.maxStateBytes { throw QueryEngine.tooMuchState(options, table.bytes) }
        return table
    }

    /// Local codes of one group key for the selected rows.
    private struct KeyCodes {
        var codes: [UInt32]
        var cardinality: Int
        var decode: [KeyPart]
    }

    /// Assigns dense local codes to values by hashing.
    private func hashCodes<T: Hashable>(
        _ rows: [UInt32],
        _ value: (Int) -> T?,
        _ decode: (T) -> QueryValue
    ) -> KeyCodes {
        var index = [T: UInt32]()
        var values = [KeyPart]()
        var codes = [UInt32]()
        codes.reserveCapacity(rows.count)
        var nullCode: UInt32?
        for r in rows {
            guard let v = value(Int(r)) else {
                if nullCode == nil {
                    nullCode = UInt32(values.count)
                    values.append(.value(.null))
                }
                codes.append(nullCode!)
                continue
            }
            if let c = index[v] {
                codes.append(c)
            } else {
                let c = UInt32(values.count)
                index[v] = c
                values.append(.value(decode(v)))
                codes.append(c)
            }
        }
        return KeyCodes(codes: codes, cardinality: values.count, decode: values)
    }

    private mutating func keyCodes(_ k: Int, _ rows: [UInt32]) throws -> KeyCodes {
        switch plan.keys[k] {
        case .missing:
            return KeyCodes(codes: Array(repeating: 0, count: rows.count), cardinality: 1, decode: [.value(.null)])
        case .time:
            let t = try times()
            if let (g, offset) = plan.buckets[k] {
                var bucketer = TimeBucketer(g, offsetSeconds: offset)
                var starts = [Int64]()
                starts.reserveCapacity(rows.count)
                for r in rows { starts.append(bucketer.start(t[Int(r)])) }
                var i = 0
                return hashCodes(
                    rows,
                    { _ in
                        defer { i += 1 }
                        return starts[i]
                    },
                    { .timestamp($0, offsetSeconds: offset) }
                )
            }
            return hashCodes(rows, { t[$0] }, { .timestamp($0, offsetSeconds: 0) })
        case .column(let name, let kind):
            guard let c = try column(name, kind) else {
                return KeyCodes(codes: Array(repeating: 0, count: rows.count), cardinality: 1, decode: [.value(.null)])
            }
            switch c {
            case .strings(let dictionary, let codes, let present):
                let null = UInt32(dictionary.count)
                var out = [UInt32]()
                out.reserveCapacity(rows.count)
                if let p = present {
                    for r in rows { out.append(p[Int(r)] ? codes[Int(r)] : null) }
                } else {
                    for r in rows { out.append(codes[Int(r)]) }
                }
                // An id column's entries as app-wide codes: no string per group is made or hashed.
                var decode: [KeyPart]
                if let app = source.appCodes(column: name, dictionary: dictionary) {
                    decode = dictionary.indices.map {
                        app[$0] != UInt32.max ? .code(app[$0]) : .value(.string(dictionary[$0]))
                    }
                } else {
                    decode = dictionary.map { .value(.string($0)) }
                }
                decode.append(.value(.null))
                return KeyCodes(codes: out, cardinality: dictionary.count + 1, decode: decode)
            case .bools(let v, _):
                var out = [UInt32]()
                out.reserveCapacity(rows.count)
                for r in rows { out.append(c.has(Int(r)) ? (v[Int(r)] ? 1 : 0) : 2) }
                return KeyCodes(
                    codes: out,
                    cardinality: 3,
                    decode: [.value(.bool(false)), .value(.bool(true)), .value(.null)]
                )
            case .ints(let v, _):
                return hashCodes(rows, { c.has($0) ? v[$0] : nil }, { .int($0) })
            case .doubles(let v, _):
                return hashCodes(rows, { c.has($0) ? QueryValue.number(v[$0]) : nil }, { $0 })
            case .arrays(let v, _):
                return hashCodes(rows, { c.has($0) ? v[$0] : nil }, { .json($0) })
            }
        }
    }

    /// Assigns each selected row a dense group id.
    /// - Returns: the group of each selected row, the number of groups, and each group's key values.
    /// - Throws: `.limitExceeded` past `options.maxGroups`.
    mutating func group(_ rows: [UInt32]) throws -> ([Int32], Int, [[KeyPart]]) {
        if plan.keys.isEmpty { return (Array(repeating: 0, count: rows.count), 1, [[]]) }
        var keys = [KeyCodes]()
        for k in plan.keys.indices { keys.append(try keyCodes(k, rows)) }
        var groupOf = [Int32]()
        groupOf.reserveCapacity(rows.count)
        var groupCodes = [[UInt32]]()
        let maxGroups = options.maxGroups
        func newGroup(_ i: Int) throws -> Int32 {
            guard groupCodes.count < maxGroups else { throw QueryEngine.tooManyGroups(options) }
            groupCodes.append(keys.map { $0.codes[i] })
            return Int32(groupCodes.count - 1)
        }
        var product = 1
        var fits = true
        for k in keys {
            let (p, o) = product.multipliedReportingOverflow(by: k.cardinality)
            if o { fits = false } else { product = p }
        }
        if fits && product <= Swift.max(1 << 16, Swift.min(rows.count * 2, 1 << 22)) {
            // Small key space: a dense table from the mixed-radix code to the group id.
            var table = [Int32](repeating: -1, count: product)
            for i in rows.indices {
                var code = 0
                for k in keys { code = code * k.cardinality + Int(k.codes[i]) }
                var g = table[code]
                if g < 0 {
                    g = try newGroup(i)
                    table[code] = g
                }
                groupOf.append(g)
            }
        } else if fits {
            var table = [Int: Int32]()
            for i in rows.indices {
                var code = 0
                for k in keys { code = code * k.cardinality + Int(k.codes[i]) }
                if let g = table[code] {
                    groupOf.append(g)
                } else {
                    let g = try newGroup(i)
                    table[code] = g
                    groupOf.append(g)
                }
            }
        } else {
            var table = [[UInt32]: Int32]()
            for i in rows.indices {
                let code = keys.map { $0.codes[i] }
                if let g = table[code] {
                    groupOf.append(g)
                } else {
                    let g = try newGroup(i)
                    table[code] = g
                    groupOf.append(g)
                }
            }
        }
        let values = groupCodes.map { codes in codes.enumerated().map { keys[$0].decode[Int($1)] } }
        return (groupOf, groupCodes.count, values)
    }

    private mutating func accumulate(
        _ kind: AccKind,
        _ rows: [UInt32],
        _ groupOf: [Int32],
        _ groups: Int
    ) throws -> AccState {
        switch kind {
        case .count:
            var a = [Int64](repeating: 0, count: groups)
            for g in groupOf { a[Int(g)] += 1 }
            return .count(a)
        case .numeric(let src):
            var a = [NumericCell](repeating: NumericCell(), count: groups)
            guard case .column(let name, let k) = src, let c = try column(name, k) else { return .numeric(a) }
            switch c {
            case .ints(let v, let p):
                for (i, r) in rows.enumerated() where p?[Int(r)] ?? true { a[Int(groupOf[i])].add(v[Int(r)]) }
            case .doubles(let v, let p):
                for (i, r) in rows.enumerated() where p?[Int(r)] ?? true { a[Int(groupOf[i])].add(v[Int(r)]) }
            default: break
            }
            return .numeric(a)
        case .values(let src):
            var a = [ValuesCell](repeating: ValuesCell(), count: groups)
            guard case .column(let name, let k) = src, let c = try column(name, k) else { return .values(a) }
            switch c {
            case .ints(let v, let p):
                for (i, r) in rows.enumerated() where p?[Int(r)] ?? true {
                    a[Int(groupOf[i])].values.append(Double(v[Int(r)]))
                }
            case .doubles(let v, let p):
                for g in a.indices { a[g].allInt = false }
                for (i, r) in rows.enumerated() where p?[Int(r)] ?? true {
                    a[Int(groupOf[i])].values.append(v[Int(r)])
                }
            default: break
            }
            return .values(a)
        case .distinct(let src):
            var a = [DistinctCell](repeating: DistinctCell(), count: groups)
            if case .column(let name, let k) = src, case .strings(let d, let codes, let p)? = try column(name, k) {
                // Distinct dictionary entries per group first (a flag per entry for one group, a
                // set per group otherwise); then each entry is an app-wide code, added to the
                // group's bitmap, or, without one, hashed once (DistinctKey).
                var entries = [[UInt32]](repeating: [], count: groups)
                if groups == 1 {
                    var seen = [Bool](repeating: false, count: d.count)
                    for r in rows where p?[Int(r)] ?? true { seen[Int(codes[Int(r)])] = true }
                    entries[0] = seen.indices.compactMap { seen[$0] ? UInt32($0) : nil }
                } else {
                    var sets = [Set<UInt32>](repeating: [], count: groups)
                    for (i, r) in rows.enumerated() where p?[Int(r)] ?? true {
                        sets[Int(groupOf[i])].insert(codes[Int(r)])
                    }
                    entries = sets.map { Array($0) }
                }
                let app = source.appCodes(column: name, dictionary: d)
                var keys = [UInt128?](repeating: nil, count: groups == 1 ? 0 : d.count)
                for g in 0..<groups {
                    var coded: [UInt32] = []
                    coded.reserveCapacity(entries[g].count)
                    for e in entries[g] {
                        if let app, app[Int(e)] != UInt32.max {
                            coded.append(app[Int(e)])
                        } else if groups == 1 {
                            a[g].hashes.insert(DistinctKey.hash(d[Int(e)]))
                        } else if let key = keys[Int(e)] {
                            a[g].hashes.insert(key)
                        } else {
                            let key = DistinctKey.hash(d[Int(e)])
                            keys[Int(e)] = key
                            a[g].hashes.insert(key)
                        }
                    }
                    a[g].codes.add(contentsOf: coded)
                }
                return .distinct(a)
            }
            try forEachValue(src, rows) { i, v in a[Int(groupOf[i])].hashes.insert(DistinctKey.of(v)) }
            return .distinct(a)
        case .people:
            // Person keys are the same integers in every source of a query (`PersonKeys`).
            var a = [DistinctCell](repeating: DistinctCell(), count: groups)
            let keys = try PersonKeys.keys(&self, rows: rows)
            for (i, k) in keys.enumerated() where k != PersonKeys.none { a[Int(groupOf[i])].hashes.insert(UInt128(k)) }
            return .distinct(a)
        case .approxDistinct(let src):
            var a = [HyperLogLog](repeating: HyperLogLog(), count: groups)
            if case .column(let name, let k) = src, case .strings(let d, let codes, let p)? = try column(name, k) {
                // One hash per dictionary entry, not per row.
                var hashes = [UInt64?](repeating: nil, count: d.count)
                for (i, r) in rows.enumerated() where p?[Int(r)] ?? true {
                    let c = Int(codes[Int(r)])
                    let h: UInt64
                    if let x = hashes[c] {
                        h = x
                    } else {
                        h = HyperLogLog.hash(d[c], seed: 1)
                        hashes[c] = h
                    }
                    a[Int(groupOf[i])].insert(hash: h)
                }
                return .approxDistinct(a)
            }
            try forEachValue(src, rows) { i, v in a[Int(groupOf[i])].insert(hash: HyperLogLog.hash(v)) }
            return .approxDistinct(a)
        }
    }

    /// Calls `body(i, value)` for each selected row `rows[i]` that has a value.
    private mutating func forEachValue(
        _ src: ValueSource,
        _ rows: [UInt32],
        _ body: (Int, QueryValue) -> Void
    ) throws {
        switch src {
        case .missing: return
        case .time:
            let t = try times()
            for (i, r) in rows.enumerated() { body(i, .timestamp(t[Int(r)], offsetSeconds: 0)) }
        case .column(let name, let kind):
            guard let c = try column(name, kind) else { return }
            for (i, r32) in rows.enumerated() {
                let r = Int(r32)
                guard c.has(r) else { continue }
                switch c {
                case .strings(let d, let codes, _): body(i, .string(d[Int(codes[r])]))
                case .ints(let v, _): body(i, .int(v[r]))
                case .doubles(let v, _): body(i, .number(v[r]))
                case .bools(let v, _): body(i, .bool(v[r]))
                case .arrays(let v, _): body(i, .json(v[r]))
                }
            }
        }
    }
}

/// A query worker's own state: at least its statistics (`QueryEngine.fanOut`).
protocol WorkerState: Sendable {
    var stats: QueryStats { get set }
}

extension QueryStats {
    /// Adds what another scan (a source, or a worker's sources) read and skipped.
    mutating func addScan(_ o: QueryStats) {
        rowsScanned += o.rowsScanned
        bytesDecoded += o.bytesDecoded
        skipped += o.skipped
        damagedSegments += o.damagedSegments
    }
}

extension RowBitmap {
    mutating func setWord(_ i: Int, _ w: UInt64) {
        words[i] = w
    }
}
