/// A retention query (`"retention": {"start": pred, "return": pred, "period": "week", "periods": 8}`):
/// of the people whose first `start` action falls in a calendar period, how many come back with a
/// `return` action in each of the periods after. Semantics in `docs/query.md`, "Retention".
public struct Retention: Sendable, Hashable {
    /// A calendar period, in UTC.
    public enum Period: String, Sendable, Hashable, CaseIterable {
        case day
        /// ISO 8601 weeks, from Monday 00:00.
        case week
        case month
    }

    public var start: Predicate
    public var returning: Predicate
    public var period: Period
    /// Periods reported per cohort, 0 to `periods - 1` after it; 1 to 1000.
    public var periods: Int

    public init(start: Predicate, returning: Predicate, period: Period, periods: Int) {
        self.start = start
        self.returning = returning
        self.period = period
        self.periods = periods
    }

    /// The number of the period holding `t`: days, Monday-based weeks or months since 1970.
    static func number(_ t: Int64, _ p: Period) -> Int64 {
        let days = Timestamp.floorDiv(t, TimeBucketer.dayMicros).0
        switch p {
        case .day: return days
        // 1970-01-01 was a Thursday: week 0 starts on Monday 1969-12-29, day -3.
        case .week: return Timestamp.floorDiv(days + 3, 7).0
        case .month:
            let (y, m, _) = Timestamp.civilFromDays(Int(days))
            return Int64(y) * 12 + Int64(m - 1)
        }
    }

    /// The UTC instant at which period `k` starts.
    static func start(ofPeriod k: Int64, _ p: Period) -> Int64 {
        switch p {
        case .day: return k * TimeBucketer.dayMicros
        case .week: return (k * 7 - 3) * TimeBucketer.dayMicros
        case .month:
            let (y, m) = Timestamp.floorDiv(k, 12)
            return Int64(Timestamp.daysFromCivil(year: Int(y), month: Int(m) + 1, day: 1)) * TimeBucketer.dayMicros
        }
    }
}

extension QueryParser {
    static func retention(_ v: Any, at: String) throws -> Retention {
        guard let o = v as? [String: Any] else {
            throw error(
                at,
                "must be an object {\"start\": pred, \"return\": pred, \"period\": \"week\", \"periods\": 8}"
            )
        }
        var start: Predicate?
        var returning: Predicate?
        var period: Retention.Period?
        var periods: Int?
        for key in o.keys.sorted() {
            let x = o[key]!
            switch key {
            case "start": start = try predicate(x, at: at + ".start")
            case "return": returning = try predicate(x, at: at + ".return")
            case "period":
                guard let s = x as? String, let p = Retention.Period(rawValue: s) else {
                    throw error(at + ".period", "must be one of day, week, month")
                }
                period = p
            case "periods":
                guard case .int(let n)? = literal(x), (1...1000).contains(n) else {
                    throw error(at + ".periods", "must be an integer from 1 to 1000")
                }
                periods = Int(n)
            default: throw error(at, "unknown key '\(key)' (expected start, return, period, periods)")
            }
        }
        guard let start else { throw error(at, "missing \"start\"") }
        guard let returning else { throw error(at, "missing \"return\"") }
        guard let period else { throw error(at, "missing \"period\"") }
        guard let periods else { throw error(at, "missing \"periods\"") }
        return Retention(start: start, returning: returning, period: period, periods: periods)
    }
}

enum RetentionEngine {
    /// Per cohort (its period number): its people and, per period after it, those who returned.
    struct Cohort {
        var users = 0
        var returned: [Int]
    }

    static func run(
        _ q: Query,
        _ r: Retention,
        sources: [any ScanSource],
        schema: Schema,
        options: QueryOptions,
        ids: IdCodeSnapshot?
    ) throws -> QueryResult {
        let began = Timestamp.now()
        let plan = try QueryPlan(Query(from: q.from, to: q.to, filter: q.filter, metrics: []), schema: schema)
        let steps = [
            try QueryPlan.lower(r.start, schema, at: "retention.start"),
            try QueryPlan.lower(r.returning, schema, at: "retention.return"),
        ]
        let scan = try StepScan(plan: plan, steps: steps, groupStep: nil, sources: sources, options: options, ids: ids)
        let period = r.period
        let periods = r.periods
        let partials = scan.reducePartitions([Int64: Cohort]()) { cohorts, records in
            var back = [Bool](repeating: false, count: periods)
            StepScan.forEachPerson(records) { range in
                guard let first = range.first(where: { records[$0].mask & 1 != 0 }) else { return }
                let c = Retention.number(records[first].time, period)
                for i in back.indices { back[i] = false }
                for i in range where records[i].mask & 2 != 0 {
                    let k = Retention.number(records[i].time, period) - c
                    if k >= 0 && k < Int64(periods) { back[Int(k)] = true }
                }
                cohorts[c, default: Cohort(returned: Array(repeating: 0, count: periods))].users += 1
                for i in back.indices where back[i] { cohorts[c]!.returned[i] += 1 }
            }
        }
        var cohorts = [Int64: Cohort]()
        for p in partials {
            for (c, x) in p {
                var m = cohorts[c] ?? Cohort(returned: Array(repeating: 0, count: periods))
                m.users += x.users
                for i in 0..<periods { m.returned[i] += x.returned[i] }
                cohorts[c] = m
            }
        }
        var rows = [QueryRow]()
        for c in cohorts.keys.sorted() {
            let x = cohorts[c]!
            let label = QueryValue.timestamp(Retention.start(ofPeriod: c, period), offsetSeconds: 0)
            for k in 0..<periods {
                // Periods that begin at or after `to` are not reported.
                if let to = q.to, Retention.start(ofPeriod: c + Int64(k), period) >= to { break }
                rows.append(
                    QueryRow(
                        keys: [label],
                        metrics: [
                            .int(Int64(x.users)), .int(Int64(k)), .int(Int64(x.returned[k])),
                            .double(Double(x.returned[k]) / Double(x.users)),
                        ]
                    )
                )
            }
        }
        if let l = q.limit, rows.count > l { rows.removeSubrange(l...) }
        var stats = scan.stats
        stats.elapsedMilliseconds = Double(Timestamp.now() - began) / 1000
        return QueryResult(
            keyNames: ["cohort"],
            metricNames: ["users", "period", "returned", "rate"],
            rows: rows,
            stats: stats
        )
    }
}
