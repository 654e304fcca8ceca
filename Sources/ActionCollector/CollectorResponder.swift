import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let moesifApplicationId = HTTPField.Name("X-Moesif-Application-Id")!
    static let moesifSDK = HTTPField.Name("X-Moesif-SDK")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// Routes requests to the collector's handlers, answers CORS preflights, adds
/// `Access-Control-Allow-Origin: *` to every response, and counts responses.
///
/// A `switch` on the path rather than Hummingbird's `Router`: the route set is small and fixed,
/// and one place then sees every response (including 404s, 405s and preflights on unknown
/// paths) to add CORS headers and count it, with no middleware-ordering rules to get wrong.
struct CollectorResponder: HTTPResponder {
    typealias Context = CollectorRequestContext
    let collector: Collector

    /// The paths with handlers, and their methods.
    static let routes: [String: HTTPRequest.Method] = [
        "/v1/actions": .post,
        "/v1/actions/batch": .post,
        "/v1/users": .post,
        "/v1/users/batch": .post,
        "/v1/companies": .post,
        "/v1/companies/batch": .post,
        "/v1/query": .post,
        "/v1/schema": .get,
        "/": .get,
        "/webview/webview.js": .get,
        "/webview/webview.css": .get,
        WebView.chartJSPath: .get,
        "/health": .get,
        "/health/probe": .get,
        "/ready": .get,
        "/metrics": .get,
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        var path = request.uri.path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        var response: Response
        if request.method == .options {
            response = preflight()
        } else if let method = Self.routes[path] {
            if request.method == method || (method == .get && request.method == .head) {
                response = await handle(path, request, context)
            } else {
                response = CollectorResponse.error(
                    .methodNotAllowed,
                    code: "method_not_allowed",
                    "\(path) takes \(method.rawValue)",
                    headers: [.allow: "\(method.rawValue), OPTIONS"]
                )
            }
        } else if path.hasPrefix("/v1/") {
            response = CollectorResponse.error(
                .notFound,
                code: "not_found",
                "this collector stores user actions and profiles: POST /v1/actions[/batch], /v1/users[/batch] "
                    + "and /v1/companies[/batch] (and POST /v1/query and GET /v1/schema to read them); "
                    + "\(path) is not served"
            )
        } else {
            response = CollectorResponse.error(.notFound, code: "not_found", "no such path: \(path)")
        }
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlExposeHeaders] = "Retry-After"
        collector.metrics.request(
            route: Self.routes[path] != nil ? path : (path.hasPrefix("/v1/") ? "/v1/other" : "other"),
            status: response.status.code
        )
        if request.method == .head { response.body = .init() }
        return response
    }

    private func handle(_ path: String, _ request: Request, _ context: Context) async -> Response {
        switch path {
        case "/v1/actions": await collector.ingest(request, context, batch: false)
        case "/v1/actions/batch": await collector.ingest(request, context, batch: true)
        case "/v1/users": await collector.ingest(request, context, batch: false, profiles: .user)
        case "/v1/users/batch": await collector.ingest(request, context, batch: true, profiles: .user)
        case "/v1/companies": await collector.ingest(request, context, batch: false, profiles: .company)
        case "/v1/companies/batch": await collector.ingest(request, context, batch: true, profiles: .company)
        case "/v1/query": await collector.query(request, context)
        case "/v1/schema": collector.schema(request)
        case "/", "/webview/webview.js", "/webview/webview.css": collector.webViewFile(path)
        case WebView.chartJSPath: collector.chartJS()
        case "/health", "/health/probe": CollectorResponse.json(.ok, #"{"status":"ok"}"#)
        case "/ready": collector.ready()
        case "/metrics": collector.metricsResponse()
        default: CollectorResponse.error(.notFound, code: "not_found", "no such path: \(path)")
        }
    }

    /// The answer to a CORS preflight, on any path: browsers send one before a cross-origin POST
    /// with JSON and Moesif's custom headers.
    private func preflight() -> Response {
        let maxAge = collector.configuration.corsMaxAge.components.seconds
        return Response(
            status: .noContent,
            headers: [
                .accessControlAllowMethods: "GET, POST, OPTIONS",
                .accessControlAllowHeaders:
                    "Content-Type, Content-Encoding, X-Moesif-Application-Id, X-Moesif-SDK, Authorization",
                .accessControlMaxAge: "\(maxAge)",
            ]
        )
    }
}
