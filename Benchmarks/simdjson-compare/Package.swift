// swift-tools-version: 6.0
import PackageDescription

// A standalone measurement of simdjson (Debian's libsimdjson-dev, On-Demand API) against the
// engine's hand-written JSONReader (issue 13 item 1); see docs/simdjson-measurement.md. Not part
// of the main package or its CI.
//
// The engine's sources are compiled into this package's own `ActionStore` target through a
// symlink (Sources/ActionStore/Engine -> ../../../../Sources/ActionStore), beside one file of
// ours (BenchHooks.swift) that reaches the internal normalizer entry points the store uses, with
// the same release optimization as the engine (no -enable-testing).
//
// simdjson's On-Demand front end is header code compiled for the target named at build time
// (without AVX2 flags it is the portable "fallback" kernel; stage 1 is dispatched at run time
// either way). SIMDJSON_SHIM_MARCH picks -march for the shim: "haswell" (default here), or
// "none" for the distribution's baseline x86-64 flags.
let march = Context.environment["SIMDJSON_SHIM_MARCH"] ?? "haswell"
let shimFlags: [String] =
    ["-O3", "-std=c++17", "-DSIMDJSON_THREADS_ENABLED=1"] + (march == "none" ? [] : ["-march=\(march)"])

let package = Package(
    name: "simdjson-compare",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2")
    ],
    targets: [
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4"),
        .systemLibrary(name: "CXXHash", path: "Sources/CXXHash", pkgConfig: "libxxhash"),
        .systemLibrary(name: "CRoaring", path: "Sources/CRoaring"),
        .target(
            name: "ActionStore",
            dependencies: ["CLZ4", "CXXHash", "CRoaring", .product(name: "Logging", package: "swift-log")],
            path: "Sources/ActionStore"
        ),
        .target(
            name: "CSimdjsonShim",
            path: "Sources/CSimdjsonShim",
            cxxSettings: [.unsafeFlags(shimFlags)],
            linkerSettings: [.linkedLibrary("simdjson")]
        ),
        .executableTarget(
            name: "simdjson-compare",
            dependencies: ["ActionStore", "CSimdjsonShim"],
            path: "Sources/simdjson-compare"
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
