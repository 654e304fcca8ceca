import ActionStore
import Foundation

/// Brute-force answers to `QuerySuite`, computed row by row over the generated actions with
/// dictionaries and sorts: an oracle for `--check` (and so for `make bench-smoke`), written
/// without any of the engine's query code.
enum Reference {
    static func answers(_ actions: [Action]) -> [String: CanonicalResult] {
        var out: [String: CanonicalResult] = [:]
        out["signins_by_day_provider"] = signinsByDayProvider(actions)
        out["weekly_unique_users"] = weeklyUniqueUsers(actions)
        out["amount_by_plan"] = amountByPlan(actions)
        out["top10_last_7_days"] = top10(actions)
        out["one_company"] = oneCompany(actions)
        out["top_users"] = topUsers(actions)
        out["amount_percentiles"] = percentiles(actions)
        out["full_scan"] = fullScan(actions)
        out["trial_pages_by_variant"] = trialPages(actions)
        return out
    }

    private static let day: Int64 = 86_400_000_000

    private static func floorDay(_ t: Int64) -> Int64 { (t >= 0 ? t / day : (t - day + 1) / day) * day }

    /// Monday 00:00 UTC of the ISO week (1970-01-01 was a Thursday).
    private static func floorWeek(_ t: Int64) -> Int64 {
        let d = floorDay(t) / day
        return (d - (d + 3) % 7) * day
    }

    private static func time(_ t: Int64) -> Cell { .string(Timestamp.format(t)) }

    private static func string(_ a: Action, _ path: String) -> String? {
        if case .string(let s) = a.metadataValue(path) { return s }
        return nil
    }

    private static func number(_ a: Action, _ path: String) -> Double? { a.metadataValue(path)?.doubleValue }

    private static func cell(_ s: String?) -> Cell { s.map { .string($0) } ?? .null }

    /// Ascending with nulls last, as the engine orders keys.
    private static func less(_ a: String?, _ b: String?) -> Bool {
        switch (a, b) {
        case (nil, _): false
        case (_, nil): true
        case (let x?, let y?): x < y
        }
    }

    private static func signinsByDayProvider(_ actions: [Action]) -> CanonicalResult {
        var groups: [Pair: Int64] = [:]
        for a in actions where a.actionName == "Signed In" {
            groups[Pair(t: floorDay(a.time), s: string(a, "provider")), default: 0] += 1
        }
        let keys = groups.keys.sorted { $0.t != $1.t ? $0.t < $1.t : less($0.s, $1.s) }
        return CanonicalResult(
            columns: ["time", "metadata.provider", "count"],
            rows: keys.map { [time($0.t), cell($0.s), .int(groups[$0]!)] }
        )
    }

    private static func weeklyUniqueUsers(_ actions: [Action]) -> CanonicalResult {
        var groups: [Int64: (Int64, Set<String>)] = [:]
        for a in actions {
            let w = floorWeek(a.time)
            groups[w, default: (0, [])].0 += 1
            if let u = a.userId { groups[w]!.1.insert(u) }
        }
        return CanonicalResult(
            columns: ["time", "count", "unique_users"],
            rows: groups.keys.sorted().map { [time($0), .int(groups[$0]!.0), .int(Int64(groups[$0]!.1.count))] }
        )
    }

    private static func amountByPlan(_ actions: [Action]) -> CanonicalResult {
        var groups: [String?: (Int64, Double)] = [:]
        for a in actions {
            guard let x = number(a, "amount") else { continue }
            groups[string(a, "plan"), default: (0, 0)].0 += 1
            groups[string(a, "plan")]!.1 += x
        }
        return CanonicalResult(
            columns: ["metadata.plan", "count", "sum(metadata.amount)", "avg(metadata.amount)"],
            rows: groups.keys.sorted(by: less).map {
                let (n, s) = groups[$0]!
                return [cell($0), .int(n), .double(s), .double(s / Double(n))]
            }
        )
    }

    private static func top10(_ actions: [Action]) -> CanonicalResult {
        let from = Timestamp.parse("2026-09-24T00:00:00Z")!
        let to = Timestamp.parse("2026-10-01T00:00:00Z")!
        var groups: [String: (Int64, Set<String>)] = [:]
        for a in actions where a.time >= from && a.time < to {
            groups[a.actionName, default: (0, [])].0 += 1
            if let u = a.userId { groups[a.actionName]!.1.insert(u) }
        }
        let keys = groups.keys.sorted {
            groups[$0]!.0 != groups[$1]!.0 ? groups[$0]!.0 > groups[$1]!.0 : $0 < $1
        }
        return CanonicalResult(
            columns: ["action_name", "count", "unique_users"],
            rows: keys.prefix(10).map { [.string($0), .int(groups[$0]!.0), .int(Int64(groups[$0]!.1.count))] }
        )
    }

    private static func oneCompany(_ actions: [Action]) -> CanonicalResult {
        var groups: [String: (Int64, Set<String>)] = [:]
        for a in actions where a.companyId == "company-1234" {
            groups[a.actionName, default: (0, [])].0 += 1
            if let u = a.userId { groups[a.actionName]!.1.insert(u) }
        }
        return CanonicalResult(
            columns: ["action_name", "count", "unique_users"],
            rows: groups.keys.sorted().map { [.string($0), .int(groups[$0]!.0), .int(Int64(groups[$0]!.1.count))] }
        )
    }

    private static func topUsers(_ actions: [Action]) -> CanonicalResult {
        var groups: [String?: Int64] = [:]
        for a in actions { groups[a.userId, default: 0] += 1 }
        let keys = groups.keys.sorted { groups[$0]! != groups[$1]! ? groups[$0]! > groups[$1]! : less($0, $1) }
        return CanonicalResult(
            columns: ["user_id", "count"],
            rows: keys.prefix(10).map { [cell($0), .int(groups[$0]!)] }
        )
    }

    private static func percentiles(_ actions: [Action]) -> CanonicalResult {
        var groups: [String: [Double]] = [:]
        for a in actions {
            if let x = number(a, "amount") { groups[a.actionName, default: []].append(x) }
        }
        func rank(_ v: [Double], _ p: Double) -> Cell {
            let i = Int((p / 100 * Double(v.count)).rounded(.up))
            return .double(v[min(max(i, 1), v.count) - 1])
        }
        return CanonicalResult(
            columns: ["action_name", "p50(metadata.amount)", "p99(metadata.amount)"],
            rows: groups.keys.sorted().map {
                let v = groups[$0]!.sorted()
                return [.string($0), rank(v, 50), rank(v, 99)]
            }
        )
    }

    private static func fullScan(_ actions: [Action]) -> CanonicalResult {
        var users = Set<String>()
        var companies = Set<String>()
        var sum: Double?
        for a in actions {
            if let u = a.userId { users.insert(u) }
            if let c = a.companyId { companies.insert(c) }
            if let q = number(a, "quantity") { sum = (sum ?? 0) + q }
        }
        return CanonicalResult(
            columns: ["count", "unique_users", "unique_companies", "sum(metadata.quantity)"],
            rows: [
                [
                    .int(Int64(actions.count)), .int(Int64(users.count)), .int(Int64(companies.count)),
                    sum.map { .double($0) } ?? .null,
                ]
            ]
        )
    }

    private static func trialPages(_ actions: [Action]) -> CanonicalResult {
        var groups: [String?: (Int64, Set<String>)] = [:]
        for a in actions {
            guard a.metadataValue("is_trial") == .bool(true), string(a, "page.path")?.hasPrefix("/p/1") == true else {
                continue
            }
            let k = string(a, "experiment.variant")
            groups[k, default: (0, [])].0 += 1
            if let s = a.sessionToken { groups[k]!.1.insert(s) }
        }
        return CanonicalResult(
            columns: ["metadata.experiment.variant", "count", "unique_sessions"],
            rows: groups.keys.sorted(by: less).map {
                [cell($0), .int(groups[$0]!.0), .int(Int64(groups[$0]!.1.count))]
            }
        )
    }

    private struct Pair: Hashable {
        var t: Int64
        var s: String?
    }
}
