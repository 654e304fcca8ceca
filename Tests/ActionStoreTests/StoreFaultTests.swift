import Foundation
import Testing

@testable import ActionStore

#if canImport(Glibc)
import Glibc
#endif

/// The store over a file layer that fails on demand (`FaultyFileSystem`): full disks, I/O errors,
/// failing fsyncs and renames, short writes, and power cuts that drop every unsynced byte. Under
/// each: what cannot be made durable is not acknowledged, errors are sticky and reported, old
/// files stay intact, and a reopen once the cause is gone holds every acknowledged action
/// exactly once. docs/ARCHITECTURE.md ("Faults") has the table of faults and outcomes.
@Suite struct StoreFaultTests {
    static let app = "faults"

    /// Actions with transaction ids `t-<i>` for `ids`, spread over two days (two partitions).
    static func batch(_ ids: Range<Int>) -> [UInt8] {
        let items = ids.map { i in
            #"{"action_name":"a\#(i % 3)","transaction_id":"t-\#(i)","user_id":"u\#(i % 17)","#
                + #""request":{"time":"2026-03-0\#(1 + i % 2)T10:00:00Z","uri":"https://x.test/p/\#(i % 5)"},"#
                + #""metadata":{"n":\#(i),"plan":"p\#(i % 4)"}}"#
        }
        return Array(("[" + items.joined(separator: ",") + "]").utf8)
    }

    static func options(_ fs: FaultyFileSystem) -> StoreOptions {
        var o = StoreOptions()
        o.fileIO = fs.io
        // Off, so that an action stored twice would show up as twice.
        o.dedupeWindow = .zero
        o.backgroundFlush = false
        o.compaction.background = false
        return o
    }

    /// Transaction id → times stored.
    static func stored(_ store: Store) throws -> [String: Int] {
        var ids: [String: Int] = [:]
        try store.scan(application: app) { a in ids[a.transactionId ?? "?", default: 0] += 1 }
        return ids
    }

    /// Every acknowledged id stored exactly once; nothing stored that was never sent.
    static func expectExactlyOnce(
        _ ids: [String: Int],
        acknowledged: Set<Int>,
        sent: Range<Int>,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let missing = acknowledged.filter { ids["t-\($0)"] != 1 }
        #expect(
            missing.isEmpty,
            "acknowledged but missing or doubled: \(missing.sorted().prefix(10))",
            sourceLocation: sourceLocation
        )
        let extra = ids.filter { id, n in
            n > 1 || !(Int(id.dropFirst(2)).map(sent.contains) ?? false)
        }
        #expect(extra.isEmpty, "stored twice or never sent: \(extra.prefix(10))", sourceLocation: sourceLocation)
    }

    /// Name and content of every segment file.
    static func segmentFiles(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        let apps = dir + "/apps"
        for a in FileSystem.listDirectory(apps) {
            for p in FileSystem.listDirectory(apps + "/" + a) {
                for f in FileSystem.listDirectory(apps + "/" + a + "/" + p) {
                    let path = apps + "/" + a + "/" + p + "/" + f
                    out["\(a)/\(p)/\(f)"] = FileManager.default.contents(atPath: path)
                }
            }
        }
        return out
    }

    static func count(_ store: Store) throws -> Int64 {
        let r = try store.query(application: app, Query.parse(json: #"{"metrics":["count"]}"#))
        guard case .int(let n) = r.rows.first?.metrics.first else { return 0 }
        return n
    }

    // MARK: - Journal

    /// A full disk under the journal: the append that cannot be written fails with ENOSPC named,
    /// is not acknowledged, and every later append fails too (sticky) even once there is room
    /// again; stats report it. A reopen recovers every acknowledged action once.
    @Test func journalFullDisk() throws {
        try withStoreDirectory { dir in
            let fs = FaultyFileSystem()
            var acknowledged = Set<Int>()
            do {
                let store = try Store.open(at: dir, options: Self.options(fs))
                _ = try store.append(application: Self.app, json: Self.batch(0..<50))
                acknowledged.formUnion(0..<50)
                fs.inject(.init(op: .write, path: "/journal/", error: ENOSPC))
                let e = #expect(throws: ActionStoreError.self) {
                    try store.append(application: Self.app, json: Self.batch(50..<60))
                }
                #expect(e?.code == .io)
                #expect(e?.message.contains("No space left on device") == true, "\(String(describing: e))")
                fs.clearFaults()
                #expect(throws: ActionStoreError.self) {
                    try store.append(application: Self.app, json: Self.batch(60..<70))
                }
                #expect(store.stats().backgroundError?.contains("No space left on device") == true)
                try? store.close()
            }
            let again = try Store.open(at: dir, options: Self.options(fs))
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: acknowledged, sent: 0..<70)
            _ = try again.append(application: Self.app, json: Self.batch(70..<80))
            acknowledged.formUnion(70..<80)
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: acknowledged, sent: 0..<80)
            try again.close()
        }
    }

    /// A failed fsync is never papered over: the batch is not acknowledged, later appends fail
    /// even though the next fsync would succeed, and after a power cut (the bytes of the failed
    /// sync are gone, as Linux drops the dirty pages) the acknowledged actions are all there.
    @Test func failedFsyncStaysFailed() throws {
        try withStoreDirectory { dir in
            let fs = FaultyFileSystem()
            var acknowledged = Set<Int>()
            do {
                let store = try Store.open(at: dir, options: Self.options(fs))
                for b in 0..<5 {
                    _ = try store.append(application: Self.app, json: Self.batch(b * 10..<b * 10 + 10))
                    acknowledged.formUnion(b * 10..<b * 10 + 10)
                }
                fs.inject(.init(op: .sync, path: "/journal/", error: EIO, times: 1))
                let e = #expect(throws: ActionStoreError.self) {
                    try store.append(application: Self.app, json: Self.batch(50..<60))
                }
                #expect(e?.code == .io)
                #expect(e?.message.contains("Input/output error") == true, "\(String(describing: e))")
                // The fault is spent; the journal must not report the next batch durable.
                #expect(throws: ActionStoreError.self) {
                    try store.append(application: Self.app, json: Self.batch(60..<70))
                }
                #expect(store.stats().backgroundError != nil)
                fs.powerLoss()
                try? store.close()
            }
            let again = try Store.open(at: dir, options: Self.options(FaultyFileSystem()))
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: acknowledged, sent: 0..<70)
            try again.close()
        }
    }

    /// Short writes everywhere (journal, segments, manifest) are completed by the writers: nothing
    /// is lost or garbled.
    @Test func shortWritesAreCompleted() throws {
        try withStoreDirectory { dir in
            let fs = FaultyFileSystem()
            fs.inject(.init(op: .write, short: true))
            let store = try Store.open(at: dir, options: Self.options(fs))
            for b in 0..<4 { _ = try store.append(application: Self.app, json: Self.batch(b * 100..<b * 100 + 100)) }
            try store.flush()
            _ = try store.append(application: Self.app, json: Self.batch(400..<450))
            try store.close()
            #expect(fs.injectedFailures.count > 10)
            let again = try Store.open(at: dir, options: Self.options(FaultyFileSystem()))
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: Set(0..<450), sent: 0..<450)
            try again.close()
            let report = try Store.verify(at: dir)
            #expect(report.isClean, "\(report.problems)")
        }
    }

    /// Creating the next journal file fails (no room for a new inode): the flush that rolls the
    /// journal and the appends after it fail with the file named; a reopen recovers.
    @Test func journalRollFails() throws {
        try withStoreDirectory { dir in
            let fs = FaultyFileSystem()
            var acknowledged = Set<Int>()
            do {
                let store = try Store.open(at: dir, options: Self.options(fs))
                _ = try store.append(application: Self.app, json: Self.batch(0..<30))
                acknowledged.formUnion(0..<30)
                fs.inject(.init(op: .open, path: "/journal/", error: ENOSPC))
                #expect(throws: ActionStoreError.self) {
                    try store.flush()
                    _ = try store.append(application: Self.app, json: Self.batch(30..<40))
                }
                #expect(store.stats().backgroundError?.contains("No space left on device") == true)
                try? store.close()
            }
            let again = try Store.open(at: dir, options: Self.options(FaultyFileSystem()))
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: acknowledged, sent: 0..<40)
            try again.close()
        }
    }

    // MARK: - Flush

    /// The faults a flush can meet, one test case each.
    static let flushFaults: [(String, FaultyFileSystem.Fault)] = [
        ("segment write ENOSPC", .init(op: .write, path: ".seg", error: ENOSPC)),
        ("segment create ENOSPC", .init(op: .open, path: ".seg", error: ENOSPC)),
        ("segment fsync EIO", .init(op: .sync, path: ".seg", error: EIO)),
        ("segment rename EIO", .init(op: .rename, path: ".seg", error: EIO)),
        ("partition directory fsync EIO", .init(op: .syncDirectory, path: "/apps/", error: EIO)),
        ("manifest write ENOSPC", .init(op: .write, path: "MANIFEST", error: ENOSPC)),
        ("manifest fsync EIO", .init(op: .sync, path: "MANIFEST", error: EIO)),
        ("manifest rename EIO", .init(op: .rename, path: "MANIFEST", error: EIO)),
    ]

    /// A flush that meets a fault: flush() throws naming it; the store stays readable with every
    /// acknowledged action (from memory); the old segments are byte-for-byte intact and no
    /// temporary file is left; appends stop with the reason (the flush error is sticky); stats say
    /// why. Once the cause is gone a reopen holds everything exactly once, with no stray files.
    @Test(arguments: 0..<flushFaults.count)
    func flushFault(_ index: Int) throws {
        let (name, fault) = Self.flushFaults[index]
        try withStoreDirectory { dir in
            let fs = FaultyFileSystem()
            do {
                let store = try Store.open(at: dir, options: Self.options(fs))
                _ = try store.append(application: Self.app, json: Self.batch(0..<200))
                try store.flush()
                let before = Self.segmentFiles(dir)
                #expect(before.count == 2, "\(name): two day partitions")
                _ = try store.append(application: Self.app, json: Self.batch(200..<300))
                fs.inject(fault)
                let e = #expect(throws: ActionStoreError.self, "\(name)") { try store.flush() }
                #expect(e?.code == .io, "\(name): \(String(describing: e))")
                #expect(!fs.injectedFailures.isEmpty, "\(name): the fault was reached")
                // Readable, complete, old files untouched, no temporary files.
                #expect(try Self.count(store) == 300, "\(name)")
                Self.expectExactlyOnce(try Self.stored(store), acknowledged: Set(0..<300), sent: 0..<300)
                let after = Self.segmentFiles(dir)
                for (file, bytes) in before { #expect(after[file] == bytes, "\(name): \(file) changed") }
                let strays = after.keys.filter { $0.contains(".tmp") }
                #expect(strays.isEmpty, "\(name): temporary files left: \(strays)")
                #expect(!FileSystem.exists(dir + "/MANIFEST.tmp"), "\(name)")
                // Sticky and reported.
                #expect(store.stats().backgroundError != nil, "\(name)")
                let refused = #expect(throws: ActionStoreError.self, "\(name)") {
                    try store.append(application: Self.app, json: Self.batch(300..<310))
                }
                #expect(
                    refused?.message.contains("background failure") == true,
                    "\(name): \(String(describing: refused))"
                )
                try? store.close()
            }
            fs.clearFaults()
            let again = try Store.open(at: dir, options: Self.options(fs))
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: Set(0..<300), sent: 0..<300)
            _ = try again.append(application: Self.app, json: Self.batch(300..<320))
            try again.flush()
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: Set(0..<320), sent: 0..<320)
            try again.close()
            let report = try Store.verify(at: dir)
            #expect(report.isClean, "\(name): \(report.problems)")
            #expect(Self.segmentFiles(dir).keys.allSatisfy { $0.hasSuffix(".seg") }, "\(name)")
        }
    }

    // MARK: - Compaction

    static let compactionFaults: [(String, FaultyFileSystem.Fault)] = [
        ("output write ENOSPC", .init(op: .write, path: ".seg", error: ENOSPC)),
        ("output fsync EIO", .init(op: .sync, path: ".seg", error: EIO)),
        ("output rename EIO", .init(op: .rename, path: ".seg", error: EIO)),
        ("manifest write ENOSPC", .init(op: .write, path: "MANIFEST", error: ENOSPC)),
        ("manifest rename EIO", .init(op: .rename, path: "MANIFEST", error: EIO)),
        ("store directory fsync EIO", .init(op: .syncDirectory, path: "MANIFEST-DIR", error: EIO, exact: true)),
    ]

    /// A compaction that meets a fault: compact() throws naming it, the input segments stay
    /// intact and queried, `stats.compactionError` says why, and writes go on (a failed merge puts
    /// nothing acknowledged at risk). A reopen holds everything once and compacts cleanly.
    @Test(arguments: 0..<compactionFaults.count)
    func compactionFault(_ index: Int) throws {
        var (name, fault) = Self.compactionFaults[index]
        try withStoreDirectory { dir in
            if fault.path == "MANIFEST-DIR" { fault.path = dir }
            let fs = FaultyFileSystem()
            do {
                let store = try Store.open(at: dir, options: Self.options(fs))
                for b in 0..<6 {
                    _ = try store.append(application: Self.app, json: Self.batch(b * 40..<b * 40 + 40))
                    try store.flush()
                }
                let before = Self.segmentFiles(dir)
                #expect(before.count == 12, "\(name)")
                fs.inject(fault)
                let e = #expect(throws: ActionStoreError.self, "\(name)") { try store.compact() }
                #expect(e?.code == .io, "\(name): \(String(describing: e))")
                #expect(store.stats().compactionError != nil, "\(name)")
                #expect(store.stats().backgroundError == nil, "\(name): writes must go on")
                Self.expectExactlyOnce(try Self.stored(store), acknowledged: Set(0..<240), sent: 0..<240)
                let after = Self.segmentFiles(dir)
                for (file, bytes) in before where after[file] != nil {
                    #expect(after[file] == bytes, "\(name): \(file) changed")
                }
                fs.clearFaults()
                _ = try store.append(application: Self.app, json: Self.batch(240..<260))
                try store.flush()
                Self.expectExactlyOnce(try Self.stored(store), acknowledged: Set(0..<260), sent: 0..<260)
                try? store.close()
            }
            let again = try Store.open(at: dir, options: Self.options(fs))
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: Set(0..<260), sent: 0..<260)
            _ = try again.compact()
            Self.expectExactlyOnce(try Self.stored(again), acknowledged: Set(0..<260), sent: 0..<260)
            try again.close()
            let report = try Store.verify(at: dir)
            #expect(report.isClean, "\(name): \(report.problems)")
        }
    }

    // MARK: - Power loss

    /// Power cuts at random moments while two writers append, flushes roll the journal and write
    /// segments, and compaction merges them: every unsynced byte and every name not made durable
    /// is dropped (with torn tails). After each cut a reopen holds every acknowledged action
    /// exactly once and nothing never sent. Seeded; `ACTIONSTORE_TEST_SEED` repeats a run.
    @Test func powerLossAtRandomMoments() throws {
        var rng = SeededRNG("powerLossAtRandomMoments")
        for round in 0..<20 {
            try withStoreDirectory { dir in
                let fs = FaultyFileSystem(seed: rng.next())
                var options = Self.options(fs)
                options.backgroundFlush = true
                options.memtableRowsMax = 150 + Int(rng.next() % 300)
                options.journalFileBytesMax = 64 << 10
                options.compaction.background = true
                options.compaction.segmentRowsTarget = 4_000
                options.compaction.interval = .milliseconds(50)
                let store = try Store.open(at: dir, options: options)
                let acknowledged = Mutex2(Set<Int>())
                let next = Mutex2(0)
                let stop = Mutex2(false)
                let done = DispatchSemaphore(value: 0)
                let cutAfter = UInt32(20_000 + rng.next() % 250_000)
                // Threads of their own: concurrentPerform may run iterations one after another.
                let writers = (0..<2).map { _ in
                    Thread {
                        while !stop.withLock({ $0 }) {
                            let start = next.withLock { n in
                                defer { n += 25 }
                                return n
                            }
                            do {
                                _ = try store.append(application: Self.app, json: Self.batch(start..<start + 25))
                                // After the cut the layer refuses every call, so nothing more is acknowledged.
                                acknowledged.withLock { $0.formUnion(start..<start + 25) }
                            } catch {
                                break
                            }
                        }
                        done.signal()
                    }
                }
                for w in writers { w.start() }
                // The cut falls at a random moment after the first acknowledgement (a slow build,
                // such as Thread Sanitizer's, may take longer than `cutAfter` to get there).
                var waited = 0
                while acknowledged.withLock({ $0.isEmpty }) && waited < 30_000 {
                    usleep(1000)
                    waited += 1
                }
                usleep(cutAfter)
                fs.powerLoss()
                stop.withLock { $0 = true }
                for _ in writers { done.wait() }
                try? store.close()
                let sent = 0..<next.withLock { $0 }
                let ack = acknowledged.withLock { $0 }
                let again = try Store.open(at: dir, options: Self.options(FaultyFileSystem()))
                let ids = try Self.stored(again)
                Self.expectExactlyOnce(ids, acknowledged: ack, sent: sent)
                #expect(!ack.isEmpty, "round \(round): something was acknowledged before the cut")
                try again.close()
            }
        }
    }
}

@Suite struct BackpressureTests {
    /// An append that waits for memory longer than `memoryWaitMax` fails with `.busy` and stores
    /// nothing (it used to go through silently after 60 s).
    @Test func appendThatWaitsTooLongForMemoryFailsBusy() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.memtableBytesMax = 64 << 10
            o.memoryWaitMax = .milliseconds(300)
            o.durability = .none
            var io = FileIO.posix
            // A slow flush: its segments take 2 s to land, so memory stays over budget meanwhile.
            io.rename = { from, to in
                if from.hasSuffix(".seg.tmp") { usleep(2_000_000) }
                return FileIO.posix.rename(from, to)
            }
            o.fileIO = io
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            let doc = Array(
                ("[" + (0..<200).map { #"{"action_name":"a","metadata":{"i":\#($0)}}"# }.joined(separator: ",") + "]")
                    .utf8
            )
            var busy: ActionStoreError?
            var stored = 0
            for _ in 0..<200 where busy == nil {
                do { stored += try store.append(application: "app", json: doc).accepted } catch let e
                    as ActionStoreError
                {
                    busy = e
                }
            }
            let e = try #require(busy, "no append waited past memoryWaitMax")
            #expect(e.code == .busy, "\(e)")
            #expect(e.message.contains("nothing was stored"))
            try store.flush()
            let r = try store.query(application: "app", Query.parse(json: #"{"metrics":["count"]}"#))
            #expect(r.rows.first?.metrics.first == .int(Int64(stored)), "the refused batch was not stored")
        }
    }
}
