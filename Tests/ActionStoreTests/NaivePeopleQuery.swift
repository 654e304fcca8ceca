@testable import ActionStore

/// Brute-force funnels and retention over `[Action]`, the reference for `FunnelEngine` and
/// `RetentionEngine`: every chain of every first-step action is enumerated.
enum NaivePeopleQuery {
    /// A person: the user_id, else the user the anonymous_id is aliased to, else the anonymous_id
    /// (namespaced so the two never meet).
    static func person(_ a: Action, _ aliases: [String: String] = [:]) -> String? {
        if let u = a.userId { return "u:" + u }
        if let x = a.anonymousId { return aliases[x].map { "u:" + $0 } ?? "a:" + x }
        return nil
    }

    static func selected(_ q: Query, _ actions: [Action]) -> [Action] {
        actions.filter { a in
            if let f = q.from, a.time < f { return false }
            if let t = q.to, a.time >= t { return false }
            if let p = q.filter, !NaiveQuery.matches(a, p) { return false }
            return true
        }
    }

    static func lexLess(_ a: [Int64], _ b: [Int64]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x < y }
        return false
    }

    static func keyLess(_ a: [QueryValue], _ b: [QueryValue], _ order: [Int]) -> Bool {
        for k in order {
            let c = QueryValue.compare(a[k], b[k])
            if c != 0 { return c < 0 }
        }
        return false
    }

    static func defaultOrder(_ keys: [GroupKey]) -> [Int] {
        let time = keys.indices.filter { if case .time = keys[$0] { true } else { false } }
        return time + keys.indices.filter { !time.contains($0) }
    }

    static func funnel(
        _ q: Query,
        _ f: Funnel,
        _ actions: [Action],
        _ schema: Schema,
        aliases: [String: String] = [:]
    ) -> [QueryRow] {
        let n = f.steps.count
        let order = defaultOrder(q.groupBy)
        var people = [String: [Action]]()
        for a in selected(q, actions) {
            guard let p = person(a, aliases) else { continue }
            if f.steps.contains(where: { NaiveQuery.matches(a, $0) }) { people[p, default: []].append(a) }
        }
        // group → (users per step, durations per step)
        var groups = [[QueryValue]: ([Int], [[Int64]])]()
        for (_, acts) in people {
            let m = acts.map { a in f.steps.map { NaiveQuery.matches(a, $0) } }
            var best: (level: Int, time: Int64, group: [QueryValue], times: [Int64])?
            for s in acts.indices where m[s][0] {
                let t1 = acts[s].time
                var level = 1
                var times = [t1]
                var used = Set([s])
                var chain = [t1]
                func dfs(_ k: Int, _ last: Int64) {
                    if chain.count > level || (chain.count == level && lexLess(chain, times)) {
                        level = chain.count
                        times = chain
                    }
                    guard k < n else { return }
                    for j in acts.indices where !used.contains(j) && m[j][k] {
                        let t = acts[j].time
                        guard t >= last, t - t1 <= f.window else { continue }
                        used.insert(j)
                        chain.append(t)
                        dfs(k + 1, t)
                        chain.removeLast()
                        used.remove(j)
                    }
                }
                dfs(1, t1)
                let group = q.groupBy.map { NaiveQuery.keyValue(acts[s], $0, schema) }
                let candidate = (level, t1, group, times)
                if let b = best {
                    if level > b.level {
                        best = candidate
                    } else if level == b.level && t1 < b.time {
                        best = candidate
                    } else if level == b.level && t1 == b.time {
                        if keyLess(group, b.group, order) {
                            best = candidate
                        } else if !keyLess(b.group, group, order) && lexLess(times, b.times) {
                            best = candidate
                        }
                    }
                } else {
                    best = candidate
                }
            }
            guard let b = best else { continue }
            var g = groups[b.group] ?? (Array(repeating: 0, count: n), Array(repeating: [], count: n))
            for k in 0..<b.level {
                g.0[k] += 1
                g.1[k].append(b.times[k] - b.times[0])
            }
            groups[b.group] = g
        }
        if q.groupBy.isEmpty && groups.isEmpty {
            groups[[]] = (Array(repeating: 0, count: n), Array(repeating: [], count: n))
        }
        var rows = [QueryRow]()
        for key in groups.keys.sorted(by: { keyLess($0, $1, order) }) {
            let (users, durations) = groups[key]!
            for k in 0..<n {
                func ratio(_ a: Int, _ b: Int) -> QueryValue { b == 0 ? .null : .double(Double(a) / Double(b)) }
                func pct(_ p: Double) -> QueryValue {
                    let d = durations[k].sorted()
                    if d.isEmpty { return .null }
                    let rank = Int((p / 100 * Double(d.count)).rounded(.up))
                    return .number(Double(d[Swift.max(rank, 1) - 1]) / 1e6)
                }
                rows.append(
                    QueryRow(
                        keys: key + [.int(Int64(k + 1))],
                        metrics: [
                            .int(Int64(users[k])), ratio(users[k], users[0]),
                            ratio(users[k], users[Swift.max(0, k - 1)]), pct(50), pct(90),
                        ]
                    )
                )
            }
        }
        if let l = q.limit, rows.count > l { rows.removeSubrange(l...) }
        return rows
    }

    /// Calendar periods from `a` to `b` (both period starts).
    static func periodsBetween(_ a: Int64, _ b: Int64, _ p: Retention.Period) -> Int {
        let day: Int64 = 86_400_000_000
        switch p {
        case .day: return Int((b - a) / day)
        case .week: return Int((b - a) / (7 * day))
        case .month:
            let (y1, m1, _) = Timestamp.civilFromDays(Int(a / day))
            let (y2, m2, _) = Timestamp.civilFromDays(Int(b / day))
            return (y2 - y1) * 12 + (m2 - m1)
        }
    }

    static func granularity(_ p: Retention.Period) -> TimeGranularity {
        switch p {
        case .day: .day
        case .week: .week
        case .month: .month
        }
    }

    static func retention(
        _ q: Query,
        _ r: Retention,
        _ actions: [Action],
        aliases: [String: String] = [:]
    ) -> [QueryRow] {
        let g = granularity(r.period)
        var people = [String: [Action]]()
        for a in selected(q, actions) {
            guard let p = person(a, aliases) else { continue }
            people[p, default: []].append(a)
        }
        var cohorts = [Int64: (users: Int, returned: [Int])]()
        for (_, acts) in people {
            guard let first = acts.filter({ NaiveQuery.matches($0, r.start) }).map(\.time).min() else { continue }
            let c = NaiveQuery.bucket(first, g, 0)
            var back = Set<Int>()
            for a in acts where NaiveQuery.matches(a, r.returning) {
                let k = periodsBetween(c, NaiveQuery.bucket(a.time, g, 0), r.period)
                if k >= 0 && k < r.periods { back.insert(k) }
            }
            var x = cohorts[c] ?? (0, Array(repeating: 0, count: r.periods))
            x.users += 1
            for k in back { x.returned[k] += 1 }
            cohorts[c] = x
        }
        var rows = [QueryRow]()
        for c in cohorts.keys.sorted() {
            let x = cohorts[c]!
            // Walk the periods by their starts: the first period starts at the cohort, each
            // next one at the bucket after the previous one's last microsecond… simply: find
            // period k's start by stepping a day at a time from the cohort.
            var start = c
            for k in 0..<r.periods {
                if k > 0 {
                    var t = start
                    while NaiveQuery.bucket(t, g, 0) == start { t += 86_400_000_000 }
                    start = NaiveQuery.bucket(t, g, 0)
                }
                if let to = q.to, start >= to { break }
                rows.append(
                    QueryRow(
                        keys: [.timestamp(c, offsetSeconds: 0)],
                        metrics: [
                            .int(Int64(x.users)), .int(Int64(k)), .int(Int64(x.returned[k])),
                            .double(Double(x.returned[k]) / Double(x.users)),
                        ]
                    )
                )
            }
        }
        if let l = q.limit, rows.count > l { rows.removeSubrange(l...) }
        return rows
    }
}
