// swift-tools-version:6.1
import PackageDescription

// Allocation benchmarks for Gatehouse's request path (ordo-one/benchmark).
// A separate package so the root package's `swift build` / `swift test` never build it.
// Run: swift package --package-path Benchmarks benchmark   (see Benchmarks/README.md)
let package = Package(
    name: "GatehouseBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "gatehouse", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // Same ranges as the root package (already in its graph).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "RequestPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "GatehouseProxy", package: "gatehouse"),
                .product(name: "GatehouseAuth", package: "gatehouse"),
                .product(name: "GatehouseMetering", package: "gatehouse"),
                .product(name: "GatehouseCore", package: "gatehouse"),
                .product(name: "GatehouseApp", package: "gatehouse"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RequestPath",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
