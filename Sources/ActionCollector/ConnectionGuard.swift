import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Connection-level defences against hostile clients that Hummingbird's HTTP/1 server lacks, as a
/// channel handler between the HTTP codec and the request handling (`docs/collector.md`,
/// "Hostile clients"). It runs on the connection's event loop and sees every request and response
/// part:
///
/// - **A request body that arrives too slowly** (slowloris on the body, or a `Content-Length` that
///   announces more than is sent): Hummingbird's idle timeout restarts with every body part, so a
///   client trickling a byte every half second holds its ingest slot forever. Here a body must be
///   complete within `bodyTimeout` plus one second per `bodyRateMin` bytes received since the
///   head; past that the client gets 408 (JSON, while no response has begun) and the connection is
///   closed.
/// - **The rest of a refused body**: when the response is written before the request body has
///   ended (413 on the declared length or while streaming, 408), Hummingbird reads and discards
///   the rest of the body to keep the connection alive, however long it is: a chunked body that
///   never ends keeps the connection forever. Here at most `drainBytesMax` more bytes and
///   `drainTime` are discarded; then the connection is closed.
/// - **A request head the HTTP decoder refuses**: header fields over the decoder's limits answer
///   431, other malformed heads 400, each with the collector's JSON error body (Hummingbird answers
///   an empty 400), and the connection is closed: the decoder cannot resynchronize.
///
/// - **`Expect: 100-continue`**: answered `100 Continue` at once when the declared length fits a
///   limit (Hummingbird does not answer it, so such clients waited a second per request).
///
/// A request head that is trickled needs nothing here: the decoder passes nothing on before the
/// head is complete, so Hummingbird's idle timeout, counted from the connection's start or the
/// previous response, closes the connection (see ``CollectorConfiguration/idleTimeout``).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var bodyTimeout: TimeAmount
        /// Bytes per second that extend the body's deadline by one second; at least 1.
        var bodyRateMin: Int
        var drainTime: TimeAmount
        var drainBytesMax: Int
        /// The largest declared body answered `100 Continue` (the largest any route accepts).
        var continueBytesMax: Int
    }

    /// The most bytes of a refused body read and discarded before the connection is closed.
    static let drainBytesMax = 1 << 20

    private let limits: Limits
    /// Requests whose head has arrived and whose response has not ended (more than one only
    /// when a client pipelines).
    private var pending = 0
    /// The last request's body is still arriving (head seen, end not yet).
    private var bodyOpen = false
    private var bodyStart = NIODeadline.now()
    private var bodyReceived = 0
    /// A response head has been written for the oldest pending request.
    private var responseStarted = false
    /// The response ended while its request's body was still arriving: the rest is discarded.
    private var draining = false
    private var drained = 0
    /// This handler answered or closed; later writes from the application are dropped.
    private var closing = false
    private var timer: Scheduled<Void>?

    /// Told the status of each answer this handler writes itself (408, 431, 400), for metrics.
    private let answered: @Sendable (Int) -> Void

    init(limits: Limits, answered: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.limits = limits
        self.answered = answered
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let request):
            if request.headerFields[.expect]?.lowercased() == "100-continue",
                (request.headerFields[.contentLength].flatMap { Int($0) } ?? 0) <= limits.continueBytesMax
            {
                // curl (for bodies over 1 KiB) and .NET clients wait up to a second for this before
                // sending the body. A body declared over every limit gets no 100: the handler's
                // 413 comes first and the client need not send it.
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
            pending += 1
            if pending == 1 { responseStarted = false }
            bodyOpen = true
            draining = false
            bodyStart = .now()
            bodyReceived = 0
            schedule(context, at: bodyStart + limits.bodyTimeout)
        case .body(let buffer):
            bodyReceived += buffer.readableBytes
            if draining {
                drained += buffer.readableBytes
                if drained > limits.drainBytesMax {
                    close(context)
                    return
                }
            }
        case .end:
            bodyOpen = false
            draining = false
            cancelTimer()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closing else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational:
            responseStarted = true
        case .head, .body:
            break
        case .end:
            pending = max(0, pending - 1)
            responseStarted = false
            if bodyOpen && pending == 0 {
                // Answered before the body ended (a refusal): discard a bounded rest, then close.
                draining = true
                drained = 0
                schedule(context, at: .now() + limits.drainTime)
            }
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A decoder error before any request is in progress: answer it here, in JSON. Otherwise
        // (mid-body, or while a response is pending) Hummingbird's handling stands.
        guard !closing, pending == 0, let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if case .headerOverflow = parserError {
            answer(
                context,
                .init(code: 431),
                code: "header_too_large",
                "the request head is over the limits (header bytes, one field's bytes, or the number of fields)"
            )
        } else {
            answer(context, .badRequest, code: "bad_request", "the request is not valid HTTP/1.1: \(parserError)")
        }
    }

    // MARK: -

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard !closing, bodyOpen else { return }
        if draining {
            close(context)
            return
        }
        let allowance = TimeAmount.nanoseconds(Int64(Double(bodyReceived) / Double(limits.bodyRateMin) * 1e9))
        let deadline = bodyStart + limits.bodyTimeout + allowance
        if deadline > .now() {
            schedule(context, at: deadline)
        } else if pending == 1 && !responseStarted {
            answer(
                context,
                .requestTimeout,
                code: "request_timeout",
                "the request body did not arrive in time: \(bodyReceived) bytes in "
                    + "\((NIODeadline.now() - bodyStart).nanoseconds / 1_000_000) ms"
            )
        } else {
            close(context)
        }
    }

    /// Writes a JSON error with `Connection: close`, then closes the connection.
    private func answer(
        _ context: ChannelHandlerContext,
        _ status: HTTPResponse.Status,
        code: String,
        _ message: String
    ) {
        let body = ByteBuffer(
            string: #"{"code":\#(CollectorResponse.quote(code)),"message":\#(CollectorResponse.quote(message))}"#
        )
        var head = HTTPResponse(status: status)
        head.headerFields[.contentType] = CollectorResponse.jsonContentType
        head.headerFields[.contentLength] = "\(body.readableBytes)"
        head.headerFields[.connection] = "close"
        head.headerFields[.accessControlAllowOrigin] = "*"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        answered(status.code)
        close(context)
    }

    private func close(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        cancelTimer()
        context.close(promise: nil)
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        cancelTimer()
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timerFired(context)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}
