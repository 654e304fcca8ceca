import Foundation
import Testing

@testable import ActionStore

@Suite struct StoreQueryTests {
    /// The whole read path: actions stored through the store, some flushed to segments (several
    /// blocks each, indexes and all), some still in memtables, across restarts; random queries
    /// answered by `Store.query` must equal the naive row-by-row evaluator over the same actions.
    @Test func storeAnswersEqualTheReference() throws {
        let seed = SeededRNG.testSeed("storeAnswersEqualTheReference")
        var rng = SeededRNG(seed: seed)
        try withStoreDirectory { dir in
            var options = StoreOptions()
            options.partitioning = .month
            options.backgroundFlush = false
            options.segment.blockRows = 64
            var all: [Action] = []
            do {
                let store = try Store.open(at: dir, options: options)
                for batch in 0..<6 {
                    let actions = (0..<Int.random(in: 50...700, using: &rng)).map { _ in QueryFixtures.action(&rng) }
                    let r = try store.append(application: "app", actions: actions)
                    #expect(r.accepted == actions.count, "seed \(seed)")
                    all += actions
                    if batch % 2 == 0 { try store.flush() }
                }
                // Another application's actions must never show up.
                _ = try store.append(application: "other", actions: (0..<50).map { _ in QueryFixtures.action(&rng) })
                try store.close()
            }
            let store = try Store.open(at: dir, options: options)
            defer { try? store.close() }
            _ = try store.append(application: "app", actions: (0..<80).map { _ in QueryFixtures.action(&rng) })
                .outcomes.count
            // (Those 80 are in memory only; fetch them back through scan to include them.)
            var stored: [Action] = []
            try store.scan(application: "app") { stored.append($0) }
            #expect(stored.count == all.count + 80, "seed \(seed)")
            #expect(store.stats().segments > 0)
            let schema = store.schema(application: "app")!
            var gen = QueryGenerator(rng: SeededRNG(seed: rng.next()))
            var checked = 0
            for i in 0..<300 {
                let q = gen.query()
                let got = try store.query(application: "app", q)
                let want = NaiveQuery.run(q, stored, schema)
                #expect(
                    sameRows(got.rows, want),
                    "seed \(seed) query \(i): \(q)\n got \(got.rows.prefix(5))\nwant \(want.prefix(5))"
                )
                if !sameRows(got.rows, want) { return }
                checked += 1
            }
            #expect(checked == 300)
        }
    }

    @Test func exportRoundTripsThroughScan() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            let body =
                #"{"action_name":"a","user_id":"u","request":{"time":"2026-01-02T03:04:05.5Z"},"metadata":{"x":{"y":1.5},"t":[1,2]}}"#
            _ = try store.append(application: "p", json: Array(body.utf8))
            try store.flush()
            var out: [Action] = []
            try store.scan(application: "p") { out.append($0) }
            #expect(out.count == 1)
            #expect(out.first?.metadataValue("x.y") == .double(1.5))
            #expect(out.first?.metadataValue("t") == .array("[1,2]"))
            #expect(out.first?.time == Timestamp.parse("2026-01-02T03:04:05.5Z"))
        }
    }
}
