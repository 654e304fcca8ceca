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

#if FUZZING
// SwiftPM links executables with `main` renamed to `<Target>_main`, so libFuzzer's own main is not
// used: this main hands control to libFuzzer's driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
#endif

@main
struct Main {
    static func main() throws {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzJSON(data, size) })
        #else
        for path in CommandLine.arguments.dropFirst() {
            let bytes = try FuzzFiles.read(path)
            _ = bytes.withUnsafeBufferPointer { fuzzJSON($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            print("ok \(path)")
        }
        #endif
    }
}
