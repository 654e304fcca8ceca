import Foundation
import Testing

@testable import ActionStore

/// Issue 9: writers, readers, flushes, compaction and a shutdown at once (run under Thread
/// Sanitizer by `make tsan`), from a fixed seed and in bounded time. Afterwards the reopened store
/// holds every acknowledged accepted action exactly once, and answers a fixed set of queries exactly
/// like a store built by a single-threaded replay of those actions. No timing assertions: where the
/// shutdown falls changes how many batches are acknowledged, never what must hold.
@Suite struct StoreStressTests {
    static let seed: UInt64 = 0x0009_5EED
    static let app = "stress"
    static let writers = 4
    static let batchesPerWriter = 150
    static let readers = 2
    /// `close()` comes once this share of the batches is acknowledged (and a merge job has run).
    static let closeAfterShare = 0.75

    // MARK: - The plan

    enum Kind: Sendable, Hashable {
        /// Always accepted: a transaction_id of its own.
        case plain
        /// A transaction_id shared across writers (and batches): exactly one occurrence is accepted.
        case sharedId
        /// `metadata.amount` as a string where the schema fixed number: always rejected.
        case breaksSchema
        /// `metadata.racy`: a number from even writers, a string from odd ones. Whichever arrives
        /// first fixes its type; the other side is rejected from then on.
        case racy
    }

    struct Planned: Sendable, Hashable {
        var json: String
        var transactionId: String?
        var kind: Kind
        var writer: Int
    }

    struct Acknowledged: Sendable {
        var action: Planned
        var outcome: ActionOutcome
    }

    static let names = ["Signed In", "Clicked Sign Up", "Viewed Dashboard", "Invited Teammate", "Upgraded Plan"]
    static let plans = ["free", "pro", "team"]
    /// Actions fall over five days: five partitions.
    static let start = Timestamp.parse("2026-04-01T00:00:00Z")!
    static let span: UInt64 = 5 * 86_400 * 1_000_000

    /// Fixes the types of the paths the writers share before they start (so `.breaksSchema` is
    /// always rejected and `sum(metadata.amount)` is well typed).
    static let seedAction = Planned(
        json: #"{"action_name":"Seeded","request":{"time":"2026-04-01T00:00:00Z"},"user_id":"u0","company_id":"c0","#
            + #""transaction_id":"seed","metadata":{"plan":"free","amount":0,"beta":false,"#
            + #""source":{"campaign":"spring0"}}}"#,
        transactionId: "seed",
        kind: .plain,
        writer: -1
    )

    /// Writer `w`'s batches (1 to 32 Moesif-shaped actions each), from the fixed seed.
    static func plan(writer w: Int) -> [[Planned]] {
        var rng = SeededRNG(seed: seed &+ UInt64(w) &* 0x1_0000_0001)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var batches: [[Planned]] = []
        for b in 0..<batchesPerWriter {
            var batch: [Planned] = []
            for i in 0..<(1 + pick(32)) {
                var time = Timestamp.format(start + Int64(rng.next() % span))
                let r = pick(100)
                let kind: Kind = r < 6 ? .sharedId : r < 10 ? .breaksSchema : r < 13 ? .racy : .plain
                let shared = pick(40)
                // A shared id is one action sent again: the same time (a duplicate is the same id
                // within the dedupe window of its time).
                if kind == .sharedId { time = Timestamp.format(start + Int64(shared) * 1_000_000) }
                let id: String? =
                    switch kind {
                    case .sharedId: "shared-\(shared)"
                    case .breaksSchema where i % 2 == 0: nil
                    default: "t\(w)-\(b)-\(i)"
                    }
                let amount = pick(1000)
                let amountText = kind == .breaksSchema ? "\"\(amount)\"" : "\(amount)"
                var meta =
                    #""plan":"\#(plans[pick(plans.count)])","amount":\#(amountText),"beta":\#(pick(2) == 0),"#
                    + #""source":{"campaign":"spring\#(pick(6))"},"w\#(w)_note":"n\#(pick(10))""#
                if kind == .racy { meta += w % 2 == 0 ? #","racy":\#(pick(100))"# : #","racy":"r\#(pick(100))""# }
                let verb = pick(3) == 0 ? "POST" : "GET"
                let json =
                    #"{"action_name":"\#(names[pick(names.count)])","#
                    + #""request":{"time":"\#(time)","uri":"/app/p\#(pick(20))","verb":"\#(verb)"},"#
                    + #""user_id":"u\#(pick(400))","company_id":"c\#(pick(50))","#
                    + (id.map { #""transaction_id":"\#($0)","# } ?? "") + #""metadata":{\#(meta)}}"#
                batch.append(Planned(json: json, transactionId: id, kind: kind, writer: w))
            }
            batches.append(batch)
        }
        return batches
    }

    /// Writers use the four append entry points: JSON array or NDJSON documents, sync or async.
    static func append(_ store: Store, _ batch: [Planned], writer w: Int) throws -> AppendResult {
        let array = Array(("[" + batch.map(\.json).joined(separator: ",") + "]").utf8)
        let documents = batch.map { Array($0.json.utf8)[...] }
        switch w % 4 {
        case 0: return try store.append(application: app, json: array)
        case 1: return try store.append(application: app, documents: documents)
        case 2: return try blocking { try await store.append(application: app, json: array) }
        default: return try blocking { try await store.append(application: app, documents: documents) }
        }
    }

    /// Runs `body` as a task and blocks this (non-pool) thread until it ends.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex2<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let r: Result<T, any Error>
            do { r = .success(try await body()) } catch { r = .failure(error) }
            result.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// A thread of its own (not a pool thread: writers block on fsync, readers spin).
    static func spawn(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        let t = Thread {
            body()
            group.leave()
        }
        t.stackSize = 8 << 20
        t.start()
    }

    /// Answers compared between the reopened store and the single-threaded replay.
    static let comparedQueries = [
        #"{"metrics":["count","unique_users","unique_companies",{"sum":"metadata.amount"}]}"#,
        #"{"group_by":["action_name"],"metrics":["count",{"sum":"metadata.amount"}]}"#,
        #"{"group_by":[{"time":"day"}],"metrics":["count","unique_users"]}"#,
        #"{"group_by":["metadata.plan"],"metrics":["count",{"max":"metadata.amount"},{"p90":"metadata.amount"}]}"#,
        #"{"group_by":["metadata.source.campaign","metadata.beta"],"metrics":["count"]}"#,
        #"{"where":{"eq":["request.verb","POST"]},"group_by":["metadata.w2_note"],"#
            + #""metrics":["count",{"unique":"transaction_id"}]}"#,
        #"{"group_by":["metadata.racy"],"metrics":["count"]}"#,
    ]

    // MARK: - The test

    /// Async, so that waiting for the threads does not hold a thread of the cooperative pool, which
    /// the async writers and other suites running in parallel need.
    @Test(.timeLimit(.minutes(5))) func writersReadersFlushesCompactionAndShutdown() async throws {
        let began = ContinuousClock.now
        let plans = (0..<Self.writers).map { Self.plan(writer: $0) }
        let totalBatches = Self.writers * Self.batchesPerWriter
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = StoreOptions()
        options.memtableRowsMax = 200
        options.compaction.background = true
        options.compaction.interval = .milliseconds(100)
        options.compaction.segmentRowsTarget = 1500
        options.compaction.segmentsPerPartitionMax = 3
        let store = try Store.open(at: dir, options: options)
        #expect(try await store.append(application: Self.app, json: Array(Self.seedAction.json.utf8)).accepted == 1)

        let acknowledged = Mutex2<[[Acknowledged]]>(Array(repeating: [], count: Self.writers))
        let ackedAccepted = Mutex2(1)  // the seed action
        let batchesSettled = Mutex2(0)  // acknowledged, or refused as closed
        let refusedBatches = Mutex2(0)
        let writersDone = Mutex2(0)
        let closed = Mutex2(false)
        let failures = Mutex2<[String]>([])
        let counters = Mutex2((readerRounds: 0, scans: 0, flushes: 0, compactJobs: 0, closeAfterMergeJob: false))
        @Sendable func fail(_ s: String) { failures.withLock { $0.append(s) } }
        @Sendable func finished() -> Bool {
            closed.withLock { $0 } && writersDone.withLock { $0 } == Self.writers
        }
        let group = DispatchGroup()

        // Writers.
        for w in 0..<Self.writers {
            Self.spawn(group) {
                defer { writersDone.withLock { $0 += 1 } }
                for (b, batch) in plans[w].enumerated() {
                    do {
                        let r = try Self.append(store, batch, writer: w)
                        guard r.outcomes.count == batch.count else {
                            fail("writer \(w) batch \(b): \(r.outcomes.count) outcomes for \(batch.count) actions")
                            return
                        }
                        acknowledged.withLock {
                            $0[w] += zip(batch, r.outcomes).map { Acknowledged(action: $0, outcome: $1) }
                        }
                        ackedAccepted.withLock { $0 += r.accepted }
                        batchesSettled.withLock { $0 += 1 }
                    } catch let e as ActionStoreError where e.code == .closed {
                        // Refused before anything was journaled: this and the later batches
                        // are simply not acknowledged.
                        refusedBatches.withLock { $0 += plans[w].count - b }
                        batchesSettled.withLock { $0 += plans[w].count - b }
                        return
                    } catch {
                        fail("writer \(w) batch \(b): \(error)")
                        return
                    }
                }
            }
        }

        // Readers: counts never go backwards and never fall below what was acknowledged.
        for reader in 0..<Self.readers {
            Self.spawn(group) {
                var last = (count: Int64(0), users: Int64(0), sum: Int64(0))
                var round = 0
                do {
                    let q1 = try Query.parse(
                        json: #"{"metrics":["count","unique_users",{"sum":"metadata.amount"}]}"#
                    )
                    let q2 = try Query.parse(json: #"{"group_by":["action_name"],"metrics":["count"]}"#)
                    let q3 = try Query.parse(
                        json: #"{"group_by":[{"time":"day"},"metadata.plan"],"metrics":["count"]}"#
                    )
                    while !finished() || round < 3 {
                        round += 1
                        let floor = Int64(ackedAccepted.withLock { $0 })
                        let r1 = try store.query(application: Self.app, q1)
                        guard let m = r1.rows.first?.metrics, m.count == 3, case .int(let n) = m[0],
                            case .int(let users) = m[1]
                        else {
                            fail("reader \(reader): unexpected \(r1.rows)")
                            return
                        }
                        let sum: Int64 = if case .int(let s) = m[2] { s } else { 0 }
                        if n < floor || n < last.count || users < last.users || sum < last.sum {
                            fail(
                                "reader \(reader) round \(round): \((n, users, sum)) after \(last), floor \(floor)"
                            )
                        }
                        last = (n, users, sum)
                        for q in [q2, q3] {
                            let r = try store.query(application: Self.app, q)
                            let total = r.rows.reduce(Int64(0)) {
                                if case .int(let c) = $1.metrics[0] { $0 + c } else { $0 }
                            }
                            if total < n { fail("reader \(reader) round \(round): groups sum to \(total) < \(n)") }
                            if !r.stats.damagedSegments.isEmpty { fail("damaged: \(r.stats.damagedSegments)") }
                        }
                        if !r1.stats.damagedSegments.isEmpty { fail("damaged: \(r1.stats.damagedSegments)") }
                        // Now and then a full scan: one snapshot must not show an action twice
                        // (a memtable and its segment, or a merge's inputs and output).
                        if reader == 0 && round % 8 == 0 {
                            let floor = ackedAccepted.withLock { $0 }
                            var ids = Set<String>()
                            var rows = 0
                            try store.scan(application: Self.app) { a in
                                rows += 1
                                if let id = a.transactionId, !ids.insert(id).inserted {
                                    fail("scan: \(id) twice in one snapshot")
                                }
                            }
                            if rows < floor { fail("scan: \(rows) rows < \(floor) acknowledged") }
                            counters.withLock { $0.scans += 1 }
                        }
                        usleep(2000)
                    }
                } catch {
                    fail("reader \(reader): \(error)")
                }
                counters.withLock { $0.readerRounds += round }
            }
        }

        // A flusher (on top of the flushes `memtableRowsMax` triggers), and a compactor (on top of
        // the background compaction). After the close both are refused or do nothing.
        Self.spawn(group) {
            while !finished() {
                do { try store.flush() } catch { fail("flush: \(error)") }
                counters.withLock { $0.flushes += 1 }
                usleep(15_000)
            }
        }
        Self.spawn(group) {
            while !finished() {
                do {
                    let report = try store.compact()
                    counters.withLock { $0.compactJobs += report.jobs }
                } catch let e as ActionStoreError where e.code == .closed {
                    // After the close.
                } catch {
                    fail("compact: \(error)")
                }
                usleep(40_000)
            }
        }

        // The shutdown, while writers, readers, flushes and compaction go on.
        Self.spawn(group) {
            while true {
                let settled = batchesSettled.withLock { $0 }
                if writersDone.withLock({ $0 }) == Self.writers { break }
                if Double(settled) >= Self.closeAfterShare * Double(totalBatches), store.stats().compactions > 0 {
                    break
                }
                usleep(5000)
            }
            // Aim the close at a merge job in progress: right after a job is swapped in, the same
            // cycle often starts the next one, which the close then cancels. Waited for only while
            // the writers still have a tenth of their batches ahead: closing under load comes first.
            let jobs = store.state.withLock { $0.compactions }
            var aimed = false
            while !aimed && Double(batchesSettled.withLock { $0 }) < 0.9 * Double(totalBatches) {
                usleep(1000)
                aimed = store.state.withLock { $0.compactions } > jobs
            }
            counters.withLock { $0.closeAfterMergeJob = aimed }
            do {
                if store.stats().compactions == 0 {
                    // Everything was written before any merge: merge now, so one surely ran.
                    try store.flush()
                    try store.compact()
                }
                try store.close()
            } catch {
                fail("close: \(error)")
            }
            closed.withLock { $0 = true }
        }

        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { done.resume() }
        }
        let stats = store.stats()
        try store.close()  // a no-op: already closed
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(5))")
        #expect(stats.compactions > 0)
        #expect(stats.backgroundError == nil && stats.compactionError == nil)

        // Outcomes: each kind got the outcome it must.
        let acked = acknowledged.withLock { $0 }.flatMap { $0 }
        var accepted = [Self.seedAction]
        var acceptedPerId: [String: Int] = [:]
        var racyTypes = Set<Int>()
        for a in acked {
            let isAccepted = if case .accepted(let dropped) = a.outcome { dropped.isEmpty } else { false }
            let isDuplicate = a.outcome == .duplicate
            switch a.action.kind {
            case .plain: #expect(isAccepted, "\(a.action.json): \(a.outcome)")
            case .sharedId: #expect(isAccepted || isDuplicate, "\(a.action.json): \(a.outcome)")
            case .breaksSchema:
                if case .rejected(let e) = a.outcome {
                    #expect(e.code == .schemaConflict, "\(e)")
                } else {
                    Issue.record("accepted against the schema: \(a.action.json): \(a.outcome)")
                }
            case .racy:
                if isAccepted {
                    racyTypes.insert(a.action.writer % 2)
                } else {
                    #expect(!isDuplicate, "\(a.action.json): \(a.outcome)")
                }
            }
            if isAccepted {
                accepted.append(a.action)
                if let id = a.action.transactionId { acceptedPerId[id, default: 0] += 1 }
            }
        }
        // Each shared id that was acknowledged at all was accepted exactly once (a refused batch
        // journaled nothing, so the accepted occurrence is always among the acknowledged ones).
        for id in Set(acked.filter { $0.action.kind == .sharedId }.compactMap(\.action.transactionId)) {
            #expect(acceptedPerId[id] == 1, "\(id) accepted \(acceptedPerId[id] ?? 0) times")
        }
        #expect(racyTypes.count <= 1, "metadata.racy accepted with both types")
        #expect(accepted.allSatisfy { $0.transactionId != nil })
        #expect(accepted.count == ackedAccepted.withLock { $0 })
        let expectedIds = Set(accepted.compactMap(\.transactionId))
        #expect(expectedIds.count == accepted.count)

        let verify = try Store.verify(at: dir)
        #expect(verify.isClean, "\(verify.problems)")

        // Reopen, and replay the acknowledged accepted actions single-threaded into a fresh store.
        var quiet = StoreOptions()
        quiet.compaction.background = false
        let reopened = try Store.open(at: dir, options: quiet)
        defer { try? reopened.close() }
        try withStoreDirectory { replayDir in
            let replay = try Store.open(at: replayDir, options: quiet)
            defer { try? replay.close() }
            for start in stride(from: 0, to: accepted.count, by: 64) {
                let chunk = accepted[start..<min(accepted.count, start + 64)]
                let body = "[" + chunk.map(\.json).joined(separator: ",") + "]"
                let r = try replay.append(application: Self.app, json: Array(body.utf8))
                #expect(
                    r.accepted == chunk.count,
                    "replay refused \(r.outcomes.filter { $0 != .accepted(droppedFields: []) })"
                )
            }
            #expect(reopened.schema(application: Self.app) == replay.schema(application: Self.app))
            for text in Self.comparedQueries {
                let q = try Query.parse(json: text)
                let a = try reopened.query(application: Self.app, q)
                let b = try replay.query(application: Self.app, q)
                #expect(a.keyNames == b.keyNames && a.metricNames == b.metricNames, "\(text)")
                #expect(a.rows == b.rows, "\(text)\nreopened: \(a.rows.prefix(8))\nreplay:   \(b.rows.prefix(8))")
                #expect(a.stats.damagedSegments.isEmpty)
            }
            let count = try reopened.query(application: Self.app, Query.parse(json: #"{"metrics":["count"]}"#))
            #expect(count.rows.first?.metrics.first == .int(Int64(accepted.count)))
        }

        // Every acknowledged accepted transaction_id is stored exactly once; nothing else is.
        var stored: [String: Int] = [:]
        var withoutId = 0
        try reopened.scan(application: Self.app) { a in
            if let id = a.transactionId { stored[id, default: 0] += 1 } else { withoutId += 1 }
        }
        #expect(withoutId == 0)
        let doubled = stored.filter { $0.value > 1 }.keys.sorted()
        let missing = expectedIds.subtracting(stored.keys).sorted()
        let extra = Set(stored.keys).subtracting(expectedIds).sorted()
        #expect(doubled.isEmpty, "doubled: \(doubled.prefix(10))")
        #expect(missing.isEmpty, "missing: \(missing.prefix(10))")
        #expect(extra.isEmpty, "not acknowledged: \(extra.prefix(10))")

        let c = counters.withLock { $0 }
        print(
            "StoreStressTests: \(accepted.count) accepted of \(acked.count) acknowledged actions, "
                + "\(refusedBatches.withLock { $0 }) of \(totalBatches) batches refused by the close; "
                + "\(c.readerRounds) reader rounds, \(c.scans) scans, \(c.flushes) flush calls, "
                + "\(stats.compactions) merge jobs (\(c.compactJobs) by compact()), close right after a job: "
                + "\(c.closeAfterMergeJob), "
                + "\(stats.segments) segments at close; \(ContinuousClock.now - began)"
        )
    }
}
