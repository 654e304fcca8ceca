import Foundation
import Synchronization
import Testing

@testable import ActionStore

@Suite struct DedupeTests {
    func act(_ id: String, _ t: Int64 = compactionDay0, name: String = "x") -> Action {
        Action(time: t, actionName: name, transactionId: id)
    }

    @Test func duplicatesAcrossAndInsideBatchesAreAcknowledgedNotStored() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions())
            let r1 = try store.append(application: "app", actions: [act("A"), act("B")])
            let r2 = try store.append(application: "app", actions: [act("C")])
            let r3 = try store.append(application: "app", actions: [act("A"), act("C"), act("D")])
            #expect(r1.accepted == 2 && r2.accepted == 1)
            #expect(r3.outcomes == [.duplicate, .duplicate, .accepted(droppedFields: [])])
            #expect(r3.duplicates == 2)
            let inBatch = try store.append(application: "app", actions: [act("E"), act("E"), act("F")])
            #expect(inBatch.outcomes == [.accepted(droppedFields: []), .duplicate, .accepted(droppedFields: [])])
            #expect(try storedIds(store) == ["A": 1, "B": 1, "C": 1, "D": 1, "E": 1, "F": 1])
            #expect(store.stats().duplicates == 3)
            #expect(store.stats().dedupeIds == 6)
            // Actions without a transaction id are never duplicates; ids are per application.
            let noId = Action(time: compactionDay0, actionName: "n")
            #expect(try store.append(application: "app", actions: [noId, noId]).accepted == 2)
            #expect(try store.append(application: "other", actions: [act("A")]).accepted == 1)
            try store.close()
        }
    }

    @Test func jsonInputIsDeduplicated() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions())
            let doc = #"[{"action_name":"x","transaction_id":"t1"},{"action_name":"y","transaction_id":"t1"}]"#
            let r = try store.append(application: "app", json: Array(doc.utf8))
            #expect(r.accepted == 1 && r.duplicates == 1)
            try store.close()
        }
    }

    @Test func rememberedAcrossRestartsFromJournalAndSegments() throws {
        try withStoreDirectory { dir in
            let o = compactionTestOptions()
            do {
                let store = try Store.open(at: dir, options: o)
                _ = try store.append(
                    application: "app",
                    actions: [act("seg1"), act("seg2", compactionDay0 + dayMicros)]
                )
                try store.flush()
                _ = try store.append(application: "app", actions: [act("jour1")])
                try store.close()
            }
            let store = try Store.open(at: dir, options: o)
            #expect(store.stats().dedupeIds == 3)
            let r = try store.append(application: "app", actions: [act("seg1"), act("seg2"), act("jour1"), act("new")])
            #expect(r.duplicates == 3 && r.accepted == 1)
            try store.compact()
            try store.close()
            let again = try Store.open(at: dir, options: o)
            #expect(try again.append(application: "app", actions: [act("new")]).duplicates == 1)
            #expect(try storedIds(again).count == 4)
            try again.close()
        }
    }

    @Test func concurrentBatchesWithTheSameIdsStoreOnce() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.durability = .fsyncEachBatch
            let store = try Store.open(at: dir, options: o)
            let accepted = Atomic(0)
            let duplicates = Atomic(0)
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for b in 0..<10 {
                    let batch = (0..<20).map { act("id\(b * 20 + $0)", compactionDay0 + Int64(t)) }
                    let r = try! store.append(application: "app", actions: batch)
                    accepted.add(r.accepted, ordering: .relaxed)
                    duplicates.add(r.duplicates, ordering: .relaxed)
                }
            }
            #expect(accepted.load(ordering: .relaxed) == 200)
            #expect(duplicates.load(ordering: .relaxed) == 1400)
            #expect(try storedIds(store).count == 200)
            #expect(store.stats().duplicates == 1400)
            try store.close()
        }
    }

    @Test func idsOlderThanTheWindowAreForgotten() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.dedupeWindow = .seconds(2 * 86_400)
            do {
                let store = try Store.open(at: dir, options: o)
                _ = try store.append(application: "app", actions: [act("old", compactionDay0)])
                _ = try store.append(application: "app", actions: [act("mid", compactionDay0 + 2 * dayMicros)])
                // The newest time moves 3 days on: "old" leaves the window, "mid" stays in it.
                _ = try store.append(application: "app", actions: [act("new", compactionDay0 + 3 * dayMicros)])
                #expect(store.stats().dedupeIds == 2)
                try store.flush()
                try store.close()
            }
            let store = try Store.open(at: dir, options: o)
            #expect(store.stats().dedupeIds == 2, "rebuilt from the segments inside the window only")
            let r = try store.append(application: "app", actions: [act("old"), act("mid"), act("new")])
            #expect(r.outcomes == [.accepted(droppedFields: []), .duplicate, .duplicate])
            try store.close()
        }
    }

    @Test func capBoundsMemory() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.dedupeIdsPerApplicationMax = 10
            let store = try Store.open(at: dir, options: o)
            _ = try store.append(application: "app", actions: (0..<25).map { act("c\($0)") })
            #expect(store.stats().dedupeIds == 10)
            #expect(try store.append(application: "app", actions: [act("c0")]).accepted == 1, "forgotten")
            #expect(try store.append(application: "app", actions: [act("c24")]).duplicates == 1, "remembered")
            try store.close()
        }
    }

    @Test func offWhenTheWindowIsZero() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.dedupeWindow = .zero
            let store = try Store.open(at: dir, options: o)
            #expect(try store.append(application: "app", actions: [act("A"), act("A")]).accepted == 2)
            #expect(store.stats().dedupeIds == 0)
            try store.close()
        }
    }

    @Test func rejectedActionsAreNotRemembered() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions())
            var a = act("R")
            a.metadata = [MetadataField(path: "k", value: .int(1))]
            _ = try store.append(application: "app", actions: [a])
            var bad = act("S")
            bad.metadata = [MetadataField(path: "k", value: .string("text"))]
            #expect(try store.append(application: "app", actions: [bad]).rejected == 1)
            #expect(try store.append(application: "app", actions: [act("S")]).accepted == 1)
            try store.close()
        }
    }

    @Test func tableEvictionAndRollback() {
        var t = DedupeTable()
        let inserted = [t.insert(1, time: 100), t.insert(1, time: 200), t.insert(2, time: 300), t.insert(3, time: 50)]
        #expect(inserted == [true, false, true, true])
        t.removeLast(1)
        #expect(!t.contains(3) && t.count == 2)
        t.evict(window: 150, cap: 100)
        #expect(!t.contains(1) && t.contains(2), "100 < 300 - 150")
        t.evict(window: 1000, cap: 0)
        #expect(t.count == 0)
    }
}
