import CHDF5
import Foundation

/// A float32 tensor read from a weights file, with its shape as stored (row-major).
struct StoredTensor: Equatable {
    var shape: [Int]
    var values: [Float]
}

/// Read-only access to the float32 datasets of an HDF5 file, through libhdf5.
final class HDF5File {
    let path: String
    private let file: hid_t

    init(path: String) throws {
        self.path = path
        Self.silenceErrorStack()
        file = H5Fopen(path, xceptor_h5f_acc_rdonly(), xceptor_h5p_default())
        guard file >= 0 else { throw ModelError.unreadable(path: path, reason: "not an HDF5 file") }
    }

    deinit { H5Fclose(file) }

    /// Whether a dataset exists at `datasetPath` (e.g. "layers/dense/vars/0").
    func contains(_ datasetPath: String) -> Bool {
        // H5Lexists needs every parent group to exist, so walk the path.
        var prefix = ""
        for component in datasetPath.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + component
            guard H5Lexists(file, prefix, xceptor_h5p_default()) > 0 else { return false }
        }
        return true
    }

    /// The dataset at `datasetPath` as float32 (HDF5 converts other float types).
    func tensor(_ datasetPath: String) throws -> StoredTensor {
        let dataset = H5Dopen2(file, datasetPath, xceptor_h5p_default())
        guard dataset >= 0 else { throw ModelError.missingTensor(path: path, tensor: datasetPath) }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (0...8).contains(rank) else { throw ModelError.unreadable(path: path, reason: "\(datasetPath) has no simple shape") }
        var dimensions = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dimensions, nil)
        // The shape comes from the file: checked before it sizes an allocation (a crafted file claimed 2^61 values).
        var count: hsize_t = 1
        for dimension in dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Self.maxTensorValues else {
                throw ModelError.unreadable(
                    path: path,
                    reason: "\(datasetPath) claims shape \(dimensions), over \(Self.maxTensorValues) values: the file is malformed")
            }
            count = product
        }
        let shape = dimensions.map { Int($0) }
        var values = [Float](repeating: 0, count: Int(count))
        let status = values.withUnsafeMutableBytes { buffer in
            H5Dread(dataset, xceptor_h5t_native_float(), xceptor_h5s_all(), xceptor_h5s_all(), xceptor_h5p_default(), buffer.baseAddress)
        }
        guard status >= 0 else { throw ModelError.unreadable(path: path, reason: "\(datasetPath) could not be read as float32") }
        return StoredTensor(shape: shape, values: values)
    }

    /// The most values one tensor may hold: 128 MiB of float32 (Xception's largest, the 2048x1000 top, has 2M; a
    /// head of 16,000 classes fits). At 1 GiB a fuzzed file still drove the importer past 3.5 GB.
    static let maxTensorValues: hsize_t = 1 << 25
    /// The most strings, and the widest fixed-length string, an attribute may hold.
    static let maxAttributeStrings = 1 << 20
    static let maxStringWidth = 1 << 20

    /// Whether the file (or group) at `objectPath` has an attribute `name`.
    func hasAttribute(_ name: String, of objectPath: String) -> Bool {
        H5Aexists_by_name(file, objectPath, name, xceptor_h5p_default()) > 0
    }

    /// A string-array attribute (fixed- or variable-length strings), e.g. Keras 2's `layer_names`.
    func strings(attribute name: String, of objectPath: String) throws -> [String] {
        let attribute = H5Aopen_by_name(file, objectPath, name, xceptor_h5p_default(), xceptor_h5p_default())
        guard attribute >= 0 else { throw ModelError.unreadable(path: path, reason: "no attribute \(name) on \(objectPath)") }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute)
        defer { H5Sclose(space) }
        let points = H5Sget_simple_extent_npoints(space)
        guard points >= 0, points <= Self.maxAttributeStrings else {
            throw ModelError.unreadable(
                path: path, reason: "attribute \(name) on \(objectPath) claims \(points) strings: the file is malformed")
        }
        let count = Int(points)
        // h5py writes an empty list as an empty float64 array: Keras's `weight_names` of a layer without
        // weights (input, activations, pooling) in every file its legacy writer makes.
        guard count > 0 else { return [] }
        guard H5Tget_class(type) == H5T_STRING else {
            throw ModelError.unreadable(path: path, reason: "attribute \(name) on \(objectPath) is not a list of strings")
        }
        if H5Tis_variable_str(type) > 0 {
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attribute, type, &pointers) >= 0 else {
                throw ModelError.unreadable(path: path, reason: "attribute \(name) unreadable")
            }
            defer { for pointer in pointers { H5free_memory(pointer) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let width = H5Tget_size(type)
        guard width > 0, width <= Self.maxStringWidth else {
            throw ModelError.unreadable(
                path: path, reason: "attribute \(name) on \(objectPath) has strings of \(width) bytes: the file is malformed")
        }
        var buffer = [UInt8](repeating: 0, count: width * count)
        guard H5Aread(attribute, type, &buffer) >= 0 else {
            throw ModelError.unreadable(path: path, reason: "attribute \(name) unreadable")
        }
        return (0..<count).map { index in
            let slice = buffer[index * width..<(index + 1) * width]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A string attribute (h5py writes JSON configs this way), or nil if absent.
    func string(attribute name: String, of objectPath: String) throws -> String? {
        guard hasAttribute(name, of: objectPath) else { return nil }
        return try strings(attribute: name, of: objectPath).first
    }

    /// libhdf5 prints every failed call to stderr by default; errors here are reported through Swift.
    private static let silence: Void = { H5Eset_auto2(xceptor_h5e_default(), nil, nil) }()
    private static func silenceErrorStack() { _ = silence }
}
