// libFuzzer target for the JSON normalizer: any bytes must give outcomes or a thrown error, never
// a crash, a hang or a sanitizer report. Built by `make fuzz` with -sanitize=fuzzer,address and
// -DFUZZING; built normally it replays the files given as arguments (crash regressions).
import ActionStore

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var limits = NormalizeLimits()
    limits.actionBytesMax = 1 << 16
    let normalizer = ActionNormalizer(limits: limits)
    if let outcomes = try? normalizer.normalizeDocument(bytes, receivedAt: 0) {
        for case .success(let n) in outcomes {
            // Invariants the store relies on: sorted unique paths, non-empty action name.
            precondition(!n.action.actionName.isEmpty)
            for i in n.action.metadata.indices.dropFirst() {
                precondition(n.action.metadata[i - 1].path < n.action.metadata[i].path)
            }
            var schema = Schema()
            var copy = n
            var delta = SchemaDelta()
            _ = schema.admit(
                &copy,
                application: "f",
                index: 0,
                policy: .dropConflictingFields,
                pathsMax: 100,
                delta: &delta
            )
        }
    }
    return 0
}

@main
struct Main {
    static func main() throws {
        try FuzzFiles.run(fuzzJSON)
    }
}
