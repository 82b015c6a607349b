import ArgumentParser
import Foundation
import Queue

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Inspect and manage individual jobs.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self, Purge.self]
    )
}

extension JobState: ExpressibleByArgument {}

/// The JSON form of a job, shared by `jobs list --json` and `jobs show --json`.
private func jsonObject(_ job: Job) -> [String: Any] {
    var metadata: Any = NSNull()
    if let text = job.metadataJSON, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) {
        metadata = object
    }
    return [
        "id": job.id, "url": job.url, "state": job.state.rawValue, "priority": job.priority,
        "attempts": job.attempts, "max_attempts": job.maxAttempts,
        "last_error": jsonValue(job.lastError), "error_class": jsonValue(job.errorClass?.rawValue),
        "http_status": jsonValue(job.httpStatus), "lease_owner": jsonValue(job.leaseOwner),
        "lease_expires_at": iso8601(job.leaseExpiresAt), "available_at": iso8601(job.availableAt),
        "created_at": iso8601(job.createdAt), "updated_at": iso8601(job.updatedAt),
        "finished_at": iso8601(job.finishedAt), "image_id": jsonValue(job.imageID), "metadata": metadata,
    ]
}

extension JobsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs in id order.")

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Only jobs in this state: queued, running, done, failed or dead.")
        var state: JobState?

        @Option(name: .long, help: "At most this many jobs (0: all).")
        var limit = 100

        @Option(name: .long, help: ArgumentHelp("Start after this job id (for paging).", valueName: "id"))
        var after: JobID?

        @Flag(name: .long, help: "Print one JSON object per line.")
        var json = false

        func run() async throws {
            let store = try store.open()
            var remaining = limit == 0 ? Int.max : limit
            var after = self.after
            if !json { print("id       state    tries  url / last error") }
            // Pages keep memory flat however many jobs are listed.
            while remaining > 0 {
                let page = try await store.jobs(state: state, afterID: after, limit: min(remaining, 1000))
                for job in page {
                    if json {
                        printJSON(jsonObject(job))
                    } else {
                        print("\(String(job.id).padding(toLength: 8, withPad: " ", startingAt: 0)) "
                              + "\(job.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                              + "\("\(job.attempts)/\(job.maxAttempts)".padding(toLength: 6, withPad: " ", startingAt: 0)) \(job.url)")
                        if let error = job.lastError {
                            print("                        \(job.errorClass?.rawValue ?? "error"): \(error)")
                        }
                    }
                }
                guard let last = page.last, page.count == min(remaining, 1000) else { break }
                remaining -= page.count
                after = last.id
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job in full, with its result if it is done.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The job id.")
        var id: JobID

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let store = try store.open()
            guard let job = try await store.job(id: id) else {
                throw ValidationError("no job \(id) in \(self.store.location); 'xceptor jobs list' shows the ids")
            }
            let result = try await store.result(forJob: id)
            var object = jsonObject(job)
            if let result {
                object["result"] = [
                    "image": [
                        "id": result.imageID, "sha256": result.image.sha256.map { String(format: "%02x", $0) }.joined(),
                        "width": result.image.width, "height": result.image.height, "bytes": result.image.byteCount,
                        "content_type": jsonValue(result.image.contentType), "has_thumbnail": result.image.thumbnail != nil,
                    ] as [String: Any],
                    "model": result.modelID, "embedding_dimensions": result.embedding.count,
                    "labels": result.labels.map { ["label": $0.label, "score": $0.score] as [String: Any] },
                ] as [String: Any]
            }
            if json {
                printJSON(object)
                return
            }
            for key in object.keys.sorted() where key != "result" {
                let value = key == "metadata" ? job.metadataJSON : (object[key] is NSNull ? nil : "\(object[key]!)")
                print("\(key.padding(toLength: 17, withPad: " ", startingAt: 0)) \(value ?? "-")")
            }
            if let result {
                print("result: image \(result.image.width)x\(result.image.height), \(result.image.byteCount) bytes, model \(result.modelID)")
                for label in result.labels {
                    print(String(format: "  %-12@ %.4f", label.label, label.score))
                }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put failed or dead jobs back in the queue with a fresh set of attempts.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "Job ids to retry.")
        var ids: [JobID] = []

        @Flag(name: .long, help: "Retry every failed job.")
        var failed = false

        @Flag(name: .long, help: "Retry every dead job.")
        var dead = false

        func validate() throws {
            guard !ids.isEmpty || failed || dead else {
                throw ValidationError("name job ids, or --failed and/or --dead for all of them")
            }
        }

        func run() async throws {
            let store = try store.open()
            var retried = ids.isEmpty ? 0 : try await store.retry(.ids(ids))
            if failed { retried += try await store.retry(.state(.failed)) }
            if dead { retried += try await store.retry(.state(.dead)) }
            print("retried \(retried) job(s)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel queued jobs: they move to failed with the reason 'cancelled by an operator'.",
            discussion: "Running jobs finish first; 'jobs retry' brings cancelled jobs back.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "Job ids to cancel.")
        var ids: [JobID] = []

        @Flag(name: .long, help: "Cancel every queued job.")
        var all = false

        func validate() throws {
            guard !ids.isEmpty || all else { throw ValidationError("name job ids, or --all for every queued job") }
        }

        func run() async throws {
            let store = try store.open()
            let cancelled = all ? try await store.cancel(.state(.queued)) : try await store.cancel(.ids(ids))
            print("cancelled \(cancelled) job(s)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete done jobs finished longer ago than a duration, with results no other job uses.")

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: ArgumentHelp("Age of the done jobs to delete: 90s, 15m, 12h, 7d, 2w.", valueName: "duration"))
        var olderThan: DurationArgument

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let counts = try await store.open().purgeDone(finishedBefore: Date().addingTimeInterval(-olderThan.seconds))
            if json {
                printJSON(["jobs": counts.jobs, "images": counts.images])
            } else {
                print("purged \(counts.jobs) done job(s) and \(counts.images) image(s) no job uses any more")
            }
        }
    }
}
