import ActionCollector
import ActionStore
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hostile clients on loopback (issue 9): slow, huge, endless and malformed requests. Each abuser
/// must get its error (or have its connection closed where HTTP cannot answer) while a
/// well-behaved client on other connections keeps getting 201s and its actions are stored; memory
/// stays bounded under the gzip bomb and the million keys.
///
/// Serialized: the memory figures are the whole process's (the test process is the server), so
/// two abuse tests at once would blur them. Every socket has a receive timeout and every test a
/// deadline; the suite takes about 15 seconds on a debug build.
@Suite("Collector abuse", .serialized)
struct CollectorAbuseTests {
    // MARK: Slow clients

    /// A head trickled byte by byte never reaches the handler: the idle timeout, counted from the
    /// connection's start, closes it without an answer (HTTP has nothing to answer yet).
    @Test func headTrickledByteByByteIsClosedByTheIdleTimeout() async throws {
        try await CollectorHarness.with(abuseConfiguration { $0.idleTimeout = .seconds(1) }) { h in
            try await whileGoodClientRuns(h) {
                let c = try RawConnection(port: h.port)
                let head = Array("POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ".utf8)
                let start = ContinuousClock.now
                var closed = false
                // One byte every 200 ms: far more often than the idle timeout, which still fires
                // because no HTTP part is decoded before the head is complete.
                for i in 0..<40 {
                    guard c.send([i < head.count ? head[i] : UInt8(ascii: "a")]) else {
                        closed = true
                        break
                    }
                    if c.isClosedOrReadable(waitingMilliseconds: 200) {
                        closed = true
                        break
                    }
                }
                let elapsed = ContinuousClock.now - start
                #expect(closed, "a trickled head was still open after \(elapsed)")
                #expect(elapsed < .seconds(20), "generous: only \"never\" must fail on a loaded machine")
                #expect(c.readToEnd().bytes.isEmpty, "no answer to a head that never completed")
            }
        }
    }

    /// A body trickled a byte every 200 ms keeps the idle timeout (2 s) from firing; the body
    /// deadline (1 s) answers 408 and closes the connection, giving back the ingest slot.
    @Test func bodyTrickledSlowlyIs408() async throws {
        let configuration = abuseConfiguration {
            $0.idleTimeout = .seconds(2)
            $0.requestBodyTimeout = .seconds(1)
            $0.ingestRequestsMax = 1
        }
        try await CollectorHarness.with(configuration) { h in
            let body = Array(serverAction(1).utf8)
            let c = try RawConnection(port: h.port)
            #expect(c.send(rawHead("/v1/actions", contentLength: body.count)))
            let start = ContinuousClock.now
            var sent = 0
            while sent < body.count, !c.isClosedOrReadable(waitingMilliseconds: 200) {
                guard c.send([body[sent]]) else { break }
                sent += 1
            }
            let answer = c.readToEnd()
            let elapsed = ContinuousClock.now - start
            let r = try #require(RawResponse(answer.bytes), "no answer after \(elapsed)")
            #expect(r.status == 408)
            #expect(r.json["code"] as? String == "request_timeout")
            #expect(r.headers["connection"] == "close")
            #expect(answer.closed, "the connection is closed after the 408")
            #expect(elapsed < .seconds(20), "\(elapsed) (generous: only \"never\" must fail)")
            #expect(sent < body.count)
            // The only ingest slot was given back (the handler sees the closed connection within
            // moments): a good client is served.
            var status = 0
            for _ in 0..<20 {
                status = try await h.post("/v1/actions", serverAction(2), app: "good").status
                if status != 503 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == 201)
            #expect(try h.actions("abuser").isEmpty)
        }
    }

    /// `Content-Length` announces more than is sent, then the client stalls: 408 from the body
    /// deadline; and with only the idle timeout (a long body deadline), the connection is closed
    /// and the complete-looking prefix is not stored.
    @Test func contentLengthLieThenStall() async throws {
        let action = Array(serverAction(7, transactionId: "lie").utf8)
        try await CollectorHarness.with(
            abuseConfiguration {
                $0.idleTimeout = .seconds(3)
                $0.requestBodyTimeout = .seconds(1)
            }
        ) { h in
            try await whileGoodClientRuns(h) {
                let c = try RawConnection(port: h.port)
                #expect(c.send(rawHead("/v1/actions", contentLength: 100_000) + action))
                let answer = c.readToEnd()
                let r = try #require(RawResponse(answer.bytes))
                #expect(r.status == 408)
                #expect(r.json["code"] as? String == "request_timeout")
                #expect((r.json["message"] as? String)?.contains("\(action.count) bytes") == true, "\(r.body)")
                #expect(answer.closed)
            }
            #expect(try h.actions("abuser").isEmpty)
        }
        try await CollectorHarness.with(
            abuseConfiguration {
                $0.idleTimeout = .seconds(1)
                $0.requestBodyTimeout = .seconds(30)
            }
        ) { h in
            let c = try RawConnection(port: h.port)
            #expect(c.send(rawHead("/v1/actions", contentLength: action.count + 10) + action))
            let start = ContinuousClock.now
            let answer = c.readToEnd()
            #expect(answer.closed)
            #expect(
                answer.bytes.isEmpty,
                "closed by the idle timeout: \(String(decoding: answer.bytes, as: UTF8.self))"
            )
            #expect(ContinuousClock.now - start < .seconds(20), "generous: only \"never\" must fail")
            // The body ended short of its Content-Length: not stored, though it is a whole action.
            try await Task.sleep(for: .milliseconds(200))
            #expect(try h.actions("abuser").isEmpty)
        }
    }

    // MARK: Endless bodies

    /// A chunked body that goes on past the batch limit gets 413 as soon as it crosses it, and the
    /// connection is closed after at most 1 MiB more: it does not drain forever. Likewise a
    /// declared length far over the limit, whose sender does not stop at the 413.
    @Test func bodiesPastTheLimitAre413AndClosed() async throws {
        try await CollectorHarness.with(
            abuseConfiguration {
                $0.batchBytesMax = 64 << 10
                $0.ingestBytesMax = 1 << 20
                // Long, so that only the 413 can end these bodies even when the handler's task
                // waits for a busy cooperative pool (the 408 has its own tests).
                $0.requestBodyTimeout = .seconds(60)
            }
        ) { h in
            try await whileGoodClientRuns(h) {
                for chunked in [true, false] {
                    let c = try RawConnection(port: h.port)
                    let head =
                        chunked
                        ? rawHead("/v1/actions/batch", extra: ["Transfer-Encoding: chunked"])
                        : rawHead("/v1/actions/batch", contentLength: 10 << 30)
                    #expect(c.send(head))
                    let piece = [UInt8](repeating: 0x20, count: 16 << 10)
                    let frame =
                        chunked ? Array("\(String(piece.count, radix: 16))\r\n".utf8) + piece + [13, 10] : piece
                    var sentBeforeAnswer = 0
                    var sentAfterAnswer = 0
                    var answer: RawConnection.Answer?
                    let deadline = ContinuousClock.now + .seconds(30)
                    while ContinuousClock.now < deadline {
                        guard c.send(frame) else { break }
                        if answer == nil {
                            sentBeforeAnswer += piece.count
                            if c.isClosedOrReadable(waitingMilliseconds: 0) { answer = c.readAvailable() }
                        } else {
                            sentAfterAnswer += piece.count
                        }
                    }
                    let rest = c.readToEnd()
                    print(
                        "endless body (chunked \(chunked)): \(sentBeforeAnswer) bytes sent before the answer, \(sentAfterAnswer) after"
                    )
                    let bytes = (answer?.bytes ?? []) + rest.bytes
                    let r = try #require(RawResponse(bytes), "chunked \(chunked): no answer")
                    #expect(r.status == 413, "chunked \(chunked): \(r.body)")
                    #expect(r.json["code"] as? String == "limit_exceeded")
                    // The limit, plus what the socket buffers held when the 413 was written.
                    #expect(sentBeforeAnswer < 8 << 20, "\(sentBeforeAnswer)")
                    #expect(ContinuousClock.now < deadline, "chunked \(chunked): still open after 30 s")
                    // 1 MiB is discarded, plus what the two socket buffers hold.
                    #expect(sentAfterAnswer < 16 << 20, "chunked \(chunked): \(sentAfterAnswer) bytes after the 413")
                }
            }
            #expect(try h.actions("abuser").isEmpty)
        }
    }

    // MARK: Huge headers

    /// The HTTP decoder's limits (80 KiB of header bytes, 80 KiB for one field, 1,000 fields)
    /// answer 431 with a JSON body, then close; a head just under them is served.
    @Test func hugeHeadersAre431() async throws {
        try await CollectorHarness.with(abuseConfiguration()) { h in
            try await whileGoodClientRuns(h) {
                let body = Array(serverAction(1).utf8)
                let lines = (0..<16_384).map { "X-Filler-\($0): \(String(repeating: "f", count: 40))" }
                let cases: [(String, [String])] = [
                    ("1 MiB of header lines", lines),
                    ("one 200 KiB header", ["X-Big: " + String(repeating: "b", count: 200 << 10)]),
                    ("2,000 tiny fields", (0..<2000).map { "X-\($0): 1" }),
                ]
                for (name, extra) in cases {
                    let c = try RawConnection(port: h.port)
                    _ = c.send(rawHead("/v1/actions", contentLength: body.count, extra: extra) + body)
                    let answer = c.readToEnd()
                    let r = try #require(RawResponse(answer.bytes), "\(name): no answer")
                    #expect(r.status == 431, "\(name)")
                    #expect(r.json["code"] as? String == "header_too_large", "\(name)")
                    #expect(answer.closed, "\(name)")
                }
                // Under the limits (one 60 KiB header) the action is stored.
                let c = try RawConnection(port: h.port)
                let fine = ["X-Big: " + String(repeating: "b", count: 60 << 10)]
                #expect(c.send(rawHead("/v1/actions", contentLength: body.count, extra: fine, app: "fine") + body))
                let r = try #require(RawResponse(c.readResponse().bytes))
                #expect(r.status == 201, "\(r.body)")
            }
            #expect(try h.actions("fine").count == 1)
            #expect(try h.actions("abuser").isEmpty)
            // The guard's answers are counted like the routes' (route "connection").
            let metrics = try await h.request(.GET, "/metrics").body
            let line = #"actionstore_http_requests_total{route="connection",status="431"} 3"#
            #expect(
                metrics.contains(line + "\n"),
                "\(metrics.split(separator: "\n").filter { $0.contains("connection") })"
            )
        }
    }

    /// Other malformed heads get the collector's JSON 400 rather than an empty one.
    @Test func malformedHeadIs400WithJSON() async throws {
        try await CollectorHarness.with(abuseConfiguration()) { h in
            for garbage in ["GARBAGE\r\n\r\n", "POST /v1/actions HTTP/1.1\r\nBad Header\r\n\r\n"] {
                let c = try RawConnection(port: h.port)
                #expect(c.send(Array(garbage.utf8)))
                let answer = c.readToEnd()
                let r = try #require(RawResponse(answer.bytes), "\(garbage)")
                #expect(r.status == 400)
                #expect(r.json["code"] as? String == "bad_request", "\(r.body)")
                #expect(answer.closed)
            }
        }
    }

    // MARK: Hostile JSON

    /// 100,000 nested arrays or objects stop at the depth limit (32): 400 naming the offset, no
    /// stack overflow.
    @Test func deeplyNestedJSONIs400() async throws {
        try await CollectorHarness.with(abuseConfiguration()) { h in
            try await whileGoodClientRuns(h) {
                let n = 100_000
                let arrays = String(repeating: "[", count: n) + String(repeating: "]", count: n)
                let r1 = try await h.post("/v1/actions/batch", arrays, app: "abuser")
                #expect(r1.status == 400)
                #expect(r1.json["code"] as? String == "invalid_json")
                #expect((r1.json["message"] as? String)?.contains("nesting deeper than 32") == true, "\(r1.body)")
                let objects =
                    #"[{"action_name":"A","metadata":"# + String(repeating: #"{"a":"#, count: n) + "1"
                    + String(repeating: "}", count: n) + "}]"
                let r2 = try await h.post("/v1/actions/batch", objects, app: "abuser")
                #expect(r2.status == 400)
                #expect(r2.json["code"] as? String == "invalid_json")
                let ignored = #"{"action_name":"A","x":"# + String(repeating: "[", count: n)
                let r3 = try await h.post("/v1/actions", ignored, app: "abuser")
                #expect(r3.status == 400)
                #expect((r3.json["message"] as? String)?.contains("nesting deeper") == true, "\(r3.body)")
            }
            #expect(try h.actions("abuser").isEmpty)
        }
    }

    /// A million tiny keys in one action (12 MB inside a batch): rejected for its size without
    /// holding more than a bounded amount of memory; sent alone, refused on its Content-Length;
    /// 80,000 keys within 1 MiB hit the 10,000-paths-per-application limit.
    @Test func aMillionTinyKeys() async throws {
        try await CollectorHarness.with(abuseConfiguration()) { h in
            let keys = (0..<1_000_000).map { #""k\#($0)":0"# }.joined(separator: ",")
            let inMetadata = #"[{"action_name":"A","metadata":{"# + keys + "}}]"
            let atTop = #"[{"action_name":"A","# + keys + "}]"
            let before = residentBytes()
            var peak = before
            try await whileGoodClientRuns(h) {
                try await sampling(&peak) {
                    for (name, json) in [("metadata", inMetadata), ("top level", atTop)] {
                        let r = try await h.post("/v1/actions/batch", json, app: "abuser")
                        #expect(r.status == 400, "\(name)")
                        let rejected = (r.json["rejected"] as? [[String: Any]])?.first
                        #expect(rejected?["code"] as? String == "limit_exceeded", "\(name): \(r.body.prefix(300))")
                    }
                    let single = try await h.post(
                        "/v1/actions",
                        String(inMetadata.dropFirst().dropLast()),
                        app: "abuser"
                    )
                    #expect(single.status == 413)
                }
            }
            let after = residentBytes()
            recordMemory("a million keys", before: before, peak: peak, after: after)
            // Bounded by the body (12 MB) and the normalizer's per-key leaves for one action.
            // The bounds are loose: RSS is the whole test process, and other suites run at once.
            #expect(peak - before < 500 << 20)
            #expect(after - before < 300 << 20)

            let many = (0..<80_000).map { #""p\#($0)":0"# }.joined(separator: ",")
            let paths = try await h.post(
                "/v1/actions",
                #"{"action_name":"A","metadata":{"# + many + "}}",
                app: "abuser"
            )
            #expect(paths.status == 400)
            #expect((paths.json["rejected"] as? [[String: Any]])?.first?["code"] as? String == "limit_exceeded")
            #expect(try h.actions("abuser").isEmpty)
        }
    }

    /// Invalid UTF-8 inside strings (a stray continuation byte, 0xFF, an overlong encoding, an
    /// encoded surrogate, a sequence cut by the closing quote) and lone surrogate escapes: 400.
    @Test func invalidUTF8Is400() async throws {
        try await CollectorHarness.with(abuseConfiguration()) { h in
            try await whileGoodClientRuns(h) {
                let bad: [(String, [UInt8])] = [
                    ("stray continuation", [0x80]), ("0xFF", [0xFF]), ("overlong /", [0xC0, 0xAF]),
                    ("encoded surrogate", [0xED, 0xA0, 0x80]), ("cut sequence", [0xE2, 0x82]),
                    ("lone surrogate escape", Array(#"\ud800"#.utf8)),
                ]
                for (name, bytes) in bad {
                    for (place, prefix, suffix) in [
                        ("action_name", #"{"action_name":"A"#, #""}"#),
                        ("metadata value", #"{"action_name":"A","metadata":{"k":""#, #""}}"#),
                        ("metadata key", #"{"action_name":"A","metadata":{""#, #"":1}}"#),
                        ("ignored field", #"{"action_name":"A","other":""#, #""}"#),
                    ] {
                        let body = Array(prefix.utf8) + bytes + Array(suffix.utf8)
                        let r = try await h.request(
                            .POST,
                            "/v1/actions",
                            body: body,
                            headers: [("X-Moesif-Application-Id", "abuser"), ("Content-Type", "application/json")]
                        )
                        #expect(r.status == 400, "\(name) in \(place): \(r.body)")
                        #expect(r.json["code"] as? String == "invalid_json", "\(name) in \(place): \(r.body)")
                    }
                }
            }
            #expect(try h.actions("abuser").isEmpty)
        }
    }

    // MARK: Gzip

    /// Gzip bombs: 64 KiB that inflate to 64 MiB, and 1 MiB that inflates to 1 GiB (64 members
    /// of 16 MiB of zeros), against the default 50 MiB batch limit: 413 as soon as the output
    /// passes the limit, with the process's memory growing by at most about the limit.
    @Test func gzipBombsAre413WithBoundedMemory() async throws {
        let member16M = Gzip.compress([UInt8](repeating: 0, count: 16 << 20), level: 9)
        let bomb1G = [[UInt8]](repeating: member16M, count: 64).flatMap { $0 }
        let bomb64M = Gzip.compress([UInt8](repeating: 0x20, count: 64 << 20), level: 9)
        #expect(bomb64M.count < 100 << 10)
        #expect(bomb1G.count < 2 << 20)
        try await CollectorHarness.with(abuseConfiguration()) { h in
            let before = residentBytes()
            var peak = before
            try await whileGoodClientRuns(h) {
                try await sampling(&peak) {
                    for (name, bomb) in [("64 MiB", bomb64M), ("1 GiB", bomb1G)] {
                        let r = try await h.request(.POST, "/v1/actions/batch", body: bomb, headers: gzipHeaders)
                        #expect(r.status == 413, "\(name)")
                        #expect(r.json["code"] as? String == "limit_exceeded")
                        #expect((r.json["message"] as? String)?.contains("once decompressed") == true, "\(r.body)")
                    }
                }
            }
            let after = residentBytes()
            recordMemory("gzip bombs", before: before, peak: peak, after: after)
            // The inflated output stops at the 50 MiB limit; with the array's growth (a copy into
            // a doubled buffer) that is at most about 2 × 50 MiB live at once, plus the good
            // client. Afterwards malloc may keep some of it (glibc raises its mmap threshold
            // after large frees). The bounds are loose because RSS is the whole test process and
            // other suites run at once; inflating the 1 GiB bomb would still break them.
            #expect(peak - before < 500 << 20)
            #expect(after - before < 300 << 20)
            #expect(try h.actions("abuser").isEmpty)
            #expect(h.collector.store.applications.contains("good"))
        }
    }

    /// `Expect: 100-continue` (curl sends it for bodies over 1 KiB, .NET clients for every POST):
    /// answered `100 Continue` before any body byte is sent, so the client does not wait a second
    /// for it; a body declared over every route's limit gets its 413 instead, and need not be sent.
    @Test func expectContinueIsAnsweredUnlessTheBodyIsOverTheLimit() async throws {
        try await CollectorHarness.with(abuseConfiguration { $0.batchBytesMax = 64 << 10 }) { h in
            let body = Array("[\(serverAction(1, transactionId: "expect-1"))]".utf8)
            let c = try RawConnection(port: h.port)
            let head = rawHead(
                "/v1/actions/batch",
                contentLength: body.count,
                extra: ["Expect: 100-continue"],
                app: "good"
            )
            #expect(c.send(head))
            #expect(c.isClosedOrReadable(waitingMilliseconds: 8000))
            let interim = String(decoding: c.readAvailable().bytes, as: UTF8.self)
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim)")
            #expect(c.send(body))
            let r = try #require(RawResponse(c.readResponse().bytes))
            #expect(r.status == 201, "\(r.body)")
            #expect(try h.actions("good").count == 1)

            let d = try RawConnection(port: h.port)
            // Over every route's limit (the largest, actionBytesMax, is 1 MiB here).
            #expect(d.send(rawHead("/v1/actions/batch", contentLength: 4 << 20, extra: ["Expect: 100-continue"])))
            let refused = try #require(RawResponse(d.readResponse().bytes))
            #expect(refused.status == 413, "no 100 Continue first: \(refused.status)")
        }
    }

    /// A gzip body with trailing garbage, or cut short: 400 `bad_gzip`, nothing stored.
    @Test func damagedGzipIs400() async throws {
        try await CollectorHarness.with(abuseConfiguration()) { h in
            try await whileGoodClientRuns(h) {
                let good = Gzip.compress(Array(batch([serverAction(1), serverAction(2)]).utf8))
                let cases: [(String, [UInt8])] = [
                    ("trailing garbage", good + Array("garbage after the member".utf8)),
                    ("no trailer", Array(good.dropLast(8))),
                    ("cut in the middle", Array(good.prefix(good.count / 2))),
                    ("header only", Array(good.prefix(10))),
                ]
                for (name, body) in cases {
                    let r = try await h.request(.POST, "/v1/actions/batch", body: body, headers: gzipHeaders)
                    #expect(r.status == 400, "\(name)")
                    #expect(r.json["code"] as? String == "bad_gzip", "\(name): \(r.body)")
                }
                // The same member, whole, is fine.
                let r = try await h.request(
                    .POST,
                    "/v1/actions/batch",
                    body: good,
                    headers: [("X-Moesif-Application-Id", "whole"), ("Content-Encoding", "gzip")]
                )
                #expect(r.status == 201)
            }
            #expect(try h.actions("abuser").isEmpty)
            #expect(try h.actions("whole").count == 2)
        }
    }
}

// MARK: - Helpers

private let gzipHeaders = [
    ("X-Moesif-Application-Id", "abuser"), ("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
]

private func abuseConfiguration(
    _ configure: (inout CollectorConfiguration) -> Void = { _ in }
) -> CollectorConfiguration {
    testConfiguration(configure)
}

/// A request head for the `abuser` application (or `app`).
private func rawHead(
    _ path: String,
    contentLength: Int? = nil,
    extra: [String] = [],
    app: String = "abuser"
) -> [UInt8] {
    var lines = [
        "POST \(path) HTTP/1.1", "Host: 127.0.0.1", "X-Moesif-Application-Id: \(app)",
        "Content-Type: application/json",
    ]
    if let contentLength { lines.append("Content-Length: \(contentLength)") }
    lines += extra
    return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
}

private final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Requests the good client has had answered.
private final class Answered: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add() { value.withLock { $0 += 1 } }
}

/// Runs `abuse` while a well-behaved client posts one action at a time for application `good`
/// on its own connections; then checks that every one was answered 201 and is in the store.
private func whileGoodClientRuns(
    _ h: CollectorHarness,
    _ abuse: () async throws -> Void
) async throws {
    let stop = StopFlag()
    let answered = Answered()
    let offset = try h.actions("good").count
    let good = Task { () -> [Int] in
        var statuses: [Int] = []
        while !stop.isSet {
            let i = offset + statuses.count
            let r = try await h.post(
                "/v1/actions",
                serverAction(i, transactionId: "good-\(i)"),
                app: "good",
                timeout: .seconds(10)
            )
            statuses.append(r.status)
            answered.add()
            try await Task.sleep(for: .milliseconds(20))
        }
        return statuses
    }
    do {
        try await abuse()
    } catch {
        stop.set()
        _ = try? await good.value
        throw error
    }
    // At least one good request runs entirely after the abuse too (waiting for it rather than
    // sleeping a fixed time: a loaded machine may take seconds per request).
    let before = answered.count
    let deadline = ContinuousClock.now + .seconds(30)
    while answered.count < before + 2 && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
    }
    stop.set()
    let statuses = try await good.value
    #expect(statuses.count >= 2, "the good client made only \(statuses.count) requests")
    #expect(statuses.allSatisfy { $0 == 201 }, "good client statuses: \(statuses)")
    #expect(try h.actions("good").count == offset + statuses.count)
}

/// The process's resident set size, from `/proc/self/statm`.
private func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * sysconf(Int32(_SC_PAGESIZE))
}

/// Runs `body` while sampling the resident set size every 10 ms into `peak`.
private func sampling(_ peak: inout Int, _ body: () async throws -> Void) async throws {
    let stop = StopFlag()
    let sampler = Task { () -> Int in
        var highest = 0
        while !stop.isSet {
            highest = max(highest, residentBytes())
            try? await Task.sleep(for: .milliseconds(10))
        }
        return highest
    }
    defer { stop.set() }
    try await body()
    stop.set()
    peak = max(peak, await sampler.value, residentBytes())
}

private func recordMemory(_ what: String, before: Int, peak: Int, after: Int) {
    let mb = { (n: Int) in String(format: "%.1f MB", Double(n) / 1e6) }
    print(
        "RSS \(what): before \(mb(before)), peak \(mb(peak)) (+\(mb(peak - before))), after \(mb(after)) (+\(mb(after - before)))"
    )
}

/// An HTTP/1.1 response parsed from raw bytes (Content-Length bodies only, which is all the
/// collector sends).
private struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String

    init?(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        self.status = status
        headers = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        var body = String(text[split.upperBound...])
        if let n = headers["content-length"].flatMap({ Int($0) }) { body = String(body.utf8.prefix(n))! }
        self.body = body
    }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

/// A blocking TCP connection to the collector on loopback, for traffic an HTTP client will not
/// send. Every receive waits at most `receiveTimeout`; sends never raise SIGPIPE.
private final class RawConnection {
    struct Answer {
        var bytes: [UInt8] = []
        /// The peer closed (EOF) or reset the connection, rather than the read timing out.
        var closed = false
    }

    let fd: Int32

    init(port: Int, receiveTimeout: Duration = .seconds(8)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: Int(receiveTimeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw POSIXError(.init(rawValue: e) ?? .ECONNREFUSED)
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends every byte; false once the peer has closed or reset the connection (or the send
    /// timed out).
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// Whether data or an EOF/reset is waiting, after up to `waitingMilliseconds`.
    func isClosedOrReadable(waitingMilliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, waitingMilliseconds) > 0
    }

    /// What is readable now, without waiting.
    func readAvailable() -> Answer {
        var answer = Answer()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                answer.bytes += buffer[..<n]
            } else {
                if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { answer.closed = true }
                return answer
            }
        }
    }

    /// Reads until the peer closes or resets the connection, or a receive times out.
    func readToEnd() -> Answer {
        var answer = Answer()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                answer.bytes += buffer[..<n]
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                answer.closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
                return answer
            }
        }
    }

    /// Reads one response (head and Content-Length body) on a connection that stays open.
    func readResponse() -> Answer {
        var answer = Answer()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while RawResponse(answer.bytes).map({
            $0.body.utf8.count < ($0.headers["content-length"].flatMap { Int($0) } ?? 0)
        })
            ?? true
        {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                answer.closed = true
                return answer
            }
            answer.bytes += buffer[..<n]
        }
        return answer
    }
}
