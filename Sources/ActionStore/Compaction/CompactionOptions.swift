/// Settings of compaction (merging the small segments of a partition). Each field states its default.
public struct CompactionOptions: Sendable, Hashable {
    /// Run compaction on a background queue started by `Store.open`: after each flush and every
    /// `interval`. Default true; when false only `Store.compact()` compacts.
    public var background = true
    /// How often the background compaction looks for work (and applies retention). Default 30 s.
    public var interval: Duration = .seconds(30)
    /// Largest output segment, in rows. A merge job's inputs fit together under this, so it also
    /// bounds the rows decoded in memory at once. Default 1,000,000 (the flush threshold).
    public var segmentRowsTarget = 1_000_000
    /// Largest output segment, in bytes (estimated from the inputs' sizes). Default 256 MiB.
    public var segmentBytesTarget: Int64 = 256 << 20
    /// A partition with more segments than this is merged even when they are not small (as long as
    /// two of them fit together under the targets). Default 8.
    public var segmentsPerPartitionMax = 8
    /// Limit the bytes compaction reads plus writes per second; nil for no limit. Default nil.
    public var bytesPerSecondMax: Int? = nil

    public init() {}
}

/// What a `Store.compact()` did.
public struct CompactionReport: Sendable, Hashable {
    /// Merge jobs run (each writes one segment).
    public var jobs = 0
    public var segmentsIn = 0
    public var segmentsOut = 0
    public var rows = 0
    public var bytesRead: Int64 = 0
    public var bytesWritten: Int64 = 0
    /// Partitions dropped by retention.
    public var partitionsExpired = 0
    public var segmentsExpired = 0
    public var seconds = 0.0
}

/// Progress of a running `Store.compact(progress:)`, reported after each job.
public struct CompactionProgress: Sendable, Hashable {
    /// Segments eligible for merging when the run started, and how many have been merged since.
    public var segmentsTotal: Int
    public var segmentsDone: Int
    /// Bytes of the segments eligible when the run started, and bytes read since.
    public var bytesTotal: Int64
    public var bytesDone: Int64
    /// The partition being merged: `application/partition`.
    public var current: String
}
