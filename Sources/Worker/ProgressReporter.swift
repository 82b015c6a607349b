import Foundation
import Logging
import Queue

/// How a worker shows its progress.
public enum ProgressStyle: Sendable {
    /// A bar redrawn in place on standard error (for a terminal).
    case bar
    /// A structured log line every `intervalSeconds` (for journald, containers, files).
    case logLines(intervalSeconds: Double)
    case none
}

/// Reads the queue's counts (all workers on the store, not only this one) and shows done/total, the rate,
/// the ETA and the failures.
struct ProgressReporter: Sendable {
    let store: any JobQueue
    let metrics: WorkerMetrics
    let logger: Logger
    let style: ProgressStyle

    /// Runs until the task is cancelled.
    func run() async {
        let interval: Double
        switch style {
        case .bar: interval = 0.5
        case let .logLines(seconds): interval = seconds
        case .none: interval = 5
        }
        var rate = RateEstimate()
        while !Task.isCancelled {
            if let status = try? await store.status() {
                metrics.recordQueue(status)
                rate.add(finished: Self.finished(status), at: ContinuousClock.now)
                show(status, rate: rate.perSecond)
            }
            try? await Task.sleep(for: .seconds(interval))
        }
    }

    /// The last word, once the worker is done.
    func finish() async {
        guard let status = try? await store.status() else { return }
        if case .bar = style {
            FileHandle.standardError.write(Data((Self.bar(status, rate: nil) + "\n").utf8))
        }
    }

    private func show(_ status: QueueStatus, rate: Double?) {
        switch style {
        case .bar:
            FileHandle.standardError.write(Data(("\r" + Self.bar(status, rate: rate) + "\u{1B}[K").utf8))
        case .logLines:
            let remaining = Self.remaining(status)
            var metadata: Logger.Metadata = [
                "done": "\(status.counts[.done] ?? 0)", "failed": "\(Self.failures(status))",
                "remaining": "\(remaining)", "total": "\(status.total)", "in_flight": "\(metrics.jobsInFlightNow)",
            ]
            if let rate {
                metadata["images_per_s"] = "\(String(format: "%.1f", rate))"
                if rate > 0 { metadata["eta_s"] = "\(Int((Double(remaining) / rate).rounded()))" }
            }
            logger.info("progress", metadata: metadata)
        case .none:
            break
        }
    }

    static func bar(_ status: QueueStatus, rate: Double?) -> String {
        let total = max(status.total, 1)
        let finished = finished(status)
        let width = 30
        let filled = min(width, finished * width / total)
        var line = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
        line += "\(finished)/\(status.total) (\(finished * 100 / total)%)"
        if let rate {
            line += String(format: "  %.1f img/s", rate)
            if rate > 0 { line += "  ETA " + duration(Double(remaining(status)) / rate) }
        }
        line += "  failed \(failures(status))"
        return line
    }

    static func finished(_ status: QueueStatus) -> Int {
        (status.counts[.done] ?? 0) + failures(status)
    }

    static func failures(_ status: QueueStatus) -> Int {
        (status.counts[.failed] ?? 0) + (status.counts[.dead] ?? 0)
    }

    static func remaining(_ status: QueueStatus) -> Int {
        (status.counts[.queued] ?? 0) + (status.counts[.running] ?? 0)
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--" }
        let whole = Int(seconds.rounded())
        return whole >= 3600
            ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            : String(format: "%d:%02d", whole / 60, whole % 60)
    }
}

/// Finished jobs per second over the last ten seconds or so (nil until two readings exist).
struct RateEstimate {
    private var readings: [(finished: Int, at: ContinuousClock.Instant)] = []

    mutating func add(finished: Int, at instant: ContinuousClock.Instant) {
        readings.append((finished, instant))
        while readings.count > 2, instant - readings[1].at > .seconds(10) { readings.removeFirst() }
    }

    var perSecond: Double? {
        guard let first = readings.first, let last = readings.last, last.at > first.at else { return nil }
        let seconds = Double((last.at - first.at) / .milliseconds(1)) / 1000
        return Double(last.finished - first.finished) / seconds
    }
}
