import ArgumentParser
import CMalloc
import Foundation
import NIOCore
import NIOPosix

@main
struct Xceptor: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "xceptor",
        abstract: "Turn lists of image URLs into searchable Xception embeddings.",
        discussion: """
            Jobs (one image URL each) live in a queue: a SQLite file by default, or PostgreSQL for workers on many hosts \
            (--db or XCEPTOR_DB, a path or a postgres:// URL). Add URLs with \
            'enqueue', embed them with 'worker', watch them with 'status' and 'jobs', query the results with \
            'search', 'duplicates' and 'export', classify files with 'embed' (after 'model fetch'), and measure \
            with 'bench'. Commands that report take --json: one object per line, snake_case keys, 'job' for job ids.

            Exit status: 0 success; 1 a runtime failure (an unknown job, a missing database or model, a server \
            that refused, a full disk), said in one line on standard error; 64 a usage mistake (an unknown or \
            malformed flag), with the usage; 130 a worker stopped by a second signal.
            """,
        version: version,
        subcommands: [
            EnqueueCommand.self, WorkerCommand.self, ServeCommand.self, StatusCommand.self, SearchCommand.self, IndexCommand.self,
            DuplicatesCommand.self,
            ExportCommand.self, JobsCommand.self, EmbedCommand.self, ModelCommand.self, MigrateCommand.self, CopyCommand.self,
            BenchCommand.self,
        ]
    )

    static func main() async {
        keepFreedMemoryMapped()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)  // usage mistakes: 64 with the usage; --help and --version: 0
        }
        if command is BenchCommand.QueueDrain { runTasksOnOneEventLoop() }
        if command is ServeCommand { runTasksOnEventLoops() }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch  where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // The parser's own: --help and --version (parsed into a command that throws them), ExitCode,
            // CleanExit, and ValidationError for a usage mistake found while running.
            exit(withError: error)
        } catch {
            // A runtime failure: one line, no usage text (the flags were fine).
            FileHandle.standardError.write(Data("error: \(FailureMessage.text(for: error))\n".utf8))
            Foundation.exit(1)
        }
    }

    /// A process that only talks to the store (`bench queue-drain`) runs its tasks on the one thread that
    /// does its I/O, so a round trip wakes no second thread. On the 2 cores a local server shares with 16
    /// such children, the default executor's two hops per call cost about 13% of the claim+complete rate
    /// (`bench queue --processes 16`). Not for processes whose tasks compute (worker, embed).
    private static func runTasksOnOneEventLoop() {
        NIOSingletons.groupLoopCountSuggestion = 1
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// `serve` runs its tasks on the event loops that do its sockets' I/O, one per core, so a request's handler
    /// runs on the thread that read it and answers without a hop to the cooperative pool and back. With wrk
    /// on 100k embeddings (2 cores, 3 alternating rounds): `GET /v1/jobs/{id}` at 4 connections p50 0.42-0.51
    /// against 0.51-0.58 ms and p99 1.0-1.9 against 2.6-3.6 ms; search by job at 4 connections p50 1.8-2.0
    /// against 2.1-2.2 ms. What may hold a thread for long runs under `BlockingWork` instead.
    private static func runTasksOnEventLoops() {
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// glibc hands freed memory above 128 KiB back to the kernel at once; SQLite frees its statement journal
    /// after every multi-row statement, so each queue transaction then page-faults it back in. Keeping up
    /// to 64 MiB mapped made claim+complete up to 1.8x faster with 4 processes (`xceptor bench queue`).
    private static func keepFreedMemoryMapped() {
        #if os(Linux)
            _ = mallopt(M_TRIM_THRESHOLD, 64 << 20)
        #endif
    }
}

/// Setting the trim threshold (see `Xceptor`) freezes glibc's mmap threshold at 128 KiB, so every decoded
/// image (megabytes, one per job) would be a fresh mapping, page-faulted and zeroed: that doubled the
/// worker's system time. The worker sets this once its model is loaded, so that the load-time buffers were
/// still unmapped when freed; `bench decode` sets it too, to measure what the worker spends.
func keepImageBuffersOnHeap() {
    #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
    #endif
}
