/// The checks every driver makes on what its callers hand it, in one place, so that each driver refuses
/// the same things in the same words (`JobQueueConformanceTests` holds them to it), and the stored forms
/// both drivers share.
public enum StoreInput {
    /// Jobs to enqueue: each needs at least one attempt.
    public static func validate(_ jobs: [NewJob]) throws {
        if let bad = jobs.first(where: { $0.maxAttempts < 1 }) {
            throw QueueError.invalidArgument("max attempts must be at least 1 (got \(bad.maxAttempts) for \(bad.url))")
        }
    }

    /// A result to store: a whole SHA-256 and a finite, non-empty embedding.
    public static func validate(_ result: JobResult) throws {
        guard result.image.sha256.count == 32 else {
            throw QueueError.invalidArgument("image sha256 must be 32 bytes, got \(result.image.sha256.count)")
        }
        guard !result.embedding.isEmpty, result.embedding.allSatisfy(\.isFinite) else {
            throw QueueError.invalidArgument("an embedding must be non-empty and finite (model \(result.modelID))")
        }
        guard JobResult.precisions.contains(result.precision) else {
            throw QueueError.invalidArgument(
                "an embedding's precision must be one of \(JobResult.precisions.sorted().joined(separator: ", ")), not \(result.precision)")
        }
    }

    /// An image a copy brings in: a whole SHA-256, positive dimensions, and finite, non-empty embeddings.
    public static func validate(_ record: ImageRecord) throws {
        let image = record.image
        guard image.sha256.count == 32, image.width > 0, image.height > 0, image.byteCount >= 0 else {
            throw QueueError.invalidArgument(
                "image \(record.id) of the source is malformed (sha256 of \(image.sha256.count) bytes, \(image.width)x\(image.height))")
        }
        for embedding in record.embeddings where embedding.vector.isEmpty || !embedding.vector.allSatisfy(\.isFinite) {
            throw QueueError.invalidArgument(
                "image \(record.id) of the source has an empty or non-finite embedding by \(embedding.modelID)")
        }
        for embedding in record.embeddings where !JobResult.precisions.contains(embedding.precision) {
            throw QueueError.invalidArgument(
                "image \(record.id) of the source has an embedding by \(embedding.modelID) of unknown precision \(embedding.precision.prefix(20))"
            )
        }
    }

    /// A job a copy brings in: a valid state of its own, at least one attempt, a whole image hash.
    public static func validate(_ record: JobRecord) throws {
        guard record.job.maxAttempts >= 1, record.job.attempts >= 0, record.imageSHA256.map({ $0.count == 32 }) ?? true else {
            throw QueueError.invalidArgument("job \(record.job.id) (\(record.job.url)) of the source is malformed")
        }
    }

    /// A job as another store receives it: a running job's lease belongs to the other store's workers, so
    /// it arrives queued, its attempt given back, as a graceful release leaves it.
    public static func arriving(_ job: Job) -> Job {
        guard job.state == .running else { return job }
        var arriving = job
        arriving.state = .queued
        arriving.attempts = max(0, job.attempts - 1)
        arriving.leaseOwner = nil
        arriving.leaseExpiresAt = nil
        return arriving
    }

    public static func validateLease(seconds: Double, owner: String) throws {
        guard seconds > 0, seconds.isFinite else { throw QueueError.invalidArgument("lease seconds must be positive, got \(seconds)") }
        guard !owner.isEmpty else { throw QueueError.invalidArgument("a lease owner must have a name") }
    }

    /// A release's delay: at most a day (a host's longest pause is an hour).
    public static func validateDelay(seconds: Double) throws {
        guard seconds >= 0, seconds <= 86_400 else {
            throw QueueError.invalidArgument("a release delay must be 0 to 86400 seconds, got \(seconds)")
        }
    }

    /// An administrative selection by state names one of the states the action takes jobs from.
    public static func check(_ selection: JobSelection, takes states: Set<JobState>, _ refusal: String) throws {
        if case let .state(state) = selection, !states.contains(state) {
            throw QueueError.invalidArgument("\(refusal), not \(state.rawValue) ones")
        }
    }

    /// Error texts are for people, and a hostile server can make them long: keep the first 1,000 characters.
    public static func bounded(_ message: String) -> String {
        message.count <= 1000 ? message : String(message.prefix(1000)) + "…"
    }

    /// Vectors are stored as little-endian float32, the in-memory layout of every platform Swift runs on here.
    public static func bytes(_ vector: [Float]) -> [UInt8] {
        vector.withUnsafeBytes { Array($0) }
    }
}
