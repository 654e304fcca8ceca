import Testing

@testable import ActionStore

/// The tricky cases of funnels, retention and journeys, each on a few hand-made actions.
@Suite struct FunnelTests {
    static let t0 = Timestamp.parse("2024-01-01T00:00:00Z")!
    static let s: Int64 = 1_000_000

    static func act(_ user: String?, _ name: String, _ t: Int64, provider: String? = nil, anon: String? = nil) -> Action
    {
        var a = Action(time: t0 + t, actionName: name)
        a.userId = user
        a.anonymousId = anon
        if let provider { a.metadata = [MetadataField(path: "provider", value: .string(provider))] }
        return a
    }

    static var schema: Schema {
        var s = Schema()
        s.apply(SchemaDelta(paths: [.init(name: "provider", type: .string)]))
        return s
    }

    static func run(_ json: String, _ actions: [Action], split: Bool = false) throws -> QueryResult {
        let sources: [any ScanSource] =
            split ? actions.map { ActionsSource([$0]) } : [ActionsSource(actions)]
        return try QueryEngine.run(Query.parse(json: json), sources: sources, schema: schema)
    }

    static func funnel(_ steps: [String], window: String = "1d", groupBy: String = "[]") -> String {
        let s = steps.map { #"{"eq": ["action_name", "\#($0)"]}"# }.joined(separator: ",")
        return #"{"funnel": {"steps": [\#(s)], "window": "\#(window)"}, "group_by": \#(groupBy)}"#
    }

    /// users per step.
    static func users(_ r: QueryResult) -> [Int64] {
        r.rows.map { if case .int(let n) = $0.metrics[0] { n } else { -1 } }
    }

    @Test func equalTimesCountAsInOrder() throws {
        let r = try Self.run(
            Self.funnel(["A", "B", "C"]),
            [Self.act("u", "C", 0), Self.act("u", "B", 0), Self.act("u", "A", 0)]
        )
        #expect(Self.users(r) == [1, 1, 1])
        #expect(r.rows[2].metrics[3] == .int(0))
    }

    @Test func windowIsInclusive() throws {
        let inside = [Self.act("u", "A", 0), Self.act("u", "B", 90 * Self.s)]
        #expect(Self.users(try Self.run(Self.funnel(["A", "B"], window: "90s"), inside)) == [1, 1])
        let outside = [Self.act("u", "A", 0), Self.act("u", "B", 90 * Self.s + 1)]
        #expect(Self.users(try Self.run(Self.funnel(["A", "B"], window: "90s"), outside)) == [1, 0])
        // Before the first step does not count either.
        let before = [Self.act("u", "B", -1), Self.act("u", "A", 0)]
        #expect(Self.users(try Self.run(Self.funnel(["A", "B"], window: "90s"), before)) == [1, 0])
    }

    @Test func oneActionFillsAtMostOneStep() throws {
        let one = [Self.act("u", "A", 0)]
        #expect(Self.users(try Self.run(Self.funnel(["A", "A"]), one)) == [1, 0])
        let two = [Self.act("u", "A", 0), Self.act("u", "A", 0)]
        #expect(Self.users(try Self.run(Self.funnel(["A", "A"]), two)) == [1, 1])
        // Overlapping steps at one time: B can fill step 2 (B or C) or step 3 (B); C only step 2.
        // Filling step 2 with B first would stop at 2; a matching reaches 3.
        let q =
            #"{"funnel": {"steps": [{"eq": ["action_name", "A"]}, {"in": ["action_name", ["B", "C"]]}, {"eq": ["action_name", "B"]}], "window": "1h"}}"#
        let tie = [Self.act("u", "A", 0), Self.act("u", "B", 5 * Self.s), Self.act("u", "C", 5 * Self.s)]
        #expect(Self.users(try Self.run(q, tie)) == [1, 1, 1])
        #expect(Self.users(try Self.run(q, tie.reversed(), split: true)) == [1, 1, 1])
    }

    @Test func levelIsTheMaximumOverFirstStepActions() throws {
        // The first A is too early for B; the second reaches it.
        let a = [
            Self.act("u", "A", 0), Self.act("u", "A", 86_400 * 10 * Self.s),
            Self.act("u", "B", 86_400 * 10 * Self.s + 60 * Self.s),
        ]
        let r = try Self.run(Self.funnel(["A", "B"]), a)
        #expect(Self.users(r) == [1, 1])
        #expect(r.rows[1].metrics[3] == .int(60), "times come from the chain reaching the level")
    }

    @Test func theEarliestChainReachingTheLevelGivesGroupAndTimes() throws {
        let a = [
            Self.act("u", "A", 0, provider: "Google"), Self.act("u", "B", 100 * Self.s, provider: "Email"),
            Self.act("u", "A", 50 * Self.s, provider: "GitHub"), Self.act("u", "B", 60 * Self.s),
            // A later, shorter chain does not replace the earliest.
            Self.act("u", "A", 1000 * Self.s, provider: "SAML"), Self.act("u", "B", 1001 * Self.s),
        ]
        let r = try Self.run(Self.funnel(["A", "B"], groupBy: #"["metadata.provider"]"#), a, split: true)
        #expect(r.keyNames == ["metadata.provider", "step"])
        #expect(r.rows.count == 2)
        #expect(r.rows[0].keys == [.string("Google"), .int(1)], "the group of the chain's first action")
        #expect(r.rows[1].keys == [.string("Google"), .int(2)])
        #expect(r.rows[1].metrics[3] == .int(60), "the earliest B after the first A")
    }

    @Test func ratesAndNearestRankPercentiles() throws {
        var a = [Action]()
        for i in 1...10 {
            a.append(Self.act("u\(i)", "A", 0))
            a.append(Self.act("u\(i)", "B", Int64(i) * Self.s))
            if i <= 4 { a.append(Self.act("u\(i)", "C", Int64(i) * 10 * Self.s)) }
        }
        a.append(Self.act(nil, "A", 0))  // no person: left out
        a.append(Self.act(nil, "A", 0, anon: "v1"))  // an anonymous person
        let r = try Self.run(Self.funnel(["A", "B", "C"]), a)
        #expect(r.metricNames == ["users", "conversion", "conversion_from_previous", "median_seconds", "p90_seconds"])
        #expect(Self.users(r) == [11, 10, 4])
        #expect(r.rows[1].metrics[1] == .double(10.0 / 11))
        #expect(r.rows[2].metrics[1] == .double(4.0 / 11))
        #expect(r.rows[2].metrics[2] == .double(0.4))
        #expect(r.rows[1].metrics[3] == .int(5))
        #expect(r.rows[1].metrics[4] == .int(9))
        #expect(r.rows[2].metrics[3] == .int(20))
        #expect(r.rows[0].metrics[3] == .int(0))
        #expect(r.json().contains(#"{"step": 1, "users": 11, "conversion": 1.0, "conversion_from_previous": 1.0"#))
    }

    @Test func emptyFunnelHasOneRowPerStep() throws {
        let r = try Self.run(Self.funnel(["A", "B"]), [Self.act("u", "B", 0)])
        #expect(Self.users(r) == [0, 0])
        #expect(r.rows[1].metrics[1] == .null)
    }

    static func retention(_ period: String, _ periods: Int, from: String, to: String? = nil) -> String {
        let t = to.map { #", "to": "\#($0)""# } ?? ""
        return
            #"{"from": "\#(from)"\#(t), "retention": {"start": {"eq": ["action_name", "S"]}, "return": {"in": ["action_name", ["R", "S"]]}, "period": "\#(period)", "periods": \#(periods)}}"#
    }

    static func at(_ iso: String) -> Int64 { Timestamp.parse(iso)! - t0 }

    @Test func retentionCohortsAreIsoWeeksFromMonday() throws {
        let a = [
            Self.act("u", "S", Self.at("2024-01-07T23:00:00Z")),  // a Sunday: week of Monday 2024-01-01
            Self.act("u", "R", Self.at("2024-01-08T00:00:00Z")),  // Monday: the next week
            Self.act("w", "S", Self.at("2024-01-08T10:00:00Z")),
            Self.act("w", "S", Self.at("2024-01-01T10:00:00Z")),  // w's first start is earlier
        ]
        let r = try Self.run(Self.retention("week", 3, from: "2024-01-01T00:00:00Z"), a)
        #expect(r.keyNames == ["cohort"])
        #expect(r.metricNames == ["users", "period", "returned", "rate"])
        #expect(r.rows.count == 3)
        #expect(r.rows[0].keys == [.timestamp(Self.t0, offsetSeconds: 0)])
        // An action matching both start and return counts for both: both return in period 0.
        #expect(
            r.rows.map(\.metrics) == [
                [.int(2), .int(0), .int(2), .double(1)], [.int(2), .int(1), .int(2), .double(1)],
                [.int(2), .int(2), .int(0), .double(0)],
            ]
        )
        #expect(
            r.json().contains(
                #"{"cohort": "2024-01-01T00:00:00Z", "users": 2, "period": 0, "returned": 2, "rate": 1.0}"#
            )
        )
    }

    @Test func retentionPeriodsFromToOnAreNotReported() throws {
        let a = [
            Self.act("u", "S", Self.at("2024-01-03T00:00:00Z")), Self.act("v", "S", Self.at("2024-02-29T00:00:00Z")),
        ]
        let weeks = try Self.run(Self.retention("week", 8, from: "2024-01-01T00:00:00Z", to: "2024-01-22T00:00:00Z"), a)
        // Weeks of Jan 1, 8, 15; Jan 22 begins at `to`.
        #expect(weeks.rows.map { $0.metrics[1] } == [.int(0), .int(1), .int(2)])
        let months = try Self.run(
            Self.retention("month", 4, from: "2024-01-01T00:00:00Z", to: "2024-03-02T00:00:00Z"),
            a
        )
        #expect(
            months.rows.map { [$0.keys[0].description, $0.metrics[1].description] } == [
                ["2024-01-01T00:00:00Z", "0"], ["2024-01-01T00:00:00Z", "1"], ["2024-01-01T00:00:00Z", "2"],
                ["2024-02-01T00:00:00Z", "0"], ["2024-02-01T00:00:00Z", "1"],
            ]
        )
    }

    @Test func journeyPagesWithACursor() throws {
        var a = [Action]()
        for i in 0..<7 { a.append(Self.act("u1", "N\(i)", Int64(i / 2) * Self.s)) }
        a.append(Self.act("u1", "N0", 0))  // a duplicate of an action
        a.append(Self.act(nil, "Anon", 10 * Self.s, anon: "u1"))  // anonymous with that id
        a.append(Self.act("other", "X", 0, anon: "u1"))  // another user's
        let sources: [any ScanSource] = [ActionsSource(Array(a[..<5])), ActionsSource(Array(a[5...]))]
        var all = [QueryRow]()
        var cursor: String?
        var pages = 0
        repeat {
            var q = Query(limit: 3)
            q.journey = Journey(person: "u1", cursor: cursor)
            let r = try QueryEngine.run(q, sources: sources, schema: Self.schema)
            #expect(r.rows.count <= 3)
            #expect(r.json().contains("\"next_cursor\": "))
            all += r.rows
            cursor = r.nextCursor
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(all.count == 9)
        let times = all.map { row -> Int64 in
            if case .timestamp(let t, _) = row.keys[0] { return t }
            return 0
        }
        #expect(times == times.sorted())
        #expect(all.filter { $0.keys[1] == .string("N0") }.count == 2)
        #expect(all.last?.keys[1] == .string("Anon"))
        let text = try Query.parse(json: #"{"journey": {"person": "u1"}, "limit": 2}"#)
        #expect(text.journey == Journey(person: "u1"))
    }

    @Test func parsingErrors() throws {
        func message(_ json: String) -> String {
            do {
                _ = try Query.parse(json: json)
                return ""
            } catch let e as ActionStoreError {
                return e.message
            } catch {
                return "\(error)"
            }
        }
        let q = try Query.parse(json: Self.funnel(["A", "B"], window: "12h"))
        #expect(q.funnel?.window == 12 * 3600 * Self.s)
        #expect(try Query.parse(json: Self.funnel(["A"], window: "30m")).funnel?.window == 1800 * Self.s)
        #expect(try Query.parse(json: Self.funnel(["A"], window: "90s")).funnel?.window == 90 * Self.s)
        #expect(try Query.parse(json: Self.funnel(["A"], window: "7d")).funnel?.window == 7 * 86_400 * Self.s)
        #expect(message(Self.funnel(["A"], window: "7w")).hasPrefix("funnel.window: must be a duration"))
        #expect(message(Self.funnel(["A"], window: "d")).hasPrefix("funnel.window"))
        #expect(message(#"{"funnel": {"steps": [], "window": "1d"}}"#).hasPrefix("funnel.steps"))
        #expect(message(#"{"funnel": {"steps": [{"equals": 1}], "window": "1d"}}"#).hasPrefix("funnel.steps[0]: "))
        #expect(
            message(#"{"funnel": {"steps": [{"exists": "user_id"}], "window": "1d"}, "metrics": ["count"]}"#)
                == "metrics: does not apply to a funnel query"
        )
        #expect(
            message(
                #"{"retention": {"start": {"exists": "user_id"}, "return": {"exists": "user_id"}, "period": "year", "periods": 8}}"#
            ) == "retention.period: must be one of day, week, month"
        )
        #expect(
            message(#"{"journey": {"person": "u"}, "group_by": ["user_id"]}"#)
                == "group_by: does not apply to a journey query"
        )
        #expect(message(#"{"journey": {"person": "u", "cursor": "nope"}}"#).hasPrefix("journey.cursor"))
        #expect(
            message(#"{"journey": {"person": "u"}, "funnel": {"steps": [{"exists": "user_id"}], "window": "1d"}}"#)
                == "query: give one of funnel, retention, journey"
        )
        // Steps are type-checked against the schema like `where`.
        #expect(throws: ActionStoreError.self) {
            try Self.run(#"{"funnel": {"steps": [{"gt": ["metadata.provider", 1]}], "window": "1d"}}"#, [])
        }
    }
}
