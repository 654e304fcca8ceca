import Dispatch
import Logging

/// An embedded store of user actions: the public face of the engine.
///
/// Write path: normalize (outside any lock) → under the store lock: admit against the
/// application's schema, enqueue one journal record (schema additions first, then the actions),
/// insert into the memtables → outside the lock: wait until the journal says the record is durable
/// → acknowledge. Enqueueing under the store lock keeps journal order equal to commit order, so a
/// schema addition is always journaled before an action that relies on it.
///
/// Read path: a snapshot (segment readers and memtable rows) taken under the lock, evaluated
/// outside it.
///
/// Threads: callers' threads (append, query); the journal thread (writes, fsyncs, releases
/// waiters); the flush queue (writes segments and the manifest). Locks: `state` (short, never
/// held across I/O except the journal's in-memory enqueue) and `manifestLock` (serializes
/// manifest replacements; held across segment and manifest writes, never by appenders).
public final class Store: Sendable {
    // Constant after init.
    public let directory: String
    /// The names of every file in `directory`.
    let files: StoreFiles
    public let options: StoreOptions
    let partitioning: Partitioning
    let journal: JournalWriter
    let lockFile: LockFile
    let normalizer: ActionNormalizer
    let flushQueue = DispatchQueue(label: "actionstore.flush")
    /// Runs merge jobs and retention, one at a time (see `Store+Compaction.swift`).
    let compactionQueue = DispatchQueue(label: "actionstore.compaction", qos: .utility)
    let compactionPolicy: CompactionPolicy
    /// `options.dedupeWindow` in microseconds; 0 when deduplication is off.
    let dedupeWindowMicros: Int64
    /// Serializes manifest replacements (`logAndApply` takes its `ManifestWriter`). Not `Locked(())`:
    /// a zero-sized value made Thread Sanitizer report a race whenever a flush overlapped a merge job.
    let manifestLock = Locked(ManifestWriter())
    /// Serializes `close()` calls (an Int, not `()`: see `Locked`).
    let closeLock = Locked(0)
    let logger = Logger(label: "actionstore.store")
    /// Confirmed transaction ids of recently probed segments (`Deduplication.swift`).
    let transactionIdPairs = TransactionIdPairsCache()
    /// Damaged journal records skipped by the replay of this open.
    let damagedSkipped: Int
    /// Each application's id dictionaries (`Store+Dictionaries.swift`). Its own lock: ingest
    /// takes it before the store lock; the store lock is taken first when both are held.
    let dictionaries: Locked<[String: IdDictionaries]>

    // Guarded by state.
    let state: Locked<State>

    struct MemKey: Hashable, Sendable {
        var application: String
        var partition: String
    }

    struct State: Sendable {
        var manifest: Manifest
        var schemas: [String: Schema] = [:]
        var memtables: [MemKey: Memtable] = [:]
        /// Memtables handed to a running flush: still visible to queries until their segments land.
        var flushing: [Memtable] = []
        /// Open segment readers by relative path; a file that failed to open maps to its error.
        var readers: [String: Result<SegmentReader, ActionStoreError>] = [:]
        var memtableBytes = 0
        /// The estimate of the memtables a running flush is writing (still in memory until it ends).
        var flushingBytes = 0
        var flushScheduled = false
        var closed = false
        var backgroundError: ActionStoreError?
        /// Transaction ids of the rows in memory, per application (`Deduplication.swift`).
        var dedupe: [String: ApplicationTransactionIds] = [:]
        var duplicates = 0
        /// Set when a compaction failed: compaction stops, writes go on (nothing acknowledged is
        /// at risk, only read efficiency). Cleared by nothing; `compact()` throws it.
        var compactionError: ActionStoreError?
        var compactionScheduled = false
        var compactions = 0
        var partitionsExpired = 0
        /// Users, companies and aliases per application (`Store+Profiles.swift`).
        var profiles: [String: ApplicationProfiles] = [:]
        /// Applications whose profiles or aliases changed since the last flush's journal roll.
        var profilesChanged = Set<String>()
    }

    // MARK: - Open and close

    /// Opens (creating if needed) the store in `directory`.
    ///
    /// Replays the journal from the manifest's checkpoint: a torn tail is cut and logged; damage
    /// before the tail fails the open (naming file and offset) unless
    /// `options.skipDamagedJournalRecords` is set.
    /// - Throws: `.locked` if another process has the store open (naming its pid); `.corruption`;
    ///   `.io`.
    public static func open(at directory: String, options: StoreOptions = .init()) throws -> Store {
        try Store(directory: directory, options: options)
    }

    private init(directory: String, options: StoreOptions) throws {
        self.directory = directory
        let files = StoreFiles(directory)
        self.files = files
        self.options = options
        try FileSystem.makeDirectory(directory)
        lockFile = try LockFile(directory: directory)
        var manifest = try Manifest.load(files) ?? Manifest()
        if manifest.version == 0 {
            manifest.partitioning = options.partitioning
        }
        partitioning = manifest.partitioning
        normalizer = ActionNormalizer(limits: options.limits)
        compactionPolicy = CompactionPolicy(options.compaction)
        let window = options.dedupeWindow.components
        dedupeWindowMicros = max(0, window.seconds * 1_000_000 + window.attoseconds / 1_000_000_000_000)
        let dedupeOn = dedupeWindowMicros > 0

        var st = State(manifest: manifest)
        for (app, entry) in manifest.applications { st.schemas[app] = Schema(manifest: entry) }
        Store.removeOrphans(files, manifest: manifest)

        // Replay the journal into the memtables.
        let journalDir = files.journalDirectory
        try FileSystem.makeDirectory(journalDir)
        let reader = JournalReader(directory: journalDir)
        let part = manifest.partitioning
        let start = JournalPosition(fileNumber: max(manifest.journalCheckpoint, 1), offset: 0)
        var dicts = try Store.loadDictionaries(files, manifest: manifest)
        st.profiles = try Store.loadProfiles(files, manifest: manifest)
        let replay = try Store.replay(
            reader,
            from: start,
            skipDamaged: options.skipDamagedJournalRecords,
            into: &st,
            dictionaries: &dicts,
            partitioning: part
        )
        dictionaries = Locked(dicts)
        if dedupeOn {
            // The ids of the replayed rows; those of segments are in the segments' filters. Each
            // application's table is sized once for all of them.
            var rows: [String: Int] = [:]
            for table in st.memtables.values { rows[table.application, default: 0] += table.rowCount }
            for (app, n) in rows { st.dedupe[app] = ApplicationTransactionIds(current: .init(capacity: n)) }
            for table in st.memtables.values {
                for chunk in table.chunks {
                    let ids = chunk.fixed[FixedField.transactionId.rawValue]
                    for (row, hash) in ColumnChunk.hashes(of: ids, arena: chunk.arena) {
                        st.dedupe[table.application, default: .init()].current.insert(hash, time: chunk.times[Int(row)])
                    }
                }
            }
        }
        damagedSkipped = replay.damagedSkipped
        for note in replay.notes { logger.warning("journal replay: \(note)") }

        var jc = JournalWriter.Configuration()
        jc.durability = options.durability
        jc.fileBytesMax = options.journalFileBytesMax
        journal = try JournalWriter(
            directory: journalDir,
            configuration: jc,
            recoveredEnd: replay.validEnd,
            io: options.fileIO
        )

        for rel in manifest.segmentPaths {
            st.readers[rel] = Result { () throws(ActionStoreError) in try Store.openSegment(files.path(rel)) }
        }
        state = Locked(st)
        if options.backgroundFlush { scheduleAgeCheck() }
        if options.compaction.background { scheduleCompaction(after: .seconds(1)) }
    }

    /// Flushes nothing by itself: the journal already holds every acknowledged action. Stops the
    /// background work, syncs and closes the journal, and releases the directory lock.
    /// Later calls do nothing; a call made while another is closing waits for it, so that the
    /// directory lock is released when any `close()` returns.
    public func close() throws {
        try closeLock.withLock { _ in
            let wasClosed = state.withLock { s in
                defer { s.closed = true }
                return s.closed
            }
            if wasClosed { return }
            flushQueue.sync {}
            compactionQueue.sync {}
            defer { lockFile.release() }
            try journal.close()
        }
    }

    deinit {
        try? journal.close()
    }

    // MARK: - Append

    /// Normalizes and stores the actions of one JSON document (an action object or an array of
    /// them), returning once the accepted ones are durable under the journal policy.
    ///
    /// Blocks the calling thread while the journal syncs: for tools and tests. Servers use the
    /// `async` variant.
    /// - Parameters:
    ///   - application: the application (Moesif's application id); each has its own schema.
    ///   - json: UTF-8 JSON bytes.
    ///   - receivedAt: the time given to actions without `request.time` (UTC microseconds).
    /// - Returns: an outcome per action.
    /// - Throws: `.invalidJSON` (naming the byte offset) when the document cannot be read;
    ///   `.io` or `.closed` when nothing could be made durable.
    public func append(
        application: String,
        json: UnsafeRawBufferPointer,
        receivedAt: Int64 = Timestamp.now()
    ) throws -> AppendResult {
        try waitForMemoryBudget()
        let (result, ticket) = try commit(application: application, batch: normalize(json, receivedAt))
        if let ticket { try journal.waitDurable(ticket) }
        return result
    }

    /// `append(application:json:receivedAt:)` for a byte array.
    public func append(
        application: String,
        json: [UInt8],
        receivedAt: Int64 = Timestamp.now()
    ) throws -> AppendResult {
        try json.withUnsafeBytes { try append(application: application, json: $0, receivedAt: receivedAt) }
    }

    /// The async append: suspends, without blocking a thread of the cooperative pool, until the
    /// accepted actions are durable.
    public func append(
        application: String,
        json: [UInt8],
        receivedAt: Int64 = Timestamp.now()
    ) async throws -> AppendResult {
        try await awaitMemoryBudget()
        let (result, ticket) = try json.withUnsafeBytes {
            try commit(application: application, batch: normalize($0, receivedAt))
        }
        if let ticket { try await journal.durable(ticket) }
        return result
    }

    /// Stores already-built actions (the typed API). Metadata paths must already be normalized
    /// (no dots inside a key); they are type-checked against the schema like JSON input.
    public func append(application: String, actions: [Action]) throws -> AppendResult {
        try waitForMemoryBudget()
        let (result, ticket) = try commit(application: application, batch: NormalizedBatch(actions: actions))
        if let ticket { try journal.waitDurable(ticket) }
        return result
    }

    /// `append(application:actions:)` for servers.
    public func append(application: String, actions: [Action]) async throws -> AppendResult {
        try await awaitMemoryBudget()
        let (result, ticket) = try commit(application: application, batch: NormalizedBatch(actions: actions))
        if let ticket { try await journal.durable(ticket) }
        return result
    }

    private func normalize(_ json: UnsafeRawBufferPointer, _ receivedAt: Int64) throws -> NormalizedBatch {
        var batch = NormalizedBatch()
        try normalizer.normalizeDocument(json.assumingMemoryBound(to: UInt8.self), receivedAt: receivedAt, into: &batch)
        return batch
    }

    /// Deduplicates, admits, journals and inserts under the store lock. Returns the journal
    /// ticket to wait on.
    ///
    /// Outside the lock: the batch's chunk is built, split by partition and encoded as the record
    /// (optimistically, for the common batch that loses no action and no field), and transaction
    /// ids are hashed. Under it: one set look-up per transaction id, the schema check of each
    /// (path, type) pair met for the first time in this batch (later rows with only known pairs
    /// cost an array read per path), the journal enqueue and the chunk append. The chunk is
    /// rebuilt under the lock only when an action or a field was dropped, and the record
    /// re-encoded only then or when the batch added to the schema.
    func commit(application: String, batch: NormalizedBatch) throws -> (AppendResult, JournalWriter.Ticket?) {
        guard !application.isEmpty else {
            throw ActionStoreError(.invalidAction, "the application id is empty")
        }
        let dedupeOn = dedupeWindowMicros > 0
        let idHashes = dedupeOn ? batch.transactionIdHashes() : []
        // Ids already in segments, looked for before the store lock.
        var dedupeRange: ClosedRange<Int64>?
        if dedupeOn {
            for (row, h) in idHashes.enumerated() where h != nil {
                let t = batch.parts.times[row]
                dedupeRange = dedupeRange.map { min($0.lowerBound, t)...max($0.upperBound, t) } ?? t...t
            }
        }
        let w = dedupeWindowMicros
        let dedupeSnapshot = dedupeRange.map { r in
            state.withLock {
                Store.dedupeSegments($0, application: application, range: (r.lowerBound &- w)...(r.upperBound &+ w))
            }
        }
        var inSegments = dedupeSnapshot.flatMap {
            duplicatesInSegments($0, hashes: idHashes, times: batch.parts.times)
        }
        let dicts = idDictionaries(application)
        let misses = dicts.misses(fixed: batch.parts.fixed, arena: batch.parts.arena)
        let anyMiss = misses.contains { !$0.isEmpty }
        // Actions that carry both ids identify their visitor (checked against `keep` under the lock).
        let aliasRows =
            batch.parts.fixed[FixedField.anonymousId.rawValue].count > 0
            ? Store.aliasRows(fixed: batch.parts.fixed, arena: batch.parts.arena) : []
        let optimistic = batch.rowCount == 0 ? nil : batch.chunk()
        // Room for the id runs the lock may add (at most every miss), so they append in place.
        let idRoom = misses.reduce(16) { total, m in total + m.count * 40 }
        // A var, moved into the record under the lock (a second reference would copy it there).
        var optimisticPayload = optimistic.map {
            ColumnBatchCodec.encode(
                ColumnBatch(application: application, schemaDelta: .init(), chunk: $0),
                extraCapacity: anyMiss ? idRoom : 0
            )
        }
        let optimisticParts = optimistic?.partitioned(by: partitioning)
        let now = DispatchTime.now().uptimeNanoseconds
        var shouldFlush = false
        let out: (AppendResult, JournalWriter.Ticket?) = try state.withLock { s in
            // A failed flush: nothing more can be made durable until the store is reopened. (A
            // failed journal write or sync is sticky in the journal: its enqueue throws it below.)
            if let e = s.backgroundError {
                throw ActionStoreError(.closed, "writes are stopped after a background failure: \(e.message)")
            }
            if s.closed { throw ActionStoreError(.closed, "the store at \(directory) is closed") }
            var schema = s.schemas[application] ?? Schema()
            var delta = SchemaDelta()
            var outcomes: [ActionOutcome] = []
            outcomes.reserveCapacity(batch.outcomes.count)
            // Path id → the type the schema has for it, once a row proved it (0: not yet).
            var known = [UInt8](repeating: 0, count: batch.paths.count)
            var keep = RowBitmap(count: batch.rowCount, allSet: true)
            var dropping: [Int: [Int32]] = [:]
            var exact = true
            var accepted = 0
            // Segments installed since the look-up (a flush or a merge landed): look in them too.
            if let snap = dedupeSnapshot, let r = dedupeRange, s.manifest.version != snap.version {
                let seen = Set(snap.segments.map(\.path))
                var fresh = Store.dedupeSegments(
                    s,
                    application: application,
                    range: (r.lowerBound &- w)...(r.upperBound &+ w)
                )
                fresh.segments.removeAll { seen.contains($0.path) }
                if let more = duplicatesInSegments(
                    fresh,
                    hashes: idHashes,
                    times: batch.parts.times,
                    except: inSegments
                ) {
                    if inSegments == nil { inSegments = more } else { inSegments!.formUnion(more) }
                }
            }
            // Moved out of the dictionary while in use, so inserting never copies it.
            var ids = dedupeOn ? (s.dedupe.removeValue(forKey: application) ?? .init()) : .init()
            var idsInserted: [(hash: UInt64, time: Int64)] = []
            defer { if dedupeOn { s.dedupe[application] = ids } }
            for (i, o) in batch.outcomes.enumerated() {
                let row: Int
                switch o {
                case .failure(let e):
                    outcomes.append(.rejected(e))
                    continue
                case .success(let r): row = r
                }
                var remembered = false
                if dedupeOn, let h = idHashes[row] {
                    let t = batch.parts.times[row]
                    if inSegments?[row] ?? false || !ids.insert(h, time: t, unlessWithin: w) {
                        outcomes.append(.duplicate)
                        keep[row] = false
                        exact = false
                        s.duplicates += 1
                        continue
                    }
                    idsInserted.append((h, t))
                    remembered = true
                }
                let uses = Int(batch.useStart[row])..<Int(batch.useStart[row + 1])
                if uses.allSatisfy({ known[Int(batch.usePath[$0])] == batch.useType[$0].rawValue }) {
                    outcomes.append(.accepted(droppedFields: []))
                    accepted += 1
                    continue
                }
                var n = NormalizedAction(action: Action(time: 0, actionName: ""), pathUses: batch.pathUses(row))
                switch schema.admit(
                    &n,
                    application: application,
                    index: i,
                    policy: options.schemaConflictPolicy,
                    pathsMax: options.limits.pathsPerApplicationMax,
                    delta: &delta
                ) {
                case .success(let dropped):
                    if dropped.isEmpty {
                        for u in uses { known[Int(batch.usePath[u])] = batch.useType[u].rawValue }
                    } else {
                        exact = false
                        dropping[row] = dropped.compactMap { batch.id(of: String($0.dropFirst("metadata.".count))) }
                    }
                    outcomes.append(.accepted(droppedFields: dropped))
                    accepted += 1
                case .failure(let e):
                    exact = false
                    keep[row] = false
                    outcomes.append(.rejected(e))
                    if remembered, let last = idsInserted.popLast() { ids.current.remove(last.hash, time: last.time) }
                }
            }
            guard accepted > 0 else { return (AppendResult(outcomes: outcomes), nil) }
            let assigned =
                anyMiss
                ? dicts.assign(misses, fixed: batch.parts.fixed, arena: batch.parts.arena, keep: keep)
                : (runs: [], before: [])
            var payload: [UInt8]
            let parts: [(partition: String, chunk: ColumnChunk)]
            if exact, let optimistic, optimisticPayload != nil, let optimisticParts {
                payload =
                    delta.isEmpty
                    ? optimisticPayload.take()!
                    : ColumnBatchCodec.encode(
                        ColumnBatch(application: application, schemaDelta: delta, chunk: optimistic)
                    )
                parts = optimisticParts
            } else {
                // Admitted rows give every path one kind, so the chunk builds.
                let chunk =
                    batch.chunk(keeping: keep, dropping: dropping)
                    ?? ColumnChunk.of(
                        zip(batch.outcomes, outcomes).compactMap { o, outcome in
                            guard case .accepted = outcome, case .success(let r) = o else { return nil }
                            return batch.normalizedAction(r).action
                        }
                    )
                payload = ColumnBatchCodec.encode(
                    ColumnBatch(application: application, schemaDelta: delta, chunk: chunk)
                )
                parts = chunk.partitioned(by: partitioning)
            }
            ColumnBatchCodec.addIds(&payload, assigned.runs)
            let ticket: JournalWriter.Ticket
            do { ticket = try journal.enqueue(payload, type: .batch) } catch {
                for (h, t) in idsInserted { ids.current.remove(h, time: t) }
                if !assigned.runs.isEmpty { dicts.truncate(to: assigned.before) }
                if let f = journal.failure {
                    throw ActionStoreError(.closed, "writes are stopped after a background failure: \(f.message)")
                }
                throw error
            }
            s.schemas[application] = schema
            if !aliasRows.isEmpty {
                var p = s.profiles.removeValue(forKey: application) ?? ApplicationProfiles()
                for (row, anon, user) in aliasRows where keep[row] { p.alias(anon, to: user) }
                s.profiles[application] = p
                s.profilesChanged.insert(application)
            }
            let full = s.insert(parts, application: application, now: now, rowsMax: options.memtableRowsMax)
            if full { shouldFlush = true }
            if s.memtableBytes >= options.memtableBytesMax { shouldFlush = true }
            if shouldFlush {
                if s.flushScheduled || !options.backgroundFlush { shouldFlush = false } else { s.flushScheduled = true }
            }
            return (AppendResult(outcomes: outcomes), ticket)
        }
        if shouldFlush { flushQueue.async { self.backgroundFlush() } }
        return out
    }

    // MARK: - Schema and stats

    /// The schema of an application, if it has stored anything.
    public func schema(application: String) -> Schema? {
        state.withLock { $0.schemas[application] }
    }

    /// The applications that have stored actions.
    public var applications: [String] {
        state.withLock { Array($0.schemas.keys).sorted() }
    }

    /// What the store holds, per application and partition.
    public func stats() -> StoreStats {
        let (manifest, mem, error, st) = state.withLock { s in
            (
                s.manifest, s.memtables.values.map { ($0.application, $0.partition, $0.rowCount) }, s.backgroundError,
                (
                    compactionError: s.compactionError, compactions: s.compactions,
                    partitionsExpired: s.partitionsExpired, duplicates: s.duplicates,
                    dedupeIds: s.dedupe.values.reduce(0) { $0 + $1.count },
                    profiles: s.profiles.values.reduce(into: [0, 0, 0, 0]) { t, p in
                        t[0] += p.users.count
                        t[1] += p.companies.count
                        t[2] += p.aliases.count
                        t[3] += p.aliasConflicts
                    }
                )
            )
        }
        var parts: [String: StoreStats.Partition] = [:]
        for (app, entry) in manifest.applications {
            for (p, segs) in entry.partitions where !segs.isEmpty {
                parts[app + "\u{0}" + p] = StoreStats.Partition(
                    application: app,
                    partition: p,
                    segments: segs.count,
                    segmentRows: segs.reduce(0) { $0 + $1.rows },
                    segmentBytes: segs.reduce(0) { $0 + $1.bytes },
                    memtableRows: 0,
                    compactionBacklog: compactionPolicy.backlog(segs).segments
                )
            }
        }
        for (app, p, rows) in mem {
            parts[
                app + "\u{0}" + p,
                default: StoreStats.Partition(
                    application: app,
                    partition: p,
                    segments: 0,
                    segmentRows: 0,
                    segmentBytes: 0,
                    memtableRows: 0
                )
            ].memtableRows += rows
        }
        let journalDir = files.journalDirectory
        let journalFiles = (try? StoreFiles.journalNumbers(in: journalDir)) ?? []
        var stats = StoreStats(
            partitions: parts.values.sorted { ($0.application, $0.partition) < ($1.application, $1.partition) },
            applications: applications,
            journalFiles: journalFiles.count,
            journalBytes: journalFiles.reduce(0) { $0 + FileSystem.fileSize(StoreFiles.journalFile(journalDir, $1)) },
            journal: journal.stats,
            damagedJournalRecordsSkipped: damagedSkipped,
            backgroundError: (error ?? journal.failure)?.description
        )
        stats.compactionError = st.compactionError?.description
        stats.compactions = st.compactions
        stats.partitionsExpired = st.partitionsExpired
        stats.duplicates = st.duplicates
        stats.dedupeIds = st.dedupeIds
        (stats.users, stats.companies, stats.aliases, stats.aliasConflicts) = (
            st.profiles[0], st.profiles[1], st.profiles[2], st.profiles[3]
        )
        for (app, d) in dictionaries.withLock({ $0 }) {
            let counts = d.counts
            stats.idCodes[app] = Dictionary(
                uniqueKeysWithValues: IdField.allCases.map { ($0.fixed.name, counts[$0.rawValue]) }
            )
        }
        return stats
    }

    // MARK: - Files

    static func openSegment(_ path: String) throws(ActionStoreError) -> SegmentReader {
        do { return try SegmentReader(path: path) } catch let e as ActionStoreError { throw e } catch {
            throw ActionStoreError(.io, "cannot open segment \(path): \(error)")
        }
    }

    /// Deletes segment files the manifest does not name (left by a crash between writing a
    /// segment and installing the manifest) and temporary files.
    static func removeOrphans(_ files: StoreFiles, manifest: Manifest) {
        let live = manifest.segmentPaths
        for rel in files.filesUnderApps() where !live.contains(rel) { FileSystem.remove(files.path(rel)) }
        FileSystem.remove(StoreFiles.temporary(for: files.manifest))
        // Profile checkpoints the manifest no longer names (a flush that crashed before or after
        // its manifest landed).
        for name in FileSystem.listDirectory(files.profilesDirectory) {
            let rel = StoreFiles.profilesFolder + "/" + name
            if case .profiles(let app, let n)? = StoreFiles.parse(rel),
                manifest.applications[app]?.profilesCheckpoint == n
            {
                continue
            }
            FileSystem.remove(files.path(rel))
        }
    }
}
