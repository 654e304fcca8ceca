import Foundation
import Testing

@testable import ActionStore

@Suite struct RetentionTests {
    /// Actions on `days` consecutive days ending `daysAgo` days before now.
    func actions(daysAgo: Int, days: Int, prefix: String) -> [Action] {
        let now = Timestamp.now()
        return (0..<days).flatMap { d in
            (0..<5).map { i in
                Action(
                    time: now - Int64(daysAgo + d) * dayMicros,
                    actionName: "x",
                    transactionId: "\(prefix)-\(d)-\(i)"
                )
            }
        }
    }

    @Test func expiredPartitionsAreDroppedAndTheirFilesDeleted() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.retention = ["short": .seconds(30 * 86_400)]
            let store = try Store.open(at: dir, options: o)
            // 40..44 days ago: expired for "short"; 0..4 days ago: kept. "forever" keeps everything.
            for app in ["short", "forever"] {
                _ = try store.append(application: app, actions: actions(daysAgo: 40, days: 5, prefix: "old"))
                _ = try store.append(application: app, actions: actions(daysAgo: 0, days: 5, prefix: "new"))
            }
            try store.flush()
            let partitionsBefore = store.stats().partitions.count { $0.application == "short" }
            #expect(partitionsBefore >= 10)
            let report = try store.compact()
            #expect(report.partitionsExpired >= 5)
            let short = try storedIds(store, "short")
            #expect(short.keys.allSatisfy { $0.hasPrefix("new-") })
            #expect(short.count == 25)
            #expect(try storedIds(store, "forever").count == 50)
            #expect(store.stats().partitionsExpired == report.partitionsExpired)
            #expect(segmentFilesOnDisk(dir) == segmentFilesInManifest(store), "expired files deleted")
            let oldKey = Partitioning.day.key(Timestamp.now() - 44 * dayMicros)
            #expect(!FileManager.default.fileExists(atPath: dir + "/apps/short/" + oldKey))
            try store.close()
            let again = try Store.open(at: dir, options: o)
            #expect(try storedIds(again, "short").count == 25)
            try again.close()
        }
    }

    @Test func defaultRetentionAppliesToUnlistedApplications() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.retentionDefault = .seconds(10 * 86_400)
            o.retention = ["long": .seconds(100 * 86_400)]
            let store = try Store.open(at: dir, options: o)
            for app in ["long", "other"] {
                _ = try store.append(application: app, actions: actions(daysAgo: 20, days: 1, prefix: "old"))
                _ = try store.append(application: app, actions: actions(daysAgo: 0, days: 1, prefix: "new"))
            }
            try store.flush()
            try store.compact()
            #expect(try storedIds(store, "long").count == 10)
            #expect(try storedIds(store, "other").count == 5)
            try store.close()
        }
    }

    @Test func backgroundCycleAppliesRetention() throws {
        try withStoreDirectory { dir in
            var o = compactionTestOptions()
            o.retentionDefault = .seconds(86_400)
            let store = try Store.open(at: dir, options: o)
            _ = try store.append(application: "a", actions: actions(daysAgo: 3, days: 2, prefix: "old"))
            try store.flush()
            store._testingCompactNow()
            #expect(try storedIds(store, "a").isEmpty)
            #expect(store.stats().segments == 0)
            try store.close()
        }
    }
}
