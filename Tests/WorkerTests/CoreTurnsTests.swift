import Foundation
import Synchronization
import Testing

@testable import Worker

@Suite("Side work takes turns with the network's batches")
struct CoreTurnsTests {
    @Test("no side item starts during a batch; after it exactly the batch's count run; while idle the rest run")
    func turns() async throws {
        let turns = CoreTurns()
        let ran = Atomic<Int>(0)
        let everyone = DispatchGroup()
        turns.networkWillRun()
        for _ in 0..<5 {
            turns.announce()
            DispatchQueue.global().async(group: everyone) { turns.take { _ = ran.add(1, ordering: .relaxed) } }
        }
        try await Task.sleep(for: .milliseconds(100))
        let duringBatch = ran.load(ordering: .relaxed)
        #expect(duringBatch == 0, "side work ran during a batch")

        turns.networkDidRun(images: 2, longest: 10)
        let afterTurn = ran.load(ordering: .relaxed)
        #expect(afterTurn == 2, "the turn after a batch of 2 lets 2 items run and waits for them")
        try await Task.sleep(for: .milliseconds(100))
        let beforeNextBatch = ran.load(ordering: .relaxed)
        #expect(beforeNextBatch == 2, "no item starts between the turn and the next batch")

        turns.networkIdle()
        everyone.wait()
        let all = ran.load(ordering: .relaxed)
        #expect(all == 5)
    }

    @Test("a batch starts only once the side items already running have finished")
    func batchWaitsForRunningItems() {
        let turns = CoreTurns()
        let finished = Atomic<Bool>(false)
        let started = DispatchSemaphore(value: 0)
        turns.announce()
        DispatchQueue.global().async {
            turns.take {
                started.signal()
                Thread.sleep(forTimeInterval: 0.2)
                finished.store(true, ordering: .relaxed)
            }
        }
        started.wait()
        turns.networkWillRun()
        let itemDone = finished.load(ordering: .relaxed)
        #expect(itemDone, "the batch began while a side item was still running")
    }

    @Test("a turn ends when nothing more is announced, and at its time limit")
    func turnEndsEarly() {
        let turns = CoreTurns()
        turns.networkWillRun()
        let start = Date()
        turns.networkDidRun(images: 8, longest: 10)
        #expect(Date().timeIntervalSince(start) < 1, "no side work waiting: the network goes on at once")

        turns.announce()  // announced, but nobody takes it: the turn ends at its limit
        let limited = Date()
        turns.networkDidRun(images: 8, longest: 0.2)
        let waited = Date().timeIntervalSince(limited)
        #expect(waited >= 0.15 && waited < 5, "waited \(waited) s")
    }
}
