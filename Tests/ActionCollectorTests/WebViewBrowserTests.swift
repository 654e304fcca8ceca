import ActionCollector
import ActionStore
import Foundation
import Testing

/// The web view in a real browser: Debian's `chromium`, headless, against a collector on a
/// loopback port with two weeks of sign-ups by four providers.
///
/// Each test opens a view from its URL fragment (the read key included, as a shared link would),
/// lets the page run its queries (`--virtual-time-budget`), and reads the DOM back
/// (`--dump-dom`): the page writes what its chart and table show into `<pre id="result-json">`
/// and the errors it saw (uncaught exceptions, rejected promises, CSP violations,
/// `console.error`) into `body[data-errors]`. The numbers are checked against `POST /v1/query`.
///
/// Runs when `ACTIONSTORE_BROWSER_TEST=1` (`make webview-test`, CI), so that `make test` needs no
/// browser; then a missing browser or Chart.js fails it. `ACTIONSTORE_CHROMIUM` names the browser
/// (default `chromium`); `ACTIONSTORE_WEBVIEW_SCREENSHOT=PATH` also saves the first view as a PNG
/// (`make webview-screenshot` writes docs/webview.png).
@Suite(
    "Web view in headless Chromium",
    .enabled(if: ProcessInfo.processInfo.environment["ACTIONSTORE_BROWSER_TEST"].map { !$0.isEmpty } ?? false),
    .serialized
)
struct WebViewBrowserTests {
    static let providers = ["Google", "GitHub", "Email", "Apple"]
    static let from = "2026-11-02T00:00:00Z"
    static let to = "2026-11-16T00:00:00Z"
    static let key = "browser-key"

    /// Two weeks (Monday 2 November to Sunday 15 November 2026) of "Signed Up" and "Signed In" with
    /// a provider and an amount: the providers differ in volume, weekends are quieter, the second
    /// week busier. Seeded, so every run (and the screenshot) has the same numbers.
    static func actions() -> [String] {
        var rng = SplitMix64(seed: 17)
        let base = [40, 25, 14, 6]
        var out: [String] = []
        let day0 = Timestamp.parse("2026-11-02T00:00:00Z")!
        for day in 0..<14 {
            let weekend = day % 7 >= 5
            for (p, provider) in providers.enumerated() {
                let n = Double(base[p]) * (weekend ? 0.6 : 1) * (1 + 0.04 * Double(day)) + Double(rng.next() % 7)
                for _ in 0..<Int(n) {
                    let time = Timestamp.format(day0 + Int64(day) * 86_400_000_000 + Int64(rng.next() % 86_400_000_000))
                    let name = rng.next() % 3 == 0 ? "Signed In" : "Signed Up"
                    out.append(
                        #"{"action_name":"\#(name)","user_id":"user-\#(rng.next() % 300)","#
                            + #""request":{"time":"\#(time)","uri":"https://app.example.com/signup"},"#
                            + #""metadata":{"provider":"\#(provider)","amount":\#(1 + rng.next() % 100)}}"#
                    )
                }
            }
        }
        return out
    }

    /// Runs `body` against a collector holding ``actions()`` for application `demo`.
    func withDemo(chartJSPath: String? = nil, _ body: (CollectorHarness) async throws -> Void) async throws {
        let configuration = testConfiguration {
            $0.readKeys = [ReadKey(key: Self.key)]
            if let chartJSPath { $0.chartJSPath = chartJSPath }
        }
        try await CollectorHarness.with(configuration) { h in
            let r = try await h.post("/v1/actions/batch", batch(Self.actions()), app: "demo")
            try #require(r.status == 201, "\(r.body)")
            try await body(h)
        }
    }

    /// `POST /v1/query` as the test's own check.
    func query(_ h: CollectorHarness, _ json: String) async throws -> [[String: Any]] {
        let r = try await h.post(
            "/v1/query?app=demo",
            json,
            app: nil,
            headers: [("Authorization", "Bearer \(Self.key)")]
        )
        try #require(r.status == 200, "\(r.body)")
        return r.json["rows"] as? [[String: Any]] ?? []
    }

    /// The view's URL: the fragment as a shared link has it, with the key.
    func url(_ h: CollectorHarness, _ fragment: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~:,/"))
        let parts = ([("app", "demo"), ("key", Self.key)] + fragment).map {
            "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }
        return h.base + "/#" + parts.joined(separator: "&")
    }

    /// What the page says it shows, and what the browser logged.
    struct PageResult {
        var summary: [String: Any]
        var bodyTag: String
        var log: String

        var series: [(name: String, data: [Double?])] {
            (summary["series"] as? [[String: Any]] ?? []).map {
                ($0["name"] as? String ?? "?", ($0["data"] as? [Any] ?? []).map { ($0 as? NSNumber)?.doubleValue })
            }
        }
        var columns: [String] { summary["columns"] as? [String] ?? [] }
        /// Table rows by time (ISO, or `total` for the footer): one value per column.
        var rows: [String: [Double?]] {
            var out: [String: [Double?]] = [:]
            for row in summary["rows"] as? [[String: Any]] ?? [] {
                out[row["time"] as? String ?? "?"] = (row["values"] as? [Any] ?? []).map {
                    ($0 as? NSNumber)?.doubleValue
                }
            }
            return out
        }
        var queries: [[String: Any]] { summary["queries"] as? [[String: Any]] ?? [] }
    }

    /// Chromium's flags for one run with its own profile directory. As root in CI, Chromium needs
    /// --no-sandbox; --disable-dev-shm-usage for a small /dev/shm. The virtual-time budget lets
    /// the page's fetches and timers finish before the DOM is dumped (virtual time waits for
    /// network fetches).
    static func flags(profile: String) -> [String] {
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--user-data-dir=\(profile)", "--virtual-time-budget=15000",
            "--enable-logging=stderr", "--v=0",
        ]
    }

    /// Opens `url` in headless Chromium and reads the page's summary out of the dumped DOM.
    func open(_ url: String, screenshot: String? = nil) async throws -> PageResult {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let common = Self.flags(profile: profile)
        let (dom, log) = try await Chromium.run(common + ["--dump-dom", url])
        if let screenshot {
            _ = try await Chromium.run(
                common + ["--hide-scrollbars", "--window-size=1280,900", "--screenshot=\(screenshot)", url]
            )
            #expect(FileManager.default.fileExists(atPath: screenshot))
        }
        let bodyTag = dom.range(of: "<body[^>]*>", options: .regularExpression).map { String(dom[$0]) } ?? ""
        guard let open = dom.range(of: #"<pre id="result-json"[^>]*>"#, options: .regularExpression),
            let close = dom.range(of: "</pre>", range: open.upperBound..<dom.endIndex)
        else {
            Issue.record("no result-json in the DOM: \(bodyTag)\n\(log.suffix(2000))")
            return PageResult(summary: [:], bodyTag: bodyTag, log: log)
        }
        let text = String(dom[open.upperBound..<close.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&nbsp;", with: "\u{a0}").replacingOccurrences(of: "&amp;", with: "&")
        let summary = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
        return PageResult(summary: summary, bodyTag: bodyTag, log: log)
    }

    /// The checks every view must pass: drawn, no error, the key out of the address bar.
    func expectClean(_ page: PageResult) {
        #expect(page.bodyTag.contains(#"data-state="ready""#), "\(page.bodyTag) \(page.summary["message"] ?? "")")
        #expect(page.bodyTag.contains(#"data-errors="[]""#), "\(page.bodyTag)")
        #expect((page.summary["errors"] as? [Any])?.isEmpty == true, "\(page.summary["errors"] ?? "")")
        #expect(page.summary["chart"] as? String == "drawn", "\(page.summary["message"] ?? "")")
        // Chromium logs uncaught errors and refused resources (CSP) on stderr too.
        for marker in ["Uncaught", "Refused to", "Content Security Policy"] {
            #expect(!page.log.contains(marker), "\(page.log)")
        }
        let hash = page.summary["hash"] as? String ?? ""
        #expect(!hash.isEmpty && !hash.contains("key="), "\(hash)")
        #expect(page.summary["key_in_session_storage"] as? Bool == true)
        #expect(page.queries.count <= 2)
        #expect((page.summary["rows_scanned"] as? Int ?? 0) > 0)
    }

    /// `[time: [group: value]]` from a `group_by [{time}, field]` answer.
    func cells(_ rows: [[String: Any]], field: String, metric: String) -> [String: [String: Double]] {
        var out: [String: [String: Double]] = [:]
        for row in rows {
            let value = (row[metric] as? NSNumber)?.doubleValue ?? .nan
            out[row["time"] as? String ?? "?", default: [:]][row[field] as? String ?? "(none)"] = value
        }
        return out
    }

    static let days = (0..<14).map { Timestamp.format(Timestamp.parse(from)! + Int64($0) * 86_400_000_000) }

    @Test func signUpsPerDayByProvider() async throws {
        try await withDemo { h in
            let whereJSON = #"{"eq":["action_name","Signed Up"]}"#
            let page = try await open(
                url(
                    h,
                    [
                        ("metric", "count"), ("interval", "day"), ("group_by", "metadata.provider"),
                        ("from", Self.from),
                        ("to", Self.to), ("where", whereJSON),
                    ]
                ),
                screenshot: ProcessInfo.processInfo.environment["ACTIONSTORE_WEBVIEW_SCREENSHOT"]
            )
            expectClean(page)
            // One series per provider, no "other" (four groups, top 10).
            #expect(Set(page.series.map(\.name)) == Set(Self.providers))
            #expect(page.series.count == Self.providers.count)
            #expect(page.columns == page.series.map(\.name) + ["*"])
            #expect(page.queries.count == 2)

            let expected = cells(
                try await query(
                    h,
                    #"{"from":"\#(Self.from)","to":"\#(Self.to)","where":\#(whereJSON),"#
                        + #""group_by":[{"time":"day"},"metadata.provider"],"metrics":["count"]}"#
                ),
                field: "metadata.provider",
                metric: "count"
            )
            #expect(expected.count == 14)
            let rows = page.rows
            for day in Self.days {
                let row = try #require(rows[day], "no table row for \(day): \(rows.keys.sorted())")
                for (i, column) in page.columns.enumerated() where column != "*" {
                    #expect(row[i] == expected[day]?[column] ?? 0, "\(day) \(column)")
                }
                #expect(row.last! == expected[day]!.values.reduce(0, +), "\(day) total")
                // The chart draws the table's numbers.
                let d = Self.days.firstIndex(of: day)!
                for (i, series) in page.series.enumerated() { #expect(series.data[d] == row[i]) }
            }
            let totals = try await query(
                h,
                #"{"from":"\#(Self.from)","to":"\#(Self.to)","where":\#(whereJSON),"group_by":["metadata.provider"]}"#
            )
            let footer = try #require(rows["total"])
            for row in totals {
                let i = try #require(page.columns.firstIndex(of: row["metadata.provider"] as? String ?? "?"))
                #expect(footer[i] == (row["count"] as? NSNumber)?.doubleValue)
            }
        }
    }

    @Test func sumOfTheRestIsOther() async throws {
        try await withDemo { h in
            let page = try await open(
                url(
                    h,
                    [
                        ("metric", "sum:metadata.amount"), ("interval", "day"), ("group_by", "metadata.provider"),
                        ("top", "2"), ("from", Self.from), ("to", Self.to),
                    ]
                )
            )
            expectClean(page)
            let rows = try await query(
                h,
                #"{"from":"\#(Self.from)","to":"\#(Self.to)","group_by":[{"time":"day"},"metadata.provider"],"#
                    + #""metrics":[{"sum":"metadata.amount"}]}"#
            )
            let expected = cells(rows, field: "metadata.provider", metric: "sum(metadata.amount)")
            var totals: [String: Double] = [:]
            for (_, groups) in expected { for (g, v) in groups { totals[g, default: 0] += v } }
            let top = totals.sorted { $0.value > $1.value }.prefix(2).map(\.key)
            #expect(page.columns == top + ["other", "*"])
            #expect(page.series.map(\.name) == top + ["other"])
            for day in Self.days {
                let row = try #require(page.rows[day])
                let groups = expected[day] ?? [:]
                #expect(row[0] == groups[top[0]])
                #expect(row[1] == groups[top[1]])
                #expect(row[2] == groups.filter { !top.contains($0.key) }.values.reduce(0, +), "\(day) other")
                #expect(row[3] == groups.values.reduce(0, +), "\(day) total")
            }
            let footer = try #require(page.rows["total"])
            #expect(footer[0] == totals[top[0]])
            #expect(footer[2] == totals.filter { !top.contains($0.key) }.values.reduce(0, +))
        }
    }

    @Test func uniqueUsersShowTheTopGroupsOnly() async throws {
        try await withDemo { h in
            let page = try await open(
                url(
                    h,
                    [
                        ("metric", "unique_users"), ("interval", "week"), ("group_by", "metadata.provider"),
                        ("top", "2"), ("from", Self.from), ("to", Self.to),
                    ]
                )
            )
            expectClean(page)
            // Unique users do not add up over groups: no "other", and no per-bucket total.
            #expect(page.columns.count == 2)
            #expect(!page.columns.contains("other"))
            #expect((page.summary["message"] as? String)?.contains("does not add up") == true)
            let expected = cells(
                try await query(
                    h,
                    #"{"from":"\#(Self.from)","to":"\#(Self.to)","group_by":[{"time":"week"},"metadata.provider"],"#
                        + #""metrics":["unique_users"]}"#
                ),
                field: "metadata.provider",
                metric: "unique_users"
            )
            for week in [Self.days[0], Self.days[7]] {
                let row = try #require(page.rows[week], "\(page.rows.keys.sorted())")
                for (i, column) in page.columns.enumerated() { #expect(row[i] == expected[week]?[column], "\(week)") }
            }
            // The footer holds unique users over the whole range, which the weeks do not sum to.
            let whole = try await query(
                h,
                #"{"from":"\#(Self.from)","to":"\#(Self.to)","group_by":["metadata.provider"],"metrics":["unique_users"]}"#
            )
            let footer = try #require(page.rows["total"])
            for (i, column) in page.columns.enumerated() {
                let row = try #require(whole.first { $0["metadata.provider"] as? String == column })
                #expect(footer[i] == (row["unique_users"] as? NSNumber)?.doubleValue)
            }
        }
    }
}

extension WebViewBrowserTests {
    @Test func withoutAKeyThePageAsksForOne() async throws {
        try await withDemo { h in
            let profile = NSTemporaryDirectory() + "chromium-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: profile) }
            let (dom, _) = try await Chromium.run(
                Self.flags(profile: profile) + [
                    "--dump-dom", h.base + "/#app=demo&metric=count",
                ]
            )
            #expect(dom.contains(#"data-state="connect""#))
            #expect(dom.contains(#"data-errors="[]""#))
            #expect(dom.contains(#"<section id="connect">"#))
            #expect(dom.contains(#"id="connect-app" required="" spellcheck="false""#))
        }
    }

    @Test func withoutChartJSThePageSaysWhyAndShowsTheTable() async throws {
        let path = "/nonexistent-\(UUID().uuidString)/chart.min.js"
        try await withDemo(chartJSPath: path) { h in
            let page = try await open(
                url(h, [("metric", "count"), ("group_by", "metadata.provider"), ("from", Self.from), ("to", Self.to)])
            )
            #expect(page.bodyTag.contains(#"data-state="ready""#))
            #expect(page.summary["chart"] as? String == "missing")
            let message = page.summary["message"] as? String ?? ""
            #expect(message.contains(path) && message.contains("libjs-chart.js"), "\(message)")
            #expect(Set(page.columns) == Set(Self.providers + ["*"]))
            #expect(page.rows.count == 15)
        }
    }
}

/// Headless Chromium as a child process.
enum Chromium {
    /// Runs the browser with `arguments` and returns its stdout and stderr; fails after `timeout`.
    static func run(_ arguments: [String], timeout: Duration = .seconds(90)) async throws -> (String, String) {
        let executable = ProcessInfo.processInfo.environment["ACTIONSTORE_CHROMIUM"] ?? "chromium"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chromium-out-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        // Files, not pipes: a DOM larger than a pipe's buffer would block the browser.
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            // Waited for without blocking a thread of the cooperative pool, which serves the
            // collector the browser is talking to.
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let seconds = Double(timeout.components.seconds)
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [process] in
                if process.isRunning { process.terminate() }
            }
        }
        let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        try #require(status == 0, "\(executable) exited with \(status): \(err.suffix(2000))")
        return (out, err)
    }
}

/// A small seeded generator (SplitMix64), so the demo data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
