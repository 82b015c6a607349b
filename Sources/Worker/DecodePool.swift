import Foundation
import Synchronization
import Xception

/// A fixed set of threads for CPU-heavy work (decoding and resizing), so it never occupies the
/// cooperative thread pool that the claim, fetch and store tasks need to stay responsive. Each item takes
/// its turn with the inference engine's batches (`CoreTurns`) rather than competing with them for the cores.
final class DecodePool: Sendable {
    private let work = Mutex<(items: [@Sendable () -> Void], stopped: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)
    private let threads: Int
    private let turns: CoreTurns

    init(threads: Int, turns: CoreTurns) {
        self.threads = max(1, threads)
        self.turns = turns
        for index in 0..<self.threads {
            let thread = Thread { [self] in
                // Named for top -H; Thread.name does not reach the OS on Linux.
                try? "xc-decode-\(index)".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                serve()
            }
            thread.start()
        }
    }

    /// Runs `body` on a pool thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = work.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.items.append { continuation.resume(with: Result { try body() }) }
                return true
            }
            if accepted {
                turns.announce()
                ready.signal()
            } else {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Lets the threads end once the work already submitted is done.
    func shutdown() {
        work.withLock { $0.stopped = true }
        for _ in 0..<threads { ready.signal() }
    }

    private func serve() {
        while true {
            ready.wait()
            let next = work.withLock { state -> (@Sendable () -> Void)? in
                state.items.isEmpty ? nil : state.items.removeFirst()
            }
            if let next {
                turns.take(next)
            } else if work.withLock({ $0.stopped }) {
                return
            }
        }
    }
}
