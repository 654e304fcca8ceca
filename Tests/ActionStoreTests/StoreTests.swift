import Foundation
import Testing

@testable import ActionStore

/// A fresh store directory per test.
func withStoreDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

private func json(_ s: String) -> [UInt8] { Array(s.utf8) }

private func count(_ store: Store, _ app: String, _ q: String = #"{"metrics":["count"]}"#) throws -> Int {
    let r = try store.query(application: app, Query.parse(json: q))
    guard case .int(let n) = r.rows.first?.metrics.first else { return -1 }
    return Int(n)
}

@Suite struct StoreTests {
    @Test func appendQueryReopen() throws {
        try withStoreDirectory { dir in
            do {
                let store = try Store.open(at: dir)
                let r = try store.append(
                    application: "prod",
                    json: json(
                        #"[{"action_name":"Clicked Sign Up","request":{"time":"2026-09-01T10:00:00Z"},"metadata":{"provider":"Google"}},"#
                            + #"{"action_name":"Clicked Sign Up","request":{"time":"2026-09-02T10:00:00Z"},"metadata":{"provider":"GitHub"}},"#
                            + #"{"user_id":"no name"}]"#
                    )
                )
                #expect(r.accepted == 2)
                #expect(r.rejected == 1)
                #expect(try count(store, "prod") == 2, "read-your-writes from the memtable")
                try store.close()
            }
            // Reopen: the journal is replayed.
            do {
                let store = try Store.open(at: dir)
                #expect(try count(store, "prod") == 2)
                #expect(store.schema(application: "prod")?.type(ofPath: "provider") == .string)
                try store.flush()
                #expect(store.stats().segments == 2, "one segment per day partition")
                #expect(try count(store, "prod") == 2)
                try store.close()
            }
            // Reopen after the flush: from segments, journal checkpointed.
            let store = try Store.open(at: dir)
            #expect(try count(store, "prod") == 2)
            let byProvider = try store.query(
                application: "prod",
                Query.parse(json: #"{"group_by":["metadata.provider"],"metrics":["count"]}"#)
            )
            #expect(byProvider.rows.map { $0.keys.first?.json ?? "" } == [#""GitHub""#, #""Google""#])
            // A schema conflict is still a conflict after restarts.
            let bad = try store.append(
                application: "prod",
                json: json(#"{"action_name":"x","metadata":{"provider":1}}"#)
            )
            #expect(bad.rejected == 1)
            try store.close()
        }
    }

    @Test func secondOpenerGetsLockedError() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            do {
                _ = try Store.open(at: dir)
                Issue.record("second open succeeded")
            } catch let e as ActionStoreError {
                #expect(e.code == .locked)
                #expect(e.message.contains(dir))
                #expect(e.message.contains("pid \(getpid())"))
            }
        }
    }

    /// Whichever of several concurrent `close()` calls returns, the store is closed and its
    /// directory lock released: a reopen right after any of them succeeds.
    @Test func concurrentClosesAllWaitForTheLockRelease() throws {
        try withStoreDirectory { dir in
            for _ in 0..<10 {
                let store = try Store.open(at: dir)
                _ = try store.append(application: "c", json: json(#"{"action_name":"a"}"#))
                // Failed reopens; the reopens themselves take turns (`turns`) so they cannot collide.
                let failures = Mutex2<[String]>([])
                let turns = NSLock()
                DispatchQueue.concurrentPerform(iterations: 3) { _ in
                    try? store.close()
                    turns.withLock {
                        do { try Store.open(at: dir).close() } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                }
                #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            }
        }
    }

    @Test func concurrentWritersIntroducingOneKeyExactlyOneWins() throws {
        for round in 0..<20 {
            try withStoreDirectory { dir in
                let store = try Store.open(at: dir)
                defer { try? store.close() }
                let results = Mutex2<[Int: AppendResult]>([:])
                DispatchQueue.concurrentPerform(iterations: 2) { i in
                    let value = i == 0 ? #""text""# : "42"
                    let r = try! store.append(
                        application: "a",
                        json: json(#"{"action_name":"x","metadata":{"k\#(round)":\#(value)}}"#)
                    )
                    results.withLock { $0[i] = r }
                }
                let all = results.withLock { $0 }
                #expect(all.values.map(\.accepted).reduce(0, +) == 1, "round \(round)")
                let loser = all.values.first { $0.rejected == 1 }
                guard case .rejected(let e) = loser?.outcomes.first else {
                    Issue.record("no conflict error")
                    return
                }
                #expect(e.code == .schemaConflict)
            }
        }
    }

    @Test func badDocumentDoesNotDropNeighbours() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            let lines: [ArraySlice<UInt8>] = [
                #"{"action_name":"a"}"#, #"{"action_name":"#, #"{"action_name":"b","metadata":{"n":1}}"#,
                #"{"action_name":"c","metadata":{"n":"s"}}"#,
            ].map { Array($0.utf8)[...] }
            let r = try store.append(application: "x", documents: lines)
            #expect(r.accepted == 2)
            guard case .rejected(let e1) = r.outcomes[1], case .rejected(let e3) = r.outcomes[3] else {
                Issue.record("expected rejections")
                return
            }
            #expect(e1.code == .invalidJSON)
            #expect(e3.code == .schemaConflict)
        }
    }

    @Test func automaticFlushAtRowThreshold() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.memtableRowsMax = 100
            o.compaction.background = false  // would merge the segments this test counts
            let store = try Store.open(at: dir, options: o)
            for i in 0..<10 {
                let body = "[" + (0..<50).map { j in #"{"action_name":"n\#(i)-\#(j)"}"# }.joined(separator: ",") + "]"
                _ = try store.append(application: "a", json: json(body), receivedAt: 1_790_000_000_000_000)
            }
            try store.flush()
            #expect(store.stats().segments >= 2)
            #expect(try count(store, "a") == 500)
            try store.close()
            let again = try Store.open(at: dir)
            #expect(try count(again, "a") == 500)
            #expect(again.stats().journalFiles <= 2, "journal files before the checkpoint are deleted")
            try again.close()
        }
    }

    @Test func asyncAppend() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store.open(at: dir)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try await store.append(application: "a", json: Array(#"{"action_name":"t\#(i)"}"#.utf8)).accepted
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 16)
        }
        #expect(try count(store, "a") == 16)
        try store.close()
    }

    @Test func typedAppendChecksTheSchema() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            let a = Action(time: 0, actionName: "x", metadata: [MetadataField(path: "o.k", value: .int(1))])
            #expect(try store.append(application: "a", actions: [a]).accepted == 1)
            let b = Action(time: 0, actionName: "x", metadata: [MetadataField(path: "o", value: .string("s"))])
            #expect(try store.append(application: "a", actions: [b]).rejected == 1)
        }
    }
}

/// A tiny lock box for test bookkeeping.
final class Mutex2<T>: @unchecked Sendable {
    // Safe because every access goes through `lock`.
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func withLock<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

@Suite struct ReadmeExampleTests {
    /// The embedding example of README.md, line for line (in a temporary folder): it must keep working.
    @Test func readmeEmbeddingExample() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            let body = #"{"action_name": "Clicked Sign Up", "user_id": "u1", "metadata": {"provider": "Google"}}"#
            let result = try store.append(application: "prod", json: Array(body.utf8))  // durable on return
            #expect(result.accepted == 1 && result.rejected == 0)
            let q = try Query.parse(
                json: #"{"group_by": [{"time": "day"}, "metadata.provider"], "metrics": ["count"]}"#
            )
            let json = try store.query(application: "prod", q).json()
            #expect(json.contains(#""metadata.provider": "Google", "count": 1"#), "\(json)")
            try store.close()
        }
    }
}

@Suite struct StoreColumnarTests {
    /// Issue 13 item 10: a typed action naming one path twice once made the flush throw a sticky
    /// error, and replay brought the row back, so the store never flushed again.
    @Test func typedActionWithAPathTwiceFlushesWithItsLastValue() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            do {
                let store = try Store.open(at: dir, options: o)
                let a = Action(
                    time: Timestamp.parse("2026-09-01T00:00:00Z")!,
                    actionName: "a",
                    metadata: [.init(path: "n", value: .int(1)), .init(path: "n", value: .int(2))]
                )
                #expect(try store.append(application: "p", actions: [a]).accepted == 1)
                try store.flush()
                #expect(store.stats().segments == 1)
                try store.close()
            }
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            let r = try store.query(application: "p", Query.parse(json: #"{"metrics":[{"sum":"metadata.n"}]}"#))
            #expect(r.rows.first?.metrics.first == .int(2))
        }
    }

    /// The journal holds columns now: a reopen replays them into chunks, and what a query sees is
    /// the same before and after.
    @Test func replayedChunksAnswerLikeTheOriginals() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            var rng = SeededRNG("store-columnar")
            let actions = SegmentFixtures.actions(count: 2000, rng: &rng, variant: 0).filter { !$0.actionName.isEmpty }
                .map {
                    a -> Action in
                    var a = a
                    a.time = Timestamp.parse("2026-09-01T00:00:00Z")! + (a.time & 0xFFFF_FFFF)
                    a.transactionId = nil
                    return a
                }
            let q = try Query.parse(
                json:
                    #"{"group_by":["action_name","metadata.provider"],"metrics":["count",{"sum":"metadata.amount"},"unique_users"],"order_by":[{"key":"action_name"},{"key":"metadata.provider"}]}"#
            )
            let before: String
            do {
                let store = try Store.open(at: dir, options: o)
                #expect(try store.append(application: "p", actions: actions).accepted == actions.count)
                before = try store.query(application: "p", q).rowsJSON
                try store.close()
            }
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            #expect(try store.query(application: "p", q).rowsJSON == before)
            var seen = 0
            try store.scan(application: "p") { _ in seen += 1 }
            #expect(seen == actions.count)
        }
    }
}

extension QueryResult {
    /// The result's JSON without its stats (which hold times).
    var rowsJSON: String {
        let j = json()
        return String(j[..<(j.range(of: ", \"stats\"")?.lowerBound ?? j.endIndex)])
    }
}

/// Issue 13 item 9: strings compare by bytes everywhere, as in DuckDB and ClickHouse.
@Suite struct ByteStringTests {
    @Test func spellingsOfOneTextAreTwoValuesGroupsAndPaths() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            let nfc = "caf\u{e9}"
            let nfd = "cafe\u{301}"
            func body(_ p: String, _ n: Int) -> [UInt8] {
                let one =
                    #"{"action_name":"a","request":{"time":"2026-09-01T00:00:00Z"},"metadata":{"p":"\#(p)","#
                    + #""\#(p)":\#(n)}}"#
                return Array(("[" + Array(repeating: one, count: n).joined(separator: ",") + "]").utf8)
            }
            #expect(try store.append(application: "x", json: body(nfc, 2)).accepted == 2)
            try store.flush()
            // The NFD key is another key: a string there is no conflict with the NFC number.
            #expect(try store.append(application: "x", json: body(nfd, 3)).accepted == 3)
            #expect(try store.append(application: "x", json: Array(#"{"action_name":"Z"}"#.utf8)).accepted == 1)
            let schema = try #require(store.schema(application: "x"))
            #expect(schema.type(ofPath: nfc) == .number && schema.type(ofPath: nfd) == .number)
            for q in [
                #"{"group_by":["metadata.p"],"metrics":["count"],"order_by":[{"key":"metadata.p"}]}"#,
                #"{"where":{"eq":["metadata.p","\#(nfd)"]},"metrics":["count"]}"#,
                #"{"where":{"prefix":["metadata.p","cafe"]},"metrics":["count"]}"#,
                #"{"metrics":[{"sum":"metadata.\#(nfc)"},{"sum":"metadata.\#(nfd)"}]}"#,
                #"{"group_by":["action_name"],"metrics":["count"]}"#,
            ] {
                let r = try store.query(application: "x", Query.parse(json: q))
                switch q {
                case _ where q.contains("group_by\":[\"metadata.p"):
                    // Byte order: "cafe" + U+0301 (65 cc 81) before "caf" + U+00E9 (c3 a9).
                    #expect(r.rows.map(\.keys) == [[.string(nfd)], [.string(nfc)], [.null]])
                    #expect(r.rows.map(\.metrics) == [[.int(3)], [.int(2)], [.int(1)]])
                case _ where q.contains("\"eq\""): #expect(r.rows.first?.metrics == [.int(3)])
                case _ where q.contains("prefix"): #expect(r.rows.first?.metrics == [.int(3)])
                case _ where q.contains("sum"): #expect(r.rows.first?.metrics == [.int(4), .int(9)])
                default: #expect(r.rows.map(\.keys) == [[.string("Z")], [.string("a")]], "\(r.rows)")
                }
            }
        }
    }
}
