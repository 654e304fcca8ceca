import Testing

@testable import ActionStore

@Suite struct StorePeopleQueryTests {
    /// Funnels, retention and journeys through the store: actions in flushed segments (with
    /// app-wide id codes) and in memtables, across a reopen, equal the brute-force reference over
    /// the same actions.
    @Test func storeFunnelsRetentionAndJourneysEqualTheReference() throws {
        let seed = SeededRNG.testSeed("storeFunnelsRetentionAndJourneysEqualTheReference")
        var rng = SeededRNG(seed: seed)
        try withStoreDirectory { dir in
            var options = StoreOptions()
            options.partitioning = .month
            options.backgroundFlush = false
            options.segment.blockRows = 32
            do {
                let store = try Store.open(at: dir, options: options)
                var earlier = [Action]()
                for batch in 0..<4 {
                    let actions = (0..<Int.random(in: 50...200, using: &rng)).map { _ in
                        let a = PeopleQueryDifferentialTests.action(&rng, earlier)
                        earlier.append(a)
                        return a
                    }
                    #expect(try store.append(application: "app", actions: actions).accepted == actions.count)
                    if batch % 2 == 0 { try store.flush() }
                }
                try store.close()
            }
            let store = try Store.open(at: dir, options: options)
            defer { try? store.close() }
            let more = (0..<60).map { _ in PeopleQueryDifferentialTests.action(&rng, []) }
            #expect(try store.append(application: "app", actions: more).accepted == 60)
            var stored: [Action] = []
            try store.scan(application: "app") { stored.append($0) }
            #expect(store.stats().segments > 0)
            let schema = store.schema(application: "app")!
            // Actions that carry both ids alias the visitor (the first wins): the store's aliases.
            var aliases: [String: String] = [:]
            for a in stored {
                if let x = a.anonymousId, let u = store.aliasedUser(application: "app", anonymousId: x) {
                    aliases[x] = u
                }
            }
            #expect(!aliases.isEmpty, "the data has visitors identified by an action")
            for i in 0..<60 {
                var q = Query()
                PeopleQueryDifferentialTests.bounds(&q, &rng)
                let want: [QueryRow]
                if i % 2 == 0 {
                    let steps = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                        PeopleQueryDifferentialTests.step(&rng)
                    }
                    q.funnel = Funnel(steps: steps, window: 86_400_000_000 * Int64.random(in: 1...7, using: &rng))
                    q.groupBy = [[], [.field(.fixed(.companyId))], [.field(.metadata("provider"))]][i % 3]
                    want = NaivePeopleQuery.funnel(q, q.funnel!, stored, schema, aliases: aliases)
                } else {
                    q.retention = Retention(
                        start: PeopleQueryDifferentialTests.step(&rng),
                        returning: PeopleQueryDifferentialTests.step(&rng),
                        period: Retention.Period.allCases.randomElement(using: &rng)!,
                        periods: 6
                    )
                    want = NaivePeopleQuery.retention(q, q.retention!, stored, aliases: aliases)
                }
                let got = try store.query(application: "app", q)
                #expect(
                    sameRows(got.rows, want),
                    "seed \(seed) query \(i): \(q)\n got \(got.rows.prefix(6))\nwant \(want.prefix(6))"
                )
                if !sameRows(got.rows, want) { return }
            }
            // A journey: every action of u3, and the anonymous actions of the visitors aliased to
            // it, in time order.
            var rows = [QueryRow]()
            var cursor: String?
            repeat {
                var q = Query(limit: 7)
                q.journey = Journey(person: "u3", cursor: cursor)
                let r = try store.query(application: "app", q)
                rows += r.rows
                cursor = r.nextCursor
            } while cursor != nil
            let mine = stored.filter { a in
                if let u = a.userId { return u == "u3" }
                guard let x = a.anonymousId else { return false }
                return aliases[x].map { $0 == "u3" } ?? (x == "u3")
            }
            #expect(rows.count == mine.count, "seed \(seed)")
            #expect(rows.map { $0.keys[0] } == mine.map(\.time).sorted().map { .timestamp($0, offsetSeconds: 0) })
        }
    }
}
