/// A query over one application's actions: a time range, a filter, group keys, metrics, an order
/// and a limit. The JSON shape is in `docs/query.md`; ``Query/parse(json:)`` reads it.
public struct Query: Sendable, Hashable {
    /// Inclusive lower bound on `time`, UTC microseconds; nil is unbounded.
    public var from: Int64?
    /// Exclusive upper bound on `time`, UTC microseconds; nil is unbounded.
    public var to: Int64?
    /// The filter; nil matches every action.
    public var filter: Predicate?
    public var groupBy: [GroupKey]
    /// The metrics, in output order. Default `[.count]`.
    public var metrics: [Metric]
    /// Explicit ordering; ties (and an empty list) fall back to the group keys ascending, time first.
    public var orderBy: [OrderTerm]
    /// The most rows returned; nil is all.
    public var limit: Int?
    /// A funnel instead of groups and metrics (`Funnel.swift`); at most one of funnel, retention, journey.
    public var funnel: Funnel?
    /// A retention table instead of groups and metrics (`Retention.swift`).
    public var retention: Retention?
    /// One person's actions instead of groups and metrics (`Journey.swift`).
    public var journey: Journey?

    public init(
        from: Int64? = nil,
        to: Int64? = nil,
        filter: Predicate? = nil,
        groupBy: [GroupKey] = [],
        metrics: [Metric] = [.count],
        orderBy: [OrderTerm] = [],
        limit: Int? = nil
    ) {
        self.from = from
        self.to = to
        self.filter = filter
        self.groupBy = groupBy
        self.metrics = metrics
        self.orderBy = orderBy
        self.limit = limit
    }
}

/// A field a query can name: `time`, a fixed field (`user_id`, `request.uri`, …) or `metadata.<path>`.
public enum QueryField: Sendable, Hashable, CustomStringConvertible {
    case time
    case fixed(FixedField)
    /// A metadata path relative to `metadata` (`amount` for `metadata.amount`).
    case metadata(String)

    /// Paths compare by bytes, as everywhere in the engine.
    public static func == (a: QueryField, b: QueryField) -> Bool {
        switch (a, b) {
        case (.time, .time): return true
        case (.fixed(let x), .fixed(let y)): return x == y
        case (.metadata(let x), .metadata(let y)): return utf8Equal(x, y)
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .time: h.combine(0)
        case .fixed(let f):
            h.combine(1)
            h.combine(f)
        case .metadata(let p):
            h.combine(2)
            utf8Hash(p, into: &h)
        }
    }

    /// Parses a field name as written in queries; nil if it names nothing.
    public init?(name: String) {
        if name == "time" {
            self = .time
        } else if let f = FixedField(name: name) {
            self = .fixed(f)
        } else if name.hasPrefix("metadata."), name.utf8.count > 9 {
            self = .metadata(String(name.dropFirst(9)))
        } else {
            return nil
        }
    }

    /// The name as written in queries and used for ``ScanSource/column(_:)``.
    public var name: String {
        switch self {
        case .time: "time"
        case .fixed(let f): f.name
        case .metadata(let p): "metadata." + p
        }
    }

    public var description: String { name }
}

/// A literal in a predicate.
public enum QueryLiteral: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// A JSON array, kept as compact JSON text (compared with stored array text).
    case array(String)

    /// Equality by bytes for strings and array text, as everywhere in the engine.
    public static func == (a: QueryLiteral, b: QueryLiteral) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)), (.array(let x), .array(let y)): return utf8Equal(x, y)
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .string(let s):
            h.combine(0)
            utf8Hash(s, into: &h)
        case .array(let s):
            h.combine(1)
            utf8Hash(s, into: &h)
        case .int(let v): h.combine(v)
        case .double(let v): h.combine(v)
        case .bool(let v): h.combine(v)
        }
    }

    /// The JSON type name used in error messages.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .int, .double: "number"
        case .bool: "boolean"
        case .array: "array"
        }
    }

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let v): String(v)
        case .double(let v): String(v)
        case .bool(let v): String(v)
        case .array(let s): s
        }
    }
}

/// A comparison operator of a leaf predicate.
public enum ComparisonOperator: String, Sendable, Hashable, CaseIterable {
    case eq, ne, gt, gte, lt, lte
}

/// A filter over actions.
///
/// Leaves match only actions where the field is present (`ne` included: a missing field is
/// neither equal nor unequal); `not` is plain negation, so `not(eq)` also matches missing fields.
public indirect enum Predicate: Sendable, Hashable {
    case compare(ComparisonOperator, QueryField, QueryLiteral)
    case isIn(QueryField, [QueryLiteral])
    case exists(QueryField)
    case prefix(QueryField, String)
    case and([Predicate])
    case or([Predicate])
    case not(Predicate)
}

/// A time bucket width.
public enum TimeGranularity: String, Sendable, Hashable, CaseIterable {
    case minute, hour, day
    /// ISO 8601 weeks, starting Monday.
    case week
    case month
}

/// A group key.
public enum GroupKey: Sendable, Hashable {
    /// Buckets of `time`, in the fixed UTC offset `offsetSeconds` (local bucket boundaries).
    case time(TimeGranularity, offsetSeconds: Int)
    /// Any field's value; actions without it fall in the null group.
    case field(QueryField)

    /// The key's name in results and in `order_by`.
    public var name: String {
        switch self {
        case .time: "time"
        case .field(let f): f.name
        }
    }
}

/// A metric computed per group.
public enum Metric: Sendable, Hashable {
    case count
    /// Exact count of distinct non-null values of a field.
    case unique(QueryField)
    /// HyperLogLog estimate of distinct non-null values (precision 14).
    case approxUnique(QueryField)
    /// Exact count of distinct people: the `user_id`, else the user the `anonymous_id` is aliased
    /// to, else the `anonymous_id` (`unique_people`; `unique_users` counts `user_id` only).
    case uniquePeople
    case sum(QueryField)
    case avg(QueryField)
    case min(QueryField)
    case max(QueryField)
    /// Exact nearest-rank percentile, `p` in 1...99.
    case percentile(Int, QueryField)

    /// The metric's key in results and in `order_by`: `count`, `unique_users`, `unique(metadata.x)`,
    /// `approx_unique_users`, `sum(metadata.amount)`, `p90(metadata.amount)`, …
    public var name: String {
        switch self {
        case .count: "count"
        case .uniquePeople: "unique_people"
        case .unique(let f): Metric.uniqueAlias(f).map { "unique_" + $0 } ?? "unique(\(f.name))"
        case .approxUnique(let f):
            Metric.uniqueAlias(f).map { "approx_unique_" + $0 } ?? "approx_unique(\(f.name))"
        case .sum(let f): "sum(\(f.name))"
        case .avg(let f): "avg(\(f.name))"
        case .min(let f): "min(\(f.name))"
        case .max(let f): "max(\(f.name))"
        case .percentile(let p, let f): "p\(p)(\(f.name))"
        }
    }

    static func uniqueAlias(_ f: QueryField) -> String? {
        switch f {
        case .fixed(.userId): "users"
        case .fixed(.companyId): "companies"
        case .fixed(.sessionToken): "sessions"
        default: nil
        }
    }
}

/// One term of `order_by`.
public struct OrderTerm: Sendable, Hashable {
    public enum Target: Sendable, Hashable {
        /// A metric by its output name.
        case metric(String)
        /// A group key by its output name.
        case key(String)
    }
    public var target: Target
    public var descending: Bool

    public init(_ target: Target, descending: Bool = false) {
        self.target = target
        self.descending = descending
    }
}

/// Limits and knobs of one query execution.
public struct QueryOptions: Sendable, Hashable {
    /// The most groups a query may hold, per source and merged. Default 5,000,000.
    public var maxGroups: Int = 5_000_000
    /// An estimate of the most bytes aggregate state (groups, distinct sets, percentile values)
    /// may take. Default 2 GiB.
    public var maxStateBytes: Int = 2 << 30
    /// How many sources run at once; nil uses every active core. Default nil.
    public var parallelism: Int? = nil
    /// Answer from the remaining sources when one is damaged (a `.corruption` error), listing it in
    /// `stats.damagedSegments`, instead of failing the query. Default true.
    public var skipDamagedSources = true

    public init() {}
}
