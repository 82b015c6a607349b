import Foundation
import PostgresNIO
import Queue

/// Whole-store records for `xceptor copy` (`StoreTransfer`). Reads take a page in two statements on one
/// snapshot; imports write a page in one transaction of a few statements over arrays (see `importImages`).
extension PostgresJobStore: StoreTransfer {
    public func holdsNothing() async throws -> Bool {
        try await withConnection { connection in
            try await connection.run(
                "SELECT NOT EXISTS (SELECT 1 FROM jobs) AND NOT EXISTS (SELECT 1 FROM images)", logger: self.logger
            ).first(Bool.self) ?? true
        }
    }

    public func transferCheckpoint(source: String) async throws -> TransferCheckpoint? {
        try await withConnection { connection in
            let rows = try await connection.run(
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
                connection.run(
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
                connection.run(
                    """
                    SELECT \(unescaped: Self.imageColumns) FROM images
                    WHERE sha256 IN (SELECT decode(h, 'hex') FROM unnest(\(hex)::text[]) AS t (h)) ORDER BY id
                    """, logger: self.logger), connection)
        }
    }

    public func jobRecords(afterJobID: JobID?, limit: Int) async throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        return try await withConnection { connection in
            try await Self.jobRecords(
                connection.run(
                    """
                    SELECT \(unescaped: Self.qualifiedJobColumns), i.sha256 FROM jobs j LEFT JOIN images i ON i.id = j.image_id
                    WHERE j.id > \(afterJobID ?? Int64.min) ORDER BY j.id LIMIT \(Int64(limit))
                    """, logger: self.logger))
        }
    }

    public func jobRecords(urls: [String]) async throws -> [JobRecord] {
        guard !urls.isEmpty else { return [] }
        return try await withConnection { connection in
            try await Self.jobRecords(
                connection.run(
                    """
                    SELECT \(unescaped: Self.qualifiedJobColumns), i.sha256 FROM jobs j LEFT JOIN images i ON i.id = j.image_id
                    WHERE j.id IN (SELECT job_id FROM job_urls WHERE url = ANY(\(urls)::text[])) ORDER BY j.id
                    """, logger: self.logger))
        }
    }

    public func importImages(_ records: [ImageRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> ImageImportTally {
        try records.forEach(StoreInput.validate)
        let now = configuration.clock.now().storeMilliseconds
        // A page is a few statements of arrays, not statements per row: row by row, a copy into PostgreSQL ran
        // at about 270 images/s on a local server (round trips); bytea travels as hex text, which PostgresNIO
        // binds as an array where it would not bind an array of byte buffers.
        let unique = Dictionary(records.map { ($0.image.sha256, $0) }, uniquingKeysWith: { first, _ in first })
        let page = records.filter { unique[$0.image.sha256]?.id == $0.id }
        return try await transaction { connection in
            var tally = ImageImportTally()
            tally.images.present = records.count - page.count
            if keepIDs, let highest = page.map(\.id).max() {
                try await self.advanceIdentity(of: "images", past: highest, connection)
            }
            let hashes = page.map { Self.hex($0.image.sha256) }
            // Images here already: locked, so a concurrent copy cannot fill the same thumbnail.
            var imageIDs: [String: Int64] = [:]
            var lacksThumbnail: Set<String> = []
            for try await (id, sha, noThumbnail) in try await connection.run(
                """
                SELECT id, encode(sha256, 'hex'), thumbnail IS NULL FROM images
                WHERE sha256 IN (SELECT decode(h, 'hex') FROM unnest(\(hashes)::text[]) AS t (h)) ORDER BY id FOR UPDATE
                """, logger: self.logger
            ).decode((Int64, String, Bool).self) {
                imageIDs[sha] = id
                if noThumbnail { lacksThumbnail.insert(sha) }
            }
            let new = page.filter { imageIDs[Self.hex($0.image.sha256)] == nil }
            if !new.isEmpty {
                let wanted = new.map { keepIDs ? $0.id : 0 }
                let facts = new.map(\.image)
                let rows = try await connection.run(
                    """
                    INSERT INTO images (id, sha256, width, height, bytes, content_type, thumbnail, created_at)
                    SELECT coalesce(CASE WHEN w > 0 AND NOT EXISTS (SELECT 1 FROM images WHERE id = w) THEN w END,
                                    nextval(pg_get_serial_sequence('images', 'id'))),
                           decode(h, 'hex'), x, y, b, NULLIF(c, ''), decode(NULLIF(t, ''), 'hex'), a
                    FROM unnest(\(wanted)::bigint[], \(new.map { Self.hex($0.image.sha256) })::text[],
                                \(facts.map { Int64($0.width) })::bigint[], \(facts.map { Int64($0.height) })::bigint[],
                                \(facts.map { Int64($0.byteCount) })::bigint[], \(facts.map { $0.contentType ?? "" })::text[],
                                \(facts.map { $0.thumbnail.map(Self.hex) ?? "" })::text[],
                                \(new.map(\.createdAt.storeMilliseconds))::bigint[]) AS r (w, h, x, y, b, c, t, a)
                    RETURNING id, encode(sha256, 'hex')
                    """, logger: self.logger)
                for try await (id, sha) in rows.decode((Int64, String).self) { imageIDs[sha] = id }
                tally.images.added = new.count
            }
            let filled = page.filter { lacksThumbnail.contains(Self.hex($0.image.sha256)) && $0.image.thumbnail != nil }
            if !filled.isEmpty {
                try await connection.run(
                    """
                    UPDATE images SET thumbnail = decode(t, 'hex')
                    FROM unnest(\(filled.map { imageIDs[Self.hex($0.image.sha256)] ?? 0 })::bigint[],
                                \(filled.map { $0.image.thumbnail.map(Self.hex) ?? "" })::text[]) AS r (i, t)
                    WHERE images.id = r.i
                    """, logger: self.logger)
            }
            tally.images.completed = filled.count
            tally.images.present += page.count - new.count - filled.count

            // Embeddings in one statement; those already stored (image and model) are left, and counted.
            var embeddingImages: [Int64] = [], models: [String] = [], dimensions: [Int64] = [], vectors: [String] = [],
                created: [Int64] = [], precisions: [String] = []
            var labelsByKey: [String: [ScoredLabel]] = [:]
            for record in records {
                guard let imageID = imageIDs[Self.hex(record.image.sha256)] else { continue }
                for embedding in record.embeddings {
                    embeddingImages.append(imageID)
                    models.append(embedding.modelID)
                    dimensions.append(Int64(embedding.vector.count))
                    vectors.append(Self.hex(StoreInput.bytes(embedding.vector)))
                    created.append(embedding.createdAt.storeMilliseconds)
                    precisions.append(embedding.precision)
                    labelsByKey["\(imageID) \(embedding.modelID)"] = embedding.labels
                }
            }
            guard !embeddingImages.isEmpty else {
                try await self.record(checkpoint, connection, now: now)
                return tally
            }
            var labelEmbeddings: [Int64] = [], ranks: [Int64] = [], names: [String] = [], scores: [Double] = []
            var added = 0
            // In the records' order (ORDINALITY): an image's embeddings keep their order, and "the newest" with them.
            for try await (embeddingID, imageID, model) in try await connection.run(
                """
                INSERT INTO embeddings (image_id, model_id, dimensions, vector, created_at, precision)
                SELECT i, m, d, decode(v, 'hex'), a, p
                FROM unnest(
                    \(embeddingImages)::bigint[], \(models)::text[], \(dimensions)::bigint[], \(vectors)::text[], \(created)::bigint[],
                    \(precisions)::text[]) WITH ORDINALITY AS r (i, m, d, v, a, p, n)
                ORDER BY n
                ON CONFLICT (image_id, model_id) DO NOTHING
                RETURNING id, image_id, model_id
                """, logger: self.logger
            ).decode((Int64, Int64, String).self) {
                added += 1
                for (rank, label) in (labelsByKey["\(imageID) \(model)"] ?? []).enumerated() {
                    labelEmbeddings.append(embeddingID)
                    ranks.append(Int64(rank))
                    names.append(label.label)
                    scores.append(label.score)
                }
            }
            tally.embeddings = TransferTally(added: added, present: embeddingImages.count - added)
            if !labelEmbeddings.isEmpty {
                try await connection.run(
                    """
                    INSERT INTO labels (embedding_id, rank, label, score)
                    SELECT * FROM unnest(\(labelEmbeddings)::bigint[], \(ranks)::bigint[], \(names)::text[], \(scores)::float8[])
                    """, logger: self.logger)
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
            // The page's images by hash, and the jobs here already by URL, in one statement each.
            let hashes = Array(Set(records.compactMap { $0.imageSHA256.map(Self.hex) }))
            var imageIDs: [String: Int64] = [:]
            if !hashes.isEmpty {
                for try await (id, sha) in try await connection.run(
                    """
                    SELECT id, encode(sha256, 'hex') FROM images
                    WHERE sha256 IN (SELECT decode(h, 'hex') FROM unnest(\(hashes)::text[]) AS t (h))
                    """, logger: self.logger
                ).decode((Int64, String).self) { imageIDs[sha] = id }
            }
            var existing: [String: (id: Int64, lacksResult: Bool)] = [:]
            for try await (id, url, lacksResult) in try await connection.run(
                """
                SELECT id, url, image_id IS NULL FROM jobs
                WHERE id IN (SELECT job_id FROM job_urls WHERE url = ANY(\(records.map(\.job.url))::text[])) ORDER BY id FOR UPDATE
                """,
                logger: self.logger
            ).decode((Int64, String, Bool).self) { existing[url] = (id, lacksResult) }

            var new: [Job] = []
            for record in records {
                var job = StoreInput.arriving(record.job)
                job.imageID = nil
                if let sha = record.imageSHA256 {
                    guard let imageID = imageIDs[Self.hex(sha)] else {
                        throw QueueError.invalidArgument(
                            "job \(record.job.id) (\(record.job.url)) refers to an image that was not copied first")
                    }
                    job.imageID = imageID
                }
                guard let found = existing[job.url] else {
                    new.append(job)
                    existing[job.url] = (0, false)  // a URL twice in one page is one job
                    continue
                }
                guard found.lacksResult, found.id != 0, job.imageID != nil else {
                    tally.present += 1
                    continue
                }
                // Rare (a merge into a job without a result): one statement each.
                try await connection.run(
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
            }
            if !new.isEmpty {
                // Columns that may be NULL travel with a flag each, as arrays of optionals do not bind.
                try await connection.run(
                    """
                    WITH inserted AS (
                    INSERT INTO jobs (id, url, state, priority, attempts, max_attempts, available_at, last_error, error_class,
                        http_status, metadata, image_id, created_at, updated_at, finished_at)
                    SELECT coalesce(CASE WHEN w > 0 AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = w) THEN w END,
                                    nextval(pg_get_serial_sequence('jobs', 'id'))),
                           u, st, p, at, ma, av, CASE WHEN he THEN e END, CASE WHEN hc THEN c END, CASE WHEN hh THEN hs END,
                           CASE WHEN hm THEN m::jsonb END, CASE WHEN hi THEN i END, cr, up, CASE WHEN hf THEN f END
                    FROM unnest(\(new.map { keepIDs ? $0.id : 0 })::bigint[], \(new.map(\.url))::text[],
                                \(new.map(\.state.rawValue))::text[], \(new.map { Int64($0.priority) })::bigint[],
                                \(new.map { Int64($0.attempts) })::bigint[], \(new.map { Int64($0.maxAttempts) })::bigint[],
                                \(new.map(\.availableAt.storeMilliseconds))::bigint[],
                                \(new.map { $0.lastError != nil })::bool[], \(new.map { $0.lastError ?? "" })::text[],
                                \(new.map { $0.errorClass != nil })::bool[], \(new.map { $0.errorClass?.rawValue ?? "" })::text[],
                                \(new.map { $0.httpStatus != nil })::bool[], \(new.map { Int64($0.httpStatus ?? 0) })::bigint[],
                                \(new.map { $0.metadataJSON != nil })::bool[], \(new.map { $0.metadataJSON ?? "" })::text[],
                                \(new.map { $0.imageID != nil })::bool[], \(new.map { $0.imageID ?? 0 })::bigint[],
                                \(new.map(\.createdAt.storeMilliseconds))::bigint[], \(new.map(\.updatedAt.storeMilliseconds))::bigint[],
                                \(new.map { $0.finishedAt != nil })::bool[], \(new.map { $0.finishedAt?.storeMilliseconds ?? 0 })::bigint[])
                        WITH ORDINALITY AS r (w, u, st, p, at, ma, av, he, e, hc, c, hh, hs, hm, m, hi, i, cr, up, hf, f, n)
                    ORDER BY n
                    RETURNING id, url)
                    INSERT INTO job_urls (url, job_id) SELECT url, id FROM inserted
                    """, logger: self.logger)
                tally.added = new.count
            }
            try await self.record(checkpoint, connection, now: now)
            return tally
        }
    }

    /// Moves a table's identity past `id` and every id it holds, so rows that keep their source ids never
    /// meet an id the table hands out later.
    private func advanceIdentity(of table: String, past id: Int64, _ connection: PostgresConnection) async throws {
        try await connection.run(
            """
            SELECT setval(pg_get_serial_sequence(\(table), 'id'),
                          greatest(\(id), (SELECT coalesce(max(id), 0) FROM \(unescaped: table)), 1))
            """, logger: logger)
    }

    private func record(_ checkpoint: TransferCheckpoint, _ connection: PostgresConnection, now: Int64) async throws {
        try await connection.run(
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
        let embeddingRows = try await connection.run(
            """
            SELECT e.image_id, e.model_id, e.vector, e.created_at,
                   (SELECT array_agg(label ORDER BY rank) FROM labels WHERE embedding_id = e.id),
                   (SELECT array_agg(score ORDER BY rank) FROM labels WHERE embedding_id = e.id), e.precision
            FROM embeddings e WHERE e.image_id = ANY(\(images.map(\.id))::bigint[]) ORDER BY e.id
            """, logger: logger)
        for try await (imageID, modelID, vector, createdAt, labels, scores, precision) in embeddingRows.decode(
            (Int64, String, ByteBuffer, Int64, [String]?, [Double]?, String).self)
        {
            embeddings[imageID, default: []].append(
                EmbeddingRecord(
                    modelID: modelID, vector: Self.floats(vector), labels: Self.labels(labels, scores),
                    createdAt: Date(storeMilliseconds: createdAt), precision: precision))
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
