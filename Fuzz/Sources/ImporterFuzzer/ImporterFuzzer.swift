import Foundation

/// libFuzzer entry point: the bytes as a model file (a `.keras` zip, a Keras 2 or legacy `.h5`, a Keras 3
/// `.weights.h5`) and as a label file, through the importer and `LabelFile`. Every input must end in a
/// value or a thrown error: a crash, a trap or a sanitizer report is a finding. libhdf5 reads files, not
/// memory, so each input is written to a scratch file first.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data, count: size)
    let path = FuzzScratch.path
    guard FileManager.default.createFile(atPath: path, contents: bytes) else { return 0 }
    _ = try? KerasImporter().importModel(at: path)
    _ = try? KerasImporter().importModel(at: path, architecture: .xception)
    _ = try? LabelFile.read(path)
    return 0
}

enum FuzzScratch {
    static let path = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-importer-fuzz-\(getpid())").path
}
