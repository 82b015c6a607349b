import Foundation
import PostgresNIO
import Queue

/// Whole-store records for `xceptor copy` (`StoreTransfer`). Reads take a page in two statements on one
/// snapshot; imports write record by record inside one transaction per page (a copy is bounded by the
/// source's reads and the destination's commits, not by these round trips on a local network).
extension PostgresJobStore: StoreTransfer {
    public func holdsNothing() async throws -> Bool {
        try await withClient { client in
            try await client.query(
                "SELECT NOT EXISTS (SELECT 1 FROM jobs) AND NOT EXISTS (SELECT 1 FROM images)", logger: self.logger
            ).first(Bool.self) ?? true
        }
    }

    public func transferCheckpoint(source: String) async throws -> TransferCheckpoint? {
        try await withClient { client in
            let rows = try await client.query(
                "SELECT keep_ids, after_image_id, after_job_id, finished FROM copy_checkpoints WHERE source = \(source)",
                logger: self.logger)
            for try await (keepIDs, afterImageID, afterJobID, finished) in rows.decode((Bool, Int64?, Int64?, Bool).self) {
                return TransferCheckpoint(
                    source: source, keepIDs: keepIDs, afterImageID: afterImageID, afterJobID: afterJobID, finished: finished)
            }
            return nil
        }
    }

    public func imageRecords(afterImageID: Int64?, limit: Int) async throws -> [ImageRecord] {
        guard limit > 0 else { return [] }
        return try await transaction(readOnly: true) { connection in
            try await self.imageRecords(
                connection.query(
                    """
                    SELECT \(unescaped: Self.imageColumns) FROM images WHERE id > \(afterImageID ?? Int64.min)
                    ORDER BY id LIMIT \(Int64(limit))
                    """, logger: self.logger), connection)
        }
    }

    public func imageRecords(sha256: [[UInt8]]) async throws -> [ImageRecord] {
        guard !sha256.isEmpty else { return [] }
        let hex = sha256.map(Self.hex)
        return try await transaction(readOnly: true) { connection in
            try await self.imageRecords(
                connection.query(
                    """
                    SELECT \(unescaped: Self.imageColumns) FROM images
                    WHERE sha256 IN (SELECT decode(h, 'hex') FROM unnest(\(hex)::text[]) AS t (h)) ORDER BY id
                    """, logger: self.logger), connection)
        }
    }

    public func jobRecords(afterJobID: JobID?, limit: Int) async throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        return try await withClient { client in
            try await Self.jobRecords(
                client.query(
                    """
                    SELECT \(unescaped: Self.qualifiedJobColumns), i.sha256 FROM jobs j LEFT JOIN images i ON i.id = j.image_id
                    WHERE j.id > \(afterJobID ?? Int64.min) ORDER BY j.id LIMIT \(Int64(limit))
                    """, logger: self.logger))
        }
    }

    public func jobRecords(urls: [String]) async throws -> [JobRecord] {
        guard !urls.isEmpty else { return [] }
        return try await withClient { client in
            try await Self.jobRecords(
                client.query(
                    """
                    SELECT \(unescaped: Self.qualifiedJobColumns), i.sha256 FROM jobs j LEFT JOIN images i ON i.id = j.image_id
                    WHERE j.url = ANY(\(urls)::text[]) ORDER BY j.id
                    """, logger: self.logger))
        }
    }

    public func importImages(_ records: [ImageRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> ImageImportTally {
        try records.forEach(StoreInput.validate)
        let now = configuration.clock.now().storeMilliseconds
        return try await transaction { connection in
            var tally = ImageImportTally()
            if keepIDs, let highest = records.map(\.id).max() {
                try await self.advanceIdentity(of: "images", past: highest, connection)
            }
            for record in records {
                let image = record.image
                let sha = ByteBuffer(bytes: image.sha256)
                let imageID: Int64
                let existing = try await connection.query(
                    "SELECT id, thumbnail IS NULL FROM images WHERE sha256 = \(sha) FOR UPDATE", logger: self.logger)
                var found: (id: Int64, lacksThumbnail: Bool)?
                for try await row in existing.decode((Int64, Bool).self) { found = row }
                if let found {
                    imageID = found.id
                    if found.lacksThumbnail, let thumbnail = image.thumbnail {
                        try await connection.query(
                            "UPDATE images SET thumbnail = \(ByteBuffer(bytes: thumbnail)) WHERE id = \(imageID)", logger: self.logger)
                        tally.images.completed += 1
                    } else {
                        tally.images.present += 1
                    }
                } else {
                    let wanted: Int64? = keepIDs ? record.id : nil
                    guard
                        let inserted = try await connection.query(
                            """
                            INSERT INTO images (id, sha256, width, height, bytes, content_type, thumbnail, created_at)
                            VALUES (coalesce((SELECT \(wanted)::bigint WHERE NOT EXISTS (SELECT 1 FROM images WHERE id = \(wanted))),
                                             nextval(pg_get_serial_sequence('images', 'id'))),
                                    \(sha), \(Int64(image.width)), \(Int64(image.height)), \(Int64(image.byteCount)),
                                    \(image.contentType), \(image.thumbnail.map { ByteBuffer(bytes: $0) }),
                                    \(record.createdAt.storeMilliseconds))
                            RETURNING id
                            """, logger: self.logger
                        ).first(Int64.self)
                    else { throw QueueError.database(location: self.location.description, message: "an image insert returned no id") }
                    imageID = inserted
                    tally.images.added += 1
                }
                for embedding in record.embeddings {
                    guard
                        let embeddingID = try await connection.query(
                            """
                            INSERT INTO embeddings (image_id, model_id, dimensions, vector, created_at)
                            VALUES (\(imageID), \(embedding.modelID), \(Int64(embedding.vector.count)),
                                    \(ByteBuffer(bytes: StoreInput.bytes(embedding.vector))), \(embedding.createdAt.storeMilliseconds))
                            ON CONFLICT (image_id, model_id) DO NOTHING RETURNING id
                            """, logger: self.logger
                        ).first(Int64.self)
                    else {
                        tally.embeddings.present += 1
                        continue
                    }
                    if !embedding.labels.isEmpty {
                        let ranks = (0..<embedding.labels.count).map(Int64.init)
                        let names = embedding.labels.map(\.label), scores = embedding.labels.map(\.score)
                        try await connection.query(
                            """
                            INSERT INTO labels (embedding_id, rank, label, score)
                            SELECT \(embeddingID), r, l, s FROM unnest(\(ranks)::bigint[], \(names)::text[], \(scores)::float8[]) AS t (r, l, s)
                            """, logger: self.logger)
                    }
                    tally.embeddings.added += 1
                }
            }
            try await self.record(checkpoint, connection, now: now)
            return tally
        }
    }

    public func importJobs(_ records: [JobRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> TransferTally {
        try records.forEach(StoreInput.validate)
        for record in records {
            if let metadata = record.job.metadataJSON,
                (try? JSONSerialization.jsonObject(with: Data(metadata.utf8), options: [.fragmentsAllowed])) == nil
            {
                throw QueueError.invalidArgument("the metadata of job \(record.job.id) (\(record.job.url)) is not JSON")
            }
        }
        let now = configuration.clock.now().storeMilliseconds
        return try await transaction { connection in
            var tally = TransferTally()
            if keepIDs, let highest = records.map(\.job.id).max() {
                try await self.advanceIdentity(of: "jobs", past: highest, connection)
            }
            for record in records {
                var job = StoreInput.arriving(record.job)
                job.imageID = nil
                if let sha = record.imageSHA256 {
                    job.imageID = try await connection.query(
                        "SELECT id FROM images WHERE sha256 = \(ByteBuffer(bytes: sha))", logger: self.logger
                    ).first(Int64.self)
                    guard job.imageID != nil else {
                        throw QueueError.invalidArgument(
                            "job \(record.job.id) (\(record.job.url)) refers to an image that was not copied first")
                    }
                }
                let existing = try await connection.query(
                    "SELECT id, image_id IS NULL FROM jobs WHERE url = \(job.url) FOR UPDATE", logger: self.logger)
                var found: (id: Int64, lacksResult: Bool)?
                for try await row in existing.decode((Int64, Bool).self) { found = row }
                if let found {
                    guard found.lacksResult, job.imageID != nil else {
                        tally.present += 1
                        continue
                    }
                    try await connection.query(
                        """
                        UPDATE jobs SET state = \(job.state.rawValue), priority = \(job.priority), attempts = \(job.attempts),
                            max_attempts = \(job.maxAttempts), available_at = \(job.availableAt.storeMilliseconds),
                            lease_owner = NULL, lease_expires_at = NULL, last_error = \(job.lastError),
                            error_class = \(job.errorClass?.rawValue), http_status = \(job.httpStatus),
                            metadata = \(job.metadataJSON)::jsonb, image_id = \(job.imageID), created_at = \(job.createdAt.storeMilliseconds),
                            updated_at = \(job.updatedAt.storeMilliseconds), finished_at = \(job.finishedAt?.storeMilliseconds)
                        WHERE id = \(found.id)
                        """, logger: self.logger)
                    tally.completed += 1
                    continue
                }
                let wanted: Int64? = keepIDs ? job.id : nil
                try await connection.query(
                    """
                    INSERT INTO jobs (id, url, state, priority, attempts, max_attempts, available_at, last_error, error_class,
                        http_status, metadata, image_id, created_at, updated_at, finished_at)
                    VALUES (coalesce((SELECT \(wanted)::bigint WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE id = \(wanted))),
                                     nextval(pg_get_serial_sequence('jobs', 'id'))),
                            \(job.url), \(job.state.rawValue), \(job.priority), \(job.attempts), \(job.maxAttempts),
                            \(job.availableAt.storeMilliseconds), \(job.lastError), \(job.errorClass?.rawValue), \(job.httpStatus),
                            \(job.metadataJSON)::jsonb, \(job.imageID), \(job.createdAt.storeMilliseconds), \(job.updatedAt.storeMilliseconds),
                            \(job.finishedAt?.storeMilliseconds))
                    """, logger: self.logger)
                tally.added += 1
            }
            try await self.record(checkpoint, connection, now: now)
            return tally
        }
    }

    /// Moves a table's identity past `id` and every id it holds, so rows that keep their source ids never
    /// meet an id the table hands out later.
    private func advanceIdentity(of table: String, past id: Int64, _ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            SELECT setval(pg_get_serial_sequence(\(table), 'id'),
                          greatest(\(id), (SELECT coalesce(max(id), 0) FROM \(unescaped: table)), 1))
            """, logger: logger)
    }

    private func record(_ checkpoint: TransferCheckpoint, _ connection: PostgresConnection, now: Int64) async throws {
        try await connection.query(
            """
            INSERT INTO copy_checkpoints (source, keep_ids, after_image_id, after_job_id, finished, updated_at)
            VALUES (\(checkpoint.source), \(checkpoint.keepIDs), \(checkpoint.afterImageID), \(checkpoint.afterJobID),
                    \(checkpoint.finished), \(now))
            ON CONFLICT (source) DO UPDATE SET keep_ids = EXCLUDED.keep_ids, after_image_id = EXCLUDED.after_image_id,
                after_job_id = EXCLUDED.after_job_id, finished = EXCLUDED.finished, updated_at = EXCLUDED.updated_at
            """, logger: logger)
    }

    private static let imageColumns = "id, sha256, width, height, bytes, content_type, thumbnail, created_at"

    private static let qualifiedJobColumns = jobColumns.split(separator: ",")
        .map { "j." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Images from `rows` (of `imageColumns`), with their embeddings and labels read on the same connection.
    private func imageRecords(_ rows: PostgresRowSequence, _ connection: PostgresConnection) async throws -> [ImageRecord] {
        var images: [(id: Int64, image: ImageFacts, createdAt: Int64)] = []
        for try await (id, sha256, width, height, bytes, contentType, thumbnail, createdAt) in rows.decode(
            (Int64, ByteBuffer, Int, Int, Int64, String?, ByteBuffer?, Int64).self)
        {
            images.append(
                (
                    id,
                    ImageFacts(
                        sha256: Array(sha256.readableBytesView), width: width, height: height, byteCount: Int(bytes),
                        contentType: contentType, thumbnail: thumbnail.map { Array($0.readableBytesView) }),
                    createdAt
                ))
        }
        guard !images.isEmpty else { return [] }
        var embeddings: [Int64: [EmbeddingRecord]] = [:]
        let embeddingRows = try await connection.query(
            """
            SELECT e.image_id, e.model_id, e.vector, e.created_at,
                   (SELECT array_agg(label ORDER BY rank) FROM labels WHERE embedding_id = e.id),
                   (SELECT array_agg(score ORDER BY rank) FROM labels WHERE embedding_id = e.id)
            FROM embeddings e WHERE e.image_id = ANY(\(images.map(\.id))::bigint[]) ORDER BY e.id
            """, logger: logger)
        for try await (imageID, modelID, vector, createdAt, labels, scores) in embeddingRows.decode(
            (Int64, String, ByteBuffer, Int64, [String]?, [Double]?).self)
        {
            embeddings[imageID, default: []].append(
                EmbeddingRecord(
                    modelID: modelID, vector: Self.floats(vector), labels: Self.labels(labels, scores),
                    createdAt: Date(storeMilliseconds: createdAt)))
        }
        return images.map {
            ImageRecord(id: $0.id, image: $0.image, createdAt: Date(storeMilliseconds: $0.createdAt), embeddings: embeddings[$0.id] ?? [])
        }
    }

    private static func jobRecords(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
        var records: [JobRecord] = []
        for try await row in rows {
            let columns = row.makeRandomAccess()
            let sha = try columns[17].decode(ByteBuffer?.self)
            let job = try Self.job(from: row)
            records.append(JobRecord(job: job, imageSHA256: sha.map { Array($0.readableBytesView) }))
        }
        return records
    }
}
