import ActionStore
import ArgumentParser
import Foundation

/// Appends per second under a durability policy, for a matrix of writer counts and batch sizes.
struct AppendMatrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append-matrix",
        abstract: "Appends/s and fsyncs/s for writers × batch sizes (each cell in a fresh store)."
    )
    @Option(help: "Store folder (each cell uses a fresh subfolder, removed after).") var data = "./bench-out/append"
    @Option(help: "Writer threads, comma-separated.") var writers = "1,4,16"
    @Option(help: "Actions per batch, comma-separated.") var batches = "1,100,1000"
    @Option(help: "Seconds per cell.") var seconds = 3.0
    @Option(help: "fsyncEachBatch (default), interval:MS or none.") var durability = "fsyncEachBatch"

    func run() throws {
        let lines = sampleLines(count: 20_000)
        print("durability \(durability), \(seconds) s per cell, \(lines.count) distinct generated actions")
        print("writers  batch   actions/s   batches/s   fsyncs/s   MB/s")
        for w in writers.split(separator: ",").compactMap({ Int($0) }) {
            for b in batches.split(separator: ",").compactMap({ Int($0) }) {
                let dir = data + "/cell-\(w)-\(b)"
                try? FileManager.default.removeItem(atPath: dir)
                var options = StoreOptions()
                options.durability = try parseDurability(durability)
                options.memtableRowsMax = 2_000_000
                let store = try Store.open(at: dir, options: options)
                let deadline = Date().addingTimeInterval(seconds)
                let counts = Counter()
                // Real threads, not concurrentPerform: Dispatch runs only one worker per core, and
                // writers blocked on fsync would never overlap.
                runThreads(w) { t in
                    var i = t * 997
                    var actions = 0
                    var bytes = 0
                    var batchesDone = 0
                    while Date() < deadline {
                        var docs: [ArraySlice<UInt8>] = []
                        docs.reserveCapacity(b)
                        for _ in 0..<b {
                            docs.append(lines[i % lines.count][...])
                            bytes += lines[i % lines.count].count
                            i += 1
                        }
                        let r = try! store.append(application: "bench", documents: docs)
                        actions += r.accepted
                        batchesDone += 1
                    }
                    counts.add(actions: actions, batches: batchesDone, bytes: bytes)
                }
                let fsyncs = store.stats().journal.fsyncs
                try store.close()
                try? FileManager.default.removeItem(atPath: dir)
                let (a, n, by) = counts.totals
                print(
                    String(
                        format: "%7d %6d %11.0f %11.0f %10.0f %6.1f",
                        w,
                        b,
                        Double(a) / seconds,
                        Double(n) / seconds,
                        Double(fsyncs) / seconds,
                        Double(by) / seconds / 1e6
                    )
                )
            }
        }
    }
}

/// Time to reopen a store whose journal holds `--journal-mib` MiB of actions (no segments).
struct Recovery: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill a journal with N MiB of actions, close without flushing, time the reopen (replay)."
    )
    @Option(help: "Store folder (removed after).") var data = "./bench-out/recovery"
    @Option(name: .customLong("journal-mib"), help: "Journal size to replay.") var journalMiB = 256

    func run() throws {
        try? FileManager.default.removeItem(atPath: data)
        var options = StoreOptions()
        options.durability = .none
        options.backgroundFlush = false
        options.memtableRowsMax = Int.max
        options.memtableBytesMax = Int.max
        let lines = sampleLines(count: 20_000)
        var rows = 0
        do {
            let store = try Store.open(at: data, options: options)
            var i = 0
            while store.stats().journalBytes < Int64(journalMiB) << 20 {
                let docs = (0..<2000).map { k in lines[(i + k) % lines.count][...] }
                rows += try store.append(application: "bench", documents: docs).accepted
                i += 2000
            }
            try store.close()
        }
        let t0 = Date()
        let store = try Store.open(at: data, options: options)
        let elapsed = Date().timeIntervalSince(t0)
        let s = store.stats()
        try store.close()
        try? FileManager.default.removeItem(atPath: data)
        print(
            String(
                format: "replayed %d actions, %.1f MiB of journal in %.3f s (%.0f MiB/s); rows now in memory: %d",
                rows,
                Double(s.journalBytes) / 1_048_576,
                elapsed,
                Double(s.journalBytes) / 1_048_576 / elapsed,
                s.rows
            )
        )
    }
}

final class Counter: @unchecked Sendable {
    // Safe because every access takes `lock`.
    private let lock = NSLock()
    private var actions = 0
    private var batches = 0
    private var bytes = 0
    func add(actions a: Int, batches b: Int, bytes by: Int) {
        lock.lock()
        actions += a
        batches += b
        bytes += by
        lock.unlock()
    }
    var totals: (Int, Int, Int) {
        lock.lock()
        defer { lock.unlock() }
        return (actions, batches, bytes)
    }
}

func sampleLines(count: Int, seed: UInt64 = 7) -> [[UInt8]] {
    var gen = ActionGenerator(seed: seed, count: count)
    var out: [[UInt8]] = []
    while let l = gen.next() { out.append(Array(l.utf8)) }
    return out
}

func parseDurability(_ s: String) throws -> JournalWriter.DurabilityPolicy {
    if s == "fsyncEachBatch" { return .fsyncEachBatch }
    if s == "none" { return .none }
    if s.hasPrefix("interval:"), let ms = Int(s.dropFirst(9)) { return .fsyncInterval(milliseconds: ms) }
    throw ValidationError("durability must be fsyncEachBatch, interval:MS or none")
}

/// Runs `body(0..<n)` on n dedicated threads and waits for all of them.
func runThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for t in 0..<n {
        group.enter()
        let thread = Thread {
            body(t)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}
