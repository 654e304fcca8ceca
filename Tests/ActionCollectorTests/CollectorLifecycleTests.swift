import ActionCollector
import ActionStore
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

@Suite("Collector lifecycle")
struct CollectorLifecycleTests {
    /// A request body the test releases when it wants: the request stays in flight until then.
    struct HeldBody {
        let stream: AsyncStream<ByteBuffer>
        let continuation: AsyncStream<ByteBuffer>.Continuation

        init() { (stream, continuation) = AsyncStream<ByteBuffer>.makeStream() }

        func send(_ s: String) { continuation.yield(ByteBuffer(string: s)) }
        func finish() { continuation.finish() }
    }

    func startHeldRequest(
        _ h: CollectorHarness,
        _ body: HeldBody,
        length: HTTPClientRequest.Body.Length = .unknown
    ) -> Task<HTTPAnswer, any Error> {
        var request = HTTPClientRequest(url: h.base + "/v1/actions/batch")
        request.method = .POST
        request.headers.add(name: "X-Moesif-Application-Id", value: "app-1")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .stream(body.stream, length: length)
        return Task { try await CollectorHarness.execute(request) }
    }

    func waitForInFlight(_ h: CollectorHarness, _ n: Int) async throws {
        for _ in 0..<500 {
            let m = try await h.request(.GET, "/metrics")
            if m.body.contains("actionstore_ingest_in_flight_requests \(n)\n") { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("never saw \(n) ingest requests in flight")
    }

    @Test func fullIngestQueueAnswers503WithRetryAfter() async throws {
        try await CollectorHarness.with(testConfiguration { $0.ingestRequestsMax = 1 }) { h in
            let held = HeldBody()
            held.send("[")
            let first = startHeldRequest(h, held)
            try await waitForInFlight(h, 1)
            let busy = try await h.post("/v1/actions", serverAction(9))
            #expect(busy.status == 503)
            #expect(busy.headers.first(name: "Retry-After") == "1")
            #expect(busy.json["code"] as? String == "busy")
            held.send(serverAction(1) + "]")
            held.finish()
            #expect(try await first.value.status == 201)
            #expect(try await h.post("/v1/actions", serverAction(2)).status == 201)
            #expect(try h.actions().compactMap(\.transactionId).sorted() == ["tx-1", "tx-2"])
        }
    }

    @Test func byteBudgetAnswers503() async throws {
        try await CollectorHarness.with(
            testConfiguration {
                $0.batchBytesMax = 64 << 10
                $0.ingestBytesMax = 128 << 10
            }
        ) { h in
            // Two held requests declaring 65,000 bytes each take 130,000 of the 131,072-byte budget.
            let length = 65_000
            let held = [HeldBody(), HeldBody()]
            var tasks: [Task<HTTPAnswer, any Error>] = []
            for (i, body) in held.enumerated() {
                body.send("[")
                tasks.append(startHeldRequest(h, body, length: .known(Int64(length))))
                try await waitForInFlight(h, i + 1)
            }
            let third = try await h.post(
                "/v1/actions/batch",
                batch([serverAction(3)]) + String(repeating: " ", count: 2000)
            )
            #expect(third.status == 503)
            #expect(third.headers.first(name: "Retry-After") == "1")
            for (i, body) in held.enumerated() {
                let rest = serverAction(i) + "]"
                body.send(rest + String(repeating: " ", count: length - 1 - rest.utf8.count))
                body.finish()
                #expect(try await tasks[i].value.status == 201)
            }
            #expect(try await h.post("/v1/actions/batch", batch([serverAction(3)])).status == 201)
            #expect(try h.actions().count == 3)
        }
    }

    @Test func healthReadyAndMetrics() async throws {
        try await CollectorHarness.with { h in
            #expect(try await h.request(.GET, "/health").status == 200)
            #expect(try await h.request(.GET, "/health/probe").status == 200)
            #expect(try await h.request(.GET, "/ready").status == 200)
            #expect(try await h.post("/v1/actions/batch", batch([serverAction(1), serverAction(2)])).status == 201)
            #expect(try await h.post("/v1/actions/batch", batch([serverAction(3), #"{"x":1}"#])).status == 400)
            let m = try await h.request(.GET, "/metrics")
            #expect(m.status == 200)
            #expect(m.headers.first(name: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            for line in [
                "actionstore_actions_accepted_total 3",
                #"actionstore_actions_rejected_total{reason="invalid_action"} 1"#,
                "actionstore_actions_duplicate_total 0",
                #"actionstore_http_requests_total{route="/v1/actions/batch",status="201"} 1"#,
                #"actionstore_http_requests_total{route="/v1/actions/batch",status="400"} 1"#,
                "actionstore_memtable_rows 3",
                "actionstore_segments 0",
                "# TYPE actionstore_query_duration_seconds histogram",
                "# TYPE actionstore_journal_fsyncs_total counter",
            ] {
                #expect(m.body.contains(line + "\n"), "\(line)")
            }
            #expect(!m.body.contains("actionstore_journal_fsyncs_total 0\n"))
        }
    }

    @Test func readyFailsAfterABackgroundError() async throws {
        var options = StoreOptions()
        options.memtableRowsMax = 1
        try await CollectorHarness.with(storeOptions: options) { h in
            // A file where the segment folder goes: the background flush cannot write a segment.
            _ = FileManager.default.createFile(atPath: h.directory + "/apps", contents: Data("x".utf8))
            #expect(try await h.post("/v1/actions", serverAction(1)).status == 201)
            var status = 0
            for _ in 0..<200 {
                status = try await h.request(.GET, "/ready").status
                if status == 503 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(status == 503)
            #expect(try await h.request(.GET, "/health").status == 200)
            #expect(try await h.post("/v1/actions", serverAction(2)).status == 503)
            try? FileManager.default.removeItem(atPath: h.directory + "/apps")
        }
    }

    /// A journal fsync that fails (the disk reports EIO): the batch is not acknowledged (5xx), the
    /// failure is sticky (later batches get 503 even though the disk answers again), and /ready
    /// and /metrics report it.
    @Test func failedJournalSyncIsReportedEverywhere() async throws {
        final class Flag: Sendable { let on = Atomic(false) }
        let failing = Flag()
        var options = StoreOptions()
        var io = FileIO.posix
        let base = FileIO.posix
        io.sync = { fd in failing.on.load(ordering: .relaxed) ? -EIO : base.sync(fd) }
        options.fileIO = io
        // The shutdown reports the failure too: closing the store rethrows the journal's error.
        let shutdown = await #expect(throws: ActionStoreError.self) {
            try await CollectorHarness.with(storeOptions: options) { h in
                #expect(try await h.post("/v1/actions", serverAction(1)).status == 201)
                #expect(try await h.request(.GET, "/ready").status == 200)
                failing.on.store(true, ordering: .relaxed)
                let failed = try await h.post("/v1/actions", serverAction(2))
                #expect(failed.status == 500)
                #expect(failed.body.contains("Input/output error"), "\(failed.body)")
                failing.on.store(false, ordering: .relaxed)
                #expect(try await h.post("/v1/actions", serverAction(3)).status == 503)
                let ready = try await h.request(.GET, "/ready")
                #expect(ready.status == 503)
                #expect(ready.body.contains("Input/output error"), "\(ready.body)")
                let metrics = try await h.request(.GET, "/metrics")
                #expect(metrics.body.contains("actionstore_background_error 1\n"))
            }
        }
        #expect(shutdown?.code == .io)
    }

    /// A compaction that fails (no room for its output) stops compaction only: /metrics says so,
    /// /ready stays 200 and actions are still acknowledged.
    @Test func failedCompactionShowsInMetricsWhileWritesGoOn() async throws {
        final class Flag: Sendable { let on = Atomic(false) }
        let failing = Flag()
        var options = StoreOptions()
        options.compaction.background = false
        var io = FileIO.posix
        let base = FileIO.posix
        io.rename = { from, to in
            failing.on.load(ordering: .relaxed) && to.hasSuffix(".seg") ? -ENOSPC : base.rename(from, to)
        }
        options.fileIO = io
        try await CollectorHarness.with(storeOptions: options) { h in
            for i in 0..<3 {
                #expect(try await h.post("/v1/actions", serverAction(i)).status == 201)
                try h.collector.store.flush()
            }
            failing.on.store(true, ordering: .relaxed)
            #expect(throws: ActionStoreError.self) { try h.collector.store.compact() }
            failing.on.store(false, ordering: .relaxed)
            let metrics = try await h.request(.GET, "/metrics").body
            #expect(metrics.contains("actionstore_compaction_error 1\n"))
            #expect(metrics.contains("actionstore_background_error 0\n"))
            #expect(metrics.contains("actionstore_compactions_total 0\n"))
            #expect(try await h.request(.GET, "/ready").status == 200)
            #expect(try await h.post("/v1/actions", serverAction(3)).status == 201)
        }
    }

    /// Writers post batches until the collector goes away; every batch answered 201 must be in
    /// the store reopened after the graceful shutdown, exactly once.
    @Test func gracefulShutdownLosesNothingAcknowledged() async throws {
        let acknowledged = Acknowledged()
        try await CollectorHarness.with { h in
            try await withThrowingTaskGroup(of: Void.self) { writers in
                for w in 0..<4 {
                    writers.addTask {
                        var seq = 0
                        while true {
                            let ids = (0..<20).map { "w\(w)-\(seq + $0)" }
                            seq += 20
                            let body = batch(
                                ids.enumerated().map { serverAction($0.offset, transactionId: $0.element) }
                            )
                            // A short timeout: once the server is gone the client retries refused connections
                            // until the deadline.
                            let r = try? await h.post("/v1/actions/batch", body, timeout: .seconds(3))
                            guard let r, r.status == 201 else { return }
                            acknowledged.ids.withLock { $0 += ids }
                        }
                    }
                }
                // One request still sending its body when the shutdown starts: it must be finished.
                let held = HeldBody()
                held.send("[")
                let inFlight = startHeldRequest(h, held)
                try await Task.sleep(for: .milliseconds(500))
                await h.group.triggerGracefulShutdown()
                try await Task.sleep(for: .milliseconds(100))
                held.send(serverAction(0, transactionId: "held") + "]")
                held.finish()
                let answer = try await inFlight.value
                #expect(answer.status == 201)
                if answer.status == 201 { acknowledged.ids.withLock { $0.append("held") } }
                try await writers.waitForAll()
            }
        } afterShutdown: { directory in
            let store = try Store.open(at: directory)
            defer { try? store.close() }
            var stored: [String] = []
            try store.scan(application: "app-1") { stored.append($0.transactionId ?? "") }
            let acked = acknowledged.ids.withLock { $0 }
            #expect(acked.count > 0)
            let storedSet = Set(stored)
            #expect(stored.count == storedSet.count, "an action is stored twice")
            #expect(
                Set(acked).isSubset(of: storedSet),
                "\(Set(acked).subtracting(storedSet).count) acknowledged actions lost"
            )
            // The store was flushed on the way down: nothing left to replay.
            #expect(store.stats().partitions.allSatisfy { $0.memtableRows == 0 })
        }
    }
}

/// Transaction ids answered 201, shared by writer tasks.
final class Acknowledged: Sendable {
    let ids = Mutex<[String]>([])
}
