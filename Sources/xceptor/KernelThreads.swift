import Foundation

/// The OpenMP settings oneDNN's kernels run with. libgomp reads them from the environment once, when the
/// process loads it (before any Swift code runs), so setting them later changes nothing: `configure` puts
/// them in the environment and has the process execute itself again, once, when they differ.
enum KernelThreads {
    /// How long an idle kernel thread spins before sleeping (libgomp's GOMP_SPINCOUNT, in pause
    /// instructions). Between the layers of a batch the next one starts within microseconds, which this
    /// covers; libgomp's default of 300,000 keeps a core spinning for milliseconds after every batch, taking
    /// it from the decoding that runs then. Sleeping at once (OMP_WAIT_POLICY=passive) made batches about
    /// 15% slower on a 2-core host.
    static let spinCount = "20000"
    /// Set in the environment of the re-executed process, so it never executes itself again.
    private static let marker = "XCEPTOR_KERNEL_SETTINGS"

    /// Makes the kernels use `threads` threads (default: OMP_NUM_THREADS if set, else every core) and the
    /// spin count above (unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set). Call it first thing in a
    /// command's run, before opening files or starting work. Returns the thread count.
    static func configure(_ threads: Int?) -> Int {
        let environment = ProcessInfo.processInfo.environment
        let count = threads ?? environment["OMP_NUM_THREADS"].flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        var wanted = ["OMP_NUM_THREADS": String(count)]
        if environment["OMP_WAIT_POLICY"] == nil, environment["GOMP_SPINCOUNT"] == nil { wanted["GOMP_SPINCOUNT"] = spinCount }
        let settings = wanted.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        guard wanted.contains(where: { environment[$0.key] != $0.value }), environment[marker] != settings else { return count }
        for (name, value) in wanted { setenv(name, value, 1) }
        setenv(marker, settings, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached if the executable cannot be run again: carry on with libgomp's defaults.
        return count
    }
}
