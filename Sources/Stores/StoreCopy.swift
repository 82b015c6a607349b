import Digests
import Foundation
import Queue

/// Moves a whole store into another (`xceptor copy`): SQLite to PostgreSQL, PostgreSQL to SQLite, several
/// files into one. Images go first (each with its embeddings, labels and thumbnail), then jobs, page by
/// page in id order; each page is one transaction in the destination that also records how far the copy
/// got, so a copy that was stopped (killed, a lost connection, a full disk) resumes at its last page when
/// run again. Records merge: an image whose hash the destination holds is the same image, a job whose URL
/// it holds is the same job (it takes the copied outcome only if it has no result of its own).
///
/// Then it verifies: every job and image of the source is read again and compared with what the
/// destination holds for its URL or hash, and both sides are summed into checksums.
public struct StoreCopy: Sendable {
    /// Images per page (each carries a 2048-float embedding per model and a thumbnail: ~20 KiB).
    public var imagesPerPage = 200
    public var jobsPerPage = 2_000

    public init() {}

    /// Copies `source` into `destination`; `sourceName` keys its checkpoint (`JobStores.sourceName`).
    /// `progress` hears the totals after every page.
    public func copy(
        from source: any JobStore, named sourceName: String, to destination: any JobStore,
        progress: @Sendable (CopyReport) -> Void = { _ in }
    ) async throws -> CopyReport {
        var checkpoint: TransferCheckpoint
        var report = CopyReport(source: sourceName)
        if let earlier = try await destination.transferCheckpoint(source: sourceName), !earlier.finished {
            checkpoint = earlier
            report.resumed = true
        } else {
            checkpoint = TransferCheckpoint(source: sourceName, keepIDs: try await destination.holdsNothing())
        }
        report.keptIDs = checkpoint.keepIDs
        // A resumed copy has already written the jobs before its checkpoint; their images came first.
        if checkpoint.afterJobID == nil {
            while true {
                let page = try await source.imageRecords(afterImageID: checkpoint.afterImageID, limit: imagesPerPage)
                guard let last = page.last else { break }
                checkpoint.afterImageID = last.id
                let tally = try await destination.importImages(page, keepIDs: checkpoint.keepIDs, checkpoint: checkpoint)
                report.images += tally.images
                report.embeddings += tally.embeddings
                progress(report)
            }
        }
        while true {
            let page = try await source.jobRecords(afterJobID: checkpoint.afterJobID, limit: jobsPerPage)
            guard let last = page.last else { break }
            checkpoint.afterJobID = last.job.id
            report.runningRequeued += page.count { $0.job.state == .running }
            report.jobs += try await destination.importJobs(page, keepIDs: checkpoint.keepIDs, checkpoint: checkpoint)
            progress(report)
        }
        checkpoint.finished = true
        _ = try await destination.importJobs([], keepIDs: checkpoint.keepIDs, checkpoint: checkpoint)
        report.verification = try await verify(source: source, destination: destination, strict: checkpoint.keepIDs)
        return report
    }

    /// Reads the source again and compares every record with the destination's. `strict`: the destination
    /// was empty before, so it must hold exactly the source's records; otherwise a record the destination
    /// already held in another form (its own embedding by the same model, its own outcome for a URL) is
    /// counted as kept, not as a failure.
    public func verify(source: any JobStore, destination: any JobStore, strict: Bool) async throws -> CopyVerification {
        var verification = CopyVerification(strict: strict)
        var sourceSum = ChecksumSum(), destinationSum = ChecksumSum()
        var afterImageID: Int64?
        while true {
            let page = try await source.imageRecords(afterImageID: afterImageID, limit: imagesPerPage)
            guard let last = page.last else { break }
            afterImageID = last.id
            let held = try await destination.imageRecords(sha256: page.map(\.image.sha256))
            let bySHA = Dictionary(held.map { ($0.image.sha256, $0) }, uniquingKeysWith: { first, _ in first })
            for record in page {
                verification.images += 1
                verification.embeddings += record.embeddings.count
                let expected = Canonical.image(record, models: Set(record.embeddings.map(\.modelID)))
                sourceSum.add(expected)
                guard let found = bySHA[record.image.sha256] else {
                    verification.missing += 1
                    verification.noteFirstProblem("image \(SHA256.hex(record.image.sha256)) is missing")
                    continue
                }
                let actual = Canonical.image(found, models: Set(record.embeddings.map(\.modelID)))
                destinationSum.add(actual)
                if actual != expected {
                    verification.differing += 1
                    verification.noteFirstProblem("image \(SHA256.hex(record.image.sha256)) differs")
                }
            }
        }
        var afterJobID: JobID?
        while true {
            let page = try await source.jobRecords(afterJobID: afterJobID, limit: jobsPerPage)
            guard let last = page.last else { break }
            afterJobID = last.job.id
            let held = try await destination.jobRecords(urls: page.map(\.job.url))
            let byURL = Dictionary(held.map { ($0.job.url, $0) }, uniquingKeysWith: { first, _ in first })
            for record in page {
                verification.jobs += 1
                let expected = Canonical.job(
                    JobRecord(job: StoreInput.arriving(record.job), imageSHA256: record.imageSHA256), withID: strict)
                sourceSum.add(expected)
                guard let found = byURL[record.job.url] else {
                    verification.missing += 1
                    verification.noteFirstProblem("job \(record.job.id) (\(record.job.url)) is missing")
                    continue
                }
                let actual = Canonical.job(found, withID: strict)
                destinationSum.add(actual)
                if actual != expected {
                    verification.differing += 1
                    verification.noteFirstProblem("job \(record.job.id) (\(record.job.url)) differs")
                }
            }
        }
        verification.sourceChecksum = sourceSum.hex
        verification.destinationChecksum = destinationSum.hex
        return verification
    }
}

/// What a copy did, and what its verification found; `xceptor copy --json` prints it.
public struct CopyReport: Sendable, Equatable, Encodable {
    public var source: String
    /// Whether this run continued a copy that had been stopped.
    public var resumed = false
    /// Whether records kept their ids (the destination was empty when the copy began).
    public var keptIDs = false
    public var images = TransferTally()
    public var embeddings = TransferTally()
    public var jobs = TransferTally()
    /// Running jobs of the source, which arrive queued (their leases belong to the source's workers).
    public var runningRequeued = 0
    public var verification: CopyVerification?

    public init(source: String) {
        self.source = source
    }

    private enum CodingKeys: String, CodingKey {
        case source, resumed, images, embeddings, jobs, verification
        case keptIDs = "kept_ids"
        case runningRequeued = "running_requeued"
    }
}

/// The source read again and compared, record by record, with the destination.
public struct CopyVerification: Sendable, Equatable, Encodable {
    /// Whether every difference is a failure (the destination was empty before the copy).
    public var strict: Bool
    public var jobs = 0
    public var images = 0
    public var embeddings = 0
    /// Source records the destination lacks.
    public var missing = 0
    /// Source records the destination holds in another form.
    public var differing = 0
    /// The first few problems, for the message.
    public var problems: [String] = []
    /// Order-independent sums of every compared record's SHA-256, on each side.
    public var sourceChecksum = ""
    public var destinationChecksum = ""

    init(strict: Bool) {
        self.strict = strict
    }

    /// Nothing missing, and (strict) nothing different.
    public var passed: Bool { missing == 0 && (!strict || differing == 0) }

    mutating func noteFirstProblem(_ problem: String) {
        if problems.count < 5 { problems.append(problem) }
    }

    private enum CodingKeys: String, CodingKey {
        case strict, jobs, images, embeddings, missing, differing, problems, passed
        case sourceChecksum = "source_checksum"
        case destinationChecksum = "destination_checksum"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(strict, forKey: .strict)
        try container.encode(jobs, forKey: .jobs)
        try container.encode(images, forKey: .images)
        try container.encode(embeddings, forKey: .embeddings)
        try container.encode(missing, forKey: .missing)
        try container.encode(differing, forKey: .differing)
        try container.encode(problems, forKey: .problems)
        try container.encode(passed, forKey: .passed)
        try container.encode(sourceChecksum, forKey: .sourceChecksum)
        try container.encode(destinationChecksum, forKey: .destinationChecksum)
    }
}

/// The bytes a record is compared and checksummed by: what a copy must carry over, in a form both drivers
/// give alike (metadata JSON with sorted keys, since PostgreSQL's jsonb rewrites spacing and key order).
enum Canonical {
    /// The image's facts and thumbnail, and its embeddings by `models` with their labels.
    static func image(_ record: ImageRecord, models: Set<String>) -> [UInt8] {
        var bytes = Writer()
        let image = record.image
        bytes.add(image.sha256)
        bytes.add(Int64(image.width))
        bytes.add(Int64(image.height))
        bytes.add(Int64(image.byteCount))
        bytes.add(image.contentType)
        bytes.add(image.thumbnail)
        for embedding in record.embeddings.sorted(by: { $0.modelID < $1.modelID }) where models.contains(embedding.modelID) {
            bytes.add(embedding.modelID)
            bytes.add(embedding.precision)
            bytes.add(StoreInput.bytes(embedding.vector))
            for label in embedding.labels {
                bytes.add(label.label)
                bytes.add(Int64(bitPattern: label.score.bitPattern))
            }
        }
        return bytes.bytes
    }

    /// Every field of the job but its image's id (its image by hash instead), and its own id when asked.
    static func job(_ record: JobRecord, withID: Bool) -> [UInt8] {
        var bytes = Writer()
        let job = record.job
        if withID { bytes.add(job.id) }
        bytes.add(job.url)
        bytes.add(job.state.rawValue)
        bytes.add(Int64(job.priority))
        bytes.add(Int64(job.attempts))
        bytes.add(Int64(job.maxAttempts))
        bytes.add(job.availableAt.storeMilliseconds)
        bytes.add(job.leaseOwner)
        bytes.add(job.leaseExpiresAt.map { String($0.storeMilliseconds) })
        bytes.add(job.lastError)
        bytes.add(job.errorClass?.rawValue)
        bytes.add(job.httpStatus.map(String.init))
        bytes.add(job.metadataJSON.map(sortedJSON))
        bytes.add(record.imageSHA256)
        bytes.add(job.createdAt.storeMilliseconds)
        bytes.add(job.updatedAt.storeMilliseconds)
        bytes.add(job.finishedAt.map { String($0.storeMilliseconds) })
        return bytes.bytes
    }

    private static func sortedJSON(_ text: String) -> String {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else { return text }
        return String(decoding: data, as: UTF8.self)
    }

    /// Length-prefixed fields, so that no two different records write the same bytes.
    private struct Writer {
        var bytes: [UInt8] = []

        mutating func add(_ value: Int64) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func add(_ value: [UInt8]?) {
            guard let value else { return add(Int64(-1)) }
            add(Int64(value.count))
            bytes.append(contentsOf: value)
        }

        mutating func add(_ value: String?) { add(value.map { Array($0.utf8) }) }
    }
}

/// An order-independent checksum: the SHA-256 of each record, added as a 256-bit number (wrapping), so both
/// sides sum to the same value whatever order their stores return records in.
struct ChecksumSum {
    private var lanes: [UInt64] = [0, 0, 0, 0]

    mutating func add(_ record: [UInt8]) {
        let digest = SHA256.hash(record)
        var carry: UInt64 = 0
        for lane in (0..<4).reversed() {
            var word: UInt64 = 0
            for byte in digest[(lane * 8)..<(lane * 8 + 8)] { word = word << 8 | UInt64(byte) }
            let (partial, overflow1) = lanes[lane].addingReportingOverflow(word)
            let (sum, overflow2) = partial.addingReportingOverflow(carry)
            lanes[lane] = sum
            carry = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
        }
    }

    var hex: String { lanes.map { String(format: "%016llx", $0) }.joined() }
}
