/// Funnels, retention and journeys: queries about people rather than groups of actions. They
/// share `from`, `to` and `where` (which bound every action they read) with other queries;
/// `group_by` applies to funnels only; `metrics` and `order_by` to none of them.
enum CustomerQueries {
    /// The result of a funnel, retention or journey query; nil for any other query.
    static func run(
        _ q: Query,
        sources: [any ScanSource],
        schema: Schema,
        options: QueryOptions,
        ids: IdCodeSnapshot?
    ) throws -> QueryResult? {
        if let f = q.funnel {
            return try FunnelEngine.run(q, f, sources: sources, schema: schema, options: options, ids: ids)
        }
        if let r = q.retention {
            return try RetentionEngine.run(q, r, sources: sources, schema: schema, options: options, ids: ids)
        }
        if let j = q.journey {
            return try JourneyEngine.run(q, j, sources: sources, schema: schema, options: options, ids: ids)
        }
        return nil
    }
}

extension QueryParser {
    /// Which keys go with `funnel`, `retention` and `journey`.
    static func checkShape(_ q: Query, _ top: [String: Any]) throws {
        let kinds = ["funnel", "retention", "journey"].filter { top[$0] != nil }
        guard let kind = kinds.first else { return }
        guard kinds.count == 1 else { throw error("query", "give one of funnel, retention, journey") }
        for key in ["metrics", "order_by"] where top[key] != nil {
            throw error(key, "does not apply to a \(kind) query")
        }
        if kind != "funnel" && top["group_by"] != nil {
            throw error("group_by", "does not apply to a \(kind) query")
        }
        if kind == "journey", q.limit == 0 { throw error("limit", "a journey page holds at least one action") }
    }
}
