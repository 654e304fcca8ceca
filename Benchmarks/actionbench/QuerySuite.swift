import ActionStore
import Foundation

/// The fixed query suite. Benchmarks/peers/peers.py has the same queries in SQL under the same
/// names, and compares all three engines' answers cell by cell.
///
/// The generator's actions end at 2026-10-01T00:00:00Z, so "the last 7 days" is a fixed range.
enum QuerySuite {
    struct Entry {
        var name: String
        var what: String
        var json: String
    }

    static let entries: [Entry] = [
        Entry(
            name: "signins_by_day_provider",
            what: "count by day and a metadata path, under a filter",
            json: #"""
                {"where": {"eq": ["action_name", "Signed In"]},
                 "group_by": [{"time": "day"}, "metadata.provider"], "metrics": ["count"]}
                """#
        ),
        Entry(
            name: "weekly_unique_users",
            what: "count and unique users per ISO week",
            json: #"{"group_by": [{"time": "week"}], "metrics": ["count", "unique_users"]}"#
        ),
        Entry(
            name: "amount_by_plan",
            what: "sum and average of a number by a string path",
            json: #"""
                {"where": {"exists": "metadata.amount"}, "group_by": ["metadata.plan"],
                 "metrics": ["count", {"sum": "metadata.amount"}, {"avg": "metadata.amount"}]}
                """#
        ),
        Entry(
            name: "top10_last_7_days",
            what: "top 10 action names over the last 7 days",
            json: #"""
                {"from": "2026-09-24T00:00:00Z", "to": "2026-10-01T00:00:00Z", "group_by": ["action_name"],
                 "metrics": ["count", "unique_users"], "order_by": [{"metric": "count", "desc": true}], "limit": 10}
                """#
        ),
        Entry(
            name: "one_company",
            what: "a selective company filter",
            json: #"""
                {"where": {"eq": ["company_id", "company-1234"]}, "group_by": ["action_name"],
                 "metrics": ["count", "unique_users"]}
                """#
        ),
        Entry(
            name: "top_users",
            what: "high-cardinality group-by (user_id), top 10",
            json: #"""
                {"group_by": ["user_id"], "metrics": ["count"],
                 "order_by": [{"metric": "count", "desc": true}], "limit": 10}
                """#
        ),
        Entry(
            name: "amount_percentiles",
            what: "p50 and p99 of a number by action name",
            json: #"""
                {"where": {"exists": "metadata.amount"}, "group_by": ["action_name"],
                 "metrics": [{"p50": "metadata.amount"}, {"p99": "metadata.amount"}]}
                """#
        ),
        Entry(
            name: "full_scan",
            what: "full scan without filter: count, distinct users and companies, a sum",
            json: #"""
                {"metrics": ["count", "unique_users", "unique_companies", {"sum": "metadata.quantity"}]}
                """#
        ),
        Entry(
            name: "trial_pages_by_variant",
            what: "boolean and prefix filter, group by a nested path with nulls",
            json: #"""
                {"where": {"and": [{"eq": ["metadata.is_trial", true]}, {"prefix": ["metadata.page.path", "/p/1"]}]},
                 "group_by": ["metadata.experiment.variant"], "metrics": ["count", "unique_sessions"]}
                """#
        ),
        Entry(
            name: "funnel_pricing_signup_purchase",
            what: "3-step funnel per person, 7-day window (Benchmarks/peers/people.py: chDB windowFunnel)",
            json: #"""
                {"from": "2026-07-01T00:00:00Z", "to": "2026-10-01T00:00:00Z",
                 "funnel": {"steps": [{"eq": ["action_name", "Viewed Pricing"]},
                                      {"eq": ["action_name", "Clicked Sign Up"]},
                                      {"eq": ["action_name", "Purchased a Subscription"]}], "window": "7d"}}
                """#
        ),
        Entry(
            name: "retention_signup_signin_8w",
            what: "8-week retention: cohorts by first sign-up week, returns by sign-in (people.py: chDB)",
            json: #"""
                {"from": "2026-07-01T00:00:00Z", "to": "2026-10-01T00:00:00Z",
                 "retention": {"start": {"eq": ["action_name", "Clicked Sign Up"]},
                               "return": {"eq": ["action_name", "Signed In"]}, "period": "week", "periods": 8}}
                """#
        ),
    ]
}

/// One cell of a canonical result row: what peers.py compares across engines.
enum Cell: Encodable, Equatable {
    case null
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)

    init(_ v: QueryValue) {
        switch v {
        case .null: self = .null
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .bool(let b): self = .bool(b)
        case .timestamp: self = .string(v.description)
        case .json(let s): self = .string(s)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        }
    }

    /// Canonical text: doubles to 9 significant digits, so that summation order does not change
    /// the checksum.
    var canonical: String {
        switch self {
        case .null: "null"
        case .string(let s): "\"" + s + "\""
        case .int(let i): String(i)
        case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.9g", d)
        case .bool(let b): b ? "true" : "false"
        }
    }

    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// Equal, numbers within a relative 1e-9 (sums of doubles depend on the order of addition).
    func matches(_ other: Cell) -> Bool {
        if let a = number, let b = other.number { return abs(a - b) <= 1e-9 * max(1, abs(a), abs(b)) }
        return self == other
    }
}

/// A result in canonical form: column names and rows of cells.
struct CanonicalResult {
    var columns: [String]
    var rows: [[Cell]]

    init(columns: [String], rows: [[Cell]]) {
        self.columns = columns
        self.rows = rows
    }

    init(_ r: QueryResult) {
        columns = r.keyNames + r.metricNames
        rows = r.rows.map { ($0.keys + $0.metrics).map(Cell.init) }
    }

    var checksum: String {
        fnv1a(rows.map { "[" + $0.map(\.canonical).joined(separator: ",") + "]" }.joined(separator: "\n"))
    }

    /// nil when equal, else what differs first.
    func difference(from expected: CanonicalResult) -> String? {
        if rows.count != expected.rows.count { return "\(rows.count) rows, expected \(expected.rows.count)" }
        for (i, (a, b)) in zip(rows, expected.rows).enumerated() {
            if a.count != b.count || !zip(a, b).allSatisfy({ $0.matches($1) }) {
                return "row \(i): \(a.map(\.canonical)) expected \(b.map(\.canonical))"
            }
        }
        return nil
    }
}
