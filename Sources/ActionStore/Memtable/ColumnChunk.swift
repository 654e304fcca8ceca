/// Actions of one application as columns: what a memtable holds, what a journal record carries
/// (docs/journal-format.md, batch payload version 2) and what a flush writes. See DESIGN.md,
/// "Columns and codes".
///
/// Every column is sparse: the rows where it has a value, ascending, and one 64-bit slot per such
/// row. A string's slot points into the chunk's one byte arena (`offset << 32 | length`); a
/// number's slot holds the bits of an Int64 or, where `isDouble` says so, of a Double; a boolean's
/// is 0 or 1. Strings are bytes: two spellings of one text (NFC and NFD "café") stay two values.
///
/// A value type built by appending (`append(_:)`, `append(contentsOf:)`) and then shared
/// read-only: arrays are copy-on-write, so a snapshot that takes a chunk costs a reference, and
/// only a writer that appends to a chunk a snapshot still holds pays one copy of it.
struct ColumnChunk: Sendable {
    /// A column's storage kind (numbers of both kinds share one: `isDouble` tells them apart).
    enum Kind: UInt8, Sendable {
        case string = 1
        case number = 2
        case bool = 3
        /// An array, as compact JSON text in the arena.
        case array = 4

        init(_ v: Value) {
            switch v {
            case .string: self = .string
            case .int, .double: self = .number
            case .bool: self = .bool
            case .array: self = .array
            }
        }

        var usesArena: Bool { self == .string || self == .array }
    }

    struct Column: Sendable {
        var kind: Kind
        /// The rows that have a value, ascending.
        var rows: [UInt32] = []
        /// One per entry of `rows`.
        var slots: [UInt64] = []
        /// Number columns: one per slot, true where the slot holds a Double's bits. Empty for
        /// other kinds, and for number columns with no Double at all.
        var isDouble: [Bool] = []

        init(kind: Kind) { self.kind = kind }

        var count: Int { rows.count }

        /// Bytes held (by capacity).
        var memoryBytes: Int { 64 + rows.capacity * 4 + slots.capacity * 8 + isDouble.capacity }
    }

    /// Row `i`'s time, UTC microseconds.
    private(set) var times: [Int64] = []
    /// The bytes of every string and array value, back to back.
    private(set) var arena: [UInt8] = []
    /// The fixed fields, indexed by `FixedField.rawValue` (a column with no rows when absent).
    private(set) var fixed: [Column] = FixedField.allCases.map { _ in Column(kind: .string) }
    /// Metadata columns in first-seen order; `metadataPaths[i]` names `metadata[i]` (relative to
    /// `metadata`, no prefix).
    private(set) var metadata: [Column] = []
    private(set) var metadataPaths: [String] = []
    /// Path bytes → index in `metadata` (byte-exact: canonically equivalent paths stay apart).
    private var pathIndex: [UTF8Key: Int] = [:]

    init() {}

    var rowCount: Int { times.count }
    var isEmpty: Bool { times.isEmpty }
    var minTime: Int64 { times.min() ?? 0 }
    var maxTime: Int64 { times.max() ?? 0 }

    /// The bytes this chunk holds in memory (array capacities, not an estimate from a sample).
    var memoryBytes: Int {
        var n = 128 + times.capacity * 8 + arena.capacity
        for c in fixed { n += c.memoryBytes }
        for (i, c) in metadata.enumerated() { n += c.memoryBytes + 32 + metadataPaths[i].utf8.count }
        return n + pathIndex.capacity * 24
    }

    // MARK: - Reading values

    @inline(__always) static func slot(offset: Int, length: Int) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: offset)) << 32 | UInt64(UInt32(truncatingIfNeeded: length))
    }

    /// The arena bytes of a string or array slot.
    @inline(__always) func bytes(_ slot: UInt64) -> ArraySlice<UInt8> {
        let offset = Int(slot >> 32)
        return arena[offset..<offset + Int(slot & 0xFFFF_FFFF)]
    }

    func string(_ slot: UInt64) -> String { String(decoding: bytes(slot), as: UTF8.self) }

    /// Value `i` of `column`, as a `Value` (for the edges: scans, exports, tests).
    func value(_ column: Column, _ i: Int) -> Value {
        Self.value(
            kind: column.kind,
            slot: column.slots[i],
            isDouble: !column.isDouble.isEmpty && column.isDouble[i],
            text: string
        )
    }

    /// The value a slot holds; `text` reads a string or array slot's bytes.
    static func value(kind: Kind, slot s: UInt64, isDouble: Bool, text: (UInt64) -> String) -> Value {
        switch kind {
        case .string: return .string(text(s))
        case .array: return .array(text(s))
        case .bool: return .bool(s != 0)
        case .number: return isDouble ? .double(Double(bitPattern: s)) : .int(Int64(bitPattern: s))
        }
    }

    /// The slot of `value` (its pair with ``value(kind:slot:isDouble:text:)``): a string's or
    /// array's bytes go through `store`; numbers and booleans are their bits.
    static func slot(of value: Value, store: (String) -> UInt64) -> (slot: UInt64, isDouble: Bool) {
        switch value {
        case .string(let s), .array(let s): return (store(s), false)
        case .int(let v): return (UInt64(bitPattern: v), false)
        case .double(let d): return (d.bitPattern, true)
        case .bool(let b): return (b ? 1 : 0, false)
        }
    }

    /// XXH3-64 of each transaction_id in `column` (a fixed column over `arena`) with its row, for
    /// deduplication (`Deduplication.swift`; the same hash `SegmentReader.transactionIdTimes` gives).
    static func hashes(of column: Column, arena: [UInt8]) -> [(row: UInt32, hash: UInt64)] {
        arena.withUnsafeBytes { base in
            column.rows.indices.map { i in
                let s = column.slots[i]
                let o = Int(s >> 32)
                return (
                    column.rows[i], Checksum.xxh3(UnsafeRawBufferPointer(rebasing: base[o..<o + Int(s & 0xFFFF_FFFF)]))
                )
            }
        }
    }

    /// The metadata column of `path`, if any row has it.
    func metadataColumn(_ path: String) -> Column? {
        pathIndex[UTF8Key(s: path)].map { metadata[$0] }
    }

    /// Calls `body` with every row as an `Action`, in row order (metadata sorted by path bytes).
    func forEachAction(_ body: (Action) throws -> Void) rethrows {
        var fixedAt = [Int](repeating: 0, count: fixed.count)
        var metaAt = [Int](repeating: 0, count: metadata.count)
        let order = metadataPaths.indices.sorted { utf8Less(metadataPaths[$0], metadataPaths[$1]) }
        for row in 0..<rowCount {
            let r = UInt32(row)
            var a = Action(time: times[row], actionName: "")
            for f in FixedField.allCases {
                let c = fixed[f.rawValue]
                let i = fixedAt[f.rawValue]
                if i < c.count, c.rows[i] == r {
                    a[f] = string(c.slots[i])
                    fixedAt[f.rawValue] = i + 1
                }
            }
            for m in order {
                let c = metadata[m]
                let i = metaAt[m]
                if i < c.count, c.rows[i] == r {
                    a.metadata.append(MetadataField(path: metadataPaths[m], value: value(c, i)))
                    metaAt[m] = i + 1
                }
            }
            try body(a)
        }
    }

    /// Every row as an `Action` (for the edges and for compaction, which still merges rows).
    var actions: [Action] {
        var out: [Action] = []
        out.reserveCapacity(rowCount)
        forEachAction { out.append($0) }
        return out
    }

    // MARK: - Appending

    private mutating func appendBytes(_ s: String) -> UInt64 {
        let offset = arena.count
        arena.append(contentsOf: s.utf8)
        return Self.slot(offset: offset, length: arena.count - offset)
    }

    /// Appends one action as the next row.
    ///
    /// A metadata path named twice in one action keeps its last value (the JSON reader does the
    /// same), so no row ever gives a column two values.
    /// - Returns: false, with the chunk unchanged, when a metadata value's kind differs from the
    ///   kind its path already has in this chunk (the schema rejects such an action; callers build
    ///   chunks of admitted actions, or rebuild when this happens).
    @discardableResult
    mutating func append(_ a: Action) -> Bool {
        for f in a.metadata {
            if let i = pathIndex[UTF8Key(s: f.path)], metadata[i].kind != Kind(f.value) { return false }
        }
        let row = UInt32(rowCount)
        times.append(a.time)
        for f in FixedField.allCases {
            guard let v = a[f] else { continue }
            let slot = appendBytes(v)
            fixed[f.rawValue].rows.append(row)
            fixed[f.rawValue].slots.append(slot)
        }
        for f in a.metadata { appendMetadata(f.path, f.value, row: row) }
        return true
    }

    private mutating func appendMetadata(_ path: String, _ value: Value, row: UInt32) {
        let key = UTF8Key(s: path)
        let i: Int
        if let known = pathIndex[key] {
            i = known
            // A path named twice in this row with two kinds (the schema rejects such an action,
            // but an optimistic chunk is built before admission): the column is this row's alone.
            if metadata[i].kind != Kind(value) {
                metadata[i] = Column(kind: Kind(value))
                metadata[i].rows = []
            }
        } else {
            i = metadata.count
            pathIndex[key] = i
            metadataPaths.append(path)
            metadata.append(Column(kind: Kind(value)))
        }
        let (slot, double) = Self.slot(of: value) { appendBytes($0) }
        let replacing = metadata[i].rows.last == row
        if replacing {
            metadata[i].slots[metadata[i].slots.count - 1] = slot
        } else {
            metadata[i].rows.append(row)
            metadata[i].slots.append(slot)
        }
        if double || !metadata[i].isDouble.isEmpty {
            if metadata[i].isDouble.isEmpty {
                metadata[i].isDouble = [Bool](repeating: false, count: metadata[i].slots.count)
            }
            if metadata[i].isDouble.count < metadata[i].slots.count { metadata[i].isDouble.append(double) }
            metadata[i].isDouble[metadata[i].slots.count - 1] = double
        }
    }

    /// Appends every row of `other` after this chunk's rows.
    /// - Complexity: O(rows and bytes of `other`), one path look-up per column of `other`.
    /// - Returns: false, with the chunk unchanged, when a path has different kinds in the two.
    @discardableResult
    mutating func append(contentsOf other: ColumnChunk) -> Bool {
        for (j, path) in other.metadataPaths.enumerated() {
            if let i = pathIndex[UTF8Key(s: path)], metadata[i].kind != other.metadata[j].kind { return false }
        }
        let rowBase = UInt32(rowCount)
        let arenaBase = UInt64(arena.count)
        times += other.times
        arena += other.arena
        func add(_ src: Column, to dst: inout Column) {
            let before = dst.slots.count
            dst.rows += src.rows.lazy.map { $0 + rowBase }
            if src.kind.usesArena {
                dst.slots += src.slots.lazy.map { $0 &+ arenaBase << 32 }
            } else {
                dst.slots += src.slots
            }
            if !src.isDouble.isEmpty || !dst.isDouble.isEmpty {
                if dst.isDouble.isEmpty { dst.isDouble = [Bool](repeating: false, count: before) }
                if src.isDouble.isEmpty {
                    dst.isDouble += repeatElement(false, count: src.count)
                } else {
                    dst.isDouble += src.isDouble
                }
            }
        }
        for f in FixedField.allCases { add(other.fixed[f.rawValue], to: &fixed[f.rawValue]) }
        for (j, path) in other.metadataPaths.enumerated() {
            let key = UTF8Key(s: path)
            let i: Int
            if let known = pathIndex[key] {
                i = known
            } else {
                i = metadata.count
                pathIndex[key] = i
                metadataPaths.append(path)
                metadata.append(Column(kind: other.metadata[j].kind))
            }
            add(other.metadata[j], to: &metadata[i])
        }
        return true
    }

    // MARK: - Reordering

    /// A chunk of the rows `order` names, in that order (a subset, a permutation, or both). String
    /// bytes are copied into a new arena holding only what the selected rows use.
    /// - Complexity: O(rows + values + bytes) and no sort: a subset in ascending order maps each
    ///   column's rows through `position`; any other order walks `order` once per column through a
    ///   row → value index that is cleared after each column (O(values), not O(rows)).
    ///
    /// - Parameter shareArena: keep this chunk's arena (a reference, no byte copied) and its
    ///   slots as they are; only rows are renumbered. For a permutation of every row (nothing to
    ///   leave behind), this is what `sortedByTime` wants: the flush then moves no string.
    func gathered(_ order: [Int], shareArena: Bool = false) -> ColumnChunk {
        var position = [Int32](repeating: -1, count: rowCount)
        var ascending = true
        for (new, old) in order.enumerated() {
            position[old] = Int32(new)
            if new > 0, old < order[new - 1] { ascending = false }
        }
        var out = ColumnChunk()
        out.times = order.map { times[$0] }
        if shareArena { out.arena = arena }
        var indexOfRow = ascending ? [] : [Int32](repeating: -1, count: rowCount)
        arena.withUnsafeBufferPointer { src in
            func gather(_ c: Column) -> Column {
                var g = Column(kind: c.kind)
                g.rows.reserveCapacity(c.count)
                g.slots.reserveCapacity(c.count)
                let doubles = !c.isDouble.isEmpty
                if doubles { g.isDouble.reserveCapacity(c.count) }
                func take(_ new: Int32, _ i: Int) {
                    g.rows.append(UInt32(new))
                    let s = c.slots[i]
                    if c.kind.usesArena && !shareArena {
                        let offset = Int(s >> 32)
                        let length = Int(s & 0xFFFF_FFFF)
                        g.slots.append(Self.slot(offset: out.arena.count, length: length))
                        // Safe because every slot lies inside the arena (`append` and the
                        // decoder guarantee it).
                        out.arena.append(contentsOf: UnsafeBufferPointer(rebasing: src[offset..<offset + length]))
                    } else {
                        g.slots.append(s)
                    }
                    if doubles { g.isDouble.append(c.isDouble[i]) }
                }
                if ascending {
                    for (i, r) in c.rows.enumerated() where position[Int(r)] >= 0 { take(position[Int(r)], i) }
                } else {
                    for (i, r) in c.rows.enumerated() { indexOfRow[Int(r)] = Int32(i) }
                    for (new, old) in order.enumerated() where indexOfRow[old] >= 0 {
                        take(Int32(new), Int(indexOfRow[old]))
                    }
                    for r in c.rows { indexOfRow[Int(r)] = -1 }
                }
                return g
            }
            for f in FixedField.allCases { out.fixed[f.rawValue] = gather(fixed[f.rawValue]) }
            for (j, path) in metadataPaths.enumerated() {
                let g = gather(metadata[j])
                guard g.count > 0 else { continue }
                out.pathIndex[UTF8Key(s: path)] = out.metadata.count
                out.metadataPaths.append(path)
                out.metadata.append(g)
            }
        }
        return out
    }

    /// The same rows, ordered by time (stable: equal times keep their order), over the same arena
    /// (no string bytes move). Returns `self` when already in order.
    func sortedByTime() -> ColumnChunk {
        var sorted = true
        for i in times.indices.dropFirst() where times[i - 1] > times[i] {
            sorted = false
            break
        }
        if sorted { return self }
        return gathered(times.indices.sorted { (times[$0], $0) < (times[$1], $1) }, shareArena: true)
    }

    /// The rows split by partition key, in order of first appearance; `self` whole when every
    /// row falls in one partition (the common case: a batch mostly shares one).
    /// - Complexity: O(rows + values + bytes) in one pass over each column, however many
    ///   partitions (late actions scatter a batch over many); a key is computed only when the time
    ///   leaves the current partition.
    func partitioned(by partitioning: Partitioning) -> [(partition: String, chunk: ColumnChunk)] {
        guard let first = times.first else { return [] }
        var key = partitioning.key(first)
        var range = partitioning.range(ofKey: key) ?? first..<(first &+ 1)
        // The common batch: one partition, known after one pass over the times, no allocation.
        if times.allSatisfy({ range.contains($0) }) { return [(key, self)] }
        var keys = [key]
        var partOf = [Int32](repeating: 0, count: rowCount)
        var newRow = [UInt32](repeating: 0, count: rowCount)
        var counts = [UInt32(0)]
        var current = 0
        for (i, t) in times.enumerated() {
            if !range.contains(t) {
                key = partitioning.key(t)
                range = partitioning.range(ofKey: key) ?? t..<(t &+ 1)
                if let k = keys.firstIndex(of: key) {
                    current = k
                } else {
                    current = keys.count
                    keys.append(key)
                    counts.append(0)
                }
            }
            partOf[i] = Int32(current)
            newRow[i] = counts[current]
            counts[current] += 1
        }
        if keys.count == 1 { return [(keys[0], self)] }
        // Per part: times, arena, fixed and metadata columns, assembled at the end.
        var partTimes = counts.map { [Int64]().reserved(Int($0)) }
        for (i, t) in times.enumerated() { partTimes[Int(partOf[i])].append(t) }
        var arenas = keys.map { _ in [UInt8]() }
        var fixedCols = keys.map { _ in FixedField.allCases.map { _ in Column(kind: .string) } }
        var metaCols = keys.map { _ in [Column]() }
        var metaPaths = keys.map { _ in [String]() }
        arena.withUnsafeBufferPointer { src in
            /// Appends value `i` of `c` (at row `r`) to `col`, copying its bytes into `to`.
            func put(_ c: Column, _ i: Int, _ r: UInt32, _ col: inout Column, _ to: inout [UInt8]) {
                var s = c.slots[i]
                if c.kind.usesArena {
                    let offset = Int(s >> 32)
                    let length = Int(s & 0xFFFF_FFFF)
                    s = Self.slot(offset: to.count, length: length)
                    // Safe because every slot lies inside the arena.
                    to.append(contentsOf: UnsafeBufferPointer(rebasing: src[offset..<offset + length]))
                }
                col.rows.append(newRow[Int(r)])
                col.slots.append(s)
                if !c.isDouble.isEmpty { col.isDouble.append(c.isDouble[i]) }
            }
            for f in FixedField.allCases {
                let c = fixed[f.rawValue]
                for (i, r) in c.rows.enumerated() {
                    let p = Int(partOf[Int(r)])
                    put(c, i, r, &fixedCols[p][f.rawValue], &arenas[p])
                }
            }
            for (j, path) in metadataPaths.enumerated() {
                let c = metadata[j]
                var slot = [Int](repeating: -1, count: keys.count)
                for (i, r) in c.rows.enumerated() {
                    let p = Int(partOf[Int(r)])
                    if slot[p] < 0 {
                        slot[p] = metaCols[p].count
                        metaCols[p].append(Column(kind: c.kind))
                        metaPaths[p].append(path)
                    }
                    put(c, i, r, &metaCols[p][slot[p]], &arenas[p])
                }
            }
        }
        let outs = keys.indices.map { p -> ColumnChunk in
            var parts = Parts(times: partTimes[p])
            parts.arena = arenas[p]
            parts.fixed = fixedCols[p]
            for (m, col) in metaCols[p].enumerated() { _ = parts.addMetadata(metaPaths[p][m], col) }
            return ColumnChunk(parts)
        }
        return keys.indices.map { (keys[$0], outs[$0]) }
    }
}

extension Array {
    /// An empty array with room for `n` elements.
    fileprivate func reserved(_ n: Int) -> [Element] {
        var a = self
        a.reserveCapacity(n)
        return a
    }
}

extension ColumnChunk {
    /// One chunk of `actions`; values whose kind disagrees with their path's first kind are dropped
    /// (admitted actions never disagree: the schema gives a path one type).
    static func of(_ actions: [Action]) -> ColumnChunk {
        ColumnChunk(actions) ?? rebuilt(chunks(of: actions))
    }

    /// A chunk of `actions`, or nil if one path holds values of two kinds among them.
    init?(_ actions: some Sequence<Action>) {
        self.init()
        for a in actions where !append(a) { return nil }
    }
}

extension ColumnChunk {
    /// `actions` as chunks, in order: a new chunk starts where a path changes kind (which only
    /// hand-made actions do; admitted ones never).
    static func chunks(of actions: [Action]) -> [ColumnChunk] {
        var out: [ColumnChunk] = []
        var current = ColumnChunk()
        for a in actions where !current.append(a) {
            out.append(current)
            current = ColumnChunk()
            current.append(a)
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}

extension ColumnChunk {
    /// The pieces of a chunk, for decoders that fill columns directly (the journal's batch
    /// payload version 2). The decoder checks what `append` guarantees: rows ascending and below
    /// the row count, slots inside the arena.
    struct Parts {
        var times: [Int64]
        var arena: [UInt8] = []
        var fixed: [Column] = FixedField.allCases.map { _ in Column(kind: .string) }
        var metadata: [Column] = []
        var metadataPaths: [String] = []
        var pathIndex: [UTF8Key: Int] = [:]

        /// Adds a metadata column; false if `path` already has one.
        mutating func addMetadata(_ path: String, _ column: Column) -> Bool {
            let key = UTF8Key(s: path)
            guard pathIndex[key] == nil else { return false }
            pathIndex[key] = metadata.count
            metadataPaths.append(path)
            metadata.append(column)
            return true
        }
    }

    init(_ parts: Parts) {
        times = parts.times
        arena = parts.arena
        fixed = parts.fixed
        metadata = parts.metadata
        metadataPaths = parts.metadataPaths
        pathIndex = parts.pathIndex
    }
}

extension ColumnChunk {
    /// One chunk of the rows of `chunks`, values whose kind disagrees with their path's first kind
    /// dropped (only hand-made rows can disagree; see `append(_:)`).
    static func rebuilt(_ chunks: [ColumnChunk]) -> ColumnChunk {
        var out = ColumnChunk()
        for c in chunks {
            c.forEachAction { a in
                if out.append(a) { return }
                var kept = a
                kept.metadata.removeAll { f in
                    out.pathIndex[UTF8Key(s: f.path)].map { out.metadata[$0].kind != Kind(f.value) } ?? false
                }
                out.append(kept)
            }
        }
        return out
    }
}
