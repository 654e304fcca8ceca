import Foundation
import Synchronization
import Testing

@testable import ActionStore

/// 2026-11-10T00:00:00Z in microseconds; test partitions are days from here.
let compactionDay0: Int64 = 1_794_268_800_000_000
let dayMicros: Int64 = 86_400_000_000

/// Options for compaction tests: no background work, small targets, no fsync of the journal.
func compactionTestOptions(rowsTarget: Int = 1_000) -> StoreOptions {
    var o = StoreOptions()
    o.backgroundFlush = false
    o.durability = .none
    o.compaction.background = false
    o.compaction.segmentRowsTarget = rowsTarget
    o.segment.sync = false
    return o
}

/// Actions `first..<first+count` with unique transaction ids, spread over `days` partitions.
func testActions(_ first: Int, _ count: Int, days: Int = 3, prefix: String = "t") -> [Action] {
    (first..<(first + count)).map { i in
        Action(
            time: compactionDay0 + Int64(i % days) * dayMicros + Int64(i) * 1_000_000,
            actionName: "a\(i % 5)",
            userId: "u\(i % 13)",
            transactionId: "\(prefix)\(i)",
            metadata: [
                MetadataField(path: "amount", value: .int(Int64(i % 100))),
                MetadataField(path: "plan", value: .string(["free", "pro", "team"][i % 3])),
            ]
        )
    }
}

/// Group-by answers that do not depend on row order (integers only, so no float summation order).
let compactionQueries = [
    #"{"metrics":["count"]}"#,
    #"{"group_by":["action_name"],"metrics":["count",{"sum":"metadata.amount"},{"min":"metadata.amount"}]}"#,
    #"{"group_by":[{"time":"day"},"metadata.plan"],"metrics":["count","unique_users",{"max":"metadata.amount"}]}"#,
    #"{"where":{"eq":["user_id","u3"]},"metrics":["count"]}"#,
]

func answers(_ store: Store, _ app: String = "app") throws -> [[QueryRow]] {
    try compactionQueries.map { try store.query(application: app, Query.parse(json: $0)).rows }
}

/// Every transaction id stored, with its count.
func storedIds(_ store: Store, _ app: String = "app") throws -> [String: Int] {
    var seen: [String: Int] = [:]
    try store.scan(application: app) { seen[$0.transactionId ?? "nil", default: 0] += 1 }
    return seen
}

/// The segment files on disk, relative to the store.
func segmentFilesOnDisk(_ dir: String) -> Set<String> { Set(StoreFiles(dir).filesUnderApps()) }

func segmentFilesInManifest(_ store: Store) -> Set<String> {
    store.state.withLock { $0.manifest.segmentPaths }
}

/// Appends `batches` batches of `size` actions, flushing after each: many small segments.
func fillSmallSegments(_ store: Store, batches: Int, size: Int, days: Int = 3) throws {
    for b in 0..<batches {
        let r = try store.append(application: "app", actions: testActions(b * size, size, days: days))
        #expect(r.accepted == size)
        try store.flush()
    }
}

@Suite struct CompactionPolicyTests {
    func entry(_ f: Int, rows: Int, bytes: Int64 = 1000) -> Manifest.SegmentEntry {
        Manifest.SegmentEntry(file: String(f), rows: rows, bytes: bytes, minTime: 0, maxTime: 0)
    }

    @Test func smallSegmentsMergeSmallestFirstWithinTarget() {
        var o = CompactionOptions()
        o.segmentRowsTarget = 100
        o.segmentBytesTarget = 1 << 30
        let p = CompactionPolicy(o)
        #expect(p.nextJob([entry(1, rows: 10)]) == nil, "one segment: nothing to merge")
        #expect(p.nextJob([entry(1, rows: 10), entry(2, rows: 95)]) == nil, "only one is small, and 105 > 100")
        let job = p.nextJob([entry(1, rows: 60), entry(2, rows: 10), entry(3, rows: 20), entry(4, rows: 40)])
        #expect(job?.map(\.file) == ["2", "3", "4"], "smallest first while the sum fits 100")
        #expect(
            p.backlog([entry(1, rows: 60), entry(2, rows: 10), entry(3, rows: 20), entry(4, rows: 40)]).segments == 3
        )
    }

    @Test func manySegmentsMergeEvenWhenNotSmall() {
        var o = CompactionOptions()
        o.segmentRowsTarget = 100
        o.segmentsPerPartitionMax = 3
        let p = CompactionPolicy(o)
        let four = (1...4).map { entry($0, rows: 50) }
        #expect(p.nextJob(four)?.count == 2)
        #expect(p.nextJob(Array(four.prefix(3))) == nil, "three half-full segments are within the limit")
        let full = (1...10).map { entry($0, rows: 100) }
        #expect(p.nextJob(full) == nil, "full segments never merge: no two fit")
    }

    @Test func bytesTargetBoundsJobs() {
        var o = CompactionOptions()
        o.segmentRowsTarget = 1_000_000
        o.segmentBytesTarget = 1000
        let p = CompactionPolicy(o)
        #expect(
            p.nextJob([entry(1, rows: 1, bytes: 400), entry(2, rows: 1, bytes: 400), entry(3, rows: 1, bytes: 400)])?
                .count == 2
        )
    }

    @Test func planningEnds() {
        var rng = SeededRNG("planningEnds")
        for _ in 0..<200 {
            var o = CompactionOptions()
            o.segmentRowsTarget = Int(rng.next() % 500) + 1
            o.segmentsPerPartitionMax = Int(rng.next() % 6) + 1
            let p = CompactionPolicy(o)
            let n = Int(rng.next() % 40)
            let segs = (0..<n).map { entry($0, rows: Int(rng.next() % 600)) }
            let b = p.backlog(segs)
            #expect(b.segments <= n)
            #expect(b.segments == 0 || b.segments >= 2)
        }
    }

    /// Compaction joins its inputs' chunks in file order and sorts them stably by time: ties keep
    /// file, then row order, as a k-way merge of the time-sorted inputs would.
    @Test func mergeIsStableByTime() {
        func a(_ t: Int64, _ name: String) -> Action { Action(time: t, actionName: name) }
        var merged = ColumnChunk()
        for run in [[a(1, "x1"), a(3, "x3"), a(5, "x5")], [], [a(1, "y1"), a(2, "y2"), a(5, "y5")], [a(0, "z0")]] {
            merged.append(contentsOf: ColumnChunk.of(run))
        }
        #expect(merged.sortedByTime().actions.map(\.actionName) == ["z0", "x1", "y1", "y2", "x3", "x5", "y5"])
    }

    /// A segment read back as a chunk holds exactly the rows `actions()` rebuilds.
    @Test func segmentChunkEqualsItsActions() throws {
        try withTempDir { dir in
            var rng = SeededRNG("segment-chunk")
            for variant in 0..<2 {
                let actions = SegmentFixtures.actions(count: 500, rng: &rng, variant: variant)
                _ = try SegmentWriter.write(
                    actions: actions,
                    to: "\(dir)/\(variant).seg",
                    options: SegmentOptions(blockRows: 64, sync: false)
                )
                let r = try SegmentReader(path: "\(dir)/\(variant).seg")
                #expect(exactlyEqual(try r.chunk().actions, try r.actions()), "seed \(rng.seed)")
            }
        }
    }
}

@Suite struct CompactionTests {
    @Test func compactMergesSmallSegmentsAndKeepsAnswers() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions(rowsTarget: 250))
            try fillSmallSegments(store, batches: 12, size: 60)
            let before = try answers(store)
            let statsBefore = store.stats()
            #expect(statsBefore.segments == 36)
            #expect(statsBefore.compactionBacklog == 36)
            var progressCalls = 0
            let report = try store.compact { p in
                progressCalls += 1
                #expect(p.segmentsDone <= p.segmentsTotal)
            }
            #expect(report.jobs > 0 && progressCalls == report.jobs)
            #expect(report.rows == report.segmentsIn * 20)
            let after = store.stats()
            #expect(after.segments < 36)
            #expect(after.compactionBacklog == 0)
            #expect(after.rows == 720)
            for p in after.partitions { #expect(p.segmentRows <= 240 || p.segments > 1) }
            #expect(try answers(store) == before)
            let ids = try storedIds(store)
            #expect(ids.count == 720 && ids.values.allSatisfy { $0 == 1 })
            #expect(segmentFilesOnDisk(dir) == segmentFilesInManifest(store), "inputs deleted, output named")
            // Nothing more to do.
            #expect(try store.compact().jobs == 0)
            try store.close()
            let again = try Store.open(at: dir, options: compactionTestOptions(rowsTarget: 250))
            #expect(try answers(again) == before)
            #expect(again.stats().segments == after.segments)
            try again.close()
        }
    }

    @Test func outputsStayWithinTheRowTarget() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions(rowsTarget: 100))
            try fillSmallSegments(store, batches: 20, size: 30, days: 1)
            try store.compact()
            let segs = store.state.withLock { $0.manifest.applications["app"]!.partitions.values.first! }
            #expect(segs.allSatisfy { $0.rows <= 100 })
            #expect(segs.reduce(0) { $0 + $1.rows } == 600)
            #expect(segs.count < 20)
            try store.close()
        }
    }

    @Test func lateActionsInOldPartitionsMergeNextCycle() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions())
            try fillSmallSegments(store, batches: 4, size: 30)
            try store.compact()
            #expect(store.stats().segments == 3)
            // Late actions for the first day, two flushes.
            for k in 0..<2 {
                let late = testActions(10_000 + k * 10, 10, days: 1)
                _ = try store.append(application: "app", actions: late)
                try store.flush()
            }
            let day0 = Partitioning.day.key(compactionDay0)
            #expect(store.stats().partitions.first { $0.partition == day0 }?.segments == 3)
            #expect(store.stats().partitions.first { $0.partition == day0 }?.compactionBacklog == 3)
            try store.compact()
            #expect(store.stats().partitions.first { $0.partition == day0 }?.segments == 1)
            #expect(try storedIds(store).count == 140)
            try store.close()
        }
    }

    @Test func queriesDuringCompactionSeeTheSameAnswers() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions(rowsTarget: 400))
            try fillSmallSegments(store, batches: 30, size: 45)
            let before = try answers(store)
            let stop = Atomic(false)
            let mismatches = Atomic(0)
            let queries = Atomic(0)
            let group = DispatchGroup()
            for _ in 0..<2 {
                DispatchQueue.global().async(group: group) {
                    while !stop.load(ordering: .relaxed) {
                        if (try? answers(store)) != before { mismatches.add(1, ordering: .relaxed) }
                        queries.add(1, ordering: .relaxed)
                    }
                }
            }
            while queries.load(ordering: .relaxed) == 0 { usleep(1000) }
            let report = try store.compact()
            // Keep querying over the fresh segments for a moment too.
            let seen = queries.load(ordering: .relaxed)
            while queries.load(ordering: .relaxed) < seen + 4 { usleep(1000) }
            stop.store(true, ordering: .relaxed)
            group.wait()
            #expect(report.jobs > 0)
            #expect(queries.load(ordering: .relaxed) > 0)
            #expect(mismatches.load(ordering: .relaxed) == 0)
            #expect(try answers(store) == before)
            try store.close()
        }
    }

    @Test func ingestContinuesDuringCompaction() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions(rowsTarget: 400))
            try fillSmallSegments(store, batches: 30, size: 45)
            let appended = Atomic(0)
            let done = Atomic(false)
            let group = DispatchGroup()
            DispatchQueue.global().async(group: group) {
                var i = 0
                while (!done.load(ordering: .relaxed) || i < 5) && i < 300 {
                    let r = try? store.append(application: "app", actions: testActions(100_000 + i * 10, 10))
                    appended.add(r?.accepted ?? 0, ordering: .relaxed)
                    if i % 7 == 0 { try? store.flush() }
                    i += 1
                }
            }
            try store.compact()
            done.store(true, ordering: .relaxed)
            group.wait()
            try store.compact()
            let ids = try storedIds(store)
            #expect(ids.count == 1350 + appended.load(ordering: .relaxed))
            #expect(ids.values.allSatisfy { $0 == 1 })
            #expect(segmentFilesOnDisk(dir) == segmentFilesInManifest(store))
            try store.close()
        }
    }

    @Test func backgroundCompactionRunsAfterFlushes() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.compaction.background = true
            let store = try Store.open(at: dir, options: o)
            try fillSmallSegments(store, batches: 6, size: 30)
            var waited = 0
            while store.stats().compactionBacklog > 0 && waited < 600 {
                usleep(50_000)
                waited += 1
            }
            let s = store.stats()
            #expect(s.compactionBacklog == 0)
            #expect(s.segments == 3)
            #expect(s.compactions > 0)
            #expect(try storedIds(store).count == 180)
            try store.close()
        }
    }

    @Test func rateLimitSlowsCompaction() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            let store0 = try Store.open(at: dir, options: o)
            try fillSmallSegments(store0, batches: 6, size: 30, days: 1)
            let bytes = store0.stats().segmentBytes
            try store0.close()
            // Read + write is at least `bytes`; allow it 0.3 s worth of budget.
            o.compaction.bytesPerSecondMax = Int(Double(bytes) / 0.3)
            let store = try Store.open(at: dir, options: o)
            let start = ContinuousClock.now
            let report = try store.compact()
            #expect(report.bytesRead + report.bytesWritten >= bytes)
            #expect(ContinuousClock.now - start >= .milliseconds(250))
            try store.close()
        }
    }

    @Test func failureIsStickyAndReportedWritesContinue() throws {
        try withStoreDirectory { dir in
            let o = compactionTestOptions()
            do {
                let store = try Store.open(at: dir, options: o)
                try fillSmallSegments(store, batches: 3, size: 30, days: 1)
                try store.close()
            }
            // Damage one segment: it opens (footer intact) but its columns fail their checksums.
            let seg = segmentFilesOnDisk(dir).sorted().first!
            let path = dir + "/" + seg
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            for i in 40..<min(200, bytes.count / 2) { bytes[i] ^= 0xFF }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let store = try Store.open(at: dir, options: o)
            #expect(throws: ActionStoreError.self) { try store.compact() }
            let err = store.stats().compactionError
            #expect(err != nil && err!.contains(seg.split(separator: "/").last!))
            #expect(throws: ActionStoreError.self) { try store.compact() }
            #expect(try store.append(application: "app", actions: testActions(500, 5)).accepted == 5)
            #expect(store.stats().backgroundError == nil)
            try store.close()
        }
    }
}
