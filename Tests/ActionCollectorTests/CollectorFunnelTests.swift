import ActionCollector
import ActionStore
import Foundation
import Testing

@Suite("Collector funnels")
struct CollectorFunnelTests {
    static func action(_ name: String, user: String, time: String, provider: String) -> String {
        #"{"action_name":"\#(name)","user_id":"\#(user)","request":{"time":"\#(time)","uri":"https://app.example.com/x"},"metadata":{"provider":"\#(provider)"}}"#
    }

    @Test func funnelRetentionAndJourneyThroughQuery() async throws {
        try await CollectorHarness.with(testConfiguration { $0.readKeys = [ReadKey(key: "k")] }) { h in
            let actions = [
                Self.action("Viewed Pricing", user: "a", time: "2024-01-02T10:00:00Z", provider: "Google"),
                Self.action("Clicked Sign Up", user: "a", time: "2024-01-02T10:05:00Z", provider: "Google"),
                Self.action("Purchased a Subscription", user: "a", time: "2024-01-03T10:00:00Z", provider: "Google"),
                Self.action("Viewed Pricing", user: "b", time: "2024-01-02T11:00:00Z", provider: "GitHub"),
                Self.action("Clicked Sign Up", user: "b", time: "2024-01-20T11:00:00Z", provider: "GitHub"),
            ]
            #expect(try await h.post("/v1/actions/batch", batch(actions)).status == 201)
            let funnel = #"""
                {"from": "2024-01-01T00:00:00Z", "to": "2024-04-01T00:00:00Z",
                 "funnel": {"steps": [{"eq": ["action_name", "Viewed Pricing"]},
                                      {"eq": ["action_name", "Clicked Sign Up"]},
                                      {"eq": ["action_name", "Purchased a Subscription"]}],
                            "window": "7d"},
                 "group_by": ["metadata.provider"]}
                """#
            let r = try await h.post("/v1/query", funnel, headers: [("Authorization", "Bearer k")])
            #expect(r.status == 200, "\(r.body)")
            let rows = r.json["rows"] as? [[String: Any]] ?? []
            #expect(rows.count == 6)
            let google = rows.filter { $0["metadata.provider"] as? String == "Google" }
            #expect(google.map { $0["users"] as? Int } == [1, 1, 1])
            #expect(google.last?["median_seconds"] as? Int == 86_400)
            let github = rows.filter { $0["metadata.provider"] as? String == "GitHub" }
            #expect(github.map { $0["users"] as? Int } == [1, 0, 0], "b signed up after the window")
            #expect(github[1]["conversion"] as? Double == 0)

            let retention = #"""
                {"from": "2024-01-01T00:00:00Z", "to": "2024-01-29T00:00:00Z",
                 "retention": {"start": {"eq": ["action_name", "Viewed Pricing"]},
                               "return": {"eq": ["action_name", "Clicked Sign Up"]}, "period": "week", "periods": 8}}
                """#
            let t = try await h.post("/v1/query", retention, headers: [("Authorization", "Bearer k")])
            #expect(t.status == 200, "\(t.body)")
            let cohort = t.json["rows"] as? [[String: Any]] ?? []
            #expect(cohort.map { $0["returned"] as? Int } == [1, 0, 1, 0])
            #expect(cohort.first?["cohort"] as? String == "2024-01-01T00:00:00Z")

            let journey = try await h.post(
                "/v1/query",
                #"{"journey": {"person": "a"}, "limit": 2}"#,
                headers: [("Authorization", "Bearer k")]
            )
            #expect(journey.status == 200, "\(journey.body)")
            #expect(
                (journey.json["rows"] as? [[String: Any]])?.map { $0["action_name"] as? String } == [
                    "Viewed Pricing", "Clicked Sign Up",
                ]
            )
            let cursor = journey.json["next_cursor"] as? String
            #expect(cursor != nil)
            let next = try await h.post(
                "/v1/query",
                #"{"journey": {"person": "a", "cursor": "\#(cursor ?? "")"}, "limit": 2}"#,
                headers: [("Authorization", "Bearer k")]
            )
            #expect((next.json["rows"] as? [[String: Any]])?.count == 1)
            #expect(next.json["next_cursor"] is NSNull)

            let bad = try await h.post(
                "/v1/query",
                #"{"funnel": {"steps": [{"eq": ["action_name", "x"]}], "window": "1w"}}"#,
                headers: [("Authorization", "Bearer k")]
            )
            #expect(bad.status == 400)
            #expect(bad.json["code"] as? String == "invalid_query")
        }
    }
}
