/// Settings of a `Store`. Each field states its default.
public struct StoreOptions: Sendable {
    /// When an append returns. Default `.fsyncEachBatch`: after the batch is on disk.
    public var durability: JournalWriter.DurabilityPolicy = .fsyncEachBatch
    /// Time partitioning of a new store. Default `.day`. An existing store keeps the one it was
    /// created with (the manifest records it).
    public var partitioning: Partitioning = .day
    /// Normalization limits (action size, depth, key length, paths per application).
    public var limits = NormalizeLimits()
    /// What to do with an action that breaks its schema. Default `.reject`.
    public var schemaConflictPolicy: SchemaConflictPolicy = .reject
    /// Flush the memtables when one holds this many rows. Default 1,000,000.
    public var memtableRowsMax = 1_000_000
    /// Flush when the memtables together hold about this many bytes. Default 256 MiB. Appends wait
    /// (back-pressure) while the memtables, those being flushed included, hold more than twice this,
    /// so memory stays bounded when ingest outruns the flush.
    public var memtableBytesMax = 256 << 20
    /// Flush when the oldest row in memory is this old. Default 5 minutes.
    public var memtableAgeMax: Duration = .seconds(300)
    /// Roll journal files at this size. Default 64 MiB.
    public var journalFileBytesMax = 64 << 20
    /// On open, skip damaged journal records (reporting their count) instead of failing. Default false.
    public var skipDamagedJournalRecords = false
    /// Run flushes on a background queue when a threshold is reached. Default true; when false
    /// only `flush()` writes segments.
    public var backgroundFlush = true
    /// Segment writer settings.
    public var segment = SegmentOptions()
    /// Compaction: background merging of small segments, output sizes, I/O rate.
    public var compaction = CompactionOptions()
    /// The maximum age of each application's actions: partitions that ended more than this
    /// before now (wall clock) are dropped by the compaction queue. Applications not listed use
    /// `retentionDefault`. Default: none listed.
    public var retention: [String: Duration] = [:]
    /// The maximum age of applications not in `retention`; nil keeps them forever. Default nil.
    public var retentionDefault: Duration? = nil
    /// Deduplicate by transaction_id: an action is acknowledged as `.duplicate` and not stored
    /// when its application already holds the same transaction_id at an action time within this
    /// window of its own, however old the data (a re-import, an SDK retry with a later receive
    /// time). `.zero` turns deduplication off. Default 24 hours.
    public var dedupeWindow: Duration = .seconds(86_400)
    /// How long an append waits for a flush to free memory when the memtables hold more than
    /// twice `memtableBytesMax`; past it the append fails with `.busy` and stores nothing.
    /// Default 60 s.
    public var memoryWaitMax: Duration = .seconds(60)
    /// The system calls every store write goes through (journal, segments, manifest). Tests
    /// substitute a fault-injecting layer; everything else keeps the default, the real calls.
    package var fileIO: FileIO = .posix

    public init() {}
}

/// What happened to one action of an append.
public enum ActionOutcome: Sendable, Hashable {
    /// Stored; `droppedFields` lists fields removed under `.dropConflictingFields`.
    case accepted(droppedFields: [String])
    /// Already stored (same transaction_id within the dedupe window): acknowledged, not stored again.
    case duplicate
    /// Not stored, and why.
    case rejected(ActionStoreError)
}

/// The outcome of an append: one entry per action, in order, and counts.
public struct AppendResult: Sendable, Hashable {
    public var outcomes: [ActionOutcome]
    public var accepted: Int { outcomes.count { if case .accepted = $0 { true } else { false } } }
    public var rejected: Int { outcomes.count { if case .rejected = $0 { true } else { false } } }
    public var duplicates: Int { outcomes.count { $0 == .duplicate } }
}

/// A summary of what a store holds.
public struct StoreStats: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var application: String
        public var partition: String
        public var segments: Int
        public var segmentRows: Int
        public var segmentBytes: Int64
        public var memtableRows: Int
        /// Segments eligible for merging (compaction backlog).
        public var compactionBacklog = 0
    }
    public var partitions: [Partition]
    public var applications: [String]
    public var journalFiles: Int
    public var journalBytes: Int64
    public var journal: JournalWriter.Stats
    /// Records skipped as damaged during the last open's replay.
    public var damagedJournalRecordsSkipped: Int
    /// The sticky background error, if a flush or the journal failed.
    public var backgroundError: String?
    /// The sticky compaction error: compaction stopped (writes continue), see `Store.compact()`.
    public var compactionError: String? = nil
    /// Merge jobs and retention drops run since open.
    public var compactions = 0
    public var partitionsExpired = 0
    /// Actions acknowledged as duplicates since open.
    public var duplicates = 0
    /// Transaction ids of rows in memory, held for deduplication (all applications; those of
    /// segments are in the segments' filters).
    public var dedupeIds = 0
    /// User and company profiles, aliased anonymous visitors, and later aliases of an already
    /// aliased visitor (counted and ignored: the first alias wins), over all applications.
    public var users = 0
    public var companies = 0
    public var aliases = 0
    public var aliasConflicts = 0
    /// App-wide id codes per application and id field name (`user_id`: 1234, …).
    public var idCodes: [String: [String: Int]] = [:]
    public var rows: Int { partitions.reduce(0) { $0 + $1.segmentRows + $1.memtableRows } }
    public var segments: Int { partitions.reduce(0) { $0 + $1.segments } }
    public var segmentBytes: Int64 { partitions.reduce(0) { $0 + $1.segmentBytes } }
    public var compactionBacklog: Int { partitions.reduce(0) { $0 + $1.compactionBacklog } }
}
