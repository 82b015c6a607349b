import ArgumentParser
import Foundation
import Queue
import Xception

struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Classify image files and compute their 2048-d embeddings.",
        discussion:
            "Prints each file's top labels; with --json, one object per line: {\"file\", \"labels\": [{\"label\", \"score\"}], \"embedding\": [2048 numbers]} (the embedding as computed, not normalised)."
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Input size in pixels (default: the size the model's head was trained at).")
    var size: Int?

    @Option(name: .long, help: "Labels to show per image.")
    var top = 5

    @Flag(
        name: .long,
        help:
            "Let large JPEGs shrink while decoding (DCT domain, like Pillow's draft mode): faster, pixels slightly off the reference pipeline."
    )
    var dctDownscale = false

    @OptionGroup var precision: PrecisionOptions

    @Flag(name: .long, help: "Print one JSON object per image.")
    var json = false

    @Argument(help: "Image files (JPEG).")
    var images: [String]

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image file") }
        if let size, size < 71 { throw ValidationError("--size must be at least 71") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() async throws {
        _ = KernelThreads.configure(nil)
        let weights = try model.load()
        let inputSize = size ?? weights.inputSize
        let (precision, note) = try self.precision.choice().resolve(for: weights)
        if let note { printNote(note) }
        let engine = InferenceEngine(network: try model.network(weights, precision: precision))
        defer { engine.shutdown() }
        let pipeline = InputPipeline(size: inputSize, dctDownscale: dctDownscale)

        var failures = 0
        // Files go to the engine concurrently, so it batches them, but at most two batches' worth at a time:
        // each decoded input is held until its prediction, so memory stays flat however many files are named.
        let window = 2 * engine.configuration.maxBatch
        let results = await withTaskGroup(of: (Int, Result<Prediction, Error>).self) { group in
            var results: [Int: Result<Prediction, Error>] = [:]
            for (index, path) in images.enumerated() {
                if index >= window, let (done, result) = await group.next() { results[done] = result }
                group.addTask {
                    do {
                        let input = try pipeline.input(from: try readFile(path, what: "the image", limit: imageFileLimit))
                        return (index, .success(try await engine.predict(input, size: inputSize)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            for await (done, result) in group { results[done] = result }
            return results
        }
        for (index, path) in images.enumerated() {
            switch results[index]! {
            case let .success(prediction):
                let ranked = prediction.topLabels(top, of: weights.labels)
                if json {
                    try printJSON(
                        EmbeddedFile(
                            file: path, labels: ranked.map { ScoredLabel(label: $0.label, score: $0.probability) },
                            embedding: prediction.embedding))
                } else {
                    print(
                        "\(FailureMessage.printable(path)): "
                            + ranked.map { "\($0.label) \(String(format: "%.3f", $0.probability))" }.joined(separator: ", "))
                }
            case let .failure(error):
                failures += 1
                // A file that could not be read is named by its error already; a decoding error names none.
                let subject = error is CommandFailure ? "" : "\(FailureMessage.printable(path)): "
                FileHandle.standardError.write(Data("error: \(subject)\(FailureMessage.text(for: error))\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// One line of `embed --json`.
private struct EmbeddedFile: Encodable {
    var file: String
    var labels: [ScoredLabel]
    /// As computed, not normalised.
    var embedding: [Float]
}
