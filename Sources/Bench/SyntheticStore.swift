import Foundation
import Imaging
import Queue
import Search

/// A store of `count` done jobs with clustered random embeddings, stored through the queue as a worker
/// stores results: the collection the HTTP load benchmark searches. Not real images, so no model is needed.
public struct SyntheticStore: Sendable {
    public var path: String
    public var count: Int
    public var dimensions = 2048

    public init(path: String, count: Int) {
        self.path = path
        self.count = count
    }

    /// Fills the store; `progress` hears how many are stored so far.
    public func make(progress: (Int) -> Void) async throws {
        let store = try SQLiteJobStore(path: path)
        var random = SplitMix64(seed: 42)
        let centres = (0..<200).map { _ in (0..<dimensions).map { _ in Float(random.unit()) - 0.5 } }
        let labels = ["cup", "fork", "glass", "knife", "plate", "spoon"]
        // One small real JPEG for every thumbnail (what the thumbnail route serves is its bytes).
        let thumbnail = try RGBImage(width: 96, height: 64, pixels: (0..<96 * 64 * 3).map { UInt8($0 % 251) }).jpegData()
        let batch = 2000
        for start in stride(from: 0, to: count, by: batch) {
            let size = min(batch, count - start)
            _ = try await store.enqueue(
                (start..<start + size).map {
                    NewJob(url: "http://images.test/\($0).jpg", metadataJSON: #"{"shard":\#($0 % 10)}"#)
                })
            let claimed = try await store.claim(limit: size, leaseSeconds: 600, owner: "make-store")
            _ = try await store.complete(
                claimed.map { job in
                    let item = Int(job.id)
                    let centre = centres[item % centres.count]
                    var sha = [UInt8](repeating: 0, count: 32)
                    withUnsafeBytes(of: UInt64(item).littleEndian) { sha.replaceSubrange(0..<8, with: $0) }
                    return JobCompletion(
                        lease: job.lease,
                        result: JobResult(
                            image: ImageFacts(
                                sha256: sha, width: 640, height: 480, byteCount: 50_000, contentType: "image/jpeg", thumbnail: thumbnail),
                            modelID: "xception-synthetic@150",
                            embedding: centre.map { $0 + 0.15 * (Float(random.unit()) - 0.5) },
                            labels: [ScoredLabel(label: labels[item % labels.count], score: 0.9)]))
                })
            progress(start + size)
        }
    }
}
