import ActionCollector
import ActionStore
import Foundation
import Testing

@Suite("Collector queries")
struct CollectorQueryTests {
    static let groupBy = #"{"group_by":["action_name"],"metrics":["count"],"order_by":[{"key":"action_name"}]}"#

    func query(
        _ h: CollectorHarness,
        key: String?,
        app: String?,
        path: String = "/v1/query",
        body: String = groupBy
    ) async throws -> HTTPAnswer {
        var headers: [(String, String)] = []
        if let key { headers.append(("Authorization", "Bearer \(key)")) }
        return try await h.post(path, body, app: app, headers: headers)
    }

    @Test func withoutReadKeysQueriesAreRefused() async throws {
        try await CollectorHarness.with { h in
            #expect(try await h.post("/v1/actions", serverAction(1)).status == 201)
            let r = try await query(h, key: "anything", app: "app-1")
            #expect(r.status == 403)
            #expect((r.json["message"] as? String)?.contains("no read key") == true)
        }
    }

    @Test func readKeysAuthorizeAndLimitApplications() async throws {
        try await CollectorHarness.with(
            testConfiguration {
                $0.readKeys = [ReadKey(key: "admin-key"), try! ReadKey(parsing: "one-key:app-1")]
            }
        ) { h in
            #expect(
                try await h.post("/v1/actions/batch", batch([serverAction(1), serverAction(2)]), app: "app-1").status
                    == 201
            )
            #expect(
                try await h.post("/v1/actions", serverAction(3, name: "Signed In"), app: "app-2").status == 201
            )

            let missing = try await query(h, key: nil, app: "app-1")
            #expect(missing.status == 401)
            #expect(missing.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(try await query(h, key: "wrong", app: "app-1").status == 401)
            // The application id alone never authorizes.
            #expect(try await query(h, key: "app-1", app: "app-1").status == 401)
            let limited = try await query(h, key: "one-key", app: "app-2")
            #expect(limited.status == 403)
            #expect(try await query(h, key: "one-key", app: nil).status == 400)

            let one = try await query(h, key: "one-key", app: "app-1")
            #expect(one.status == 200, "\(one.body)")
            #expect(one.body.contains("Viewed Pricing"))
            #expect(!one.body.contains("Signed In"))
            let two = try await query(h, key: "admin-key", app: nil, path: "/v1/query?app=app-2")
            #expect(two.status == 200, "\(two.body)")
            #expect(two.body.contains("Signed In"))
            #expect(!two.body.contains("Viewed Pricing"))

            let bad = try await query(h, key: "admin-key", app: "app-1", body: #"{"metrics":["median"]}"#)
            #expect(bad.status == 400)
            #expect(bad.json["code"] as? String == "invalid_query")
            let conflict = try await query(h, key: "admin-key", app: "app-1", path: "/v1/query?app=app-2")
            #expect(conflict.status == 400)
        }
    }

    @Test func readKeyParsing() throws {
        #expect(try ReadKey(parsing: "k") == ReadKey(key: "k"))
        #expect(try ReadKey(parsing: "k:a, b") == ReadKey(key: "k", applications: ["a", "b"]))
        #expect(throws: CollectorConfigurationError.self) { try ReadKey(parsing: "k:") }
        #expect(throws: CollectorConfigurationError.self) { try ReadKey(parsing: ":a") }
        let c = try CollectorConfiguration(environment: [
            "ACTIONSTORE_PORT": "9000", "ACTIONSTORE_READ_KEYS": "a b:x,y", "ACTIONSTORE_ALLOWED_APPS": "x, y",
            "ACTIONSTORE_TRUST_FORWARDED_FOR": "true",
        ])
        #expect(c.port == 9000)
        #expect(c.readKeys == [ReadKey(key: "a"), ReadKey(key: "b", applications: ["x", "y"])])
        #expect(c.allowedApplications == ["x", "y"])
        #expect(c.trustForwardedFor)
        #expect(throws: CollectorConfigurationError.self) {
            try CollectorConfiguration(environment: ["ACTIONSTORE_PORT": "eighty"])
        }
    }
}
