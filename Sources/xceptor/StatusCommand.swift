import ArgumentParser
import Foundation
import Queue

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show jobs per state, the oldest queued job, recent throughput and the most common errors."
    )

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Print one JSON object with the counts under their state names.")
    var json = false

    func run() async throws {
        let status = try await store.open().status()
        let perSecondLastMinute = Double(status.finishedLastMinute) / 60
        let perSecondLastTenMinutes = Double(status.finishedLastTenMinutes) / 600
        if json {
            var object: [String: Any] = [
                "total": status.total,
                "waiting_for_retry": status.waitingForRetry,
                "expired_leases": status.expiredLeases,
                "oldest_queued_age_seconds": jsonValue(status.oldestQueuedAgeSeconds),
                "finished_last_minute": status.finishedLastMinute,
                "finished_last_10_minutes": status.finishedLastTenMinutes,
                "throughput_per_second": ["last_minute": perSecondLastMinute, "last_10_minutes": perSecondLastTenMinutes],
                "top_errors": status.topErrors.map {
                    ["error_class": jsonValue($0.errorClass?.rawValue), "error": $0.message, "count": $0.count]
                },
            ]
            for state in JobState.allCases { object[state.rawValue] = status.counts[state] ?? 0 }
            printJSON(object)
            return
        }

        print("jobs in \(store.location)")
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
        print(String(format: "finished: %d in the last minute (%.1f/s), %d in the last 10 minutes (%.1f/s)",
                     status.finishedLastMinute, perSecondLastMinute, status.finishedLastTenMinutes, perSecondLastTenMinutes))
        if !status.topErrors.isEmpty {
            print("most common errors (failed and dead jobs):")
            for error in status.topErrors {
                print("  \(String(error.count).leftPadded(to: 8))  \(error.errorClass?.rawValue ?? "-")  \(error.message)")
            }
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
