import Foundation
import Testing

@testable import Xception

/// int8 against fp32 on the kitchenware model: calibrated on the golden images (Keras's own preprocessed
/// inputs), checked on them and on a held-out set made from them here (mirror images with brighter or darker
/// pixels, which no calibration image is). Where oneDNN has no int8 kernels, int8 is refused up front.
@Suite("int8 precision", .serialized)
struct Int8Tests {
    /// Measured once for the suite (calibration runs the network three times over 36 images).
    static let measured: Result<(weights: ModelWeights, calibration: Calibration, inputs: [[Float]], heldOut: [[Float]]), Error> =
        Result {
            let weights = try Golden.network.get().weights
            let inputs = try Golden.names(size: 150).map { try Golden.floats($0, "input", size: 150) }
            let heldOut = inputs.enumerated().map { index, input in mirrored(input, size: 150, gain: index % 2 == 0 ? 0.8 : 1.2) }
            return (weights, try Calibration.measure(weights: weights, images: inputs, heldOut: heldOut, size: 150), inputs, heldOut)
        }

    /// `input` (normalised, HWC) mirrored left to right, with pixel values scaled by `gain` around black.
    static func mirrored(_ input: [Float], size: Int, gain: Float) -> [Float] {
        var output = input
        for y in 0..<size {
            for x in 0..<size {
                for channel in 0..<3 {
                    let value = input[(y * size + size - 1 - x) * 3 + channel]
                    output[(y * size + x) * 3 + channel] = min(1, max(-1, (value + 1) * gain - 1))
                }
            }
        }
        return output
    }

    static var int8Runs: Bool { Precision.int8.isSupported(context: try! DNNLContext()) }

    @Test("int8 keeps embeddings, top labels and neighbours within the gate on golden and held-out images")
    func gate() throws {
        guard Self.int8Runs else {
            #expect(throws: ModelError.unsupportedPrecision(.int8, instructionSet: DNNL.instructionSet)) {
                try XceptionNetwork(weights: try Golden.network.get().weights, precision: .int8, ranges: ActivationRanges())
            }
            return
        }
        let (_, calibration, _, _) = try Self.measured.get()
        for agreement in [calibration.gate.calibration, calibration.gate.heldOut] {
            #expect(agreement.images == 18)
            #expect(agreement.minimumCosine >= 0.99, "\(agreement.summary)")
            #expect(agreement.medianCosine >= 0.995, "\(agreement.summary)")
            #expect(agreement.decisiveImages >= 10 && agreement.decisiveAgreeing == agreement.decisiveImages, "\(agreement.summary)")
            #expect(agreement.neighbours == 10 && agreement.recall >= 0.95, "\(agreement.summary)")
        }
        #expect(calibration.gate.passed)
        // Every layer the int8 plan quantizes has a range, and none is zero or not finite.
        #expect(calibration.ranges.tensors.count > 80)
        #expect(calibration.ranges.tensors.values.allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test("the int8 network agrees with the gate's own figures and with Keras's top labels")
    func int8Network() throws {
        guard Self.int8Runs else { return }
        let (weights, calibration, inputs, _) = try Self.measured.get()
        var calibrated = weights
        calibrated.calibration = calibration
        let network = try XceptionNetwork(weights: calibrated, precision: .int8)
        #expect(network.precision == .int8)
        let names = try Golden.names(size: 150)
        let predictions = try network.predict(inputs, size: 150)
        for (name, prediction) in zip(names, predictions) {
            let logits = try Golden.floats(name, "logits", size: 150)
            let ranked = logits.indices.sorted { logits[$0] > logits[$1] }
            if logits[ranked[0]] - logits[ranked[1]] >= 1 {
                #expect(prediction.logits.indices.max { prediction.logits[$0] < prediction.logits[$1] } == ranked[0], "\(name)")
            }
            let keras = try Golden.floats(name, "embedding", size: 150)
            let dot = zip(prediction.embedding, keras).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let norms = prediction.embedding.reduce(0.0) { $0 + Double($1 * $1) } * keras.reduce(0.0) { $0 + Double($1 * $1) }
            #expect(dot / norms.squareRoot() >= 0.99, "\(name) against Keras")
        }
        // Batches of one and of several give the same answers (plans differ only in batch size).
        let single = try network.predict([inputs[3]], size: 150)[0]
        #expect(zip(single.embedding, predictions[3].embedding).allSatisfy { abs($0 - $1) <= 1e-3 * max(1, abs($1)) })
    }

    @Test("int8 is refused without calibration, and with a calibration whose gate failed, naming the figures")
    func refusals() throws {
        let weights = try Golden.network.get().weights
        #expect(throws: ModelError.notCalibrated) { try XceptionNetwork(weights: weights, precision: .int8) }
        #expect(ModelError.notCalibrated.description.contains("xceptor model calibrate"))
        guard Self.int8Runs else { return }
        // Ranges a tenth of what the images reach clip nearly every activation: a real int8 run that fails.
        let (_, calibration, inputs, heldOut) = try Self.measured.get()
        var clipped = calibration.ranges
        for key in clipped.tensors.keys { clipped.tensors[key]! /= 10 }
        let fp32 = try XceptionNetwork(weights: weights)
        let int8 = try XceptionNetwork(weights: weights, precision: .int8, ranges: clipped)
        let gate = AccuracyGate(
            calibration: .init(reference: try fp32.predict(inputs, size: 150), candidate: try int8.predict(inputs, size: 150)),
            heldOut: .init(reference: try fp32.predict(heldOut, size: 150), candidate: try int8.predict(heldOut, size: 150)))
        #expect(!gate.passed)
        var failing = weights
        failing.calibration = Calibration(ranges: clipped, inputSize: 150, gate: gate)
        #expect(throws: ModelError.failedAccuracyGate(gate.summary)) { try XceptionNetwork(weights: failing, precision: .int8) }
        #expect(ModelError.failedAccuracyGate(gate.summary).description.contains("cosine to fp32 min"))
        // `auto` never picks a failed int8.
        #expect(Precision.automatic(for: failing.calibration).precision != .int8)
        if Precision.cpuHasInt8DotProducts {
            #expect(Precision.automatic(for: calibration).precision == .int8)
        }
    }

    @Test("a calibrated model file is format 2, keeps the weights' id, reads back whole, and refuses bad ranges")
    func calibratedFile() throws {
        let (weights, calibration, _, _) = try Self.measured.get()
        let path = try ModelFileTests.scratch("kitchenware.xcm")
        defer { ModelFileTests.removeScratch(path) }
        try ModelFile.write(weights, to: path, source: "kitchenware")
        let uncalibratedID = try ModelFile.identifier(path, inputSize: 150)
        #expect(try formatVersion(path) == 1)

        let calibrated = path + ".int8"
        try ModelFile.writeCalibrated(calibration, from: path, to: calibrated)
        #expect(try formatVersion(calibrated) == 2)
        #expect(try ModelFile.identifier(calibrated, inputSize: 150) == uncalibratedID)
        #expect(try ModelFile.fingerprint(calibrated) != ModelFile.fingerprint(path))  // packed weights are not shared
        let loaded = try ModelFile.read(calibrated)
        #expect(loaded.calibration == calibration)
        #expect(loaded.convolutions == weights.convolutions && loaded.labels == weights.labels)
        // Calibrating a calibrated file again keeps the first file's id.
        try ModelFile.writeCalibrated(calibration, from: calibrated, to: calibrated)
        #expect(try ModelFile.identifier(calibrated, inputSize: 150) == uncalibratedID)

        // A range that is not a finite size is refused when the file is read (the checksum is made good).
        var hostile = loaded
        hostile.calibration!.ranges.tensors["block5_sepconv1/relu"] = -1
        try ModelFile.write(hostile, to: calibrated, weightsFingerprint: "0123456789abcdef")
        #expect {
            try ModelFile.read(calibrated)
        } throws: { error in
            "\(error)".contains("not finite, positive sizes; calibrate it again")
        }
    }

    private func formatVersion(_ path: String) throws -> UInt32 {
        let header = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)).readData(ofLength: 12)
        return header[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}
