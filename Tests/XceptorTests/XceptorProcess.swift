import Foundation

/// Runs the real `xceptor` binary that `swift build` put next to the test bundle.
struct XceptorProcess {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let executable: URL = {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        // The test bundle sits in the build products directory, or inside a bundle folder within it.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("xceptor")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        fatalError("the xceptor binary was not built next to the tests (looked up from \(directory.path))")
    }()

    /// Starts `xceptor` with `arguments`; its output goes to files, so large outputs never block on a pipe.
    /// `launcher` runs it through another program (`ip netns exec NAME`), which ends by executing it.
    static func start(_ arguments: [String], environment: [String: String] = [:], in directory: URL, launcher: [String] = [])
        throws -> (Process, URL, URL)
    {
        let process = Process()
        process.executableURL = launcher.first.map { URL(fileURLWithPath: $0) } ?? executable
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [executable.path] + arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let id = UUID().uuidString
        let stdout = directory.appendingPathComponent("stdout-\(id)")
        let stderr = directory.appendingPathComponent("stderr-\(id)")
        guard FileManager.default.createFile(atPath: stdout.path, contents: nil),
            FileManager.default.createFile(atPath: stderr.path, contents: nil)
        else { throw CocoaError(.fileWriteUnknown) }
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return (process, stdout, stderr)
    }

    /// Runs `xceptor` to the end.
    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL) async throws -> Output {
        let (process, stdout, stderr) = try start(arguments, environment: environment, in: directory)
        await waitForExit(process)
        return Output(
            status: process.terminationStatus,
            stdout: try String(contentsOf: stdout, encoding: .utf8),
            stderr: try String(contentsOf: stderr, encoding: .utf8))
    }

    static func waitForExit(_ process: Process) async {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }
}

/// Parses one JSON object.
func jsonObject(_ text: some StringProtocol) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw CocoaError(.coderReadCorrupt)
    }
    return object
}
