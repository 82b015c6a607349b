import Foundation

/// Threads of their own for the work that may hold a thread for long: parsing a large enqueue, decoding an
/// uploaded or fetched image, loading the vectors at start.
///
/// `xceptor serve` runs its tasks on the event loops that also read and write the sockets (a request then
/// wakes no second thread). Work of many milliseconds there would stall every connection on that loop, health
/// checks included; under `BlockingWork.run` it stalls only its own request.
public enum BlockingWork {
    /// Runs `operation`, and whatever it awaits that has no executor of its own, on the blocking-work threads.
    public static func run<T>(_ operation: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(executor, operation: operation)
    }

    /// The executor itself, for a task started on it (`Task(executorPreference:)`).
    public static var executor: any TaskExecutor { pool }

    /// As many threads as cores: the work is CPU or disk, and a burst of uploads should use every core.
    private static let pool = ThreadPoolExecutor(threads: ProcessInfo.processInfo.activeProcessorCount, name: "xc-blocking")
}

/// A fixed set of threads that run the jobs of the tasks that prefer it, first come first served. The threads
/// live as long as the process (there is one such pool).
final class ThreadPoolExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is touched only with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(threads: Int, name: String) {
        for index in 0..<max(1, threads) {
            let thread = Thread { [self] in
                // Named for top -H; Thread.name does not reach the OS on Linux.
                try? "\(name)-\(index)".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                serve()
            }
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    private func serve() {
        while true {
            let job = condition.withLock {
                while jobs.isEmpty { condition.wait() }
                return jobs.removeFirst()
            }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
