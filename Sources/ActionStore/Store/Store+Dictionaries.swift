/// App-wide id dictionaries in the store: looked up before the store lock, assigned under it,
/// journaled with the batch that assigned them, checkpointed by flushes.
extension IdDictionaries {
    /// For each `IdField`, the indexes into its fixed column (of `fixed` over `arena`) whose
    /// values have no code yet. One short critical section.
    /// - Complexity: O(values): one XXH3 and one probe sequence per id value.
    func misses(fixed: [ColumnChunk.Column], arena: [UInt8]) -> [[Int32]] {
        fields.withLock { dicts in
            arena.withUnsafeBytes { base in
                IdField.allCases.map { f in
                    var out: [Int32] = []
                    for (i, s) in fixed[f.fixed.rawValue].slots.enumerated() {
                        let v = UnsafeRawBufferPointer(
                            rebasing: base[Int(s >> 32)..<Int(s >> 32) + Int(s & 0xFFFF_FFFF)]
                        )
                        if dicts[f.rawValue].code(of: v, hash: IdDictionary.hash(v)) == nil { out.append(Int32(i)) }
                    }
                    return out
                }
            }
        }
    }

    /// Gives codes to the `misses` (from `misses(fixed:arena:)`) of rows `keep` holds, unless a
    /// concurrent batch gave them one meanwhile. Called under the store lock, so that codes are
    /// assigned in journal order.
    /// - Returns: the new codes as runs, and each field's count before (for `truncate`).
    func assign(
        _ misses: [[Int32]],
        fixed: [ColumnChunk.Column],
        arena: [UInt8],
        keep: RowBitmap
    ) -> (runs: [(IdField, IdDictionary.Run)], before: [Int]) {
        fields.withLock { dicts in
            let before = dicts.map(\.count)
            var runs: [(IdField, IdDictionary.Run)] = []
            arena.withUnsafeBytes { base in
                for f in IdField.allCases where !misses[f.rawValue].isEmpty {
                    let col = fixed[f.fixed.rawValue]
                    var run = IdDictionary.Run(first: UInt32(before[f.rawValue]))
                    for i in misses[f.rawValue] where keep[Int(col.rows[Int(i)])] {
                        let s = col.slots[Int(i)]
                        let v = UnsafeRawBufferPointer(
                            rebasing: base[Int(s >> 32)..<Int(s >> 32) + Int(s & 0xFFFF_FFFF)]
                        )
                        if dicts[f.rawValue].insert(v, hash: IdDictionary.hash(v)).inserted { run.append(v) }
                    }
                    if !run.isEmpty { runs.append((f, run)) }
                }
            }
            return (runs, before)
        }
    }

    /// Forgets the codes from `counts` on (a batch whose record was not enqueued).
    func truncate(to counts: [Int]) {
        fields.withLock { dicts in
            for f in IdField.allCases { dicts[f.rawValue].truncate(to: counts[f.rawValue]) }
        }
    }

    /// Replay: the runs a record carries (version 3), or, for an older record, a code for every
    /// id value it holds that has none (in row order, as a live commit would have given them).
    func replay(_ batch: ColumnBatch, what: @autoclosure () -> String) throws(ActionStoreError) {
        if !batch.ids.isEmpty {
            try fields.withLock { (dicts) throws(ActionStoreError) in
                for (f, run) in batch.ids { try dicts[f.rawValue].apply(run, what: what()) }
            }
            return
        }
        let c = batch.chunk
        let misses = misses(fixed: c.fixed, arena: c.arena)
        if misses.allSatisfy(\.isEmpty) { return }
        _ = assign(misses, fixed: c.fixed, arena: c.arena, keep: RowBitmap(count: c.rowCount, allSet: true))
    }

    /// The codes from `from` (per field) to the current counts, as runs.
    func runs(from: [Int]) -> (runs: [(IdField, IdDictionary.Run)], counts: [Int]) {
        fields.withLock { dicts in
            (
                IdField.allCases.compactMap { f in
                    let r = dicts[f.rawValue].run(from: from[f.rawValue])
                    return r.isEmpty ? nil : (f, r)
                },
                dicts.map(\.count)
            )
        }
    }
}

extension Store {
    /// The id dictionaries of `application`, made empty on first use.
    func idDictionaries(_ application: String) -> IdDictionaries {
        dictionaries.withLock { d in
            if let x = d[application] { return x }
            let x = IdDictionaries()
            d[application] = x
            return x
        }
    }

    /// The id dictionaries each application's checkpoint holds (before the journal replays).
    /// - Throws: `.corruption` naming the file when a checkpoint is damaged or shorter than the
    ///   manifest says.
    static func loadDictionaries(
        _ files: StoreFiles,
        manifest: Manifest
    ) throws(ActionStoreError) -> [String:
        IdDictionaries]
    {
        var out: [String: IdDictionaries] = [:]
        for (app, entry) in manifest.applications {
            guard let d = entry.dictionary else { continue }
            out[app] = IdDictionaries(
                try IdDictionaryFile.load(files.dictionary(application: app), length: d.bytes, counts: d.counts)
            )
        }
        return out
    }

    /// Appends to each application's checkpoint file the codes it gained since its last
    /// checkpoint, up to (at least) `counts`, and returns the edit's new checkpoints. Runs on the
    /// flush queue under the manifest lock, before the edit that moves the journal checkpoint.
    func checkpointDictionaries(
        _ manifest: Manifest
    ) throws(ActionStoreError) -> [String:
        Manifest.DictionaryCheckpoint]
    {
        let all = dictionaries.withLock { $0 }
        var out: [String: Manifest.DictionaryCheckpoint] = [:]
        for (app, dicts) in all {
            let previous = manifest.applications[app]?.dictionary
            let from = previous?.counts ?? [Int](repeating: 0, count: IdField.allCases.count)
            // Under the store lock: a commit assigns codes and, if its record cannot be enqueued,
            // takes them back inside one critical section there; none of those may reach a file.
            let (runs, counts) = state.withLock { _ in dicts.runs(from: from) }
            guard !runs.isEmpty else { continue }
            if previous == nil { try FileSystem.makeDirectoryDurably(files.dictionariesDirectory, io: options.fileIO) }
            let bytes = try IdDictionaryFile.append(
                runs,
                to: files.dictionary(application: app),
                at: previous?.bytes ?? 0,
                io: options.fileIO
            )
            out[app] = Manifest.DictionaryCheckpoint(bytes: bytes, counts: counts)
        }
        return out
    }
}

extension Store {
    /// The values of `field`'s dictionary of `application` in code order (for tests and dumps).
    func idValues(application: String, field: IdField) -> [String] {
        guard let d = dictionaries.withLock({ $0[application] }) else { return [] }
        return d.fields.withLock { dicts in
            (0..<dicts[field.rawValue].count).map { dicts[field.rawValue].string(UInt32($0)) }
        }
    }
}
