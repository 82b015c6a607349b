import ArgumentParser
import Fetch
import Foundation
import Logging
import Metrics
import Prometheus
import Queue
import Retrieval
import Server
import ServiceLifecycle
import Xception

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API: enqueue, jobs, status and search over the store, as the command line does.",
        discussion: """
            The routes and their JSON are described by the OpenAPI document the server serves at /openapi.yaml; \
            each answers with the shape the matching command's --json prints, and errors as {"error": {"code", \
            "message"}}. The model is loaded once and query images go through one shared inference engine. \
            Binds 127.0.0.1 unless --host says otherwise; with --token-file every route but /healthz, /readyz and \
            /openapi.yaml needs 'Authorization: Bearer TOKEN'. SIGTERM or SIGINT stops it gracefully. The line \
            'listening on http://HOST:PORT' on standard error says where it listens (useful with --port 0).
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var precision: PrecisionOptions

    @Option(name: .long, help: "Address to bind (default: loopback only).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on (0: any free port).")
    var port = 8080

    @Option(name: .long, help: ArgumentHelp("A file holding the bearer token every request must carry.", valueName: "file"))
    var tokenFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp("An origin allowed to call the API from a browser (* for any); none by default.", valueName: "origin"))
    var corsOrigin: String?

    @Option(name: .long, help: "Largest request body, in bytes (JSON and text).")
    var maxRequestBytes = 1 << 20

    @Option(name: .long, help: "Largest image upload to /v1/search, in bytes (decoded images are bounded as the worker's are).")
    var maxUploadBytes = 32 << 20

    @Option(name: .long, help: "Largest inference batch for query images.")
    var batch = 8

    @Option(name: .long, help: "Inference threads (default: $OMP_NUM_THREADS, else the cores).")
    var threads: Int?

    @Flag(name: .long, help: "Allow URL queries on loopback and private addresses.")
    var allowPrivateNetworks = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard (1024...(1 << 30)).contains(maxRequestBytes) else { throw ValidationError("--max-request-bytes must be 1024-1073741824") }
        guard (1024...(1 << 30)).contains(maxUploadBytes) else { throw ValidationError("--max-upload-bytes must be 1024-1073741824") }
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be 1-256") }
        if let threads, !(1...4096).contains(threads) { throw ValidationError("--threads must be 1-4096") }
        if let corsOrigin, corsOrigin.isEmpty { throw ValidationError("--cors-origin cannot be empty") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "xceptor.serve")
        let precisionChoice = try self.precision.choice()  // a usage mistake, found before any work
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        _ = KernelThreads.configure(threads)
        let token = try tokenFile.map(Self.readToken)
        let jobStore = try await store.openWaiting(logger: logger)
        let weights = try model.load()
        let (precision, note) = precisionChoice.resolve(for: weights)
        if let note { logger.notice("\(note)") }
        let network = try model.network(weights, precision: precision) { [logger] in logger.warning("\($0)") }
        let engine = InferenceEngine(network: network, configuration: .init(maxBatch: batch, queueCapacity: 4 * batch))
        defer { engine.shutdown() }
        var fetch = FetchConfiguration()
        fetch.allowPrivateNetworks = allowPrivateNetworks
        let search = SearchService(
            store: jobStore, indexFile: store.indexFile, embedder: ModelFileEmbedder(path: model.path, engine: engine),
            fetchConfiguration: fetch)
        let services = APIServices(store: jobStore, search: search, registry: registry)

        var configuration = APIConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.token = token
        configuration.corsOrigin = corsOrigin
        configuration.maxRequestBytes = maxRequestBytes
        configuration.maxUploadBytes = maxUploadBytes
        let host = self.host
        let application = APIServer.application(configuration: configuration, services: services, logger: logger) { port in
            FileHandle.standardError.write(Data("listening on http://\(host):\(port)\n".utf8))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: application)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // The server answers /healthz at once and /readyz once the vectors and the index are loaded (the model
        // already is): on 100k embeddings that takes a few seconds, which the first search no longer pays. It
        // runs on the blocking-work threads: on an event loop it would hold up that loop's connections.
        Task(executorPreference: BlockingWork.executor) {
            do {
                try await search.warmUp()
                services.isReady = true
                logger.info("ready: the model, the vectors and the index are loaded")
            } catch {
                logger.error("loading the vectors failed: \(error); searches will read them as they come")
                services.isReady = true
            }
        }
        try await group.run()
    }

    /// The token in a file, without surrounding whitespace; an empty or unreadable file is an error.
    static func readToken(_ path: String) throws -> String {
        let text = String(decoding: try readFile(path, what: "the token file", limit: 64 << 10), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.utf8.count <= 4096, !text.contains(where: { $0.isNewline }) else {
            throw CommandFailure("\(path) must hold one token of 1 to 4096 bytes on one line")
        }
        return text
    }
}
