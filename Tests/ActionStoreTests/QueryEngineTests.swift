import Testing

@testable import ActionStore

private func t(_ s: String) -> Int64 { Timestamp.parse(s)! }

private func schema(_ paths: [(String, FieldType)]) -> Schema {
    var s = Schema()
    s.apply(SchemaDelta(paths: paths.map { .init(name: $0.0, type: $0.1) }))
    return s
}

private func run(_ json: String, _ actions: [Action], _ s: Schema) throws -> QueryResult {
    try QueryEngine.run(Query.parse(json: json), sources: [ActionsSource(actions)], schema: s)
}

private func invalidQueryMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let e as ActionStoreError {
        return e.code == .invalidQuery ? e.message : "wrong code \(e)"
    } catch {
        return "\(error)"
    }
}

@Suite struct QueryEngineTests {
    let signups: [Action] = [
        Action(
            time: t("2026-09-01T10:00:00Z"),
            actionName: "Clicked Sign Up",
            userId: "u1",
            metadata: [.init(path: "amount", value: .int(10)), .init(path: "provider", value: .string("Google"))]
        ),
        Action(
            time: t("2026-09-01T11:00:00Z"),
            actionName: "Clicked Sign Up",
            userId: "u2",
            metadata: [.init(path: "amount", value: .double(20.5)), .init(path: "provider", value: .string("GitHub"))]
        ),
        Action(
            time: t("2026-09-02T09:00:00Z"),
            actionName: "Clicked Sign Up",
            userId: "u1",
            metadata: [.init(path: "amount", value: .int(30)), .init(path: "provider", value: .string("Google"))]
        ),
        Action(time: t("2026-09-02T12:00:00Z"), actionName: "Clicked Sign Up", userId: "u3"),
        Action(time: t("2026-09-03T12:00:00Z"), actionName: "Viewed", userId: "u3"),
    ]
    let signupSchema = schema([("amount", .number), ("provider", .string)])

    @Test func exampleQueryFromTheIssue() throws {
        let json = """
            {"from": "2026-09-01T00:00:00Z", "to": "2026-12-01T00:00:00Z",
             "where": {"and": [{"eq": ["action_name", "Clicked Sign Up"]},
                               {"in": ["metadata.provider", ["Google", "GitHub"]]},
                               {"gte": ["metadata.amount", 10]}]},
             "group_by": [{"time": "day"}, "metadata.provider"],
             "metrics": ["count", "unique_users", {"sum": "metadata.amount"}, {"p90": "metadata.amount"}],
             "order_by": [{"metric": "count", "desc": true}], "limit": 10}
            """
        let r = try run(json, signups, signupSchema)
        #expect(r.keyNames == ["time", "metadata.provider"])
        #expect(r.metricNames == ["count", "unique_users", "sum(metadata.amount)", "p90(metadata.amount)"])
        #expect(
            r.rows == [
                QueryRow(
                    keys: [.timestamp(t("2026-09-01T00:00:00Z"), offsetSeconds: 0), .string("GitHub")],
                    metrics: [.int(1), .int(1), .double(20.5), .double(20.5)]
                ),
                QueryRow(
                    keys: [.timestamp(t("2026-09-01T00:00:00Z"), offsetSeconds: 0), .string("Google")],
                    metrics: [.int(1), .int(1), .int(10), .int(10)]
                ),
                QueryRow(
                    keys: [.timestamp(t("2026-09-02T00:00:00Z"), offsetSeconds: 0), .string("Google")],
                    metrics: [.int(1), .int(1), .int(30), .int(30)]
                ),
            ]
        )
    }

    @Test func jsonResultShape() throws {
        let r = try run(
            #"{"group_by": [{"time": "day", "offset": "+02:00"}, "metadata.provider"], "metrics": ["count", {"avg": "metadata.amount"}], "limit": 2}"#,
            signups,
            signupSchema
        )
        var stats = r.stats
        stats.elapsedMilliseconds = 0
        let fixed = QueryResult(keyNames: r.keyNames, metricNames: r.metricNames, rows: r.rows, stats: stats)
        #expect(
            fixed.json()
                == #"{"rows": [{"time": "2026-09-01T00:00:00+02:00", "metadata.provider": "GitHub", "count": 1, "avg(metadata.amount)": 20.5}, "#
                + #"{"time": "2026-09-01T00:00:00+02:00", "metadata.provider": "Google", "count": 1, "avg(metadata.amount)": 10.0}], "#
                + #""stats": {"partitions_total": 0, "partitions_pruned": 0, "segments_total": 1, "segments_pruned": 0, "rows_scanned": 5, "#
                + #""bytes_decoded": \#(stats.bytesDecoded), "elapsed_ms": 0.0, "skipped": 0, "damaged_segments": []}}"#
        )
        let table = fixed.table()
        #expect(table.hasPrefix("time                       metadata.provider  count  avg(metadata.amount)\n"))
        #expect(table.contains("2026-09-01T00:00:00+02:00  GitHub                 1                  20.5"))
    }

    @Test func nullGroupHoldsRowsMissingTheKey() throws {
        let r = try run(#"{"group_by": ["metadata.provider"], "metrics": ["count"]}"#, signups, signupSchema)
        #expect(
            r.rows.map(\.keys) == [[.string("GitHub")], [.string("Google")], [.null]]
        )
        #expect(r.rows.map(\.metrics) == [[.int(1)], [.int(2)], [.int(2)]])
        #expect(r.json().contains(#"{"metadata.provider": null, "count": 2}"#))
    }

    @Test func typeMismatchNamesPredicatePathAndTypes() {
        let message = invalidQueryMessage {
            _ = try run(
                #"{"where": {"and": [{"eq": ["action_name", "x"]}, {"gte": ["metadata.amount", "10"]}]}}"#,
                signups,
                signupSchema
            )
        }
        #expect(message == #"where.and[1].gte: gte on metadata.amount: schema type is number, given string "10""#)
        #expect(
            invalidQueryMessage { _ = try run(#"{"where": {"eq": ["user_id", 3]}}"#, signups, signupSchema) }
                == "where.eq: eq on user_id: schema type is string, given number 3"
        )
        #expect(
            invalidQueryMessage { _ = try run(#"{"metrics": [{"sum": "metadata.provider"}]}"#, signups, signupSchema) }
                == "metrics[0]: sum on metadata.provider: needs a number field; schema type is string"
        )
        #expect(
            invalidQueryMessage {
                _ = try run(#"{"where": {"prefix": ["metadata.amount", "1"]}}"#, signups, signupSchema)
            }
                == #"where.prefix: prefix on metadata.amount: schema type is number, given string "1""#
        )
    }

    @Test func unseenPathMatchesNothing() throws {
        let r = try run(#"{"where": {"eq": ["metadata.nope", 1]}}"#, signups, signupSchema)
        #expect(r.rows == [QueryRow(keys: [], metrics: [.int(0)])])
        let n = try run(#"{"where": {"not": {"eq": ["metadata.nope", "x"]}}}"#, signups, signupSchema)
        #expect(n.rows == [QueryRow(keys: [], metrics: [.int(5)])])
        let g = try run(
            #"{"group_by": ["metadata.nope"], "metrics": [{"sum": "metadata.nope"}]}"#,
            signups,
            signupSchema
        )
        #expect(g.rows == [QueryRow(keys: [.null], metrics: [.null])])
    }

    @Test func isoWeeksStartOnMonday() throws {
        let times = [
            "2024-12-29T23:59:59Z",  // Sunday: week of Monday 2024-12-23
            "2024-12-30T00:00:00Z",  // Monday: ISO week 1 of 2025
            "2025-01-01T12:00:00Z",  // Wednesday
            "2025-01-05T23:00:00Z",  // Sunday 23:00 UTC, Monday 01:00 at +02:00
            "2025-01-06T00:00:00Z",  // Monday
        ]
        let actions = times.map { Action(time: t($0), actionName: "a") }
        let utc = try run(#"{"group_by": [{"time": "week"}]}"#, actions, Schema())
        #expect(
            utc.rows.map(\.keys[0].description) == [
                "2024-12-23T00:00:00Z", "2024-12-30T00:00:00Z", "2025-01-06T00:00:00Z",
            ]
        )
        #expect(utc.rows.map(\.metrics[0]) == [.int(1), .int(3), .int(1)])
        let plus2 = try run(#"{"group_by": [{"time": "week", "offset": "+02:00"}]}"#, actions, Schema())
        #expect(
            plus2.rows.map(\.keys[0].description) == [
                "2024-12-30T00:00:00+02:00", "2025-01-06T00:00:00+02:00",
            ]
        )
        #expect(plus2.rows.map(\.metrics[0]) == [.int(3), .int(2)])
    }

    @Test func monthBucketsFollowTheCalendar() throws {
        let times = ["2024-01-31T23:59:59Z", "2024-02-01T00:00:00Z", "2024-02-29T12:00:00Z", "2024-03-01T03:00:00Z"]
        let actions = times.map { Action(time: t($0), actionName: "a") }
        let utc = try run(#"{"group_by": [{"time": "month"}]}"#, actions, Schema())
        #expect(
            utc.rows.map(\.keys[0].description) == [
                "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z",
            ]
        )
        #expect(utc.rows.map(\.metrics[0]) == [.int(1), .int(2), .int(1)])
        let minus5 = try run(#"{"group_by": [{"time": "month", "offset": "-05:00"}]}"#, actions, Schema())
        #expect(minus5.rows.map(\.keys[0].description) == ["2024-01-01T00:00:00-05:00", "2024-02-01T00:00:00-05:00"])
        #expect(minus5.rows.map(\.metrics[0]) == [.int(2), .int(2)])
        #expect(minus5.rows[1].keys[0] == .timestamp(t("2024-02-01T05:00:00Z"), offsetSeconds: -18_000))
    }

    @Test func hyperLogLogWithinStatedBoundOn100kDistinct() throws {
        // Stated bound in docs/query.md: 2.5% (about 3 standard errors of 0.81%).
        var rng = SeededRNG(seed: 42)
        var actions = [Action]()
        for i in 0..<100_000 {
            actions.append(Action(time: Int64(i), actionName: "a", userId: "user-\(i)-\(rng.next() % 1000)"))
        }
        let sources = [ActionsSource(Array(actions[..<40_000])), ActionsSource(Array(actions[40_000...]))]
        let r = try QueryEngine.run(
            Query(metrics: [.approxUnique(.fixed(.userId)), .unique(.fixed(.userId))]),
            sources: sources,
            schema: Schema()
        )
        let estimate = r.rows[0].metrics[0].doubleValue!
        #expect(r.rows[0].metrics[1] == .int(100_000))
        #expect(abs(estimate - 100_000) / 100_000 <= 0.025, "estimate \(estimate)")
        for n in [0, 1, 10, 1000] {
            var h = HyperLogLog()
            for i in 0..<n { h.insert(hash: HyperLogLog.hash(.int(Int64(i)))) }
            #expect(abs(h.estimate - Double(n)) <= Swift.max(0.5, 0.025 * Double(n)), "n \(n) estimate \(h.estimate)")
        }
    }

    @Test func groupLimitIsAnErrorNamingTheLimit() throws {
        let actions = (0..<100).map { Action(time: Int64($0), actionName: "a", userId: "u\($0)") }
        var options = QueryOptions()
        options.maxGroups = 10
        do {
            _ = try QueryEngine.run(
                Query(groupBy: [.field(.fixed(.userId))]),
                sources: [ActionsSource(actions)],
                schema: Schema(),
                options: options
            )
            Issue.record("expected limitExceeded")
        } catch let e as ActionStoreError {
            #expect(e.code == .limitExceeded)
            #expect(e.message.contains("QueryOptions.maxGroups (10)"))
        }
        options.maxGroups = 1000
        options.maxStateBytes = 1000
        #expect(throws: ActionStoreError.self) {
            _ = try QueryEngine.run(
                Query(groupBy: [.field(.fixed(.userId))], metrics: [.unique(.fixed(.userId))]),
                sources: [ActionsSource(actions)],
                schema: Schema(),
                options: options
            )
        }
    }

    @Test func pruningByTimeAndDictionary() throws {
        let a = ActionsSource(Array(signups[0..<2]), partitionKey: "2026-09")
        let b = ActionsSource(Array(signups[2...]), partitionKey: "2026-10")
        let r = try QueryEngine.run(
            Query.parse(json: #"{"from": "2026-09-02T00:00:00Z"}"#),
            sources: [a, b],
            schema: signupSchema
        )
        #expect(r.rows[0].metrics == [.int(3)])
        #expect(r.stats.segmentsTotal == 2)
        #expect(r.stats.segmentsPruned == 1)
        #expect(r.stats.partitionsPruned == 1)
        #expect(r.stats.rowsScanned == 3)
        let d = try QueryEngine.run(
            Query.parse(json: #"{"where": {"eq": ["action_name", "Viewed"]}}"#),
            sources: [a, b],
            schema: signupSchema
        )
        #expect(d.rows[0].metrics == [.int(1)])
        #expect(d.stats.segmentsPruned == 1)
    }

    @Test func scanYieldsMatchingActions() throws {
        var got = [Action]()
        try QueryEngine.scan(
            ActionsSource(signups),
            from: t("2026-09-01T10:30:00Z"),
            filter: .exists(.metadata("provider")),
            schema: signupSchema
        ) { got.append($0) }
        #expect(got == [signups[1], signups[2]])
    }

    @Test func nonDyadicSumsWithinTolerance() throws {
        var rng = SeededRNG(seed: 7)
        var actions = [Action]()
        for i in 0..<5000 {
            let v = Double(rng.next() % 1_000_000) / 997
            actions.append(Action(time: Int64(i), actionName: "a", metadata: [.init(path: "x", value: .double(v))]))
        }
        let s = schema([("x", .number)])
        let q = Query(metrics: [.sum(.metadata("x")), .avg(.metadata("x"))])
        let r = try QueryEngine.run(
            q,
            sources: stride(from: 0, to: 5000, by: 700).map {
                ActionsSource(Array(actions[$0..<Swift.min($0 + 700, 5000)]))
            },
            schema: s
        )
        #expect(sameRows(r.rows, NaiveQuery.run(q, actions, s)))
    }
}
