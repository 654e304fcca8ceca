import Testing

@testable import ActionStore

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A record read back by a replay.
struct ReplayedRecord: Equatable {
    var type: RecordType
    var payload: [UInt8]
    var position: JournalPosition
}

/// Writes `payloads` with a fresh writer and closes it.
func writeJournal(
    _ dir: TempDir,
    _ payloads: [[UInt8]],
    fileBytesMax: Int = 64 << 20,
    type: RecordType = .batch
) throws -> [JournalWriter.Ticket] {
    var config = JournalWriter.Configuration()
    config.fileBytesMax = fileBytesMax
    let writer = try JournalWriter(directory: dir.path, configuration: config)
    let tickets = try payloads.map { try writer.enqueue($0, type: type) }
    try writer.close()
    return tickets
}

func replayAll(
    _ dir: TempDir,
    from start: JournalPosition = JournalPosition(fileNumber: 1, offset: 0),
    skipDamaged: Bool = false
) throws -> ([ReplayedRecord], JournalReader.ReplayResult) {
    var records: [ReplayedRecord] = []
    let result = try JournalReader(directory: dir.path).replay(from: start, skipDamaged: skipDamaged) {
        type,
        payload,
        position in
        records.append(ReplayedRecord(type: type, payload: Array(payload), position: position))
    }
    return (records, result)
}

/// The corruption error of a replay, or nil (recording an issue) if it did not throw one.
func replayCorruption(_ dir: TempDir) -> ActionStoreError? {
    do {
        _ = try replayAll(dir)
        Issue.record("replay did not throw")
    } catch let e as ActionStoreError {
        #expect(e.code == .corruption)
        return e
    } catch {
        Issue.record("unexpected \(error)")
    }
    return nil
}

@Suite struct JournalReaderTests {
    @Test func framingRoundTripsAcrossRolledFiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var rng = SeededRNG("JournalReader.framing")
        let payloads = (0..<600).map { _ in rng.bytes(Int.random(in: 0...700, using: &rng)) }
        let tickets = try writeJournal(dir, payloads, fileBytesMax: 8 << 10)
        let files = try StoreFiles.journalNumbers(in: dir.path)
        #expect(files.count > 10)
        #expect(files == Array(1...UInt64(files.count)))
        for n in files.dropLast() {
            #expect(Bytes.read(dir.file(n)).count <= 8 << 10)
        }

        let (records, result) = try replayAll(dir)
        #expect(records.map(\.payload) == payloads)
        #expect(records.map(\.position) == tickets.map(\.start))
        #expect(records.allSatisfy { $0.type == .batch })
        #expect(result.records == payloads.count)
        #expect(result.validEnd == tickets.last!.end)
        #expect(result.tornTail == nil)
        #expect(result.damagedSkipped == 0)

        // From the middle: exactly the records from that ticket on.
        let (tail, _) = try replayAll(dir, from: tickets[250].start)
        #expect(tail.map(\.payload) == Array(payloads[250...]))
        let (afterEnd, _) = try replayAll(dir, from: tickets[250].end)
        #expect(afterEnd.map(\.payload) == Array(payloads[251...]))
    }

    @Test func fileHeaderAndRecordLayout() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let tickets = try writeJournal(dir, [Array("hi".utf8)], type: .checkpoint)
        let bytes = Bytes.read(dir.file(1))
        #expect(bytes.count == 32 + 17 + 2)
        #expect(Array(bytes[0..<8]) == Array("ASJOURNL".utf8))
        #expect(Array(bytes[8..<24]) == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[32..<37]) == [2, 0, 0, 0, 2])
        let sum = Array("hi".utf8).withUnsafeBytes { JournalFormat.recordChecksum(type: 2, payload: $0) }
        #expect(Array(bytes[37..<45]) == withUnsafeBytes(of: sum.littleEndian) { Array($0) })
        let check = bytes.withUnsafeBytes {
            JournalFormat.recordHeaderChecksum(UnsafeRawBufferPointer(rebasing: $0[32...]))
        }
        #expect(Array(bytes[45..<49]) == withUnsafeBytes(of: check.littleEndian) { Array($0) })
        #expect(Array(bytes[49...]) == Array("hi".utf8))
        #expect(tickets[0].start == JournalPosition(fileNumber: 1, offset: 32))
        #expect(tickets[0].end == JournalPosition(fileNumber: 1, offset: 51))
    }

    /// The worked example of docs/journal-format.md, byte for byte.
    @Test func docExampleMatchesTheFormat() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let batch = JournalBatch(
            application: "shop",
            schemaDelta: SchemaDelta(paths: [.init(name: "plan", type: .string), .init(name: "seats", type: .number)]),
            actions: [
                Action(
                    time: 1_700_000_000_000_000,
                    actionName: "Signed Up",
                    userId: "u1",
                    metadata: [
                        MetadataField(path: "plan", value: .string("pro")),
                        MetadataField(path: "seats", value: .int(3)),
                    ]
                )
            ]
        )
        var run = IdDictionary.Run(first: 0)
        Array("u1".utf8).withUnsafeBytes { run.append($0) }
        let payload = ColumnBatchCodec.encode(
            ColumnBatch(
                application: batch.application,
                schemaDelta: batch.schemaDelta,
                chunk: ColumnChunk(batch.actions)!,
                ids: [(.userId, run)]
            )
        )
        let tickets = try writeJournal(dir, [payload])
        let hex = """
            41 53 4a 4f 55 52 4e 4c 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 77 c0 48 a6 ef c0 b8 bf
            54 00 00 00 01 8e 73 0f e0 7a 21 c1 d2 c5 8e c9 20
            03 04 73 68 6f 70 00 02 04 70 6c 61 6e 01 05 73 65 61 74 73 02 01 80 80 f2 81 83 89 85 06 04
            00 01 01 00 09 53 69 67 6e 65 64 20 55 70
            01 01 01 00 02 75 31
            ff 04 70 6c 61 6e 01 01 00 03 70 72 6f
            ff 05 73 65 61 74 73 02 01 00 00 06
            01 00 00 01 02 75 31
            """
        let expected = hex.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
        #expect(expected.count == 133)
        #expect(Bytes.read(dir.file(1)) == expected)
        #expect(tickets[0].end == JournalPosition(fileNumber: 1, offset: 133))
        let (records, _) = try replayAll(dir)
        let decoded = try records.map { try ColumnBatchCodec.decode($0.payload) }
        #expect(decoded.map(\.application) == ["shop"])
        #expect(decoded.map(\.schemaDelta) == [batch.schemaDelta])
        #expect(decoded.map(\.chunk.actions) == [batch.actions])
    }

    @Test func truncationAtEveryOffsetOfTheLastRecordCutsExactly() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var rng = SeededRNG("JournalReader.truncate")
        let payloads = (0..<5).map { _ in rng.bytes(Int.random(in: 20...60, using: &rng)) }
        let tickets = try writeJournal(dir, payloads)
        let full = Bytes.read(dir.file(1))
        let lastStart = Int(tickets.last!.start.offset)
        for cut in lastStart..<full.count {
            Bytes.write(dir.file(1), Array(full[0..<cut]))
            let (records, result) = try replayAll(dir)
            #expect(records.map(\.payload) == Array(payloads.dropLast()), "cut at \(cut)")
            #expect(result.validEnd == tickets.last!.start)
            if cut == lastStart {
                #expect(result.tornTail == nil)
            } else {
                #expect(result.tornTail == tickets.last!.start)
                #expect(result.tornBytes == UInt64(cut - lastStart))
                #expect(result.notes.first?.contains("torn tail at \(dir.file(1)) offset \(lastStart)") == true)
            }
        }
    }

    @Test func zeroAndGarbageTailsAreTorn() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let payloads: [[UInt8]] = [[1, 2, 3], [4, 5, 6]]
        let tickets = try writeJournal(dir, payloads)
        let full = Bytes.read(dir.file(1))
        var rng = SeededRNG("JournalReader.garbageTail")
        for tail in [[UInt8](repeating: 0, count: 4096), rng.bytes(3000), [0x05, 0, 0, 0, 1]] {
            Bytes.write(dir.file(1), full + tail)
            let (records, result) = try replayAll(dir)
            #expect(records.map(\.payload) == payloads)
            #expect(result.tornTail == tickets.last!.end)
            #expect(result.validEnd == tickets.last!.end)
        }
    }

    @Test func tornFileHeaderOfLastFile() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let tickets = try writeJournal(dir, [[1], [2]], fileBytesMax: 40)
        #expect(tickets[1].start.fileNumber == 2)
        // File 2 cut inside its header: the tail of the journal is file 2 offset 0.
        let file2 = Bytes.read(dir.file(2))
        for cut in 0..<32 {
            Bytes.write(dir.file(2), Array(file2[0..<cut]))
            let (records, result) = try replayAll(dir)
            #expect(records.map(\.payload) == [[1]])
            #expect(result.validEnd == JournalPosition(fileNumber: 2, offset: 0))
            #expect(result.tornTail == JournalPosition(fileNumber: 2, offset: 0))
        }
        // The writer rewrites the header and continues in file 2.
        let writer = try JournalWriter(directory: dir.path)
        let t = try writer.enqueue([3], type: .batch)
        try writer.waitDurable(t)
        try writer.close()
        #expect(t.start == JournalPosition(fileNumber: 2, offset: 32))
        #expect(try replayAll(dir).0.map(\.payload) == [[1], [3]])
    }

    /// Flips one byte in each region of the middle record (and the file header).
    @Test(arguments: ["fileHeader", "length", "type", "checksum", "headerCheck", "payload"])
    func damageInTheMiddleIsCorruption(region: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let payloads: [[UInt8]] = (0..<5).map { i in [UInt8](repeating: UInt8(i), count: 40) }
        let tickets = try writeJournal(dir, payloads)
        var bytes = Bytes.read(dir.file(1))
        let middle = Int(tickets[2].start.offset)
        let (index, damagedOffset): (Int, Int) =
            switch region {
            case "fileHeader": (20, 0)
            case "length": (middle + 1, middle)
            case "type": (middle + 4, middle)
            case "checksum": (middle + 9, middle)
            case "headerCheck": (middle + 14, middle)
            default: (middle + JournalFormat.recordHeaderBytes + 17, middle)
            }
        bytes[index] ^= 0x40
        Bytes.write(dir.file(1), bytes)

        let e = replayCorruption(dir)
        #expect(e?.message.contains("\(dir.file(1)) is damaged at offset \(damagedOffset)") == true, "\(e!)")

        let (records, result) = try replayAll(dir, skipDamaged: true)
        let expected =
            region == "fileHeader" ? payloads : payloads.enumerated().filter { $0.offset != 2 }.map(\.element)
        #expect(records.map(\.payload) == expected)
        #expect(result.damagedSkipped == 1)
        #expect(result.validEnd == tickets.last!.end)
        #expect(result.tornTail == nil)
        #expect(result.notes.count == 1)
    }

    /// A large random hole between records: resynchronization finds the records after it.
    @Test func resynchronizesPastALargeGarbageRegion() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var rng = SeededRNG("JournalReader.hole")
        let tickets = try writeJournal(dir, [[1], [2]])
        var bytes = Bytes.read(dir.file(1))
        let second = Array(bytes[Int(tickets[1].start.offset)...])
        bytes.removeSubrange(Int(tickets[1].start.offset)...)
        bytes += rng.bytes(2 << 20) + second
        Bytes.write(dir.file(1), bytes)
        let e = replayCorruption(dir)
        #expect(e?.message.contains("offset \(tickets[1].start.offset)") == true)
        let clock = ContinuousClock()
        var result: JournalReader.ReplayResult?
        var records: [ReplayedRecord] = []
        let took = try clock.measure { (records, result) = try replayAll(dir, skipDamaged: true) }
        #expect(records.map(\.payload) == [[1], [2]])
        #expect(records.last?.position.offset == tickets[1].start.offset + UInt64(2 << 20))
        #expect(result?.damagedSkipped == 1)
        print("resynchronized past 2 MiB of garbage in \(took)")
    }

    @Test func damageAtTheEndOfANonLastFileIsCorruption() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let tickets = try writeJournal(dir, [[1], [2], [3]], fileBytesMax: 70)
        #expect(tickets.map(\.start.fileNumber) == [1, 1, 2])
        var file1 = Bytes.read(dir.file(1))
        file1.removeLast()  // a "torn" record, but file 2 exists: not a tail
        Bytes.write(dir.file(1), file1)
        let e = replayCorruption(dir)
        #expect(e?.message.contains("\(dir.file(1)) is damaged at offset \(tickets[1].start.offset)") == true)
        #expect(e?.message.contains("not the last") == true)
        let (records, result) = try replayAll(dir, skipDamaged: true)
        #expect(records.map(\.payload) == [[1], [3]])
        #expect(result.damagedSkipped == 1)
    }

    @Test func missingFileIsCorruption() throws {
        let dir = TempDir()
        defer { dir.remove() }
        _ = try writeJournal(dir, [[1], [2], [3]], fileBytesMax: 40)
        #expect(try StoreFiles.journalNumbers(in: dir.path) == [1, 2, 3])
        unlink(dir.file(2))
        let e = replayCorruption(dir)
        #expect(e?.message.contains("missing") == true)
        let (records, result) = try replayAll(dir, skipDamaged: true)
        #expect(records.map(\.payload) == [[1], [3]])
        #expect(result.damagedSkipped == 1)
    }

    @Test func emptyDirectoryAndStartBeyondFiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let (none, empty) = try replayAll(dir, from: JournalPosition(fileNumber: 7, offset: 0))
        #expect(none.isEmpty)
        #expect(empty.validEnd == JournalPosition(fileNumber: 7, offset: 0))
    }
}
