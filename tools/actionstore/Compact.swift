import ActionStore
import ArgumentParser
import Foundation
import Synchronization

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the small segments of every partition now, in the foreground, and apply retention.",
        discussion: """
            Shows a progress bar on a terminal. The same work runs in the background of any open store; \
            this command runs it to completion (for tools and after bulk imports).
            """
    )
    @OptionGroup var location: StoreLocation
    @Option(help: "Largest output segment in rows.") var segmentRows = CompactionOptions().segmentRowsTarget
    @Option(help: "Largest output segment in MiB.") var segmentMiB = Int(CompactionOptions().segmentBytesTarget >> 20)
    @Option(help: "Limit compaction I/O to this many MiB/s (read plus written).") var rateMiB: Int?
    @Option(help: "Drop partitions that ended more than this many days ago (every application).") var maxAgeDays: Int?

    func run() throws {
        var options = StoreOptions()
        options.backgroundFlush = false
        options.compaction.background = false
        options.compaction.segmentRowsTarget = segmentRows
        options.compaction.segmentBytesTarget = Int64(segmentMiB) << 20
        options.compaction.bytesPerSecondMax = rateMiB.map { $0 << 20 }
        options.retentionDefault = maxAgeDays.map { .seconds($0 * 86_400) }
        let store = try Store.open(at: location.data, options: options)
        defer { try? store.close() }
        let before = store.stats()
        var progress = Progress()
        let report = try store.compact { p in
            let fraction = p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : 1
            let width = 30
            let filled = min(width, Int(fraction * Double(width)))
            let secs = max(Date().timeIntervalSince(progress.start), 0.001)
            progress.update(
                "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
                    + String(format: "%3.0f%%", fraction * 100)
                    + " \(p.segmentsDone)/\(p.segmentsTotal) segments, "
                    + String(format: "%.1f MB/s", Double(p.bytesDone) / secs / 1e6) + "  " + p.current
            )
        }
        progress.finish()
        let after = store.stats()
        print(
            "compacted \(report.segmentsIn) segments into \(report.segmentsOut) (\(report.jobs) jobs, \(report.rows) rows), "
                + "read \(report.bytesRead) bytes, wrote \(report.bytesWritten) bytes in "
                + String(format: "%.2f s", report.seconds)
        )
        if report.partitionsExpired > 0 {
            print("retention dropped \(report.partitionsExpired) partitions (\(report.segmentsExpired) segments)")
        }
        print("segments: \(before.segments) -> \(after.segments), backlog: \(after.compactionBacklog)")
    }
}

/// Test support for `CompactionCrashTests`: appends a small batch, flushes and compacts in a loop
/// (many small segments, small targets, so nearly every iteration merges), logging each
/// acknowledged transaction id to `--ack-log`, until killed.
struct CrashCompactor: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_crash-compactor", shouldDisplay: false)
    @OptionGroup var location: StoreLocation
    @Option var app = "crash"
    @Option var batch = 30
    @Option(name: .customLong("ack-log")) var ackLog: String
    @Option(help: "Prefix of the transaction ids, unique per run.") var prefix = "r0"

    func run() throws {
        var options = StoreOptions()
        options.backgroundFlush = false
        options.compaction.background = false
        options.compaction.segmentRowsTarget = 400
        options.compaction.segmentsPerPartitionMax = 3
        let store = try Store.open(at: location.data, options: options)
        let fd = open(ackLog, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot open \(ackLog)") }
        var seq = 0
        while true {
            var actions: [Action] = []
            var ids: [String] = []
            for _ in 0..<batch {
                let id = "\(prefix)-c-\(seq)"
                ids.append(id)
                actions.append(
                    Action(
                        time: 1_794_268_800_000_000 + Int64(seq % 4) * 86_400_000_000 + Int64(seq),
                        actionName: "Compaction Crash",
                        userId: "u\(seq % 31)",
                        transactionId: id,
                        metadata: [MetadataField(path: "seq", value: .int(Int64(seq)))]
                    )
                )
                seq += 1
            }
            let r = try store.append(application: app, actions: actions)
            precondition(r.accepted == batch, "not accepted: \(r.outcomes)")
            let line = ids.joined(separator: "\n") + "\n"
            _ = line.withCString { write(fd, $0, strlen($0)) }
            try store.flush()
            try store.compact()
        }
    }
}

/// Measures compaction throughput, ingest during compaction against idle, and the cost of
/// deduplication per action. Run in release: `swift run -c release actionstore _bench-compaction`.
/// Prints figures; checks only correctness (every row kept, duplicates found).
struct BenchCompaction: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_bench-compaction", shouldDisplay: false)
    @Option(help: "Rows to compact.") var rows = 1_000_000
    @Option(help: "Rows per small input segment.") var segmentRows = 20_000
    @Option(help: "Rows for the ingest and dedupe measurements.") var ingestRows = 400_000
    @Option(help: "Scratch directory (deleted afterwards).") var dir = NSTemporaryDirectory() + "actionstore-bench"

    func actions(_ first: Int, _ n: Int, prefix: String) -> [Action] {
        let names = ["Signed Up", "Clicked", "Purchased", "Viewed Page"]
        let plans = ["free", "pro", "team"]
        var out: [Action] = []
        out.reserveCapacity(n)
        for i in first..<(first + n) {
            let time: Int64 = 1_794_268_800_000_000 + Int64(i) * 50_000
            let metadata: [MetadataField] = [
                MetadataField(path: "amount", value: .int(Int64(i % 1000))),
                MetadataField(path: "plan", value: .string(plans[i % 3])),
                MetadataField(path: "score", value: .double(Double(i % 97) / 7)),
            ]
            var a = Action(time: time, actionName: names[i % 4], metadata: metadata)
            a.userId = "user-\(i % 5000)"
            a.companyId = "co-\(i % 300)"
            a.transactionId = "\(prefix)-\(i)"
            a.requestURI = "/api/v1/items/\(i % 1000)"
            a.requestVerb = i % 3 == 0 ? "POST" : "GET"
            out.append(a)
        }
        return out
    }

    func run() throws {
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = StoreOptions()
        options.backgroundFlush = false
        options.compaction.background = false
        options.compaction.segmentRowsTarget = max(rows, 1)
        options.compaction.segmentBytesTarget = 1 << 40
        options.memtableRowsMax = Int.max
        options.memtableBytesMax = Int.max
        let store = try Store.open(at: dir, options: options)
        defer { try? store.close() }

        // Many small segments in one partition.
        var written = 0
        while written < rows {
            let n = min(segmentRows, rows - written)
            _ = try store.append(application: "bench", actions: actions(written, n, prefix: "c"))
            try store.flush()
            written += n
        }
        let s0 = store.stats()
        print("input: \(s0.segments) segments, \(s0.rows) rows, \(s0.segmentBytes) bytes")

        // Ingest while idle: batches of 500, fsync per batch, one writer thread.
        @Sendable func ingest(_ app: String, while keepGoing: () -> Bool, prefix: String) throws -> (Int, Double) {
            let start = Date()
            var n = 0
            while keepGoing() {
                _ = try store.append(application: app, actions: actions(n, 500, prefix: prefix))
                n += 500
            }
            return (n, Date().timeIntervalSince(start))
        }
        let idleEnd = Date().addingTimeInterval(3)
        let (idleRows, idleSecs) = try ingest("ingest", while: { Date() < idleEnd }, prefix: "idle")

        // Compaction, with the same writer running alongside.
        let done = Atomic(false)
        let busyResult = Mutex((0, 0.0))
        let writer = Thread {
            let r = (try? ingest("ingest", while: { !done.load(ordering: .relaxed) }, prefix: "busy")) ?? (0, 0)
            busyResult.withLock { $0 = r }
        }
        writer.start()
        let report = try store.compact()
        done.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(1000) }
        let busy = busyResult.withLock { $0 }
        let s1 = store.stats()
        precondition(s1.partitions.filter { $0.application == "bench" }.reduce(0) { $0 + $1.segmentRows } == rows)
        print(
            "compaction: \(report.segmentsIn) -> \(report.segmentsOut) segments, \(report.rows) rows in "
                + String(
                    format: "%.2f s: %.1f MB/s read, %.1f MB/s written, %.0f rows/s (one core)",
                    report.seconds,
                    Double(report.bytesRead) / report.seconds / 1e6,
                    Double(report.bytesWritten) / report.seconds / 1e6,
                    Double(report.rows) / report.seconds
                )
        )
        print(
            String(
                format: "ingest idle: %.0f actions/s; during compaction: %.0f actions/s (%.0f%%)",
                Double(idleRows) / idleSecs,
                Double(busy.0) / busy.1,
                100 * (Double(busy.0) / busy.1) / (Double(idleRows) / idleSecs)
            )
        )

        // Dedupe cost: the same appends (no fsync) with and without deduplication.
        func timedAppend(dedupe: Bool) throws -> Double {
            let d = dir + (dedupe ? "-dedupe" : "-plain")
            try? FileManager.default.removeItem(atPath: d)
            defer { try? FileManager.default.removeItem(atPath: d) }
            var o = options
            o.durability = .none
            o.dedupeWindow = dedupe ? .seconds(86_400) : .zero
            let s = try Store.open(at: d, options: o)
            defer { try? s.close() }
            let batches = (0..<(ingestRows / 5000)).map { actions($0 * 5000, 5000, prefix: "d") }
            let start = Date()
            for b in batches { _ = try s.append(application: "d", actions: b) }
            let secs = Date().timeIntervalSince(start)
            let again = try s.append(application: "d", actions: batches[0])
            precondition(!dedupe || again.duplicates == 5000, "duplicates not found")
            return secs
        }
        var plain = Double.infinity
        var dedupe = Double.infinity
        for _ in 0..<5 {
            plain = min(plain, try timedAppend(dedupe: false))
            dedupe = min(dedupe, try timedAppend(dedupe: true))
        }
        let n = Double(ingestRows / 5000 * 5000)
        print(
            String(
                format: "append without dedupe %.0f ns/action, with dedupe %.0f ns/action: dedupe costs %.0f ns/action",
                plain / n * 1e9,
                dedupe / n * 1e9,
                (dedupe - plain) / n * 1e9
            )
        )
    }
}
