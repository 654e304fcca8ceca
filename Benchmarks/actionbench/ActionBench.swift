// actionbench: the bundled benchmark.
//
//   actionbench [run] [--events N] [--seed S] [--data DIR] [--threads T] [--batch B] [--durability POLICY]
//                     [--phases LIST] [--repeats R] [--recovery-mib M] [--json FILE] [--check]
//       The default subcommand. Generates N Moesif actions into DIR/actions.ndjson (reused when the
//       events and seed match), then runs the phases, prints a table, and writes every figure and
//       each query's canonical answer to FILE (Benchmarks/peers/peers.py reads it). Phases:
//         ingest    NDJSON batches through append(application:documents:) from T threads:
//                   actions/s, MB/s, batch latency p50/p99, fsyncs/s (into DIR/store)
//         typed     pre-built [Action] through append(application:actions:), same figures
//                   (a scratch store, deleted after)
//         flush     flush() of what is left in memtables: time, MB/s (compaction: TODO, not on this branch)
//         storage   bytes/action on disk, per column, split into data, dictionary and index
//         queries   the suite in QuerySuite.swift: median and p99 of R runs, rows/s/core, checksum;
//                   with --check, each answer against a brute-force evaluation
//         recovery  a child process appends M MiB of journal and is SIGKILLed; time to reopen
//       Memory: running peak resident set (VmHWM) after each phase.
//       Defaults: --events 1000000 --seed 42 --data ./bench-out --threads <cores> --batch 5000
//                 --durability fsyncEachBatch --phases all --repeats 10 --recovery-mib 256
//   actionbench generate --events N [--seed S] --out FILE   write N generated actions as NDJSON
//   actionbench parse [--events N] [--seed S]               parser throughput beside JSONSerialization
//   actionbench append-matrix [--writers W,..] [--batches B,..] appends/s and fsyncs/s, writers x batch sizes
//   actionbench recovery [--journal-mib M]                   reopen time after close without flush
//
// Always run a release build for figures: `swift run -c release actionbench …`. `make bench` runs
// it beside DuckDB and chDB (Benchmarks/peers); `make bench-smoke` is the CI-sized, checked run.
import ActionStore
import ArgumentParser
import Foundation

@main
struct ActionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actionbench",
        abstract: "ActionStore's benchmark tool.",
        subcommands: [Run.self, Generate.self, Parse.self, AppendMatrix.self, Recovery.self, RecoveryChild.self],
        defaultSubcommand: Run.self
    )
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write generated Moesif actions as NDJSON.")
    @Option(help: "Number of actions.") var events = 1_000_000
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Days the actions span.") var days = 90
    @Option(help: "Output file ('-' for stdout).") var out = "-"

    func run() throws {
        var gen = ActionGenerator(seed: seed, count: events, days: days)
        let handle: FileHandle
        if out == "-" {
            handle = FileHandle.standardOutput
        } else {
            let dir = (out as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            guard let h = FileHandle(forWritingAtPath: out) else { throw ValidationError("cannot write \(out)") }
            handle = h
        }
        var buffer = ""
        buffer.reserveCapacity(1 << 20)
        while let line = gen.next() {
            buffer += line
            buffer += "\n"
            if buffer.utf8.count >= 1 << 20 {
                handle.write(Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        handle.write(Data(buffer.utf8))
        if out != "-" { try handle.close() }
    }
}

struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the normalizer's throughput on generated actions, beside JSONSerialization's."
    )
    @Option(help: "Number of actions.") var events = 200_000
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Repetitions (the best is reported).") var repeats = 5

    func run() throws {
        var gen = ActionGenerator(seed: seed, count: events)
        var lines: [[UInt8]] = []
        var bytes = 0
        while let l = gen.next() {
            lines.append(Array(l.utf8))
            bytes += l.utf8.count
        }
        let normalizer = ActionNormalizer()
        var best = Double.infinity
        var checksum = 0
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            checksum = 0
            for l in lines {
                let r = l.withUnsafeBufferPointer { normalizer.normalize($0, receivedAt: 0) }
                if case .success(let n) = r { checksum &+= n.action.metadata.count }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        var bestF = Double.infinity
        for _ in 0..<max(1, repeats / 2) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for l in lines { _ = try JSONSerialization.jsonObject(with: Data(l)) }
            bestF = min(bestF, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let mb = Double(bytes) / 1e6
        print("actions: \(events), bytes: \(bytes) (\(bytes / events) per action), leaves: \(checksum)")
        print(
            String(
                format: "ActionNormalizer:   %.1f MB/s, %.0f actions/s (one core)",
                mb / best,
                Double(events) / best
            )
        )
        print(
            String(
                format: "JSONSerialization:  %.1f MB/s, %.0f actions/s (parse only, no normalization)",
                mb / bestF,
                Double(events) / bestF
            )
        )
    }
}
