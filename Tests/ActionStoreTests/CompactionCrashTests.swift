import Foundation
import Testing

@testable import ActionStore

@Suite struct CompactionCrashTests {
    /// Kills a real process with SIGKILL at random moments while it appends, flushes and compacts
    /// in a loop over many small segments (`actionstore _crash-compactor`); after each kill the
    /// store must open with every acknowledged action exactly once, and no file the manifest does
    /// not name.
    @Test func killNineDuringCompactionKeepsEveryActionOnce() throws {
        guard let exe = actionstoreExecutable() else {
            Issue.record("actionstore executable not found; build it with `swift build` first")
            return
        }
        var rng = SeededRNG("killNineDuringCompactionKeepsEveryActionOnce")
        let seed = rng.seed
        try withStoreDirectory { dir in
            let ackLog = dir + ".acks"
            defer { try? FileManager.default.removeItem(atPath: ackLog) }
            var everAcked = Set<String>()
            var options = StoreOptions()
            options.backgroundFlush = false
            options.compaction.background = false
            var roundsWithOrphans = 0
            for round in 0..<12 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = ["_crash-compactor", "--data", dir, "--ack-log", ackLog, "--prefix", "r\(round)"]
                p.standardError = FileHandle.standardError
                try p.run()
                usleep(UInt32(200_000 + Int(rng.next() % 600_000)))
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                #expect(p.terminationReason == .uncaughtSignal, "round \(round): the child exited by itself")

                let acked = (try? String(contentsOfFile: ackLog, encoding: .utf8)) ?? ""
                for id in acked.split(separator: "\n") { everAcked.insert(String(id)) }

                // Files the manifest on disk does not name: the kill hit between writing a segment
                // and swapping the manifest, or between the swap and unlinking the inputs.
                if let m = try Manifest.load(StoreFiles(dir)),
                    !segmentFilesOnDisk(dir).subtracting(m.segmentPaths).isEmpty
                {
                    roundsWithOrphans += 1
                }
                let store = try Store.open(at: dir, options: options)
                let seen = try storedIds(store, "crash")
                #expect(segmentFilesOnDisk(dir) == segmentFilesInManifest(store), "round \(round): orphans left")
                try store.close()
                let missing = everAcked.filter { seen[$0] == nil }
                #expect(
                    missing.isEmpty,
                    "seed \(seed) round \(round): \(missing.count) lost, e.g. \(missing.prefix(5))"
                )
                let doubled = seen.filter { $0.value > 1 }
                #expect(
                    doubled.isEmpty,
                    "seed \(seed) round \(round): \(doubled.count) twice, e.g. \(doubled.prefix(5))"
                )
                let invented = seen.keys.filter { !$0.hasPrefix("r") || $0.split(separator: "-").count != 3 }
                #expect(invented.isEmpty, "seed \(seed) round \(round): invented \(invented.prefix(5))")
            }
            #expect(everAcked.count > 300, "the child made progress")
            print(
                "killNineDuringCompaction: \(roundsWithOrphans) of 12 kills left unnamed files (killed mid-flush or mid-merge)"
            )
        }
    }
}
