import Foundation

/// The OpenMP settings oneDNN's kernels read when they first start, so they must be set before any
/// network is built.
enum KernelThreads {
    /// Sets the kernel thread count (default: every core) and makes idle kernel threads sleep rather than
    /// spin, which matters when fetching and decoding share the cores. Returns the thread count.
    static func configure(_ threads: Int?) -> Int {
        let count = threads ?? ProcessInfo.processInfo.activeProcessorCount
        setenv("OMP_NUM_THREADS", String(count), 1)
        setenv("OMP_WAIT_POLICY", ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "passive", 1)
        return count
    }
}
