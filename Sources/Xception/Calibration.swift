import Foundation

/// What `model calibrate` stores in a model file for int8: the largest magnitude each activation reached
/// over the calibration images (which sets its int8 scale), and how int8 with those scales compared with
/// fp32 (the accuracy gate). A model whose int8 failed the gate does not run in int8.
public struct Calibration: Sendable, Equatable, Codable {
    public var ranges: ActivationRanges
    /// The input size the images were calibrated at.
    public var inputSize: Int
    public var gate: AccuracyGate

    private enum CodingKeys: String, CodingKey {
        case ranges, gate
        case inputSize = "input_size"
    }

    public init(ranges: ActivationRanges, inputSize: Int, gate: AccuracyGate) {
        self.ranges = ranges
        self.inputSize = inputSize
        self.gate = gate
    }
}

/// The largest magnitude of each step's output in fp32 over the calibration images, by "layer/kind"
/// ("block4_sepconv1/relu").
public struct ActivationRanges: Sendable, Equatable, Codable {
    public var tensors: [String: Float] = [:]

    public init(tensors: [String: Float] = [:]) {
        self.tensors = tensors
    }
}

/// int8 against fp32 on the images that set the scales and on images held out from them.
public struct AccuracyGate: Sendable, Equatable, Codable {
    /// How close one precision's predictions came to fp32's over a set of images.
    public struct Agreement: Sendable, Equatable, Codable {
        public var images: Int
        /// Cosine similarity of each image's embedding to its fp32 embedding: the lowest and the median.
        public var minimumCosine: Double
        public var medianCosine: Double
        /// Images whose fp32 top two logits differ by at least `decisiveMargin` (where the top label is not
        /// a coin toss), and how many of them kept their top label.
        public var decisiveImages: Int
        public var decisiveAgreeing: Int
        /// For each image, its embedding searched among the other images' fp32 embeddings: the share of its
        /// fp32 embedding's `neighbours` nearest that it finds, averaged.
        public var recall: Double
        public var neighbours: Int

        private enum CodingKeys: String, CodingKey {
            case images, recall, neighbours
            case minimumCosine = "minimum_cosine"
            case medianCosine = "median_cosine"
            case decisiveImages = "decisive_images"
            case decisiveAgreeing = "decisive_agreeing"
        }

        /// Compares `candidate` predictions with `reference` (fp32) ones, image by image.
        public init(reference: [Prediction], candidate: [Prediction]) {
            precondition(reference.count == candidate.count)
            images = reference.count
            let cosines = zip(reference, candidate).map { cosine($0.embedding, $1.embedding) }.sorted()
            minimumCosine = cosines.first ?? 1
            medianCosine = cosines.isEmpty ? 1 : (cosines[(cosines.count - 1) / 2] + cosines[cosines.count / 2]) / 2
            decisiveImages = 0
            decisiveAgreeing = 0
            for (fp32, other) in zip(reference, candidate) {
                let ranked = fp32.logits.enumerated().sorted { $0.element > $1.element }
                guard ranked.count >= 2, Double(ranked[0].element - ranked[1].element) >= AccuracyGate.decisiveMargin else { continue }
                decisiveImages += 1
                if other.logits.indices.max(by: { other.logits[$0] < other.logits[$1] }) == ranked[0].offset { decisiveAgreeing += 1 }
            }
            let neighbours = min(AccuracyGate.neighbours, max(0, reference.count - 1))
            self.neighbours = neighbours
            var found = 0
            for query in reference.indices where neighbours > 0 {
                func nearest(_ embedding: [Float]) -> Set<Int> {
                    let others = reference.indices.filter { $0 != query }
                    let scored = others.map { ($0, cosine(embedding, reference[$0].embedding)) }
                    return Set(scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(neighbours).map(\.0))
                }
                found += nearest(reference[query].embedding).intersection(nearest(candidate[query].embedding)).count
            }
            recall = neighbours > 0 ? Double(found) / Double(neighbours * reference.count) : 1
        }

        /// Whether these figures meet the gate's thresholds.
        public var passes: Bool {
            minimumCosine >= AccuracyGate.minimumCosine && medianCosine >= AccuracyGate.medianCosine
                && decisiveAgreeing == decisiveImages && recall >= AccuracyGate.minimumRecall
        }

        /// One line, for logs and refusals.
        public var summary: String {
            String(
                format: "%d images: cosine to fp32 min %.4f, median %.4f; top label kept on %d of %d decisive images; recall@%d %.3f",
                images, minimumCosine, medianCosine, decisiveAgreeing, decisiveImages, neighbours, recall)
        }
    }

    public static let minimumCosine = 0.99
    public static let medianCosine = 0.995
    public static let minimumRecall = 0.95
    /// fp32 top-two logit gap from which an image's top label must not change.
    public static let decisiveMargin = 1.0
    public static let neighbours = 10

    public var calibration: Agreement
    public var heldOut: Agreement

    private enum CodingKeys: String, CodingKey {
        case calibration
        case heldOut = "held_out"
    }

    public init(calibration: Agreement, heldOut: Agreement) {
        self.calibration = calibration
        self.heldOut = heldOut
    }

    public var passed: Bool { calibration.passes && heldOut.passes }

    public var summary: String {
        "calibration set, \(calibration.summary); held-out set, \(heldOut.summary). The gate: cosine min >= \(Self.minimumCosine), "
            + "median >= \(Self.medianCosine), every decisive top label kept, recall@\(Self.neighbours) >= \(Self.minimumRecall)"
    }
}

private func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0
    var aa = 0.0
    var bb = 0.0
    for index in a.indices {
        dot += Double(a[index]) * Double(b[index])
        aa += Double(a[index]) * Double(a[index])
        bb += Double(b[index]) * Double(b[index])
    }
    return aa > 0 && bb > 0 ? dot / (aa * bb).squareRoot() : (aa == bb ? 1 : 0)
}

extension Calibration {
    /// Measures int8 scales for `weights` on `images` and the accuracy gate on them and on `heldOut` (both
    /// normalised `size`x`size` inputs, as `predict` takes them): runs fp32 step by step to find each
    /// activation's range, then compares int8 with those scales against fp32 on both sets.
    /// - Throws: `ModelError.unsupportedPrecision` where this CPU has no int8 kernels.
    public static func measure(weights: ModelWeights, images: [[Float]], heldOut: [[Float]], size: Int, batch: Int = 8) throws
        -> Calibration
    {
        guard !images.isEmpty else { throw ModelError.backend("calibration needs at least one image") }
        let fp32 = try XceptionNetwork(weights: weights, precision: .fp32, ranges: nil)
        func batches(_ set: [[Float]]) -> [[[Float]]] {
            stride(from: 0, to: set.count, by: batch).map { Array(set[$0..<min($0 + batch, set.count)]) }
        }
        // The step-by-step runs that measure the ranges also give fp32's predictions for the gate.
        var ranges = ActivationRanges()
        var reference: [Prediction] = []
        for images in batches(images) { reference += try fp32.measureRanges(images, size: size, into: &ranges) }
        let int8 = try XceptionNetwork(weights: weights, precision: .int8, ranges: ranges)
        func predictions(_ network: XceptionNetwork, _ set: [[Float]]) throws -> [Prediction] {
            try batches(set).flatMap { try network.predict($0, size: size) }
        }
        let gate = AccuracyGate(
            calibration: .init(reference: reference, candidate: try predictions(int8, images)),
            heldOut: .init(reference: try predictions(fp32, heldOut), candidate: try predictions(int8, heldOut)))
        return Calibration(ranges: ranges, inputSize: size, gate: gate)
    }
}
