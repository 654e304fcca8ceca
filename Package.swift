// swift-tools-version: 6.0
import PackageDescription

let package = Package(
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
    ],
    targets: [
        // System libraries from Debian: liblz4-dev, libxxhash-dev, libroaring-dev.
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4"),
        .systemLibrary(name: "CXXHash", path: "Sources/CXXHash", pkgConfig: "libxxhash"),
        .systemLibrary(name: "CRoaring", path: "Sources/CRoaring"),
        .target(
            name: "ActionStore",
            dependencies: ["CLZ4", "CXXHash", "CRoaring", .product(name: "Logging", package: "swift-log")],
            path: "Sources/ActionStore"
        ),
        .executableTarget(
            name: "actionstore",
            dependencies: [
                "ActionStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
    ],
    swiftLanguageModes: [.v6]
)
