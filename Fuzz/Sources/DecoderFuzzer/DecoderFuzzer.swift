// Compiled by Fuzz/run.sh in one module with the Imaging sources, so Imaging's API is in scope as is.

/// One input: every way the worker reads untrusted bytes (sniff, header size, full and DCT-downscaled
/// decode, EXIF orientation, resize, thumbnail). A thrown error is a correct answer; a crash, hang, leak
/// or out-of-bounds access is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // A smaller pixel limit than the worker's keeps each run fast; the limit logic is the same.
    let decoder = ImageDecoder(maxPixels: 4_000_000)
    _ = try? decoder.dimensions(bytes)
    if let image = try? decoder.decode(bytes) {
        precondition(image.pixels.count == image.width * image.height * 3, "decoded buffer does not match its size")
        _ = BilinearResize.resize(image, width: 71, height: 71)
        _ = try? image.thumbnail(maxSide: 32).jpegData()
    }
    if let small = try? decoder.decode(bytes, atLeast: 71) {
        precondition(small.pixels.count == small.width * small.height * 3, "downscaled buffer does not match its size")
    }
    return 0
}
