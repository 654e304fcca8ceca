import ActionStore
import HTTPTypes
import Hummingbird
import Logging

extension Collector {
    /// `POST /v1/actions` (`batch` false: one object) and `POST /v1/actions/batch` (an array).
    ///
    /// Checks, in order: the application id (401), the content type and encoding (415), the
    /// declared size (413), a slot and byte budget (503), the streamed and decompressed sizes
    /// (413), the document's shape (400); then appends and waits until the accepted actions are
    /// durable: 201 when all were stored, 400 listing the rejected indexes otherwise.
    ///
    /// `profiles` set: `POST /v1/users[/batch]` or `/v1/companies[/batch]`, the same checks, the
    /// objects merged into the profiles of that kind.
    func ingest(
        _ request: Request,
        _ context: CollectorRequestContext,
        batch: Bool,
        profiles: ProfileKind? = nil
    ) async -> Response {
        let start = ContinuousClock.now
        let receivedAt = Timestamp.now()
        let application: String
        switch authorizeIngest(request) {
        case .success(let app): application = app
        case .failure(let refusal): return refusal.response
        }
        let gzip: Bool
        switch checkBodyEncoding(request) {
        case .success(let g): gzip = g
        case .failure(let refusal): return refusal.response
        }
        let limit = batch ? configuration.batchBytesMax : configuration.actionBytesMax
        let noun = profiles.map { $0 == .user ? "user" : "company" } ?? "action"
        let what = batch ? "a batch" : "an \(noun)"
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > limit {
            return Self.tooLarge("\(what) body of \(declared) bytes is over the limit of \(limit) bytes")
        }

        // Back-pressure: a bounded number of requests and bytes in flight; beyond, 503 at once.
        guard let ticket = limiter.admit() else {
            return busy("\(limiter.requestsMax) ingest requests are in flight")
        }
        defer { ticket.finish() }
        if let declared, !ticket.reserve(declared) {
            return busy("the ingest byte budget (\(limiter.bytesMax) bytes) is in use")
        }

        var body: [UInt8] = []
        body.reserveCapacity(declared ?? 0)
        do {
            for try await buffer in request.body {
                if body.count + buffer.readableBytes > limit {
                    return Self.tooLarge("\(what) body is over the limit of \(limit) bytes")
                }
                if declared == nil, !ticket.reserve(buffer.readableBytes) {
                    return busy("the ingest byte budget (\(limiter.bytesMax) bytes) is in use")
                }
                body.append(contentsOf: buffer.readableBytesView)
            }
        } catch {
            return CollectorResponse.error(.badRequest, code: "bad_body", "cannot read the request body: \(error)")
        }
        // Never store a body shorter than it said it was. Today a connection closed mid-body
        // (idle timeout, body deadline) surfaces as a decoder error above, but Hummingbird's body
        // iterator treats a stream that just finishes as the end of the body: this keeps a
        // truncated body out of the store should that path ever be taken.
        if let declared, body.count != declared {
            return CollectorResponse.error(
                .badRequest,
                code: "bad_body",
                "the body ended after \(body.count) of the \(declared) bytes its Content-Length announced"
            )
        }
        if gzip {
            var budgetExhausted = false
            do {
                body = try Gzip.decompress(body, outputBytesMax: limit) { n in
                    if ticket.reserve(n) { return true }
                    budgetExhausted = true
                    return false
                }
            } catch {
                switch error {
                case .tooLarge:
                    if budgetExhausted { return busy("the ingest byte budget (\(limiter.bytesMax) bytes) is in use") }
                    return Self.tooLarge("\(what) is over the limit of \(limit) bytes once decompressed")
                case .corrupt(let why):
                    return CollectorResponse.error(
                        .badRequest,
                        code: "bad_gzip",
                        "the gzip body cannot be decompressed: \(why)"
                    )
                }
            }
        }
        if let refusal = Self.checkShape(body, batch: batch, profiles: profiles) { return refusal }

        let result: AppendResult
        do {
            if let profiles {
                result = try await store.updateProfiles(application: application, kind: profiles, json: body)
            } else {
                result = try await store.append(
                    application: application,
                    json: body,
                    receivedAt: receivedAt,
                    defaultIPAddress: clientAddress(request, context)
                )
            }
        } catch let e as ActionStoreError {
            return storeFailure(e, application: application, gzip: gzip)
        } catch {
            logger.error("append failed", metadata: ["application": "\(application)", "error": "\(error)"])
            return CollectorResponse.error(.internalServerError, code: "internal", "\(error)")
        }
        if profiles == nil {
            metrics.record(result)
            if result.accepted + result.duplicates > 0 { metrics.ingest(ContinuousClock.now - start) }
        }
        if result.rejected > 0 {
            logger.debug(
                "actions rejected",
                metadata: [
                    "application": "\(application)", "rejected": "\(result.rejected)",
                    "accepted": "\(result.accepted)",
                ]
            )
            return CollectorResponse.partial(result)
        }
        return CollectorResponse.json(
            .created,
            #"{"accepted":\#(result.accepted),"duplicates":\#(result.duplicates)}"#
        )
    }

    struct Refusal: Error {
        var response: Response
    }

    /// The application named by `X-Moesif-Application-Id`, if present, short enough and allowed.
    func authorizeIngest(_ request: Request) -> Result<String, Refusal> {
        guard let raw = request.headers[.moesifApplicationId], case let app = Substring(raw).trimmingBlanks(),
            !app.isEmpty
        else {
            return .failure(
                Refusal(
                    response: CollectorResponse.error(
                        .unauthorized,
                        code: "unauthorized",
                        "the X-Moesif-Application-Id header is missing: it names the application"
                    )
                )
            )
        }
        let allowed =
            app.utf8.count <= configuration.applicationIdBytesMax
            && (configuration.allowedApplications?.contains(app) ?? true)
        guard allowed else {
            logger.notice("refused application id", metadata: ["application": "\(app.prefix(64))"])
            return .failure(
                Refusal(
                    response: CollectorResponse.error(
                        .unauthorized,
                        code: "unauthorized",
                        "the application id in X-Moesif-Application-Id is not accepted by this collector"
                    )
                )
            )
        }
        return .success(app)
    }

    /// Whether the body is gzip. JSON only (`application/json`, any UTF-8 charset, or no
    /// Content-Type at all); `Content-Encoding` identity or gzip.
    func checkBodyEncoding(_ request: Request) -> Result<Bool, Refusal> {
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            return .failure(
                Refusal(
                    response: CollectorResponse.error(
                        .unsupportedMediaType,
                        code: "unsupported_media_type",
                        "the body must be JSON (Content-Type: application/json), not \(type)"
                    )
                )
            )
        }
        let encoding = (request.headers[.contentEncoding] ?? "identity").lowercased()
        switch encoding.split(separator: ",").map({ $0.trimmingBlanks() }).filter({ !$0.isEmpty }) {
        case [], ["identity"]: return .success(false)
        case ["gzip"], ["x-gzip"]: return .success(true)
        default:
            return .failure(
                Refusal(
                    response: CollectorResponse.error(
                        .unsupportedMediaType,
                        code: "unsupported_media_type",
                        "Content-Encoding \(encoding) is not supported: send identity or gzip",
                        headers: [.acceptEncoding: "gzip, identity"]
                    )
                )
            )
        }
    }

    /// `application/json`, with or without parameters; a charset, if given, must be UTF-8.
    static func isJSON(_ contentType: String) -> Bool {
        let parts = contentType.split(separator: ";").map { $0.trimmingBlanks().lowercased() }
        guard parts.first == "application/json" else { return false }
        for p in parts.dropFirst() where p.hasPrefix("charset=") {
            let cs = p.dropFirst("charset=".count).filter { $0 != "\"" }
            if cs != "utf-8" && cs != "utf8" { return false }
        }
        return true
    }

    /// A single action must be an object, a batch an array: said plainly, rather than by the
    /// store's generic message. Anything else is left to the JSON reader (which names the offset).
    static func checkShape(_ body: [UInt8], batch: Bool, profiles: ProfileKind? = nil) -> Response? {
        let (plural, single, path): (String, String, String) =
            switch profiles {
            case nil: ("actions", "action", "/v1/actions")
            case .user?: ("users", "user", "/v1/users")
            case .company?: ("companies", "company", "/v1/companies")
            }
        guard let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
            return CollectorResponse.error(
                .badRequest,
                code: ActionStoreError.Code.invalidJSON.rawValue,
                "the body is empty: expected \(batch ? "a JSON array of \(plural)" : "a JSON \(single) object")"
            )
        }
        if batch && first == UInt8(ascii: "{") {
            return CollectorResponse.error(
                .badRequest,
                code: ActionStoreError.Code.invalidAction.rawValue,
                "POST \(path)/batch takes a JSON array of \(plural); send a single object to \(path)"
            )
        }
        if !batch && first == UInt8(ascii: "[") {
            return CollectorResponse.error(
                .badRequest,
                code: ActionStoreError.Code.invalidAction.rawValue,
                "POST \(path) takes one JSON \(single) object; send arrays to \(path)/batch"
            )
        }
        return nil
    }

    /// The client's address: the TCP peer, or the last `X-Forwarded-For` entry (the address the
    /// trusted proxy in front saw) when ``CollectorConfiguration/trustForwardedFor`` is set.
    func clientAddress(_ request: Request, _ context: CollectorRequestContext) -> String? {
        if configuration.trustForwardedFor, let xff = request.headers[values: .xForwardedFor].last {
            if let last = xff.split(separator: ",").last?.trimmingBlanks(), !last.isEmpty { return last }
        }
        return context.peerAddress
    }

    func storeFailure(_ e: ActionStoreError, application: String, gzip: Bool) -> Response {
        switch e.code {
        case .invalidJSON:
            let note = gzip ? " (offsets count decompressed bytes)" : ""
            return CollectorResponse.error(.badRequest, code: e.code.rawValue, e.message + note)
        case .invalidAction:
            return CollectorResponse.error(.badRequest, code: e.code.rawValue, e.message)
        case .limitExceeded:
            return Self.tooLarge(e.message)
        case .busy:
            return busy(e.message)
        case .closed:
            logger.error("append refused: store closed", metadata: ["error": "\(e.message)"])
            return CollectorResponse.error(.serviceUnavailable, code: e.code.rawValue, e.message)
        default:
            logger.error("append failed", metadata: ["application": "\(application)", "error": "\(e)"])
            return CollectorResponse.error(.internalServerError, code: e.code.rawValue, e.message)
        }
    }

    static func tooLarge(_ message: String) -> Response {
        CollectorResponse.error(.contentTooLarge, code: ActionStoreError.Code.limitExceeded.rawValue, message)
    }

    /// 503 with `Retry-After`: the ingest queue is full. Nothing of the request was stored.
    func busy(_ why: String) -> Response {
        logger.debug("ingest busy", metadata: ["reason": "\(why)"])
        let seconds = max(1, configuration.retryAfter.components.seconds)
        return CollectorResponse.error(
            .serviceUnavailable,
            code: "busy",
            "the collector is busy (\(why)); nothing was stored, retry after \(seconds) s",
            headers: [.retryAfter: "\(seconds)"]
        )
    }
}
