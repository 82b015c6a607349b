import ArgumentParser
import Bench
import Fetch
import Foundation
import Imaging
import Queue
import Xception

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure parts of xceptor on this machine.",
        subcommands: [
            QueueBench.self, InferenceBench.self, FetchBench.self, DecodeBench.self, SearchBench.self, StoreSearchBench.self,
            MakeImages.self, MakeStore.self,
            QueueDrain.self,
        ]
    )
}

extension BenchCommand {
    struct QueueBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract:
                "Enqueue jobs/s (batched) and claim+complete jobs/s for 1..N processes, on fresh SQLite files or a PostgreSQL database.",
            discussion: """
                Anchors: goqite (Go, SQLite) reports about 13,000 send+receive+delete per second (Benchmarks/queue/run.sh \
                measures its pattern here). With --db postgres://..., every step runs in that database (use a scratch \
                one) and the jobs table's dead rows and HOT updates are reported; Benchmarks/queue/run-postgres.sh \
                runs it next to River's and pgmq's SQL pattern driven from Python (psycopg) on the same server.
                """)

        @Option(name: .long, help: ArgumentHelp("A PostgreSQL URL to measure instead of SQLite files.", valueName: "url"))
        var db: String?

        @Option(name: .long, help: "Jobs to enqueue in one batch.")
        var jobs = 100_000

        @Option(name: .long, help: "Jobs to claim and complete per configuration.")
        var drainJobs = 20_000

        @Option(name: .long, parsing: .upToNextOption, help: "Process counts to measure.")
        var processes: [Int] = [1, 4]

        @Option(name: .long, parsing: .upToNextOption, help: "Claim batch sizes to measure (1: one job per claim and per complete).")
        var batch: [Int] = [1, 32]

        @Option(name: .long, help: ArgumentHelp("Directory for the scratch databases (default: a new temporary one).", valueName: "dir"))
        var directory: String?

        @Flag(
            name: .long,
            help: "PostgreSQL: do not vacuum the jobs table before each claim+complete step (measures a claim behind dead index entries).")
        var noVacuum = false

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard (1...10_000_000).contains(jobs), (1...10_000_000).contains(drainJobs), processes.allSatisfy({ (1...256).contains($0) }),
                batch.allSatisfy({ (1...10_000).contains($0) })
            else {
                throw ValidationError("--jobs and --drain-jobs must be 1-10000000, --processes 1-256, --batch 1-10000")
            }
            if let db, !db.hasPrefix("postgres://") && !db.hasPrefix("postgresql://") {
                throw ValidationError("--db takes a postgres:// URL here (without it, the benchmark makes its own SQLite files)")
            }
        }

        func run() async throws {
            let scratch =
                directory.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-bench-\(UUID().uuidString)")
            defer { if directory == nil { try? FileManager.default.removeItem(at: scratch) } }
            var benchmark = QueueBenchmark(
                executable: currentExecutable(), enqueueJobs: jobs, drainJobs: drainJobs,
                processCounts: processes, batchSizes: batch, directory: scratch, location: db)
            benchmark.vacuumFirst = !noVacuum
            let results = try await benchmark.run { line in if !json { print(line) } }
            if json {
                try printBenchmark(results)
            }
        }
    }

    /// One benchmark or test process: claims and completes until the queue is empty.
    struct QueueDrain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue-drain",
            abstract: "Claim and complete jobs until none is left (a child process of 'bench queue' and the tests).",
            shouldDisplay: false)

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Lease owner name.")
        var owner = "drain-\(ProcessInfo.processInfo.processIdentifier)"

        @Option(name: .long, help: "Jobs per claim.")
        var batch = 32

        @Option(name: .long, help: "Lease length in seconds.")
        var leaseSeconds = 30.0

        @Flag(name: .long, help: "Claim one batch, print its ids, then hold the leases until killed.")
        var hold = false

        @Flag(name: .customLong("print-ids"), help: "Print the id of every job completed, one per line.")
        var printIDs = false

        @Flag(name: .long, help: "Print a JSON report at the end.")
        var json = false

        @Flag(name: .long, help: "Once the store is open, print 'ready' and start when a line arrives on standard input.")
        var waitForStart = false

        func run() async throws {
            let store = try await store.open()
            if waitForStart {
                // The benchmark starts every child at once, as its Python anchor does behind a barrier, so
                // the start-up of late children is not inside the measured time. A call first: PostgreSQL's
                // pool connects at its first use, and the anchor connects before its barrier too.
                _ = try await store.hasUnfinishedJobs()
                try writeStandardOutput(Data("ready\n".utf8))
                _ = readLine()
            }
            if hold {
                let jobs = try await store.claim(limit: batch, leaseSeconds: leaseSeconds, owner: owner)
                // Unbuffered: the parent waits for this line before it kills us.
                try writeStandardOutput(Data("claimed \(jobs.map { String($0.id) }.joined(separator: " "))\n".utf8))
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            let drainer = QueueDrainer(store: store, owner: owner, batchSize: batch, leaseSeconds: leaseSeconds)
            let report = try await drainer.run { ids in
                if printIDs { print(ids.map(String.init).joined(separator: "\n")) }
            }
            if json {
                try writeStandardOutput(try JSONEncoder().encode(report) + Data("\n".utf8))
            }
        }
    }
}

/// This binary, to start copies of itself (benchmark children, the model importer's child).
func currentExecutable() -> URL {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
}

extension BenchCommand {
    struct InferenceBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inference",
            abstract: "Images/s, ms per batch and GFLOP/s of the network alone, on synthetic inputs.",
            discussion:
                "Anchors measured on a 2-core AVX-512 machine (~520 GFLOP/s fp32 peak), batch 8: ONNX Runtime ~24 img/s at 299 and ~113 at 150; TensorFlow ~21 and ~84. On other CPUs compare side by side: Benchmarks/inference/run.sh."
        )

        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "Input size in pixels (150 or 299; any size >= 71 works).")
        var size = 150

        @Option(name: .long, help: "Images per batch.")
        var batch = 8

        @Option(name: .long, help: "Threads for the kernels (default: $OMP_NUM_THREADS, else all cores).")
        var threads: Int?

        @Option(name: .long, help: "Timed batches.")
        var iterations = 10

        @OptionGroup var precision: PrecisionOptions

        @Flag(
            name: .long,
            help: "Time each step of the network alone: per layer ms, GFLOP/s and share, totals by kind, and the FMA peak of these cores.")
        var layers = false

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard size >= 71, batch >= 1, iterations >= 1, (threads ?? 1) >= 1 else {
                throw ValidationError("--size must be at least 71; --batch, --iterations and --threads at least 1")
            }
        }

        func run() async throws {
            let threadCount = KernelThreads.configure(threads)
            let weights = try model.load()
            let (precision, note) = try self.precision.choice().resolve(for: weights)
            if let note { printNote(note) }
            let network = try model.network(weights, precision: precision)
            if layers { return try profileLayers(network, threads: threadCount) }
            let result = try InferenceBenchmark(network: network, size: size, batch: batch, iterations: iterations).run(
                threads: threadCount)
            if json {
                try printBenchmark(result)
            } else {
                print(
                    String(
                        format: "%dx%d, batch %d, %@, %d threads: %.1f images/s, %.1f ms/batch, %.0f GFLOP/s",
                        size, size, batch, result.precision, threadCount, result.imagesPerSecond,
                        result.millisecondsPerBatch, result.gflops))
            }
        }

        private func profileLayers(_ network: XceptionNetwork, threads: Int) throws {
            let result = try InferenceBenchmark(network: network, size: size, batch: batch, iterations: iterations).profileLayers(
                threads: threads)
            if json { return try printBenchmark(result) }
            print(
                String(
                    format: "%dx%d, batch %d, %@, %d threads; each step alone, ms per batch", size, size, batch, result.precision, threads))
            print("layer                  kind            ms   GFLOP/s  share")
            for step in result.steps {
                let rate = step.flops > 0 ? String(format: "%9.0f", step.flops / step.milliseconds / 1e6) : "        -"
                print(
                    step.layer.rightPadded(to: 22), step.kind.rightPadded(to: 12),
                    String(format: "%7.3f %@ %5.1f%%", step.milliseconds, rate, 100 * step.milliseconds / result.millisecondsPerBatch))
            }
            print("by kind:")
            for kind in result.kinds {
                let rate = kind.gflops > 0 ? String(format: "%9.0f", kind.gflops) : "        -"
                print(" ", kind.kind.rightPadded(to: 33), String(format: "%7.3f %@ %5.1f%%", kind.milliseconds, rate, 100 * kind.share))
            }
            print(
                String(
                    format: "total %.2f ms per batch, %.0f GFLOP/s; fp32 FMA peak of %d threads %.0f GFLOP/s: %.0f%% of it",
                    result.millisecondsPerBatch, result.gflops, threads, result.peakGflops, 100 * result.peakFraction))
        }
    }
}

extension BenchCommand {
    struct MakeImages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "make-images",
            abstract: "Write distinct JPEGs (crops, mirror images, colour shifts) made from a few source JPEGs, for demos and benchmarks.")

        @Option(name: .long, help: "Variants to write.")
        var count = 1000

        @Option(name: .long, help: ArgumentHelp("Where to write NNNNN.jpg.", valueName: "dir"))
        var output: String

        @Argument(help: "Source JPEG files.")
        var sources: [String]

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
            guard !sources.isEmpty else { throw ValidationError("name at least one source JPEG") }
        }

        func run() async throws {
            let decoder = ImageDecoder()
            let images = try sources.map { path in
                do {
                    return try decoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
                } catch {
                    throw CommandFailure("cannot use \(path) as a source: \(FailureMessage.text(for: error))")
                }
            }
            let names = try ImageVariants.write(count: count, from: images, to: URL(fileURLWithPath: output))
            print("wrote \(names.count) images to \(output)")
        }
    }
}

extension BenchCommand {
    struct MakeStore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "make-store",
            abstract: "Fill a new store with done jobs of clustered random 2048-d embeddings, for search and HTTP load benchmarks.")

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Done jobs to store.")
        var count = 100_000

        func validate() throws {
            guard (1...10_000_000).contains(count) else { throw ValidationError("--count must be 1-10000000") }
        }

        func run() async throws {
            let path = try store.sqlitePath(for: "bench make-store")
            guard !FileManager.default.fileExists(atPath: path) else {
                throw CommandFailure("\(path) exists; make-store fills a new store")
            }
            try await SyntheticStore(path: path, count: count).make { stored in
                if stored % 20_000 == 0 || stored == count { FileHandle.standardError.write(Data("stored \(stored)\n".utf8)) }
            }
        }
    }

    struct StoreSearchBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search-store",
            abstract: "The library's own search-by-job time on a store (vectors and index loaded once, as in the server): p50, p99.")

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Searches to time.")
        var queries = 500

        @Option(name: .long, help: "Searches in flight at once (as many as a server's concurrent connections).")
        var concurrency = 1

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard (1...1_000_000).contains(queries) else { throw ValidationError("--queries must be 1-1000000, got \(queries)") }
            guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be 1-1024, got \(concurrency)") }
        }

        func run() async throws {
            let result = try await StoreSearchBenchmark(
                path: try store.sqlitePath(for: "bench search-store"), queries: queries, concurrency: concurrency
            ).run()
            if json { return try printBenchmark(result) }
            print(
                String(
                    format: "%@ over %d vectors (%@), %d at once: p50 %.2f ms, p99 %.2f ms, mean %.2f ms, %.2f CPU ms per search",
                    result.kind, result.vectors, result.method, result.concurrency, result.p50Milliseconds, result.p99Milliseconds,
                    result.meanMilliseconds, result.cpuMillisecondsPerQuery))
        }
    }

    struct FetchBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fetch",
            abstract: "Fetch, decode and resize a list of image URLs to the model input: images/s and CPU ms per image.",
            discussion:
                "Anchors (2 cores, 1,000 JPEGs from nginx): Python urllib + Pillow 644 img/s at 2.97 CPU ms/img; with Pillow's draft mode 1,172. Benchmarks/fetch/run.sh measures them next to this."
        )

        @Option(name: .long, help: ArgumentHelp("A file of URLs, one per line.", valueName: "file"))
        var urls: String

        @Option(name: .long, help: "Model input size.")
        var size = 150

        @Flag(name: .long, help: "Let large JPEGs shrink while decoding (DCT domain).")
        var dctDownscale = false

        @OptionGroup var fetch: FetchOptions

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let list = try String(contentsOfFile: urls, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init).filter {
                !$0.isEmpty
            }
            guard !list.isEmpty else { throw CommandFailure("\(urls) lists no URLs") }
            let result = await FetchBenchmark(urls: list, size: size, dctDownscale: dctDownscale, configuration: fetch.configuration).run()
            if json {
                try printBenchmark(result)
            } else {
                print(
                    String(
                        format: "%@: %d images (%d failed) to %dx%d: %.0f img/s, %.2f CPU ms/img", result.kind, result.images,
                        result.failures, size, size, result.imagesPerSecond, result.cpuMsPerImage))
            }
        }
    }
}

extension BenchCommand {
    struct DecodeBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode",
            abstract:
                "CPU ms per image of each step the worker runs on fetched bytes (hash, decode, resize, normalise, thumbnail), one thread.",
            discussion:
                "The files are read into memory first; each step's figure is the best of the rounds. With fetching and storing this is the worker's CPU outside the network: Benchmarks/pipeline/run.sh prints it beside the end-to-end figures."
        )

        @Option(name: .long, help: ArgumentHelp("A directory of image files (its regular files, not subdirectories).", valueName: "dir"))
        var images: String

        @Option(name: .long, help: "Model input size.")
        var size = 150

        @Option(name: .long, help: "Longest side of the thumbnail, as the worker's --thumbnail-size (0: none).")
        var thumbnailSize = 128

        @Option(name: .long, help: "Files to read at most (in name order).")
        var limit = 1000

        @Option(name: .long, help: "Passes over the files.")
        var rounds = 3

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            try requireRange("--size", size, 71...2048)
            try requireRange("--thumbnail-size", thumbnailSize, 0...4096)
            try requireRange("--limit", limit, 1...1_000_000)
            try requireRange("--rounds", rounds, 1...100)
        }

        func run() async throws {
            let directory = URL(fileURLWithPath: images)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
            } catch {
                throw CommandFailure("cannot list \(images): \(error.localizedDescription); name a directory of image files")
            }
            var files: [[UInt8]] = []
            var paths: [String] = []
            for name in names where files.count < limit {
                let file = directory.appendingPathComponent(name)
                guard (try? FileManager.default.attributesOfItem(atPath: file.path)[.type]) as? FileAttributeType == .typeRegular else {
                    continue
                }
                // Read as `embed` reads a file: up to what the worker takes from a server.
                let bytes: [UInt8]
                do {
                    bytes = try readFile(file.path, what: "the image", limit: imageFileLimit)
                } catch let failure as CommandFailure {
                    throw CommandFailure("\(failure); leave it out of the directory")
                }
                // Every file must be one the worker would embed, or the figures would mix in failures.
                do {
                    _ = try ImageDecoder().dimensions(bytes)
                } catch {
                    throw CommandFailure("\(file.path) is not an image the worker decodes (\(error)); leave it out of the directory")
                }
                files.append(bytes)
                paths.append(file.path)
            }
            guard !files.isEmpty else { throw CommandFailure("\(images) holds no files; name a directory of image files") }
            keepImageBuffersOnHeap()
            let result: DecodeBenchmark.Result
            do {
                result = try DecodeBenchmark(files: files, size: size, thumbnailSide: thumbnailSize, rounds: rounds).run()
            } catch let failure as DecodeBenchmark.FileFailure {
                throw CommandFailure("\(paths[failure.index]) could not be decoded (\(failure.error)); leave it out of the directory")
            }
            if json { return try printBenchmark(result) }
            print(
                String(
                    format: "%d images, %.2f megapixels on average, to %dx%d with %d px thumbnails; CPU ms per image, one thread:",
                    result.images, result.meanMegapixels, size, size, thumbnailSize))
            for step in result.steps {
                print(step.step.rightPadded(to: 10), String(format: "%7.3f ms %5.1f%%", step.msPerImage, 100 * step.share))
            }
            print("total".rightPadded(to: 10), String(format: "%7.3f ms", result.totalMsPerImage))
        }
    }
}

extension BenchCommand {
    struct SearchBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search",
            abstract:
                "Exact k-NN on .npy vectors (gen_data.py's base and queries): ms per single query, per query in batches, and per single query over half-float rows (with its recall).",
            discussion:
                "Anchors (2-core AVX-512 Zen 5, 100k x 2048, this machine type drifts 10-30%): memory-bandwidth floor 14-20 ms per scan; FAISS IndexFlatIP 44-52 ms single, 1.5-1.9 ms/query in batches of 64. The batched line says how much of the time the matrix product took and at what rate. Benchmarks/search/run.sh measures the floor, FAISS and numpy next to this, round by round."
        )

        @Option(name: .long, help: ArgumentHelp("The base vectors (.npy, n x d float32).", valueName: "file"))
        var base: String

        @Option(name: .long, help: ArgumentHelp("The queries (.npy, q x d float32).", valueName: "file"))
        var queries: String

        @Option(name: .short, help: "Neighbours per query.")
        var k = 10

        @Option(name: .long, help: "Single queries to time.")
        var single = 100

        @Option(name: .long, help: "Queries per batch.")
        var batch = 64

        @Flag(name: .long, help: "Build an HNSW index instead and report build time, recall@10, ms/query and queries/s per ef.")
        var hnsw = false

        @Option(name: .long, help: "HNSW links per node.")
        var m = 16

        @Option(name: .long, help: "HNSW candidates per insertion.")
        var efConstruction = 200

        @Option(name: .long, parsing: .upToNextOption, help: "HNSW candidates per search to measure.")
        var efSearch: [Int] = [16, 32, 64, 128]

        @Option(name: .long, help: "Threads that build the HNSW index (default: every core).")
        var threads: Int?

        @Flag(name: .long, help: "Print one JSON object per line.")
        var json = false

        func run() async throws {
            _ = KernelThreads.configure(nil)
            let benchmark = try SearchBenchmark(base: URL(fileURLWithPath: base), queries: URL(fileURLWithPath: queries))
            if hnsw {
                for result in try benchmark.runHNSW(
                    k: k, m: m, efConstruction: efConstruction, efSearch: efSearch,
                    threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
                {
                    if json {
                        try printBenchmark(result)
                    } else {
                        print(
                            String(
                                format:
                                    "HNSW M=%d efC=%d on %d: built in %.1f s; ef %d: recall@10 %.4f, %.3f ms/query, %.0f queries/s on all cores",
                                result.m, result.efConstruction, result.vectors, result.buildSeconds, result.efSearch,
                                result.recallAt10, result.millisecondsPerQuery, result.queriesPerSecondAllCores))
                    }
                }
                return
            }
            for result in try benchmark.run(k: k, singleQueries: single, batch: batch) {
                if json {
                    try printBenchmark(result)
                } else {
                    print(
                        String(
                            format: "%@: %d x %d, %d queries (batch %d): %.2f ms/query", result.kind, result.vectors,
                            result.dimensions, result.queries, result.batch, result.millisecondsPerQuery)
                            + (result.recallAt10.map { String(format: ", recall@10 %.4f against float32", $0) } ?? "")
                            + (result.scoringShare.map { share in
                                String(format: "; %.0f%% in the matrix product at %.1f GFLOP/s", 100 * share, result.scoringGflops ?? 0)
                            } ?? ""))
                }
            }
        }
    }
}

/// Writes a benchmark's result as one JSON line, keys in snake case and sorted (the scripts in Benchmarks/
/// read them).
func printBenchmark(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    try writeStandardOutput(try encoder.encode(value) + Data("\n".utf8))
}
