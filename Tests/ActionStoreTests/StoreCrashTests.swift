import Foundation
import Testing

@testable import ActionStore

/// The built `actionstore` executable (tests run from the package's build folder).
func actionstoreExecutable() -> String? {
    var candidates: [String] = []
    let exe = URL(fileURLWithPath: CommandLine.arguments[0])
    candidates.append(exe.deletingLastPathComponent().appendingPathComponent("actionstore").path)
    candidates.append(
        exe.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("actionstore").path
    )
    candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug/actionstore")
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Suite struct StoreCrashTests {
    /// Kills a real writer process with SIGKILL at random moments while four threads append at full
    /// speed (with frequent flushes and journal rolls); after each kill the store must open with
    /// every acknowledged action exactly once, and nothing it was not asked to store.
    @Test func killNineLosesNothingAcknowledged() throws {
        guard let exe = actionstoreExecutable() else {
            Issue.record("actionstore executable not found; build it with `swift build` first")
            return
        }
        let seed = SeededRNG.testSeed("killNineLosesNothingAcknowledged")
        var rng = SeededRNG(seed: seed)
        try withStoreDirectory { dir in
            let ackLog = dir + ".acks"
            defer { try? FileManager.default.removeItem(atPath: ackLog) }
            var everAcked = Set<String>()
            for round in 0..<20 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = [
                    "_crash-writer", "--data", dir, "--ack-log", ackLog, "--threads", "4", "--prefix", "r\(round)",
                ]
                p.standardError = FileHandle.standardError
                try p.run()
                // Let it get going (opening replays the journal), then kill at a random moment.
                usleep(UInt32(150_000 + Int(rng.next() % 500_000)))
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                #expect(p.terminationReason == .uncaughtSignal, "round \(round): writer exited by itself")

                let acked = (try? String(contentsOfFile: ackLog, encoding: .utf8)) ?? ""
                for id in acked.split(separator: "\n") { everAcked.insert(String(id)) }

                let store = try Store.open(at: dir)
                var seen: [String: Int] = [:]
                var users = Set<String>()
                try store.scan(application: "crash") { a in
                    seen[a.transactionId ?? "nil", default: 0] += 1
                    if let u = a.userId { users.insert(u) }
                }
                // Recovery restores the id dictionary exactly: one code per stored user, no other.
                let codes = store.idValues(application: "crash", field: .userId)
                #expect(Set(codes) == users, "seed \(seed) round \(round): user_id codes \(codes.count)")
                #expect(codes.count == Set(codes).count, "seed \(seed) round \(round): a value with two codes")
                try store.close()
                let missing = everAcked.filter { seen[$0] == nil }
                #expect(
                    missing.isEmpty,
                    "seed \(seed) round \(round): \(missing.count) acknowledged actions lost, e.g. \(missing.prefix(5))"
                )
                let doubled = seen.filter { $0.value > 1 }
                #expect(
                    doubled.isEmpty,
                    "seed \(seed) round \(round): \(doubled.count) stored twice, e.g. \(doubled.keys.prefix(5))"
                )
                let invented = seen.keys.filter { !$0.hasPrefix("r") || $0.split(separator: "-").count != 3 }
                #expect(invented.isEmpty, "seed \(seed) round \(round): invented \(invented.prefix(5))")
                #expect(seen.count >= everAcked.count)
            }
            #expect(everAcked.count > 1000, "the writer made progress")
        }
    }
}
