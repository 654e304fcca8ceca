import ActionStore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// A Moesif-compatible HTTP collector for user actions, over a ``Store``.
///
/// Endpoints (see `docs/collector.md`):
/// - `POST /v1/actions` (one action object) and `POST /v1/actions/batch` (an array): 201 once the
///   accepted actions are durable; `X-Moesif-Application-Id` names the application.
/// - `POST /v1/users`, `/v1/users/batch`, `/v1/companies`, `/v1/companies/batch`: user and company
///   profiles (Moesif's UserUpdate and CompanyUpdate), merged path by path; an `anonymous_id` with a
///   user aliases that visitor to the user. 201 once durable; the same limits as actions.
/// - `POST /v1/query`: a query (`docs/query.md`) over one application, with a read key.
/// - `GET /v1/schema?app=…`: the application's fields and metadata paths with their types, with a
///   read key.
/// - `GET /`: the web view (`docs/webview.md`), with `/webview/webview.js`, `/webview/webview.css`
///   and `/webview/chart.js` (Chart.js from ``CollectorConfiguration/chartJSPath``).
/// - `GET /health`, `GET /ready`, `GET /metrics`.
/// - Any other `/v1/*` path: 404 naming what this collector serves.
///
/// Every response carries `Access-Control-Allow-Origin: *`, and `OPTIONS` on any path answers a
/// CORS preflight.
///
/// The collector owns the store once it runs: ``run()`` flushes and closes it after the server
/// has stopped (graceful shutdown: stop accepting, finish the requests in flight).
public final class Collector: Service, Sendable {
    // Constant after init.
    public let store: Store
    public let configuration: CollectorConfiguration
    let logger: Logger
    let limiter: IngestLimiter
    let metrics = CollectorMetrics()
    let chartJSFile: ChartJSFile
    let onServerRunning: @Sendable (Int) async -> Void

    /// Makes a collector; nothing listens until ``run()``.
    /// - Parameters:
    ///   - store: the store it writes to and reads from; closed by ``run()`` when it ends.
    ///   - configuration: checked with ``CollectorConfiguration/validate()``.
    ///   - logger: request and lifecycle logs.
    ///   - onServerRunning: called with the bound TCP port once the server listens (port 0
    ///     picks a free one: tests read it here).
    /// - Throws: ``CollectorConfigurationError`` for settings that do not fit together.
    public init(
        store: Store,
        configuration: CollectorConfiguration,
        logger: Logger = Logger(label: "actionstore.collector"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws(CollectorConfigurationError) {
        try configuration.validate()
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.limiter = IngestLimiter(
            requestsMax: configuration.ingestRequestsMax,
            bytesMax: configuration.ingestBytesMax
        )
        self.chartJSFile = ChartJSFile(path: configuration.chartJSPath)
        self.onServerRunning = onServerRunning
    }

    /// The Hummingbird application serving the collector's endpoints. Running it does not close
    /// the store; ``run()`` does.
    public func makeApplication() -> some ApplicationProtocol {
        let logger = self.logger
        let onServerRunning = self.onServerRunning
        let metrics = self.metrics
        let bodyTimeout = TimeAmount.nanoseconds(Int64(configuration.requestBodyTimeout / .nanoseconds(1)))
        let guardLimits = ConnectionGuard.Limits(
            bodyTimeout: bodyTimeout,
            bodyRateMin: configuration.requestBodyRateMin,
            drainTime: bodyTimeout,
            drainBytesMax: ConnectionGuard.drainBytesMax,
            continueBytesMax: max(configuration.batchBytesMax, configuration.actionBytesMax)
        )
        return Application(
            responder: CollectorResponder(collector: self),
            server: .http1(
                configuration: .init(
                    // One guard per connection: slow bodies, the rest of refused bodies, and
                    // malformed heads (ConnectionGuard.swift).
                    additionalChannelHandlers: [
                        ConnectionGuard(limits: guardLimits) { [metrics] status in
                            metrics.request(route: "connection", status: status)
                        }
                    ],
                    idleTimeout: .nanoseconds(Int64(configuration.idleTimeout / .nanoseconds(1)))
                )
            ),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "actionstore"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info(
                    "collector listening",
                    metadata: ["address": "\(channel.localAddress?.description ?? "?")"]
                )
                await onServerRunning(port)
            },
            logger: logger
        )
    }

    /// Serves until the enclosing `ServiceGroup` shuts down gracefully (or the task is
    /// cancelled), then flushes and closes the store.
    ///
    /// Graceful shutdown stops accepting connections and lets the requests in flight finish, so
    /// every request answered 201 is durable before the store closes.
    public func run() async throws {
        var failure: (any Error)?
        do { try await makeApplication().run() } catch { failure = error }
        logger.info("collector stopped; flushing and closing the store")
        do { try store.flush() } catch { logger.error("flush on shutdown failed", metadata: ["error": "\(error)"]) }
        do { try store.close() } catch {
            logger.error("close on shutdown failed", metadata: ["error": "\(error)"])
            failure = failure ?? error
        }
        if let failure { throw failure }
    }

    /// ``run()`` in a `ServiceGroup` that shuts down gracefully on `signals` (the `serve` command).
    public func runUntilSignalled(_ signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let group = ServiceGroup(
            configuration: .init(services: [self], gracefulShutdownSignals: signals, logger: logger)
        )
        try await group.run()
    }
}

/// The request context: Hummingbird's core storage and the TCP peer's address.
public struct CollectorRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address (no port), if the connection is over IP.
    public let peerAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
    }
}
