extension Architecture {
    /// Floating-point operations (2 per multiply-add) of the convolutions for one image of `size` pixels
    /// square; pooling, ReLU and the head add well under 1%.
    static func convolutionFLOPs(size: Int) -> Double {
        var multiplyAdds = 0.0
        var (side, channels) = (size, 3)
        for stem in stem {
            side = (side - 3) / stem.stride + 1
            multiplyAdds += Double(side * side * channels * stem.channels * 9)
            channels = stem.channels
        }
        for block in blocks {
            let inputChannels = channels
            for output in block.channels {
                multiplyAdds += Double(side * side * channels * 9)  // depthwise
                multiplyAdds += Double(side * side * channels * output)  // pointwise
                channels = output
            }
            if block.shortcut == .projection {
                side = (side + 1) / 2
                multiplyAdds += Double(side * side * inputChannels * channels)
            }
        }
        return 2 * multiplyAdds
    }
}
