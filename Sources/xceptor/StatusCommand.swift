import ArgumentParser
import Foundation
import Queue

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show jobs per state, the oldest queued job, recent throughput, the most common errors and the store's size.",
        discussion: """
            With --json, one object: {"counts": {"queued", "running", "done", "failed", "dead"}, "total", \
            "waiting_for_retry", "expired_leases", "oldest_queued_age_seconds", "finished_last_minute", \
            "finished_last_10_minutes", "throughput_per_second": {"last_minute", "last_10_minutes"}, "top_errors": \
            [{"error_class", "error", "count"}], "store": {"total_bytes", "images", "embeddings", "embedding_bytes", \
            "thumbnail_bytes", "bytes_per_image"}}.
            """
    )

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Print one JSON object (shape above).")
    var json = false

    func run() async throws {
        let report = try await StoreStatus.load(from: try await store.open())
        let (status, footprint) = (report.queue, report.store)
        if json {
            try printJSON(report)
            return
        }

        print("jobs in \(FailureMessage.printable(store.displayName))")
        let notes: [JobState: String] = [
            .queued: status.waitingForRetry > 0 ? "\(status.waitingForRetry) waiting for a retry" : "",
            .running: status.expiredLeases > 0 ? "\(status.expiredLeases) with an expired lease" : "",
        ]
        for state in JobState.allCases {
            let count = status.counts[state] ?? 0
            let note = notes[state].flatMap { $0.isEmpty ? nil : "  (\($0))" } ?? ""
            print("  \(state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))\(String(count).leftPadded(to: 10))\(note)")
        }
        print("  total   \(String(status.total).leftPadded(to: 10))")
        if let age = status.oldestQueuedAgeSeconds {
            print("oldest queued job: \(humanDuration(age)) old")
        }
        print(
            String(
                format: "finished: %d in the last minute (%.1f/s), %d in the last 10 minutes (%.1f/s)",
                status.finishedLastMinute, Double(status.finishedLastMinute) / 60,
                status.finishedLastTenMinutes, Double(status.finishedLastTenMinutes) / 600))
        if !status.topErrors.isEmpty {
            print("most common errors (failed and dead jobs):")
            for error in status.topErrors {
                print(
                    "  \(String(error.count).leftPadded(to: 8))  \(error.errorClass?.rawValue ?? "-")  \(FailureMessage.printable(error.message))"
                )
            }
        }
        var size = "store: \(Self.bytes(footprint.totalBytes)), \(footprint.images) images, \(footprint.embeddings) embeddings"
        if let perImage = footprint.bytesPerImage { size += " (\(Self.bytes(perImage)) per image)" }
        print(size)
    }

    /// "12.3 MB", "4.1 KB", "512 B".
    static func bytes(_ count: Int64) -> String {
        switch count {
        case 1_000_000_000...: return String(format: "%.2f GB", Double(count) / 1e9)
        case 1_000_000...: return String(format: "%.1f MB", Double(count) / 1e6)
        case 1000...: return String(format: "%.1f KB", Double(count) / 1e3)
        default: return "\(count) B"
        }
    }
}

/// Columns of a text table: padded with spaces, never cut (unlike `padding(toLength:)`).
extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    func rightPadded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
