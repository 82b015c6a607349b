/// EXIF orientation: how the camera was held, from tag 0x0112 of a JPEG's APP1 Exif segment (1 upright
/// ... 8). Photos from phones are often stored sideways with this tag saying so.
enum ExifOrientation {
    /// The orientation a JPEG declares, or nil when it declares none (or garbage).
    static func read(jpeg bytes: [UInt8]) -> Int? {
        func bigEndian16(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        var offset = 2
        // Walk the markers up to the image data; each segment says its length.
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            if marker == 0xDA || marker == 0xD9 { return nil }  // image data or end: no Exif before it
            let length = bigEndian16(offset + 2)
            guard length >= 2, offset + 2 + length <= bytes.count else { return nil }
            let body = offset + 4
            if marker == 0xE1, length >= 8, bytes[body..<body + 6].elementsEqual([0x45, 0x78, 0x69, 0x66, 0, 0]) {
                return tiffOrientation(Array(bytes[body + 6..<offset + 2 + length]))
            }
            offset += 2 + length
        }
        return nil
    }

    /// Tag 0x0112 in the first IFD of a TIFF block.
    static func tiffOrientation(_ tiff: [UInt8]) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func read(_ at: Int, _ size: Int) -> Int? {
            guard at >= 0, at + size <= tiff.count else { return nil }
            let slice = tiff[at..<at + size]
            return (little ? slice.reversed() : Array(slice)).reduce(0) { $0 << 8 | Int($1) }
        }
        guard read(2, 2) == 42, let ifd = read(4, 4), let entries = read(ifd, 2) else { return nil }
        for entry in 0..<min(entries, 512) {
            let at = ifd + 2 + entry * 12
            guard let tag = read(at, 2) else { return nil }
            if tag == 0x0112 {
                guard read(at + 2, 2) == 3, let value = read(at + 8, 2), (1...8).contains(value) else { return nil }
                return value
            }
        }
        return nil
    }
}

extension RGBImage {
    /// The image turned upright for an EXIF orientation (Pillow's `ImageOps.exif_transpose`).
    func orientedUpright(_ orientation: Int) -> RGBImage {
        guard (2...8).contains(orientation) else { return self }
        let swapsSides = orientation >= 5
        let (outputWidth, outputHeight) = swapsSides ? (height, width) : (width, height)
        let (w, h) = (width, height)
        var output = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                for y in 0..<outputHeight {
                    for x in 0..<outputWidth {
                        let (sourceX, sourceY): (Int, Int)
                        switch orientation {
                        case 2: (sourceX, sourceY) = (w - 1 - x, y)  // mirrored
                        case 3: (sourceX, sourceY) = (w - 1 - x, h - 1 - y)  // upside down
                        case 4: (sourceX, sourceY) = (x, h - 1 - y)  // flipped
                        case 5: (sourceX, sourceY) = (y, x)  // transposed
                        case 6: (sourceX, sourceY) = (y, h - 1 - x)  // stored turned left: turn right
                        case 7: (sourceX, sourceY) = (w - 1 - y, h - 1 - x)  // transverse
                        default: (sourceX, sourceY) = (w - 1 - y, x)  // 8, stored turned right: turn left
                        }
                        let from = (sourceY * w + sourceX) * 3, to = (y * outputWidth + x) * 3
                        output[to] = input[from]
                        output[to + 1] = input[from + 1]
                        output[to + 2] = input[from + 2]
                    }
                }
            }
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: output)
    }
}
