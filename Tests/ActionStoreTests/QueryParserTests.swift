import Testing

@testable import ActionStore

private func parseError(_ json: String) -> String? {
    do {
        _ = try Query.parse(json: json)
        return nil
    } catch let e as ActionStoreError {
        #expect(e.code == .invalidQuery)
        return e.message
    } catch {
        return "\(error)"
    }
}

@Suite struct QueryParserTests {
    @Test func parsesEveryPart() throws {
        let q = try Query.parse(
            json: """
                {"from": "2026-09-01T00:00:00Z", "to": 1800000000000000,
                 "where": {"or": [{"not": {"exists": "metadata.a.b"}}, {"prefix": ["request.uri", "/api"]},
                                  {"lt": ["time", "2026-10-01T00:00:00+02:00"]}, {"ne": ["metadata.flag", true]},
                                  {"eq": ["metadata.tags", ["a", 1, 2.5]]}]},
                 "group_by": [{"time": "week", "offset": "-05:30"}, "user_id"],
                 "metrics": ["count", "unique_sessions", "approx_unique_users", {"approx_unique": "metadata.x"},
                             {"min": "metadata.x"}, {"p99": "metadata.x"}],
                 "order_by": [{"key": "user_id"}, {"metric": "p99(metadata.x)", "desc": true}], "limit": 0}
                """
        )
        #expect(q.from == Timestamp.parse("2026-09-01T00:00:00Z"))
        #expect(q.to == 1_800_000_000_000_000)
        #expect(
            q.filter
                == .or([
                    .not(.exists(.metadata("a.b"))), .prefix(.fixed(.requestURI), "/api"),
                    .compare(.lt, .time, .string("2026-10-01T00:00:00+02:00")),
                    .compare(.ne, .metadata("flag"), .bool(true)),
                    .compare(.eq, .metadata("tags"), .array(#"["a",1,2.5]"#)),
                ])
        )
        #expect(q.groupBy == [.time(.week, offsetSeconds: -19_800), .field(.fixed(.userId))])
        #expect(
            q.metrics.map(\.name) == [
                "count", "unique_sessions", "approx_unique_users", "approx_unique(metadata.x)", "min(metadata.x)",
                "p99(metadata.x)",
            ]
        )
        #expect(q.orderBy == [OrderTerm(.key("user_id")), OrderTerm(.metric("p99(metadata.x)"), descending: true)])
        #expect(q.limit == 0)
    }

    @Test func errorsNameTheLocation() {
        #expect(
            parseError(#"{"where": {"and": [{"eq": ["action_name", "x"]}, {"equals": ["user_id", "u"]}]}}"#)
                == "where.and[1]: unknown operator 'equals' (expected eq, ne, in, gt, gte, lt, lte, exists, prefix, and, or, not)"
        )
        #expect(
            parseError(#"{"select": 1}"#)
                == "query: unknown key 'select' (expected from, to, where, group_by, metrics, order_by, limit, funnel, retention, journey)"
        )
        #expect(
            parseError(#"{"metrics": ["count", {"median": "metadata.x"}]}"#)?.hasPrefix(
                "metrics[1]: unknown metric 'median'"
            ) == true
        )
        #expect(
            parseError(#"{"group_by": [{"time": "fortnight"}]}"#)
                == "group_by[0].time: must be one of minute, hour, day, week, month"
        )
        #expect(
            parseError(#"{"group_by": [{"time": "day", "offset": "2h"}]}"#)
                == #"group_by[0].offset: must be a UTC offset such as "+02:00" or "-05:30""#
        )
        #expect(
            parseError(#"{"where": {"or": [{"eq": ["users", "u"]}]}}"#)?.hasPrefix(
                "where.or[0].eq[0]: unknown field 'users'"
            ) == true
        )
        #expect(parseError(#"{"where": {"in": ["user_id", "u"]}}"#) == "where.in[1]: must be an array of values")
        #expect(
            parseError(#"{"where": {"eq": ["user_id", null]}}"#)?.hasPrefix("where.eq[1]: must be a string") == true
        )
        #expect(
            parseError(#"{"where": {"eq": ["user_id", "a"], "ne": ["user_id", "b"]}}"#)
                == "where: a predicate must be an object with exactly one operator"
        )
        #expect(parseError(#"{"limit": -1}"#) == "limit: must be a non-negative integer")
        #expect(
            parseError(#"{"order_by": [{"metric": "count", "up": true}]}"#)
                == "order_by[0]: unknown key 'up' (expected metric, key, desc)"
        )
        #expect(parseError(#"{"from": "yesterday"}"#)?.hasPrefix("from: must be an ISO 8601 time") == true)
        #expect(parseError("{") == "query: is not valid JSON")
    }

    @Test func semanticErrorsNameTheLocation() {
        func planError(_ json: String) -> String? {
            do {
                _ = try QueryEngine.run(Query.parse(json: json), sources: [], schema: QueryFixtures.schema)
                return nil
            } catch let e as ActionStoreError {
                return e.message
            } catch {
                return "\(error)"
            }
        }
        #expect(
            planError(#"{"order_by": [{"metric": "sum"}]}"#)
                == "order_by[0]: unknown metric 'sum' (the query's metrics are: count)"
        )
        #expect(planError(#"{"metrics": ["count", "count"]}"#) == "metrics[1]: duplicate metric 'count'")
        #expect(
            planError(#"{"group_by": ["metadata.plan"]}"#)
                == "group_by[0]: cannot group by metadata.plan: schema type is object; name a leaf path"
        )
        #expect(
            planError(#"{"where": {"gt": ["metadata.active", true]}}"#)
                == "where.gt: gt on metadata.active: boolean values support only eq, ne, in, exists"
        )
        #expect(
            planError(#"{"where": {"eq": ["metadata.plan", "x"]}}"#)
                == "where.eq: eq on metadata.plan: schema type is object; only exists applies to objects"
        )
        #expect(
            planError(#"{"where": {"gt": ["time", "soon"]}}"#)
                == #"where.gt: gt on time: schema type is time, given string that is not an ISO 8601 time "soon""#
        )
        #expect(
            planError(#"{"where": {"exists": "metadata.plan"}, "group_by": [{"time": "day"}, {"time": "hour"}]}"#)
                == "group_by[1]: duplicate group key 'time'"
        )
    }
}
