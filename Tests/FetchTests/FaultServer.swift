import Foundation

/// The fault server (Tests/Fixtures/fault_server.py) on 127.0.0.1, started for the tests. It exits when
/// its standard input closes, that is when this test process ends.
final class FaultServer: @unchecked Sendable {
    static let shared: Result<FaultServer, Error> = Result { try FaultServer() }

    let port: Int
    private let process: Process
    /// Held open for the life of this process; the server exits at its end of file.
    private let lifeline: Pipe

    private init() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures").standardizedFileURL
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixtures.appendingPathComponent("fault_server.py").path,
                             fixtures.appendingPathComponent("golden/images/0412.jpg").path]
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

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
}
