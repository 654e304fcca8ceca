/// Settings of a ``Collector``. Each field states its default and, where it has one, its
/// environment variable (read by ``init(environment:)``; the `serve` command's flags win over it).
public struct CollectorConfiguration: Sendable, Hashable {
    /// The address to listen on. Default `127.0.0.1`. `ACTIONSTORE_HOST`.
    public var host = "127.0.0.1"
    /// The TCP port; 0 picks a free one (see ``Collector/init(store:configuration:logger:onServerRunning:)``).
    /// Default 8080. `ACTIONSTORE_PORT`.
    public var port = 8080
    /// Read keys for `POST /v1/query`. Default none: queries are refused. `ACTIONSTORE_READ_KEYS`
    /// (space- or semicolon-separated `KEY` or `KEY:app1,app2`).
    public var readKeys: [ReadKey] = []
    /// The applications that may send actions; nil lets any id open its application. Default nil.
    /// `ACTIONSTORE_ALLOWED_APPS` (comma-separated).
    public var allowedApplications: Set<String>?
    /// Take the client address from the last `X-Forwarded-For` entry (the one the proxy in front
    /// added) instead of the TCP peer. Only for a collector behind a trusted proxy. Default false.
    /// `ACTIONSTORE_TRUST_FORWARDED_FOR` (`1`/`true`).
    public var trustForwardedFor = false
    /// The largest batch body, compressed or not, and after decompression. Default 50 MiB
    /// (Moesif's limit "regardless if compression is used"). `ACTIONSTORE_BATCH_BYTES_MAX`.
    public var batchBytesMax = 50 << 20
    /// The largest `POST /v1/actions` body, and the largest query body. Default 1 MiB (Moesif's
    /// single-event limit; the store also enforces its own per-action limit inside batches).
    /// `ACTIONSTORE_ACTION_BYTES_MAX`.
    public var actionBytesMax = 1 << 20
    /// Ingest requests handled at once; more are answered 503 with `Retry-After`. Default 256.
    /// `ACTIONSTORE_INGEST_REQUESTS_MAX`.
    public var ingestRequestsMax = 256
    /// Body bytes (received plus decompressed) held by ingest requests at once; a request that
    /// would go over is answered 503. Default 256 MiB; at least ``batchBytesMax`` × 2 so that one
    /// maximal gzip batch always fits. `ACTIONSTORE_INGEST_BYTES_MAX`.
    public var ingestBytesMax = 256 << 20
    /// The `Retry-After` of a 503. Default 1 second.
    public var retryAfter: Duration = .seconds(1)
    /// `Access-Control-Max-Age` of preflight answers. Default 1 day.
    public var corsMaxAge: Duration = .seconds(86_400)
    /// A connection that sends nothing for this long is closed, so a stalled client gives back
    /// its ingest slot. Default 60 seconds. It also bounds the time to send a request head: the
    /// HTTP decoder passes nothing on until the head is complete, so a head trickled byte by byte
    /// is closed this long after the connection opened (or after the previous response).
    public var idleTimeout: Duration = .seconds(60)
    /// A request body must be complete within this time after its head, plus one second per
    /// ``requestBodyRateMin`` bytes received; a slower body (a trickle, or a `Content-Length` that
    /// announces more than is sent) is answered 408 and the connection closed, which gives back
    /// the ingest slot even when the client keeps the idle timeout from firing. It also bounds
    /// how long the rest of a refused body (413) is read and discarded before the connection is
    /// closed. Default 30 seconds. `ACTIONSTORE_REQUEST_BODY_TIMEOUT` (seconds).
    public var requestBodyTimeout: Duration = .seconds(30)
    /// The body rate (bytes per second) that earns a body one more second beyond
    /// ``requestBodyTimeout``. Default 16 KiB/s, so a 50 MiB batch may take 30 s + 53 min but a
    /// client trickling a few bytes a second is cut off after about 30 s.
    /// `ACTIONSTORE_REQUEST_BODY_RATE_MIN`.
    public var requestBodyRateMin = 16 << 10
    /// Application ids longer than this are refused (401). Default 256 bytes.
    public var applicationIdBytesMax = 256
    /// The Chart.js file the web view (`GET /`) draws with, served at `/webview/chart.js`: Debian's
    /// `libjs-chart.js` (3.9; `make deps` installs it). Read from disk, not committed or embedded,
    /// so Debian's security updates reach it. Default
    /// `/usr/share/javascript/chart.js/chart.min.js`. `ACTIONSTORE_CHART_JS`.
    public var chartJSPath = "/usr/share/javascript/chart.js/chart.min.js"

    public init() {}

    /// The defaults, overridden by the `ACTIONSTORE_*` variables present in `environment`.
    /// - Throws: ``CollectorConfigurationError`` naming the variable and its bad value.
    public init(environment: [String: String]) throws(CollectorConfigurationError) {
        func int(_ name: String) throws(CollectorConfigurationError) -> Int? {
            guard let s = environment[name] else { return nil }
            guard let v = Int(s), v >= 0 else { throw CollectorConfigurationError("\(name)=\(s) is not a count") }
            return v
        }
        if let v = environment["ACTIONSTORE_HOST"] { host = v }
        if let v = try int("ACTIONSTORE_PORT") { port = v }
        if let v = environment["ACTIONSTORE_READ_KEYS"] {
            readKeys = try v.split(whereSeparator: { $0 == " " || $0 == ";" || $0 == "\n" }).map {
                (s) throws(CollectorConfigurationError) in try ReadKey(parsing: String(s))
            }
        }
        if let v = environment["ACTIONSTORE_ALLOWED_APPS"] { allowedApplications = Self.applicationList(v) }
        if let v = environment["ACTIONSTORE_TRUST_FORWARDED_FOR"] {
            trustForwardedFor = ["1", "true", "yes"].contains(v.lowercased())
        }
        if let v = try int("ACTIONSTORE_BATCH_BYTES_MAX") { batchBytesMax = v }
        if let v = try int("ACTIONSTORE_ACTION_BYTES_MAX") { actionBytesMax = v }
        if let v = try int("ACTIONSTORE_INGEST_REQUESTS_MAX") { ingestRequestsMax = v }
        if let v = try int("ACTIONSTORE_INGEST_BYTES_MAX") { ingestBytesMax = v }
        if let v = try int("ACTIONSTORE_REQUEST_BODY_TIMEOUT") { requestBodyTimeout = .seconds(v) }
        if let v = try int("ACTIONSTORE_REQUEST_BODY_RATE_MIN") { requestBodyRateMin = v }
        if let v = environment["ACTIONSTORE_CHART_JS"] { chartJSPath = v }
    }

    /// Parses `app1,app2` (blanks ignored).
    public static func applicationList(_ s: String) -> Set<String> {
        Set(s.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty })
    }

    /// Checks that the settings fit together.
    /// - Throws: ``CollectorConfigurationError`` saying which setting to change.
    public func validate() throws(CollectorConfigurationError) {
        guard (0...65_535).contains(port) else { throw CollectorConfigurationError("port \(port) is out of range") }
        guard batchBytesMax > 0, actionBytesMax > 0, ingestRequestsMax > 0 else {
            throw CollectorConfigurationError("size and request limits must be positive")
        }
        guard requestBodyTimeout > .zero, requestBodyRateMin > 0 else {
            throw CollectorConfigurationError("the request body timeout and minimum rate must be positive")
        }
        guard ingestBytesMax >= 2 * batchBytesMax else {
            throw CollectorConfigurationError(
                "ingest bytes max (\(ingestBytesMax)) must be at least twice the batch bytes max (\(batchBytesMax))"
            )
        }
    }
}

/// A bad collector setting.
public struct CollectorConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A key that authorizes `POST /v1/query`: for every application, or only for some.
public struct ReadKey: Sendable, Hashable {
    public var key: String
    /// nil: every application.
    public var applications: Set<String>?

    public init(key: String, applications: Set<String>? = nil) {
        self.key = key
        self.applications = applications
    }

    /// Parses `KEY` (every application) or `KEY:app1,app2`.
    /// - Throws: ``CollectorConfigurationError`` for an empty key or application list.
    public init(parsing s: String) throws(CollectorConfigurationError) {
        if let colon = s.firstIndex(of: ":") {
            key = String(s[..<colon])
            let apps = CollectorConfiguration.applicationList(String(s[s.index(after: colon)...]))
            guard !apps.isEmpty else {
                throw CollectorConfigurationError("read key \(key.redacted): no applications after ':'")
            }
            applications = apps
        } else {
            key = s
            applications = nil
        }
        guard !key.isEmpty else { throw CollectorConfigurationError("a read key is empty") }
    }

    func allows(_ application: String) -> Bool { applications?.contains(application) ?? true }
}

extension String {
    /// The first 4 characters and a count: enough to tell keys apart in logs and errors.
    var redacted: String { String(prefix(4)) + "… (\(count) chars)" }
}

extension Substring {
    func trimmingBlanks() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
