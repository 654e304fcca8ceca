import Foundation

/// Everything one `actionbench run` measured; `--json` writes it with snake_case keys.
struct BenchReport: Encodable {
    struct Config: Encodable {
        var events: Int
        var seed: UInt64
        var threads: Int
        var batch: Int
        var durability: String
        var phases: [String]
        /// The NDJSON file the store loaded; peers.py loads the same file.
        var source: String
    }

    var date: String
    var machine: Machine
    var config: Config
    var sourceBytes: Int64 = 0
    var notes: [String] = []
    var ingestJSON: IngestFigures?
    var ingestTyped: IngestFigures?
    var flush: FlushFigures?
    var storage: StorageFigures?
    var queries: [QueryFigures] = []
    var recovery: RecoveryFigures?
    /// Running peak and current resident set after each phase.
    var memory: [String: Memory] = [:]

    init(date: String, machine: Machine, config: Config) {
        self.date = date
        self.machine = machine
        self.config = config
    }
}

struct IngestFigures: Encodable {
    var path: String
    var actions: Int
    var rejected: Int
    /// NDJSON bytes of the actions (for the typed path: of the lines they were built from).
    var inputBytes: Int
    var seconds: Double
    var actionsPerSecond: Double
    var mbPerSecond: Double
    var batchP50Ms: Double
    var batchP99Ms: Double
    var fsyncs: Int
    var fsyncsPerSecond: Double

    init(
        path: String,
        actions: Int,
        rejected: Int,
        inputBytes: Int,
        seconds: Double,
        latencies: [Double],
        fsyncs: Int
    ) {
        self.path = path
        self.actions = actions
        self.rejected = rejected
        self.inputBytes = inputBytes
        self.seconds = seconds
        actionsPerSecond = Double(actions) / seconds
        mbPerSecond = Double(inputBytes) / 1e6 / seconds
        batchP50Ms = quantile(latencies, 0.5) * 1000
        batchP99Ms = quantile(latencies, 0.99) * 1000
        self.fsyncs = fsyncs
        fsyncsPerSecond = Double(fsyncs) / seconds
    }
}

struct FlushFigures: Encodable {
    var rows: Int
    var seconds: Double
    var segmentBytesWritten: Int64
    var segmentsAfter: Int
    /// `Store.compact()` run to completion right after the flush.
    var compaction: CompactionFigures?
    var mbPerSecond: Double { Double(segmentBytesWritten) / 1e6 / max(seconds, 1e-9) }

    private enum CodingKeys: String, CodingKey {
        case rows, seconds, segmentBytesWritten, segmentsAfter, compaction, mbPerSecond
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rows, forKey: .rows)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(segmentBytesWritten, forKey: .segmentBytesWritten)
        try c.encode(segmentsAfter, forKey: .segmentsAfter)
        try c.encode(compaction, forKey: .compaction)
        try c.encode(mbPerSecond, forKey: .mbPerSecond)
    }
}

struct CompactionFigures: Encodable {
    var seconds: Double
    var segmentsIn: Int
    var segmentsOut: Int
    var rows: Int
    var bytesRead: Int64
    var bytesWritten: Int64
    /// Segment bytes read per second (one core: compaction is one job at a time).
    var mbPerSecond: Double
}

struct StorageFigures: Encodable {
    struct Column: Encodable {
        var name: String
        var dataBytes = 0
        var dictionaryBytes = 0
        var indexBytes = 0
        var rawBytes = 0
        var storedBytes: Int { dataBytes + dictionaryBytes + indexBytes }

        init(name: String) { self.name = name }
    }

    var rows: Int
    var segmentRows: Int
    var segments: Int
    var segmentBytes: Int
    /// Everything under the store folder: segments, manifest, journal.
    var directoryBytes: Int64
    var columns: [Column]

    var bytesPerAction: Double { Double(directoryBytes) / Double(max(rows, 1)) }
    var segmentBytesPerAction: Double { Double(segmentBytes) / Double(max(segmentRows, 1)) }
    var dataBytes: Int { columns.reduce(0) { $0 + $1.dataBytes } }
    var dictionaryBytes: Int { columns.reduce(0) { $0 + $1.dictionaryBytes } }
    var indexBytes: Int { columns.reduce(0) { $0 + $1.indexBytes } }

    private enum CodingKeys: String, CodingKey {
        case rows, segmentRows, segments, segmentBytes, directoryBytes, columns, bytesPerAction
        case segmentBytesPerAction, dataBytes, dictionaryBytes, indexBytes
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rows, forKey: .rows)
        try c.encode(segmentRows, forKey: .segmentRows)
        try c.encode(segments, forKey: .segments)
        try c.encode(segmentBytes, forKey: .segmentBytes)
        try c.encode(directoryBytes, forKey: .directoryBytes)
        try c.encode(columns, forKey: .columns)
        try c.encode(bytesPerAction, forKey: .bytesPerAction)
        try c.encode(segmentBytesPerAction, forKey: .segmentBytesPerAction)
        try c.encode(dataBytes, forKey: .dataBytes)
        try c.encode(dictionaryBytes, forKey: .dictionaryBytes)
        try c.encode(indexBytes, forKey: .indexBytes)
    }
}

struct QueryFigures: Encodable {
    var name: String
    var what: String
    var query: String
    var medianMs: Double
    var p99Ms: Double
    var runs: Int
    var rowsScanned: Int
    var rowsPerSecondPerCore: Double
    var checksum: String
    /// "ok" or "mismatch" against the brute-force reference (`--check`), else "unchecked".
    var check: String
    var checkDetail: String?
    var columns: [String]
    var rows: [[Cell]]
}

struct RecoveryFigures: Encodable {
    var rows: Int
    var journalBytes: Int64
    var seconds: Double
    /// The target is ≤ 1 s per 256 MiB of journal.
    var secondsPer256MiB: Double { seconds / (Double(journalBytes) / Double(256 << 20)) }

    private enum CodingKeys: String, CodingKey {
        case rows, journalBytes, seconds
        case secondsPer256MiB = "seconds_per_256_mib"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rows, forKey: .rows)
        try c.encode(journalBytes, forKey: .journalBytes)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(secondsPer256MiB, forKey: .secondsPer256MiB)
    }
}

extension BenchReport {
    /// The human summary printed at the end.
    func table() -> String {
        var out = "\n"
        func line(_ s: String) { out += s + "\n" }
        func mib(_ b: some BinaryInteger) -> String { String(format: "%.1f MiB", Double(b) / 1_048_576) }
        line(
            "actionbench: \(config.events) actions (seed \(config.seed), \(mib(sourceBytes)) NDJSON), "
                + "\(config.threads) threads, batch \(config.batch), durability \(config.durability)"
        )
        line("machine: \(machine.cores) cores, \(mib(machine.memoryBytes)), \(machine.cpuModel); \(date)")
        for n in notes { line("note: \(n)") }
        for i in [ingestJSON, ingestTyped].compactMap({ $0 }) {
            line("")
            line(
                String(
                    format:
                        "ingest %@ %10.0f actions/s %7.1f MB/s  batch p50 %.1f ms p99 %.1f ms  %.0f fsyncs/s  (%d in %.2f s, %d rejected)",
                    pad(i.path, 5) as NSString,
                    i.actionsPerSecond,
                    i.mbPerSecond,
                    i.batchP50Ms,
                    i.batchP99Ms,
                    i.fsyncsPerSecond,
                    i.actions,
                    i.seconds,
                    i.rejected
                )
            )
        }
        if let f = flush {
            line(
                String(
                    format:
                        "flush        %d rows in %.2f s, %@ written, %.1f MB/s; %d segments; compaction: %@",
                    f.rows,
                    f.seconds,
                    mib(f.segmentBytesWritten) as NSString,
                    f.mbPerSecond,
                    f.segmentsAfter,
                    (f.compaction.map {
                        String(
                            format: "%d → %d segments in %.2f s, %.1f MB/s read",
                            $0.segmentsIn,
                            $0.segmentsOut,
                            $0.seconds,
                            $0.mbPerSecond
                        )
                    } ?? "nothing to merge") as NSString
                )
            )
        }
        if let s = storage {
            line("")
            line(
                String(
                    format:
                        "storage      %.1f bytes/action (folder), %.1f in %d segments: data %.1f, dictionaries %.1f, indexes %.1f",
                    s.bytesPerAction,
                    s.segmentBytesPerAction,
                    s.segments,
                    Double(s.dataBytes) / Double(max(s.rows, 1)),
                    Double(s.dictionaryBytes) / Double(max(s.rows, 1)),
                    Double(s.indexBytes) / Double(max(s.rows, 1))
                )
            )
            line("  column                              data    dict   index  (bytes/action)")
            for c in s.columns.prefix(30) {
                let r = Double(max(s.rows, 1))
                line(
                    String(
                        format: "  %@ %7.2f %7.2f %7.2f",
                        pad(c.name, 32) as NSString,
                        Double(c.dataBytes) / r,
                        Double(c.dictionaryBytes) / r,
                        Double(c.indexBytes) / r
                    )
                )
            }
        }
        if !queries.isEmpty {
            line("")
            line("  query                       median ms   p99 ms   Mrows/s/core  rows  checksum          check")
            for q in queries {
                line(
                    String(
                        format: "  %@ %10.2f %8.2f %12.1f %5d  %@  %@",
                        pad(q.name, 26) as NSString,
                        q.medianMs,
                        q.p99Ms,
                        q.rowsPerSecondPerCore / 1e6,
                        q.rows.count,
                        q.checksum as NSString,
                        q.check as NSString
                    )
                )
                if let d = q.checkDetail { line("    \(d)") }
            }
        }
        if let r = recovery {
            line("")
            line(
                String(
                    format: "recovery     %d actions, %@ journal replayed in %.3f s = %.2f s per 256 MiB (target ≤ 1)",
                    r.rows,
                    mib(r.journalBytes) as NSString,
                    r.seconds,
                    r.secondsPer256MiB
                )
            )
        }
        line("")
        for p in config.phases {
            if let m = memory[p] {
                line(
                    String(
                        format: "memory after %@ peak %@, now %@, after malloc_trim %@",
                        pad(p, 9) as NSString,
                        mib(m.peakBytes) as NSString,
                        mib(m.currentBytes) as NSString,
                        mib(m.afterTrimBytes) as NSString
                    )
                )
            }
        }
        return out
    }
}

/// `s` padded with spaces to `width` characters.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
