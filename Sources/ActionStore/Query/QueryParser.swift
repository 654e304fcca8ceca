import Foundation

// Foundation's JSONSerialization is fine here: queries are small and parsed once; the hand-written
// tokenizer is for the ingest hot path.

extension Query {
    /// Parses a query from its JSON text (shape in `docs/query.md`).
    /// - Throws: `ActionStoreError(.invalidQuery)` naming the location (`where.and[1]`, `metrics[2]`)
    ///   of the first unknown key, unknown operator or malformed value.
    public static func parse(json: String) throws -> Query {
        try parse(json: Data(json.utf8))
    }

    /// Parses a query from JSON bytes; see ``parse(json:)-(String)``.
    public static func parse(json: Data) throws -> Query {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed])
        } catch {
            throw QueryParser.error("query", "is not valid JSON")
        }
        return try QueryParser.query(object)
    }
}

enum QueryParser {
    static func error(_ at: String, _ what: String) -> ActionStoreError {
        ActionStoreError(.invalidQuery, "\(at): \(what)")
    }

    static func query(_ object: Any) throws -> Query {
        guard let top = object as? [String: Any] else { throw error("query", "must be a JSON object") }
        var q = Query()
        for key in top.keys.sorted() {
            let v = top[key]!
            switch key {
            case "from": q.from = try time(v, at: "from")
            case "to": q.to = try time(v, at: "to")
            case "where": q.filter = try predicate(v, at: "where")
            case "group_by":
                guard let a = v as? [Any] else { throw error("group_by", "must be an array") }
                q.groupBy = try a.enumerated().map { try groupKey($1, at: "group_by[\($0)]") }
            case "metrics":
                guard let a = v as? [Any] else { throw error("metrics", "must be an array") }
                q.metrics = try a.enumerated().map { try metric($1, at: "metrics[\($0)]") }
            case "order_by":
                guard let a = v as? [Any] else { throw error("order_by", "must be an array") }
                q.orderBy = try a.enumerated().map { try orderTerm($1, at: "order_by[\($0)]") }
            case "limit":
                guard case .int(let n)? = literal(v), n >= 0 else {
                    throw error("limit", "must be a non-negative integer")
                }
                q.limit = Int(n)
            case "funnel": q.funnel = try funnel(v, at: "funnel")
            case "retention": q.retention = try retention(v, at: "retention")
            case "journey": q.journey = try journey(v, at: "journey")
            default:
                throw error(
                    "query",
                    "unknown key '\(key)' (expected from, to, where, group_by, metrics, order_by, limit, funnel, retention, journey)"
                )
            }
        }
        try checkShape(q, top)
        return q
    }

    static func time(_ v: Any, at: String) throws -> Int64 {
        if let s = v as? String, let t = Timestamp.parse(s) { return t }
        if case .int(let t)? = literal(v) { return t }
        throw error(at, "must be an ISO 8601 time such as \"2026-09-01T00:00:00Z\" or integer UTC microseconds")
    }

    /// A JSON scalar or array as a literal; nil for null, objects and non-JSON values.
    static func literal(_ v: Any) -> QueryLiteral? {
        if let s = v as? String { return .string(s) }
        if let n = v as? NSNumber {
            switch String(cString: n.objCType) {
            case "c", "B": return .bool(n.boolValue)
            case "d", "f": return .double(n.doubleValue)
            case "Q":
                // Above Int64.max: only representable as a double.
                return .double(n.doubleValue)
            default: return .int(n.int64Value)
            }
        }
        if let a = v as? [Any] {
            var out = ""
            guard JSONText.append(a, to: &out) else { return nil }
            return .array(out)
        }
        return nil
    }

    static func field(_ v: Any, at: String) throws -> QueryField {
        guard let name = v as? String else { throw error(at, "a field name must be a string") }
        guard let f = QueryField(name: name) else {
            throw error(
                at,
                "unknown field '\(name)' (expected time, a fixed field such as user_id, or metadata.<path>)"
            )
        }
        return f
    }

    static func predicate(_ v: Any, at: String) throws -> Predicate {
        guard let o = v as? [String: Any], o.count == 1, let (op, arg) = o.first else {
            throw error(at, "a predicate must be an object with exactly one operator")
        }
        let here = at + "." + op
        switch op {
        case "and", "or":
            guard let a = arg as? [Any] else { throw error(here, "must be an array of predicates") }
            let children = try a.enumerated().map { try predicate($1, at: "\(here)[\($0)]") }
            return op == "and" ? .and(children) : .or(children)
        case "not":
            return .not(try predicate(arg, at: here))
        case "exists":
            if let a = arg as? [Any] {
                guard a.count == 1 else { throw error(here, "takes one field") }
                return .exists(try field(a[0], at: here + "[0]"))
            }
            return .exists(try field(arg, at: here))
        case "eq", "ne", "gt", "gte", "lt", "lte", "in", "prefix":
            guard let a = arg as? [Any], a.count == 2 else { throw error(here, "takes [field, value]") }
            let f = try field(a[0], at: here + "[0]")
            if op == "in" {
                guard let list = a[1] as? [Any] else { throw error(here + "[1]", "must be an array of values") }
                let values = try list.enumerated().map { i, x in
                    guard let l = literal(x) else { throw error("\(here)[1][\(i)]", "must be a JSON value, not null") }
                    return l
                }
                return .isIn(f, values)
            }
            guard let l = literal(a[1]) else {
                throw error(here + "[1]", "must be a string, number, boolean or array (use exists for null checks)")
            }
            if op == "prefix" {
                guard case .string(let s) = l else {
                    throw error(here, "prefix on \(f.name): value must be a string, given \(l.typeName)")
                }
                return .prefix(f, s)
            }
            return .compare(ComparisonOperator(rawValue: op)!, f, l)
        default:
            throw error(
                at,
                "unknown operator '\(op)' (expected eq, ne, in, gt, gte, lt, lte, exists, prefix, and, or, not)"
            )
        }
    }

    static func groupKey(_ v: Any, at: String) throws -> GroupKey {
        if v is String {
            return .field(try field(v, at: at))
        }
        guard let o = v as? [String: Any] else {
            throw error(at, "a group key must be a field name or {\"time\": granularity}")
        }
        var granularity: TimeGranularity?
        var offset = 0
        for key in o.keys.sorted() {
            switch key {
            case "time":
                guard let s = o[key] as? String, let g = TimeGranularity(rawValue: s) else {
                    throw error(at + ".time", "must be one of minute, hour, day, week, month")
                }
                granularity = g
            case "offset":
                guard let s = o[key] as? String, let seconds = parseOffset(s) else {
                    throw error(at + ".offset", "must be a UTC offset such as \"+02:00\" or \"-05:30\"")
                }
                offset = seconds
            default:
                throw error(at, "unknown key '\(key)' (expected time, offset)")
            }
        }
        guard let g = granularity else { throw error(at, "missing \"time\"") }
        return .time(g, offsetSeconds: offset)
    }

    /// Parses `±hh:mm` or `Z` into seconds east of UTC.
    static func parseOffset(_ s: String) -> Int? {
        if s == "Z" { return 0 }
        let u = Array(s.utf8)
        guard u.count == 6, u[0] == 0x2B || u[0] == 0x2D, u[3] == 0x3A,
            let h = Int(String(decoding: u[1...2], as: UTF8.self)),
            let m = Int(String(decoding: u[4...5], as: UTF8.self)), h <= 23, m <= 59
        else { return nil }
        return (h * 3600 + m * 60) * (u[0] == 0x2D ? -1 : 1)
    }

    static func metric(_ v: Any, at: String) throws -> Metric {
        if let s = v as? String {
            switch s {
            case "count": return .count
            case "unique_users": return .unique(.fixed(.userId))
            case "unique_people": return .uniquePeople
            case "unique_companies": return .unique(.fixed(.companyId))
            case "unique_sessions": return .unique(.fixed(.sessionToken))
            case "approx_unique_users": return .approxUnique(.fixed(.userId))
            case "approx_unique_companies": return .approxUnique(.fixed(.companyId))
            case "approx_unique_sessions": return .approxUnique(.fixed(.sessionToken))
            default:
                throw error(
                    at,
                    "unknown metric '\(s)' (expected count, unique_users, unique_people, unique_companies, unique_sessions, approx_unique_users, …, or {\"sum\": field})"
                )
            }
        }
        guard let o = v as? [String: Any], o.count == 1, let (name, arg) = o.first else {
            throw error(at, "a metric must be a name or an object with one key such as {\"sum\": \"metadata.amount\"}")
        }
        let f = try field(arg, at: at + "." + name)
        switch name {
        case "unique": return .unique(f)
        case "approx_unique": return .approxUnique(f)
        case "sum": return .sum(f)
        case "avg": return .avg(f)
        case "min": return .min(f)
        case "max": return .max(f)
        case "p50": return .percentile(50, f)
        case "p90": return .percentile(90, f)
        case "p95": return .percentile(95, f)
        case "p99": return .percentile(99, f)
        default:
            throw error(
                at,
                "unknown metric '\(name)' (expected unique, approx_unique, sum, avg, min, max, p50, p90, p95, p99)"
            )
        }
    }

    static func orderTerm(_ v: Any, at: String) throws -> OrderTerm {
        guard let o = v as? [String: Any] else {
            throw error(at, "must be an object such as {\"metric\": \"count\", \"desc\": true}")
        }
        var target: OrderTerm.Target?
        var desc = false
        for key in o.keys.sorted() {
            let x = o[key]!
            switch key {
            case "metric", "key":
                guard let s = x as? String else { throw error(at + "." + key, "must be a string") }
                guard target == nil else { throw error(at, "give one of metric or key") }
                target = key == "metric" ? .metric(s) : .key(s)
            case "desc":
                guard case .bool(let b)? = literal(x) else { throw error(at + ".desc", "must be true or false") }
                desc = b
            default:
                throw error(at, "unknown key '\(key)' (expected metric, key, desc)")
            }
        }
        guard let t = target else { throw error(at, "missing \"metric\" or \"key\"") }
        return OrderTerm(t, descending: desc)
    }
}

/// Compact JSON text, for array literals and results; strings go through ``JSONWriter``, as the
/// normalizer's array values do, so that a literal and a stored array compare as text.
enum JSONText {
    static func appendDouble(_ d: Double, to out: inout String) {
        if d.isFinite { out.append(d.description) } else { out.append("null") }
    }

    /// Appends a JSONSerialization value; false for values JSON cannot hold.
    static func append(_ v: Any, to out: inout String) -> Bool {
        if v is NSNull {
            out.append("null")
            return true
        }
        if let a = v as? [Any] {
            out.append("[")
            for (i, x) in a.enumerated() {
                if i > 0 { out.append(",") }
                guard append(x, to: &out) else { return false }
            }
            out.append("]")
            return true
        }
        if let o = v as? [String: Any] {
            out.append("{")
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(",") }
                JSONWriter.appendString(k, to: &out)
                out.append(":")
                guard append(o[k]!, to: &out) else { return false }
            }
            out.append("}")
            return true
        }
        switch QueryParser.literal(v) {
        case .string(let s)?: JSONWriter.appendString(s, to: &out)
        case .int(let i)?: out.append(String(i))
        case .double(let d)?: appendDouble(d, to: &out)
        case .bool(let b)?: out.append(b ? "true" : "false")
        default: return false
        }
        return true
    }
}
