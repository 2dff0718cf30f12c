// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "gatehouse",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gatehouse", targets: ["gatehouse"]),
        .library(name: "GatehouseApp", targets: ["GatehouseApp"]),
        // For the separate Benchmarks/ package (which reaches internals through @_spi(Benchmarks)).
        .library(name: "GatehouseCore", targets: ["GatehouseCore"]),
        .library(name: "GatehouseAuth", targets: ["GatehouseAuth"]),
        .library(name: "GatehouseMetering", targets: ["GatehouseMetering"]),
        .library(name: "GatehouseProxy", targets: ["GatehouseProxy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .target(
            name: "GatehouseCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "GatehouseAuth",
            dependencies: [
                "GatehouseCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        .target(
            name: "GatehouseMetering",
            dependencies: [
                "GatehouseCore",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        .target(
            name: "GatehouseUsers",
            dependencies: [
                "GatehouseCore",
                "GatehouseAuth",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The system zlib, for the HTML injector's gzip/deflate decoding (swift-nio-extras
        // vendors one, but not as a product).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Intel's ISA-L, whose igzip deflate re-encodes injected pages: a third of zlib's
        // instructions at the same level and ratio (Benchmarks/README.md, sixteenth round).
        .systemLibrary(name: "CIsal", path: "Sources/CIsal", providers: [.apt(["libisal-dev"]), .brew(["isa-l"])]),
        .target(
            name: "GatehouseProxy",
            dependencies: [
                "GatehouseCore",
                "GatehouseAuth",
                "GatehouseMetering",
                "CZlib",
                "CIsal",
                "GatehouseUsers",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        .target(
            name: "GatehouseApp",
            dependencies: [
                "GatehouseCore",
                "GatehouseAuth",
                "GatehouseProxy",
                "GatehouseMetering",
                "GatehouseUsers",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "gatehouse",
            dependencies: [
                "GatehouseApp",
                "GatehouseCore",
                "GatehouseAuth",
                "GatehouseUsers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "GatehouseTesting",
            dependencies: [
                "GatehouseCore",
                "GatehouseAuth",
                "GatehouseProxy",
                "GatehouseApp",
                "GatehouseUsers",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "GatehouseCoreTests", dependencies: ["GatehouseCore", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "GatehouseMeteringTests", dependencies: ["GatehouseMetering", "GatehouseCore"]),
        .testTarget(name: "GatehouseUsersTests", dependencies: ["GatehouseUsers", "GatehouseCore", "GatehouseTesting"]),
        .testTarget(name: "GatehouseAuthTests", dependencies: ["GatehouseAuth", "GatehouseTesting"]),
        .testTarget(
            name: "GatehouseProxyTests",
            dependencies: [
                "GatehouseProxy", "GatehouseApp", "GatehouseTesting", "GatehouseMetering", "GatehouseUsers",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            // TLS certificates read by path (scripts/make-test-certs.sh regenerates them).
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
