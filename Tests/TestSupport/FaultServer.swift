import Foundation

/// The fault server (Tests/Fixtures/fault_server.py) on 127.0.0.1, started for the tests: real images,
/// hostile behaviours, and optionally a directory of files under /files/. It exits when its standard
/// input closes, that is when this test process ends.
public final class FaultServer: @unchecked Sendable {
    /// One server for the whole test process, without a files directory.
    public static let shared: Result<FaultServer, Error> = Result { try FaultServer() }

    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures").standardizedFileURL

    public let port: Int
    private let process: Process
    /// Held open for the life of this process; the server exits at its end of file.
    private let lifeline: Pipe

    /// - Parameter files: served as /files/NAME (names only, no subdirectories).
    /// - Parameter host: the address to bind; "0.0.0.0" serves the multi-host test's namespaces too.
    public init(files: URL? = nil, host: String = "127.0.0.1") throws {
        process = Process()
        process.environment = ProcessInfo.processInfo.environment.merging(["FAULT_SERVER_HOST": host]) { $1 }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "python3", Self.fixtures.appendingPathComponent("fault_server.py").path,
                Self.fixtures.appendingPathComponent("golden/images/0412.jpg").path,
            ] + (files.map { [$0.path] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        lifeline = Pipe()
        process.standardInput = lifeline
        try process.run()
        // The first line is the port.
        var line = Data()
        while !line.contains(0x0A) {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { throw CocoaError(.fileReadUnknown) }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        self.port = port
    }

    public func url(_ path: String, host: String = "127.0.0.1") -> String { "http://\(host):\(port)\(path)" }
}
