import Digests
import Fetch
import Foundation
import Imaging
import Queue
import Xception

/// How one job ended.
enum JobOutcome: Sendable {
    case done(JobResult)
    case failed(JobFailure)
    /// Not the job's fault (its host asked for a pause): back to the queue for this long, no attempt counted.
    case deferred(seconds: Double, reason: String)
}

/// One job from URL to result: fetch, hash, reuse a stored result for known bytes, else decode on the pool
/// and run the shared engine. Throws only `CancellationError` (shutdown past the grace period); every other
/// problem becomes a classified failure.
struct JobProcessor: Sendable {
    let fetcher: Fetcher
    let engine: InferenceEngine
    let store: any JobQueue
    let pool: DecodePool
    let pipeline: InputPipeline
    let labels: [String]
    let modelID: String
    let configuration: WorkerConfiguration
    let metrics: WorkerMetrics
    let recentContent: RecentContent
    let bodyMemory: MemoryPool
    let decodeMemory: MemoryPool

    func process(_ job: ClaimedJob) async throws -> JobOutcome {
        // The largest body the fetcher lets through is reserved before the fetch; the rest is given back
        // once the real size is known, and that is held until the job ends.
        var heldForBody = fetcher.configuration.maxDecodedBytes
        await bodyMemory.reserve(heldForBody)
        defer { bodyMemory.release(heldForBody) }
        let fetchStart = ContinuousClock.now
        let resource: FetchedResource
        do {
            resource = try await abandoningOnCancel { [fetcher] in try await fetcher.fetch(job.url) }
            bodyMemory.release(heldForBody - resource.body.count)
            heldForBody = resource.body.count
        } catch let failure as FetchFailure {
            if let seconds = failure.deferSeconds { return .deferred(seconds: seconds, reason: failure.message) }
            return .failed(
                JobFailure(
                    message: failure.message, errorClass: failure.isTransient ? .transient : .permanent,
                    httpStatus: failure.httpStatus, retryAfterSeconds: failure.retryAfterSeconds))
        }
        metrics.record(.fetch, since: fetchStart)
        metrics.fetchedBytes.increment(by: resource.body.count)

        // Two URLs serving the same bytes share one embedding: at the same time (one computation, both
        // wait for it), shortly after each other (the recent results), or much later (the store).
        let sha256 = SHA256.hash(resource.body)
        let shared = await recentContent.result(for: sha256) { await embed(resource, sha256: sha256) }
        switch try await abandoningOnCancel({ await shared.value }) {
        case let .success(result): return .done(result)
        case let .failure(failure): return .failed(failure)
        }
    }

    private func embed(_ resource: FetchedResource, sha256: [UInt8]) async -> Result<JobResult, JobFailure> {
        if let stored = try? await store.storedResult(sha256: sha256, modelID: modelID) {
            metrics.reusedResults.increment()
            return .success(stored)
        }
        // A bound on what the decode holds at its peak, from the header, reserved before it starts (an
        // unreadable header fails at once in the decoder, and needs little).
        let size = try? ImageDecoder().dimensions(resource.body)
        let decodeBytes = size.map { MemoryBudget.decodeBytes(width: $0.width, height: $0.height) } ?? 1 << 20
        await decodeMemory.reserve(decodeBytes)
        defer { decodeMemory.release(decodeBytes) }
        let decodeStart = ContinuousClock.now
        let decoded: DecodedImage
        do {
            decoded = try await pool.run { [pipeline, configuration] in
                try DecodedImage(resource.body, pipeline: pipeline, thumbnailSide: configuration.thumbnailSide)
            }
        } catch let error as ImageError {
            return .failure(JobFailure(message: "\(error) (from \(resource.url))", errorClass: .permanent, httpStatus: resource.status))
        } catch {
            return .failure(JobFailure(message: "decoding stopped: \(error)", errorClass: .transient))
        }
        metrics.record(.decode, since: decodeStart)

        let inferenceStart = ContinuousClock.now
        let prediction: Prediction
        do {
            prediction = try await engine.predict(decoded.input, size: configuration.inputSize)
        } catch {
            // The engine failing is this host's problem, not the image's: another attempt may succeed.
            return .failure(JobFailure(message: "inference failed: \(error)", errorClass: .transient))
        }
        metrics.record(.inference, since: inferenceStart)

        return .success(
            JobResult(
                image: ImageFacts(
                    sha256: sha256, width: decoded.width, height: decoded.height, byteCount: resource.body.count,
                    contentType: resource.contentType, thumbnail: decoded.thumbnail),
                modelID: modelID,
                embedding: prediction.embedding,
                labels: prediction.topLabels(configuration.topLabels, of: labels).map {
                    ScoredLabel(label: $0.label, score: $0.probability)
                },
                precision: engine.network.precision.rawValue))
    }
}

/// What the decode pool makes of fetched bytes: the model input, the facts and a thumbnail.
struct DecodedImage: Sendable {
    var width: Int
    var height: Int
    var input: [Float]
    var thumbnail: [UInt8]?

    init(_ bytes: [UInt8], pipeline: InputPipeline, thumbnailSide: Int) throws {
        let prepared = try pipeline.prepare(bytes, keepingAtLeast: thumbnailSide)
        (width, height, input) = (prepared.width, prepared.height, prepared.input)
        // A thumbnail is a convenience: an image that cannot be re-encoded is still embedded.
        thumbnail =
            thumbnailSide > 0 ? try? prepared.decoded.thumbnail(maxSide: thumbnailSide, resampling: prepared.resized).jpegData() : nil
    }
}

/// Results by content hash, for the jobs in flight and the last few hundred finished: bounded, oldest out.
actor RecentContent {
    private var results: [[UInt8]: Task<Result<JobResult, JobFailure>, Never>] = [:]
    private var order: [[UInt8]] = []
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    /// The computation for `sha256`: one already started or finished, else `compute` started now.
    func result(for sha256: [UInt8], compute: @escaping @Sendable () async -> Result<JobResult, JobFailure>)
        -> Task<Result<JobResult, JobFailure>, Never>
    {
        if let running = results[sha256] { return running }
        let task = Task { await compute() }
        results[sha256] = task
        order.append(sha256)
        if order.count > capacity { results[order.removeFirst()] = nil }
        return task
    }
}
