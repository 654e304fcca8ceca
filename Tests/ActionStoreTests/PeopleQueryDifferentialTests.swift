import Testing

@testable import ActionStore

/// Random funnels and retention over random people's actions: the engine (records per source,
/// sorted per person, one pass) must equal the brute-force enumeration of `NaivePeopleQuery`.
@Suite struct PeopleQueryDifferentialTests {
    static let names = ["Viewed", "Signed Up", "Purchased", "Invited"]
    static let day: Int64 = 86_400_000_000

    static func action(_ rng: inout SeededRNG, _ earlier: [Action]) -> Action {
        let t0 = Timestamp.parse("2026-03-02T00:00:00Z")!
        var time = t0 + Int64.random(in: 0..<(100 * 144), using: &rng) * 600_000_000
        // Ties: often the time of an earlier action.
        if !earlier.isEmpty && Int.random(in: 0..<10, using: &rng) < 3 {
            time = earlier.randomElement(using: &rng)!.time
        }
        var a = Action(time: time, actionName: names.randomElement(using: &rng)!)
        let who = Int.random(in: 0..<20, using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: break  // no person
        case 1, 2: a.anonymousId = "v\(who)"
        case 3:
            a.userId = "u\(who)"
            a.anonymousId = "v\(who)"
        default: a.userId = "u\(who)"
        }
        if Int.random(in: 0..<10, using: &rng) > 2 { a.companyId = "c\(Int.random(in: 0..<4, using: &rng))" }
        if Int.random(in: 0..<10, using: &rng) > 3 {
            a.metadata = [
                MetadataField(
                    path: "provider",
                    value: .string(["Google", "GitHub", "Email"].randomElement(using: &rng)!)
                )
            ]
        }
        return a
    }

    static var schema: Schema {
        var s = Schema()
        s.apply(SchemaDelta(paths: [.init(name: "provider", type: .string)]))
        return s
    }

    static func step(_ rng: inout SeededRNG) -> Predicate {
        let a = QueryLiteral.string(names.randomElement(using: &rng)!)
        let b = QueryLiteral.string(names.randomElement(using: &rng)!)
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return .isIn(.fixed(.actionName), [a, b])
        case 1:
            return .or([.compare(.eq, .fixed(.actionName), a), .compare(.eq, .metadata("provider"), .string("Google"))])
        case 2: return .compare(.ne, .fixed(.actionName), a)
        default: return .compare(.eq, .fixed(.actionName), a)
        }
    }

    static func bounds(_ q: inout Query, _ rng: inout SeededRNG) {
        let t0 = Timestamp.parse("2026-03-02T00:00:00Z")!
        if Int.random(in: 0..<3, using: &rng) == 0 {
            q.from = t0 + Int64.random(in: 0..<40, using: &rng) * day + 3_600_000_000
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            q.to = t0 + Int64.random(in: 30..<110, using: &rng) * day - 7_000_000
        }
        if Int.random(in: 0..<4, using: &rng) == 0 {
            q.filter = .not(.compare(.eq, .fixed(.companyId), .string("c\(Int.random(in: 0..<4, using: &rng))")))
        }
    }

    /// Sources with and without app-wide codes (some values coded, some not) for the same data.
    static func sources(_ all: [Action], _ rng: inout SeededRNG, coded: Bool) -> ([any ScanSource], IdCodeSnapshot?) {
        var ids: IdCodeSnapshot?
        if coded {
            let dicts = IdDictionaries()
            dicts.fields.withLock { d in
                for (f, prefix, n) in [(IdField.userId, "u", 20), (.anonymousId, "v", 20), (.companyId, "c", 4)] {
                    for i in (0...n).shuffled(using: &rng) where rng.next() % 3 != 0 {
                        Array("\(prefix)\(i)".utf8).withUnsafeBytes {
                            _ = d[f.rawValue].insert($0, hash: IdDictionary.hash($0))
                        }
                    }
                }
            }
            ids = IdCodeSnapshot(dicts)
        }
        var out = [any ScanSource]()
        var rest = all[...]
        while !rest.isEmpty {
            let n = Swift.min(rest.count, Int.random(in: 1...200, using: &rng))
            var part = Array(rest.prefix(n))
            rest = rest.dropFirst(n)
            if Bool.random(using: &rng) { part.sort { $0.time < $1.time } }
            let base = ActionsSource(chunks: ColumnChunk.chunks(of: part), partitionKey: "p\(out.count % 2)", ids: ids)
            out.append(out.count % 2 == 0 ? base : IndexedSource(base: base))
        }
        return (out, ids)
    }

    @Test func randomFunnelsAndRetentionMatchReference() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRNG(seed: seed)
        let schema = Self.schema
        var checked = 0
        for round in 0..<12 {
            var all = [Action]()
            for _ in 0..<Int.random(in: 0...400, using: &rng) { all.append(Self.action(&rng, all)) }
            let (sources, ids) = Self.sources(all, &rng, coded: round % 2 == 1)
            for i in 0..<40 {
                var q = Query()
                Self.bounds(&q, &rng)
                let want: [QueryRow]
                if i % 2 == 0 {
                    let steps = (0..<Int.random(in: 1...4, using: &rng)).map { _ in Self.step(&rng) }
                    let window = [90_000_000, 1_800_000_000, 43_200_000_000, Self.day, 7 * Self.day].randomElement(
                        using: &rng
                    )!
                    q.funnel = Funnel(steps: steps, window: window)
                    let keys: [[GroupKey]] = [
                        [], [], [.field(.metadata("provider"))], [.field(.fixed(.companyId))],
                        [.field(.fixed(.userId))], [.time(.week, offsetSeconds: 0), .field(.fixed(.actionName))],
                    ]
                    q.groupBy = keys.randomElement(using: &rng)!
                    if Int.random(in: 0..<5, using: &rng) == 0 { q.limit = Int.random(in: 0...6, using: &rng) }
                    want = NaivePeopleQuery.funnel(q, q.funnel!, all, schema)
                } else {
                    let period = Retention.Period.allCases.randomElement(using: &rng)!
                    q.retention = Retention(
                        start: Self.step(&rng),
                        returning: Self.step(&rng),
                        period: period,
                        periods: Int.random(in: 1...(period == .day ? 20 : 8), using: &rng)
                    )
                    want = NaivePeopleQuery.retention(q, q.retention!, all)
                }
                var options = QueryOptions()
                options.parallelism = [1, 2, nil][i % 3]
                let got = try QueryEngine.run(q, sources: sources, schema: schema, options: options, ids: ids)
                #expect(
                    sameRows(got.rows, want),
                    "seed \(seed) round \(round) query \(i): \(q)\n got \(got.rows.prefix(8))\nwant \(want.prefix(8))"
                )
                if !sameRows(got.rows, want) { return }
                checked += 1
            }
        }
        #expect(checked == 480)
    }
}
