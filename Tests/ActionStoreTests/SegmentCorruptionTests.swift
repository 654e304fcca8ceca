import Foundation
import Testing

@testable import ActionStore

/// Damaged segment files: each region flipped, truncated, or re-checksummed garbage.
@Suite struct SegmentCorruptionTests {
    /// A small segment with a dictionary, an index, several blocks and sparse metadata.
    static func sample(_ path: String, blockRows: Int = 4) throws {
        var actions: [Action] = []
        for i in 0..<23 {
            var a = Action(
                time: 1_700_000_000_000_000 + Int64(i * 1000),
                actionName: ["Signed Up", "Purchased", "Clicked"][i % 3],
                userId: "user-\(i % 5)",
                transactionId: i % 2 == 0 ? "123e4567-e89b-12d3-a456-42661417400\(i % 10)" : nil,
                requestIPAddress: "10.0.\(i % 3).\(i)"
            )
            if i % 3 == 0 {
                a.metadata.append(.init(path: "amount", value: i % 2 == 0 ? .int(Int64(i)) : .double(0.5)))
            }
            if i % 4 == 0 { a.metadata.append(.init(path: "flag", value: .bool(i % 8 == 0))) }
            if i % 5 == 0 { a.metadata.append(.init(path: "tags", value: .array("[\(i)]"))) }
            actions.append(a)
        }
        _ = try SegmentWriter.write(
            actions: actions,
            to: path,
            options: SegmentOptions(blockRows: blockRows, sync: false)
        )
    }

    static func flip(_ path: String, at offset: Int) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[offset] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Runs `body` and returns the message of the ActionStoreError(.corruption) it throws.
    static func corruption(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let e as ActionStoreError {
            #expect(e.code == .corruption, "\(e)")
            return e.message
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func flippedHeaderTrailerAndFooterFailOpen() throws {
        try withTempDir { dir throws in
            let path = "\(dir)/c.seg"
            try Self.sample(path)
            let size = try SegmentReader(path: path).fileBytes
            let footerAt = size - SegmentFormat.trailerSize - 10
            let cases: [(Int, String)] = [
                (2, "\(path): header: bad magic at byte 0"),
                (9, "\(path): header: unsupported version 16386 at byte 8"),
                (13, "\(path): header: checksum mismatch at byte 12"),
                (footerAt, "\(path): footer: checksum mismatch at byte "),
                (size - SegmentFormat.trailerSize + 3, "\(path): trailer: checksum mismatch at byte \(size - 12)"),
                (size - 2, "\(path): trailer: bad magic at byte \(size - 8)"),
            ]
            for (offset, message) in cases {
                try Self.sample(path)
                try Self.flip(path, at: offset)
                let got = Self.corruption { _ = try SegmentReader(path: path) }
                #expect(got?.hasPrefix(message) == true, "flip at \(offset): \(got ?? "no error")")
            }
        }
    }

    @Test func flippedBlockDictionaryAndIndexFailOnRead() throws {
        try withTempDir { dir throws in
            let path = "\(dir)/c.seg"
            try Self.sample(path)
            let r0 = try SegmentReader(path: path)
            let name = try #require(r0.columnInfo("action_name"))
            let block = name.blocks[2].region
            let dictionary = try #require(name.dictionary)
            let index = try #require(name.index)
            let amount = try #require(r0.columnInfo("metadata.amount")).blocks[1].region

            try Self.flip(path, at: block.offset + block.storedSize - 1)
            var r = try SegmentReader(path: path)
            var expected = "\(path): column action_name block 2: checksum mismatch at byte \(block.offset)"
            #expect(Self.corruption { _ = try r.column("action_name") } == expected)
            #expect(Self.corruption { try r.verify() } == expected)
            #expect(Self.corruption { _ = try r.actions() } == expected)
            #expect(try r.column("user_id") != nil)  // other columns still read

            try Self.sample(path)
            try Self.flip(path, at: dictionary.offset)
            r = try SegmentReader(path: path)
            expected = "\(path): column action_name dictionary: checksum mismatch at byte \(dictionary.offset)"
            #expect(Self.corruption { _ = try r.dictionary(column: "action_name") } == expected)
            #expect(Self.corruption { _ = try r.dictionaryContains(column: "action_name", value: "x") } == expected)

            try Self.sample(path)
            try Self.flip(path, at: index.offset + index.storedSize / 2)
            r = try SegmentReader(path: path)
            expected = "\(path): column action_name index: checksum mismatch at byte \(index.offset)"
            #expect(Self.corruption { _ = try r.postings(column: "action_name", value: "Clicked") } == expected)
            #expect(Self.corruption { try r.verify() } == expected)
            #expect(try r.column("action_name") != nil)

            try Self.sample(path)
            try Self.flip(path, at: amount.offset)
            r = try SegmentReader(path: path)
            expected = "\(path): column metadata.amount block 1: checksum mismatch at byte \(amount.offset)"
            #expect(Self.corruption { _ = try r.column("metadata.amount") } == expected)
        }
    }

    @Test func truncatedAndEmptyFiles() throws {
        try withTempDir { dir throws in
            let path = "\(dir)/c.seg"
            try Self.sample(path)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            try Data(bytes.prefix(bytes.count - 1)).write(to: URL(fileURLWithPath: path))
            #expect(
                Self.corruption { _ = try SegmentReader(path: path) }?.hasPrefix("\(path): trailer: bad magic") == true
            )
            try Data().write(to: URL(fileURLWithPath: path))
            #expect(
                Self.corruption { _ = try SegmentReader(path: path) }
                    == "\(path): header: file of 0 bytes is too small for a segment at byte 0"
            )
            #expect {
                _ = try SegmentReader(path: "\(dir)/missing.seg")
            } throws: { ($0 as? ActionStoreError)?.code == .notFound }
        }
    }

    /// Re-checksums a file after its data or footer was changed, so that the parsers behind the
    /// checksums see the garbage (leveldb log_test `FixChecksum`).
    static func fixChecksums(_ bytes: inout [UInt8], file: String) {
        let size = bytes.count
        let t = size - SegmentFormat.trailerSize
        guard t > SegmentFormat.headerSize else { return }
        func u64(_ at: Int) -> Int {
            Int(
                truncatingIfNeeded: bytes[at..<(at + 8)].enumerated().reduce(UInt64(0)) {
                    $0 | UInt64($1.1) << (8 * UInt64($1.0))
                }
            )
        }
        let footerAt = u64(t)
        guard footerAt >= SegmentFormat.headerSize, footerAt <= t else { return }
        var footerBytes = Array(bytes[footerAt..<t])
        if var footer = try? footerBytes.withUnsafeBytes({ try SegmentFooter.decode($0, dataEnd: footerAt, file: file) }
        ) {
            func fix(_ r: inout SegmentRegion) {
                r.checksum = Checksum.xxh3(Array(bytes[r.offset..<(r.offset + r.storedSize)]))
            }
            for c in footer.columns.indices {
                if footer.columns[c].dictionary != nil { fix(&footer.columns[c].dictionary!) }
                if footer.columns[c].index != nil { fix(&footer.columns[c].index!) }
                for b in footer.columns[c].blocks.indices { fix(&footer.columns[c].blocks[b].region) }
            }
            let encoded = footer.encode()
            guard encoded.count == footerBytes.count else { return }
            footerBytes = encoded
            bytes.replaceSubrange(footerAt..<t, with: encoded)
        }
        var w = ByteWriter()
        w.u64(Checksum.xxh3(footerBytes))
        bytes.replaceSubrange((t + 16)..<(t + 24), with: w.bytes)
        var sum = ByteWriter()
        sum.u32(UInt32(truncatingIfNeeded: Checksum.xxh3(Array(bytes[t..<(t + 28)]))))
        bytes.replaceSubrange((t + 28)..<(t + 32), with: sum.bytes)
    }

    /// Opens and reads everything; any outcome but a crash or a non-ActionStoreError is fine.
    static func readEverything(_ path: String) -> Bool {
        do {
            let r = try SegmentReader(path: path)
            _ = try r.times()
            for c in r.columns {
                _ = try r.column(c.name)
                if !c.blocks.isEmpty { _ = try r.column(c.name, block: c.blocks.count - 1) }
                for v in ["Clicked", "user-1", "true", "10.0.1.4", "123e4567-e89b-12d3-a456-426614174002", "x"] {
                    _ = try r.postings(column: c.name, value: v)?.toArray()
                    _ = try r.dictionaryContains(column: c.name, value: v)
                }
            }
            _ = try r.actions()
            try r.verify()
            return true
        } catch let e as ActionStoreError {
            #expect(e.code == .corruption, "\(e)")
            return false
        } catch {
            Issue.record("unexpected error \(error)")
            return false
        }
    }

    @Test func mutationFuzzNeverCrashes() throws {
        let seed = SeededRNG.testSeed("mutationFuzzNeverCrashes")
        var rng = SeededRNG(seed: seed)
        try withTempDir { dir throws in
            var originals: [[UInt8]] = []
            for (i, blockRows) in [4, 64].enumerated() {
                try Self.sample("\(dir)/o\(i).seg", blockRows: blockRows)
                originals.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/o\(i).seg"))))
            }
            var fixture = SeededRNG(seed: seed ^ 1)
            let random = SegmentFixtures.actions(count: 40, rng: &fixture, variant: 0)
            _ = try SegmentWriter.write(
                actions: random,
                to: "\(dir)/o2.seg",
                options: SegmentOptions(blockRows: 7, indexAlwaysDistinct: 64, sync: false)
            )
            originals.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/o2.seg"))))
            let path = "\(dir)/m.seg"
            var survived = 0
            let iterations = Int(ProcessInfo.processInfo.environment["SEGMENT_FUZZ_ITERATIONS"] ?? "") ?? 3000
            for i in 0..<iterations {
                var bytes = originals[Int(rng.next() % UInt64(originals.count))]
                switch i % 4 {
                case 0:  // raw byte flips
                    for _ in 0...(rng.next() % 3) {
                        bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 + rng.next() % 255)
                    }
                case 1:  // truncation or extension
                    if rng.next() % 2 == 0 {
                        bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
                    } else {
                        bytes += (0..<(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    }
                case 2:  // data garbage behind valid checksums
                    let dataEnd = bytes.count - SegmentFormat.trailerSize
                    for _ in 0...(rng.next() % 4) {
                        let at = SegmentFormat.headerSize + Int(rng.next() % UInt64(dataEnd - SegmentFormat.headerSize))
                        bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                    }
                    Self.fixChecksums(&bytes, file: path)
                default:  // footer garbage behind a valid footer checksum
                    let t = bytes.count - SegmentFormat.trailerSize
                    var footerAt = 0
                    for k in 0..<8 { footerAt |= Int(bytes[t + k]) << (8 * k) }
                    for _ in 0...(rng.next() % 2) {
                        let at = footerAt + Int(rng.next() % UInt64(t - footerAt))
                        bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                    }
                    Self.fixChecksums(&bytes, file: path)
                }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                if Self.readEverything(path) { survived += 1 }
            }
            print("mutation fuzz: \(survived) of \(iterations) mutated files read cleanly (seed \(seed))")
        }
    }
}
