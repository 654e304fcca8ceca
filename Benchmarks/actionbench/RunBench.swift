import ActionStore
import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The default subcommand: every phase on one generated data set, a table, and `--json`.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate N actions, then ingest, flush, measure storage, query and recover (the default)."
    )

    static let allPhases = ["ingest", "typed", "flush", "storage", "queries", "recovery"]

    @Option(help: "Number of actions.") var events = 1_000_000
    @Option(help: "Random seed of the generator.") var seed: UInt64 = 42
    @Option(help: "Working folder: actions.ndjson, the store, the recovery store.") var data = "./bench-out"
    @Option(help: "Appending threads (default: the number of cores).") var threads = ProcessInfo.processInfo
        .activeProcessorCount
    @Option(help: "Actions per append batch.") var batch = 5_000
    @Option(help: "fsyncEachBatch (the store's default), interval:MS or none.") var durability = "fsyncEachBatch"
    @Option(help: "Comma-separated phases: \(Run.allPhases.joined(separator: ",")).") var phases =
        Run.allPhases.joined(separator: ",")
    @Option(help: "Runs of each query after one warm-up run.") var repeats = 10
    @Option(name: .customLong("recovery-mib"), help: "Journal MiB the recovery child writes before SIGKILL.")
    var recoveryMiB = 256
    @Option(help: "Write every figure and each query's canonical rows to this JSON file.") var json: String?
    @Flag(help: "Check each query's answer against a brute-force evaluation (keeps all actions in memory).")
    var check = false

    func validate() throws {
        for p in phases.split(separator: ",") where !Run.allPhases.contains(String(p)) {
            throw ValidationError("unknown phase '\(p)' (expected \(Run.allPhases.joined(separator: ", ")))")
        }
        if threads < 1 || batch < 1 || events < 1 || repeats < 1 { throw ValidationError("counts must be ≥ 1") }
        _ = try parseDurability(durability)
    }

    func run() throws {
        let selected = Set(phases.split(separator: ",").map(String.init))
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var report = BenchReport(
            date: ISO8601DateFormatter().string(from: Date()),
            machine: Machine.describe(),
            config: .init(
                events: events,
                seed: seed,
                threads: threads,
                batch: batch,
                durability: durability,
                phases: Run.allPhases.filter(selected.contains),
                source: ""
            )
        )
        #if DEBUG
        report.notes.append("debug build: figures are not representative")
        #endif
        let source = try generate()
        report.config.source = URL(fileURLWithPath: source.path).standardizedFileURL.path
        report.sourceBytes = source.bytes
        let storeDir = data + "/store"
        if selected.contains("ingest") { try? FileManager.default.removeItem(atPath: storeDir) }

        if selected.contains("ingest") {
            report.ingestJSON = try ingestJSON(source: source.path, storeDir: storeDir)
            report.memory["ingest"] = Memory.read()
        }
        if selected.contains("typed") {
            report.ingestTyped = try ingestTyped(source: source.path)
            report.memory["typed"] = Memory.read()
        }
        let needStore = !selected.isDisjoint(with: ["flush", "storage", "queries"])
        if needStore {
            let store = try Store.open(at: storeDir, options: storeOptions())
            defer { try? store.close() }
            if selected.contains("flush") {
                report.flush = try flush(store)
                report.memory["flush"] = Memory.read()
            }
            if selected.contains("storage") {
                report.storage = try storage(storeDir, rows: store.stats().rows)
                report.memory["storage"] = Memory.read()
            }
            if selected.contains("queries") {
                let expected = check ? Reference.answers(try loadActions(source.path)) : [:]
                report.queries = try queries(store, expected: expected, total: store.stats().rows)
                report.memory["queries"] = Memory.read()
            }
        }
        if selected.contains("recovery") {
            report.recovery = try recovery(source: source.path)
            report.memory["recovery"] = Memory.read()
        }
        print(report.table())
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            print("wrote \(json)")
        }
        let failed = report.queries.filter { $0.check == "mismatch" }
        if !failed.isEmpty {
            throw BenchError(
                "answers differ from the brute-force reference: \(failed.map(\.name).joined(separator: ", "))"
            )
        }
        if check && report.queries.isEmpty { throw BenchError("--check needs the queries phase") }
    }

    // MARK: - Phases

    func storeOptions() throws -> StoreOptions {
        var o = StoreOptions()
        o.durability = try parseDurability(durability)
        return o
    }

    /// Writes `data/actions.ndjson` unless it already holds these events from this seed.
    func generate() throws -> (path: String, bytes: Int64) {
        let path = data + "/actions.ndjson"
        let stamp = path + ".meta"
        let want = "events \(events) seed \(seed) days 90\n"
        if (try? String(contentsOfFile: stamp, encoding: .utf8)) == want, FileManager.default.fileExists(atPath: path) {
            return (path, directoryBytesOf(path))
        }
        try? FileManager.default.removeItem(atPath: stamp)
        let progress = Progress("generate", total: events)
        var gen = ActionGenerator(seed: seed, count: events, days: 90)
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot write \(path)") }
        var buffer = ""
        buffer.reserveCapacity(1 << 22)
        var n = 0
        while let line = gen.next() {
            buffer += line
            buffer += "\n"
            n += 1
            if buffer.utf8.count >= 1 << 22 {
                handle.write(Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
                progress.advance(n)
                n = 0
            }
        }
        handle.write(Data(buffer.utf8))
        try handle.close()
        progress.advance(n)
        progress.finish()
        try want.write(toFile: stamp, atomically: true, encoding: .utf8)
        return (path, directoryBytesOf(path))
    }

    private func directoryBytesOf(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// NDJSON lines in batches through `append(application:documents:)` from `threads` threads.
    func ingestJSON(source: String, storeDir: String) throws -> IngestFigures {
        let store = try Store.open(at: storeDir, options: storeOptions())
        let reader = try NDJSONBatches(path: source, linesPerBatch: batch)
        let progress = Progress("ingest", total: events)
        let log = LatencyLog()
        let totals = Counter()
        let start = now()
        runThreads(threads) { _ in
            var latencies: [Double] = []
            var actions = 0
            var bytes = 0
            var batches = 0
            while let b = reader.next() {
                let t0 = now()
                let r = try! store.append(application: "bench", documents: b.lines)
                latencies.append(now() - t0)
                actions += r.accepted
                bytes += b.bytes
                batches += 1
                progress.advance(b.lines.count)
            }
            log.add(latencies)
            totals.add(actions: actions, batches: batches, bytes: bytes)
        }
        let stats = store.stats()
        // close() waits for a background flush still running: that work is part of the load.
        try store.close()
        let seconds = now() - start
        progress.finish()
        let (actions, _, bytes) = totals.totals
        return IngestFigures(
            path: "json",
            actions: actions,
            rejected: events - actions,
            inputBytes: bytes,
            seconds: seconds,
            latencies: log.all,
            fsyncs: Int(stats.journal.fsyncs)
        )
    }

    /// Pre-built `[Action]` (normalized before timing, a chunk at a time to bound memory) through
    /// `append(application:actions:)`. Only the appends are timed. The store is deleted afterwards.
    func ingestTyped(source: String) throws -> IngestFigures {
        let dir = data + "/typed"
        try? FileManager.default.removeItem(atPath: dir)
        let store = try Store.open(at: dir, options: storeOptions())
        let reader = try NDJSONBatches(path: source, linesPerBatch: batch)
        let normalizer = ActionNormalizer()
        let progress = Progress("typed", total: events)
        let log = LatencyLog()
        let totals = Counter()
        var seconds = 0.0
        let chunkBatches = max(1, 100_000 / batch)
        while true {
            var raw: [(lines: [ArraySlice<UInt8>], bytes: Int)] = []
            while raw.count < chunkBatches, let b = reader.next() { raw.append(b) }
            if raw.isEmpty { break }
            let built = BatchQueue(
                raw.map { b in
                    (
                        b.lines.compactMap { l in
                            try? l.withUnsafeBufferPointer { normalizer.normalize($0, receivedAt: 0) }.get().action
                        }, b.bytes
                    )
                }
            )
            raw = []
            let start = now()
            runThreads(threads) { _ in
                var latencies: [Double] = []
                var actions = 0
                var bytes = 0
                var batches = 0
                while let b = built.next() {
                    let t0 = now()
                    let r = try! store.append(application: "bench", actions: b.actions)
                    latencies.append(now() - t0)
                    actions += r.accepted
                    bytes += b.bytes
                    batches += 1
                    progress.advance(b.actions.count)
                }
                log.add(latencies)
                totals.add(actions: actions, batches: batches, bytes: bytes)
            }
            seconds += now() - start
        }
        progress.finish()
        let stats = store.stats()
        try store.close()
        try? FileManager.default.removeItem(atPath: dir)
        let (actions, _, bytes) = totals.totals
        return IngestFigures(
            path: "typed",
            actions: actions,
            rejected: events - actions,
            inputBytes: bytes,
            seconds: seconds,
            latencies: log.all,
            fsyncs: Int(stats.journal.fsyncs)
        )
    }

    /// Writes what is still in memtables to segments.
    func flush(_ store: Store) throws -> FlushFigures {
        let before = store.stats()
        let rows = before.partitions.reduce(0) { $0 + $1.memtableRows }
        let start = now()
        try store.flush()
        let seconds = now() - start
        let c0 = now()
        let report = try store.compact()
        let compactSeconds = now() - c0
        let compaction =
            report.jobs == 0
            ? nil
            : CompactionFigures(
                seconds: compactSeconds,
                segmentsIn: report.segmentsIn,
                segmentsOut: report.segmentsOut,
                rows: report.rows,
                bytesRead: report.bytesRead,
                bytesWritten: report.bytesWritten,
                mbPerSecond: Double(report.bytesRead) / 1e6 / max(compactSeconds, 1e-9)
            )
        let after = store.stats()
        return FlushFigures(
            rows: rows,
            seconds: seconds,
            segmentBytesWritten: after.segmentBytes - before.segmentBytes,
            segmentsAfter: after.segments,
            compaction: compaction
        )
    }

    /// Bytes per action on disk, split by column and by data, dictionary and index.
    func storage(_ storeDir: String, rows: Int) throws -> StorageFigures {
        var columns: [String: StorageFigures.Column] = [:]
        var segmentBytes = 0
        var segments = 0
        var segmentRows = 0
        let apps = storeDir + "/apps"
        let e = FileManager.default.enumerator(atPath: apps)
        while let rel = e?.nextObject() as? String {
            guard rel.hasSuffix(".seg") else { continue }
            let reader = try SegmentReader(path: apps + "/" + rel)
            segments += 1
            segmentBytes += reader.fileBytes
            segmentRows += reader.rowCount
            for c in reader.columns {
                var col = columns[c.name, default: .init(name: c.name)]
                col.dataBytes += c.blocks.reduce(0) { $0 + $1.region.storedSize }
                col.dictionaryBytes += c.dictionary?.storedSize ?? 0
                col.indexBytes += c.index?.storedSize ?? 0
                col.rawBytes += c.rawBytes
                columns[c.name] = col
            }
        }
        let sorted = columns.values.sorted { $0.storedBytes > $1.storedBytes }
        return StorageFigures(
            rows: rows,
            segmentRows: segmentRows,
            segments: segments,
            segmentBytes: segmentBytes,
            directoryBytes: directoryBytes(storeDir),
            columns: sorted
        )
    }

    /// The suite, each query once to warm up then `repeats` times.
    func queries(_ store: Store, expected: [String: CanonicalResult], total: Int) throws -> [QueryFigures] {
        let progress = Progress("queries", total: QuerySuite.entries.count * (repeats + 1), unit: "runs")
        var out: [QueryFigures] = []
        for entry in QuerySuite.entries {
            let q = try Query.parse(json: entry.json)
            var result = try store.query(application: "bench", q)
            progress.advance(1)
            var times: [Double] = []
            for _ in 0..<repeats {
                let t0 = now()
                result = try store.query(application: "bench", q)
                times.append(now() - t0)
                progress.advance(1)
            }
            let canonical = CanonicalResult(result)
            var verdict = "unchecked"
            var detail: String?
            if let want = expected[entry.name] {
                detail = canonical.difference(from: want)
                verdict = detail == nil ? "ok" : "mismatch"
            }
            let median = quantile(times, 0.5)
            out.append(
                QueryFigures(
                    name: entry.name,
                    what: entry.what,
                    query: entry.json.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                        .joined(separator: " "),
                    medianMs: median * 1000,
                    p99Ms: quantile(times, 0.99) * 1000,
                    runs: repeats,
                    rowsScanned: result.stats.rowsScanned,
                    rowsPerSecondPerCore: Double(result.stats.rowsScanned) / median
                        / Double(ProcessInfo.processInfo.activeProcessorCount),
                    checksum: canonical.checksum,
                    check: verdict,
                    checkDetail: detail,
                    columns: canonical.columns,
                    rows: canonical.rows
                )
            )
        }
        progress.finish()
        // Cross-checks that need no oracle: every action is in exactly one day and one week.
        if let full = out.first(where: { $0.name == "full_scan" }),
            let weekly = out.first(where: {
                $0.name == "weekly_unique_users"
            })
        {
            let weeklyTotal = weekly.rows.reduce(0.0) { $0 + ($1[1].number ?? 0) }
            if full.rows.first?.first?.number != Double(total) || weeklyTotal != Double(total) {
                throw BenchError(
                    "count mismatch: store rows \(total), full scan \(full.rows), weeks sum \(weeklyTotal)"
                )
            }
        }
        return out
    }

    /// All generated actions, normalized (for `--check`).
    func loadActions(_ source: String) throws -> [Action] {
        let reader = try NDJSONBatches(path: source, linesPerBatch: 10_000)
        let normalizer = ActionNormalizer()
        var out: [Action] = []
        while let b = reader.next() {
            for l in b.lines {
                out.append(try l.withUnsafeBufferPointer { normalizer.normalize($0, receivedAt: 0) }.get().action)
            }
        }
        return out
    }

    /// A child process appends until its journal holds `recoveryMiB` (or the file ends), says
    /// "ready", and is SIGKILLed; then the parent times `Store.open`, which replays the journal.
    func recovery(source: String) throws -> RecoveryFigures {
        let dir = data + "/recovery"
        try? FileManager.default.removeItem(atPath: dir)
        let child = Process()
        child.executableURL = URL(
            fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        )
        child.arguments = [
            "recovery-child", "--data", dir, "--source", source, "--journal-mib", String(recoveryMiB),
            "--batch", String(batch), "--durability", durability,
        ]
        let pipe = Pipe()
        let stdin = Pipe()
        child.standardOutput = pipe
        child.standardInput = stdin
        try child.run()
        var line = Data()
        while !line.contains(0x0A) {
            let d = pipe.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        try stdin.fileHandleForWriting.close()
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count == 3, words[0] == "ready", let rows = Int(words[1]), let journalBytes = Int64(words[2]) else {
            throw BenchError("recovery child failed: '\(String(decoding: line, as: UTF8.self))'")
        }
        let start = now()
        let store = try Store.open(at: dir, options: storeOptions())
        let seconds = now() - start
        let recovered = store.stats().rows
        try store.close()
        try? FileManager.default.removeItem(atPath: dir)
        if recovered != rows {
            throw BenchError("recovery: child acknowledged \(rows) actions, reopened store has \(recovered)")
        }
        return RecoveryFigures(rows: rows, journalBytes: journalBytes, seconds: seconds)
    }
}

/// Hidden: the process `Run.recovery` kills.
struct RecoveryChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery-child",
        abstract: "Append until the journal holds N MiB, print 'ready ROWS BYTES', wait to be killed.",
        shouldDisplay: false
    )
    @Option var data: String
    @Option var source: String
    @Option(name: .customLong("journal-mib")) var journalMiB: Int
    @Option var batch: Int
    @Option var durability: String

    func run() throws {
        var options = StoreOptions()
        options.durability = try parseDurability(durability)
        options.backgroundFlush = false
        options.memtableRowsMax = Int.max
        options.memtableBytesMax = Int.max
        options.memtableAgeMax = .seconds(86_400)
        let store = try Store.open(at: data, options: options)
        let reader = try NDJSONBatches(path: source, linesPerBatch: batch)
        var rows = 0
        while store.stats().journalBytes < Int64(journalMiB) << 20, let b = reader.next() {
            rows += try store.append(application: "bench", documents: b.lines).accepted
        }
        print("ready \(rows) \(store.stats().journalBytes)")
        fflush(nil)
        // Wait for SIGKILL. Should the parent die first, its end of our stdin closes: leave then,
        // so that no child outlives the benchmark.
        while readLine() != nil {}
        Glibc.exit(1)
    }
}

/// A queue of pre-built typed batches shared by appending threads.
final class BatchQueue: @unchecked Sendable {
    // Safe because every access to `items` takes `lock`.
    private let lock = NSLock()
    private var items: [(actions: [Action], bytes: Int)]

    init(_ items: [(actions: [Action], bytes: Int)]) { self.items = items.reversed() }

    func next() -> (actions: [Action], bytes: Int)? { lock.withLock { items.popLast() } }
}
