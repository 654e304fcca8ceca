/// A funnel query (`"funnel": {"steps": [pred, …], "window": "7d"}`): how many people went through
/// the steps in order within the window. Semantics in `docs/query.md`, "Funnels".
public struct Funnel: Sendable, Hashable {
    /// The steps, 1 to 32 predicates.
    public var steps: [Predicate]
    /// The window from a chain's first action, in microseconds, inclusive.
    public var window: Int64

    public init(steps: [Predicate], window: Int64) {
        self.steps = steps
        self.window = window
    }
}

extension QueryParser {
    /// `"90s"`, `"30m"`, `"12h"`, `"7d"`: a positive integer and a unit, as microseconds.
    static func window(_ v: Any, at: String) throws -> Int64 {
        let bad = error(at, "must be a duration such as \"90s\", \"30m\", \"12h\" or \"7d\"")
        guard let s = v as? String, let unit = s.utf8.last, s.utf8.count >= 2 else { throw bad }
        let digits = s.utf8.dropLast()
        guard digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(String(decoding: digits, as: UTF8.self))
        else { throw bad }
        let seconds: Int64
        switch unit {
        case UInt8(ascii: "s"): seconds = 1
        case UInt8(ascii: "m"): seconds = 60
        case UInt8(ascii: "h"): seconds = 3600
        case UInt8(ascii: "d"): seconds = 86_400
        default: throw bad
        }
        let (micros, o) = n.multipliedReportingOverflow(by: seconds * 1_000_000)
        guard !o else { throw error(at, "is too long") }
        return micros
    }

    static func funnel(_ v: Any, at: String) throws -> Funnel {
        guard let o = v as? [String: Any] else {
            throw error(at, "must be an object {\"steps\": [...], \"window\": \"7d\"}")
        }
        var steps: [Predicate]?
        var window: Int64?
        for key in o.keys.sorted() {
            let x = o[key]!
            switch key {
            case "steps":
                guard let a = x as? [Any], (1...32).contains(a.count) else {
                    throw error(at + ".steps", "must be an array of 1 to 32 predicates")
                }
                steps = try a.enumerated().map { try predicate($1, at: "\(at).steps[\($0)]") }
            case "window": window = try self.window(x, at: at + ".window")
            default: throw error(at, "unknown key '\(key)' (expected steps, window)")
            }
        }
        guard let steps else { throw error(at, "missing \"steps\"") }
        guard let window else { throw error(at, "missing \"window\"") }
        return Funnel(steps: steps, window: window)
    }
}

/// One person's funnel: the level and the chain (ClickHouse's `windowFunnel` default mode, with
/// ties and overlapping steps made exact).
///
/// For a first-step action `a` at time `t`, the chain is built over the person's other actions
/// in `[t, t + window]`, taken in groups of equal time: a group fills as many next steps as it
/// can, each action at most one step (one action: one test; several: a bipartite matching, Kuhn's
/// augmenting paths, over the few steps). Filling as far as possible at each time is optimal and
/// gives every step its earliest time, since a higher level never does worse later. The person's
/// level is the maximum over first-step actions; the chain is the earliest first-step action
/// reaching it (among equal times: the smaller group, then the earlier step times).
struct FunnelEvaluator {
    let steps: Int
    let window: Int64
    private(set) var times: [Int64]
    private(set) var best: [Int64]
    private var masks: [UInt32] = []

    init(steps: Int, window: Int64) {
        self.steps = steps
        self.window = window
        times = Array(repeating: 0, count: steps)
        best = Array(repeating: 0, count: steps)
    }

    /// The level of the chain starting at `s`, its step times in `times[0..<level]`.
    mutating func chain(_ r: [StepRecord], _ range: Range<Int>, start s: Int) -> Int {
        let t1 = r[s].time
        let limit = t1 > Int64.max - window ? Int64.max : t1 + window
        times[0] = t1
        var level = 1
        var g = s
        while g > range.lowerBound && r[g - 1].time == t1 { g -= 1 }
        while g < range.upperBound && level < steps {
            let t = r[g].time
            if t > limit { break }
            var e = g + 1
            while e < range.upperBound && r[e].time == t { e += 1 }
            let others = e - g - (s >= g && s < e ? 1 : 0)
            if others == 1 {
                let i = g == s ? g + 1 : g
                if r[i].mask & (1 << UInt32(level)) != 0 {
                    times[level] = t
                    level += 1
                }
            } else if others > 1 {
                level = match(r, g..<e, excluding: s, level: level, time: t)
            }
            g = e
        }
        return level
    }

    /// Fills steps `level…` from the actions of one equal-time group (but `s`) by a matching.
    private mutating func match(
        _ r: [StepRecord],
        _ group: Range<Int>,
        excluding s: Int,
        level: Int,
        time: Int64
    )
        -> Int
    {
        masks.removeAll(keepingCapacity: true)
        for i in group where i != s { masks.append(r[i].mask) }
        let masks = self.masks
        var stepOf = [Int](repeating: -1, count: masks.count)
        var seen = [Bool](repeating: false, count: masks.count)
        func augment(_ step: Int) -> Bool {
            for a in masks.indices where masks[a] & (1 << UInt32(step)) != 0 && !seen[a] {
                seen[a] = true
                if stepOf[a] < 0 || augment(stepOf[a]) {
                    stepOf[a] = step
                    return true
                }
            }
            return false
        }
        var lv = level
        while lv < steps {
            for i in seen.indices { seen[i] = false }
            guard augment(lv) else { break }
            times[lv] = time
            lv += 1
        }
        return lv
    }

    /// The person's level (0 without a first-step action) and chain start; the chain's step times
    /// are in `best[0..<level]`.
    mutating func person(_ r: [StepRecord], _ range: Range<Int>) -> (level: Int, start: Int) {
        var level = 0
        var start = -1
        for s in range where r[s].mask & 1 != 0 {
            if level == steps && r[s].time > r[start].time { break }
            let l = chain(r, range, start: s)
            var better = l > level
            if !better && l == level && r[s].time == r[start].time {
                if r[s].group != r[start].group {
                    better = r[s].group < r[start].group
                } else {
                    for k in 1..<l where times[k] != best[k] {
                        better = times[k] < best[k]
                        break
                    }
                }
            }
            if better {
                level = l
                start = s
                for k in 0..<l { best[k] = times[k] }
            }
        }
        return (level, start)
    }
}

enum FunnelEngine {
    struct Partial {
        /// `users[g * steps + i]`: people of group `g` reaching step `i + 1`.
        var users: [Int]
        /// Microseconds from step 1 to step `i + 1` of each of those people.
        var durations: [[Int64]]
    }

    static func run(
        _ q: Query,
        _ f: Funnel,
        sources: [any ScanSource],
        schema: Schema,
        options: QueryOptions,
        ids: IdCodeSnapshot?
    ) throws -> QueryResult {
        let start = Timestamp.now()
        let plan = try QueryPlan(
            Query(from: q.from, to: q.to, filter: q.filter, groupBy: q.groupBy, metrics: []),
            schema: schema
        )
        let steps = try f.steps.enumerated().map { try QueryPlan.lower($1, schema, at: "funnel.steps[\($0)]") }
        let scan = try StepScan(
            plan: plan,
            steps: steps,
            groupStep: 0,
            sources: sources,
            options: options,
            ids: ids
        )
        let n = steps.count
        let groups = scan.groups.count
        let window = f.window
        let empty = Partial(
            users: Array(repeating: 0, count: groups * n),
            durations: Array(repeating: [], count: groups * n)
        )
        let partials = scan.reducePartitions(empty) { partial, records in
            var eval = FunnelEvaluator(steps: n, window: window)
            StepScan.forEachPerson(records) { range in
                let (level, s) = eval.person(records, range)
                guard level > 0 else { return }
                let base = Int(records[s].group) * n
                for k in 0..<level {
                    partial.users[base + k] += 1
                    partial.durations[base + k].append(eval.best[k] - eval.best[0])
                }
            }
        }
        var users = [Int](repeating: 0, count: groups * n)
        var durations = [[Int64]](repeating: [], count: groups * n)
        for p in partials {
            for i in users.indices {
                users[i] += p.users[i]
                durations[i] += p.durations[i]
            }
        }
        var rows = [QueryRow]()
        for g in 0..<groups {
            let base = g * n
            // Without group keys the one group is reported even when empty.
            if users[base] == 0 && !plan.keys.isEmpty { continue }
            for k in 0..<n {
                let u = users[base + k]
                var d = durations[base + k]
                d.sort()
                func ratio(_ a: Int, _ b: Int) -> QueryValue { b == 0 ? .null : .double(Double(a) / Double(b)) }
                func rank(_ p: Int) -> QueryValue {
                    if d.isEmpty { return .null }
                    let r = Swift.max(1, (p * d.count + 99) / 100)
                    return .number(Double(d[r - 1]) / 1_000_000)
                }
                rows.append(
                    QueryRow(
                        keys: scan.groups[g] + [.int(Int64(k + 1))],
                        metrics: [
                            .int(Int64(u)), ratio(u, users[base]), ratio(u, k == 0 ? users[base] : users[base + k - 1]),
                            rank(50), rank(90),
                        ]
                    )
                )
            }
        }
        if let l = q.limit, rows.count > l { rows.removeSubrange(l...) }
        var stats = scan.stats
        stats.elapsedMilliseconds = Double(Timestamp.now() - start) / 1000
        return QueryResult(
            keyNames: plan.keyNames + ["step"],
            metricNames: ["users", "conversion", "conversion_from_previous", "median_seconds", "p90_seconds"],
            rows: rows,
            stats: stats
        )
    }
}
