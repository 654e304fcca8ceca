import Dispatch
import Logging

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Compaction and retention.
///
/// One serial queue (`compactionQueue`) runs everything here, so merge jobs and retention never
/// overlap each other; `Store.compact()` runs on the same queue. A cycle first drops expired
/// partitions, then runs merge jobs (`CompactionPolicy`) until no partition has one.
///
/// A merge job, each step crash-safe:
/// 1. take the input readers under `state` (briefly); decode their rows and k-way merge them by
///    time — no lock held, so appends, flushes and queries go on;
/// 2. write the output segment under a new file number (SegmentWriter fsyncs it and its
///    directory). A crash here leaves an orphan the next open deletes;
/// 3. under `manifestLock` (serializing with flushes), build the next manifest from the current
///    one (inputs out, output in), save it atomically, then swap it in under `state` together
///    with the readers. Queries take their snapshot under `state`, so each sees either all the
///    inputs or the output, never both or neither;
/// 4. unlink the inputs. A snapshot taken before the swap keeps reading them: segments are
///    memory-mapped, and on POSIX an unlinked file stays readable through an existing mapping
///    until it is unmapped (when the last `SegmentReader` goes). A crash before the unlink leaves
///    the inputs as orphans the next open deletes.
///
/// A failure is kept in `compactionError` (sticky, reported by `stats()` and thrown by
/// `compact()`), logged, and stops compaction. It does not stop writes: unlike a failed flush it
/// puts nothing acknowledged at risk; the store just keeps more segments.
extension Store {
    /// Runs compaction to completion in the calling thread (waiting for a background cycle in
    /// progress): retention, then merge jobs until no partition is eligible.
    /// - Parameter progress: called after each merge job.
    /// - Returns: what was done.
    /// - Throws: `.closed`; the sticky compaction error; the error that stopped this run.
    @discardableResult
    public func compact(progress: ((CompactionProgress) -> Void)? = nil) throws -> CompactionReport {
        try compactionQueue.sync { try compactNow(progress: progress) }
    }

    /// Test hook: one background-style cycle now, errors recorded as the background would.
    func _testingCompactNow() {
        compactionQueue.sync { backgroundCompaction() }
    }

    /// Asks the compaction queue for a cycle soon (after a flush); at most one is pending.
    func requestCompaction() {
        guard options.compaction.background else { return }
        let run = state.withLock { s in
            defer { s.compactionScheduled = true }
            return !s.compactionScheduled && !s.closed && s.compactionError == nil
        }
        if run {
            compactionQueue.async { [weak self] in
                guard let self else { return }
                self.state.withLock { $0.compactionScheduled = false }
                self.backgroundCompaction()
            }
        }
    }

    /// Runs a cycle every `options.compaction.interval` until the store closes.
    func scheduleCompaction(after delay: Duration) {
        let (s, atto) = delay.components
        let nanos = Int(s) * 1_000_000_000 + Int(atto / 1_000_000_000)
        compactionQueue.asyncAfter(deadline: .now() + .nanoseconds(nanos)) { [weak self] in
            guard let self else { return }
            if self.state.withLock({ $0.closed }) { return }
            self.backgroundCompaction()
            self.scheduleCompaction(after: self.options.compaction.interval)
        }
    }

    func backgroundCompaction() {
        let skip = state.withLock { $0.closed || $0.compactionError != nil }
        if skip { return }
        _ = try? compactNow(progress: nil)
    }

    /// Runs on the compaction queue.
    func compactNow(progress: ((CompactionProgress) -> Void)?) throws -> CompactionReport {
        let start = ContinuousClock.now
        var report = CompactionReport()
        try state.withLock { s in
            if let e = s.compactionError {
                throw ActionStoreError(e.code, "compaction is stopped after a failure: \(e.message)")
            }
            if s.closed { throw ActionStoreError(.closed, "the store at \(directory) is closed") }
        }
        do {
            try applyRetention(&report)
            var limiter = IORateLimiter(bytesPerSecond: options.compaction.bytesPerSecondMax)
            let manifest = state.withLock { $0.manifest }
            var segmentsTotal = 0
            var bytesTotal: Int64 = 0
            for entry in manifest.applications.values {
                for segs in entry.partitions.values {
                    let b = compactionPolicy.backlog(segs)
                    segmentsTotal += b.segments
                    bytesTotal += b.bytes
                }
            }
            // Bounded by the work present at the start: each job removes at least one segment, so
            // this many jobs clear the starting backlog. Segments flushed meanwhile wait for the
            // next cycle, so `compact()` ends even while ingest keeps flushing.
            var jobsLeft = max(1, segmentsTotal)
            while jobsLeft > 0, let job = nextCompactionJob() {
                jobsLeft -= 1
                try runMergeJob(job, &report, &limiter)
                progress?(
                    CompactionProgress(
                        segmentsTotal: max(segmentsTotal, report.segmentsIn),
                        segmentsDone: report.segmentsIn,
                        bytesTotal: max(bytesTotal, report.bytesRead),
                        bytesDone: report.bytesRead,
                        current: job.application + "/" + job.partition
                    )
                )
            }
        } catch is CompactionCancelled {
            // The store is closing: stop quietly; whatever was swapped in is complete.
        } catch {
            let e = (error as? ActionStoreError) ?? ActionStoreError(.io, "compaction failed: \(error)")
            state.withLock { s in
                if s.compactionError == nil { s.compactionError = e }
            }
            logger.error("compaction failed (compaction stopped, writes continue): \(e)")
            throw e
        }
        report.seconds = Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
        return report
    }

    struct CompactionJob {
        var application: String
        var partition: String
        var inputs: [Manifest.SegmentEntry]
    }

    private struct CompactionCancelled: Error {}

    private func nextCompactionJob() -> CompactionJob? {
        state.withLock { s in
            guard !s.closed else { return nil }
            for (app, entry) in s.manifest.applications.sorted(by: { $0.key < $1.key }) {
                for (partition, segs) in entry.partitions.sorted(by: { $0.key < $1.key }) {
                    if let inputs = compactionPolicy.nextJob(segs) {
                        return CompactionJob(application: app, partition: partition, inputs: inputs)
                    }
                }
            }
            return nil
        }
    }

    private func checkOpen() throws {
        if state.withLock({ $0.closed }) { throw CompactionCancelled() }
    }

    private func runMergeJob(
        _ job: CompactionJob,
        _ report: inout CompactionReport,
        _ limiter: inout IORateLimiter
    ) throws {
        let app = job.application
        let partition = job.partition
        let rels = job.inputs.map {
            StoreFiles.segmentRelative(application: app, partition: partition, file: $0.file)
        }
        let readers: [SegmentReader] = try state.withLock { s in
            try rels.map { rel in
                switch s.readers[rel] {
                case .success(let r): return r
                case .failure(let e): throw e
                case nil: throw ActionStoreError(.notFound, "compaction input \(rel) is not open")
                }
            }
        }
        // 1. Decode and merge, no lock held.
        // Column-wise: each input becomes a chunk (no Action per row), the chunks are joined in
        // file order and put in time order by a stable permutation, so ties keep file then row
        // order (what a k-way merge of the time-sorted inputs gives).
        var merged = ColumnChunk()
        for r in readers {
            try checkOpen()
            let chunk = try r.chunk()
            if !merged.append(contentsOf: chunk) {
                throw ActionStoreError(
                    .corruption,
                    "\(r.path): a metadata path has another type than in the other inputs"
                )
            }
            limiter.consume(Int64(r.fileBytes))
        }
        let rowsIn = merged.rowCount
        let rowsNamed = job.inputs.reduce(0) { $0 + $1.rows }
        guard rowsIn == rowsNamed else {
            throw ActionStoreError(
                .corruption,
                "compaction inputs \(rels.joined(separator: ", ")) hold \(rowsIn) rows; the manifest says \(rowsNamed)"
            )
        }
        merged = merged.sortedByTime()

        // 2. Write the output under a fresh number.
        try checkOpen()
        let number = state.withLock { s in
            defer { s.manifest.nextSegmentNumber += 1 }
            return s.manifest.nextSegmentNumber
        }
        let file = StoreFiles.segmentFileName(number)
        let dir = files.partitionDirectory(application: app, partition: partition)
        let outRel = StoreFiles.segmentRelative(application: app, partition: partition, file: file)
        let entry = try writeSegment(merged, directory: dir, file: file)
        guard entry.rows == rowsIn else {
            throw ActionStoreError(.corruption, "\(outRel): merged segment holds \(entry.rows) rows of \(rowsIn)")
        }
        limiter.consume(entry.bytes)

        // 3. Swap the manifest.
        try manifestLock.withLock { writer in
            guard !state.withLock({ $0.closed }) else {
                _ = options.fileIO.unlink(files.path(outRel))
                throw CompactionCancelled()
            }
            var edit = ManifestEdit()
            edit.removed = job.inputs.map { .init(application: app, partition: partition, file: $0.file) }
            edit.added = [.init(application: app, partition: partition, entry: entry)]
            let reader = Result { () throws(ActionStoreError) in try Store.openSegment(files.path(outRel)) }
            // On failure keep every file: the rename may have happened, and then the manifest on
            // disk names the output; the next open deletes whichever side is unnamed.
            try logAndApply(edit, &writer) { s in
                for rel in rels { s.readers[rel] = nil }
                s.readers[outRel] = reader
                s.compactions += 1
            }
        }
        // 4. Unlink the inputs (snapshots holding their mappings keep reading them).
        for rel in rels { _ = options.fileIO.unlink(files.path(rel)) }
        report.jobs += 1
        report.segmentsIn += job.inputs.count
        report.segmentsOut += 1
        report.rows += rowsIn
        report.bytesRead += job.inputs.reduce(0) { $0 + $1.bytes }
        report.bytesWritten += entry.bytes
    }

    /// Drops the partitions that ended more than their application's maximum age ago (wall
    /// clock), and deletes their files. Rows of such a partition still in memory (late actions)
    /// are flushed later and dropped by the next cycle.
    private func applyRetention(_ report: inout CompactionReport) throws {
        guard !options.retention.isEmpty || options.retentionDefault != nil else { return }
        let now = Timestamp.now()
        try manifestLock.withLock { writer in
            guard let current = state.withLock({ s in s.closed ? nil : s.manifest }) else {
                throw CompactionCancelled()
            }
            var edit = ManifestEdit()
            var partitions = Set<String>()
            for (app, entry) in current.applications {
                guard let age = options.retention[app] ?? options.retentionDefault else { continue }
                let (sec, atto) = age.components
                let cutoff = now &- (sec * 1_000_000 + atto / 1_000_000_000_000)
                for (p, segs) in entry.partitions {
                    guard let r = partitioning.range(ofKey: p), r.upperBound <= cutoff else { continue }
                    partitions.insert(StoreFiles.partitionRelative(application: app, partition: p))
                    edit.removed += segs.map { .init(application: app, partition: p, file: $0.file) }
                }
            }
            guard !partitions.isEmpty else { return }
            let dropped = edit.removedPaths
            try logAndApply(edit, &writer) { s in
                for rel in dropped { s.readers[rel] = nil }
                s.partitionsExpired += partitions.count
            }
            // Under manifestLock, so no flush is writing into a folder being removed.
            for rel in dropped { _ = options.fileIO.unlink(files.path(rel)) }
            for dir in partitions { _ = rmdir(files.path(dir)) }
            report.partitionsExpired += partitions.count
            report.segmentsExpired += dropped.count
        }
    }
}
