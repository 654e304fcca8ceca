// simdjson-compare: parse-only walks (simdjson On-Demand vs the engine's JSONReader) and the
// end-to-end normalizer on the same bytes of one NDJSON file, one core, timed in process.
// See docs/simdjson-measurement.md.
import ActionStore
import CSimdjsonShim

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

struct Options {
    var file = ""
    var lines = Int.max
    var repeats = 5
    var modes = ["swift-walk", "simd-lines", "simd-stream", "normalize"]
}

func usage() -> Never {
    print(
        """
        usage: simdjson-compare [--lines N] [--repeat R] [--modes m1,m2,...] FILE.ndjson
          modes: swift-walk simd-lines simd-stream normalize (default: all, in this order)
        """
    )
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    while let a = args.popFirst() {
        switch a {
        case "--lines":
            guard let n = Int(args.popFirst() ?? "") else { usage() }
            o.lines = n
        case "--repeat":
            guard let n = Int(args.popFirst() ?? "") else { usage() }
            o.repeats = max(1, n)
        case "--modes": o.modes = (args.popFirst() ?? "").split(separator: ",").map(String.init)
        case "-h", "--help": usage()
        default: o.file = a
        }
    }
    if o.file.isEmpty { usage() }
    return o
}

/// The file's bytes followed by simdjson's padding (zeros), and its non-empty lines as offsets.
func load(_ path: String, lines limit: Int) -> (bytes: [UInt8], length: Int, starts: [UInt64], ends: [UInt64]) {
    guard let f = fopen(path, "rb") else {
        print("cannot open \(path)")
        exit(1)
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    var starts: [UInt64] = []
    var ends: [UInt64] = []
    var lineStart = 0
    var length = bytes.count
    for i in 0...bytes.count where i == bytes.count || bytes[i] == 0x0A {
        if i > lineStart {
            if starts.count == limit {
                length = lineStart
                break
            }
            starts.append(UInt64(lineStart))
            ends.append(UInt64(i))
        }
        lineStart = i + 1
    }
    bytes.removeSubrange(length...)
    bytes.append(contentsOf: repeatElement(0, count: simd_padding()))
    return (bytes, length, starts, ends)
}

func now(_ clock: clockid_t) -> Double {
    var t = timespec()
    clock_gettime(clock, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func stats(_ s: simd_walk_stats) -> WalkStats {
    var w = WalkStats()
    w.documents = s.documents
    w.errors = s.errors
    w.objects = s.objects
    w.arrays = s.arrays
    w.keys = s.keys
    w.keyBytes = s.key_bytes
    w.strings = s.strings
    w.stringBytes = s.string_bytes
    w.ints = s.ints
    w.intSum = s.int_sum
    w.doubles = s.doubles
    w.doubleBits = s.double_bits
    w.bools = s.bools
    w.nulls = s.nulls
    return w
}

func describe(_ w: WalkStats) -> String {
    "docs \(w.documents) errors \(w.errors) objects \(w.objects) arrays \(w.arrays) keys \(w.keys) "
        + "keyBytes \(w.keyBytes) strings \(w.strings) stringBytes \(w.stringBytes) ints \(w.ints) "
        + "intSum \(w.intSum) doubles \(w.doubles) doubleBits \(w.doubleBits) bools \(w.bools) nulls \(w.nulls)"
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let options = parseOptions()
let (bytes, length, starts, ends) = load(options.file, lines: options.lines)
let lineSlices = starts.indices.map { bytes[Int(starts[$0])..<Int(ends[$0])] }
let mb = Double(length) / 1e6
print(
    "file \(options.file): \(starts.count) lines, \(length) bytes; simdjson builtin "
        + "\(String(cString: simd_builtin_implementation())), active \(String(cString: simd_active_implementation()))"
)

var reference: WalkStats?
for mode in options.modes {
    var walls: [Double] = []
    var cpus: [Double] = []
    var summary = ""
    for _ in 0..<options.repeats {
        let w0 = now(CLOCK_MONOTONIC)
        let c0 = now(CLOCK_THREAD_CPUTIME_ID)
        switch mode {
        case "swift-walk":
            let s = bytes.withUnsafeBufferPointer { BenchHooks.swiftWalk($0, starts: starts, ends: ends) }
            summary = describe(s)
            if let reference, reference != s { summary += "  MISMATCH with the first walk" }
            reference = reference ?? s
        case "simd-lines", "simd-stream":
            var s = simd_walk_stats()
            bytes.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { c in
                    if mode == "simd-lines" {
                        _ = simd_walk_lines(c.baseAddress, length, starts, ends, starts.count, &s)
                    } else {
                        _ = simd_walk_ndjson(c.baseAddress, length, 1 << 20, &s)
                    }
                }
            }
            let w = stats(s)
            summary = describe(w) + (s.errors > 0 ? " firstError \(s.first_error)" : "")
            if let reference, reference != w { summary += "  MISMATCH with the first walk" }
            reference = reference ?? w
        case "normalize":
            let r = BenchHooks.normalize(lineSlices)
            summary = "normalized \(r.rows) rejected \(r.rejected) leaves \(r.leaves)"
        default:
            print("unknown mode \(mode)")
            exit(2)
        }
        walls.append(now(CLOCK_MONOTONIC) - w0)
        cpus.append(now(CLOCK_THREAD_CPUTIME_ID) - c0)
    }
    let warm = walls.count > 1 ? Array(walls.dropFirst()) : walls
    let warmCPU = cpus.count > 1 ? Array(cpus.dropFirst()) : cpus
    let n = Double(starts.count)
    func fmt(_ x: Double, _ digits: Int = 1) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([x]) { vsnprintf(&buf, 64, "%.\(digits)f", $0) }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    let best = warm.min()!
    let med = median(warm)
    print("\(mode): \(summary)")
    print(
        "  first run \(fmt(walls[0], 3)) s; warm (\(warm.count) runs) wall min \(fmt(best, 3)) s, median "
            + "\(fmt(med, 3)) s, cpu median \(fmt(median(warmCPU), 3)) s"
    )
    print(
        "  median: \(fmt(mb / med)) MB/s, \(fmt(n / med, 0)) actions/s, \(fmt(med / n * 1e9, 0)) ns/action; "
            + "best: \(fmt(mb / best)) MB/s, \(fmt(best / n * 1e9, 0)) ns/action"
    )
}
