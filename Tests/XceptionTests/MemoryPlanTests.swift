import Testing

@testable import Xception

@Suite("Activation memory planning")
struct MemoryPlanTests {
    @Test(
        "the arena is close to the least possible (the peak of simultaneously live activations), far below unshared",
        arguments: [150, 299])
    func arenaIsNearOptimal(size: Int) throws {
        let plan = try InferencePlan(weights: try Golden.network.get().weights, batch: 2, size: size, context: DNNLContext())
        let (arena, peakLive, unshared) = plan.activationBytes
        #expect(arena >= peakLive, "tensors alive at the same time would overlap")
        #expect(Double(arena) <= 1.5 * Double(peakLive), "arena \(arena) bytes for a live peak of \(peakLive)")
        #expect(arena * 3 < unshared, "arena \(arena) bytes for \(unshared) bytes of activations")
    }
}

@Suite("Packed weights shared between plans")
struct SharedWeightsTests {
    @Test("plans for batches of 1, 3 and 8 hold one packed copy of the weights between them")
    func oneCopy() throws {
        let network = try XceptionNetwork(weights: try Golden.network.get().weights)
        let image = try Golden.floats("0412", "input", size: 150)
        _ = try network.predict([image], size: 150)
        let afterFirstPlan = network.packedWeightCount
        #expect(afterFirstPlan > 100)  // every convolution's kernel and bias, every depthwise kernel
        for batch in [3, 8] {
            let predictions = try network.predict(Array(repeating: image, count: batch), size: 150)
            #expect(worstExcess(predictions[batch - 1].embedding, try Golden.floats("0412", "embedding", size: 150)).excess <= 0)
        }
        #expect(network.packedWeightCount == afterFirstPlan)
    }
}

@Suite("Per-layer profile")
struct LayerProfileTests {
    @Test("every convolution of the network is one timed step under its Keras name, and the steps' FLOPs add up to the network's")
    func coversTheNetwork() throws {
        let network = try XceptionNetwork(weights: try Golden.network.get().weights)
        let steps = try network.profile(batch: 2, size: 150, iterations: 1)
        let weights = network.weights
        for name in weights.convolutions.keys {
            #expect(steps.contains { $0.layer == name && ($0.kind == "pointwise" || $0.kind.hasPrefix("conv ")) }, "\(name)")
        }
        for name in weights.depthwise.keys {
            #expect(steps.filter { $0.layer == name && $0.kind == "depthwise" }.count == 1, "\(name)")
        }
        #expect(steps.allSatisfy { $0.milliseconds > 0 && $0.milliseconds.isFinite })
        let flops = steps.reduce(0) { $0 + $1.flops }
        #expect(abs(flops - 2 * XceptionNetwork.flopsPerImage(size: 150)) < 1, "\(flops)")
        // The plan profiled is the one predictions use: it still answers as Keras does.
        let image = try Golden.floats("0412", "input", size: 150)
        let prediction = try network.predict([image, image], size: 150)[0]
        #expect(worstExcess(prediction.embedding, try Golden.floats("0412", "embedding", size: 150)).excess <= 0)
    }
}
