/// A journey query (`"journey": {"person": "usr_1", "cursor": "…"}`): one person's actions in
/// time order, paged by `limit` with a cursor. Semantics in `docs/query.md`, "Journeys".
public struct Journey: Sendable, Hashable {
    /// The person's id: a `user_id`, or an `anonymous_id` (on actions without a `user_id`).
    public var person: String
    /// Where the previous page ended (its `next_cursor`); nil for the first page.
    public var cursor: String?

    public init(person: String, cursor: String? = nil) {
        self.person = person
        self.cursor = cursor
    }

    /// A position in a journey: after the `count`-th action with this time and content hash.
    struct Position: Hashable {
        var time: Int64
        var hash: UInt128
        var count: Int

        var text: String { "\(time)-\(String(hash, radix: 16))-\(count)" }

        init(time: Int64, hash: UInt128, count: Int) {
            self.time = time
            self.hash = hash
            self.count = count
        }

        init?(_ s: String) {
            let parts = s.split(separator: "-", omittingEmptySubsequences: false)
            // A negative time has a leading '-'.
            let negative = parts.count == 4 && parts[0].isEmpty
            let p = negative ? Array(parts.dropFirst()) : parts
            guard p.count == 3, let t = Int64(p[0]), let h = UInt128(p[1], radix: 16), let n = Int(p[2]), n > 0
            else { return nil }
            time = negative ? -t : t
            hash = h
            count = n
        }
    }
}

extension QueryParser {
    static func journey(_ v: Any, at: String) throws -> Journey {
        guard let o = v as? [String: Any] else { throw error(at, "must be an object {\"person\": id}") }
        var person: String?
        var cursor: String?
        for key in o.keys.sorted() {
            let x = o[key]!
            switch key {
            case "person":
                guard let s = x as? String, !s.isEmpty else {
                    throw error(at + ".person", "must be a non-empty string")
                }
                person = s
            case "cursor":
                guard let s = x as? String, Journey.Position(s) != nil else {
                    throw error(at + ".cursor", "must be a next_cursor of an earlier page")
                }
                cursor = s
            default: throw error(at, "unknown key '\(key)' (expected person, cursor)")
            }
        }
        guard let person else { throw error(at, "missing \"person\"") }
        return Journey(person: person, cursor: cursor)
    }
}

enum JourneyEngine {
    static let keyNames = ["time"] + FixedField.allCases.map(\.name) + ["metadata"]

    /// One action as a result row: time, the fixed fields (null when absent), and its metadata as
    /// one JSON object of path → value (paths flat, as in queries: `{"plan.tier": "pro"}`).
    static func row(_ a: Action) -> QueryRow {
        var keys: [QueryValue] = [.timestamp(a.time, offsetSeconds: 0)]
        for f in FixedField.allCases { keys.append(a[f].map { .string($0) } ?? .null) }
        var m = "{"
        for (i, f) in a.metadata.sorted(by: { utf8Less($0.path, $1.path) }).enumerated() {
            if i > 0 { m.append(",") }
            JSONWriter.appendString(f.path, to: &m)
            m.append(":")
            let v: QueryValue
            switch f.value {
            case .string(let s): v = .string(s)
            case .int(let x): v = .int(x)
            case .double(let d): v = .number(d)
            case .bool(let b): v = .bool(b)
            case .array(let s): v = .json(s)
            }
            v.appendJSON(to: &m)
        }
        m.append("}")
        keys.append(.json(m))
        return QueryRow(keys: keys, metrics: [])
    }

    static func run(
        _ q: Query,
        _ j: Journey,
        sources: [any ScanSource],
        schema: Schema,
        options: QueryOptions,
        ids: IdCodeSnapshot? = nil
    ) throws -> QueryResult {
        let began = Timestamp.now()
        let person = PersonKeys.predicate(person: j.person, aliases: ids?.aliases ?? [:])
        let filter: Predicate = q.filter.map { .and([$0, person]) } ?? person
        // Checks the filter against the schema once, before any source is read.
        _ = try QueryPlan(Query(from: q.from, to: q.to, filter: filter, metrics: []), schema: schema)
        var stats = QueryStats()
        stats.segmentsTotal = sources.count
        // Rows ordered by time, then by a hash of their content: the same order however the
        // actions are split into memtables and segments, so a cursor stays valid across flushes.
        var found: [(time: Int64, hash: UInt128, row: QueryRow)] = []
        var bytes = 0
        for s in sources {
            do {
                try QueryEngine.scan(s, from: q.from, to: q.to, filter: filter, schema: schema) { a in
                    let row = row(a)
                    var text = ""
                    for k in row.keys { k.appendJSON(to: &text) }
                    bytes += text.utf8.count + 64
                    if bytes > options.maxStateBytes { throw QueryEngine.tooMuchState(options, bytes) }
                    found.append((a.time, DistinctKey.hash(text, seed: 7), row))
                }
                stats.rowsScanned += s.rowCount
            } catch let e as ActionStoreError where e.code == .corruption && options.skipDamagedSources {
                stats.damagedSegments.append(e.message)
            }
        }
        found.sort { $0.time != $1.time ? $0.time < $1.time : $0.hash < $1.hash }
        var i = 0
        if let c = j.cursor.flatMap(Journey.Position.init) {
            while i < found.count && (found[i].time, found[i].hash) < (c.time, c.hash) { i += 1 }
            var seen = 0
            while i < found.count && seen < c.count && found[i].time == c.time && found[i].hash == c.hash {
                i += 1
                seen += 1
            }
        }
        let end = q.limit.map { Swift.min(found.count, i + $0) } ?? found.count
        var result = QueryResult(
            keyNames: keyNames,
            metricNames: [],
            rows: found[i..<end].map(\.row),
            stats: stats
        )
        result.isPaged = true
        if end < found.count && end > 0 {
            // The position after the last row returned: how many rows with its time and hash
            // came up to and including it.
            let last = found[end - 1]
            var n = 0
            var k = end - 1
            while k >= 0 && found[k].time == last.time && found[k].hash == last.hash {
                n += 1
                k -= 1
            }
            // Rows of that (time, hash) skipped on earlier pages are among the n counted here.
            result.nextCursor = Journey.Position(time: last.time, hash: last.hash, count: n).text
        }
        result.stats.elapsedMilliseconds = Double(Timestamp.now() - began) / 1000
        return result
    }
}
