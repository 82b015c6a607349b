import Foundation
import TestSupport
import Testing

@Suite("deploy files")
struct DeployTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy")
        .standardizedFileURL

    static var systemdAnalyze: String? {
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(
        "the systemd units pass systemd-analyze verify, are hardened alike, and the worker's stops later than its grace period",
        .enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed"),
        arguments: ["xceptor-worker.service", "xceptor-serve.service"])
    func systemdUnit(name: String) async throws {
        let unit = try String(contentsOf: Self.deploy.appendingPathComponent(name), encoding: .utf8)
        // verify checks that ExecStart's binary exists: point it at the one just built.
        let dir = try makeScratchDirectory()
        let copy = dir.appendingPathComponent(name)
        try unit.replacingOccurrences(of: "/usr/local/bin/xceptor", with: XceptorProcess.executable.path)
            .write(to: copy, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.systemdAnalyze))
        process.arguments = ["verify", copy.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && output.isEmpty, "\(output)")

        if name == "xceptor-worker.service" {
            let grace = try #require(unit.firstMatch(of: /--grace-seconds (\d+)/)?.1).description
            let stop = try #require(unit.firstMatch(of: /TimeoutStopSec=(\d+)/)?.1).description
            #expect(Int(stop)! > Int(grace)!)
        }
        for setting in [
            "DynamicUser=yes", "User=xceptor", "StateDirectory=xceptor", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "Restart=on-failure", "SystemCallFilter=@system-service", "CapabilityBoundingSet=",
        ] {
            #expect(unit.contains(setting), "\(setting)")
        }
    }
}

/// deploy/kubernetes and deploy/compose.yaml: no cluster runs here, so the manifests are checked against the
/// Kubernetes schemas (kubernetes-validate from PyPI, which scripts/test.sh installs), and the KEDA trigger's
/// query, which no schema covers, is run against a real migrated PostgreSQL store.
@Suite("deploy files for a cluster")
struct ClusterDeployTests {
    static let kubernetes = DeployTests.deploy.appendingPathComponent("kubernetes")

    static func validator() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["XCEPTOR_KUBERNETES_VALIDATE"],
            FileManager.default.isExecutableFile(atPath: path)
        else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "XCEPTOR_KUBERNETES_VALIDATE does not name kubernetes-validate; run the tests with scripts/test.sh, which installs it from PyPI"
                ])
        }
        return path
    }

    @Test("every manifest passes kubernetes-validate --strict; only KEDA's resources lack a schema")
    func manifestsValidate() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.kubernetes.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(Set(files).isSuperset(of: ["migrate-job.yaml", "search.yaml", "worker-scaledobject.yaml", "worker.yaml"]))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.validator())
        process.arguments = ["--strict"] + files.map { Self.kubernetes.appendingPathComponent($0).path }
        // Its report goes to a file: a pipe's end of file never comes while any other child holds its write end.
        let report = try makeScratchDirectory().appendingPathComponent("report")
        FileManager.default.createFile(atPath: report.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: report)
        process.standardError = process.standardOutput
        try process.run()
        process.waitUntilExit()
        let text = try String(contentsOf: report, encoding: .utf8)
        #expect(process.terminationStatus == 0, "\(text)")
        for line in text.split(separator: "\n") where !line.hasPrefix("INFO") {
            #expect(line.contains("with api version keda.sh/"), "\(line)")
        }
        for kind in ["job/xceptor-migrate", "deployment/xceptor-worker", "deployment/xceptor-search", "service/xceptor-search"] {
            #expect(text.contains("passed for resource \(kind)"), "\(kind) was not validated")
        }
    }

    @Test("the KEDA trigger's query counts exactly the jobs a worker could claim now, on a real store")
    func scalerQuery() async throws {
        let manifest = try String(contentsOf: Self.kubernetes.appendingPathComponent("worker-scaledobject.yaml"), encoding: .utf8)
        let query = try #require(manifest.firstMatch(of: /query: "([^"]+)"/)?.1).description
        let server = try PostgresTestServer.shared()
        let url = try server.makeDatabase()
        let dir = try makeScratchDirectory()
        #expect(
            try await XceptorProcess.run(["enqueue", "--db", url, "http://a.test/1", "http://a.test/2", "http://a.test/3"], in: dir).status
                == 0)
        // Of the three: one waits out a retry backoff, one is running under a lease; one is ready now.
        let database = String(url.split(separator: "/").last!)
        try server.psql(database: database, "UPDATE jobs SET available_at = available_at + 3600000 WHERE url = 'http://a.test/1'")
        try server.psql(
            database: database,
            "UPDATE jobs SET state = 'running', attempts = 1, lease_owner = 'w', lease_expires_at = available_at + 60000 WHERE url = 'http://a.test/2'"
        )
        try server.psql(
            database: database,
            "DO $$ DECLARE n bigint; BEGIN SELECT count INTO n FROM (\(query)) AS reading; IF n <> 1 THEN RAISE 'the trigger counted % jobs, not 1', n; END IF; END $$"
        )
    }

    @Test("compose runs the workers on a PostgreSQL service they wait for")
    func composeFile() throws {
        let compose = try String(contentsOf: DeployTests.deploy.appendingPathComponent("compose.yaml"), encoding: .utf8)
        #expect(compose.contains("image: docker.io/library/postgres:15") && compose.contains("condition: service_healthy"))
        #expect(compose.contains("XCEPTOR_DB: postgres://xceptor:${XCEPTOR_DB_PASSWORD:-change-me}@postgres:5432/xceptor"))
    }
}
