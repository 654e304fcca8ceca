import CXXHash
import Foundation
import Testing

@testable import ActionStore

/// `Tests/Fixtures/store-v1`: a small store as the release before the columnar journal wrote it
/// (version-1 manifest, batch payload version 1, segment format 1), committed so that every later
/// format change is checked against real old bytes. It holds 40 actions of `prod` (30 in segments of
/// two days, 10 in the journal, which also adds the path `plan.seats`) and 3 of `dev/x`, only in
/// the journal.
enum FixtureStore {
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/store-v1").path
    }

    /// A copy of the fixture in a fresh folder (opening a store changes its files).
    static func copy(to dir: String) throws {
        try FileManager.default.copyItem(atPath: path, toPath: dir)
    }

    static func action(_ i: Int, day: Int, withSeats: Bool) -> String {
        let providers = ["Google", "GitHub", "café", "cafe\u{301}"]
        var meta = #""provider":"\#(providers[i % 4])","amount":\#(i % 3 == 0 ? "\(i).5" : "\(i)"),"ok":\#(i % 2 == 0)"#
        meta += #","tags":["a",\#(i)],"plan":{"name":"p\#(i % 2)""#
        if withSeats { meta += #","seats":\#(i)"# }
        meta += "}"
        return
            #"{"action_name":"A\#(i % 3)","user_id":"u\#(i % 7)","company_id":"c\#(i % 2)","transaction_id":"t\#(i)","#
            + #""request":{"time":"2026-09-0\#(day)T10:\#(String(i % 60).leftPadded(2)):00.123456Z","uri":"https://x/\#(i)","#
            + #""ip_address":"10.0.0.\#(i % 4)","verb":"GET"},"metadata":{\#(meta)}}"#
    }

    /// Writes the fixture with this build (run once, by hand, before a format change):
    /// `ACTIONSTORE_WRITE_FIXTURE=1 swift test --filter FixtureStoreTests`.
    static func write() throws {
        try? FileManager.default.removeItem(atPath: path)
        var options = StoreOptions()
        options.backgroundFlush = false
        options.compaction.background = false
        let store = try Store.open(at: path, options: options)
        let day1 = (0..<20).map { action($0, day: 1, withSeats: false) }
        let day2 = (20..<30).map { action($0, day: 2, withSeats: false) }
        _ = try store.append(application: "prod", json: Array(("[" + day1.joined(separator: ",") + "]").utf8))
        _ = try store.append(application: "prod", json: Array(("[" + day2.joined(separator: ",") + "]").utf8))
        try store.flush()
        for i in 30..<40 {
            _ = try store.append(application: "prod", json: Array(action(i, day: 3, withSeats: true).utf8))
        }
        _ = try store.append(
            application: "dev/x",
            json: Array(("[" + (0..<3).map { action($0, day: 1, withSeats: false) }.joined(separator: ",") + "]").utf8)
        )
        try store.close()
        try? FileManager.default.removeItem(atPath: path + "/LOCK")
        // The manifest as the release before format 2 wrote it.
        let files = StoreFiles(path)
        let m = try #require(try Manifest.load(files))
        try Data(legacyManifestBytes(m)).write(to: URL(fileURLWithPath: files.manifest))
    }
}

/// The version-1 text manifest, as the first releases wrote it.
func legacyManifestBytes(_ m: Manifest) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var bytes = Array((Manifest.legacyMagicLine + "\n").utf8) + Array(try encoder.encode(m)) + [0x0A]
    let sum = bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
    bytes += Array(("xxh64 " + String(sum, radix: 16).leftPadded(16) + "\n").utf8)
    return bytes
}

@Suite struct FixtureStoreTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ACTIONSTORE_WRITE_FIXTURE"] != nil))
    func writeFixture() throws {
        try FixtureStore.write()
    }
}

extension FixtureStoreTests {
    static let queries: [(app: String, query: String, expected: String)] = [
        (
            "prod",
            #"{"group_by":["action_name"],"metrics":["count","unique_users"],"order_by":[{"key":"action_name"}]}"#,
            #"{"rows": [{"action_name": "A0", "count": 14, "unique_users": 7}, {"action_name": "A1", "count": 13, "unique_users": 7}, {"action_name": "A2", "count": 13, "unique_users": 7}]"#
        ),
        (
            "prod",
            #"{"group_by":[{"time":"day"}],"metrics":["count",{"sum":"metadata.amount"}],"order_by":[{"key":"time"}]}"#,
            #"{"rows": [{"time": "2026-09-01T00:00:00Z", "count": 20, "sum(metadata.amount)": 193.5}, {"time": "2026-09-02T00:00:00Z", "count": 10, "sum(metadata.amount)": 246.5}, {"time": "2026-09-03T00:00:00Z", "count": 10, "sum(metadata.amount)": 347}]"#
        ),
        (
            "prod", #"{"where":{"exists":"metadata.plan.seats"},"metrics":["count",{"max":"metadata.plan.seats"}]}"#,
            #"{"rows": [{"count": 10, "max(metadata.plan.seats)": 39}]"#
        ),
        (
            "prod",
            #"{"where":{"eq":["metadata.ok",true]},"group_by":["company_id","request.ip_address"],"metrics":["count"],"order_by":[{"key":"company_id"},{"key":"request.ip_address"}]}"#,
            #"{"rows": [{"company_id": "c0", "request.ip_address": "10.0.0.0", "count": 10}, {"company_id": "c0", "request.ip_address": "10.0.0.2", "count": 10}]"#
        ),
        (
            "dev/x", #"{"group_by":["user_id"],"metrics":["count"],"order_by":[{"key":"user_id"}]}"#,
            #"{"rows": [{"user_id": "u0", "count": 1}, {"user_id": "u1", "count": 1}, {"user_id": "u2", "count": 1}]"#
        ),
    ]

    @Test func fixtureOpensWithItsActions() throws {
        try withStoreDirectory { dir in
            try FixtureStore.copy(to: dir)
            let store = try Store.open(at: dir)
            #expect(store.applications == ["dev/x", "prod"])
            func check() throws {
                for q in Self.queries {
                    let json = try store.query(application: q.app, Query.parse(json: q.query)).json()
                    #expect(json.hasPrefix(q.expected + ", \"stats\""), "\(q.query) => \(json)")
                }
                var ids: [String] = []
                try store.scan(application: "prod") { ids.append($0.transactionId ?? "") }
                #expect(ids.sorted() == (0..<40).map { "t\($0)" }.sorted())
            }
            try check()
            // Every id is known: those of the version-1 segments (their filters are built from
            // the column) and those of the old journal.
            let again = (0..<40).map { i in
                FixtureStore.action(i, day: i < 20 ? 1 : i < 30 ? 2 : 3, withSeats: i >= 30)
            }
            let r = try store.append(application: "prod", json: Array(("[" + again.joined(separator: ",") + "]").utf8))
            #expect(r.duplicates == 40)
            // Exact distinct counts over old segments (values looked up in the dictionary built
            // by the replay) and new rows, before and after they reach segments.
            func uniqueUsers() throws -> String {
                try store.query(
                    application: "prod",
                    Query.parse(json: #"{"metrics":["unique_users","unique_companies"]}"#)
                )
                .json()
            }
            #expect(try uniqueUsers().hasPrefix(#"{"rows": [{"unique_users": 7, "unique_companies": 2}]"#))
            // What the old journal held survives a flush in today's formats and a reopen.
            try store.flush()
            try store.close()
            let reopened = try Store.open(at: dir)
            defer { try? reopened.close() }
            for q in Self.queries {
                let json = try reopened.query(application: q.app, Query.parse(json: q.query)).json()
                #expect(json.hasPrefix(q.expected + ", \"stats\""), "\(q.query) => \(json)")
            }
            let fresh = [
                #"{"action_name":"n","user_id":"new-user","company_id":"c1"}"#, #"{"action_name":"n","user_id":"u3"}"#,
            ]
            _ = try reopened.append(application: "prod", json: Array(("[" + fresh.joined(separator: ",") + "]").utf8))
            for round in 0..<2 {
                let total = try reopened.query(application: "prod", Query.parse(json: #"{"metrics":["unique_users"]}"#))
                #expect(total.json().hasPrefix(#"{"rows": [{"unique_users": 8}]"#), "round \(round)")
                try reopened.flush()
            }
        }
    }
}
