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
            #expect(store.stats().dedupeIds == 1, "memory holds the journal's ids; the segments' are in their filters")
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

    @Test func theWindowIsAroundEachActionsOwnTimeWhateverTheAgeOfTheData() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.dedupeWindow = .seconds(2 * 86_400)
            let hour: Int64 = 3_600_000_000
            do {
                let store = try Store.open(at: dir, options: o)
                _ = try store.append(application: "app", actions: [act("old", compactionDay0)])
                _ = try store.append(application: "app", actions: [act("new", compactionDay0 + 30 * dayMicros)])
                try store.flush()
                try store.close()
            }
            let store = try Store.open(at: dir, options: o)
            #expect(store.stats().dedupeIds == 0)
            // A re-import (same time) and a retry with a later receive time: duplicates, though a
            // month of newer data came since.
            let r = try store.append(
                application: "app",
                actions: [
                    act("old"), act("old", compactionDay0 + 5 * hour), act("new", compactionDay0 + 30 * dayMicros),
                ]
            )
            #expect(r.outcomes == [.duplicate, .duplicate, .duplicate])
            // The same id three days from the stored one is another action.
            let later = try store.append(application: "app", actions: [act("old", compactionDay0 + 3 * dayMicros)])
            #expect(later.accepted == 1)
            // ... and from then on it is known at its own time too, in memory and after a flush.
            #expect(
                try store.append(application: "app", actions: [act("old", compactionDay0 + 3 * dayMicros + hour)])
                    .duplicates == 1
            )
            try store.flush()
            #expect(store.stats().dedupeIds == 0, "a flush hands the ids to the segment's filter")
            #expect(
                try store.append(application: "app", actions: [act("old", compactionDay0 + 3 * dayMicros)]).duplicates
                    == 1
            )
            #expect(try storedIds(store) == ["old": 2, "new": 1])
            try store.close()
        }
    }

    @Test func reimportOfNinetyDaysStoresNothingTwice() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir, options: compactionTestOptions())
            let actions = (0..<900).map { act("t\($0)", compactionDay0 + Int64($0 / 10) * dayMicros + Int64($0)) }
            #expect(try store.append(application: "app", actions: actions).accepted == 900)
            try store.flush()
            try store.compact()
            let again = try store.append(application: "app", actions: actions)
            #expect(again.duplicates == 900)
            #expect(try storedIds(store).count == 900)
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

    @Test func recentIdsInsertRemoveAndWindow() {
        var t = RecentTransactionIds()
        t.insert(1, time: 100)
        t.insert(1, time: 10_000)
        t.insert(2, time: 300)
        #expect(t.count == 3)
        #expect(t.contains(1, near: 150, window: 60) && t.contains(1, near: 9_990, window: 60))
        #expect(!t.contains(1, near: 5_000, window: 60))
        t.remove(1, time: 100)
        #expect(!t.contains(1, near: 100, window: 0) && t.contains(1, near: 10_000, window: 0))
        t.remove(1, time: 10_000)
        t.remove(3, time: 1)
        #expect(t.count == 1 && !t.contains(1, near: 10_000, window: 1_000_000))
        #expect(!near(Int64.max, Int64.min, 5), "an overflowing difference is far")
    }

    @Test func recentIdsAgreeWithAModelUnderRandomInsertsAndRemovals() {
        var rng = SeededRNG("recent-ids")
        var t = RecentTransactionIds()
        var model: [(UInt64, Int64)] = []
        for step in 0..<20_000 {
            // Few distinct hashes (many sharing a home slot; none 0, which is stored as 1), times far apart.
            let h = UInt64(rng.next() % 300) << 7 | (1 + rng.next() % 3)
            let time = Int64(rng.next() % 4) * 1_000
            if rng.next() % 3 == 0, !model.isEmpty {
                let (rh, rt) = model.remove(at: Int(rng.next() % UInt64(model.count)))
                t.remove(rh, time: rt)
            } else {
                t.insert(h, time: time)
                model.append((h, time))
            }
            let probe = UInt64(rng.next() % 300) << 7 | (1 + rng.next() % 3)
            let pt = Int64(rng.next() % 4) * 1_000
            let want = model.contains { $0.0 == probe && $0.1 == pt }
            #expect(t.contains(probe, near: pt, window: 0) == want, "seed \(rng.seed) step \(step)")
            if t.contains(probe, near: pt, window: 0) != want { return }
        }
        #expect(t.count == model.count)
    }
}
