import Foundation
import Testing

@testable import ActionStore

@Suite struct ColumnChunkTests {
    static func sample(_ rng: inout SeededRNG, count: Int = 300) -> [Action] {
        var actions = SegmentFixtures.actions(count: count, rng: &rng, variant: Int(rng.next() % 2))
        // Paths that are equal text but different bytes stay two paths.
        actions[0].metadata = [.init(path: "café", value: .int(1)), .init(path: "cafe\u{301}", value: .string("x"))]
            .sorted { utf8Less($0.path, $1.path) }
        for i in actions.indices { actions[i].metadata.sort { utf8Less($0.path, $1.path) } }
        return actions
    }

    @Test func actionsRoundTripExactly() throws {
        var rng = SeededRNG("chunk-roundtrip")
        for _ in 0..<5 {
            let actions = Self.sample(&rng)
            let chunk = try #require(ColumnChunk(actions))
            #expect(chunk.rowCount == actions.count)
            #expect(exactlyEqual(chunk.actions, actions), "seed \(rng.seed)")
            #expect(chunk.metadataColumn("café")?.kind == .number)
            #expect(chunk.metadataColumn("cafe\u{301}")?.kind == .string)
        }
    }

    @Test func appendingChunksEqualsAppendingRows() throws {
        var rng = SeededRNG("chunk-append")
        let actions = Self.sample(&rng, count: 500)
        var joined = ColumnChunk()
        var start = 0
        while start < actions.count {
            let end = min(actions.count, start + 1 + Int(rng.next() % 90))
            let took = joined.append(contentsOf: try #require(ColumnChunk(actions[start..<end])))
            #expect(took)
            start = end
        }
        #expect(exactlyEqual(joined.actions, actions), "seed \(rng.seed)")
    }

    @Test func gatherSortAndPartition() throws {
        var rng = SeededRNG("chunk-gather")
        var actions = Self.sample(&rng, count: 400)
        let day: Int64 = 86_400_000_000
        for i in actions.indices { actions[i].time = Int64(rng.next() % 5) * day + Int64(rng.next() % 1000) }
        let chunk = try #require(ColumnChunk(actions))
        let sorted = chunk.sortedByTime()
        #expect(exactlyEqual(sorted.actions, SegmentFixtures.timeSorted(actions)), "seed \(rng.seed)")
        let parts = chunk.partitioned(by: .day)
        #expect(parts.count == Set(actions.map { $0.time / day }).count)
        #expect(parts.reduce(0) { $0 + $1.chunk.rowCount } == actions.count)
        for (key, part) in parts {
            let expected = actions.filter { Partitioning.day.key($0.time) == key }
            #expect(exactlyEqual(part.actions, expected), "\(key) seed \(rng.seed)")
            #expect(part.arena.count <= chunk.arena.count)
        }
        let one = try #require(
            ColumnChunk(
                actions.map {
                    var a = $0
                    a.time = 5
                    return a
                }
            )
        )
        #expect(one.partitioned(by: .day).count == 1)
    }

    @Test func aPathNamedTwiceKeepsItsLastValue() {
        var c = ColumnChunk()
        c.append(Action(time: 1, actionName: "a", metadata: [.init(path: "x", value: .int(1))]))
        c.append(
            Action(
                time: 2,
                actionName: "a",
                metadata: [.init(path: "x", value: .int(2)), .init(path: "x", value: .double(2.5))]
            )
        )
        // Two kinds in one new path of one row: the row's last value wins there too.
        c.append(
            Action(
                time: 3,
                actionName: "a",
                metadata: [.init(path: "y", value: .string("s")), .init(path: "y", value: .int(7))]
            )
        )
        #expect(c.actions.map { $0.metadataValue("x") } == [.int(1), .double(2.5), nil])
        #expect(c.actions.map { $0.metadataValue("y") } == [nil, nil, .int(7)])
        // A kind that disagrees with earlier rows refuses the row and changes nothing.
        let before = c.actions
        let took = c.append(Action(time: 4, actionName: "a", metadata: [.init(path: "x", value: .bool(true))]))
        #expect(!took)
        #expect(exactlyEqual(c.actions, before))
    }

    @Test func codecRoundTrip() throws {
        var rng = SeededRNG("chunk-codec")
        for _ in 0..<5 {
            let actions = Self.sample(&rng, count: 1 + Int(rng.next() % 400))
            let batch = ColumnBatch(
                application: "app é",
                schemaDelta: SchemaDelta(
                    keys: [.init(name: "k", type: .number)],
                    paths: [.init(name: "a.k", type: .number)]
                ),
                chunk: try #require(ColumnChunk(actions))
            )
            let bytes = ColumnBatchCodec.encode(batch)
            #expect(bytes.first == ColumnBatchCodec.version)
            let back = try ColumnBatchCodec.decode(bytes)
            #expect(back.application == batch.application)
            #expect(back.schemaDelta == batch.schemaDelta)
            #expect(exactlyEqual(back.chunk.actions, actions), "seed \(rng.seed)")
            #expect(ColumnBatchCodec.encode(back) == bytes)
        }
    }

    @Test func damagedPayloadsThrowCorruptionAndNeverTrap() throws {
        var rng = SeededRNG("chunk-codec-damage")
        let actions = Self.sample(&rng, count: 40)
        let bytes = ColumnBatchCodec.encode(
            ColumnBatch(application: "a", schemaDelta: .init(), chunk: try #require(ColumnChunk(actions)))
        )
        for n in 0..<bytes.count {
            do {
                _ = try ColumnBatchCodec.decode(Array(bytes.prefix(n)))
                Issue.record("a payload cut to \(n) of \(bytes.count) bytes decoded")
            } catch {
                #expect((error as? ActionStoreError)?.code == .corruption)
            }
        }
        for _ in 0..<2000 {
            var b = bytes
            b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1 << (rng.next() % 8))
            do { _ = try ColumnBatchCodec.decode(b) } catch {
                #expect((error as? ActionStoreError)?.code == .corruption, "seed \(rng.seed): \(error)")
            }
        }
    }

    @Test func memtableSealsAndSnapshotsWithoutCopying() throws {
        var table = Memtable(application: "a", partition: "p")
        var rng = SeededRNG("memtable")
        let actions = Self.sample(&rng, count: 10_000)
        var i = 0
        while i < actions.count {
            let n = [1, 7, 300, 3000][Int(rng.next() % 4)]
            let part = try #require(ColumnChunk(actions[i..<min(actions.count, i + n)]))
            table.append(part, now: 1)
            i += n
            #expect(table.chunks.allSatisfy { $0.rowCount <= Memtable.chunkRows }, "seed \(rng.seed)")
        }
        #expect(table.rowCount == actions.count)
        #expect(table.memoryBytes == table.chunks.reduce(0) { $0 + $1.memoryBytes })
        let flat = table.chunks.flatMap(\.actions)
        if let i = actions.indices.first(where: { !exactlyEqual([flat[$0]], [actions[$0]]) }) {
            Issue.record("row \(i) of \(actions.count): \(flat[i]) != \(actions[i]); seed \(rng.seed)")
        }
        #expect(exactlyEqual(table.sortedChunk().actions, SegmentFixtures.timeSorted(actions)))
    }
}
