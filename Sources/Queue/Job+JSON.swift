import Foundation

// The JSON forms of the queue's types, shared by the command line's --json and the HTTP API: snake_case
// keys, `job` for a job's id, every documented key present (null when empty).

extension Job: Encodable {
    private enum CodingKeys: String, CodingKey {
        case id = "job"
        case url, state, priority, attempts, metadata
        case maxAttempts = "max_attempts"
        case lastError = "last_error"
        case errorClass = "error_class"
        case httpStatus = "http_status"
        case leaseOwner = "lease_owner"
        case leaseExpiresAt = "lease_expires_at"
        case availableAt = "available_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case finishedAt = "finished_at"
        case imageID = "image_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(url, forKey: .url)
        try container.encode(state, forKey: .state)
        try container.encode(priority, forKey: .priority)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(maxAttempts, forKey: .maxAttempts)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(errorClass, forKey: .errorClass)
        try container.encode(httpStatus, forKey: .httpStatus)
        try container.encode(leaseOwner, forKey: .leaseOwner)
        try container.encode(leaseExpiresAt, forKey: .leaseExpiresAt)
        try container.encode(availableAt, forKey: .availableAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(imageID, forKey: .imageID)
        try container.encode(metadataJSON.flatMap(JSONValue.init(parsing:)), forKey: .metadata)
    }
}

extension QueueStatus: Encodable {
    private enum CodingKeys: String, CodingKey {
        case counts, total
        case waitingForRetry = "waiting_for_retry"
        case expiredLeases = "expired_leases"
        case oldestQueuedAgeSeconds = "oldest_queued_age_seconds"
        case finishedLastMinute = "finished_last_minute"
        case finishedLastTenMinutes = "finished_last_10_minutes"
        case throughputPerSecond = "throughput_per_second"
        case topErrors = "top_errors"
    }

    private enum ThroughputKeys: String, CodingKey {
        case lastMinute = "last_minute"
        case lastTenMinutes = "last_10_minutes"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        // Every state, by name, zero included.
        try container.encode(Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, counts[$0] ?? 0) }), forKey: .counts)
        try container.encode(total, forKey: .total)
        try container.encode(waitingForRetry, forKey: .waitingForRetry)
        try container.encode(expiredLeases, forKey: .expiredLeases)
        try container.encode(oldestQueuedAgeSeconds, forKey: .oldestQueuedAgeSeconds)
        try container.encode(finishedLastMinute, forKey: .finishedLastMinute)
        try container.encode(finishedLastTenMinutes, forKey: .finishedLastTenMinutes)
        var throughput = container.nestedContainer(keyedBy: ThroughputKeys.self, forKey: .throughputPerSecond)
        try throughput.encode(Double(finishedLastMinute) / 60, forKey: .lastMinute)
        try throughput.encode(Double(finishedLastTenMinutes) / 600, forKey: .lastTenMinutes)
        try container.encode(topErrors, forKey: .topErrors)
    }
}

extension QueueStatus.ErrorCount: Encodable {
    private enum CodingKeys: String, CodingKey {
        case errorClass = "error_class"
        case message = "error"
        case count
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(errorClass, forKey: .errorClass)
        try container.encode(message, forKey: .message)
        try container.encode(count, forKey: .count)
    }
}
