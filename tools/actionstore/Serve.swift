import ActionCollector
import ActionStore
import ArgumentParser
import Foundation
import Logging

/// `actionstore serve`: the HTTP collector (library `ActionCollector`) over a store directory.
/// Flags win over the `ACTIONSTORE_*` environment variables, which win over the defaults.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve Moesif's collector API for actions (POST /v1/actions, /v1/actions/batch) and queries.",
        discussion: """
            Environment: ACTIONSTORE_DATA, ACTIONSTORE_HOST, ACTIONSTORE_PORT, ACTIONSTORE_READ_KEYS \
            (space-separated KEY or KEY:app1,app2), ACTIONSTORE_ALLOWED_APPS (comma-separated), \
            ACTIONSTORE_TRUST_FORWARDED_FOR, ACTIONSTORE_BATCH_BYTES_MAX, ACTIONSTORE_ACTION_BYTES_MAX, \
            ACTIONSTORE_INGEST_REQUESTS_MAX, ACTIONSTORE_INGEST_BYTES_MAX, ACTIONSTORE_CHART_JS, \
            ACTIONSTORE_LOG_LEVEL. GET / serves the web view (docs/webview.md). \
            SIGTERM or SIGINT: stop accepting, finish requests in flight, flush, close. See docs/collector.md.
            """
    )
    @Option(help: "The store directory (default ./data). Env ACTIONSTORE_DATA.") var data: String?
    @Option(help: "The address to listen on (default 127.0.0.1). Env ACTIONSTORE_HOST.") var host: String?
    @Option(help: "The TCP port (default 8080; 0 picks one). Env ACTIONSTORE_PORT.") var port: Int?
    @Option(
        name: .customLong("read-key"),
        help: "A key for POST /v1/query: KEY (every application) or KEY:app1,app2. Repeatable."
    )
    var readKeys: [String] = []
    @Option(
        name: .customLong("allow-app"),
        help: "Accept actions only for these application ids (comma-separated; repeatable). Default: any."
    )
    var allowApps: [String] = []
    @Flag(help: "Take the client address from X-Forwarded-For (behind a trusted proxy only).")
    var trustForwardedFor = false
    @Option(help: "The largest batch body in bytes, compressed or not (default 50 MiB).") var batchBytesMax: Int?
    @Option(help: "Ingest requests in flight before 503 (default 256).") var ingestRequestsMax: Int?
    @Option(help: "Body bytes in flight before 503 (default 256 MiB).") var ingestBytesMax: Int?
    @Option(
        name: .customLong("chart-js"),
        help:
            "Chart.js for the web view (default /usr/share/javascript/chart.js/chart.min.js). Env ACTIONSTORE_CHART_JS."
    )
    var chartJS: String?
    @Option(help: "trace, debug, info (default), notice, warning, error. Env ACTIONSTORE_LOG_LEVEL.")
    var logLevel: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var config: CollectorConfiguration
        do { config = try CollectorConfiguration(environment: env) } catch {
            throw ValidationError(error.message)
        }
        if let host { config.host = host }
        if let port { config.port = port }
        if !readKeys.isEmpty {
            do {
                config.readKeys = try readKeys.map { s throws(CollectorConfigurationError) in try ReadKey(parsing: s) }
            } catch {
                throw ValidationError(error.message)
            }
        }
        if !allowApps.isEmpty {
            config.allowedApplications = CollectorConfiguration.applicationList(allowApps.joined(separator: ","))
        }
        if trustForwardedFor { config.trustForwardedFor = true }
        if let batchBytesMax { config.batchBytesMax = batchBytesMax }
        if let ingestRequestsMax { config.ingestRequestsMax = ingestRequestsMax }
        if let ingestBytesMax { config.ingestBytesMax = ingestBytesMax }
        if let chartJS { config.chartJSPath = chartJS }

        let levelName = logLevel ?? env["ACTIONSTORE_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level \(levelName)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let directory = data ?? env["ACTIONSTORE_DATA"] ?? "./data"
        let store = try Store.open(at: directory)
        let collector: Collector
        do { collector = try Collector(store: store, configuration: config) } catch {
            try? store.close()
            throw ValidationError(error.message)
        }
        Logger(label: "actionstore.serve").info(
            "serving",
            metadata: [
                "data": "\(directory)", "host": "\(config.host)", "port": "\(config.port)",
                "read_keys": "\(config.readKeys.count)",
                "allowed_apps": "\(config.allowedApplications.map { $0.sorted().joined(separator: ",") } ?? "any")",
            ]
        )
        try await collector.runUntilSignalled()
    }
}
