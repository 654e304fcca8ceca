import ActionStore
import HTTPTypes
import Hummingbird

/// JSON answers of the collector. Errors have one shape, `{"code": "...", "message": "..."}`,
/// plus `rejected` (per action) for ingest requests.
enum CollectorResponse {
    static let jsonContentType = "application/json; charset=utf-8"

    static func json(_ status: HTTPResponse.Status, _ body: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = jsonContentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// `{"code": code, "message": message}`.
    static func error(
        _ status: HTTPResponse.Status,
        code: String,
        _ message: String,
        headers: HTTPFields = [:]
    ) -> Response {
        json(status, #"{"code":\#(quote(code)),"message":\#(quote(message))}"#, headers: headers)
    }

    /// 400 for an ingest request some of whose actions were rejected: the accepted ones are
    /// stored; `rejected` lists each other index and why.
    static func partial(_ result: AppendResult) -> Response {
        var items: [String] = []
        for (i, o) in result.outcomes.enumerated() {
            guard case .rejected(let e) = o else { continue }
            items.append(#"{"index":\#(i),"code":\#(quote(e.code.rawValue)),"message":\#(quote(e.message))}"#)
        }
        let total = result.outcomes.count
        let message =
            "\(result.rejected) of \(total) action\(total == 1 ? "" : "s") rejected; "
            + (result.accepted + result.duplicates > 0
                ? "the others are stored (resending them is safe: they are deduplicated by transaction_id)"
                : "nothing was stored")
        return json(
            .badRequest,
            #"{"code":"rejected_actions","message":\#(quote(message)),"accepted":\#(result.accepted),"#
                + #""duplicates":\#(result.duplicates),"rejected":[\#(items.joined(separator: ","))]}"#
        )
    }

    /// A JSON string literal for `s`, escaped per RFC 8259 (the engine's one escaper).
    static func quote(_ s: String) -> String { JSONWriter.quoted(s) }
}
