import Foundation
import Server
import Testing

/// Work that may hold a thread for long runs on threads of its own, whatever executor the server's tasks use.
@Suite("blocking work")
struct BlockingWorkTests {
    /// The kernel's name of the calling thread (the pool names its threads "xc-blocking-N").
    private static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What an operation awaits (a nonisolated async function) runs there too, also after it resumes.
    private static func namesAcrossAwaits() async -> [String] {
        var names = [threadName()]
        await Task.yield()
        names.append(threadName())
        try? await Task.sleep(for: .milliseconds(5))
        names.append(threadName())
        return names
    }

    @Test func operationsAndWhatTheyAwaitRunOnItsThreads() async throws {
        let outside = Self.threadName()
        #expect(!outside.hasPrefix("xc-blocking"))
        let names = try await BlockingWork.run { await Self.namesAcrossAwaits() }
        #expect(names.count == 3)
        for name in names { #expect(name.hasPrefix("xc-blocking-"), "ran on \(name)") }
    }

    @Test func manyOperationsAtOnceAllFinish() async throws {
        let sums = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<200 {
                group.addTask {
                    try await BlockingWork.run {
                        await Task.yield()
                        guard Self.threadName().hasPrefix("xc-blocking-") else { return -1 }
                        return (0...task).reduce(0, +)
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sums.sorted() == (0..<200).map { (0...$0).reduce(0, +) }.sorted())
    }

    @Test func errorsComeBackToTheCaller() async {
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await BlockingWork.run { throw Refused() } }
    }
}
