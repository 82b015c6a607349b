import Foundation
import Queue

extension JobDetail {
    /// Writes this job and its result as `JSONReport.encoder()` would encode them (`Job+JSON.swift` names
    /// the keys), keys sorted: `GET /v1/jobs/{id}` spent about a quarter of its CPU in JSONEncoder.
    public func writeJSON(into writer: inout JSONWriter) {
        writer.object { writer in
            writer.key("attempts")
            writer.integer(job.attempts)
            writer.key("available_at")
            writer.timestamp(job.availableAt)
            writer.key("created_at")
            writer.timestamp(job.createdAt)
            writer.key("error_class")
            writer.string(orNull: job.errorClass?.rawValue)
            writer.key("finished_at")
            writer.timestamp(orNull: job.finishedAt)
            writer.key("http_status")
            writer.integer(orNull: job.httpStatus)
            writer.key("image_id")
            writer.integer(orNull: job.imageID)
            writer.key("job")
            writer.integer(job.id)
            writer.key("last_error")
            writer.string(orNull: job.lastError)
            writer.key("lease_expires_at")
            writer.timestamp(orNull: job.leaseExpiresAt)
            writer.key("lease_owner")
            writer.string(orNull: job.leaseOwner)
            writer.key("max_attempts")
            writer.integer(job.maxAttempts)
            writer.key("metadata")
            if let metadata = job.metadataJSON.flatMap(JSONValue.init(parsing:)) { writer.value(metadata) } else { writer.null() }
            writer.key("priority")
            writer.integer(job.priority)
            writer.key("result")
            if let result { result.writeJSON(into: &writer) } else { writer.null() }
            writer.key("state")
            writer.string(job.state.rawValue)
            writer.key("updated_at")
            writer.timestamp(job.updatedAt)
            writer.key("url")
            writer.string(job.url)
        }
    }
}

extension StoredResult {
    func writeJSON(into writer: inout JSONWriter) {
        writer.object { writer in
            writer.key("embedding_dimensions")
            writer.integer(embedding.count)
            writer.key("image")
            writer.object { writer in
                writer.key("bytes")
                writer.integer(image.byteCount)
                writer.key("content_type")
                writer.string(orNull: image.contentType)
                writer.key("has_thumbnail")
                writer.bool(image.thumbnail != nil)
                writer.key("height")
                writer.integer(image.height)
                writer.key("id")
                writer.integer(imageID)
                writer.key("sha256")
                let digits = Array("0123456789abcdef".utf8)
                writer.string(String(decoding: image.sha256.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self))
                writer.key("width")
                writer.integer(image.width)
            }
            writer.key("labels")
            writer.labels(labels)
            writer.key("model")
            writer.string(modelID)
            writer.key("precision")
            writer.string(precision)
        }
    }
}

extension JSONWriter {
    /// A JSON value as read (a job's metadata), objects' keys sorted as the encoder sorts them.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case let .bool(flag): bool(flag)
        case let .integer(number): integer(number)
        case let .number(number): self.number(number)
        case let .string(text): string(text)
        case let .array(elements): array(elements) { writer, element in writer.value(element) }
        case let .object(members):
            object { writer in
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    writer.dataKey(key)
                    writer.value(member)
                }
            }
        }
    }

    /// Labels best first, each `{"label", "score"}`.
    mutating func labels(_ labels: [ScoredLabel]) {
        array(labels) { writer, label in
            writer.object { writer in
                writer.key("label")
                writer.string(label.label)
                writer.key("score")
                writer.number(label.score)
            }
        }
    }

    /// A time as `JSONReport` writes it: ISO 8601 in UTC with milliseconds.
    mutating func timestamp(_ date: Date) { string(JSONReport.timestamp(date)) }

    mutating func timestamp(orNull date: Date?) { if let date { timestamp(date) } else { null() } }

    mutating func string(orNull text: String?) { if let text { string(text) } else { null() } }

    mutating func integer(orNull number: (some BinaryInteger)?) { if let number { integer(number) } else { null() } }
}
