import CHDF5
import Foundation

@testable import Xception

/// Writes a Keras 2 weights file (the layout keras.applications publishes) with libhdf5, so the Keras 2
/// import path is tested on a real HDF5 file: `layer_names` on the root, `weight_names` on each layer
/// group, datasets at "layer/layer/weight:0", strings as fixed-length byte arrays (as h5py writes them).
final class Keras2FileWriter {
    private let file: hid_t
    private var layerNames: [String] = []

    init(path: String) throws {
        file = H5Fcreate(path, xceptor_h5f_acc_trunc(), xceptor_h5p_default(), xceptor_h5p_default())
        guard file >= 0 else { throw ModelError.unreadable(path: path, reason: "cannot create") }
    }

    /// One layer group with its weights, in the order given.
    func addLayer(_ name: String, weights: [(String, StoredTensor)]) throws {
        let group = H5Gcreate2(file, name, xceptor_h5p_default(), xceptor_h5p_default(), xceptor_h5p_default())
        defer { H5Gclose(group) }
        let linkCreation = H5Pcreate(xceptor_h5p_link_create())
        defer { H5Pclose(linkCreation) }
        H5Pset_create_intermediate_group(linkCreation, 1)
        for (weight, tensor) in weights {
            let dims = tensor.shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dims.count), dims, nil)
            let dataset = H5Dcreate2(
                group, "\(name)/\(weight):0", xceptor_h5t_ieee_f32le(), space, linkCreation, xceptor_h5p_default(), xceptor_h5p_default())
            _ = tensor.values.withUnsafeBytes {
                H5Dwrite(dataset, xceptor_h5t_native_float(), xceptor_h5s_all(), xceptor_h5s_all(), xceptor_h5p_default(), $0.baseAddress)
            }
            H5Dclose(dataset)
            H5Sclose(space)
        }
        try writeStrings(weights.map { "\(name)/\($0.0):0" }, attribute: "weight_names", on: group)
        layerNames.append(name)
    }

    /// Finishes the file: `layer_names` on the root, and `model_config` when given (a full model save).
    func close(modelConfig: String?) throws {
        try writeStrings(layerNames, attribute: "layer_names", on: file)
        if let modelConfig { try writeStrings([modelConfig], attribute: "model_config", on: file, scalar: true) }
        H5Fclose(file)
    }

    /// Closes the file without `layer_names`: an HDF5 file that is not a Keras model.
    func abandon() { H5Fclose(file) }

    private func writeStrings(_ strings: [String], attribute: String, on object: hid_t, scalar: Bool = false) throws {
        let width = max(1, strings.map(\.utf8.count).max() ?? 1)
        let type = H5Tcopy(xceptor_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, width)
        var dims = [hsize_t(strings.count)]
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let handle = H5Acreate2(object, attribute, type, space, xceptor_h5p_default(), xceptor_h5p_default())
        defer { H5Aclose(handle) }
        var bytes = [UInt8](repeating: 0, count: width * strings.count)
        for (index, string) in strings.enumerated() {
            bytes.replaceSubrange(index * width..<index * width + string.utf8.count, with: Array(string.utf8))
        }
        guard H5Awrite(handle, type, bytes) >= 0 else { throw ModelError.backend("writing attribute \(attribute)") }
    }
}
