import Foundation
import PostgresNIO
import Queue

/// The results half of the PostgreSQL store (`ResultStore`): reads only. A read of several statements runs
/// in one repeatable-read transaction, so its answer comes from one snapshot while workers keep writing.
extension PostgresJobStore {
    public func result(forJob id: JobID, modelID: String?) async throws -> StoredResult? {
        try await withConnection { connection in
            try await self.doneResult(
                connection.run(
                    """
                    \(unescaped: Self.resultSelect) WHERE j.id = \(id)
                        AND (\(modelID)::text IS NULL OR e.model_id = \(modelID)) ORDER BY e.id DESC LIMIT 1
                    """, logger: self.logger))
        }
    }

    public func result(forURL url: String, modelID: String?) async throws -> StoredResult? {
        guard case let .success(normalized) = JobURL.normalize(url) else { return nil }
        return try await withConnection { connection in
            try await self.doneResult(
                connection.run(
                    """
                    \(unescaped: Self.resultSelect) WHERE j.id = (SELECT job_id FROM job_urls WHERE url = \(normalized))
                        AND (\(modelID)::text IS NULL OR e.model_id = \(modelID)) ORDER BY e.id DESC LIMIT 1
                    """, logger: self.logger))
        }
    }

    /// A done job's image, embedding and labels in one statement (labels as two ordered arrays), by the
    /// model asked for or the newest embedding.
    private static let resultSelect = """
        SELECT i.id, i.sha256, i.width, i.height, i.bytes, i.content_type, i.thumbnail, e.model_id, e.vector,
               (SELECT array_agg(label ORDER BY rank) FROM labels WHERE embedding_id = e.id),
               (SELECT array_agg(score ORDER BY rank) FROM labels WHERE embedding_id = e.id), e.precision
        FROM jobs j JOIN images i ON i.id = j.image_id JOIN embeddings e ON e.image_id = i.id
        """

    private func doneResult(_ rows: PostgresRowSequence) async throws -> StoredResult? {
        for try await (imageID, sha256, width, height, bytes, contentType, thumbnail, modelID, vector, labels, scores, precision)
            in rows.decode(
                (Int64, ByteBuffer, Int, Int, Int64, String?, ByteBuffer?, String, ByteBuffer, [String]?, [Double]?, String).self)
        {
            return StoredResult(
                imageID: imageID,
                image: ImageFacts(
                    sha256: Array(sha256.readableBytesView), width: width, height: height, byteCount: Int(bytes),
                    contentType: contentType, thumbnail: thumbnail.map { Array($0.readableBytesView) }),
                modelID: modelID, embedding: Self.floats(vector), labels: Self.labels(labels, scores), precision: precision)
        }
        return nil
    }

    public func embeddingModels() async throws -> [String: Int] {
        try await withConnection { connection in
            var models: [String: Int] = [:]
            // Kept by triggers: counting the rows at every search costs milliseconds per 100k.
            let rows = try await connection.run("SELECT model_id, embeddings FROM embedding_counts", logger: self.logger)
            for try await (model, count) in rows.decode((String, Int64).self) { models[model] = Int(count) }
            return models
        }
    }

    public func embeddings(modelID: String, afterImageID: Int64?, limit: Int) async throws -> StoredEmbeddings {
        guard limit > 0 else { return StoredEmbeddings() }
        return try await withConnection { connection in
            var page = StoredEmbeddings()
            let rows = try await connection.run(
                """
                SELECT image_id, dimensions, vector FROM embeddings
                WHERE model_id = \(modelID) AND image_id > \(afterImageID ?? Int64.min) ORDER BY image_id LIMIT \(Int64(limit))
                """, logger: self.logger)
            for try await (imageID, dimensions, vector) in rows.decode((Int64, Int, ByteBuffer).self) {
                guard page.dimensions == 0 || page.dimensions == dimensions else {
                    throw QueueError.invalidArgument("model \(modelID) has embeddings of \(page.dimensions) and \(dimensions) values")
                }
                page.dimensions = dimensions
                page.imageIDs.append(imageID)
                Self.appendFloats(vector, to: &page.values)
            }
            return page
        }
    }

    public func imageIDs(matching filter: ResultFilter, modelID: String) async throws -> Set<Int64> {
        var bindings = PostgresBindings()
        bindings.append(modelID)
        var sql = "SELECT e.image_id FROM embeddings e WHERE e.model_id = $1"
        if let label = filter.label {
            bindings.append(label)
            sql += " AND EXISTS (SELECT 1 FROM labels l WHERE l.embedding_id = e.id AND l.rank = 0 AND l.label = $\(bindings.count))"
        }
        if !filter.metadata.isEmpty {
            // jsonb_each reads the top-level fields, so a key is compared as data, never parsed as a path.
            // Values compare as SQLite's driver compares them: strings bare, numbers as written, true, false, null.
            let fields = filter.metadata.map { condition -> String in
                bindings.append(condition.key)
                bindings.append(condition.value)
                return """
                    EXISTS (SELECT 1 FROM jsonb_each(j.metadata) m WHERE m.key = $\(bindings.count - 1) AND (CASE jsonb_typeof(m.value)
                        WHEN 'string' THEN m.value #>> '{}' ELSE m.value::text END) = $\(bindings.count))
                    """
            }
            sql += """
                 AND EXISTS (SELECT 1 FROM jobs j WHERE j.image_id = e.image_id
                    AND jsonb_typeof(j.metadata) = 'object' AND \(fields.joined(separator: " AND ")))
                """
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        return try await withConnection { connection in try await connection.run(query, logger: self.logger).ids() }
    }

    public func imageSummaries(_ imageIDs: [Int64], modelID: String) async throws -> [Int64: ImageSummary] {
        guard !imageIDs.isEmpty else { return [:] }
        return try await transaction(readOnly: true) { connection in
            var summaries: [Int64: ImageSummary] = [:]
            let jobs = try await connection.run(
                "SELECT image_id, id, url FROM jobs WHERE image_id = ANY(\(imageIDs)::bigint[]) ORDER BY id",
                logger: self.logger)
            for try await (image, id, url) in jobs.decode((Int64, Int64, String).self) {
                let job = JobReference(id: id, url: url)
                if summaries[image] == nil {
                    summaries[image] = ImageSummary(jobID: job.id, url: job.url, labels: [])
                } else {
                    summaries[image]?.sameBytes.append(job)
                }
            }
            let labels = try await connection.run(
                """
                SELECT e.image_id, l.label, l.score FROM embeddings e JOIN labels l ON l.embedding_id = e.id
                WHERE e.model_id = \(modelID) AND e.image_id = ANY(\(imageIDs)::bigint[]) ORDER BY e.image_id, l.rank
                """, logger: self.logger)
            for try await (image, label, score) in labels.decode((Int64, String, Double).self) {
                summaries[image]?.labels.append(ScoredLabel(label: label, score: score))
            }
            return summaries
        }
    }

    public func resultRows(modelID: String, afterJobID: JobID?, limit: Int) async throws -> [ResultRow] {
        guard limit > 0 else { return [] }
        return try await withConnection { connection in
            var results: [ResultRow] = []
            let rows = try await connection.run(
                """
                SELECT j.id, j.url, j.metadata::text, i.id, i.sha256, i.width, i.height, e.vector,
                       (SELECT array_agg(label ORDER BY rank) FROM labels WHERE embedding_id = e.id),
                       (SELECT array_agg(score ORDER BY rank) FROM labels WHERE embedding_id = e.id)
                FROM jobs j JOIN images i ON i.id = j.image_id JOIN embeddings e ON e.image_id = i.id AND e.model_id = \(modelID)
                WHERE j.id > \(afterJobID ?? Int64.min) ORDER BY j.id LIMIT \(Int64(limit))
                """, logger: self.logger)
            for try await (id, url, metadata, imageID, sha256, width, height, vector, labels, scores)
                in rows.decode((Int64, String, String?, Int64, ByteBuffer, Int, Int, ByteBuffer, [String]?, [Double]?).self)
            {
                results.append(
                    ResultRow(
                        job: JobReference(id: id, url: url), metadata: metadata, imageID: imageID, sha256: Array(sha256.readableBytesView),
                        width: width, height: height, embedding: Self.floats(vector), labels: Self.labels(labels, scores)))
            }
            return results
        }
    }

    public func thumbnail(imageID: Int64) async throws -> [UInt8]? {
        try await withConnection { connection in
            let rows = try await connection.run("SELECT thumbnail FROM images WHERE id = \(imageID)", logger: self.logger)
            for try await thumbnail in rows.decode(ByteBuffer?.self) { return thumbnail.map { Array($0.readableBytesView) } }
            return nil
        }
    }

    public func footprint() async throws -> StoreFootprint {
        try await transaction(readOnly: true) { connection in
            let rows = try await connection.run(
                """
                SELECT pg_database_size(current_database()),
                       (SELECT count(*) FROM images), (SELECT coalesce(sum(octet_length(thumbnail)), 0)::bigint FROM images),
                       (SELECT count(*) FROM embeddings), (SELECT coalesce(sum(octet_length(vector)), 0)::bigint FROM embeddings)
                """, logger: self.logger)
            for try await (total, images, thumbnailBytes, embeddings, embeddingBytes) in rows.decode(
                (Int64, Int64, Int64, Int64, Int64).self)
            {
                return StoreFootprint(
                    totalBytes: total, images: Int(images), embeddings: Int(embeddings), embeddingBytes: embeddingBytes,
                    thumbnailBytes: thumbnailBytes)
            }
            throw QueueError.database(location: self.location.description, message: "no footprint row")
        }
    }
}

extension PostgresJobStore {
    /// Maps PostgreSQL's and the connection's errors onto errors that say what to do. The location in every
    /// message is the URL without its password.
    func translate(_ error: Error) -> Error { Self.translate(error, location: location) }

    /// The SQLSTATE of a server error.
    static func sqlState(of error: Error) -> String? {
        return (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Why a connection could not be made, in a few words: "127.0.0.1:5432: Connection refused".
    static func connectionFailure(_ error: Error) -> String {
        if let error = error as? NIOConnectionError {
            if error.connectionErrors.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
                return "cannot resolve the host name \(PostgresLocation.printable(error.host))"
            }
            let failures = error.connectionErrors.map { failure -> String in
                let place = "\(failure.target.ipAddress ?? PostgresLocation.printable(error.host)):\(failure.target.port ?? error.port)"
                return "\(place): \(connectionFailure(failure.error))"
            }
            return failures.isEmpty ? "no address to connect to" : failures.joined(separator: "; ")
        }
        if let error = error as? SocketAddressError, case let .unknown(host, _) = error {
            return "cannot resolve the host name \(PostgresLocation.printable(host))"
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? ChannelError, case .connectTimeout = error { return "the connection timed out" }
        return PostgresLocation.printable(String(describing: error))
    }

    static func translate(_ error: Error, location: PostgresLocation) -> Error {
        let place = location.description
        // The pool's own error (its type lives in an underscored module): it gave up creating connections.
        if String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError") {
            return QueueError.unavailable(
                location: place, reason: "no connection could be made (\(PostgresLocation.printable("\(error)")))")
        }
        if let error = error as? ConnectionClosedError { return QueueError.unavailable(location: place, reason: error.description) }
        guard let error = error as? PSQLError else { return error }
        if let state = error.serverInfo?[.sqlState] {
            let message = PostgresLocation.printable(error.serverInfo?[.message] ?? "")
            switch state {
            case "28P01", "28000":
                return QueueError.cannotOpen(
                    location: place,
                    reason: "the server refused user \(location.user) (\(message)); give the password in the URL, PGPASSWORD or ~/.pgpass")
            case "3D000":
                return QueueError.cannotOpen(location: place, reason: "\(message); create it first (createdb \(location.database))")
            case "53100":
                return QueueError.diskFull(location: place)
            case "25006":
                return QueueError.readOnly(location: place)
            case "57P01", "57P02", "57P03", "53300":
                return QueueError.unavailable(location: place, reason: message)
            default:
                return QueueError.database(location: place, message: "\(message) (SQLSTATE \(state))")
            }
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
            let reason = error.underlying.map(Self.connectionFailure) ?? "the connection failed or was closed"
            return QueueError.unavailable(location: place, reason: reason)
        case .sslUnsupported:
            return QueueError.cannotOpen(location: place, reason: "the server does not offer TLS; connect with sslmode=disable or prefer")
        case .authMechanismRequiresPassword:
            return QueueError.cannotOpen(
                location: place, reason: "the server asks for a password; give it in the URL, PGPASSWORD or ~/.pgpass")
        default:
            return QueueError.database(location: place, message: PostgresLocation.printable(String(reflecting: error.code)))
        }
    }
}
