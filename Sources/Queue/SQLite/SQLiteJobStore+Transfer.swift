import Foundation

/// Whole-store records for `xceptor copy` (`StoreTransfer`). SQLite runs in this process, so records are read
/// and written row by row: a statement costs microseconds, not a round trip.
extension SQLiteJobStore: StoreTransfer {
    public func holdsNothing() async throws -> Bool {
        try await withConnection { db in
            try db.first("SELECT NOT EXISTS (SELECT 1 FROM jobs) AND NOT EXISTS (SELECT 1 FROM images)") { $0.int(0) == 1 } ?? true
        }
    }

    public func transferCheckpoint(source: String) async throws -> TransferCheckpoint? {
        try await withConnection { db in
            try db.first(
                "SELECT keep_ids, after_image_id, after_job_id, finished FROM copy_checkpoints WHERE source = ?", [.text(source)]
            ) { row in
                TransferCheckpoint(
                    source: source, keepIDs: row.int(0) != 0, afterImageID: row.optionalInt64(1), afterJobID: row.optionalInt64(2),
                    finished: row.int(3) != 0)
            }
        }
    }

    public func imageRecords(afterImageID: Int64?, limit: Int) async throws -> [ImageRecord] {
        guard limit > 0 else { return [] }
        return try await withConnection { db in
            try db.transaction(immediate: false) {
                try Self.imageRecords(
                    where: "id > ?1 ORDER BY id LIMIT ?2", [.integer(afterImageID ?? Int64.min), .integer(Int64(limit))], db)
            }
        }
    }

    public func imageRecords(sha256: [[UInt8]]) async throws -> [ImageRecord] {
        try await withConnection { db in
            try db.transaction(immediate: false) {
                try sha256.flatMap { try Self.imageRecords(where: "sha256 = ?1", [.blob($0)], db) }
            }
        }
    }

    public func jobRecords(afterJobID: JobID?, limit: Int) async throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        return try await withConnection { db in
            var records: [JobRecord] = []
            try db.query(
                """
                SELECT \(Self.qualifiedJobColumns), i.sha256 FROM jobs j LEFT JOIN images i ON i.id = j.image_id
                WHERE j.id > ?1 ORDER BY j.id LIMIT ?2
                """, [.integer(afterJobID ?? Int64.min), .integer(Int64(limit))]
            ) { records.append(JobRecord(job: Self.job(from: $0), imageSHA256: $0.optionalBlob(17))) }
            return records
        }
    }

    public func jobRecords(urls: [String]) async throws -> [JobRecord] {
        try await withConnection { db in
            try db.transaction(immediate: false) {
                var records: [JobRecord] = []
                for url in urls {
                    try db.query(
                        "SELECT \(Self.qualifiedJobColumns), i.sha256 FROM jobs j LEFT JOIN images i ON i.id = j.image_id WHERE j.url = ?1",
                        [.text(url)]
                    ) { records.append(JobRecord(job: Self.job(from: $0), imageSHA256: $0.optionalBlob(17))) }
                }
                return records
            }
        }
    }

    public func importImages(_ records: [ImageRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> ImageImportTally {
        try records.forEach(StoreInput.validate)
        return try await withConnection { db in
            try db.transaction {
                var tally = ImageImportTally()
                for record in records {
                    let image = record.image
                    let imageID: Int64
                    if let existing = try db.first(
                        "SELECT id, thumbnail IS NULL FROM images WHERE sha256 = ?", [.blob(image.sha256)],
                        { ($0.int64(0), $0.int(1) == 1) })
                    {
                        imageID = existing.0
                        if existing.1, let thumbnail = image.thumbnail {
                            try db.run("UPDATE images SET thumbnail = ? WHERE id = ?", [.blob(thumbnail), .integer(imageID)])
                            tally.images.completed += 1
                        } else {
                            tally.images.present += 1
                        }
                    } else {
                        let idFree =
                            try keepIDs && db.first("SELECT 1 FROM images WHERE id = ?", [.integer(record.id)]) { _ in true } == nil
                        try db.run(
                            """
                            INSERT INTO images (id, sha256, width, height, bytes, content_type, thumbnail, created_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                            [
                                idFree ? .integer(record.id) : .null, .blob(image.sha256), .integer(image.width), .integer(image.height),
                                .integer(image.byteCount), .optionalText(image.contentType), .optionalBlob(image.thumbnail),
                                .integer(record.createdAt.storeMilliseconds),
                            ])
                        imageID = db.lastInsertedRowID
                        tally.images.added += 1
                    }
                    for embedding in record.embeddings {
                        let inserted = try db.run(
                            """
                            INSERT INTO embeddings (image_id, model_id, dimensions, vector, created_at, precision)
                            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (image_id, model_id) DO NOTHING
                            """,
                            [
                                .integer(imageID), .text(embedding.modelID), .integer(embedding.vector.count),
                                .blob(StoreInput.bytes(embedding.vector)), .integer(embedding.createdAt.storeMilliseconds),
                                .text(embedding.precision),
                            ])
                        guard inserted == 1 else {
                            tally.embeddings.present += 1
                            continue
                        }
                        let embeddingID = db.lastInsertedRowID
                        for (rank, label) in embedding.labels.enumerated() {
                            try db.run(
                                "INSERT INTO labels (embedding_id, rank, label, score) VALUES (?, ?, ?, ?)",
                                [.integer(embeddingID), .integer(rank), .text(label.label), .real(label.score)])
                        }
                        tally.embeddings.added += 1
                    }
                }
                try Self.record(checkpoint, db, now: self.now)
                return tally
            }
        }
    }

    public func importJobs(_ records: [JobRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> TransferTally {
        try records.forEach(StoreInput.validate)
        return try await withConnection { db in
            try db.transaction {
                var tally = TransferTally()
                for record in records {
                    var job = StoreInput.arriving(record.job)
                    if let sha = record.imageSHA256 {
                        guard let imageID = try db.first("SELECT id FROM images WHERE sha256 = ?", [.blob(sha)], { $0.int64(0) }) else {
                            throw QueueError.invalidArgument(
                                "job \(record.job.id) (\(record.job.url)) refers to an image that was not copied first")
                        }
                        job.imageID = imageID
                    } else {
                        job.imageID = nil
                    }
                    if let existing = try db.first(
                        "SELECT id, image_id IS NULL FROM jobs WHERE url = ?", [.text(job.url)], { ($0.int64(0), $0.int(1) == 1) })
                    {
                        guard existing.1, job.imageID != nil else {
                            tally.present += 1
                            continue
                        }
                        try db.run(
                            """
                            UPDATE jobs SET state = ?2, priority = ?3, attempts = ?4, max_attempts = ?5, available_at = ?6,
                                lease_owner = NULL, lease_expires_at = NULL, last_error = ?7, error_class = ?8, http_status = ?9,
                                metadata = ?10, image_id = ?11, created_at = ?12, updated_at = ?13, finished_at = ?14
                            WHERE id = ?1
                            """, [.integer(existing.0)] + Self.outcome(of: job))
                        tally.completed += 1
                        continue
                    }
                    let idFree = try keepIDs && db.first("SELECT 1 FROM jobs WHERE id = ?", [.integer(job.id)]) { _ in true } == nil
                    try db.run(
                        """
                        INSERT INTO jobs (id, url, state, priority, attempts, max_attempts, available_at, last_error, error_class,
                            http_status, metadata, image_id, created_at, updated_at, finished_at)
                        VALUES (?1, ?15, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                        """, [idFree ? .integer(job.id) : .null] + Self.outcome(of: job) + [.text(job.url)])
                    tally.added += 1
                }
                try Self.record(checkpoint, db, now: self.now)
                return tally
            }
        }
    }

    private var now: Int64 { configuration.clock.now().storeMilliseconds }

    /// A job's fields from state to finished_at, bound as ?2 to ?14.
    private static func outcome(of job: Job) -> [SQLiteValue] {
        [
            .text(job.state.rawValue), .integer(job.priority), .integer(job.attempts), .integer(job.maxAttempts),
            .integer(job.availableAt.storeMilliseconds), .optionalText(job.lastError), .optionalText(job.errorClass?.rawValue),
            .optionalInteger(job.httpStatus), .optionalText(job.metadataJSON), job.imageID.map { .integer($0) } ?? .null,
            .integer(job.createdAt.storeMilliseconds), .integer(job.updatedAt.storeMilliseconds),
            job.finishedAt.map { .integer($0.storeMilliseconds) } ?? .null,
        ]
    }

    private static func record(_ checkpoint: TransferCheckpoint, _ db: SQLiteConnection, now: Int64) throws {
        try db.run(
            """
            INSERT INTO copy_checkpoints (source, keep_ids, after_image_id, after_job_id, finished, updated_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT (source) DO UPDATE SET keep_ids = ?2, after_image_id = ?3, after_job_id = ?4, finished = ?5, updated_at = ?6
            """,
            [
                .text(checkpoint.source), .integer(checkpoint.keepIDs ? 1 : 0), checkpoint.afterImageID.map { .integer($0) } ?? .null,
                checkpoint.afterJobID.map { .integer($0) } ?? .null, .integer(checkpoint.finished ? 1 : 0), .integer(now),
            ])
    }

    private static let qualifiedJobColumns = jobColumns.split(separator: ",").map {
        "j." + $0.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    .joined(separator: ", ")

    /// The images `condition` (on `images`, binding `bindings`) selects, with their embeddings and labels.
    private static func imageRecords(where condition: String, _ bindings: [SQLiteValue], _ db: SQLiteConnection) throws -> [ImageRecord] {
        var records: [ImageRecord] = []
        try db.query(
            "SELECT id, sha256, width, height, bytes, content_type, thumbnail, created_at FROM images WHERE \(condition)", bindings
        ) { row in
            records.append(
                ImageRecord(
                    id: row.int64(0),
                    image: ImageFacts(
                        sha256: row.blob(1), width: row.int(2), height: row.int(3), byteCount: row.int(4),
                        contentType: row.optionalText(5), thumbnail: row.optionalBlob(6)),
                    createdAt: Date(storeMilliseconds: row.int64(7)), embeddings: []))
        }
        for index in records.indices {
            var embeddings: [(id: Int64, record: EmbeddingRecord)] = []
            try db.query(
                "SELECT id, model_id, vector, created_at, precision FROM embeddings WHERE image_id = ? ORDER BY id",
                [.integer(records[index].id)]
            ) {
                row in
                embeddings.append(
                    (
                        row.int64(0),
                        EmbeddingRecord(
                            modelID: row.text(1), vector: floats(row.blob(2)), labels: [],
                            createdAt: Date(storeMilliseconds: row.int64(3)), precision: row.text(4))
                    ))
            }
            for entry in embeddings.indices {
                embeddings[entry].record.labels = try labels(ofEmbedding: embeddings[entry].id, db)
            }
            records[index] = ImageRecord(
                id: records[index].id, image: records[index].image, createdAt: records[index].createdAt,
                embeddings: embeddings.map(\.record))
        }
        return records
    }
}
