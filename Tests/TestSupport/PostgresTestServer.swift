import Foundation
import Synchronization

/// A private PostgreSQL server for the tests: Debian's own binaries (`initdb`, `pg_ctl`), a data directory
/// under the temporary directory, a free port on 127.0.0.1 with password (SCRAM) authentication, stopped
/// and removed when the test process exits. `XCEPTOR_TEST_POSTGRES_URL` names an existing server instead
/// (its user must be allowed to create databases).
///
/// Nothing is mocked: when no server can be started the tests that need one fail and say why.
public final class PostgresTestServer: Sendable {
    /// The server every test of this process shares, started on first use.
    public static func shared() throws -> PostgresTestServer {
        try started.withLock { server in
            if let server { return try server.get() }
            let result = Result { try PostgresTestServer(useEnvironment: true) }
            server = result
            return try result.get()
        }
    }

    private static let started = Mutex<Result<PostgresTestServer, Error>?>(nil)

    /// `postgres://USER:PASSWORD@127.0.0.1:PORT/` without a database name.
    public let baseURL: String
    /// The TCP port (0 for a server named by XCEPTOR_TEST_POSTGRES_URL).
    public let port: Int
    private let directory: URL?
    private let binaries: URL?
    private let databaseCount = Atomic<Int>(0)
    private let control: (@Sendable (String, Double) throws -> Void)?

    /// A server of its own for a test that stops and starts it, which would break the tests sharing `shared()`.
    /// `alsoListenOn` adds an address to listen on, and `clients` a network whose clients may log in with
    /// the password (pg_hba.conf), for the multi-host test's namespaces.
    public static func startPrivate(alsoListenOn address: String? = nil, clients: String? = nil) throws -> PostgresTestServer {
        try PostgresTestServer(useEnvironment: false, alsoListenOn: address, clients: clients)
    }

    private init(useEnvironment: Bool, alsoListenOn extraAddress: String? = nil, clients: String? = nil) throws {
        if useEnvironment, let url = ProcessInfo.processInfo.environment["XCEPTOR_TEST_POSTGRES_URL"], !url.isEmpty {
            baseURL = url.hasSuffix("/") ? url : url + "/"
            port = 0
            directory = nil
            binaries = nil
            control = nil
            return
        }
        let binaries = try Self.findBinaries()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-postgres-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let password = UUID().uuidString
        try password.write(to: directory.appendingPathComponent("password"), atomically: true, encoding: .utf8)
        // initdb refuses to run as root: the server then runs as the postgres user Debian's package made.
        let runAs = getuid() == 0 ? "postgres" : nil
        if let runAs { try Self.run("/bin/chown", ["-R", runAs, directory.path]) }
        let port = try Self.freePort()
        self.port = port
        let data = directory.appendingPathComponent("data").path
        let listen = (["127.0.0.1"] + (extraAddress.map { [$0] } ?? [])).joined(separator: ",")
        try Self.run(
            binaries.appendingPathComponent("initdb").path,
            [
                "-D", data, "-U", "xceptor", "--pwfile", directory.appendingPathComponent("password").path,
                "--auth-local", "trust", "--auth-host", "scram-sha-256", "-E", "UTF8", "--no-sync",
            ], as: runAs)
        if let clients {
            let hba = directory.appendingPathComponent("data/pg_hba.conf")
            let handle = try FileHandle(forWritingTo: hba)
            handle.seekToEndOfFile()
            handle.write(Data("host all all \(clients) scram-sha-256\n".utf8))
            try handle.close()
        }
        try Self.run(
            binaries.appendingPathComponent("pg_ctl").path,
            [
                "-D", data, "-l", directory.appendingPathComponent("server.log").path, "-w", "-t", "60",
                "-o", "-c listen_addresses=\(listen) -p \(port) -k \(directory.path) -c fsync=off -c max_connections=300",
                "start",
            ], as: runAs)
        self.directory = directory
        self.binaries = binaries
        control = { action, pause in
            try Self.run(binaries.appendingPathComponent("pg_ctl").path, ["-D", data, "-m", "fast", "-w", "stop"], as: runAs)
            Thread.sleep(forTimeInterval: pause)
            try Self.run(
                binaries.appendingPathComponent("pg_ctl").path,
                [
                    "-D", data, "-l", directory.appendingPathComponent("server.log").path, "-w", "-t", "60",
                    "-o", "-c listen_addresses=\(listen) -p \(port) -k \(directory.path) -c fsync=off -c max_connections=300",
                    "start",
                ], as: runAs)
        }
        baseURL = "postgres://xceptor:\(password)@127.0.0.1:\(port)/"
        let stop: @Sendable () -> Void = { [binaries, directory] in
            try? Self.run(binaries.appendingPathComponent("pg_ctl").path, ["-D", data, "-m", "immediate", "-w", "stop"], as: runAs)
            try? FileManager.default.removeItem(at: directory)
        }
        Self.atExit.withLock { stops in
            if stops.isEmpty { atexit { PostgresTestServer.atExit.withLock { $0 }.forEach { $0() } } }
            stops.append(stop)
        }
    }

    private static let atExit = Mutex<[@Sendable () -> Void]>([])

    /// Stops the server (fast shutdown: sessions are cut), leaves it down for `downSeconds`, and starts it
    /// again on the same port. Only for a server these tests started.
    public func restart(downSeconds: Double = 0) throws {
        guard let control else { throw TestServerError("XCEPTOR_TEST_POSTGRES_URL names a server the tests cannot restart") }
        try control("restart", downSeconds)
    }

    /// A new, empty database on the server; returns its URL.
    public func makeDatabase() throws -> String {
        let name = "xceptor_test_\(getpid())_\(databaseCount.add(1, ordering: .relaxed).newValue)"
        try psql(database: "postgres", "CREATE DATABASE \(name)")
        return baseURL + name
    }

    /// Runs SQL with `psql` (PostgreSQL's own client) against a database of the server.
    public func psql(database: String, _ sql: String) throws {
        let client = binaries?.appendingPathComponent("psql").path ?? "/usr/bin/psql"
        try Self.run(client, ["--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-q", "-d", baseURL + database, "-c", sql])
    }

    /// The server's log, for a failing test's message.
    public var log: String {
        directory.flatMap { try? String(contentsOf: $0.appendingPathComponent("server.log"), encoding: .utf8) } ?? ""
    }

    private static func findBinaries() throws -> URL {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path))?.compactMap(Int.init).sorted() ?? []
        guard let newest = versions.last else {
            throw TestServerError(
                "no PostgreSQL server binaries under /usr/lib/postgresql: install Debian's postgresql package (scripts/install-deps.sh does), or set XCEPTOR_TEST_POSTGRES_URL"
            )
        }
        return root.appendingPathComponent("\(newest)/bin")
    }

    public static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw TestServerError("socket() failed") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        guard bound else { throw TestServerError("could not find a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program (as `user` through runuser when given) and fails with its output when it fails.
    ///
    /// posix_spawn and waitpid, not Foundation's Process: Process learns that a child ended when a socket the
    /// child inherited closes, and the server pg_ctl starts inherits it too and keeps it open for its life.
    /// For the same reason the child gets standard input, output and error only.
    public static func run(_ program: String, _ arguments: [String], as user: String? = nil) throws {
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0, "--", program] + arguments } ?? [program] + arguments
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-pg-output-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outputFile) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process: the server outlives the call, and would keep open whatever it
        // inherited (another test's pipe, the socket Foundation watches a child by), so their readers never
        // see the end.
        // (glibc ignores a close of a descriptor that another thread closed meanwhile.)
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for descriptor in open where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
        var pid = pid_t()
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else { throw TestServerError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        // WIFEXITED and WEXITSTATUS, which Swift does not import: exited normally with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw TestServerError("\(program) \(arguments.joined(separator: " ")) failed (wait status \(status)): \(text)")
        }
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
