/// What the normalizer makes of one JSON document, in columns: the rows of the actions that
/// normalized, with no `String`, `Value` or `Action` per field.
///
/// Times and fixed fields are columns of a ``ColumnChunk`` under construction (`parts`); metadata
/// leaves are a log of (path id, kind, slot) per row, and the path uses the schema checks (objects
/// included) a log of (path id, type) per row. A path id numbers the distinct paths of the batch
/// (`paths`); the store checks each (path, type) pair against the schema once per batch, and
/// builds the metadata columns from the leaf log (`chunk(keeping:dropping:)`) once it knows which
/// rows and paths survive.
struct NormalizedBatch: Sendable {
    /// One per input action, in order: the row it became, or why it was rejected.
    var outcomes: [Result<Int, ActionStoreError>] = []
    /// Times, fixed fields and the arena that string slots of fixed fields and leaves point into.
    var parts = ColumnChunk.Parts(times: [])
    /// Path id → path (relative to `metadata`), leaves and objects alike.
    var paths: [String] = []
    /// Path bytes → path id.
    private var pathIds: [[UInt8]: Int32] = [:]

    /// Leaves of row `r`: indexes `leafStart[r]..<leafStart[r + 1]`, in document order (a path
    /// given twice appears twice; the later value wins).
    var leafStart: [Int32] = [0]
    var leafPath: [Int32] = []
    var leafKind: [ColumnChunk.Kind] = []
    var leafSlot: [UInt64] = []
    var leafIsDouble: [Bool] = []

    /// Path uses of row `r`: indexes `useStart[r]..<useStart[r + 1]`, in document order.
    var useStart: [Int32] = [0]
    var usePath: [Int32] = []
    var useType: [FieldType] = []

    var rowCount: Int { parts.times.count }

    /// The id of the path `bytes`, made on first sight.
    mutating func pathId(_ bytes: [UInt8]) -> Int32 {
        if let id = pathIds[bytes] { return id }
        let id = Int32(paths.count)
        pathIds[bytes] = id
        paths.append(String(decoding: bytes, as: UTF8.self))
        return id
    }

    /// The id of `path`, made on first sight.
    mutating func pathId(_ path: String) -> Int32 { pathId(Array(path.utf8)) }

    /// Appends `bytes` to the arena and returns their slot.
    mutating func store(_ bytes: some Collection<UInt8>) -> UInt64 {
        let offset = parts.arena.count
        parts.arena.append(contentsOf: bytes)
        return ColumnChunk.slot(offset: offset, length: bytes.count)
    }

    /// Ends the row whose fields were just appended (`parts.times` holds its time).
    mutating func endRow() {
        leafStart.append(Int32(leafPath.count))
        useStart.append(Int32(usePath.count))
    }

    /// Takes back the last row (its arena bytes stay, unreferenced).
    mutating func dropLastRow() {
        guard let t = parts.times.indices.last else { return }
        parts.times.removeLast()
        for f in FixedField.allCases where parts.fixed[f.rawValue].rows.last == UInt32(t) {
            parts.fixed[f.rawValue].rows.removeLast()
            parts.fixed[f.rawValue].slots.removeLast()
        }
        leafStart.removeLast()
        useStart.removeLast()
        let leaves = Int(leafStart.last!)
        leafPath.removeSubrange(leaves...)
        leafKind.removeSubrange(leaves...)
        leafSlot.removeSubrange(leaves...)
        leafIsDouble.removeSubrange(leaves...)
        let uses = Int(useStart.last!)
        usePath.removeSubrange(uses...)
        useType.removeSubrange(uses...)
    }

    /// Appends every row and outcome of `other` (normalized separately, e.g. on another core),
    /// renumbering its path ids and rows.
    mutating func append(contentsOf other: NormalizedBatch) {
        let rowBase = rowCount
        let arenaBase = UInt64(parts.arena.count)
        let ids = other.paths.map { pathId($0) }
        parts.times += other.parts.times
        parts.arena += other.parts.arena
        for f in FixedField.allCases {
            parts.fixed[f.rawValue].rows += other.parts.fixed[f.rawValue].rows.lazy.map { $0 + UInt32(rowBase) }
            parts.fixed[f.rawValue].slots += other.parts.fixed[f.rawValue].slots.lazy.map { $0 &+ arenaBase << 32 }
        }
        let leafBase = Int32(leafPath.count)
        leafStart += other.leafStart.dropFirst().lazy.map { $0 + leafBase }
        leafPath += other.leafPath.lazy.map { ids[Int($0)] }
        for (i, k) in other.leafKind.enumerated() {
            leafSlot.append(k.usesArena ? other.leafSlot[i] &+ arenaBase << 32 : other.leafSlot[i])
        }
        leafKind += other.leafKind
        leafIsDouble += other.leafIsDouble
        let useBase = Int32(usePath.count)
        useStart += other.useStart.dropFirst().lazy.map { $0 + useBase }
        usePath += other.usePath.lazy.map { ids[Int($0)] }
        useType += other.useType
        outcomes += other.outcomes.map { $0.map { $0 + rowBase } }
    }

    // MARK: - Building the chunk

    /// The rows as a chunk, leaving out the rows `keeping` clears and, per row, the paths
    /// `dropping` names (with everything under them).
    /// - Returns: nil when one path has values of two kinds among the rows kept (the schema
    ///   rejects such rows; callers build the chunk after admission then).
    /// - Complexity: O(rows + leaves + bytes); without `keeping` the arena is shared, not copied.
    func chunk(keeping: RowBitmap? = nil, dropping: [Int: [Int32]] = [:]) -> ColumnChunk? {
        var parts = self.parts
        var keptRows: [Int]?
        if let keeping {
            keptRows = keeping.rows().map(Int.init)
        }
        // Metadata columns from the leaf log, in the batch's row numbers (the gather below
        // renumbers every column at once); column of path id = slotOf[id].
        var slotOf = [Int32](repeating: -1, count: paths.count)
        var columns: [ColumnChunk.Column] = []
        var columnPaths: [String] = []
        let rows = keptRows ?? Array(0..<rowCount)
        // The row that last used each path id: a path given twice in a row keeps its last value,
        // so the leaves of a row are read backwards and a repeat is skipped.
        var seenIn = [Int32](repeating: -1, count: paths.count)
        for r in rows {
            let drops = dropping[r]
            for l in stride(from: Int(leafStart[r + 1]) - 1, through: Int(leafStart[r]), by: -1) {
                let p = leafPath[l]
                if seenIn[Int(p)] == Int32(r) { continue }
                seenIn[Int(p)] = Int32(r)
                if let drops, drops.contains(where: { isUnder(p, $0) }) { continue }
                var c = slotOf[Int(p)]
                if c < 0 {
                    c = Int32(columns.count)
                    slotOf[Int(p)] = c
                    columns.append(ColumnChunk.Column(kind: leafKind[l]))
                    columnPaths.append(paths[Int(p)])
                }
                guard columns[Int(c)].kind == leafKind[l] else { return nil }
                appendLeaf(l, row: UInt32(r), to: &columns[Int(c)])
            }
        }
        for (i, col) in columns.enumerated() { _ = parts.addMetadata(columnPaths[i], col) }
        let chunk = ColumnChunk(parts)
        return keptRows.map { chunk.gathered($0) } ?? chunk
    }

    private func appendLeaf(_ l: Int, row: UInt32, to col: inout ColumnChunk.Column) {
        let double = leafIsDouble[l]
        col.rows.append(row)
        col.slots.append(leafSlot[l])
        if !col.isDouble.isEmpty { col.isDouble.append(double) }
        if double && col.isDouble.isEmpty {
            col.isDouble = [Bool](repeating: false, count: col.slots.count)
            col.isDouble[col.slots.count - 1] = true
        }
    }

    /// Whether path `p` is `prefix` or lies under it.
    private func isUnder(_ p: Int32, _ prefix: Int32) -> Bool {
        if p == prefix { return true }
        let a = paths[Int(p)].utf8
        let b = paths[Int(prefix)].utf8
        return a.count > b.count && a.starts(with: b) && a[a.index(a.startIndex, offsetBy: b.count)] == 0x2E
    }

    // MARK: - Edges

    /// The path uses of row `r`, as the schema's row-wise check takes them.
    func pathUses(_ r: Int) -> [NormalizedAction.PathUse] {
        (Int(useStart[r])..<Int(useStart[r + 1])).map { .init(path: paths[Int(usePath[$0])], type: useType[$0]) }
    }

    /// Row `r` with its path uses, as the row-valued API has it.
    func normalizedAction(_ r: Int) -> NormalizedAction {
        var fixedAt = FixedField.allCases.map { f in
            let rows = parts.fixed[f.rawValue].rows
            var lo = 0
            var hi = rows.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if rows[mid] < UInt32(r) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        return NormalizedAction(action: action(r, fixedAt: &fixedAt), pathUses: pathUses(r))
    }

    /// Row `r` as an `Action` (metadata sorted by path bytes; a path given twice keeps its
    /// last value). `fixedAt` holds a cursor per fixed column: call with rows in ascending order.
    private func action(_ r: Int, fixedAt: inout [Int]) -> Action {
        let chunk = ColumnChunk(parts)
        var a = Action(time: parts.times[r], actionName: "")
        for f in FixedField.allCases {
            let c = parts.fixed[f.rawValue]
            let i = fixedAt[f.rawValue]
            if i < c.count, c.rows[i] == UInt32(r) {
                a[f] = chunk.string(c.slots[i])
                fixedAt[f.rawValue] = i + 1
            }
        }
        var last: [Int32: Int] = [:]
        for l in Int(leafStart[r])..<Int(leafStart[r + 1]) { last[leafPath[l]] = l }
        for l in last.values.sorted() {
            let v = ColumnChunk.value(
                kind: leafKind[l],
                slot: leafSlot[l],
                isDouble: leafIsDouble[l],
                text: chunk.string
            )
            a.metadata.append(MetadataField(path: paths[Int(leafPath[l])], value: v))
        }
        a.metadata.sort { utf8Less($0.path, $1.path) }
        return a
    }

    /// Every outcome with its action, as the row-valued API returns them (tests, fuzzing,
    /// `actionbench parse`).
    func normalizedActions() -> [Result<NormalizedAction, ActionStoreError>] {
        var fixedAt = [Int](repeating: 0, count: FixedField.allCases.count)
        return outcomes.map { o in
            o.map { r in NormalizedAction(action: action(r, fixedAt: &fixedAt), pathUses: pathUses(r)) }
        }
    }
}

extension NormalizedBatch {
    /// The id of `path` if the batch has seen it.
    func id(of path: String) -> Int32? { pathIds[Array(path.utf8)] }

    /// Built actions (the typed API) as a batch: an action without a name is rejected; metadata
    /// paths must already be normalized (no dots inside a key); objects on the way to a leaf are
    /// path uses of type object, as the JSON reader records them.
    init(actions: [Action]) {
        self.init()
        var pathsOf: [UTF8Key: (leaf: Int32, objects: [Int32])] = [:]
        var objects = Set<Int32>()
        for a in actions {
            guard !a.actionName.isEmpty else {
                outcomes.append(
                    .failure(ActionStoreError(.invalidAction, "action_name is required (a non-empty string)"))
                )
                continue
            }
            let row = rowCount
            parts.times.append(a.time)
            for f in FixedField.allCases {
                guard let v = a[f] else { continue }
                let slot = store(v.utf8)
                parts.fixed[f.rawValue].rows.append(UInt32(row))
                parts.fixed[f.rawValue].slots.append(slot)
            }
            objects.removeAll(keepingCapacity: true)
            for m in a.metadata {
                // Each distinct path is split into its object prefixes once per batch.
                let key = UTF8Key(s: m.path)
                let ids: (leaf: Int32, objects: [Int32])
                if let known = pathsOf[key] {
                    ids = known
                } else {
                    let bytes = Array(m.path.utf8)
                    var prefixes: [Int32] = []
                    for (i, b) in bytes.enumerated() where b == 0x2E { prefixes.append(pathId(Array(bytes[..<i]))) }
                    ids = (pathId(bytes), prefixes)
                    pathsOf[key] = ids
                }
                for prefix in ids.objects where objects.insert(prefix).inserted {
                    usePath.append(prefix)
                    useType.append(.object)
                }
                let id = ids.leaf
                usePath.append(id)
                useType.append(m.value.fieldType)
                let (slot, double) = ColumnChunk.slot(of: m.value) { store($0.utf8) }
                leafPath.append(id)
                leafKind.append(ColumnChunk.Kind(m.value))
                leafSlot.append(slot)
                leafIsDouble.append(double)
            }
            endRow()
            outcomes.append(.success(row))
        }
    }

    /// Gives `value` to every row without `field` (the collector's `request.ip_address`: Moesif
    /// "extract[s] the remote IP address" when none is set).
    mutating func fill(_ field: FixedField, with value: String) {
        let old = parts.fixed[field.rawValue]
        guard old.count < rowCount else { return }
        let slot = store(value.utf8)
        var col = ColumnChunk.Column(kind: .string)
        col.rows.reserveCapacity(rowCount)
        col.slots.reserveCapacity(rowCount)
        var i = 0
        for r in 0..<UInt32(rowCount) {
            col.rows.append(r)
            if i < old.count, old.rows[i] == r {
                col.slots.append(old.slots[i])
                i += 1
            } else {
                col.slots.append(slot)
            }
        }
        parts.fixed[field.rawValue] = col
    }

    /// XXH3-64 of each row's transaction_id (nil where it has none), for deduplication.
    func transactionIdHashes() -> [UInt64?] {
        var out = [UInt64?](repeating: nil, count: rowCount)
        for (r, h) in ColumnChunk.hashes(of: parts.fixed[FixedField.transactionId.rawValue], arena: parts.arena) {
            out[Int(r)] = h
        }
        return out
    }
}
