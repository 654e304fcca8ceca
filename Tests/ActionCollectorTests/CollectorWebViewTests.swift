import ActionCollector
import ActionStore
import Foundation
import Testing

@Suite("Collector web view and schema")
struct CollectorWebViewTests {
    static func withReadKey(_ configure: (inout CollectorConfiguration) -> Void = { _ in }) -> CollectorConfiguration {
        testConfiguration {
            $0.readKeys = [ReadKey(key: "admin-key"), try! ReadKey(parsing: "one-key:app-1")]
            configure(&$0)
        }
    }

    @Test func pageScriptAndStyleAreServedWithTheirTypesAndAPolicy() async throws {
        try await CollectorHarness.with { h in
            let page = try await h.request(.GET, "/")
            #expect(page.status == 200)
            #expect(page.headers.first(name: "Content-Type") == "text/html; charset=utf-8")
            let csp = page.headers.first(name: "Content-Security-Policy") ?? ""
            #expect(csp.contains("default-src 'none'"))
            #expect(csp.contains("script-src 'self'"))
            #expect(csp.contains("connect-src 'self'"))
            #expect(csp.contains("form-action 'none'"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(page.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(page.headers.first(name: "Referrer-Policy") == "no-referrer")
            #expect(page.body.contains(#"<canvas id="chart""#))
            #expect(page.body.contains(#"<script src="/webview/webview.js"></script>"#))
            #expect(page.body.contains(#"<script src="/webview/chart.js"></script>"#))
            // No inline script or style: the policy would refuse them.
            #expect(!page.body.contains("<script>"))
            #expect(!page.body.contains("<style"))
            #expect(!page.body.contains("style=\""))

            let script = try await h.request(.GET, "/webview/webview.js")
            #expect(script.status == 200)
            #expect(script.headers.first(name: "Content-Type") == "text/javascript; charset=utf-8")
            #expect(script.body.contains("sessionStorage"))
            #expect(script.body.contains("history.replaceState"))
            let style = try await h.request(.GET, "/webview/webview.css")
            #expect(style.status == 200)
            #expect(style.headers.first(name: "Content-Type") == "text/css; charset=utf-8")

            let head = try await h.request(.HEAD, "/")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            let post = try await h.post("/", "{}")
            #expect(post.status == 405)
            #expect(try await h.request(.GET, "/webview/other.js").status == 404)
        }
    }

    @Test func chartJSIsServedFromItsPath() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(UUID().uuidString).js").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = "/*! Chart.js v3.9.1 */ window.Chart = function () {};\n"
        try Data(source.utf8).write(to: URL(fileURLWithPath: path))
        try await CollectorHarness.with(testConfiguration { $0.chartJSPath = path }) { h in
            let r = try await h.request(.GET, "/webview/chart.js")
            #expect(r.status == 200)
            #expect(r.headers.first(name: "Content-Type") == "text/javascript; charset=utf-8")
            #expect(r.body == source)
        }
    }

    @Test func missingChartJSIsAClear404() async throws {
        let path = "/nonexistent-\(UUID().uuidString)/chart.min.js"
        try await CollectorHarness.with(testConfiguration { $0.chartJSPath = path }) { h in
            let r = try await h.request(.GET, "/webview/chart.js")
            #expect(r.status == 404)
            #expect(r.json["code"] as? String == "chart_js_missing")
            let message = r.json["message"] as? String ?? ""
            #expect(message.contains(path))
            #expect(message.contains("libjs-chart.js"))
            #expect(message.contains("ACTIONSTORE_CHART_JS"))
            // The page itself is still served: it shows that message instead of a chart.
            #expect(try await h.request(.GET, "/").status == 200)
        }
    }

    @Test func chartJSPathComesFromTheEnvironment() throws {
        #expect(CollectorConfiguration().chartJSPath == "/usr/share/javascript/chart.js/chart.min.js")
        let c = try CollectorConfiguration(environment: ["ACTIONSTORE_CHART_JS": "/opt/chart.js"])
        #expect(c.chartJSPath == "/opt/chart.js")
    }

    func schema(_ h: CollectorHarness, key: String?, query: String = "?app=app-1") async throws -> HTTPAnswer {
        try await h.request(.GET, "/v1/schema" + query, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    @Test func schemaListsFixedFieldsAndMetadataPathsWithTypes() async throws {
        try await CollectorHarness.with(Self.withReadKey()) { h in
            let action =
                #"{"action_name":"Signed Up","user_id":"u1","metadata":{"provider":"Google","amount":12.5,"#
                + #""trial":true,"tags":["a"],"plan":{"tier":"pro"}}}"#
            #expect(try await h.post("/v1/actions", action).status == 201)
            let r = try await schema(h, key: "one-key")
            #expect(r.status == 200, "\(r.body)")
            #expect(r.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
            #expect(r.json["application"] as? String == "app-1")
            func pairs(_ key: String) -> [String] {
                (r.json[key] as? [[String: String]] ?? []).map { "\($0["name"] ?? "?"):\($0["type"] ?? "?")" }
            }
            #expect(
                pairs("fields") == [
                    "time:time", "action_name:string", "user_id:string", "anonymous_id:string", "company_id:string",
                    "session_token:string", "transaction_id:string", "subscription_id:string", "request.uri:string",
                    "request.ip_address:string", "request.user_agent_string:string", "request.verb:string",
                ]
            )
            #expect(
                pairs("metadata") == [
                    "metadata.amount:number", "metadata.plan:object", "metadata.plan.tier:string",
                    "metadata.provider:string", "metadata.tags:array", "metadata.trial:boolean",
                ]
            )
            // A new path shows at once.
            #expect(try await h.post("/v1/actions", #"{"action_name":"x","metadata":{"zone":"eu"}}"#).status == 201)
            #expect(try await schema(h, key: "admin-key").body.contains(#""metadata.zone""#))
        }
    }

    @Test func schemaNeedsAReadKeyForTheApplication() async throws {
        try await CollectorHarness.with(Self.withReadKey()) { h in
            #expect(try await h.post("/v1/actions", serverAction(1), app: "app-1").status == 201)
            #expect(try await h.post("/v1/actions", serverAction(2), app: "app-2").status == 201)
            let missing = try await schema(h, key: nil)
            #expect(missing.status == 401)
            #expect(missing.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(try await schema(h, key: "wrong").status == 401)
            #expect(try await schema(h, key: "one-key", query: "?app=app-2").status == 403)
            #expect(try await schema(h, key: "one-key", query: "").status == 400)
            #expect(try await schema(h, key: "admin-key", query: "?app=app-2").status == 200)

            let unknown = try await schema(h, key: "admin-key", query: "?app=app-3")
            #expect(unknown.status == 404)
            #expect(
                unknown.json["message"] as? String
                    == "application app-3 has stored no actions; this read key may read: app-1, app-2"
            )
            let limited = try await h.request(
                .GET,
                "/v1/schema",
                headers: [("Authorization", "Bearer one-key"), ("X-Moesif-Application-Id", "app-1")]
            )
            #expect(limited.status == 200)
            #expect(try await h.post("/v1/schema?app=app-1", "{}").status == 405)
        }
        try await CollectorHarness.with { h in
            let r = try await schema(h, key: "any")
            #expect(r.status == 403)
            #expect((r.json["message"] as? String)?.contains("no read key") == true)
        }
    }

    @Test func readKeyUnknownApplicationsAreNotListed() async throws {
        try await CollectorHarness.with(
            testConfiguration { $0.readKeys = [try! ReadKey(parsing: "one-key:app-1,app-9")] }
        ) { h in
            #expect(try await h.post("/v1/actions", serverAction(2), app: "app-2").status == 201)
            let r = try await schema(h, key: "one-key", query: "?app=app-9")
            #expect(r.status == 404)
            #expect(
                r.json["message"] as? String
                    == "application app-9 has stored no actions; this read key may read none that has"
            )
        }
    }
}
