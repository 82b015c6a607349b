import CSQLite
import Foundation

/// The results half of the SQLite store (`ResultStore`): reads only, each in one read transaction, so every
/// answer comes from one snapshot while workers keep writing.
extension SQLiteJobStore {
    public func result(forJob id: JobID, modelID: String?) async throws -> StoredResult? {
        try await doneResult(where: "j.id = ?1", .integer(id), modelID: modelID)
    }

    public func result(forURL url: String, modelID: String?) async throws -> StoredResult? {
        guard case let .success(normalized) = JobURL.normalize(url) else { return nil }
        return try await doneResult(where: "j.url = ?1", .text(normalized), modelID: modelID)
    }

    /// The result of the one job `condition` (on `jobs j`, binding ?1) selects, by `modelID` or the newest.
    private func doneResult(where condition: String, _ key: SQLiteValue, modelID: String?) async throws -> StoredResult? {
        try await withReader { db in
            try db.transaction(immediate: false) {
                guard
                    var found = try db.first(
                        """
                        SELECT i.id, i.sha256, i.width, i.height, i.bytes, i.content_type, i.thumbnail,
                               e.id, e.model_id, e.vector, e.precision
                        FROM jobs j JOIN images i ON i.id = j.image_id JOIN embeddings e ON e.image_id = i.id
                        WHERE \(condition) AND (?2 IS NULL OR e.model_id = ?2)
                        ORDER BY e.id DESC LIMIT 1
                        """, [key, .optionalText(modelID)],
                        { row in
                            (
                                embeddingID: row.int64(7),
                                result: StoredResult(
                                    imageID: row.int64(0),
                                    image: ImageFacts(
                                        sha256: row.blob(1), width: row.int(2), height: row.int(3), byteCount: row.int(4),
                                        contentType: row.optionalText(5), thumbnail: row.optionalBlob(6)),
                                    modelID: row.text(8), embedding: Self.floats(row.blob(9)), labels: [], precision: row.text(10))
                            )
                        })
                else { return nil }
                found.result.labels = try Self.labels(ofEmbedding: found.embeddingID, db)
                return found.result
            }
        }
    }

    public func embeddingModels() async throws -> [String: Int] {
        try await withReader { db in
            var models: [String: Int] = [:]
            // Kept by triggers (migration 2): counting the rows at every search cost milliseconds per 100k.
            try db.query("SELECT model_id, embeddings FROM embedding_counts") { models[$0.text(0)] = $0.int(1) }
            return models
        }
    }

    public func embeddings(modelID: String, afterImageID: Int64?, limit: Int) async throws -> StoredEmbeddings {
        guard limit > 0 else { return StoredEmbeddings() }
        return try await withReader { db in
            var page = StoredEmbeddings()
            try db.query(
                """
                SELECT image_id, dimensions, vector FROM embeddings
                WHERE model_id = ?1 AND image_id > ?2 ORDER BY image_id LIMIT ?3
                """, [.text(modelID), .integer(afterImageID ?? Int64.min), .integer(Int64(limit))]
            ) { row in
                let dimensions = row.int(1)
                guard page.dimensions == 0 || page.dimensions == dimensions else {
                    throw QueueError.invalidArgument("model \(modelID) has embeddings of \(page.dimensions) and \(dimensions) values")
                }
                page.dimensions = dimensions
                page.imageIDs.append(row.int64(0))
                row.appendFloats(2, to: &page.values)
            }
            return page
        }
    }

    public func imageIDs(matching filter: ResultFilter, modelID: String) async throws -> Set<Int64> {
        var conditions: [String] = []
        var bindings: [SQLiteValue] = [.text(modelID)]
        if let label = filter.label {
            bindings.append(.text(label))
            conditions.append("EXISTS (SELECT 1 FROM labels l WHERE l.embedding_id = e.id AND l.rank = 0 AND l.label = ?\(bindings.count))")
        }
        if !filter.metadata.isEmpty {
            // json_each reads the top-level fields, so a key is compared as data, never parsed as a JSON path.
            let fields = filter.metadata.map { condition -> String in
                bindings += [.text(condition.key), .text(condition.value)]
                return """
                    EXISTS (SELECT 1 FROM json_each(j.metadata) m WHERE m.key = ?\(bindings.count - 1) AND (CASE m.type
                        WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null'
                        ELSE CAST(m.value AS TEXT) END) = ?\(bindings.count))
                    """
            }
            // CASE, so json_each never sees metadata that is not valid JSON.
            conditions.append(
                """
                EXISTS (SELECT 1 FROM jobs j WHERE j.image_id = e.image_id
                    AND CASE WHEN json_valid(j.metadata) THEN (\(fields.joined(separator: " AND "))) ELSE 0 END)
                """)
        }
        let sql = (["SELECT e.image_id FROM embeddings e WHERE e.model_id = ?1"] + conditions).joined(separator: " AND ")
        return try await withReader { [bindings] db in
            var ids = Set<Int64>()
            try db.query(sql, bindings) { ids.insert($0.int64(0)) }
            return ids
        }
    }

    public func imageSummaries(_ imageIDs: [Int64], modelID: String) async throws -> [Int64: ImageSummary] {
        try await withReader { db in
            try db.transaction(immediate: false) {
                var summaries: [Int64: ImageSummary] = [:]
                // At most 500 ids a statement, well under SQLite's limit on bound parameters.
                for start in stride(from: 0, to: imageIDs.count, by: 500) {
                    let chunk = Array(imageIDs[start..<min(imageIDs.count, start + 500)])
                    let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                    let ids = chunk.map { SQLiteValue.integer($0) }
                    try db.query(
                        """
                        SELECT image_id, id, url FROM jobs WHERE image_id IN (\(placeholders)) ORDER BY id
                        """, ids
                    ) { row in
                        let image = row.int64(0), job = JobReference(id: row.int64(1), url: row.text(2))
                        if summaries[image] == nil {
                            summaries[image] = ImageSummary(jobID: job.id, url: job.url, labels: [])
                        } else {
                            summaries[image]?.sameBytes.append(job)
                        }
                    }
                    try db.query(
                        """
                        SELECT e.image_id, l.label, l.score FROM embeddings e JOIN labels l ON l.embedding_id = e.id
                        WHERE e.model_id = ? AND e.image_id IN (\(placeholders)) ORDER BY e.image_id, l.rank
                        """, [.text(modelID)] + ids
                    ) { row in
                        summaries[row.int64(0)]?.labels.append(ScoredLabel(label: row.text(1), score: row.double(2)))
                    }
                }
                return summaries
            }
        }
    }

    public func resultRows(modelID: String, afterJobID: JobID?, limit: Int) async throws -> [ResultRow] {
        guard limit > 0 else { return [] }
        return try await withReader { db in
            try db.transaction(immediate: false) {
                var rows: [ResultRow] = [], embeddingIDs: [Int64] = []
                try db.query(
                    """
                    SELECT j.id, j.url, j.metadata, i.id, i.sha256, i.width, i.height, e.id, e.vector
                    FROM jobs j JOIN images i ON i.id = j.image_id JOIN embeddings e ON e.image_id = i.id AND e.model_id = ?
                    WHERE j.id > ? ORDER BY j.id LIMIT ?
                    """, [.text(modelID), .integer(afterJobID ?? Int64.min), .integer(Int64(limit))]
                ) { row in
                    rows.append(
                        ResultRow(
                            job: JobReference(id: row.int64(0), url: row.text(1)), metadata: row.optionalText(2),
                            imageID: row.int64(3), sha256: row.blob(4), width: row.int(5), height: row.int(6),
                            embedding: Self.floats(row.blob(8)), labels: []))
                    embeddingIDs.append(row.int64(7))
                }
                var labels: [Int64: [ScoredLabel]] = [:]
                for start in stride(from: 0, to: embeddingIDs.count, by: 500) {
                    let chunk = Set(embeddingIDs[start..<min(embeddingIDs.count, start + 500)]).map { SQLiteValue.integer($0) }
                    let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                    try db.query(
                        """
                        SELECT embedding_id, label, score FROM labels WHERE embedding_id IN (\(placeholders)) ORDER BY embedding_id, rank
                        """, chunk
                    ) { row in
                        labels[row.int64(0), default: []].append(ScoredLabel(label: row.text(1), score: row.double(2)))
                    }
                }
                for (index, embeddingID) in embeddingIDs.enumerated() { rows[index].labels = labels[embeddingID] ?? [] }
                return rows
            }
        }
    }

    public func thumbnail(imageID: Int64) async throws -> [UInt8]? {
        try await withReader { db in
            try db.first("SELECT thumbnail FROM images WHERE id = ?", [.integer(imageID)]) { $0.optionalBlob(0) } ?? nil
        }
    }

    public func footprint() async throws -> StoreFootprint {
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int64) ?? 0
        return try await withReader { db in
            try db.transaction(immediate: false) {
                // The database's pages in use (free pages are left out: they are reused before the file grows).
                let pages = try db.first("PRAGMA page_count") { $0.int64(0) } ?? 0
                let free = try db.first("PRAGMA freelist_count") { $0.int64(0) } ?? 0
                let pageSize = try db.first("PRAGMA page_size") { $0.int64(0) } ?? 0
                let images = try db.first("SELECT count(*), coalesce(sum(length(thumbnail)), 0) FROM images") { ($0.int(0), $0.int64(1)) }
                let embeddings = try db.first("SELECT count(*), coalesce(sum(length(vector)), 0) FROM embeddings") {
                    ($0.int(0), $0.int64(1))
                }
                return StoreFootprint(
                    totalBytes: (pages - free) * pageSize + walBytes, images: images?.0 ?? 0,
                    embeddings: embeddings?.0 ?? 0, embeddingBytes: embeddings?.1 ?? 0,
                    thumbnailBytes: images?.1 ?? 0)
            }
        }
    }

    static func labels(ofEmbedding embeddingID: Int64, _ db: SQLiteConnection) throws -> [ScoredLabel] {
        var labels: [ScoredLabel] = []
        try db.query("SELECT label, score FROM labels WHERE embedding_id = ? ORDER BY rank", [.integer(embeddingID)]) { row in
            labels.append(ScoredLabel(label: row.text(0), score: row.double(1)))
        }
        return labels
    }
}
