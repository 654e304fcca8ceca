import ActionStore
import ArgumentParser
import Foundation

@main
struct ActionStoreCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actionstore",
        abstract: "An embedded store of user actions: import, query and inspect a store directory.",
        subcommands: [
            Serve.self, Import.self, Query.self, Export.self, Stats.self, Flush.self, Compact.self, Verify.self,
            Repair.self, CrashWriter.self, CrashCompactor.self, BenchCompaction.self,
        ]
    )
}

struct StoreLocation: ParsableArguments {
    @Option(help: "The store directory.") var data = "./data"
}

/// A one-line progress display on stderr when it is a terminal.
struct Progress {
    let enabled = isatty(2) != 0
    let start = Date()
    var last = Date.distantPast

    mutating func update(_ text: @autoclosure () -> String, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(last) > 0.2 else { return }
        last = now
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text()).utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// `[#########-----------]  45% 120.0 of 266.1 MB` (or `120.0 MB` when the total is unknown).
    static func bar(done: Int, total: Int?, width: Int = 24) -> String {
        let mb = String(format: "%.1f", Double(done) / 1e6)
        guard let total, total > 0 else { return mb + " MB" }
        let f = min(1, Double(done) / Double(total))
        let filled = Int(f * Double(width))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            + String(format: "%3.0f%% ", f * 100) + mb + " of " + String(format: "%.1f", Double(total) / 1e6) + " MB"
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import NDJSON (one Moesif action per line) into an application.",
        discussion: """
            Prints how many actions were accepted, rejected and deduplicated; each rejection goes to \
            stderr with its line number and reason. Ends with a flush, as a bulk load ends with a \
            checkpoint elsewhere: the actions are in segments, and later commands need not replay \
            the journal (--no-flush leaves them in the journal). On a terminal, a progress bar shows \
            the bytes read and the rate. Exit status 1 if any line was rejected.
            """
    )
    @OptionGroup var location: StoreLocation
    @Option(help: "The application (Moesif application id).") var app: String
    @Option(help: "Lines per batch (one journal record each).") var batch = 5000
    @Flag(inversion: .prefixedNo, help: "Flush to segments at the end.") var flush = true
    @Argument(help: "The NDJSON file, or - for stdin.") var file: String

    func run() throws {
        let store = try Store.open(at: location.data)
        defer { try? store.close() }
        guard let handle = file == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: file) else {
            throw ValidationError("cannot open \(file)")
        }
        var progress = Progress()
        // The size of a regular file, for the bar; nil for a pipe.
        let totalBytes: Int? =
            file == "-" ? nil : (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        var accepted = 0
        var rejected = 0
        var duplicates = 0
        var lineNumber = 0
        var bytesRead = 0
        var carry: [UInt8] = []
        var lines: [ArraySlice<UInt8>] = []
        var lineNumbers: [Int] = []

        // Batch N+1 is parsed and committed while batch N waits for its fsync; outcomes are
        // reported once their batch is durable.
        var inFlight: (pending: PendingAppend, lineNumbers: [Int])?

        func settle() throws {
            guard let (pending, numbers) = inFlight else { return }
            inFlight = nil
            try pending.waitDurable()
            for (i, o) in pending.result.outcomes.enumerated() {
                switch o {
                case .accepted(let dropped):
                    accepted += 1
                    if !dropped.isEmpty {
                        printError("line \(numbers[i]): dropped fields \(dropped.joined(separator: ", "))")
                    }
                case .duplicate: duplicates += 1
                case .rejected(let e):
                    rejected += 1
                    printError("line \(numbers[i]): \(e.message)")
                }
            }
        }

        func submit() throws {
            guard !lines.isEmpty else { return }
            let pending = try store.submit(application: app, documents: lines)
            try settle()
            inFlight = (pending, lineNumbers)
            lines.removeAll(keepingCapacity: true)
            lineNumbers.removeAll(keepingCapacity: true)
            let secs = max(Date().timeIntervalSince(progress.start), 1e-3)
            progress.update(
                Progress.bar(done: bytesRead, total: totalBytes)
                    + " \(accepted) actions, \(rejected) rejected, "
                    + String(
                        format: "%.0f actions/s, %.1f MB/s",
                        Double(accepted) / secs,
                        Double(bytesRead) / secs / 1e6
                    )
            )
        }

        while true {
            let chunk = handle.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            bytesRead += chunk.count
            var buffer = carry
            buffer.append(contentsOf: chunk)
            var start = 0
            while let nl = buffer[start...].firstIndex(of: 0x0A) {
                lineNumber += 1
                var line = buffer[start..<nl]
                if line.last == 0x0D { line = line.dropLast() }
                if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                    lines.append(line)
                    lineNumbers.append(lineNumber)
                    if lines.count >= batch { try submit() }
                }
                start = nl + 1
            }
            carry = Array(buffer[start...])
        }
        if !carry.isEmpty && !carry.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
            lineNumber += 1
            lines.append(carry[...])
            lineNumbers.append(lineNumber)
        }
        try submit()
        try settle()
        if flush {
            progress.update(Progress.bar(done: bytesRead, total: totalBytes) + " flushing to segments…", force: true)
            try store.flush()
        }
        progress.finish()
        try store.close()
        print("accepted \(accepted), rejected \(rejected), deduplicated \(duplicates)")
        if rejected > 0 { throw ExitCode(1) }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print applications, partitions, segments, rows, bytes and the compaction backlog.",
        discussion: "backlog: the segments of the partition that compaction would merge."
    )
    @OptionGroup var location: StoreLocation

    func run() throws {
        let store = try Store.open(
            at: location.data,
            options: readOnlyOptions()
        )
        defer { try? store.close() }
        let s = store.stats()
        print("store \(location.data)")
        print(
            "applications: \(s.applications.count)  partitions: \(s.partitions.count)  segments: \(s.segments)  "
                + "rows: \(s.rows)  segment bytes: \(s.segmentBytes)  journal: \(s.journalFiles) files, \(s.journalBytes) bytes"
        )
        print(
            "compaction backlog: \(s.compactionBacklog) segments  deduplication: \(s.dedupeIds) transaction ids remembered"
        )
        for (app, counts) in s.idCodes.sorted(by: { $0.key < $1.key }) {
            let fields = counts.sorted(by: { $0.key < $1.key }).map { "\($0.key) \($0.value)" }
            print("id codes of \(app): " + fields.joined(separator: ", "))
        }
        if let e = s.backgroundError { print("background error: \(e)") }
        if let e = s.compactionError { print("compaction error: \(e)") }
        if s.damagedJournalRecordsSkipped > 0 {
            print("damaged journal records skipped: \(s.damagedJournalRecordsSkipped)")
        }
        let header = [
            "application", "partition", "segments", "segment rows", "segment bytes", "memtable rows", "backlog",
        ]
        var rows = [header]
        for p in s.partitions {
            rows.append([
                p.application, p.partition, "\(p.segments)", "\(p.segmentRows)", "\(p.segmentBytes)",
                "\(p.memtableRows)", "\(p.compactionBacklog)",
            ])
        }
        printTable(rows)
    }
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every action held in the journal to segment files, and checkpoint the journal."
    )
    @OptionGroup var location: StoreLocation

    func run() throws {
        let store = try Store.open(at: location.data)
        try store.flush()
        try store.close()
        let s = store.stats()
        print("flushed: \(s.segments) segments, \(s.rows) rows, \(s.segmentBytes) bytes")
    }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a query (docs/query.md) over one application and print the result as JSON.",
        discussion:
            #"Example: echo '{"group_by":[{"time":"day"}],"metrics":["count"]}' | actionstore query --app prod -"#
    )
    @OptionGroup var location: StoreLocation
    @Option(help: "The application.") var app: String
    @Option(help: "json (default) or table.") var format = "json"
    @Argument(help: "The query file, or - for stdin.") var file: String

    func run() throws {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            data = d
        }
        let query = try ActionStore.Query.parse(json: data)
        let store = try Store.open(at: location.data, options: readOnlyOptions())
        defer { try? store.close() }
        let result = try store.query(application: app, query)
        switch format {
        case "json": print(result.json())
        case "table": print(result.table())
        default: throw ValidationError("--format must be json or table")
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one application's actions as NDJSON in Moesif's action shape (normalized names), streaming."
    )
    @OptionGroup var location: StoreLocation
    @Option(help: "The application.") var app: String
    @Option(help: "Inclusive start (ISO 8601).") var from: String?
    @Option(help: "Exclusive end (ISO 8601).") var to: String?
    @Option(
        name: .customLong("where"),
        help: "A filter in the query language, e.g. '{\"eq\":[\"action_name\",\"x\"]}'."
    )
    var filter: String?

    func run() throws {
        func time(_ s: String?, _ name: String) throws -> Int64? {
            guard let s else { return nil }
            guard let t = Timestamp.parse(s) else { throw ValidationError("--\(name) \(s) is not an ISO 8601 time") }
            return t
        }
        let from = try time(self.from, "from")
        let to = try time(self.to, "to")
        let predicate = try filter.map { try ActionStore.Query.parse(json: #"{"where":"# + $0 + "}").filter }
        let store = try Store.open(at: location.data, options: readOnlyOptions())
        defer { try? store.close() }
        var out = [UInt8]()
        out.reserveCapacity(1 << 20)
        try store.scan(application: app, from: from, to: to, where: predicate ?? nil) { action in
            out += SegmentDump.moesifJSON(action).utf8
            out.append(0x0A)
            if out.count >= 1 << 20 {
                FileHandle.standardOutput.write(Data(out))
                out.removeAll(keepingCapacity: true)
            }
        }
        FileHandle.standardOutput.write(Data(out))
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every journal record, segment block, index and the manifest; exit 1 on damage."
    )
    @OptionGroup var location: StoreLocation

    func run() throws {
        let r = try Store.verify(at: location.data)
        for n in r.notes { print("note: \(n)") }
        for p in r.problems { print("DAMAGED: \(p)") }
        print(
            "checked \(r.journalRecords) journal records, \(r.segments) segments (\(r.segmentBytes) bytes): "
                + (r.isClean ? "no damage" : "\(r.problems.count) problems")
        )
        if !r.isClean { throw ExitCode(1) }
    }
}

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move damaged segments to quarantine/ and skip damaged journal records, keeping everything else."
    )
    @OptionGroup var location: StoreLocation

    func run() throws {
        let r = try Store.repair(at: location.data)
        for s in r.quarantinedSegments { print("quarantined segment \(s)") }
        if !r.quarantinedJournalFiles.isEmpty {
            print("copied \(r.quarantinedJournalFiles.count) journal files to quarantine/journal/")
            print("skipped \(r.skippedJournalRecords) damaged journal records")
        }
        if r.quarantinedSegments.isEmpty && r.quarantinedJournalFiles.isEmpty { print("nothing to repair") }
    }
}

/// Options for commands that only read: no background flush or compaction.
func readOnlyOptions() -> StoreOptions {
    var o = StoreOptions()
    o.backgroundFlush = false
    o.compaction.background = false
    return o
}

func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = first.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    for (n, r) in rows.enumerated() {
        print(
            r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
        )
        if n == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
}

/// Test support for the crash tests (`StoreCrashTests`): appends at full speed from several threads
/// and logs each acknowledged transaction id to `--ack-log` after its append returned, until killed.
struct CrashWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_crash-writer", shouldDisplay: false)
    @OptionGroup var location: StoreLocation
    @Option var app = "crash"
    @Option var threads = 4
    @Option var batch = 50
    @Option(name: .customLong("ack-log")) var ackLog: String
    @Option(name: .customLong("memtable-rows")) var memtableRows = 3000
    @Option(help: "Prefix of the transaction ids, unique per run.") var prefix = "r0"

    func run() throws {
        var options = StoreOptions()
        options.memtableRowsMax = memtableRows
        options.journalFileBytesMax = 256 << 10
        let store = try Store.open(at: location.data, options: options)
        let fd = open(ackLog, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot open \(ackLog)") }
        let threads = self.threads
        let batch = self.batch
        let app = self.app
        let prefix = self.prefix
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var seq = 0
            while true {
                var body = "["
                var ids: [String] = []
                for i in 0..<batch {
                    let id = "\(prefix)-w\(t)-\(seq)"
                    seq += 1
                    ids.append(id)
                    if i > 0 { body += "," }
                    body += #"{"action_name":"Crash Test","transaction_id":""# + id
                    body += #"","user_id":"u\#(seq % 97)","request":{"time":"2026-11-\#(10 + seq % 5)T10:00:00Z"},"#
                    body += #""metadata":{"thread":\#(t),"seq":\#(seq),"kind":"k\#(seq % 7)"}}"#
                }
                body += "]"
                do {
                    let r = try store.append(application: app, json: Array(body.utf8))
                    precondition(r.accepted == batch, "rejected: \(r.outcomes)")
                } catch {
                    FileHandle.standardError.write(Data("append failed: \(error)\n".utf8))
                    Foundation.exit(3)
                }
                let line = ids.joined(separator: "\n") + "\n"
                _ = line.withCString { write(fd, $0, strlen($0)) }
            }
        }
    }
}
