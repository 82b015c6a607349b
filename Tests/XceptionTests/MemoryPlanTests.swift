import Testing
@testable import Xception

@Suite("Activation memory planning")
struct MemoryPlanTests {
    @Test("activations whose lifetimes do not overlap share the arena: a fraction of the unshared total", arguments: [150, 299])
    func arenaIsShared(size: Int) throws {
        let plan = try InferencePlan(weights: try Golden.network.get().weights, batch: 2, size: size, context: DNNLContext())
        let (shared, unshared) = plan.activationBytes
        // The widest moment of the network (block 2's separable convolutions plus the stem output kept for
        // the shortcut) needs a few activations at once; the other ~90 tensors reuse their bytes.
        #expect(shared > 0 && shared * 5 < unshared, "arena \(shared) bytes for \(unshared) bytes of activations")
    }
}
