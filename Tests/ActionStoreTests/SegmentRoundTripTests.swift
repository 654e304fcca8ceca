import Foundation
import Testing

@testable import ActionStore

/// A fresh directory, removed after `body`.
func withTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segtest-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

/// Random actions covering every column type and encoding, sparse paths and near-miss compact text.
enum SegmentFixtures {
    static let names = ["Signed Up", "Purchased", "Clicked", "Viewed Page", "é", "e\u{301}", ""]

    static func uuid(_ rng: inout SeededRNG) -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { s.append("-") }
            s.append(hex[Int(rng.next() % 16)])
        }
        return s
    }

    static func ip(_ rng: inout SeededRNG) -> String {
        (0..<4).map { _ in String(rng.next() % 256) }.joined(separator: ".")
    }

    static func text(_ rng: inout SeededRNG) -> String {
        let pieces = ["a", "b", "zz", "\"", "\\", "\n", "\u{1}", "é", "e\u{301}", "日本", "🙂", " ", "/x?y=1"]
        return (0..<Int(rng.next() % 4)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
    }

    /// `variant` flips encodings: 0 canonical UUID/IPv4 columns, 1 near misses (uppercase UUID,
    /// leading-zero IPv4) that must fall back to dictionaries.
    static func actions(count: Int, rng: inout SeededRNG, variant: Int) -> [Action] {
        let density = [0.0, 0.1, 0.5, 1.0]
        // Per-column presence probability for this segment.
        var p: [Double] = (0..<20).map { _ in density[Int(rng.next() % 4)] }
        p[0] = 1
        func has(_ i: Int, _ rng: inout SeededRNG) -> Bool { Double(rng.next() % 1000) / 1000 < p[i] }
        let mixedNumbers = rng.next() % 2 == 0
        let baseTime = Int64(rng.next() % (1 << 50)) - (1 << 49)
        var out: [Action] = []
        for i in 0..<count {
            var a = Action(
                time: baseTime + Int64(rng.next() % 5_000_000),
                actionName: names[Int(rng.next() % UInt64(names.count))]
            )
            if has(1, &rng) { a.userId = "user-\(rng.next() % 50)" }
            if has(2, &rng) { a.anonymousId = text(&rng) }
            if has(3, &rng) { a.companyId = "c\(rng.next() % 3)" }
            if has(4, &rng) { a.sessionToken = uuid(&rng) + (variant == 1 && i == count / 2 ? " " : "") }
            if has(5, &rng) {
                var u = uuid(&rng)
                if variant == 1, i == count / 2 { u = u.uppercased() }
                a.transactionId = u
            }
            if has(6, &rng) { a.subscriptionId = "sub_\(rng.next() % 1000)" }
            if has(7, &rng) { a.requestURI = "https://api.example.com/v1/\(text(&rng))" }
            if has(8, &rng) {
                var s = ip(&rng)
                if variant == 1, i == count / 2 { s = "01.2.3.4" }
                a.requestIPAddress = s
            }
            if has(9, &rng) { a.requestUserAgent = "Mozilla/5.0 (\(rng.next() % 4))" }
            if has(10, &rng) { a.requestVerb = ["GET", "POST"][Int(rng.next() % 2)] }
            var m: [MetadataField] = []
            if has(11, &rng) { m.append(.init(path: "amount", value: .int(Int64(rng.next() % 2000) - 1000))) }
            if has(12, &rng) {
                let big = Int64(bitPattern: rng.next())
                let v: Value = mixedNumbers && rng.next() % 2 == 0 ? .double(Double(big) / 7) : .int(big)
                m.append(.init(path: "big", value: v))
            }
            if has(13, &rng) { m.append(.init(path: "flag", value: .bool(rng.next() % 3 == 0))) }
            if has(14, &rng) { m.append(.init(path: "obj.sub", value: .string(text(&rng)))) }
            if has(15, &rng) { m.append(.init(path: "price", value: .double(Double(rng.next() % 10_000) / 100))) }
            if has(16, &rng) { m.append(.init(path: "tags", value: .array("[\"\(rng.next() % 5)\",1]"))) }
            if has(17, &rng) {
                m.append(.init(path: "provider", value: .string(["google", "github"][Int(rng.next() % 2)])))
            }
            if has(18, &rng) { m.append(.init(path: "zero", value: .double(rng.next() % 2 == 0 ? -0.0 : 0.0))) }
            a.metadata = m.sorted { $0.path < $1.path }
            out.append(a)
        }
        return out
    }

    /// The order the writer stores rows in.
    static func timeSorted(_ a: [Action]) -> [Action] {
        a.indices.sorted { (a[$0].time, $0) < (a[$1].time, $1) }.map { a[$0] }
    }

    static func stringValue(_ a: Action, _ column: String) -> String?? {
        if let f = FixedField(name: column) { return .some(a[f]) }
        guard column.hasPrefix("metadata.") else { return nil }
        switch a.metadataValue(String(column.dropFirst(9))) {
        case .string(let s): return .some(s)
        case .bool(let b): return .some(b ? "true" : "false")
        case nil: return .some(nil)
        default: return nil
        }
    }
}

/// Exact equality, including the byte spelling of strings and the sign of zero.
func exactlyEqual(_ a: [Action], _ b: [Action]) -> Bool {
    guard a == b else { return false }
    for (x, y) in zip(a, b) {
        for f in FixedField.allCases where !(x[f]?.utf8.elementsEqual(y[f]?.utf8 ?? "".utf8) ?? (y[f] == nil)) {
            return false
        }
        for (m, n) in zip(x.metadata, y.metadata) {
            switch (m.value, n.value) {
            case (.string(let s), .string(let t)), (.array(let s), .array(let t)):
                if !s.utf8.elementsEqual(t.utf8) { return false }
            case (.double(let s), .double(let t)):
                if s.bitPattern != t.bitPattern { return false }
            case (.int, .double), (.double, .int):
                return false
            default: break
            }
        }
    }
    return true
}

@Suite struct SegmentRoundTripTests {
    static let fast = SegmentOptions(sync: false)

    @Test func randomSegmentsRoundTripExactly() throws {
        let seed = SeededRNG.testSeed("randomSegmentsRoundTripExactly")
        var rng = SeededRNG(seed: seed)
        try withTempDir { dir throws in
            for iteration in 0..<60 {
                let count = [0, 1, 2, 17, 100, 333][iteration % 6]
                let blockRows = [1, 3, 8, 64, 65_536][Int(rng.next() % 5)]
                let input = SegmentFixtures.actions(count: count, rng: &rng, variant: iteration % 2)
                let path = "\(dir)/s\(iteration).seg"
                let info = try SegmentWriter.write(
                    actions: input,
                    to: path,
                    options: SegmentOptions(blockRows: blockRows, indexAlwaysDistinct: 16, sync: false)
                )
                let expected = SegmentFixtures.timeSorted(input)
                let r = try SegmentReader(path: path)
                try r.verify()
                #expect(info.rows == count && r.rowCount == count, "seed \(seed) iteration \(iteration)")
                #expect(info.fileName == "s\(iteration).seg")
                #expect(info.minTime == (expected.first?.time ?? 0) && r.maxTime == (expected.last?.time ?? 0))
                #expect(info.bytes == r.fileBytes)
                let back = try r.actions()
                #expect(exactlyEqual(back, expected), "seed \(seed) iteration \(iteration) blockRows \(blockRows)")
                #expect(try r.times() == expected.map(\.time))
                try checkColumns(r, expected, seed: seed)
            }
        }
    }

    /// Footer statistics, whole-column and per-block decoding, postings and dictionary probes against brute force.
    func checkColumns(_ r: SegmentReader, _ rows: [Action], seed: UInt64) throws {
        for ci in r.columns where ci.name != "time" {
            let data = try #require(try r.column(ci.name))
            var values: [Value?] = []
            for a in rows {
                if let f = FixedField(name: ci.name) {
                    values.append(a[f].map { .string($0) })
                } else {
                    values.append(a.metadataValue(String(ci.name.dropFirst(9))))
                }
            }
            #expect(ci.nullCount == values.filter { $0 == nil }.count, "\(ci.name) seed \(seed)")
            for (row, v) in values.enumerated() {
                let got = data.value(at: row)
                if case .int(let i) = v, ci.type == .double {
                    #expect(got == .double(Double(i)), "\(ci.name) row \(row) seed \(seed)")
                } else {
                    #expect(got == v, "\(ci.name) row \(row) seed \(seed)")
                }
            }
            // Per-block decoding agrees with the whole column.
            for (b, block) in ci.blocks.enumerated() {
                let part = try #require(try r.column(ci.name, block: b))
                for i in 0..<block.rowCount {
                    #expect(
                        part.value(at: i) == data.value(at: block.rowStart + i),
                        "\(ci.name) block \(b) seed \(seed)"
                    )
                }
            }
            guard ci.type == .string || ci.type == .bool else { continue }
            let strings = rows.map { SegmentFixtures.stringValue($0, ci.name)! }
            var distinct = Set<[UInt8]>()
            for s in strings { if let s { distinct.insert(Array(s.utf8)) } }
            #expect(ci.distinctCount == distinct.count, "\(ci.name) seed \(seed)")
            if ci.type == .string {
                let sorted = distinct.sorted { $0.lexicographicallyPrecedes($1) }
                let lo = sorted.first.map { Value.string(String(decoding: $0, as: UTF8.self)) }
                let hi = sorted.last.map { Value.string(String(decoding: $0, as: UTF8.self)) }
                #expect(ci.min == lo && ci.max == hi, "\(ci.name) seed \(seed)")
            }
            var probes = distinct.map { String(decoding: $0, as: UTF8.self) }
            probes += ["absent", "", "true", "00000000-0000-0000-0000-000000000000", "1.2.3.4"]
            for probe in probes {
                let expectRows = strings.indices.filter {
                    strings[$0].map { Array($0.utf8) == Array(probe.utf8) } ?? false
                }.map { UInt32($0) }
                if let p = try r.postings(column: ci.name, value: probe) {
                    #expect(p.toArray() == expectRows, "\(ci.name) = \(probe) seed \(seed)")
                } else {
                    #expect(ci.index == nil)
                }
                if let c = try r.dictionaryContains(column: ci.name, value: probe) {
                    #expect(c == !expectRows.isEmpty, "\(ci.name) contains \(probe) seed \(seed)")
                }
            }
        }
    }

    @Test func compactEncodingsOnlyWhenEveryValueRoundTrips() throws {
        try withTempDir { dir throws in
            func encoding(_ values: [String]) throws -> SegmentColumnEncoding? {
                let actions = values.enumerated().map { i, v in
                    Action(time: Int64(i), actionName: "a", transactionId: v)
                }
                let path = "\(dir)/e.seg"
                _ = try SegmentWriter.write(actions: actions, to: path, options: Self.fast)
                let r = try SegmentReader(path: path)
                #expect(try r.actions() == actions)
                return r.columnInfo("transaction_id")?.encoding
            }
            let u = "123e4567-e89b-12d3-a456-426614174000"
            #expect(try encoding([u, "00000000-0000-0000-0000-000000000000"]) == .uuid)
            #expect(try encoding([u, u.uppercased()]) == .dictionary)
            #expect(try encoding([u, "123e4567e89b-12d3-a456-426614174000-"]) == .dictionary)
            #expect(try encoding([u, String(u.dropLast()) + "g"]) == .dictionary)
            #expect(try encoding(["10.0.0.1", "255.255.255.255", "0.0.0.0"]) == .ipv4)
            #expect(try encoding(["10.0.0.1", "10.0.0.01"]) == .dictionary)
            #expect(try encoding(["10.0.0.1", "256.0.0.1"]) == .dictionary)
            #expect(try encoding(["10.0.0.1", "10.0.0"]) == .dictionary)
            #expect(try encoding(["10.0.0.1", "10.0.0.1.5"]) == .dictionary)
            #expect(try encoding(["10.0.0.1", " 10.0.0.1"]) == .dictionary)
        }
    }

    @Test func typesAndEncodingsOfColumns() throws {
        try withTempDir { dir throws in
            let actions = [
                Action(
                    time: 5,
                    actionName: "b",
                    requestIPAddress: "1.2.3.4",
                    metadata: [
                        .init(path: "d", value: .double(1.5)), .init(path: "i", value: .int(-3)),
                        .init(path: "m", value: .int(Int64.max)),
                    ]
                ),
                Action(
                    time: 2,
                    actionName: "a",
                    metadata: [
                        .init(path: "b", value: .bool(true)), .init(path: "i", value: .int(Int64.min)),
                        .init(path: "m", value: .double(0.25)),
                    ]
                ),
            ]
            let path = "\(dir)/t.seg"
            let info = try SegmentWriter.write(actions: actions, to: path, options: Self.fast)
            #expect(info.minTime == 2 && info.maxTime == 5)
            let r = try SegmentReader(path: path)
            #expect(
                r.columns.map(\.name) == [
                    "time", "action_name", "request.ip_address", "metadata.b", "metadata.d", "metadata.i", "metadata.m",
                ]
            )
            #expect(r.columns.map(\.type) == [.time, .string, .string, .bool, .double, .int, .double])
            #expect(r.columnInfo("metadata.m")?.hasMixedInts == true)
            #expect(r.columnInfo("metadata.i")?.min == .int(Int64.min))
            #expect(r.columnInfo("metadata.i")?.max == .int(-3))
            #expect(r.columnInfo("metadata.i")?.blocks[0].min == .int(Int64.min))
            #expect(r.columnInfo("request.ip_address")?.encoding == .ipv4)
            #expect(try r.actions() == [actions[1], actions[0]])
            #expect(try r.column("nope") == nil)
            #expect(try r.postings(column: "nope", value: "x")?.isEmpty == true)
            #expect(try r.dictionaryContains(column: "action_name", value: "a") == true)
            #expect(try r.dictionaryContains(column: "action_name", value: "c") == false)
            guard case .ints(let ints, let present) = try r.column("metadata.i") else {
                Issue.record("metadata.i is not ints")
                return
            }
            #expect(ints == [Int64.min, -3] && present == nil)
        }
    }

    @Test func canonicallyEquivalentSpellingsStayDistinct() throws {
        try withTempDir { dir throws in
            let nfc = "caf\u{E9}"
            let nfd = "cafe\u{301}"
            let actions = [
                Action(
                    time: 1,
                    actionName: nfc,
                    metadata: [.init(path: nfc, value: .string(nfd)), .init(path: nfd, value: .string(nfc))]
                ),
                Action(time: 2, actionName: nfd),
            ]
            let path = "\(dir)/u.seg"
            _ = try SegmentWriter.write(actions: actions, to: path, options: Self.fast)
            let r = try SegmentReader(path: path)
            #expect(r.columnInfo("action_name")?.distinctCount == 2)
            #expect(try r.postings(column: "action_name", value: nfd)?.toArray() == [1])
            #expect(r.columns.count == 4)
            #expect(Array(try #require(r.columnInfo("metadata." + nfc)).name.utf8) == Array(("metadata." + nfc).utf8))
            let a = try r.column("metadata." + nfd)?.value(at: 0)
            guard case .string(let s) = a else {
                Issue.record("no value")
                return
            }
            #expect(Array(s.utf8) == Array(nfc.utf8))
            let back = try r.actions()
            #expect(Array(back[1].actionName.utf8) == Array(nfd.utf8))
        }
    }

    @Test func oneReaderServesConcurrentQueries() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segtest-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SeededRNG(seed: 99)
        let input = SegmentFixtures.actions(count: 500, rng: &rng, variant: 0)
        _ = try SegmentWriter.write(
            actions: input,
            to: "\(dir)/q.seg",
            options: SegmentOptions(blockRows: 64, sync: false)
        )
        let r = try SegmentReader(path: "\(dir)/q.seg")
        let expected = input.filter { $0.actionName == "Clicked" }.count
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    _ = try r.column("user_id")
                    _ = try r.dictionaryContains(column: "action_name", value: "Clicked")
                    return try r.postings(column: "action_name", value: "Clicked")?.cardinality ?? -1
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == Array(repeating: expected, count: 8))
    }

    @Test func emptySegment() throws {
        try withTempDir { dir throws in
            let info = try SegmentWriter.write(actions: [], to: "\(dir)/e.seg", options: Self.fast)
            #expect(info.rows == 0 && info.minTime == 0 && info.maxTime == 0)
            let r = try SegmentReader(path: "\(dir)/e.seg")
            try r.verify()
            #expect(try r.actions().isEmpty && r.columns.map(\.name) == ["time"])
        }
    }

    @Test func conflictingTypesInOnePathAreRejected() throws {
        try withTempDir { dir throws in
            let actions = [
                Action(time: 1, actionName: "a", metadata: [.init(path: "x", value: .string("1"))]),
                Action(time: 2, actionName: "a", metadata: [.init(path: "x", value: .int(1))]),
            ]
            #expect {
                try SegmentWriter.write(actions: actions, to: "\(dir)/c.seg", options: Self.fast)
            } throws: { ($0 as? ActionStoreError)?.code == .schemaConflict }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/c.seg"))
            let dup = [
                Action(
                    time: 1,
                    actionName: "a",
                    metadata: [.init(path: "x", value: .int(1)), .init(path: "x", value: .int(2))]
                )
            ]
            // A path named twice keeps its last value, as the JSON reader does (issue 13 item 10:
            // a row with two values for one path once made every flush fail).
            _ = try SegmentWriter.write(actions: dup, to: "\(dir)/d.seg", options: Self.fast)
            let back = try SegmentReader(path: "\(dir)/d.seg").actions()
            #expect(back.map(\.metadata) == [[.init(path: "x", value: .int(2))]])
        }
    }

    @Test func indexIsSkippedAboveTheCardinalityCap() throws {
        try withTempDir { dir throws in
            let actions = (0..<200).map { Action(time: Int64($0), actionName: "n\($0 % 20)", userId: "u\($0)") }
            let path = "\(dir)/i.seg"
            _ = try SegmentWriter.write(
                actions: actions,
                to: path,
                options: SegmentOptions(indexMaxDistinct: 50, indexAlwaysDistinct: 10, sync: false)
            )
            let r = try SegmentReader(path: path)
            #expect(r.columnInfo("action_name")?.index != nil)
            #expect(r.columnInfo("user_id")?.index == nil)
            #expect(try r.postings(column: "user_id", value: "u1") == nil)
            #expect(try r.dictionaryContains(column: "user_id", value: "u1") == true)
            #expect(
                try r.postings(column: "action_name", value: "n3")?.toArray() == (0..<10).map { UInt32($0 * 20 + 3) }
            )
        }
    }

    @Test func roaringWrapper() {
        let a = RoaringBitmap([5, 1, 1, 70_000, 3])
        let b = RoaringBitmap([3, 4, 5])
        #expect(a.cardinality == 4 && a.contains(70_000) && !a.contains(2))
        #expect(a.and(b).toArray() == [3, 5])
        #expect(a.or(b).toArray() == [1, 3, 4, 5, 70_000])
        #expect(a.andNot(b).toArray() == [1, 70_000])
        #expect(RoaringBitmap.deserialize(a.serialized())?.toArray() == a.toArray())
        #expect(RoaringBitmap.deserialize([1, 2, 3]) == nil)
        #expect(RoaringBitmap().isEmpty)
    }

    @Test func bitPackingAtEveryWidth() {
        var rng = SeededRNG(seed: 42)
        for width in 0...64 {
            let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
            let values = (0..<37).map { _ in rng.next() & mask }
            var w = ByteWriter()
            BitPacking.pack(values, width: width, into: &w)
            #expect(w.count == BitPacking.packedBytes(count: values.count, width: width))
            let padded = w.bytes + [UInt8](repeating: 0, count: 8)
            var out = [UInt64](repeating: 0, count: values.count)
            padded.withUnsafeBytes { buf in
                BitPacking.unpack(buf, count: values.count, width: width) { i, v in out[i] = v }
            }
            #expect(out == values, "width \(width)")
        }
    }
}

/// The worked example of docs/segment-format.md. `SEGMENT_EXAMPLE_OUT=/tmp/x.seg` keeps the file for `xxd`.
@Suite struct SegmentDocExampleTests {
    static let actions = [
        Action(
            time: 1_767_225_600_000_000,
            actionName: "Signed Up",
            requestIPAddress: "10.0.0.1",
            metadata: [.init(path: "plan", value: .string("pro"))]
        ),
        Action(
            time: 1_767_225_600_000_100,
            actionName: "Purchased",
            metadata: [.init(path: "amount", value: .int(42))]
        ),
    ]

    @Test func workedExampleKeepsItsSize() throws {
        try withTempDir { dir throws in
            let path = ProcessInfo.processInfo.environment["SEGMENT_EXAMPLE_OUT"] ?? "\(dir)/example.seg"
            let info = try SegmentWriter.write(actions: Self.actions, to: path, options: SegmentOptions(sync: false))
            let r = try SegmentReader(path: path)
            try r.verify()
            #expect(try r.actions() == Self.actions)
            // The doc shows these bytes; a change here means the format changed: update the doc.
            #expect(info.bytes == 590)
        }
    }
}
