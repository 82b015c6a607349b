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
        .target(name: "Ingest", dependencies: ["Queue"]),
        // libjpeg's errors must longjmp out of the library, which Swift cannot do: a small C shim.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "Imaging", dependencies: ["CImageCodecs"]),
        .target(name: "Digests", dependencies: ["COpenSSL"]),
        .target(name: "Fetch", dependencies: ["CCurl"]),
        .target(
            name: "Xception",
            dependencies: ["CHDF5", "CDNNL", "Digests", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(name: "Bench", dependencies: ["Queue", "Xception"]),
        .executableTarget(
            name: "xceptor",
            dependencies: [
                "Queue", "Ingest", "Bench", "Xception", "Imaging", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "QueueTests", dependencies: ["Queue"]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "Queue"]),
        .testTarget(
            name: "XceptionTests",
            dependencies: ["Xception", "CHDF5", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Digests"]),
        .testTarget(name: "FetchTests", dependencies: ["Fetch"]),
        // Drives the real `xceptor` binary (several processes on one database file).
        .testTarget(name: "XceptorTests", dependencies: ["xceptor", "Queue"]),
    ]
)
