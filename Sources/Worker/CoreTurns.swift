import Foundation
import Xception

/// Lets CPU-heavy work beside the network (decoding, resizing) take turns with its batches instead of
/// competing with its threads for the cores.
///
/// The network's kernels split every layer evenly across all cores and meet at a barrier after it, so a
/// thread that takes a core away for a moment stalls them all at the next barrier. Run between batches
/// instead, on every core at once, the same work costs its own time and no more. So side items wait while
/// a batch runs; after each batch as many may run as the batch had images (the steady-state balance), for
/// at most as long as the batch took; and while the network waits for images, side work runs freely.
public final class CoreTurns: CoreSharing, @unchecked Sendable {
    // @unchecked: every property is touched only with `condition` locked.
    private let condition = NSCondition()
    /// Side items that may still start: 0 during a batch, the turn's size after it, unlimited while idle.
    private var allowance = Int.max
    private var announced = 0
    private var running = 0

    public init() {}

    /// Registers one item that will run through `take`, so the network waits for it in its turn.
    public func announce() {
        condition.withLock { announced += 1 }
    }

    /// Runs `body` (announced before) when the network lets side work run.
    public func take<T>(_ body: () throws -> T) rethrows -> T {
        condition.withLock {
            while allowance == 0 { condition.wait() }
            if allowance != .max { allowance -= 1 }
            announced -= 1
            running += 1
        }
        defer {
            condition.withLock {
                running -= 1
                condition.broadcast()
            }
        }
        return try body()
    }

    /// The network is waiting for images: side work may run without limit.
    public func networkIdle() {
        condition.withLock {
            allowance = .max
            condition.broadcast()
        }
    }

    /// Holds new side items back and waits for those still running: a batch sharing the cores would stall.
    public func networkWillRun() {
        condition.withLock {
            allowance = 0
            while running > 0 { condition.wait() }
        }
    }

    /// Lets up to `images` side items run and waits until they are done, nothing more is announced, or
    /// `longest` seconds passed.
    public func networkDidRun(images: Int, longest: Double) {
        condition.lock()
        defer { condition.unlock() }
        allowance = images
        condition.broadcast()
        let deadline = Date().addingTimeInterval(longest)
        while allowance > 0 && announced > 0 || running > 0, condition.wait(until: deadline) {}
        allowance = 0
    }
}
