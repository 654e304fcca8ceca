import Foundation
import Testing

@testable import ActionStore

@Suite struct StoreConcurrencyTests {
    /// Writers, readers and flushes at once (run under Thread Sanitizer by `make tsan`): every
    /// acknowledged action is counted afterwards, and each reader's counts never go backwards
    /// (read-your-writes across memtables, flushing memtables and segments).
    @Test func writersReadersAndFlushesAtOnce() throws {
        try withStoreDirectory { dir in
            var options = StoreOptions()
            options.memtableRowsMax = 700
            let store = try Store.open(at: dir, options: options)
            let acknowledged = Mutex2(0)
            let readerFailures = Mutex2<[String]>([])
            let writers = 6
            let readers = 3
            let batches = 25
            DispatchQueue.concurrentPerform(iterations: writers + readers + 1) { worker in
                if worker < writers {
                    for b in 0..<batches {
                        let body =
                            "["
                            + (0..<20).map { i in
                                #"{"action_name":"w\#(worker)","request":{"time":"2026-03-0\#(1 + (b + i) % 9)T00:00:00Z"},"#
                                    + #""metadata":{"batch":\#(b),"k\#(worker % 3)":"v\#(i)"}}"#
                            }.joined(separator: ",") + "]"
                        let r = try! store.append(application: "c", json: Array(body.utf8))
                        acknowledged.withLock { $0 += r.accepted }
                    }
                } else if worker < writers + readers {
                    var last = 0
                    for _ in 0..<30 {
                        let floor = acknowledged.withLock { $0 }
                        let q = try! Query.parse(json: #"{"metrics":["count"]}"#)
                        let r = try! store.query(application: "c", q)
                        guard case .int(let n) = r.rows.first?.metrics.first else { continue }
                        if Int(n) < last || Int(n) < floor {
                            readerFailures.withLock { $0.append("count \(n) after \(last), acknowledged \(floor)") }
                        }
                        last = Int(n)
                    }
                } else {
                    for _ in 0..<5 {
                        try! store.flush()
                        usleep(20_000)
                    }
                }
            }
            #expect(readerFailures.withLock { $0 }.isEmpty, "\(readerFailures.withLock { $0 }.prefix(3))")
            let total = acknowledged.withLock { $0 }
            #expect(total == writers * batches * 20)
            let r = try store.query(application: "c", Query.parse(json: #"{"metrics":["count"]}"#))
            #expect(r.rows.first?.metrics.first == .int(Int64(total)))
            try store.close()
            let again = try Store.open(at: dir)
            let r2 = try again.query(application: "c", Query.parse(json: #"{"metrics":["count"]}"#))
            #expect(r2.rows.first?.metrics.first == .int(Int64(total)))
            try again.close()
        }
    }
}

@Suite struct StoreParallelNormalizeTests {
    /// Large document batches are normalized on every core; outcomes must stay in document order.
    @Test func largeBatchesKeepOutcomeOrder() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            for round in 0..<5 {
                let docs: [ArraySlice<UInt8>] = (0..<6000).map { i in
                    (i % 97 == 0
                        ? #"{"user_id":"no name \#(i)"}"# : #"{"action_name":"n\#(i)","metadata":{"i":\#(i)}}"#)
                        .utf8.map { $0 }[...]
                }
                let r = try store.append(application: "p\(round)", documents: docs)
                #expect(r.outcomes.count == 6000)
                for (i, o) in r.outcomes.enumerated() {
                    switch o {
                    case .accepted: #expect(i % 97 != 0, "document \(i)")
                    case .rejected: #expect(i % 97 == 0, "document \(i)")
                    case .duplicate: Issue.record("no transaction ids here")
                    }
                }
            }
        }
    }
}

@Suite struct StoreBackpressureTests {
    /// When ingest outruns the flush, appends wait: memory held by memtables stays near twice
    /// `memtableBytesMax` (plus one batch), and nothing is lost.
    @Test func appendsWaitForTheFlush() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.memtableBytesMax = 256 << 10
            o.compaction.background = false
            let store = try Store.open(at: dir, options: o)
            let peak = Mutex2(0)
            let batchBytes = Mutex2(0)
            DispatchQueue.concurrentPerform(iterations: 3) { t in
                for b in 0..<40 {
                    let body =
                        "["
                        + (0..<100).map { i in
                            #"{"action_name":"t\#(t)","request":{"time":"2026-02-0\#(1 + i % 5)T00:00:00Z"},"#
                                + #""metadata":{"b":\#(b),"text":"\#(String(repeating: "x", count: 200))"}}"#
                        }.joined(separator: ",") + "]"
                    // A batch's columns hold about its JSON text plus 12 bytes a value, capacities rounded up.
                    batchBytes.withLock { $0 = max($0, body.utf8.count * 4) }
                    _ = try! store.append(application: "bp", json: Array(body.utf8))
                    let held = store.state.withLock { $0.memtableBytes + $0.flushingBytes }
                    peak.withLock { $0 = max($0, held) }
                }
            }
            let bound = 2 * o.memtableBytesMax + 3 * batchBytes.withLock { $0 }
            #expect(peak.withLock { $0 } <= bound, "peak \(peak.withLock { $0 }) > bound \(bound)")
            #expect(store.stats().segments > 0)
            let r = try store.query(application: "bp", Query.parse(json: #"{"metrics":["count"]}"#))
            #expect(r.rows.first?.metrics.first == .int(12_000))
            try store.close()
        }
    }
}
