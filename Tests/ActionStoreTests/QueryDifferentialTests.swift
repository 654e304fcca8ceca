import Testing

@testable import ActionStore

/// A naive row-by-row evaluator over `[Action]`, the reference for the columnar engine.
enum NaiveQuery {
    static func value(_ a: Action, _ f: QueryField) -> Value? {
        switch f {
        case .time: .int(a.time)
        case .fixed(let ff): a[ff].map { .string($0) }
        case .metadata(let p): a.metadataValue(p)
        }
    }

    static func cmp(_ v: Value, _ l: QueryLiteral) -> Int {
        switch (v, l) {
        case (.string(let a), .string(let b)): return a < b ? -1 : a == b ? 0 : 1
        case (.int(let a), .int(let b)): return a < b ? -1 : a == b ? 0 : 1
        case (.int(let a), .double(let b)): return Double(a) < b ? -1 : Double(a) == b ? 0 : 1
        case (.double(let a), .int(let b)): return a < Double(b) ? -1 : a == Double(b) ? 0 : 1
        case (.double(let a), .double(let b)): return a < b ? -1 : a == b ? 0 : 1
        case (.bool(let a), .bool(let b)): return a == b ? 0 : 2
        case (.array(let a), .array(let b)): return a == b ? 0 : 2
        case (.int(let t), .string(let s)):
            let b = Timestamp.parse(s)!
            return t < b ? -1 : t == b ? 0 : 1
        default: return 2
        }
    }

    static func matches(_ a: Action, _ p: Predicate) -> Bool {
        switch p {
        case .and(let ps): return ps.allSatisfy { matches(a, $0) }
        case .or(let ps): return ps.contains { matches(a, $0) }
        case .not(let q): return !matches(a, q)
        case .exists(let f):
            if case .metadata(let path) = f {
                return a.metadata.contains { $0.path == path || $0.path.hasPrefix(path + ".") }
            }
            return value(a, f) != nil
        case .prefix(let f, let s):
            guard case .string(let v)? = value(a, f) else { return false }
            return v.hasPrefix(s)
        case .isIn(let f, let ls):
            guard let v = value(a, f) else { return false }
            return ls.contains { cmp(v, $0) == 0 }
        case .compare(let op, let f, let l):
            guard let v = value(a, f) else { return false }
            let c = cmp(v, l)
            switch op {
            case .eq: return c == 0
            case .ne: return c != 0
            case .gt: return c == 1
            case .gte: return c == 0 || c == 1
            case .lt: return c == -1
            case .lte: return c == -1 || c == 0
            }
        }
    }

    static func bucket(_ t: Int64, _ g: TimeGranularity, _ offset: Int) -> Int64 {
        let off = Int64(offset) * 1_000_000
        let local = t + off
        let day: Int64 = 86_400_000_000
        var days = local / day
        if local % day < 0 { days -= 1 }
        let start: Int64
        switch g {
        case .minute: start = local - (((local % 60_000_000) + 60_000_000) % 60_000_000)
        case .hour: start = local - (((local % 3_600_000_000) + 3_600_000_000) % 3_600_000_000)
        case .day: start = days * day
        case .week:
            var d = Int(days)
            // Step back to Monday one day at a time: slow and obviously right.
            while true {
                let (y, m, dd) = Timestamp.civilFromDays(d)
                // Zeller-style weekday via a known Monday, 2024-01-01.
                let known = Timestamp.daysFromCivil(year: 2024, month: 1, day: 1)
                _ = (y, m, dd)
                if ((d - known) % 7 + 7) % 7 == 0 { break }
                d -= 1
            }
            start = Int64(d) * day
        case .month:
            let (y, m, _) = Timestamp.civilFromDays(Int(days))
            start = Int64(Timestamp.daysFromCivil(year: y, month: m, day: 1)) * day
        }
        return start - off
    }

    static func keyValue(_ a: Action, _ k: GroupKey, _ schema: Schema) -> QueryValue {
        switch k {
        case .time(let g, let offset): return .timestamp(bucket(a.time, g, offset), offsetSeconds: offset)
        case .field(.time): return .timestamp(a.time, offsetSeconds: 0)
        case .field(let f):
            if case .metadata(let p) = f, schema.type(ofPath: p) == nil { return .null }
            return qv(value(a, f))
        }
    }

    static func qv(_ v: Value?) -> QueryValue {
        switch v {
        case nil: .null
        case .string(let s)?: .string(s)
        case .int(let i)?: .int(i)
        case .double(let d)?: .number(d)
        case .bool(let b)?: .bool(b)
        case .array(let s)?: .json(s)
        }
    }

    static func metric(_ m: Metric, _ rows: [Action]) -> QueryValue {
        func values(_ f: QueryField) -> [Value] {
            rows.compactMap { a in
                if case .time = f { return .int(a.time) }
                return value(a, f)
            }
        }
        func distinct(_ f: QueryField) -> Set<QueryValue> {
            Set(
                values(f).map { v in
                    if case .time = f, case .int(let t) = v { return .timestamp(t, offsetSeconds: 0) }
                    return qv(v)
                }
            )
        }
        switch m {
        case .count: return .int(Int64(rows.count))
        case .uniquePeople:
            // No aliases here (sources without a store): user_id, else anonymous_id.
            return .int(
                Int64(Set(rows.compactMap { a in a.userId.map { "u:" + $0 } ?? a.anonymousId.map { "a:" + $0 } }).count)
            )
        case .unique(let f): return .int(Int64(distinct(f).count))
        case .approxUnique(let f):
            var h = HyperLogLog()
            for v in distinct(f) { h.insert(hash: HyperLogLog.hash(v)) }
            return .int(Int64(h.estimate.rounded()))
        case .sum(let f), .avg(let f), .min(let f), .max(let f), .percentile(_, let f):
            let vs = values(f)
            if vs.isEmpty { return .null }
            let ds = vs.map { $0.doubleValue! }
            let allInt = vs.allSatisfy { if case .int = $0 { true } else { false } }
            switch m {
            case .sum:
                if allInt {
                    var s: Int64 = 0
                    var over = false
                    for case .int(let i) in vs {
                        let (r, o) = s.addingReportingOverflow(i)
                        s = r
                        over = over || o
                    }
                    if !over { return .int(s) }
                }
                return .double(ds.reduce(0, +))
            case .avg: return .double(ds.reduce(0, +) / Double(ds.count))
            case .min: return .double(ds.min()!)
            case .max: return .double(ds.max()!)
            case .percentile(let p, _):
                let s = ds.sorted()
                let rank = Int((Double(p) / 100 * Double(s.count)).rounded(.up))
                return .double(s[Swift.max(rank, 1) - 1])
            default: fatalError()
            }
        }
    }

    static func run(_ q: Query, _ actions: [Action], _ schema: Schema) -> [QueryRow] {
        var groups = [[QueryValue]: [Action]]()
        for a in actions {
            if let f = q.from, a.time < f { continue }
            if let t = q.to, a.time >= t { continue }
            if let p = q.filter, !matches(a, p) { continue }
            groups[q.groupBy.map { keyValue(a, $0, schema) }, default: []].append(a)
        }
        if q.groupBy.isEmpty && groups.isEmpty { groups[[]] = [] }
        var rows = groups.map { k, rs in QueryRow(keys: k, metrics: q.metrics.map { metric($0, rs) }) }
        let timeKeys = q.groupBy.indices.filter { if case .time = q.groupBy[$0] { true } else { false } }
        let keyOrder = timeKeys + q.groupBy.indices.filter { !timeKeys.contains($0) }
        rows.sort { a, b in
            for o in q.orderBy {
                let c: Int
                switch o.target {
                case .metric(let n):
                    let i = q.metrics.firstIndex { $0.name == n }!
                    c = QueryValue.compare(a.metrics[i], b.metrics[i])
                case .key(let n):
                    let i = q.groupBy.firstIndex { $0.name == n }!
                    c = QueryValue.compare(a.keys[i], b.keys[i])
                }
                if c != 0 { return o.descending ? c > 0 : c < 0 }
            }
            for i in keyOrder {
                let c = QueryValue.compare(a.keys[i], b.keys[i])
                if c != 0 { return c < 0 }
            }
            return false
        }
        if let l = q.limit, rows.count > l { rows.removeSubrange(l...) }
        return rows
    }
}

/// A source that serves postings and dictionary checks, to exercise those paths.
struct IndexedSource: ScanSource {
    let base: ActionsSource
    var rowCount: Int { base.rowCount }
    var minTime: Int64 { base.minTime }
    var maxTime: Int64 { base.maxTime }
    var isSortedByTime: Bool { base.isSortedByTime }
    var partitionKey: String? { base.partitionKey }
    func times() throws -> [Int64] { try base.times() }
    func column(_ name: String) throws -> QueryColumn? { try base.column(name) }
    func columnNames() throws -> [String] { try base.columnNames() }
    func mayContain(column: String, value: Value) -> Bool? { base.mayContain(column: column, value: value) }
    func appCodes(column: String, dictionary: [String]) -> [UInt32]? {
        base.appCodes(column: column, dictionary: dictionary)
    }
    func postings(column: String, value: Value) throws -> [UInt32]? {
        guard case .string(let s) = value else { return nil }
        guard case .strings(let d, let codes, let p)? = try base.column(column) else { return [] }
        guard let c = d.firstIndex(of: s) else { return [] }
        return codes.indices.filter { codes[$0] == UInt32(c) && (p?[$0] ?? true) }.map(UInt32.init)
    }
}

enum QueryFixtures {
    static let t0 = Timestamp.parse("2026-06-01T00:00:00Z")!
    static let span: Int64 = 200 * 86_400_000_000
    static let names = ["Clicked Sign Up", "Purchased", "Viewed", "Logged In", "Cancelled"]
    static let providers = ["Google", "GitHub", "Email", "SAML", "Apple", "Okta"]
    static let tiers = ["free", "pro", "team", "enterprise"]
    static let tags = ["[\"a\"]", "[\"a\",\"b\"]", "[1,2]", "[]"]

    static func action(_ rng: inout SeededRNG) -> Action {
        var a = Action(
            time: t0 + Int64.random(in: 0..<span, using: &rng),
            actionName: names.randomElement(using: &rng)!
        )
        if Int.random(in: 0..<10, using: &rng) > 0 { a.userId = "u\(Int.random(in: 0..<60, using: &rng))" }
        if Int.random(in: 0..<10, using: &rng) > 2 { a.companyId = "c\(Int.random(in: 0..<8, using: &rng))" }
        if Int.random(in: 0..<10, using: &rng) > 1 { a.sessionToken = "s\(Int.random(in: 0..<100_000, using: &rng))" }
        if Bool.random(using: &rng) { a.requestVerb = ["GET", "POST", "PUT", "DELETE"].randomElement(using: &rng) }
        a.requestURI = "/api/v\(Int.random(in: 1...2, using: &rng))/x\(Int.random(in: 0..<20, using: &rng))"
        var m = [MetadataField]()
        func maybe(_ pct: Int, _ path: String, _ v: () -> Value) {
            if Int.random(in: 0..<100, using: &rng) < pct { m.append(MetadataField(path: path, value: v())) }
        }
        maybe(60, "provider") { .string(providers.randomElement(using: &rng)!) }
        maybe(70, "amount") {
            // Dyadic doubles sum exactly, so engine and reference agree bit for bit.
            Bool.random(using: &rng)
                ? .int(Int64.random(in: -50...500, using: &rng))
                : .double(Double(Int.random(in: -400...4000, using: &rng)) / 8)
        }
        maybe(50, "score") { .int(Int64.random(in: 0...10, using: &rng)) }
        maybe(50, "active") { .bool(Bool.random(using: &rng)) }
        maybe(20, "tags") { .array(tags.randomElement(using: &rng)!) }
        maybe(40, "plan.tier") { .string(tiers.randomElement(using: &rng)!) }
        maybe(30, "plan.seats") { .int(Int64.random(in: 1...5, using: &rng)) }
        a.metadata = m.sorted { $0.path < $1.path }
        return a
    }

    static var schema: Schema {
        var s = Schema()
        s.apply(
            SchemaDelta(paths: [
                .init(name: "provider", type: .string), .init(name: "amount", type: .number),
                .init(name: "score", type: .number), .init(name: "active", type: .boolean),
                .init(name: "tags", type: .array), .init(name: "plan", type: .object),
                .init(name: "plan.tier", type: .string), .init(name: "plan.seats", type: .number),
                // Seen by the application but in no source here.
                .init(name: "ghost", type: .string),
            ])
        )
        return s
    }
}

struct QueryGenerator {
    var rng: SeededRNG

    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    mutating func pick<T>(_ a: [T]) -> T { a[int(0...(a.count - 1))] }

    mutating func time() -> Int64 {
        QueryFixtures.t0 + Int64.random(in: -86_400_000_000...QueryFixtures.span, using: &rng)
    }

    mutating func literal(for field: String) -> QueryLiteral {
        switch field {
        case "action_name": .string(pick(QueryFixtures.names + ["Nope"]))
        case "user_id": .string("u\(int(0...70))")
        case "company_id": .string("c\(int(0...9))")
        case "request.verb": .string(pick(["GET", "POST", "PATCH"]))
        case "request.uri": .string("/api/v\(int(1...3))/x\(int(0...21))")
        case "metadata.provider", "metadata.ghost": .string(pick(QueryFixtures.providers + ["Nope"]))
        case "metadata.plan.tier": .string(pick(QueryFixtures.tiers))
        case "metadata.amount":
            Bool.random(using: &rng) ? .int(Int64(int(-60...520))) : .double(Double(int(-400...4000)) / 8)
        case "metadata.score", "metadata.plan.seats": .int(Int64(int(0...10)))
        case "metadata.active": .bool(Bool.random(using: &rng))
        case "metadata.tags": .array(pick(QueryFixtures.tags))
        case "time": Bool.random(using: &rng) ? .int(time()) : .string(Timestamp.format(time()))
        default: .string("x")
        }
    }

    mutating func predicate(depth: Int) -> Predicate {
        if depth < 2 && int(0...3) == 0 {
            let children = (0..<int(0...3)).map { _ in predicate(depth: depth + 1) }
            switch int(0...2) {
            case 0: return .and(children)
            case 1: return .or(children)
            default: return .not(predicate(depth: depth + 1))
            }
        }
        let fields = [
            "action_name", "user_id", "company_id", "request.verb", "request.uri", "metadata.provider",
            "metadata.ghost", "metadata.plan.tier", "metadata.amount", "metadata.score", "metadata.plan.seats",
            "metadata.active", "metadata.tags", "time", "metadata.unseen", "metadata.plan",
        ]
        let name = pick(fields)
        let f = QueryField(name: name)!
        if name == "metadata.unseen" { return .compare(pick(ComparisonOperator.allCases), f, .int(1)) }
        if name == "metadata.plan" || int(0...9) == 0 { return .exists(f) }
        let isString =
            ["action_name", "user_id", "company_id", "request.verb", "request.uri"].contains(name)
            || ["metadata.provider", "metadata.ghost", "metadata.plan.tier"].contains(name)
        let isEqOnly = name == "metadata.active" || name == "metadata.tags"
        switch int(0...3) {
        case 0: return .isIn(f, (0..<int(0...3)).map { _ in literal(for: name) })
        case 1 where isString:
            if case .string(let s) = literal(for: name) { return .prefix(f, String(s.prefix(int(0...4)))) }
            fallthrough
        default:
            let op = isEqOnly ? pick([ComparisonOperator.eq, .ne]) : pick(ComparisonOperator.allCases)
            return .compare(op, f, literal(for: name))
        }
    }

    mutating func query() -> Query {
        var q = Query()
        if int(0...2) == 0 { q.from = time() }
        if int(0...2) == 0 { q.to = time() }
        if int(0...4) > 0 { q.filter = predicate(depth: 0) }
        var keys = [GroupKey]()
        let candidates: [GroupKey] = [
            .field(.fixed(.actionName)), .field(.fixed(.userId)), .field(.fixed(.companyId)),
            .field(.fixed(.requestVerb)), .field(.metadata("provider")), .field(.metadata("amount")),
            .field(.metadata("active")), .field(.metadata("tags")), .field(.metadata("plan.tier")),
            .field(.metadata("unseen")), .field(.metadata("ghost")), .field(.metadata("score")),
        ]
        if int(0...1) == 0 {
            let offsets = [0, 7200, -19_800, 50_400, -3600]
            keys.append(.time(pick(TimeGranularity.allCases), offsetSeconds: pick(offsets)))
        }
        for _ in 0..<int(0...2) {
            let k = pick(candidates)
            if !keys.contains(k) { keys.append(k) }
        }
        if int(0...30) == 0 { keys = [.field(.time)] }
        keys.shuffle(using: &rng)
        q.groupBy = keys
        let amount = QueryField.metadata(pick(["amount", "score", "plan.seats", "unseen"]))
        let metrics: [Metric] = [
            .count, .unique(.fixed(.userId)), .unique(.fixed(.companyId)), .unique(.fixed(.sessionToken)),
            .unique(.metadata("provider")), .unique(.metadata("amount")), .approxUnique(.fixed(.userId)),
            .approxUnique(.metadata("amount")), .sum(amount), .avg(amount), .min(amount), .max(amount),
            .percentile(pick([50, 90, 95, 99]), amount), .unique(.metadata("tags")), .unique(.metadata("active")),
            .uniquePeople,
        ]
        var ms = [Metric]()
        for _ in 0..<int(1...4) {
            let m = pick(metrics)
            if !ms.contains(where: { $0.name == m.name }) { ms.append(m) }
        }
        q.metrics = ms
        for _ in 0..<int(0...2) {
            if Bool.random(using: &rng) {
                q.orderBy.append(OrderTerm(.metric(pick(ms).name), descending: Bool.random(using: &rng)))
            } else if !keys.isEmpty {
                q.orderBy.append(OrderTerm(.key(pick(keys).name), descending: Bool.random(using: &rng)))
            }
        }
        if int(0...2) == 0 { q.limit = int(0...15) }
        return q
    }
}

func sameValue(_ a: QueryValue, _ b: QueryValue) -> Bool {
    if let x = a.doubleValue, let y = b.doubleValue {
        return x == y || abs(x - y) <= 1e-9 * Swift.max(abs(x), abs(y))
    }
    return a == b
}

func sameRows(_ a: [QueryRow], _ b: [QueryRow]) -> Bool {
    guard a.count == b.count else { return false }
    for (x, y) in zip(a, b) {
        guard x.keys == y.keys, x.metrics.count == y.metrics.count else { return false }
        for (m, n) in zip(x.metrics, y.metrics) where !sameValue(m, n) { return false }
    }
    return true
}

@Suite struct QueryDifferentialTests {
    @Test func randomQueriesMatchReference() throws {
        let seed = SeededRNG.testSeed("randomQueriesMatchReference")
        var rng = SeededRNG(seed: seed)
        let schema = QueryFixtures.schema
        var checked = 0
        for round in 0..<10 {
            var sources = [any ScanSource]()
            var all = [Action]()
            // Odd rounds give id values app-wide codes, some of them (as a store upgraded from a
            // release without codes has): group keys and distinct counts then mix codes and values.
            var ids: IdCodeSnapshot?
            if round % 2 == 1 {
                let dicts = IdDictionaries()
                dicts.fields.withLock { d in
                    for (f, prefix, n) in [(IdField.userId, "u", 70), (.companyId, "c", 9)] {
                        for i in (0...n).shuffled(using: &rng) where rng.next() % 4 != 0 {
                            Array("\(prefix)\(i)".utf8).withUnsafeBytes {
                                _ = d[f.rawValue].insert($0, hash: IdDictionary.hash($0))
                            }
                        }
                    }
                }
                ids = IdCodeSnapshot(dicts)
            }
            for s in 0..<Int.random(in: 1...6, using: &rng) {
                let n = [0, 1, 7, 100, 400, 2000].randomElement(using: &rng)!
                var actions = (0..<n).map { _ in QueryFixtures.action(&rng) }
                if Bool.random(using: &rng) { actions.sort { $0.time < $1.time } }
                all += actions
                let base = ActionsSource(chunks: ColumnChunk.chunks(of: actions), partitionKey: "p\(s % 2)", ids: ids)
                sources.append(s % 2 == 0 ? base : IndexedSource(base: base))
            }
            var gen = QueryGenerator(rng: SeededRNG(seed: rng.next()))
            for i in 0..<110 {
                let q = gen.query()
                var options = QueryOptions()
                options.parallelism = [1, 2, nil][i % 3]
                let got = try QueryEngine.run(q, sources: sources, schema: schema, options: options, ids: ids)
                let want = NaiveQuery.run(q, all, schema)
                #expect(
                    sameRows(got.rows, want),
                    "seed \(seed) round \(round) query \(i): \(q)\n got \(got.rows.prefix(5))\nwant \(want.prefix(5))"
                )
                if !sameRows(got.rows, want) { return }
                checked += 1
            }
        }
        #expect(checked >= 1000)
    }
}
