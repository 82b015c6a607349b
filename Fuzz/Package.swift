// swift-tools-version:6.0
// The decoders under libFuzzer. A package of its own, so that the main build never needs the fuzzer
// runtime: Fuzz/run.sh builds it with -sanitize=fuzzer,address and runs it.
import PackageDescription

let package = Package(
    name: "xceptor-fuzz",
    dependencies: [.package(name: "xceptor", path: "..")],
    targets: [
        .executableTarget(
            name: "DecoderFuzzer",
            dependencies: [.product(name: "Imaging", package: "xceptor")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
