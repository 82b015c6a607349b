/// Xception (Chollet 2017) exactly as `keras.applications.Xception` builds it, as data: the entry-flow
/// stem, then one row per block. The engine and the importer both walk this table, so the graph and the
/// weight names come from one place.
enum Architecture {
    /// A block of separable convolutions (3x3 depthwise, then 1x1 pointwise, then batch norm).
    struct Block: Sendable {
        enum Shortcut: Sendable {
            /// 3x3/2 max pool on the main path; the shortcut is a 1x1/2 convolution plus batch norm.
            case projection
            /// The block input is added back unchanged (middle flow).
            case identity
            /// No shortcut (block 14, which ends in ReLU activations).
            case none
        }

        var name: String
        /// Output channels of each separable convolution, in order.
        var channels: [Int]
        /// ReLU before each separable convolution (pre-activation), except block 2's first, whose input
        /// is already activated; block 14 instead applies ReLU after each.
        var reluBefore: [Bool]
        var reluAfter: Bool
        var shortcut: Shortcut
    }

    /// Stem: two 3x3 valid convolutions (32 stride 2, then 64), each with batch norm and ReLU.
    static let stem: [(name: String, channels: Int, stride: Int)] = [("block1_conv1", 32, 2), ("block1_conv2", 64, 1)]

    static let blocks: [Block] =
        [
            Block(name: "block2", channels: [128, 128], reluBefore: [false, true], reluAfter: false, shortcut: .projection),
            Block(name: "block3", channels: [256, 256], reluBefore: [true, true], reluAfter: false, shortcut: .projection),
            Block(name: "block4", channels: [728, 728], reluBefore: [true, true], reluAfter: false, shortcut: .projection),
        ]
        + (5...12).map {
            Block(name: "block\($0)", channels: [728, 728, 728], reluBefore: [true, true, true], reluAfter: false, shortcut: .identity)
        } + [
            Block(name: "block13", channels: [728, 1024], reluBefore: [true, true], reluAfter: false, shortcut: .projection),
            Block(name: "block14", channels: [1536, 2048], reluBefore: [false, false], reluAfter: true, shortcut: .none),
        ]

    /// Width of the pooled embedding.
    static let embeddingWidth = 2048
    /// Smallest input the valid convolutions and five halvings leave a non-empty grid for.
    static let minimumInputSize = 71
    /// Input sides a model may be imported at (larger ones would only waste memory on a 2048-d embedding).
    static let inputSizes = minimumInputSize...2048
    /// Keras' BatchNormalization epsilon in Xception.
    static let batchNormEpsilon = 0.001

    /// Keras name of a block's n-th (from 1) separable convolution, e.g. "block4_sepconv2".
    static func separableName(_ block: Block, _ index: Int) -> String { "\(block.name)_sepconv\(index + 1)" }

    /// Name under which the imported weights keep a block's shortcut convolution.
    static func shortcutName(_ block: Block) -> String { "\(block.name)_shortcut" }
}
