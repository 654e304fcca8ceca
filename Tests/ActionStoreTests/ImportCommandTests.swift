import Foundation
import Testing

@testable import ActionStore

/// `actionstore import`, run as a process.
@Suite struct ImportCommandTests {
    private func run(_ exe: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Issue 13 item 7: an import ends with a flush, so nothing is left for later commands to replay.
    @Test func importEndsWithAFlushAndReportsBadLines() throws {
        guard let exe = actionstoreExecutable() else {
            Issue.record("actionstore executable not found; build it with `swift build` first")
            return
        }
        try withStoreDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var lines = (0..<300).map { i in
                #"{"action_name":"Signed In","user_id":"u\#(i % 9)","request":{"time":"2026-09-0\#(1 + i % 3)T10:00:00Z"}}"#
            }
            lines.insert(#"{"user_id":"no name"}"#, at: 7)
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.ndjson"))
            let r = try run(exe, ["import", "--data", dir + "/store", "--app", "prod", dir + "/in.ndjson"])
            #expect(r.status == 1, "a rejected line makes the exit status 1")
            #expect(r.out.contains("accepted 300, rejected 1"), "\(r.out)")
            #expect(r.err.contains("line 8:") && r.err.contains("action_name"), "\(r.err)")
            let store = try Store.open(at: dir + "/store")
            defer { try? store.close() }
            let stats = store.stats()
            #expect(stats.partitions.map(\.segmentRows).reduce(0, +) == 300)
            #expect(stats.partitions.map(\.memtableRows).reduce(0, +) == 0, "nothing replayed from the journal")
            #expect(stats.segments == 3)

            let again = try run(
                exe,
                ["import", "--data", dir + "/store2", "--app", "prod", "--no-flush", dir + "/in.ndjson"]
            )
            #expect(again.status == 1)
            let kept = try Store.open(at: dir + "/store2")
            defer { try? kept.close() }
            #expect(kept.stats().partitions.map(\.memtableRows).reduce(0, +) == 300, "--no-flush leaves the journal")
        }
    }
}
