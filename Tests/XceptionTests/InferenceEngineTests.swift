import Foundation
import Synchronization
import Testing
import Xception

@Suite("Inference engine: dynamic batches from concurrent callers", .serialized)
struct InferenceEngineTests {
    @Test("concurrent single-image calls are batched, each caller gets its own image's result, and the observer hears every batch")
    func batchesConcurrentCallers() async throws {
        let network = try Golden.network.get()
        let observed = Mutex<[(images: Int, seconds: Double)]>([])
        let engine = InferenceEngine(
            network: network,
            configuration: .init(
                maxBatch: 4, maxWaitSeconds: 0.05, queueCapacity: 16,
                batchObserver: { images, seconds in observed.withLock { $0.append((images, seconds)) } }))
        defer { engine.shutdown() }
        let names = Array(try Golden.names(size: 150).prefix(6))
        let inputs = try names.map { try Golden.floats($0, "input", size: 150) }

        // 12 callers, each image twice, all at once.
        let results = try await withThrowingTaskGroup(of: (Int, Prediction).self) { group in
            for call in 0..<12 {
                group.addTask { (call, try await engine.predict(inputs[call % inputs.count], size: 150)) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for call in 0..<12 {
            let name = names[call % names.count]
            let prediction = try #require(results[call])
            #expect(
                worstExcess(prediction.embedding, try Golden.floats(name, "embedding", size: 150)).excess <= 0, "call \(call) (\(name))")
            #expect(worstExcess(prediction.logits, try Golden.floats(name, "logits", size: 150)).excess <= 0, "call \(call) (\(name))")
        }
        let statistics = engine.statistics
        #expect(statistics.images == 12)
        #expect(statistics.largestBatch > 1 && statistics.largestBatch <= 4, "\(statistics)")
        #expect(statistics.batches < 12, "no batching happened: \(statistics)")
        // Told after each batch ran and before its callers resume: its size and a real duration.
        let batches = observed.withLock { $0 }
        #expect(batches.count == statistics.batches && batches.map(\.images).reduce(0, +) == 12, "\(batches)")
        #expect(batches.allSatisfy { $0.seconds > 0 && $0.seconds < 60 }, "\(batches)")
    }

    @Test("a full queue makes callers wait instead of growing: never more than its capacity waiting")
    func backpressure() async throws {
        let network = try Golden.network.get()
        let engine = InferenceEngine(network: network, configuration: .init(maxBatch: 2, maxWaitSeconds: 0.001, queueCapacity: 3))
        defer { engine.shutdown() }
        let input = try Golden.floats(try Golden.names(size: 150)[0], "input", size: 150)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { _ = try await engine.predict(input, size: 150) } }
            try await group.waitForAll()
        }
        let statistics = engine.statistics
        #expect(statistics.images == 10)
        #expect(statistics.deepestQueue <= 3, "\(statistics)")
    }

    @Test("images of different sizes are never mixed in one batch, and both sizes are answered")
    func mixedSizes() async throws {
        let network = try Golden.network.get()
        let engine = InferenceEngine(network: network, configuration: .init(maxBatch: 8, maxWaitSeconds: 0.05, queueCapacity: 8))
        defer { engine.shutdown() }
        let small = try Golden.floats("0004", "input", size: 150)
        let large = try Golden.floats("0004", "input", size: 299)
        async let a = engine.predict(small, size: 150)
        async let b = engine.predict(large, size: 299)
        let (first, second) = try await (a, b)
        #expect(worstExcess(first.embedding, try Golden.floats("0004", "embedding", size: 150)).excess <= 0)
        #expect(worstExcess(second.embedding, try Golden.floats("0004", "embedding", size: 299)).excess <= 0)
        #expect(engine.statistics.batches == 2)
    }

    @Test("after shutdown, calls fail with a clear error")
    func shutdown() async throws {
        let engine = InferenceEngine(network: try Golden.network.get())
        engine.shutdown()
        await #expect(throws: ModelError.self) { try await engine.predict([Float](repeating: 0, count: 150 * 150 * 3), size: 150) }
    }
}
