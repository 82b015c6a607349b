import Foundation
import Queue
import TestSupport
import Testing

@testable import Retrieval

/// `JSONWriter` against the encoder it stands in for (`JSONReport.encoder()`, Foundation's JSONEncoder):
/// the same bytes for every string, every number and whole search answers.
@Suite("JSON writer")
struct JSONWriterTests {
    let encoder = JSONReport.encoder()

    func written(_ write: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        write(&writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    func encoded(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }

    @Test("strings: every ASCII character, alone and in company, and non-ASCII text, escaped as the encoder escapes them")
    func strings() throws {
        var texts = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        texts += [
            "", "plain", "a \"quoted\" \\ back\\slash", "http://a/b?c=d&e=f#g", "tab\tnew\nline\r\u{0}\u{1f}\u{7f}",
            "é日本語", "🙂 emoji", "\u{2028}\u{2029}", "</script>", String(repeating: "x\u{5}", count: 100),
        ]
        for text in texts { #expect(written { $0.string(text) } == (try encoded(text)), "\(Array(text.unicodeScalars))") }
    }

    @Test("numbers: Float and Double across their range, integers at their limits, as the encoder prints them")
    func numbers() throws {
        var random = Random(seed: 5)
        var floats: [Float] = [0, -0, 1, -1, 0.1, 0.5, 1.5, 100, 1e7, 1e-5, 123_456_789, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        var doubles: [Double] = [0, 1, 0.9, 0.1, 1e16, 1e-7, 2.5e-300, .greatestFiniteMagnitude, .leastNormalMagnitude]
        while floats.count < 20_000 {
            let float = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            if float.isFinite { floats.append(float) }
            let double = Double(bitPattern: random.next())
            if double.isFinite { doubles.append(double) }
        }
        floats += (0..<2_000).map { _ in Float(random.next() % 2_000_001) / 1_000_000 - 1 }  // scores
        for float in floats { #expect(written { $0.number(float) } == (try encoded(float)), "\(float.bitPattern)") }
        for double in doubles { #expect(written { $0.number(double) } == (try encoded(double)), "\(double.bitPattern)") }
        for integer: Int64 in [0, -1, 42, .max, .min] { #expect(written { $0.integer(integer) } == (try encoded(integer))) }
        #expect(written { $0.number(Float.nan) } == "null")
    }

    @Test("search answers from a real store, and one with hostile URLs and labels, are the encoder's bytes")
    func searchAnswers() async throws {
        let collection = try await SearchServiceTests.Collection(count: 300)
        var responses: [SearchResponse] = []
        for job in [1, 7, 150] as [JobID] {
            responses.append(try await collection.service.search(SearchRequest(query: .job(job), k: 25)))
        }
        responses.append(try await collection.service.search(SearchRequest(query: .job(3), k: 5, minScore: 0.99)))
        let hostile = SearchHit(
            job: 9, url: "http://a/\"quote\"\\back\u{1}ctl/é?x=1", image: 4, score: -0.25,
            labels: [ScoredLabel(label: "tab\there", score: 1), ScoredLabel(label: "日本", score: 3.0e-8)],
            sameBytes: [JobReference(id: 10, url: "http://b/\n"), JobReference(id: 11, url: "")])
        responses.append(SearchResponse(model: "m\"1", method: .exact, results: [hostile, hostile]))
        #expect(responses.contains { !$0.results.isEmpty })
        for response in responses {
            #expect(written { response.writeJSON(into: &$0) } == (try encoded(response)))
        }
    }

    @Test("an HTTP page adds each result's thumbnail URL and the next cursor, and nothing else")
    func page() async throws {
        let hit = SearchHit(job: 2, url: "http://a/2", image: 5, score: 0.5, labels: [], sameBytes: [])
        let response = SearchResponse(model: "m", method: .index, results: [hit])
        let paged = written { response.writeJSON(into: &$0, page: (thumbnailURL: { "/t/\($0.image)" }, nextCursor: "o10")) }
        let last = written { response.writeJSON(into: &$0, page: (thumbnailURL: { "/t/\($0.image)" }, nextCursor: nil)) }
        #expect(
            paged
                == #"{"method":"index","model":"m","next_cursor":"o10","results":[{"image":5,"job":2,"labels":[],"same_bytes":[],"score":0.5,"thumbnail_url":"/t/5","url":"http://a/2"}]}"#
        )
        #expect(last.contains(#""next_cursor":null"#))
    }
}

extension JSONWriterTests {
    @Test("job details in every state, with metadata of every JSON kind, from a real store, are the encoder's bytes")
    func jobDetails() async throws {
        let directory = try makeScratchDirectory("xceptor-json-writer")
        let store = try SQLiteJobStore(path: directory.appendingPathComponent("q.sqlite").path)
        let metadata = [
            #"{"b":1,"B":2,"a10":[1,2.5,-3e-7,null,true,"x"],"a9":{"z":{},"y":[]},"é":"日本\n\"q\"","_":1e300,"n":null}"#,
            #"{"shard":4}"#, "[1,2]", "7",
        ]
        _ = try await store.enqueue(
            (0..<6).map { NewJob(url: "http://a/\($0)?q=\"\\\u{1}", metadataJSON: $0 < metadata.count ? metadata[$0] : nil) })
        let claimed = try await store.claim(limit: 5, leaseSeconds: 60, owner: "writer\ttest")
        _ = try await store.complete(
            [
                JobCompletion(
                    lease: claimed[0].lease,
                    result: JobResult(
                        image: ImageFacts(
                            sha256: (0..<32).map { UInt8($0 * 7 % 256) }, width: 640, height: 480, byteCount: 50_000,
                            contentType: "image/jpeg", thumbnail: [1, 2, 3]),
                        modelID: "m@150", embedding: (0..<16).map { Float($0) / 3 },
                        labels: [ScoredLabel(label: "cup", score: 0.875), ScoredLabel(label: "fork", score: 1e-9)])),
                JobCompletion(
                    lease: claimed[1].lease,
                    result: JobResult(
                        image: ImageFacts(sha256: [UInt8](repeating: 255, count: 32), width: 1, height: 1, byteCount: 0),
                        modelID: "m@150", embedding: [1], labels: [], precision: "bf16")),
            ], thenClaim: 0, leaseSeconds: 60, owner: "writer\ttest")
        _ = try await store.fail(
            claimed[2].lease, JobFailure(message: "HTTP 404 \"Not Found\"\r\n", errorClass: .permanent, httpStatus: 404))
        _ = try await store.fail(claimed[3].lease, JobFailure(message: "timeout", errorClass: .transient))
        for id in 1...6 as ClosedRange<JobID> {
            let detail = try #require(try await JobDetail.load(id, from: store))
            #expect(written { detail.writeJSON(into: &$0) } == (try encoded(detail)), "job \(id)")
        }
    }
}
