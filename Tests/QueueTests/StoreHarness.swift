import Foundation
import PostgresStore
import Queue
import TestSupport

/// The drivers the conformance suites run against: every test of the store protocols runs on each.
enum StoreDriver: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    /// A new database on the tests' private PostgreSQL server (`PostgresTestServer`).
    case postgres
    var description: String { rawValue }
}

/// A fresh store on a real database, with a clock the test moves by hand and pinned jitter.
struct StoreHarness {
    let store: any JobStore
    let clock: ManualClock
    let directory: URL

    static let policy = RetryPolicy(baseDelaySeconds: 10, multiplier: 2, maxDelaySeconds: 100, jitterFraction: 0.2)

    init(_ driver: StoreDriver, unitRandom: Double = 0.5) async throws {
        clock = ManualClock()
        directory = try makeScratchDirectory("xceptor-store")
        let configuration = QueueConfiguration(retryPolicy: Self.policy, clock: clock, unitRandom: { unitRandom })
        switch driver {
        case .sqlite:
            store = try SQLiteJobStore(path: directory.appendingPathComponent("queue.sqlite").path, configuration: configuration)
        case .postgres:
            let url = try PostgresTestServer.shared().makeDatabase()
            store = try await PostgresJobStore.open(try PostgresLocation(parsing: url), configuration: configuration)
        }
    }

    /// Enqueues `urls` and returns their ids in order.
    @discardableResult
    func enqueue(_ urls: [String], priority: Int = 0, maxAttempts: Int = 3) async throws -> [JobID] {
        _ = try await store.enqueue(urls.map { NewJob(url: $0, priority: priority, maxAttempts: maxAttempts) })
        var ids: [JobID] = []
        for job in try await store.jobs(state: nil, afterID: nil, limit: 1_000_000) where urls.contains(job.url) {
            ids.append(job.id)
        }
        return ids
    }

    func state(of id: JobID) async throws -> Job {
        guard let job = try await store.job(id: id) else { throw HarnessError.missingJob(id) }
        return job
    }

    enum HarnessError: Error { case missingJob(JobID) }
}

/// A result like a worker would store.
func sampleResult(contentByte: UInt8, labels: [ScoredLabel] = [ScoredLabel(label: "cup", score: 0.9)]) -> JobResult {
    JobResult(
        image: ImageFacts(
            sha256: [UInt8](repeating: contentByte, count: 32), width: 640, height: 480,
            byteCount: 51_234, contentType: "image/jpeg", thumbnail: [0xFF, 0xD8, 0xFF]),
        modelID: "xception-kitchenware",
        embedding: (0..<2048).map { Float($0 % 7) * 0.25 },
        labels: labels)
}
