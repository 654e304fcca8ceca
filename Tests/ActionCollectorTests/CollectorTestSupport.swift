import ActionCollector
import ActionStore
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// A response as the tests see it.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

/// A collector on an ephemeral loopback port over a store in a fresh temporary directory, a real
/// HTTP client, and the means to shut it down gracefully and reopen the store.
final class CollectorHarness: Sendable {
    let directory: String
    let collector: Collector
    let port: Int
    let group: ServiceGroup

    var store: Store { collector.store }
    var base: String { "http://127.0.0.1:\(port)" }

    private init(directory: String, collector: Collector, port: Int, group: ServiceGroup) {
        self.directory = directory
        self.collector = collector
        self.port = port
        self.group = group
    }

    /// Runs `body` against a started collector, then shuts it down gracefully and removes the
    /// directory. `afterShutdown` sees the directory once the store is closed.
    static func with(
        _ configuration: CollectorConfiguration = testConfiguration(),
        storeOptions: StoreOptions = StoreOptions(),
        _ body: (CollectorHarness) async throws -> Void,
        afterShutdown: (String) throws -> Void = { _ in }
    ) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("collector-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store.open(at: directory, options: storeOptions)
        var logger = Logger(label: "collector-test")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let collector = try Collector(store: store, configuration: configuration, logger: logger) { port in
            continuation.yield(port)
        }
        let group = ServiceGroup(services: [collector], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let harness = CollectorHarness(directory: directory, collector: collector, port: port, group: group)
            do {
                try await body(harness)
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try afterShutdown(directory)
    }

    func request(
        _ method: HTTPMethod,
        _ path: String,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(60)
    ) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        return try await Self.execute(request, timeout: timeout)
    }

    static func execute(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(60)) async throws -> HTTPAnswer {
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// `POST path` with a JSON body for `app`.
    func post(
        _ path: String,
        _ json: String,
        app: String? = "app-1",
        contentType: String? = "application/json",
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(60)
    ) async throws -> HTTPAnswer {
        var h = headers
        if let app { h.append(("X-Moesif-Application-Id", app)) }
        if let contentType { h.append(("Content-Type", contentType)) }
        return try await request(.POST, path, body: Array(json.utf8), headers: h, timeout: timeout)
    }

    /// Every action of `application`, scanned from the live store.
    func actions(_ application: String = "app-1") throws -> [Action] {
        var out: [Action] = []
        try store.scan(application: application) { out.append($0) }
        return out
    }
}

/// The exact action moesif-browser-js 1.10.2 `track()` sends: no time, no ip.
func browserAction(_ name: String = "Clicked Sign Up", transactionId: String = UUID().uuidString.lowercased()) -> String
{
    #"{"action_name":"\#(name)","anonymous_id":"7f8e2b1c-0c1d-4c55-9f7e-1a2b3c4d5e6f","request":{"uri":"https://app.example.com/pricing?plan=pro","verb":"GET","user_agent_string":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},"transaction_id":"\#(transactionId)","metadata":{"button_label":"Get Started","plan_revenue":5000}}"#
}

/// A server-side action with its own time and ip (as the node client sends it).
func serverAction(_ i: Int, name: String = "Viewed Pricing", transactionId: String? = nil) -> String {
    let tx = transactionId ?? "tx-\(i)"
    return
        #"{"action_name":"\#(name)","user_id":"user-\#(i % 10)","company_id":"company-1","transaction_id":"\#(tx)","request":{"time":"2026-11-20T10:00:00.000Z","uri":"https://app.example.com/pricing","ip_address":"61.48.220.123","user_agent_string":"Mozilla/5.0"},"metadata":{"i":\#(i),"plan":"pro"}}"#
}

func batch(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

/// The chunks as an async sequence (a streamed request body).
func asyncSequence(_ chunks: [ByteBuffer]) -> AsyncStream<ByteBuffer> {
    AsyncStream { continuation in
        for c in chunks { continuation.yield(c) }
        continuation.finish()
    }
}

/// The defaults on an ephemeral loopback port, then `configure`.
func testConfiguration(_ configure: (inout CollectorConfiguration) -> Void = { _ in }) -> CollectorConfiguration {
    var c = CollectorConfiguration()
    c.port = 0
    c.host = "127.0.0.1"
    configure(&c)
    return c
}
