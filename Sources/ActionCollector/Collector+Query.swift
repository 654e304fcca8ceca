import ActionStore
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird

extension Collector {
    /// The outcome of checking a read request's key and application.
    enum ReadAuthorization {
        /// The key may read this application.
        case application(String, key: ReadKey)
        /// The answer to send instead: 400, 401 or 403.
        case refused(Response)
    }

    /// Checks a read request (`POST /v1/query`, `GET /v1/schema`): authorized by a read key
    /// (`Authorization: Bearer KEY`), never by the application id alone; the application comes
    /// from `X-Moesif-Application-Id` or `?app=` and must be one the key may read.
    func authorizeRead(_ request: Request) -> ReadAuthorization {
        guard !configuration.readKeys.isEmpty else {
            return .refused(
                CollectorResponse.error(
                    .forbidden,
                    code: "forbidden",
                    "queries are disabled: this collector has no read key (start it with --read-key KEY "
                        + "or ACTIONSTORE_READ_KEYS)"
                )
            )
        }
        let challenge: HTTPFields = [.wwwAuthenticate: #"Bearer realm="actionstore""#]
        guard let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer ") else {
            return .refused(
                CollectorResponse.error(
                    .unauthorized,
                    code: "unauthorized",
                    "a read key is required: Authorization: Bearer KEY",
                    headers: challenge
                )
            )
        }
        let presented = Substring(auth.dropFirst("bearer ".count)).trimmingBlanks()
        guard let key = configuration.readKeys.first(where: { Self.constantTimeEqual($0.key, presented) }) else {
            logger.notice("refused read key")
            return .refused(
                CollectorResponse.error(
                    .unauthorized,
                    code: "unauthorized",
                    "the read key is not valid",
                    headers: challenge
                )
            )
        }
        let header = request.headers[.moesifApplicationId].map { Substring($0).trimmingBlanks() }
        let parameter = request.uri.queryParameters["app"].map { String($0.removingPercentEncoding ?? String($0)) }
        if let header, let parameter, header != parameter {
            return .refused(
                CollectorResponse.error(
                    .badRequest,
                    code: "bad_request",
                    "X-Moesif-Application-Id and ?app= name different applications"
                )
            )
        }
        guard let application = header ?? parameter, !application.isEmpty else {
            return .refused(
                CollectorResponse.error(
                    .badRequest,
                    code: "bad_request",
                    "name the application: X-Moesif-Application-Id header or ?app="
                )
            )
        }
        guard key.allows(application) else {
            return .refused(
                CollectorResponse.error(
                    .forbidden,
                    code: "forbidden",
                    "this read key may not read application \(application)"
                )
            )
        }
        return .application(application, key: key)
    }

    /// `POST /v1/query`: runs a query (docs/query.md) over one application.
    ///
    /// Authorized by ``authorizeRead(_:)``. The query runs off Swift's cooperative pool (it is
    /// CPU-bound and may fan out).
    func query(_ request: Request, _ context: CollectorRequestContext) async -> Response {
        let application: String
        switch authorizeRead(request) {
        case .application(let a, _): application = a
        case .refused(let response): return response
        }
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            return CollectorResponse.error(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                "the query must be JSON (Content-Type: application/json), not \(type)"
            )
        }
        let limit = configuration.actionBytesMax
        var body: [UInt8] = []
        do {
            for try await buffer in request.body {
                guard body.count + buffer.readableBytes <= limit else {
                    return Self.tooLarge("the query is over the limit of \(limit) bytes")
                }
                body.append(contentsOf: buffer.readableBytesView)
            }
        } catch {
            return CollectorResponse.error(.badRequest, code: "bad_body", "cannot read the request body: \(error)")
        }

        let start = ContinuousClock.now
        let store = self.store
        let queryJSON = Data(body)
        let outcome: Result<String, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Result {
                        let q = try ActionStore.Query.parse(json: queryJSON)
                        return try store.query(application: application, q).json()
                    }
                )
            }
        }
        metrics.query(ContinuousClock.now - start)
        switch outcome {
        case .success(let json):
            return CollectorResponse.json(.ok, json)
        case .failure(let e as ActionStoreError):
            switch e.code {
            case .invalidQuery, .invalidJSON, .limitExceeded:
                return CollectorResponse.error(.badRequest, code: e.code.rawValue, e.message)
            default:
                logger.error("query failed", metadata: ["application": "\(application)", "error": "\(e)"])
                return CollectorResponse.error(.internalServerError, code: e.code.rawValue, e.message)
            }
        case .failure(let e):
            logger.error("query failed", metadata: ["application": "\(application)", "error": "\(e)"])
            return CollectorResponse.error(.internalServerError, code: "internal", "\(e)")
        }
    }

    /// Compares without an early exit on the first differing byte, so the time taken does not
    /// tell how much of a guessed key was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0 && x.count == y.count
    }

    /// `GET /ready`: 503 once a background failure has stopped writes.
    func ready() -> Response {
        if let e = store.stats().backgroundError {
            return CollectorResponse.json(
                .serviceUnavailable,
                #"{"status":"failed","message":\#(CollectorResponse.quote(e))}"#
            )
        }
        return CollectorResponse.json(.ok, #"{"status":"ready"}"#)
    }

    /// `GET /metrics`: Prometheus text format.
    func metricsResponse() -> Response {
        let text = metrics.render(stats: store.stats(), inFlight: limiter.current)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }
}
