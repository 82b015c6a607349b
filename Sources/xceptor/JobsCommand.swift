import ArgumentParser
import Foundation
import Queue
import Retrieval
import Xception

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Inspect and manage individual jobs.",
        discussion: """
            A job in JSON: {"job", "url", "state", "priority", "attempts", "max_attempts", "last_error", "error_class", \
            "http_status", "lease_owner", "lease_expires_at", "available_at", "created_at", "updated_at", "finished_at", \
            "image_id", "metadata"}; times are ISO 8601 in UTC.
            """,
        subcommands: [List.self, Show.self, Retry.self, Requeue.self, Cancel.self, Purge.self]
    )
}

extension JobState: ExpressibleByArgument {}

/// How many jobs an administrative command changed, for --json.
private struct ChangedJobs: Encodable {
    var retried: Int?
    var cancelled: Int?
}

extension JobsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List jobs in id order.",
            discussion: "With --json, one job object per line (see 'xceptor jobs --help').")

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Only jobs in this state: queued, running, done, failed or dead.")
        var state: JobState?

        @Option(name: .long, help: "At most this many jobs (0: all).")
        var limit = 100

        @Option(name: .long, help: ArgumentHelp("Start after this job id (for paging).", valueName: "id"))
        var after: JobID?

        @Flag(name: .long, help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard limit >= 0 else { throw ValidationError("--limit cannot be negative") }
        }

        func run() async throws {
            let store = try await store.open()
            if !json { print("job      state    tries  url / last error") }
            for try await job in JobPages(store: store, state: state, after: after, limit: limit == 0 ? nil : limit) {
                if json {
                    try printJSON(job)
                    continue
                }
                print(
                    "\(String(job.id).padding(toLength: 8, withPad: " ", startingAt: 0)) "
                        + "\(job.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                        + "\("\(job.attempts)/\(job.maxAttempts)".padding(toLength: 6, withPad: " ", startingAt: 0)) \(FailureMessage.printable(job.url))"
                )
                if let error = job.lastError {
                    print("                        \(job.errorClass?.rawValue ?? "error"): \(FailureMessage.printable(error))")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one job in full, with its result if it is done.",
            discussion: """
                With --json, the job object (see 'xceptor jobs --help') with "result": null, or {"image": {"id", \
                "sha256", "width", "height", "bytes", "content_type", "has_thumbnail"}, "model", \
                "precision", "embedding_dimensions", "labels": [{"label", "score"}]}.
                """)

        @OptionGroup var store: StoreOptions

        @Argument(help: "The job id.")
        var id: JobID

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            guard let detail = try await JobDetail.load(id, from: try await store.open()) else {
                throw CommandFailure("no job \(id) in \(store.displayName); 'xceptor jobs list' shows the ids")
            }
            if json {
                try printJSON(detail)
                return
            }
            let job = detail.job
            let fields: [(String, String?)] = [
                ("job", "\(job.id)"), ("url", job.url), ("state", job.state.rawValue), ("priority", "\(job.priority)"),
                ("attempts", "\(job.attempts)/\(job.maxAttempts)"), ("last_error", job.lastError),
                ("error_class", job.errorClass?.rawValue), ("http_status", job.httpStatus.map(String.init)),
                ("lease_owner", job.leaseOwner), ("lease_expires_at", job.leaseExpiresAt.map(timestamp)),
                ("available_at", timestamp(job.availableAt)), ("created_at", timestamp(job.createdAt)),
                ("updated_at", timestamp(job.updatedAt)), ("finished_at", job.finishedAt.map(timestamp)),
                ("image_id", job.imageID.map(String.init)), ("metadata", job.metadataJSON),
            ]
            for (name, value) in fields {
                print("\(name.padding(toLength: 17, withPad: " ", startingAt: 0)) \(FailureMessage.printable(value ?? "-"))")
            }
            if let result = detail.result {
                print(
                    "result: image \(result.image.width)x\(result.image.height), \(result.image.byteCount) bytes, model \(result.modelID) in \(result.precision)"
                )
                for label in result.labels {
                    print(String(format: "  %-12@ %.4f", FailureMessage.printable(label.label), label.score))
                }
            }
        }

        private func timestamp(_ date: Date) -> String { JSONReport.timestamp(date) }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put failed or dead jobs back in the queue with a fresh set of attempts.",
            discussion: #"With --json: {"retried": N}."#)

        @OptionGroup var store: StoreOptions

        @Argument(help: "Job ids to retry.")
        var ids: [JobID] = []

        @Flag(name: .long, help: "Retry every failed job.")
        var failed = false

        @Flag(name: .long, help: "Retry every dead job.")
        var dead = false

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard !ids.isEmpty || failed || dead else {
                throw ValidationError("name job ids, or --failed and/or --dead for all of them")
            }
        }

        func run() async throws {
            let store = try await store.open()
            var retried = ids.isEmpty ? 0 : try await store.retry(.ids(ids))
            if failed { retried += try await store.retry(.state(.failed)) }
            if dead { retried += try await store.retry(.state(.dead)) }
            if json { try printJSON(ChangedJobs(retried: retried)) } else { print("retried \(retried) job(s)") }
        }
    }

    struct Requeue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue done jobs again for another model: those whose image it has not embedded yet.",
            discussion: """
                For a collection finished with one model and now to be embedded with another (imported with \
                'xceptor model import'): the jobs go back to the queue with a fresh set of attempts, and a \
                worker running that model embeds them. The earlier model's results stay, for search and export \
                with --model, until purged. With --json: {"requeued": N}.
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "The input size the worker will run the model at (default: the model's own).")
        var size: Int?

        @Argument(help: "Done job ids to queue again.")
        var ids: [JobID] = []

        @Flag(name: .long, help: "Queue again every done job the model has not embedded.")
        var all = false

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard !ids.isEmpty || all else { throw ValidationError("name job ids, or --all for every done job") }
            if let size, !(71...2048).contains(size) { throw ValidationError("--size must be 71-2048") }
        }

        func run() async throws {
            let inputSize = try size ?? model.load().inputSize
            let modelID = try ModelFile.identifier(model.path, inputSize: inputSize)
            let store = try await store.open()
            let requeued = try await store.requeue(all ? .state(.done) : .ids(ids), forModel: modelID)
            if json {
                try printJSON(["requeued": requeued])
            } else {
                print("queued \(requeued) job(s) again for \(modelID); run 'xceptor worker --model \(model.path)' on them")
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel queued jobs: they move to failed with the reason 'cancelled by an operator'.",
            discussion: #"Running jobs finish first; 'jobs retry' brings cancelled jobs back. With --json: {"cancelled": N}."#)

        @OptionGroup var store: StoreOptions

        @Argument(help: "Job ids to cancel.")
        var ids: [JobID] = []

        @Flag(name: .long, help: "Cancel every queued job.")
        var all = false

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard !ids.isEmpty || all else { throw ValidationError("name job ids, or --all for every queued job") }
        }

        func run() async throws {
            let store = try await store.open()
            let cancelled = all ? try await store.cancel(.state(.queued)) : try await store.cancel(.ids(ids))
            if json { try printJSON(ChangedJobs(cancelled: cancelled)) } else { print("cancelled \(cancelled) job(s)") }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete done jobs finished longer ago than a duration, with results no other job uses.",
            discussion: #"With --json: {"jobs": N, "images": N}."#)

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: ArgumentHelp("Age of the done jobs to delete: 90s, 15m, 12h, 7d, 2w.", valueName: "duration"))
        var olderThan: DurationArgument

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let counts = try await store.open().purgeDone(finishedBefore: Date().addingTimeInterval(-olderThan.seconds))
            if json {
                try printJSON(counts)
            } else {
                print("purged \(counts.jobs) done job(s) and \(counts.images) image(s) no job uses any more")
            }
        }
    }
}
