import Foundation

/// The names of a model's outputs, from a file: one label per line, or Keras's `imagenet_class_index.json`
/// (`{"0": ["n01440764", "tench"], ...}`), so an ImageNet model says "tabby", not "class281".
public enum LabelFile {
    /// Longest label accepted, in characters, and most labels in a file.
    public static let maxLabelLength = 200
    public static let maxLabels = 100_000

    public static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.unreadable(
                path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        guard data.count <= 64 << 20 else { throw ModelError.unreadable(path: path, reason: "a label file over 64 MiB") }
        let labels: [String]
        if let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            labels = try classIndex(index, path: path)
        } else {
            guard let text = String(data: data, encoding: .utf8) else { throw ModelError.unreadable(path: path, reason: "not UTF-8 text") }
            labels = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            .reversed().drop { $0.isEmpty }.reversed()
        }
        guard !labels.isEmpty, labels.count <= maxLabels else {
            throw ModelError.unreadable(path: path, reason: "\(labels.count) labels; give 1 to \(maxLabels), one per line")
        }
        for (index, label) in labels.enumerated() {
            guard !label.isEmpty, label.count <= maxLabelLength,
                !label.unicodeScalars.contains(where: {
                    $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                })
            else {
                throw ModelError.unreadable(
                    path: path, reason: "label \(index) is empty, longer than \(maxLabelLength) characters or holds control characters")
            }
        }
        return labels
    }

    /// `{"0": ["n01440764", "tench"], "1": [...]}`: index to [WordNet id, name]; every index from 0 present once.
    private static func classIndex(_ index: [String: Any], path: String) throws -> [String] {
        var names = [String?](repeating: nil, count: index.count)
        for (key, value) in index {
            guard let position = Int(key), names.indices.contains(position), names[position] == nil,
                let entry = value as? [Any], entry.count == 2, let name = entry[1] as? String
            else {
                throw ModelError.unreadable(
                    path: path, reason: "a JSON label file must map 0...N-1 to [id, name], as Keras's imagenet_class_index.json does")
            }
            names[position] = name
        }
        return names.map { $0 ?? "" }
    }
}
