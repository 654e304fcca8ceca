import Foundation
import Testing

@testable import ActionStore

/// Size and decode speed of a realistic-ish segment. Prints figures; asserts only correctness.
///
/// Small by default (20,000 rows); full size with `SEGMENT_BENCH_ROWS=1000000 swift test -c release
/// --filter SegmentBench`. `SEGMENT_BENCH_KEEP=/path.seg` keeps the file for segdump.
@Suite struct SegmentBenchTests {
    static func realistic(count: Int, seed: UInt64) -> [Action] {
        var rng = SeededRNG(seed: seed)
        let names = [
            "Viewed Page", "Clicked Button", "Signed In", "Searched", "Added to Cart", "Signed Up",
            "Started Trial", "Purchased", "Invited Teammate", "Cancelled",
        ]
        // Zipf(1) over the 10 names.
        let weights = (1...names.count).map { 1.0 / Double($0) }
        let total = weights.reduce(0, +)
        var cumulative: [Double] = []
        var acc = 0.0
        for w in weights {
            acc += w / total
            cumulative.append(acc)
        }
        let ips = (0..<50_000).map { _ in SegmentFixtures.ip(&rng) }
        let endpoints = (0..<20).map { "https://api.example.com/v1/resource\($0)" }
        let agents = (0..<30).map { "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_\($0)) AppleWebKit/605.1.15" }
        let providers = ["google", "github", "email", "okta", "saml"]
        let plans = ["free", "starter", "pro", "enterprise"]
        let start: Int64 = 1_767_225_600_000_000  // 2026-01-01
        var out: [Action] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            let u = Double(rng.next() % 1_000_000) / 1_000_000
            let name = names[cumulative.firstIndex { u < $0 } ?? names.count - 1]
            var a = Action(
                time: start + Int64(rng.next() % 86_400_000_000),
                actionName: name,
                userId: "user-\(rng.next() % 100_000)",
                companyId: "company-\(rng.next() % 5_000)",
                transactionId: SegmentFixtures.uuid(&rng),
                requestURI: endpoints[Int(rng.next() % 20)],
                requestIPAddress: ips[Int(rng.next() % UInt64(ips.count))],
                requestUserAgent: agents[Int(rng.next() % 30)],
                requestVerb: rng.next() % 4 == 0 ? "POST" : "GET"
            )
            var m: [MetadataField] = []
            if rng.next() % 10 < 3 { m.append(.init(path: "amount", value: .int(Int64(rng.next() % 50_000)))) }
            if rng.next() % 10 == 0 { m.append(.init(path: "is_trial", value: .bool(rng.next() % 2 == 0))) }
            m.append(.init(path: "obj.sub", value: .string("sub-\(rng.next() % 100)")))
            m.append(.init(path: "plan", value: .string(plans[Int(rng.next() % 4)])))
            m.append(.init(path: "provider", value: .string(providers[Int(rng.next() % 5)])))
            a.metadata = m.sorted { $0.path < $1.path }
            out.append(a)
        }
        return out
    }

    /// Best of `runs` wall-clock seconds.
    static func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return best
    }

    @Test func sizeAndDecodeSpeed() throws {
        let rows = Int(ProcessInfo.processInfo.environment["SEGMENT_BENCH_ROWS"] ?? "") ?? 20_000
        let actions = Self.realistic(count: rows, seed: 7)
        try withTempDir { dir throws in
            let path = ProcessInfo.processInfo.environment["SEGMENT_BENCH_KEEP"] ?? "\(dir)/bench.seg"
            var info: SegmentInfo? = nil
            let writeSeconds = try Self.best(1) {
                info = try SegmentWriter.write(actions: actions, to: path, options: SegmentOptions(sync: false))
            }
            let r = try SegmentReader(path: path)
            let bytes = Double(info!.bytes)
            print("segment bench: \(rows) rows, \(info!.bytes) bytes, \(Self.f(bytes / Double(rows))) bytes/action")
            print("  write: \(Self.f(writeSeconds)) s (\(Self.f(Double(rows) / writeSeconds / 1e6)) M rows/s)")
            var indexBytes = 0
            for c in r.columns {
                let index = c.index?.storedSize ?? 0
                let dict = c.dictionary?.storedSize ?? 0
                indexBytes += index
                print(
                    "  \(c.name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(c.encoding.description.padding(toLength: 15, withPad: " ", startingAt: 0))"
                        + " \(Self.f(Double(c.storedBytes - index) / Double(rows))) B/row data+dict"
                        + " (dict \(dict)), index \(Self.f(Double(index) / Double(rows))) B/row, distinct \(c.distinctCount)"
                )
            }
            let data = r.columns.reduce(0) { $0 + $1.storedBytes }
            print(
                "  index total \(Self.f(Double(indexBytes) / Double(rows))) B/row; footer+header+trailer \(info!.bytes - data) bytes"
            )

            // Decode speed: bytes of decoded output per second.
            var sink = 0
            let timeSeconds = try Self.best(5) { sink &+= try r.times().count }
            let codeSeconds = try Self.best(5) {
                if case .strings(_, let codes, _) = try r.column("user_id") { sink &+= codes.count }
            }
            let nameSeconds = try Self.best(5) {
                if case .strings(_, let codes, _) = try r.column("action_name") { sink &+= codes.count }
            }
            let intSeconds = try Self.best(5) {
                if case .ints(let v, _) = try r.column("metadata.amount") { sink &+= v.count }
            }
            print(
                "  decode time column:        \(Self.f(Double(rows * 8) / timeSeconds / 1e9)) GB/s (\(Self.f(Double(rows) / timeSeconds / 1e6)) M rows/s)"
            )
            print(
                "  decode user_id codes:      \(Self.f(Double(rows * 4) / codeSeconds / 1e9)) GB/s (\(Self.f(Double(rows) / codeSeconds / 1e6)) M rows/s)"
            )
            print(
                "  decode action_name codes:  \(Self.f(Double(rows * 4) / nameSeconds / 1e9)) GB/s (\(Self.f(Double(rows) / nameSeconds / 1e6)) M rows/s)"
            )
            print(
                "  decode metadata.amount:    \(Self.f(Double(rows * 8) / intSeconds / 1e9)) GB/s of row-aligned Int64 (\(Self.f(Double(rows) / intSeconds / 1e6)) M rows/s)"
            )
            let postingsSeconds = try Self.best(5) {
                sink &+= try r.postings(column: "action_name", value: "Purchased")?.cardinality ?? 0
            }
            print("  postings action_name=Purchased: \(Self.f(postingsSeconds * 1e6)) µs")
            let actionsSeconds = try Self.best(1) { sink &+= try r.actions().count }
            print("  rebuild all actions: \(Self.f(Double(rows) / actionsSeconds / 1e6)) M rows/s; checksum \(sink)")

            // Correctness only.
            #expect(r.rowCount == rows)
            #expect(try r.actions() == SegmentFixtures.timeSorted(actions))
            #expect(r.columnInfo("transaction_id")?.encoding == .uuid)
            #expect(r.columnInfo("request.ip_address")?.encoding == .ipv4)
            let purchased = try #require(try r.postings(column: "action_name", value: "Purchased"))
            let sorted = SegmentFixtures.timeSorted(actions)
            #expect(purchased.cardinality == sorted.filter { $0.actionName == "Purchased" }.count)
        }
    }

    static func f(_ v: Double) -> String { SegmentDump.fixed(v, 2) }
}
