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
