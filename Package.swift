// swift-tools-version: 6.0
import PackageDescription

// ACTIONSTORE_ENGINE_ONLY=1 leaves out the collector, the tools and their dependencies (Hummingbird,
// NIO, AsyncHTTPClient): `make tsan` builds only the engine and its tests with Thread Sanitizer,
// which keeps CI well inside its time budget.
let engineOnly = Context.environment["ACTIONSTORE_ENGINE_ONLY"] != nil

var package = Package(
    name: "ActionStore",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ActionStore", targets: ["ActionStore"]),
        .executable(name: "actionstore", targets: ["actionstore"]),
        .executable(name: "segdump", targets: ["segdump"]),
        .executable(name: "actionbench", targets: ["actionbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Already in the graph through Hummingbird; named for NIOHTTPTypes (the collector's
        // connection guard handles HTTPRequestPart/HTTPResponsePart).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // System libraries from Debian: liblz4-dev, libxxhash-dev, libroaring-dev.
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4"),
        .systemLibrary(name: "CXXHash", path: "Sources/CXXHash", pkgConfig: "libxxhash"),
        .systemLibrary(name: "CRoaring", path: "Sources/CRoaring"),
        // zlib from Debian's zlib1g-dev: gzip request bodies of the collector.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),
        .target(
            name: "ActionStore",
            dependencies: ["CLZ4", "CXXHash", "CRoaring", .product(name: "Logging", package: "swift-log")],
            path: "Sources/ActionStore"
        ),
        .target(
            name: "ActionCollector",
            dependencies: [
                "ActionStore",
                "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/ActionCollector",
            // The web view's page, script and style sheet, compiled into the binary as byte arrays
            // (Collector+WebView.swift says why not a resource bundle).
            resources: [.embedInCode("Resources/webview")]
        ),
        .executableTarget(
            name: "actionstore",
            dependencies: [
                "ActionStore",
                "ActionCollector",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "tools/actionstore"
        ),
        .executableTarget(
            name: "segdump",
            dependencies: [
                "ActionStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "tools/segdump"
        ),
        .executableTarget(
            name: "actionbench",
            dependencies: [
                "ActionStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/actionbench"
        ),
        // libFuzzer targets (`make fuzz`); built normally they replay the files given as arguments.
        .executableTarget(name: "FuzzJSON", dependencies: ["ActionStore"], path: "Fuzz/FuzzJSON"),
        .executableTarget(name: "FuzzSegment", dependencies: ["ActionStore"], path: "Fuzz/FuzzSegment"),
        .testTarget(
            name: "ActionStoreTests",
            dependencies: ["ActionStore"],
            path: "Tests/ActionStoreTests"
        ),
        .testTarget(
            name: "ActionCollectorTests",
            dependencies: [
                "ActionCollector",
                "ActionStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ActionCollectorTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)

if engineOnly {
    let keep: Set<String> = ["CLZ4", "CXXHash", "CRoaring", "ActionStore", "ActionStoreTests"]
    package.targets = package.targets.filter { keep.contains($0.name) }
    package.products = package.products.filter { $0.name == "ActionStore" }
    package.dependencies = package.dependencies.filter {
        guard case .sourceControl(_, let location, _) = $0.kind else { return false }
        return location.hasSuffix("swift-log")
    }
}
