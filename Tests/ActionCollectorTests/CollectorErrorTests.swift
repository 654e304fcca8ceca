import ActionCollector
import ActionStore
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@Suite("Collector errors")
struct CollectorErrorTests {
    @Test func missingOrRefusedApplicationIdIs401() async throws {
        try await CollectorHarness.with(testConfiguration { $0.allowedApplications = ["app-1"] }) { h in
            let missing = try await h.post("/v1/actions", serverAction(1), app: nil)
            #expect(missing.status == 401)
            #expect(
                missing.json["message"] as? String
                    == "the X-Moesif-Application-Id header is missing: it names the application"
            )
            #expect(missing.headers.first(name: "Access-Control-Allow-Origin") == "*")
            let blank = try await h.post("/v1/actions", serverAction(1), app: "  ")
            #expect(blank.status == 401)
            let refused = try await h.post("/v1/actions/batch", batch([serverAction(1)]), app: "app-2")
            #expect(refused.status == 401)
            #expect((refused.json["message"] as? String)?.contains("not accepted") == true)
            #expect(try await h.post("/v1/actions", serverAction(1), app: "app-1").status == 201)
            #expect(h.store.applications == ["app-1"])
        }
    }

    @Test func notJSONIs415() async throws {
        try await CollectorHarness.with { h in
            for type in ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16"] {
                let r = try await h.post("/v1/actions", serverAction(1), contentType: type)
                #expect(r.status == 415, "\(type)")
                #expect(r.json["code"] as? String == "unsupported_media_type")
            }
            let br = try await h.post("/v1/actions", serverAction(1), headers: [("Content-Encoding", "br")])
            #expect(br.status == 415)
            #expect(try h.actions().isEmpty)
        }
    }

    @Test func invalidJSONIs400WithTheByteOffset() async throws {
        try await CollectorHarness.with { h in
            let r = try await h.post("/v1/actions/batch", #"[{"action_name": "A", }]"#)
            #expect(r.status == 400)
            #expect(r.json["code"] as? String == "invalid_json")
            #expect((r.json["message"] as? String)?.contains("offset") == true, "\(r.body)")
            let wrongShape = try await h.post("/v1/actions", batch([serverAction(1)]))
            #expect(wrongShape.status == 400)
            #expect((wrongShape.json["message"] as? String)?.contains("/v1/actions/batch") == true)
            let objectToBatch = try await h.post("/v1/actions/batch", serverAction(1))
            #expect(objectToBatch.status == 400)
            let empty = try await h.post("/v1/actions", "")
            #expect(empty.status == 400)
            let badGzip = try await h.post("/v1/actions", serverAction(1), headers: [("Content-Encoding", "gzip")])
            #expect(badGzip.status == 400)
            #expect(badGzip.json["code"] as? String == "bad_gzip")
            let single = try await h.post("/v1/actions", #"{"metadata":{}}"#)
            #expect(single.status == 400)
            #expect((single.json["rejected"] as? [[String: Any]])?.first?["index"] as? Int == 0)
            #expect(try h.actions().isEmpty)
        }
    }

    @Test func overSizeIs413() async throws {
        try await CollectorHarness.with(
            testConfiguration {
                $0.batchBytesMax = 64 << 10
                $0.actionBytesMax = 16 << 10
                $0.ingestBytesMax = 1 << 20
            }
        ) { h in
            let bigAction = #"{"action_name":"A","metadata":{"s":"\#(String(repeating: "x", count: 20_000))"}}"#
            let declared = try await h.post("/v1/actions", bigAction)
            #expect(declared.status == 413)
            #expect(declared.json["code"] as? String == "limit_exceeded")
            let bigBatch = batch((0..<1000).map { serverAction($0) })
            #expect(try await h.post("/v1/actions/batch", bigBatch).status == 413)

            // Streamed without Content-Length (chunked): counted as it arrives.
            var request = HTTPClientRequest(url: h.base + "/v1/actions/batch")
            request.method = .POST
            request.headers.add(name: "X-Moesif-Application-Id", value: "app-1")
            request.headers.add(name: "Content-Type", value: "application/json")
            let chunks = (0..<10).map { _ in ByteBuffer(string: String(repeating: " ", count: 10_000)) }
            request.body = .stream(asyncSequence(chunks), length: .unknown)
            let chunked = try await CollectorHarness.execute(request)
            #expect(chunked.status == 413)

            // A gzip bomb: 10 MiB of zeros in about 10 KiB, stopped at the batch limit.
            let bomb = Gzip.compress([UInt8](repeating: 0x20, count: 10 << 20))
            #expect(bomb.count < 64 << 10)
            let r = try await h.request(
                .POST,
                "/v1/actions/batch",
                body: bomb,
                headers: [
                    ("X-Moesif-Application-Id", "app-1"), ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                ]
            )
            #expect(r.status == 413)
            #expect((r.json["message"] as? String)?.contains("decompressed") == true)
            #expect(try h.actions().isEmpty)
            // Every byte was given back.
            #expect(try await h.post("/v1/actions", serverAction(1)).status == 201)
        }
    }

    @Test func otherMoesifEndpointsAre404() async throws {
        try await CollectorHarness.with { h in
            for path in ["/v1/events", "/v1/events/batch", "/v1/config"] {
                let r = try await h.post(path, "{}")
                #expect(r.status == 404, "\(path)")
                #expect((r.json["message"] as? String)?.contains("stores user actions and profiles") == true)
                #expect(r.headers.first(name: "Access-Control-Allow-Origin") == "*")
            }
            let get = try await h.request(.GET, "/v1/actions")
            #expect(get.status == 405)
            #expect(get.headers.first(name: "Allow") == "POST, OPTIONS")
            #expect(try await h.request(.GET, "/nothing").status == 404)
        }
    }

    @Test func preflightIsAnswered() async throws {
        try await CollectorHarness.with { h in
            for path in ["/v1/actions", "/v1/actions/batch", "/v1/query"] {
                let r = try await h.request(
                    .OPTIONS,
                    path,
                    headers: [
                        ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
                        ("Access-Control-Request-Headers", "content-type,x-moesif-application-id,x-moesif-sdk"),
                    ]
                )
                #expect(r.status == 204)
                #expect(r.headers.first(name: "Access-Control-Allow-Origin") == "*")
                #expect(r.headers.first(name: "Access-Control-Allow-Methods")?.contains("POST") == true)
                let allowed = r.headers.first(name: "Access-Control-Allow-Headers") ?? ""
                for header in ["X-Moesif-Application-Id", "X-Moesif-SDK", "Content-Type", "Content-Encoding"] {
                    #expect(allowed.contains(header))
                }
                #expect(r.headers.first(name: "Access-Control-Max-Age") == "86400")
            }
        }
    }
}
