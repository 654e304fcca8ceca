import Dispatch

extension Store {
    /// Writes every memtable to segment files, installs them in the manifest, and checkpoints the
    /// journal. Returns once done; a no-op when nothing is in memory.
    /// - Throws: the error that stopped the flush (also kept as the sticky background error).
    public func flush() throws {
        try flushQueue.sync { try flushNow() }
    }

    func backgroundFlush() {
        state.withLock { $0.flushScheduled = false }
        do { try flushNow() } catch {
            logger.error("background flush failed: \(error)")
        }
    }

    /// Runs on the flush queue. Steps, each crash-safe:
    /// 1. under the lock: roll the journal to a new file N and move the memtables aside (they stay
    ///    visible to queries);
    /// 2. write and fsync one segment per (application, partition);
    /// 3. replace the manifest (segments added, checkpoint N): from here the journal files below N
    ///    are redundant;
    /// 4. drop the flushed memtables, open the new segments, delete journal files below N.
    /// A crash before 3 leaves orphan segment files that the next open deletes; the journal still
    /// holds every action. A crash after 3 replays from N only.
    func flushNow() throws {
        try manifestLock.withLock { writer in
            let taken:
                (
                    tables: [Memtable], checkpoint: UInt64, firstSegment: UInt64,
                    profiles: [String: ApplicationProfiles], profilesChanged: Set<String>
                )? = try state.withLock { s in
                    if let e = s.backgroundError { throw e }
                    guard !s.memtables.isEmpty || !s.profilesChanged.isEmpty, !s.closed else { return nil }
                    let n = try journal.rollFile()
                    // The profiles as of the roll: exactly the records before file n (they are
                    // journaled under this lock), so replay from n applies exactly the rest.
                    let profiles = s.profiles
                    let changed = s.profilesChanged
                    s.profilesChanged = []
                    let tables = s.memtables.values.sorted {
                        ($0.application, $0.partition) < ($1.application, $1.partition)
                    }
                    s.flushing = tables
                    s.memtables = [:]
                    for app in s.dedupe.keys {
                        let n = s.dedupe[app]!.current.count
                        s.dedupe[app]!.flushing = s.dedupe[app]!.current
                        s.dedupe[app]!.current = .init(capacity: n)
                    }
                    s.flushingBytes = s.memtableBytes
                    s.memtableBytes = 0
                    let first = s.manifest.nextSegmentNumber
                    s.manifest.nextSegmentNumber += UInt64(tables.count)
                    return (tables, n, first, profiles, changed)
                }
            guard let taken else { return }
            do {
                var edit = ManifestEdit(journalCheckpoint: taken.checkpoint)
                for (i, table) in taken.tables.enumerated() {
                    let file = StoreFiles.segmentFileName(taken.firstSegment + UInt64(i))
                    let dir = files.partitionDirectory(application: table.application, partition: table.partition)
                    try FileSystem.makeDirectoryDurably(dir, io: options.fileIO)
                    edit.added.append(
                        .init(
                            application: table.application,
                            partition: table.partition,
                            entry: try writeSegment(table.sortedChunk(), directory: dir, file: file)
                        )
                    )
                }
                // Every schema, as it is now: it covers every flushed row. The same for the id
                // dictionaries: every code a record below the checkpoint assigned.
                edit.schemas = state.withLock { $0.schemas }
                let before = state.withLock { $0.manifest }
                edit.dictionaries = try checkpointDictionaries(before)
                edit.profiles = try checkpointProfiles(
                    taken.profiles,
                    changed: taken.profilesChanged,
                    checkpoint: taken.checkpoint
                )
                let readers = edit.addedPaths.map { rel in
                    (rel, Result { () throws(ActionStoreError) in try Store.openSegment(files.path(rel)) })
                }
                try logAndApply(edit, &writer) { s in
                    for (rel, r) in readers { s.readers[rel] = r }
                    s.flushing = []
                    s.flushingBytes = 0
                    // The segments hold those ids now (and their filters).
                    for app in s.dedupe.keys { s.dedupe[app]!.flushing = .init() }
                }
                try journal.deleteFiles(before: taken.checkpoint)
                for (app, _) in edit.profiles {
                    if let old = before.applications[app]?.profilesCheckpoint {
                        FileSystem.remove(files.profiles(application: app, checkpoint: old))
                    }
                }
                requestCompaction()
            } catch {
                let e =
                    (error as? ActionStoreError)
                    ?? ActionStoreError(.io, "flush failed: \(error)")
                // The memtables stay in `flushing` (queries still see them; the journal holds them).
                state.withLock { s in
                    if s.backgroundError == nil { s.backgroundError = e }
                    s.profilesChanged.formUnion(taken.profilesChanged)
                }
                throw e
            }
        }
    }

    /// Writes the rows of `chunk` as the segment `directory/file`, durably (fsynced, renamed into
    /// place, directory fsynced) through the store's file layer, and returns its manifest entry.
    /// Used by flushes and by compaction.
    func writeSegment(_ chunk: ColumnChunk, directory dir: String, file: String) throws -> Manifest.SegmentEntry {
        var segOptions = options.segment
        segOptions.sync = true
        let info = try SegmentWriter.write(chunk: chunk, to: dir + "/" + file, options: segOptions, io: options.fileIO)
        return Manifest.SegmentEntry(
            file: file,
            rows: info.rows,
            bytes: Int64(info.bytes),
            minTime: info.minTime,
            maxTime: info.maxTime
        )
    }

    /// Checks once a second whether the oldest row in memory has passed `memtableAgeMax`.
    func scheduleAgeCheck() {
        flushQueue.asyncAfter(deadline: .now() + .seconds(1)) { [weak self] in
            guard let self else { return }
            let (due, closed) = self.state.withLock { s -> (Bool, Bool) in
                let now = DispatchTime.now().uptimeNanoseconds
                let age = self.options.memtableAgeMax
                let ageNanos =
                    UInt64(age.components.seconds) * 1_000_000_000 + UInt64(age.components.attoseconds / 1_000_000_000)
                let oldest = s.memtables.values.map(\.firstRowAt).min()
                return (oldest.map { now &- $0 >= ageNanos } ?? false, s.closed)
            }
            if closed { return }
            if due { try? self.flushNow() }
            self.scheduleAgeCheck()
        }
    }
}
