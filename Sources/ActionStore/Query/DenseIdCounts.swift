/// Counts grouped by one id column (`{"group_by": ["user_id"], "metrics": ["count"]}`, the "top
/// users" question): each worker adds into a dense array indexed by app-wide code, so no group
/// key is built or hashed per source; per source, rows are first counted per dictionary entry,
/// then each entry's count goes to its code (issue 14 item 3). Values without a code (stored
/// before this release) and sources without codes go through the general path into a small
/// `GroupTable`, merged at the end by key (a value is coded everywhere or nowhere in one query).
///
/// With an `order_by` on the count and a `limit`, only the groups that can still make the cut
/// (their count at least the `limit`-th best) become result groups and have their keys turned
/// into text; the general ordering then breaks ties exactly.
struct DenseIdCounts {
    let column: String
    let kind: FieldKind
    var counts: [Int64]
    var nullCount: Int64 = 0
    var fallback: GroupTable

    /// The id column when `plan` is one id key with count metrics only, and codes are known.
    static func applies(_ plan: QueryPlan, ids: IdCodeSnapshot?) -> (column: String, kind: FieldKind, field: IdField)? {
        guard let ids, plan.keys.count == 1, plan.buckets[0] == nil, case .column(let name, let kind) = plan.keys[0],
            let field = IdCodeSnapshot.field(ofColumn: name), plan.slots == [.count],
            ids.limits[field.rawValue] > 0
        else { return nil }
        return (name, kind, field)
    }

    init(plan: QueryPlan, column: String, kind: FieldKind, codes: Int) {
        self.column = column
        self.kind = kind
        counts = [Int64](repeating: 0, count: codes)
        fallback = GroupTable(slots: plan.slots)
    }

    /// Adds one source's selected rows. Returns false when the source was pruned.
    mutating func add(
        _ source: any ScanSource,
        plan: QueryPlan,
        options: QueryOptions,
        stats: inout QueryStats
    ) throws -> Bool {
        var scan = SourceScan(plan: plan, source: source, options: options)
        defer { stats.addScan(scan.stats) }
        guard let rows = try scan.selectedRows() else { return false }
        if rows.isEmpty { return true }
        guard case .strings(let dictionary, let codes, let present)? = try scan.column(column, kind) else {
            nullCount += Int64(rows.count)
            return true
        }
        guard let app = source.appCodes(column: column, dictionary: dictionary) else {
            if let partial = try scan.run() { try fallback.absorb(partial, options: options) }
            return true
        }
        var perEntry = [Int64](repeating: 0, count: dictionary.count)
        if let present {
            for r in rows {
                if present[Int(r)] { perEntry[Int(codes[Int(r)])] += 1 } else { nullCount += 1 }
            }
        } else {
            for r in rows { perEntry[Int(codes[Int(r)])] += 1 }
        }
        var uncoded = GroupTable(slots: plan.slots)
        var uncodedCounts: [Int64] = []
        for (e, n) in perEntry.enumerated() where n > 0 {
            let c = app[e]
            if c != UInt32.max && Int(c) < counts.count {
                counts[Int(c)] += n
            } else {
                uncoded.keys.append([.value(.string(dictionary[e]))])
                uncodedCounts.append(n)
            }
        }
        if !uncoded.keys.isEmpty {
            uncoded.states = [.count(uncodedCounts)]
            try fallback.absorb(uncoded, options: options)
        }
        return true
    }

    /// Adds another worker's counts.
    mutating func merge(_ other: DenseIdCounts, options: QueryOptions) throws {
        for i in counts.indices { counts[i] += other.counts[i] }
        nullCount += other.nullCount
        try fallback.absorb(other.fallback, options: options)
    }

    /// The result groups: every code with rows (or, for a top-`limit` by count, only those that
    /// can make it), the values without codes, and the rows without the column.
    func table(_ plan: QueryPlan, options: QueryOptions) throws -> GroupTable {
        var threshold: Int64 = 1
        if let l = plan.limit, l > 0, let first = plan.orderBy.first, first.isMetric, first.descending {
            // The l-th largest count (a min-heap of the l largest): a group below it cannot be
            // returned; ties at it are kept for the exact ordering to break.
            var heap = Heap<Int64>()
            for n in counts where n > 0 {
                if heap.count < l {
                    heap.insert(n)
                } else if n > heap.min! {
                    heap.replaceMin(n)
                }
            }
            if heap.count == l { threshold = heap.min! }
        }
        var out = GroupTable(slots: plan.slots)
        var values: [Int64] = []
        for (c, n) in counts.enumerated() where n >= threshold {
            guard out.keys.count < options.maxGroups else { throw QueryEngine.tooManyGroups(options) }
            out.keys.append([.code(UInt32(c))])
            values.append(n)
        }
        if nullCount > 0 {
            out.keys.append([.value(.null)])
            values.append(nullCount)
        }
        out.states = [.count(values)]
        if !fallback.keys.isEmpty {
            for (g, k) in out.keys.enumerated() { out.index[k] = g }
            try out.absorb(fallback, options: options)
        }
        return out
    }
}

/// A binary min-heap (the `limit` largest counts of a top-N).
struct Heap<T: Comparable> {
    private var items: [T] = []

    var count: Int { items.count }
    var min: T? { items.first }

    mutating func insert(_ x: T) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    /// Replaces the minimum with `x`.
    mutating func replaceMin(_ x: T) {
        items[0] = x
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == i { return }
            items.swapAt(i, m)
            i = m
        }
    }
}
