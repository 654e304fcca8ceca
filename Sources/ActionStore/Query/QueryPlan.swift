/// The schema type of a field as the engine evaluates it.
enum FieldKind: Sendable, Hashable {
    case time, string, number, boolean, array

    var name: String {
        switch self {
        case .time: "time"
        case .string: "string"
        case .number: "number"
        case .boolean: "boolean"
        case .array: "array"
        }
    }

    /// Whether a column's storage type can hold this kind.
    func fits(_ c: QueryColumn) -> Bool {
        switch (self, c) {
        case (.string, .strings), (.number, .ints), (.number, .doubles), (.boolean, .bools), (.array, .arrays),
            (.time, .ints):
            true
        default: false
        }
    }
}

/// Where a group key or metric reads its values.
enum ValueSource: Sendable, Hashable {
    case time
    case column(String, FieldKind)
    /// A path the application never saw: every row is missing it.
    case missing

    /// Column names compare by bytes (NFC and NFD spellings of a path are two columns).
    static func == (a: ValueSource, b: ValueSource) -> Bool {
        switch (a, b) {
        case (.time, .time), (.missing, .missing): return true
        case (.column(let x, let kx), .column(let y, let ky)): return kx == ky && utf8Equal(x, y)
        default: return false
        }
    }

    func hash(into h: inout Hasher) {
        switch self {
        case .time: h.combine(0)
        case .missing: h.combine(1)
        case .column(let name, let kind):
            h.combine(2)
            utf8Hash(name, into: &h)
            h.combine(kind)
        }
    }
}

/// A leaf test on one value.
enum LeafTest: Sendable, Hashable {
    case compare(ComparisonOperator, QueryLiteral)
    case isIn([QueryLiteral])
    case prefix(String)
    case exists

    func matches(string s: String) -> Bool {
        switch self {
        case .compare(let op, .string(let l)): return ComparisonOperator.apply(op, utf8Compare(s, l))
        case .isIn(let ls): return ls.contains(.string(s))
        case .prefix(let p): return s.utf8.starts(with: p.utf8)
        case .exists: return true
        default: return false
        }
    }

    func matches(int v: Int64) -> Bool {
        switch self {
        case .compare(let op, let l): return ComparisonOperator.apply(op, LeafTest.compare(int: v, l))
        case .isIn(let ls): return ls.contains { LeafTest.compare(int: v, $0) == 0 }
        case .exists: return true
        default: return false
        }
    }

    func matches(double v: Double) -> Bool {
        switch self {
        case .compare(let op, let l): return ComparisonOperator.apply(op, LeafTest.compare(double: v, l))
        case .isIn(let ls): return ls.contains { LeafTest.compare(double: v, $0) == 0 }
        case .exists: return true
        default: return false
        }
    }

    func matches(bool b: Bool) -> Bool {
        switch self {
        case .compare(let op, .bool(let l)): return ComparisonOperator.apply(op, b == l ? 0 : 1)
        case .isIn(let ls): return ls.contains(.bool(b))
        case .exists: return true
        default: return false
        }
    }

    func matches(array s: String) -> Bool {
        switch self {
        case .compare(let op, .array(let l)): return ComparisonOperator.apply(op, utf8Equal(s, l) ? 0 : 1)
        case .isIn(let ls): return ls.contains(.array(s))
        case .exists: return true
        default: return false
        }
    }

    /// Ints compare exactly with int literals, and as Doubles with double literals.
    /// - Returns: -1, 0 or 1; 2 when incomparable (a non-number literal).
    static func compare(int v: Int64, _ l: QueryLiteral) -> Int {
        switch l {
        case .int(let x): v < x ? -1 : v == x ? 0 : 1
        case .double(let x): Double(v) < x ? -1 : Double(v) == x ? 0 : 1
        default: 2
        }
    }

    static func compare(double v: Double, _ l: QueryLiteral) -> Int {
        let x: Double
        switch l {
        case .int(let i): x = Double(i)
        case .double(let d): x = d
        default: return 2
        }
        return v < x ? -1 : v == x ? 0 : 1
    }
}

extension ComparisonOperator {
    /// Applies the operator to a three-way comparison (2 = incomparable, which only `ne` accepts).
    @inline(__always) static func apply(_ op: ComparisonOperator, _ c: Int) -> Bool {
        switch op {
        case .eq: c == 0
        case .ne: c != 0
        case .gt: c == 1
        case .gte: c == 0 || c == 1
        case .lt: c == -1
        case .lte: c == -1 || c == 0
        }
    }
}

/// A type-checked filter.
indirect enum Filter: Sendable, Hashable {
    case all
    case none
    case leaf(ValueSource, LeafTest)
    case and([Filter])
    case or([Filter])
    case not(Filter)
}

/// What an accumulator slot collects per group; metrics share slots (`sum(x)` and `avg(x)` one).
enum AccKind: Sendable, Hashable {
    case count
    case numeric(ValueSource)
    case distinct(ValueSource)
    case approxDistinct(ValueSource)
    case values(ValueSource)
    /// Distinct people (`PersonKeys`), kept as `.distinct` state.
    case people
}

/// A query checked against a schema and lowered for execution.
struct QueryPlan: Sendable {
    var from: Int64?
    var to: Int64?
    var filter: Filter
    var keys: [ValueSource]
    /// For each key, its time bucket, if any.
    var buckets: [(TimeGranularity, Int)?]
    var keyNames: [String]
    var slots: [AccKind]
    /// For each metric, its slot.
    var metricSlots: [Int]
    var metrics: [Metric]
    var orderBy: [(isMetric: Bool, index: Int, descending: Bool)]
    /// Key indexes in default order: time buckets first, then the rest in `group_by` order.
    var defaultKeyOrder: [Int]
    var limit: Int?

    init(_ q: Query, schema: Schema) throws {
        from = q.from
        to = q.to
        filter = try q.filter.map { try QueryPlan.lower($0, schema, at: "where") } ?? .all
        keys = []
        buckets = []
        keyNames = []
        for (i, k) in q.groupBy.enumerated() {
            let at = "group_by[\(i)]"
            guard !keyNames.contains(where: { utf8Equal($0, k.name) }) else {
                throw QueryParser.error(at, "duplicate group key '\(k.name)'")
            }
            keyNames.append(k.name)
            switch k {
            case .time(let g, let offset):
                keys.append(.time)
                buckets.append((g, offset))
            case .field(let f):
                keys.append(try QueryPlan.source(f, schema, at: at, use: "group by"))
                buckets.append(nil)
            }
        }
        slots = []
        metricSlots = []
        metrics = q.metrics
        var names = Set<UTF8Key>()
        for (i, m) in q.metrics.enumerated() {
            let at = "metrics[\(i)]"
            guard names.insert(UTF8Key(s: m.name)).inserted else {
                throw QueryParser.error(at, "duplicate metric '\(m.name)'")
            }
            let kind: AccKind
            switch m {
            case .count: kind = .count
            case .uniquePeople: kind = .people
            case .unique(let f): kind = .distinct(try QueryPlan.source(f, schema, at: at, use: "unique"))
            case .approxUnique(let f):
                kind = .approxDistinct(try QueryPlan.source(f, schema, at: at, use: "approx_unique"))
            case .sum(let f), .avg(let f), .min(let f), .max(let f):
                kind = .numeric(try QueryPlan.numericSource(f, schema, at: at, metric: m))
            case .percentile(_, let f):
                kind = .values(try QueryPlan.numericSource(f, schema, at: at, metric: m))
            }
            if let s = slots.firstIndex(of: kind) {
                metricSlots.append(s)
            } else {
                metricSlots.append(slots.count)
                slots.append(kind)
            }
        }
        orderBy = []
        for (i, t) in q.orderBy.enumerated() {
            switch t.target {
            case .metric(let name):
                guard let m = q.metrics.firstIndex(where: { utf8Equal($0.name, name) }) else {
                    throw QueryParser.error(
                        "order_by[\(i)]",
                        "unknown metric '\(name)' (the query's metrics are: \(q.metrics.map(\.name).joined(separator: ", ")))"
                    )
                }
                orderBy.append((true, m, t.descending))
            case .key(let name):
                guard let k = keyNames.firstIndex(where: { utf8Equal($0, name) }) else {
                    throw QueryParser.error(
                        "order_by[\(i)]",
                        "unknown group key '\(name)' (the query's keys are: \(keyNames.joined(separator: ", ")))"
                    )
                }
                orderBy.append((false, k, t.descending))
            }
        }
        let b = buckets
        defaultKeyOrder = b.indices.filter { b[$0] != nil } + b.indices.filter { b[$0] == nil }
        limit = q.limit
    }

    static func kind(of f: QueryField, _ schema: Schema) -> FieldKind?? {
        switch f {
        case .time: return .time
        case .fixed: return .string
        case .metadata(let p):
            guard let t = schema.type(ofPath: p) else { return .some(nil) }
            switch t {
            case .string: return .string
            case .number: return .number
            case .boolean: return .boolean
            case .array: return .array
            case .object: return nil
            }
        }
    }

    static func source(_ f: QueryField, _ schema: Schema, at: String, use: String) throws -> ValueSource {
        switch kind(of: f, schema) {
        case nil: throw QueryParser.error(at, "cannot \(use) \(f.name): schema type is object; name a leaf path")
        case .some(nil): return .missing
        case .some(.time?): return .time
        case .some(let k?): return .column(f.name, k)
        }
    }

    static func numericSource(_ f: QueryField, _ schema: Schema, at: String, metric: Metric) throws -> ValueSource {
        let op = String(metric.name.prefix { $0 != "(" })
        switch kind(of: f, schema) {
        case .some(nil): return .missing
        case .some(.number?): return .column(f.name, .number)
        case nil:
            throw QueryParser.error(at, "\(op) on \(f.name): needs a number field; schema type is object")
        case .some(let k?):
            throw QueryParser.error(at, "\(op) on \(f.name): needs a number field; schema type is \(k.name)")
        }
    }

    static func lower(_ p: Predicate, _ schema: Schema, at: String) throws -> Filter {
        func leaf(_ op: String, _ f: QueryField, _ literals: [QueryLiteral], _ test: LeafTest) throws -> Filter {
            let here = at + "." + op
            let k: FieldKind
            switch kind(of: f, schema) {
            case .some(nil): return .none
            case nil:
                guard case .exists = test, case .metadata(let path) = f else {
                    throw QueryParser.error(
                        here,
                        "\(op) on \(f.name): schema type is object; only exists applies to objects"
                    )
                }
                // An object exists where any leaf below it does.
                let leaves = schema.pathTypes.filter {
                    $0.key.utf8.starts(with: (path + ".").utf8) && $0.value != .object
                }
                return .or(
                    leaves.keys.sorted(by: utf8Less).map {
                        .leaf(.column("metadata." + $0, kind(of: .metadata($0), schema)!!), .exists)
                    }
                )
            case .some(let kk?): k = kk
            }
            var test = test
            for l in literals {
                let ok: Bool
                switch (k, l) {
                case (.time, .string(let s)): ok = Timestamp.parse(s) != nil
                case (.time, .int), (.string, .string), (.number, .int), (.number, .double), (.boolean, .bool),
                    (.array, .array):
                    ok = true
                default: ok = false
                }
                guard ok else {
                    let given =
                        k == .time && l.typeName == "string" ? "string that is not an ISO 8601 time" : l.typeName
                    throw QueryParser.error(
                        here,
                        "\(op) on \(f.name): schema type is \(k.name), given \(given) \(l)"
                    )
                }
            }
            switch (k, test) {
            case (.boolean, .compare(let o, _)) where o != .eq && o != .ne,
                (.array, .compare(let o, _)) where o != .eq && o != .ne:
                throw QueryParser.error(here, "\(op) on \(f.name): \(k.name) values support only eq, ne, in, exists")
            case (.string, .prefix): break
            case (_, .prefix):
                throw QueryParser.error(here, "prefix on \(f.name): schema type is \(k.name), prefix needs a string")
            default: break
            }
            if k == .time {
                // Time literals become microseconds.
                func micros(_ l: QueryLiteral) -> QueryLiteral {
                    if case .string(let s) = l { return .int(Timestamp.parse(s)!) }
                    return l
                }
                switch test {
                case .compare(let o, let l): test = .compare(o, micros(l))
                case .isIn(let ls): test = .isIn(ls.map(micros))
                default: break
                }
                return .leaf(.time, test)
            }
            return .leaf(.column(f.name, k), test)
        }
        switch p {
        case .compare(let op, let f, let l): return try leaf(op.rawValue, f, [l], .compare(op, l))
        case .isIn(let f, let ls): return try leaf("in", f, ls, .isIn(ls))
        case .exists(let f): return try leaf("exists", f, [], .exists)
        case .prefix(let f, let s): return try leaf("prefix", f, [.string(s)], .prefix(s))
        case .and(let ps):
            return .and(try ps.enumerated().map { try lower($1, schema, at: "\(at).and[\($0)]") })
        case .or(let ps):
            return .or(try ps.enumerated().map { try lower($1, schema, at: "\(at).or[\($0)]") })
        case .not(let p): return .not(try lower(p, schema, at: at + ".not"))
        }
    }
}
