import Testing
@testable import Xception

@Suite("Activation memory planning")
struct MemoryPlanTests {
    @Test("the arena is close to the least possible (the peak of simultaneously live activations), far below unshared",
          arguments: [150, 299])
    func arenaIsNearOptimal(size: Int) throws {
        let plan = try InferencePlan(weights: try Golden.network.get().weights, batch: 2, size: size, context: DNNLContext())
        let (arena, peakLive, unshared) = plan.activationBytes
        #expect(arena >= peakLive, "tensors alive at the same time would overlap")
        #expect(Double(arena) <= 1.5 * Double(peakLive), "arena \(arena) bytes for a live peak of \(peakLive)")
        #expect(arena * 3 < unshared, "arena \(arena) bytes for \(unshared) bytes of activations")
    }
}
