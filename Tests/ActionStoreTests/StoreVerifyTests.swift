import Foundation
import Testing

@testable import ActionStore

private func countAll(_ store: Store) throws -> (Int, [String]) {
    // Grouping by day reads the time column (a bare count can come from segment footers).
    let r = try store.query(application: "v", Query.parse(json: #"{"group_by":[{"time":"day"}],"metrics":["count"]}"#))
    var n = 0
    for row in r.rows { if case .int(let c) = row.metrics[0] { n += Int(c) } }
    return (n, r.stats.damagedSegments)
}

private func flipByte(_ path: String, at offset: Int) throws {
    var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[offset] ^= 0x5A
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

private func batch(day: Int, count: Int) -> [UInt8] {
    Array(
        ("["
            + (0..<count).map { i in
                #"{"action_name":"a\#(i % 3)","request":{"time":"2026-05-0\#(day)T12:00:00Z"},"metadata":{"n":\#(i)}}"#
            }.joined(separator: ",") + "]").utf8
    )
}

@Suite struct StoreVerifyTests {
    @Test func damagedSegmentIsReportedSkippedAndQuarantined() throws {
        try withStoreDirectory { dir in
            do {
                let store = try Store.open(at: dir)
                for day in 1...3 { _ = try store.append(application: "v", json: batch(day: day, count: 100 * day)) }
                try store.flush()
                try store.close()
            }
            #expect(try Store.verify(at: dir).isClean)
            // Damage the time column of the day-2 segment.
            let seg = StoreFiles(dir).filesUnderApps().first { $0.contains("2026-05-02") }!
            let path = dir + "/" + seg
            let info = try SegmentReader(path: path).columnInfo("time")!
            try flipByte(path, at: info.blocks[0].region.offset + 2)

            let report = try Store.verify(at: dir)
            #expect(report.problems.count == 1)
            #expect(report.problems.first?.contains(path) == true, "\(report.problems)")

            do {
                let store = try Store.open(at: dir)
                let (n, damaged) = try countAll(store)
                #expect(n == 100 + 300, "the other segments still answer")
                #expect(damaged.count == 1)
                #expect(damaged.first?.contains(seg) == true, "\(damaged)")
                try store.close()
            }

            let repair = try Store.repair(at: dir)
            #expect(repair.quarantinedSegments == [seg])
            #expect(FileManager.default.fileExists(atPath: dir + "/quarantine/" + seg))
            #expect(try Store.verify(at: dir).isClean)
            let store = try Store.open(at: dir)
            let (n, damaged) = try countAll(store)
            #expect(n == 400)
            #expect(damaged.isEmpty)
            try store.close()
        }
    }

    @Test func damagedJournalRecordFailsOpenThenRepairSkipsIt() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            do {
                let store = try Store.open(at: dir, options: o)
                for day in 1...3 { _ = try store.append(application: "v", json: batch(day: day, count: 10)) }
                try store.close()
            }
            let journal =
                dir + "/journal/" + (try FileManager.default.contentsOfDirectory(atPath: dir + "/journal"))
                .sorted().last!
            let size = try FileManager.default.attributesOfItem(atPath: journal)[.size] as! Int
            try flipByte(journal, at: size / 2)  // inside the middle record
            do {
                _ = try Store.open(at: dir, options: o)
                Issue.record("opened a store whose journal is damaged before its tail")
            } catch let e as ActionStoreError {
                #expect(e.code == .corruption)
                #expect(e.message.contains("journal-"), "\(e.message)")
                #expect(e.message.contains("offset"), "\(e.message)")
            }
            #expect(!(try Store.verify(at: dir).isClean))
            let repair = try Store.repair(at: dir, options: o)
            #expect(repair.skippedJournalRecords == 1)
            #expect(!repair.quarantinedJournalFiles.isEmpty)
            let store = try Store.open(at: dir, options: o)
            #expect(try countAll(store).0 == 20, "the records before and after the hole are kept")
            try store.close()
            #expect(try Store.verify(at: dir).isClean)
        }
    }
}
