import Foundation
import Testing

@testable import ActionStore

private func insert(_ d: inout IdDictionary, _ s: String) -> (code: UInt32, inserted: Bool) {
    Array(s.utf8).withUnsafeBytes { d.insert($0, hash: IdDictionary.hash($0)) }
}

private func action(_ i: Int, user: String?, anonymous: String? = nil, company: String? = nil) -> String {
    var fields = [#""action_name":"a\#(i % 3)""#, #""request":{"time":"2026-09-01T10:00:\#(10 + i % 40)Z"}"#]
    if let user { fields.append(#""user_id":"\#(user)""#) }
    if let anonymous { fields.append(#""anonymous_id":"\#(anonymous)""#) }
    if let company { fields.append(#""company_id":"\#(company)""#) }
    return "{" + fields.joined(separator: ",") + "}"
}

@Suite struct IdDictionaryTests {
    @Test func codesAreDenseInOrderOfFirstSight() {
        var d = IdDictionary()
        #expect(insert(&d, "b") == (0, true))
        #expect(insert(&d, "a") == (1, true))
        #expect(insert(&d, "b") == (0, false))
        #expect(insert(&d, "") == (2, true))
        #expect(d.code(of: "a") == 1)
        #expect(d.code(of: "c") == nil)
        #expect(d.string(0) == "b")
        #expect(d.string(2) == "")
        // Bytes, not text: NFC and NFD spellings of one word are two values.
        #expect(insert(&d, "caf\u{E9}").code != insert(&d, "cafe\u{301}").code)
    }

    @Test func manyValuesSurviveRehashingAndTruncation() {
        let seed = SeededRNG.testSeed("manyValuesSurviveRehashingAndTruncation")
        var rng = SeededRNG(seed: seed)
        var d = IdDictionary()
        var values: [String] = []
        var seen = Set<String>()
        while values.count < 20_000 {
            let v = "user-\(rng.next() % 50_000)"
            if seen.insert(v).inserted { values.append(v) }
            _ = insert(&d, v)
        }
        for (i, v) in values.enumerated() { #expect(d.code(of: v) == UInt32(i), "seed \(seed)") }
        d.truncate(to: 5_000)
        #expect(d.count == 5_000)
        #expect(d.code(of: values[4_999]) == 4_999)
        #expect(d.code(of: values[5_000]) == nil)
        #expect(insert(&d, values[12_000]) == (5_000, true))
    }

    @Test func runsRebuildADictionaryAndRejectGapsAndConflicts() throws {
        var d = IdDictionary()
        for v in ["x", "y", "z"] { _ = insert(&d, v) }
        var copy = IdDictionary()
        try copy.apply(d.run(from: 0, to: 2), what: "run")
        try copy.apply(d.run(from: 1), what: "run")  // overlaps code 1: the same value, accepted
        #expect(copy == d)
        var gap = IdDictionary()
        #expect(throws: ActionStoreError.self) { try gap.apply(d.run(from: 1), what: "run") }
        var other = IdDictionary()
        _ = insert(&other, "q")
        #expect(throws: ActionStoreError.self) { try other.apply(d.run(from: 0), what: "run") }
        var repeated = IdDictionary.Run(first: 1)
        Array("q".utf8).withUnsafeBytes { repeated.append($0) }
        var again = other
        #expect(throws: ActionStoreError.self) { try again.apply(repeated, what: "run") }
    }

    @Test func storeAssignsCodesOnlyToStoredRowsAndRestoresThemExactly() throws {
        try withStoreDirectory { dir in
            var options = StoreOptions()
            options.backgroundFlush = false
            var expected: [String] = []
            do {
                let store = try Store.open(at: dir, options: options)
                let docs = (0..<50).map { action($0, user: "u\($0 % 7)", anonymous: $0 % 2 == 0 ? "anon\($0)" : nil) }
                _ = try store.append(application: "app", json: Array(("[" + docs.joined(separator: ",") + "]").utf8))
                // A rejected action (no action_name) and a duplicate give no code.
                _ = try store.append(application: "app", json: Array(#"[{"user_id":"rejected"}]"#.utf8))
                let t =
                    #"{"action_name":"p","transaction_id":"t1","user_id":"first","request":{"time":"2026-09-01T10:00:00Z"}}"#
                _ = try store.append(application: "app", json: Array(t.utf8))
                let dup = t.replacingOccurrences(of: #""first""#, with: #""second""#)
                #expect(try store.append(application: "app", json: Array(dup.utf8)).duplicates == 1)
                expected = (0..<7).map { "u\($0)" } + ["first"]
                #expect(store.idValues(application: "app", field: .userId) == expected)
                #expect(store.idValues(application: "app", field: .anonymousId).count == 25)
                #expect(store.stats().idCodes["app"]?["user_id"] == 8)
                try store.close()
            }
            // From the journal alone.
            do {
                let store = try Store.open(at: dir, options: options)
                #expect(store.idValues(application: "app", field: .userId) == expected)
                try store.flush()
                // After the flush the checkpoint holds them; new codes go to the next journal.
                _ = try store.append(application: "app", json: Array(action(1, user: "late", company: "c1").utf8))
                try store.close()
            }
            let store = try Store.open(at: dir, options: options)
            defer { try? store.close() }
            #expect(store.idValues(application: "app", field: .userId) == expected + ["late"])
            #expect(store.idValues(application: "app", field: .companyId) == ["c1"])
            #expect(FileSystem.exists(StoreFiles(dir).dictionary(application: "app")))
            // A second flush appends a block; the checkpoint grows and reopens.
            try store.flush()
            let m = try #require(try Manifest.load(StoreFiles(dir)))
            #expect(m.applications["app"]?.dictionary?.counts == [9, 25, 1, 0])
        }
    }

    @Test func damagedCheckpointFailsTheOpenNamingTheFile() throws {
        try withStoreDirectory { dir in
            var options = StoreOptions()
            options.backgroundFlush = false
            do {
                let store = try Store.open(at: dir, options: options)
                _ = try store.append(application: "app", json: Array(action(0, user: "someone").utf8))
                try store.flush()
                try store.close()
            }
            let path = StoreFiles(dir).dictionary(application: "app")
            var bytes = Bytes.read(path)
            bytes[bytes.count - 12] ^= 0x40
            Bytes.write(path, bytes)
            do {
                _ = try Store.open(at: dir, options: options)
                Issue.record("a damaged dictionary checkpoint opened")
            } catch let e as ActionStoreError {
                #expect(e.code == .corruption)
                #expect(e.message.contains("app.ids"), "\(e.message)")
            }
        }
    }

    @Test func bytesPastTheCheckpointAreIgnoredAndCut() throws {
        try withStoreDirectory { dir in
            var options = StoreOptions()
            options.backgroundFlush = false
            do {
                let store = try Store.open(at: dir, options: options)
                _ = try store.append(application: "app", json: Array(action(0, user: "a").utf8))
                try store.flush()
                try store.close()
            }
            // A block whose manifest never landed (a crash between the two).
            let path = StoreFiles(dir).dictionary(application: "app")
            let clean = Bytes.read(path)
            Bytes.write(path, clean + [1, 2, 3, 4, 5])
            let store = try Store.open(at: dir, options: options)
            defer { try? store.close() }
            #expect(store.idValues(application: "app", field: .userId) == ["a"])
            _ = try store.append(application: "app", json: Array(action(1, user: "b").utf8))
            try store.flush()
            let m = try #require(try Manifest.load(StoreFiles(dir)))
            #expect(Int64(m.applications["app"]?.dictionary?.bytes ?? 0) == FileSystem.fileSize(path))
            #expect(Array(Bytes.read(path).prefix(clean.count)) == clean)
        }
    }

    /// Counts grouped by an id column take the dense path (`DenseIdCounts`): the same rows as the
    /// general path, over memtables and segments, with ties at the limit and rows without the id.
    @Test func denseIdCountsAnswerAsTheGeneralPath() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            var rng = SeededRNG("dense-id-counts")
            var all: [Action] = []
            for round in 0..<3 {
                var batch: [Action] = []
                for i in 0..<400 {
                    var a = Action(time: 1_780_000_000_000_000 + Int64(i) * 1_000_000, actionName: "a\(i % 3)")
                    let u = rng.next() % 50
                    if u < 45 { a.userId = "u\(u % 23)" }
                    batch.append(a)
                }
                all += batch
                _ = try store.append(application: "app", actions: batch)
                if round < 2 { try store.flush() }
            }
            let schema = try #require(store.schema(application: "app"))
            for q in [
                #"{"group_by":["user_id"],"metrics":["count"],"order_by":[{"metric":"count","desc":true}],"limit":5}"#,
                #"{"group_by":["user_id"],"metrics":["count"],"order_by":[{"metric":"count"}],"limit":3}"#,
                #"{"group_by":["user_id"],"metrics":["count"]}"#,
                #"{"where":{"eq":["action_name","a1"]},"group_by":["user_id"],"metrics":["count"],"limit":4,"order_by":[{"metric":"count","desc":true}]}"#,
            ] {
                let query = try Query.parse(json: q)
                let got = try store.query(application: "app", query).rows
                let want = try QueryEngine.run(query, sources: [ActionsSource(all)], schema: schema).rows
                #expect(sameRows(got, want), "\(q)\n got \(got.prefix(6))\nwant \(want.prefix(6))")
            }
        }
    }
}
