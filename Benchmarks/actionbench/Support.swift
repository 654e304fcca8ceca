import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds, for timing phases.
func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// The value at quantile `q` (0…1) of `values` by nearest rank; 0 when empty.
func quantile(_ values: [Double], _ q: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((q * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// Resident set figures of this process from /proc/self/status, in bytes.
///
/// Linux cannot reset the high-water mark from inside a process, so `peak` is the running peak
/// since the process started: after each phase it is the peak of that phase or of an earlier one.
struct Memory: Encodable {
    var peakBytes: Int
    var currentBytes: Int
    /// Resident set after `malloc_trim(0)` returned free heap pages to the kernel: when much lower
    /// than `currentBytes`, the difference was freed memory that glibc kept, not live data.
    var afterTrimBytes: Int

    static func read() -> Memory {
        let before = status()
        trimHeap()
        return Memory(peakBytes: before.peak, currentBytes: before.current, afterTrimBytes: status().current)
    }

    /// glibc's `malloc_trim(0)`, looked up at run time: Glibc's module map does not export malloc.h.
    private static func trimHeap() {
        typealias Trim = @convention(c) (Int) -> Int32
        if let symbol = dlsym(nil, "malloc_trim") { _ = unsafeBitCast(symbol, to: Trim.self)(0) }
    }

    private static func status() -> (peak: Int, current: Int) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(name) {
                let kb = line.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 0
                return kb * 1024
            }
            return 0
        }
        return (field("VmHWM:"), field("VmRSS:"))
    }
}

/// What machine the figures come from.
struct Machine: Encodable {
    var cores: Int
    var memoryBytes: UInt64
    var cpuModel: String
    var os: String

    static func describe() -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
            ?? "unknown"
        return Machine(
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: ProcessInfo.processInfo.physicalMemory,
            cpuModel: model,
            os: ProcessInfo.processInfo.operatingSystemVersionString
        )
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
final class Progress: @unchecked Sendable {
    // Safe because every access to the mutable fields takes `lock`.
    private let lock = NSLock()
    private let phase: String
    private let total: Int
    private let unit: String
    private let enabled: Bool
    private let start = now()
    private var done = 0
    private var lastDraw = 0.0

    init(_ phase: String, total: Int, unit: String = "actions") {
        self.phase = phase
        self.total = max(total, 1)
        self.unit = unit
        enabled = isatty(2) != 0
    }

    func advance(_ n: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        done += n
        let t = now()
        if t - lastDraw >= 0.1 {
            lastDraw = t
            draw(t)
        }
    }

    func finish() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        draw(now())
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ t: Double) {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let rate = Double(done) / max(t - start, 1e-9)
        let line = String(
            format: "\r%@ [%@] %3.0f%%  %.0f %@/s   ",
            pad(phase, 10) as NSString,
            bar as NSString,
            fraction * 100,
            rate,
            unit as NSString
        )
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// Hands out batches of NDJSON lines from a file to several threads.
///
/// Memory stays bounded by a few batches whatever the file size: the benchmark reads the file as
/// the engine ingests it, so the read is inside the timed region (as it is for DuckDB and chDB,
/// which load the file too).
final class NDJSONBatches: @unchecked Sendable {
    // Safe because every access to the mutable fields takes `lock`.
    private let lock = NSLock()
    private let fd: Int32
    private let linesPerBatch: Int
    private var pending: [UInt8] = []
    private var eof = false

    init(path: String, linesPerBatch: Int) throws {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BenchError("cannot open \(path): errno \(errno)") }
        self.linesPerBatch = linesPerBatch
    }

    deinit { close(fd) }

    /// The next batch: non-empty lines without their newlines, and their bytes with newlines.
    func next() -> (lines: [ArraySlice<UInt8>], bytes: Int)? {
        let chunk: [UInt8]? = lock.withLock {
            var count = 0
            var cut = 0
            while count < linesPerBatch {
                // memchr: the scan runs under the lock, so it must be cheap.
                let nl = pending.withUnsafeBytes { p -> Int? in
                    guard cut < p.count, let hit = memchr(p.baseAddress! + cut, 0x0A, p.count - cut) else {
                        return nil
                    }
                    return UnsafeRawPointer(hit) - p.baseAddress!
                }
                if let nl {
                    count += 1
                    cut = nl + 1
                    continue
                }
                if eof {
                    cut = pending.count
                    break
                }
                readMore()
            }
            guard cut > 0 else { return nil }
            let out = Array(pending[0..<cut])
            pending.removeFirst(cut)
            return out
        }
        guard let chunk else { return nil }
        var lines: [ArraySlice<UInt8>] = []
        lines.reserveCapacity(linesPerBatch)
        chunk.withUnsafeBytes { p in
            var start = 0
            while start < p.count {
                let end =
                    memchr(p.baseAddress! + start, 0x0A, p.count - start).map { UnsafeRawPointer($0) - p.baseAddress! }
                    ?? p.count
                if end > start { lines.append(chunk[start..<end]) }
                start = end + 1
            }
        }
        return (lines, chunk.count)
    }

    private func readMore() {
        let size = 4 << 20
        let old = pending.count
        pending.append(contentsOf: repeatElement(0, count: size))
        let n = pending.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, size) }
        pending.removeLast(size - max(n, 0))
        if n <= 0 { eof = true }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Collects per-batch latencies from several threads.
final class LatencyLog: @unchecked Sendable {
    // Safe because every access to `values` takes `lock`.
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ v: [Double]) { lock.withLock { values += v } }
    var all: [Double] { lock.withLock { values } }
}

/// FNV-1a over UTF-8 bytes, as 16 hex digits: a stable checksum of canonical text.
func fnv1a(_ s: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 {
        h ^= UInt64(b)
        h &*= 0x100_0000_01b3
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// Bytes of every regular file below `path`.
func directoryBytes(_ path: String) -> Int64 {
    guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total: Int64 = 0
    while let rel = e.nextObject() as? String {
        let attrs = try? FileManager.default.attributesOfItem(atPath: path + "/" + rel)
        if attrs?[.type] as? FileAttributeType == .typeRegular {
            total += (attrs?[.size] as? NSNumber)?.int64Value ?? 0
        }
    }
    return total
}
