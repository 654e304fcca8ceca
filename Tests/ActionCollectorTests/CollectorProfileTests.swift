import ActionStore
import Foundation
import Testing

@Suite struct CollectorProfileTests {
    /// moesif-browser-js's flow: `track()` before sign-in (anonymous_id only), `identifyUser`
    /// (POST /v1/users with the visitor's anonymous_id), `identifyCompany`, then `track()` with
    /// user_id only. The visitor is aliased to the user.
    @Test func browserSDKAnonymousIdentifyTrackFlow() async throws {
        try await CollectorHarness.with { h in
            #expect(try await h.post("/v1/actions", browserAction("Viewed Pricing")).status == 201)
            let identify =
                #"{"user_id":"usr_1","anonymous_id":"7f8e2b1c-0c1d-4c55-9f7e-1a2b3c4d5e6f","session_token":"s1","#
                + #""company_id":"co_1","campaign":{"utm_source":"newsletter"},"metadata":{"email":"a@b.io","plan":"pro"}}"#
            let u = try await h.post("/v1/users", identify)
            #expect(u.status == 201, "\(u.body)")
            let company = #"{"company_id":"co_1","company_domain":"acme.io","metadata":{"seats":12}}"#
            #expect(try await h.post("/v1/companies", company).status == 201)
            let signedIn =
                #"{"action_name":"Clicked Sign Up","user_id":"usr_1","request":{"uri":"https://app.example.com/"}}"#
            #expect(try await h.post("/v1/actions", signedIn).status == 201)

            let store = h.collector.store
            #expect(
                store.aliasedUser(application: "app-1", anonymousId: "7f8e2b1c-0c1d-4c55-9f7e-1a2b3c4d5e6f") == "usr_1"
            )
            let profile = try #require(store.profile(application: "app-1", kind: .user, id: "usr_1"))
            #expect(profile["metadata.plan"] == .string("pro"))
            #expect(profile["campaign.utm_source"] == .string("newsletter"))
            #expect(profile["company_id"] == .string("co_1"))
            #expect(store.profile(application: "app-1", kind: .company, id: "co_1")?["metadata.seats"] == .int(12))

            // One person through the funnel: the anonymous visit and the signed-in action.
            let funnel = try Query.parse(
                json:
                    #"{"funnel":{"steps":[{"eq":["action_name","Viewed Pricing"]},{"eq":["action_name","Clicked Sign Up"]}],"window":"1d"}}"#
            )
            let rows = try store.query(application: "app-1", funnel).json()
            #expect(rows.contains(#"{"step": 2, "users": 1"#), "\(rows)")
            // The journey of usr_1 holds both actions, the anonymous one included.
            let journey = try store.query(application: "app-1", Query.parse(json: #"{"journey":{"person":"usr_1"}}"#))
            #expect(journey.rows.count == 2, "\(journey.json())")
        }
    }

    @Test func batchEndpointsShapesAndErrors() async throws {
        try await CollectorHarness.with { h in
            let users = #"[{"user_id":"a","metadata":{"n":1}},{"user_id":"b"},{"metadata":{}}]"#
            let r = try await h.post("/v1/users/batch", users)
            #expect(r.status == 400, "one of three has no user_id: \(r.body)")
            #expect(r.body.contains("user_id"))
            #expect(h.collector.store.profile(application: "app-1", kind: .user, id: "b") != nil, "neighbours kept")
            #expect(try await h.post("/v1/companies/batch", #"[{"company_id":"c"}]"#).status == 201)
            let wrongShape = try await h.post("/v1/users", #"[{"user_id":"a"}]"#)
            #expect(wrongShape.status == 400)
            #expect(wrongShape.body.contains("/v1/users/batch"))
            #expect(try await h.post("/v1/users", #"{"user_id":"a""#).status == 400)
            #expect(try await h.post("/v1/companies", #"{"company_id":"c"}"#, app: nil).status == 401)
            let preflight = try await h.request(.OPTIONS, "/v1/users")
            #expect(preflight.status == 204)
        }
    }
}
