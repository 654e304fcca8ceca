// libFuzzer target for the segment reader: any file contents must open, read and verify or throw,
// never crash. The input goes to a file in /dev/shm (the reader maps files). Built by `make fuzz`
// with -sanitize=fuzzer,address and -DFUZZING; built normally it replays the files given.
import ActionStore

#if canImport(Glibc)
import Glibc
#endif

let scratch = "/dev/shm/actionstore-fuzz-segment-\(getpid()).seg"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSegment(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    _ = write(fd, data, size)
    close(fd)
    guard let reader = try? SegmentReader(path: scratch) else { return 0 }
    _ = try? reader.verify()
    _ = try? reader.times()
    for c in reader.columns {
        if let col = try? reader.column(c.name) {
            for r in 0..<min(col.count, 64) { _ = col.value(at: r) }
        }
        _ = try? reader.postings(column: c.name, value: "x")
        _ = try? reader.dictionaryContains(column: c.name, value: "x")
    }
    _ = try? reader.actions()
    return 0
}

@main
struct Main {
    static func main() throws {
        try FuzzFiles.run(fuzzSegment)
        unlink(scratch)
    }
}
