import ActionCollector
import ActionStore
import Foundation
import Testing

@Suite("Collector ingest")
struct CollectorIngestTests {
    @Test func browserClientPayloadGetsReceiveTimeAndPeerAddress() async throws {
        try await CollectorHarness.with { h in
            let before = Timestamp.now()
            let r = try await h.post(
                "/v1/actions",
                browserAction(transactionId: "b-1"),
                headers: [("X-Moesif-SDK", "moesif-browser-js/1.10.2")]
            )
            #expect(r.status == 201, "\(r.body)")
            #expect(r.headers.first(name: "Access-Control-Allow-Origin") == "*")
            let actions = try h.actions()
            #expect(actions.count == 1)
            let a = try #require(actions.first)
            #expect(a.actionName == "Clicked Sign Up")
            #expect(a.anonymousId == "7f8e2b1c-0c1d-4c55-9f7e-1a2b3c4d5e6f")
            #expect(a.requestVerb == "GET")
            #expect(a.requestURI == "https://app.example.com/pricing?plan=pro")
            #expect(a.requestUserAgent?.hasPrefix("Mozilla/5.0") == true)
            #expect(a.requestIPAddress == "127.0.0.1")
            #expect(a.transactionId == "b-1")
            #expect(a.time >= before && a.time <= Timestamp.now())
            #expect(a.metadataValue("button_label") == .string("Get Started"))
            #expect(a.metadataValue("plan_revenue") == .int(5000))
        }
    }

    @Test func clientAddressIsKeptWhenSent() async throws {
        try await CollectorHarness.with { h in
            let r = try await h.post("/v1/actions", serverAction(1))
            #expect(r.status == 201)
            #expect(try h.actions().first?.requestIPAddress == "61.48.220.123")
        }
    }

    @Test func forwardedForOnlyWhenTrusted() async throws {
        for trusted in [false, true] {
            try await CollectorHarness.with(testConfiguration { $0.trustForwardedFor = trusted }) { h in
                let r = try await h.post(
                    "/v1/actions",
                    browserAction(),
                    headers: [("X-Forwarded-For", "203.0.113.9, 198.51.100.7")]
                )
                #expect(r.status == 201)
                #expect(try h.actions().first?.requestIPAddress == (trusted ? "198.51.100.7" : "127.0.0.1"))
            }
        }
    }

    @Test func javaClientCamelCasePayload() async throws {
        let body = """
            {"actionName":"Clicked Sign Up","userId":"12345","companyId":"67890","subscriptionId":null,\
            "transactionId":"a3765025-46ec-45dd-bc83-b136c8d1d257","sessionToken":"23jdf0owekfmcn4u3qypxg09w4d8ayrcdx8nu2ng]s98y18cx98q3yhwmnhcfx43f",\
            "request":{"time":"2023-10-05T12:34:56Z","uri":"https://acmeinc.com/pricing","ipAddress":"61.48.220.123",\
            "userAgentString":"Mozilla/5.0"},"metadata":{"button_label":"Get Started","sign_up_method":"Google SSO"}}
            """
        try await CollectorHarness.with { h in
            let r = try await h.post("/v1/actions", body, contentType: "application/json; charset=UTF-8")
            #expect(r.status == 201, "\(r.body)")
            let a = try #require(try h.actions().first)
            #expect(a.actionName == "Clicked Sign Up")
            #expect(a.userId == "12345")
            #expect(a.companyId == "67890")
            #expect(a.transactionId == "a3765025-46ec-45dd-bc83-b136c8d1d257")
            #expect(a.requestIPAddress == "61.48.220.123")
            #expect(a.requestUserAgent == "Mozilla/5.0")
            #expect(a.time == Timestamp.parse("2023-10-05T12:34:56Z"))
        }
    }

    @Test func batchStoresEveryAction() async throws {
        try await CollectorHarness.with { h in
            let r = try await h.post(
                "/v1/actions/batch",
                batch((0..<25).map { serverAction($0) }),
                contentType: "application/json; charset=utf-8"
            )
            #expect(r.status == 201, "\(r.body)")
            #expect(r.json["accepted"] as? Int == 25)
            #expect(try h.actions().count == 25)
            // The browser client's batch mode: an array of its actions.
            let b = try await h.post("/v1/actions/batch", batch((0..<3).map { _ in browserAction() }))
            #expect(b.status == 201)
            #expect(try h.actions().count == 28)
        }
    }

    @Test func gzipBodies() async throws {
        try await CollectorHarness.with { h in
            let json = batch((0..<100).map { serverAction($0) })
            let r = try await h.request(
                .POST,
                "/v1/actions/batch",
                body: Gzip.compress(Array(json.utf8)),
                headers: [
                    ("X-Moesif-Application-Id", "app-1"), ("Content-Type", "application/json; charset=utf-8"),
                    ("Content-Encoding", "gzip"),
                ]
            )
            #expect(r.status == 201, "\(r.body)")
            let single = try await h.request(
                .POST,
                "/v1/actions",
                body: Gzip.compress(Array(browserAction().utf8)),
                headers: [
                    ("X-Moesif-Application-Id", "app-1"), ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                ]
            )
            #expect(single.status == 201, "\(single.body)")
            #expect(try h.actions().count == 101)
        }
    }

    @Test func partialBatchStoresTheGoodActionsAndListsTheRest() async throws {
        try await CollectorHarness.with { h in
            let body = batch([
                serverAction(0),
                #"{"user_id":"u1","request":{"uri":"https://x"}}"#,
                serverAction(2),
                #""not an object""#,
                #"{"action_name":"Typed","metadata":{"i":"a string where a number was"}}"#,
            ])
            let r = try await h.post("/v1/actions/batch", body)
            #expect(r.status == 400)
            #expect(r.json["accepted"] as? Int == 2)
            let rejected = try #require(r.json["rejected"] as? [[String: Any]])
            #expect(rejected.map { $0["index"] as? Int } == [1, 3, 4])
            #expect(rejected.map { $0["code"] as? String } == ["invalid_action", "invalid_action", "schema_conflict"])
            #expect((rejected[0]["message"] as? String)?.contains("action_name") == true)
            #expect(try h.actions().map { $0.transactionId } == ["tx-0", "tx-2"])
        }
    }

    @Test func applicationsNeverSeeEachOthersActions() async throws {
        try await CollectorHarness.with { h in
            let one = try await h.post("/v1/actions", serverAction(1), app: "app-1")
            let two = try await h.post("/v1/actions/batch", batch([serverAction(2), serverAction(3)]), app: "app-2")
            #expect(one.status == 201 && two.status == 201)
            #expect(try h.actions("app-1").compactMap(\.transactionId) == ["tx-1"])
            #expect(try h.actions("app-2").compactMap(\.transactionId).sorted() == ["tx-2", "tx-3"])
        }
    }
}
