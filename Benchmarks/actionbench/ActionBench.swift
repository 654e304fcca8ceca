// actionbench: the bundled benchmark.
//
//   actionbench generate --events N [--seed S] --out FILE   write N generated actions as NDJSON
//   actionbench parse [--events N] [--seed S]               parser throughput beside JSONSerialization
//
// Always run a release build: `swift run -c release actionbench …`.
import ActionStore
import ArgumentParser
import Foundation

@main
struct ActionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actionbench",
        abstract: "ActionStore's benchmark tool.",
        subcommands: [Generate.self, Parse.self, AppendMatrix.self, Recovery.self]
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
