import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

// The web view (docs/webview.md): `GET /` and its script and style sheet, plus Chart.js from
// Debian's libjs-chart.js. The page talks to the collector's own API only (`GET /v1/schema`,
// `POST /v1/query`) with the read key the person types, kept in the tab's sessionStorage.
//
// The page's files are embedded in the binary (`.embedInCode` in Package.swift: SwiftPM turns
// each file of Resources/webview into a `[UInt8]` of `PackageResources`) rather than copied as a
// resource bundle: on Linux `Bundle.module` looks next to the executable and at the absolute
// build path, and traps when neither exists, so a copied or installed `actionstore` binary would
// crash on `GET /`. Embedded, the binary built from a fresh clone serves the page wherever it
// runs, and nothing is read from the source tree at run time.

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

/// The web view's files and the headers they are served with.
enum WebView {
    /// Scripts, styles and fetches from this origin only; nothing inline, no images, fonts,
    /// plugins or frames (the page uses none: Chart.js draws on a canvas), no framing by others, and
    /// no form posts (the connect form is handled in script: without script it must not send the
    /// key anywhere).
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// Paths → (content type, bytes) of the embedded files.
    static let files: [String: (contentType: String, bytes: [UInt8])] = [
        "/": ("text/html; charset=utf-8", PackageResources.index_html),
        "/webview/webview.js": ("text/javascript; charset=utf-8", PackageResources.webview_js),
        "/webview/webview.css": ("text/css; charset=utf-8", PackageResources.webview_css),
    ]

    /// The URL path Chart.js is served at.
    static let chartJSPath = "/webview/chart.js"

    /// The headers every web view answer carries. `no-cache`: revalidate, so that a new binary's
    /// page is never mixed with an old cached script.
    static func headers(contentType: String, cacheControl: String = "no-cache") -> HTTPFields {
        [
            .contentType: contentType,
            .cacheControl: cacheControl,
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
            // The fragment never leaves the browser, but a referrer would carry the path.
            .referrerPolicy: "no-referrer",
        ]
    }
}

/// Chart.js' bytes, read from ``CollectorConfiguration/chartJSPath`` on first use and kept. A
/// failed read is not kept, so installing libjs-chart.js while the collector runs is enough.
final class ChartJSFile: Sendable {
    let path: String
    private let bytes = Mutex<[UInt8]?>(nil)

    init(path: String) { self.path = path }

    /// The file's bytes, or nil if it cannot be read.
    func contents() -> [UInt8]? {
        if let cached = bytes.withLock({ $0 }) { return cached }
        // A blocking read on the request's thread, once per process (about 200 KB from the page
        // cache): not worth a thread hop.
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let read = [UInt8](data)
        bytes.withLock { $0 = read }
        return read
    }
}

extension Collector {
    /// `GET /`, `/webview/webview.js`, `/webview/webview.css`.
    func webViewFile(_ path: String) -> Response {
        guard let file = WebView.files[path] else {
            return CollectorResponse.error(.notFound, code: "not_found", "no such path: \(path)")
        }
        return Response(
            status: .ok,
            headers: WebView.headers(contentType: file.contentType),
            body: .init(byteBuffer: ByteBuffer(bytes: file.bytes))
        )
    }

    /// `GET /webview/chart.js`: Chart.js from its installed path, or a 404 saying how to install it
    /// (the page then shows the same message instead of a chart).
    func chartJS() -> Response {
        guard let bytes = chartJSFile.contents() else {
            return CollectorResponse.error(
                .notFound,
                code: "chart_js_missing",
                "Chart.js is not installed at \(chartJSFile.path): install Debian's libjs-chart.js "
                    + "(apt-get install libjs-chart.js, or make deps), or point --chart-js or "
                    + "ACTIONSTORE_CHART_JS at chart.min.js"
            )
        }
        return Response(
            status: .ok,
            headers: WebView.headers(contentType: "text/javascript; charset=utf-8", cacheControl: "max-age=3600"),
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
