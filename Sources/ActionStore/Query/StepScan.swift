import Dispatch

/// One action that matches some step of a funnel or retention query, as a fixed-width record:
/// no strings, no references. 24 bytes.
struct StepRecord: Sendable {
    /// ``PersonKeys`` key.
    var person: UInt64
    var time: Int64
    /// Bit `i` set when the action matches step `i`.
    var mask: UInt32
    /// The global group (rank of its key values) of an action matching the grouped step; else 0.
    var group: UInt32
}

/// The first phase of funnels and retention: every source, in parallel, gives the rows in
/// `[from, to)` matching `where` and some step (each step a filter bitmap evaluated by
/// ``SourceScan``), as ``StepRecord``s in worker-owned arrays, split by person into partitions so
/// that the second phase (sort by person and time, one linear pass per person) runs per partition
/// in parallel too. Group keys (of the rows matching `groupStep`) are local codes per source,
/// numbered per worker, then ranked globally by value, so that a smaller group number is a
/// smaller key in the default key order.
struct StepScan: Sendable {
    /// Partitions a person's records go to: at most 64.
    let partitionCount: Int
    /// `parts[w][p]`: worker `w`'s records of partition `p`, group numbers local to `w`.
    private let parts: [[[StepRecord]]]
    /// Worker-local group number → global group number.
    private let remap: [[UInt32]]
    /// Global groups' key values, in default key order (`[[]]` with no group keys).
    let groups: [[QueryValue]]
    var stats: QueryStats
    /// Workers of the second phase.
    let workers: Int

    static let recordBytes = MemoryLayout<StepRecord>.stride

    /// - Parameters:
    ///   - plan: from, to, where and the group keys.
    ///   - steps: each step's filter, lowered against the schema; at most 32.
    ///   - groupStep: the step whose rows carry group keys (nil: no grouping).
    init(
        plan: QueryPlan,
        steps: [Filter],
        groupStep: Int?,
        sources: [any ScanSource],
        options: QueryOptions,
        ids: IdCodeSnapshot?
    ) throws {
        precondition(steps.count <= 32)
        struct Worker {
            var parts: [[StepRecord]]
            var groupIndex: [[KeyPart]: UInt32] = [:]
            var groupKeys: [[KeyPart]] = []
            var stats = QueryStats()
            var pruned: [Int] = []
            var records = 0
        }
        let cores = Swift.max(1, options.parallelism ?? QueryEngine.activeCores())
        let workers = Swift.min(cores, Swift.max(1, sources.count))
        let partitionCount = Swift.min(64, cores * 16)
        let failure = Locked<(any Error)?>(nil)
        let results = ParallelResults<Worker>(count: workers)
        let grouped = groupStep != nil && !plan.keys.isEmpty
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var mine = Worker(parts: Array(repeating: [], count: partitionCount))
            defer { results.set(w, mine) }
            var i = w
            while i < sources.count {
                if failure.withLock({ $0 != nil }) { return }
                do {
                    var scan = SourceScan(plan: plan, source: sources[i], options: options)
                    let selected = try scan.selectedRows()
                    mine.stats.rowsScanned += scan.stats.rowsScanned
                    guard let rows = selected else {
                        mine.pruned.append(i)
                        i += workers
                        continue
                    }
                    try StepScan.collect(&scan, rows, steps, grouped ? groupStep : nil, &mine.parts, partitionCount) {
                        keys in
                        if let g = mine.groupIndex[keys] { return g }
                        let g = UInt32(mine.groupKeys.count)
                        mine.groupIndex[keys] = g
                        mine.groupKeys.append(keys)
                        return g
                    }
                    mine.stats.bytesDecoded += scan.stats.bytesDecoded
                    mine.stats.skipped += scan.stats.skipped
                    mine.records = mine.parts.reduce(0) { $0 + $1.count }
                    let bytes = mine.records * StepScan.recordBytes
                    if bytes > options.maxStateBytes / workers {
                        throw QueryEngine.tooMuchState(options, bytes * workers)
                    }
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
        let done = results.take()
        var stats = QueryStats()
        var pruned = [Bool](repeating: false, count: sources.count)
        for r in done {
            stats.addScan(r.stats)
            for i in r.pruned { pruned[i] = true }
        }
        stats.segmentsTotal = sources.count
        stats.segmentsPruned = pruned.filter { $0 }.count
        var partitions = [String: Bool]()
        for (i, s) in sources.enumerated() {
            if let k = s.partitionKey { partitions[k] = (partitions[k] ?? true) && pruned[i] }
        }
        stats.partitionsTotal = partitions.count
        stats.partitionsPruned = partitions.values.filter { $0 }.count

        // Global groups: the distinct keys of all workers, ranked by value.
        var remap = [[UInt32]]()
        var groups: [[QueryValue]] = [[]]
        if grouped {
            var index = [[KeyPart]: Int]()
            var table = GroupTable(slots: [])
            for r in done {
                for k in r.groupKeys where index[k] == nil {
                    index[k] = table.keys.count
                    table.keys.append(k)
                }
            }
            if table.keys.count > options.maxGroups { throw QueryEngine.tooManyGroups(options) }
            let values = QueryEngine.keyValues(table, plan, ids: ids)
            let order = plan.defaultKeyOrder
            let ranked = values.indices.sorted { a, b in
                for k in order {
                    let c = QueryValue.compare(values[a][k], values[b][k])
                    if c != 0 { return c < 0 }
                }
                return false
            }
            var rank = [UInt32](repeating: 0, count: values.count)
            for (r, g) in ranked.enumerated() { rank[g] = UInt32(r) }
            groups = ranked.map { values[$0] }
            remap = done.map { w in w.groupKeys.map { rank[index[$0]!] } }
        } else {
            remap = done.map { _ in [] }
        }
        self.partitionCount = partitionCount
        self.parts = done.map(\.parts)
        self.remap = remap
        self.groups = groups
        self.stats = stats
        self.workers = cores
    }

    /// One source's records.
    private static func collect(
        _ scan: inout SourceScan,
        _ rows: [UInt32],
        _ steps: [Filter],
        _ groupStep: Int?,
        _ parts: inout [[StepRecord]],
        _ partitionCount: Int,
        _ groupNumber: ([KeyPart]) -> UInt32
    ) throws {
        if rows.isEmpty { return }
        let n = scan.source.rowCount
        var base = RowBitmap(count: n)
        for r in rows { base[Int(r)] = true }
        var bitmaps = [RowBitmap?]()
        var any = RowBitmap(count: n)
        for f in steps {
            if scan.prunable(f) {
                bitmaps.append(nil)
                continue
            }
            var b = base
            try scan.evaluate(f, into: &b)
            any.formUnion(b)
            bitmaps.append(b)
        }
        let matching = any.rows()
        if matching.isEmpty { return }
        let persons = try PersonKeys.keys(&scan, rows: matching)
        let times = try scan.times()
        var groupOfRow = [UInt32]()
        var groupRows = [UInt32]()
        if let gs = groupStep, let b = bitmaps[gs] {
            groupRows = b.rows()
            if !groupRows.isEmpty {
                let (groupOf, _, keyValues) = try scan.group(groupRows)
                let numbers = keyValues.map(groupNumber)
                groupOfRow = groupOf.map { numbers[Int($0)] }
            }
        }
        let shift = UInt64(64 - partitionCount.trailingZeroBitCount)
        let pow2 = partitionCount.nonzeroBitCount == 1
        var g = 0
        for (i, r32) in matching.enumerated() {
            let person = persons[i]
            if person == PersonKeys.none { continue }
            let r = Int(r32)
            var mask: UInt32 = 0
            for (s, b) in bitmaps.enumerated() where b?[r] == true { mask |= 1 << UInt32(s) }
            var group: UInt32 = 0
            if !groupRows.isEmpty {
                // Both lists are ascending: walk the grouped rows alongside.
                while g < groupRows.count && groupRows[g] < r32 { g += 1 }
                if g < groupRows.count && groupRows[g] == r32 { group = groupOfRow[g] }
            }
            let mixed = person &* 0x9E37_79B9_7F4A_7C15
            let p = pow2 ? (partitionCount == 1 ? 0 : Int(mixed >> shift)) : Int(mixed % UInt64(partitionCount))
            parts[p].append(StepRecord(person: person, time: times[r], mask: mask, group: group))
        }
    }

    /// Partition `p`'s records from every worker, group numbers global, sorted by person then time.
    func partition(_ p: Int) -> [StepRecord] {
        var out = [StepRecord]()
        out.reserveCapacity(parts.reduce(0) { $0 + $1[p].count })
        for (w, ps) in parts.enumerated() {
            let m = remap[w]
            if m.isEmpty {
                out += ps[p]
            } else {
                for var r in ps[p] {
                    r.group = Int(r.group) < m.count ? m[Int(r.group)] : 0
                    out.append(r)
                }
            }
        }
        out.sort { $0.person != $1.person ? $0.person < $1.person : $0.time < $1.time }
        return out
    }

    /// Runs `body` over every partition on the workers, each worker folding into a copy of `initial` of its own.
    func reducePartitions<T: Sendable>(
        _ initial: T,
        _ body: @Sendable (inout T, [StepRecord]) -> Void
    ) -> [T] {
        let n = Swift.max(1, Swift.min(partitionCount, workers))
        let results = ParallelResults<T>(count: n)
        DispatchQueue.concurrentPerform(iterations: n) { w in
            var state = initial
            var p = w
            while p < partitionCount {
                body(&state, partition(p))
                p += n
            }
            results.set(w, state)
        }
        return results.take()
    }

    /// Calls `body` with each person's records (a range of `records`, sorted by time).
    static func forEachPerson(_ records: [StepRecord], _ body: (Range<Int>) -> Void) {
        var lo = 0
        while lo < records.count {
            var hi = lo + 1
            let p = records[lo].person
            while hi < records.count && records[hi].person == p { hi += 1 }
            body(lo..<hi)
            lo = hi
        }
    }
}
