#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The `main` of the fuzz targets (Fuzz/*), which link only the engine.
public enum FuzzFiles {
    /// A libFuzzer entry point: `LLVMFuzzerTestOneInput`'s signature.
    public typealias Target = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

    /// Built by `make fuzz` (`-DFUZZING`, linked with libFuzzer): hands control to libFuzzer's
    /// driver and never returns. Built normally: runs `target` on each file named as an argument
    /// (crash regressions), printing `ok PATH` after each.
    public static func run(_ target: Target) throws {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, target))
        #else
        for path in CommandLine.arguments.dropFirst() {
            let bytes = try FileSystem.readFile(path)
            _ = bytes.withUnsafeBufferPointer { target($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            print("ok \(path)")
        }
        #endif
    }
}

#if FUZZING
// SwiftPM links executables with `main` renamed to `<Target>_main`, so libFuzzer's own main is not
// used: `FuzzFiles.run` hands control to libFuzzer's driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
#endif
