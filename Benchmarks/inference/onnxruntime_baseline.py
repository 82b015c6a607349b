#!/usr/bin/env python3
"""ONNX Runtime on the very network xceptor runs: reads an xceptor model file (.xcm, batch norms already
folded), builds the same Xception graph in ONNX (Conv with bias, depthwise Conv with group=C, Relu,
MaxPool with TensorFlow's 'same' padding, Add, GlobalAveragePool), checks it reproduces a golden
embedding, then times batches. Prints one JSON object per measurement.

With --int8, the graph is first quantized by ONNX Runtime's own static quantization tool (QDQ, int8 weights
per channel, uint8 activations), calibrated on the golden inputs (the images `xceptor model calibrate` is
given in Benchmarks/inference/precision.sh), and the JSON adds its embeddings' cosine to the fp32 graph's.

Usage: onnxruntime_baseline.py MODEL.xcm --golden DIR --size 150 --batch 8 --iterations 10 --threads 2 [--int8]
"""
import argparse, glob, json, os, struct, tempfile, time
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
import onnxruntime as ort

# The same block table as Sources/Xception/Architecture.swift.
BLOCKS = ([("block2", [128, 128], [False, True], False, "projection"),
           ("block3", [256, 256], [True, True], False, "projection"),
           ("block4", [728, 728], [True, True], False, "projection")]
          + [(f"block{i}", [728] * 3, [True] * 3, False, "identity") for i in range(5, 13)]
          + [("block13", [728, 1024], [True, True], False, "projection"),
             ("block14", [1536, 2048], [False, False], True, "none")])


def read_model(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"XCPTMDL1", "not an xceptor model file"
    _version, json_length = struct.unpack_from("<II", data, 8)
    description = json.loads(data[24:24 + json_length])
    tensors = {t["name"]: np.frombuffer(data, dtype="<f4", count=int(np.prod(t["shape"])), offset=t["offset"]).reshape(t["shape"])
               for t in description["tensors"]}
    return description, tensors


def build_graph(tensors, size):
    nodes, initializers, counter = [], [], [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(key, array):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), key))
        return key

    def conv(x, layer, stride=1, pads=(0, 0, 0, 0), group=1, weights=None, bias=True):
        out = name(layer)
        inputs = [x, const(layer + "/W", weights if weights is not None else tensors[layer + "/kernel"])]
        if bias:
            inputs.append(const(layer + "/B", tensors[layer + "/bias"]))
        nodes.append(helper.make_node("Conv", inputs, [out], strides=[stride, stride], pads=list(pads), group=group))
        return out

    def relu(x):
        out = name("relu")
        nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def maxpool(x, side):
        out_side = (side + 1) // 2
        total = max(0, (out_side - 1) * 2 + 3 - side)
        out = name("pool")
        nodes.append(helper.make_node("MaxPool", [x], [out], kernel_shape=[3, 3], strides=[2, 2],
                                      pads=[total // 2, total // 2, total - total // 2, total - total // 2]))
        return out, out_side

    x, side = "input", size
    for stem, stride in (("block1_conv1", 2), ("block1_conv2", 1)):
        x = relu(conv(x, stem, stride=stride))
        side = (side - 3) // stride + 1
    for block, channels, relu_before, relu_after, shortcut in BLOCKS:
        block_input = x
        for index in range(len(channels)):
            layer = f"{block}_sepconv{index + 1}"
            if relu_before[index]:
                x = relu(x)
            depthwise = tensors[layer + "/depthwise"]
            x = conv(x, layer + "_dw", pads=(1, 1, 1, 1), group=depthwise.shape[0], weights=depthwise.reshape(-1, 1, 3, 3), bias=False)
            x = conv(x, layer)
            if relu_after:
                x = relu(x)
        if shortcut == "projection":
            x, side = maxpool(x, side)
            residual = conv(block_input, f"{block}_shortcut", stride=2)
            out = name("add")
            nodes.append(helper.make_node("Add", [x, residual], [out]))
            x = out
        elif shortcut == "identity":
            out = name("add")
            nodes.append(helper.make_node("Add", [x, block_input], [out]))
            x = out
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["embedding"]))
    graph = helper.make_graph(nodes, "xception", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 2048])], initializers)
    # IR version 8 (onnx 1.10+) is all the graph needs; newer onnx packages stamp versions that older
    # ONNX Runtime builds refuse.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--golden", required=True, help="directory with 0412.input{size}.f32 and 0412.embedding{size}.f32")
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--int8", action="store_true", help="quantize statically (calibrated on the golden inputs) and time that")
    args = parser.parse_args()

    _, tensors = read_model(args.model)
    model = build_graph(tensors, args.size)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    # Same network: ONNX Runtime must reproduce the golden (Keras) embedding.
    golden_input = np.fromfile(os.path.join(args.golden, f"0412.input{args.size}.f32"), dtype="<f4").reshape(1, args.size, args.size, 3)
    golden_embedding = np.fromfile(os.path.join(args.golden, f"0412.embedding{args.size}.f32"), dtype="<f4")
    ours = session.run(["embedding"], {"input": golden_input.transpose(0, 3, 1, 2).copy()})[0][0]
    max_difference = float(np.abs(ours - golden_embedding).max())
    assert max_difference < 1e-3, f"ONNX graph does not reproduce the golden embedding (max difference {max_difference})"

    extra = {}
    if args.int8:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        inputs = [np.fromfile(path, dtype="<f4").reshape(1, args.size, args.size, 3).transpose(0, 3, 1, 2).copy()
                  for path in sorted(glob.glob(os.path.join(args.golden, f"*.input{args.size}.f32")))]

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.pending = iter(inputs)

            def get_next(self):
                return next(({"input": x} for x in self.pending), None)

        with tempfile.TemporaryDirectory() as scratch:
            fp32_path, int8_path = os.path.join(scratch, "fp32.onnx"), os.path.join(scratch, "int8.onnx")
            onnx.save(model, fp32_path)
            quantize_static(fp32_path, int8_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            quantized = ort.InferenceSession(int8_path, options, providers=["CPUExecutionProvider"])
        cosines = []
        for x in inputs:
            a = session.run(["embedding"], {"input": x})[0][0].astype(np.float64)
            b = quantized.run(["embedding"], {"input": x})[0][0].astype(np.float64)
            cosines.append(float(a @ b / np.sqrt((a @ a) * (b @ b))))
        extra = {"precision": "int8 (ONNX Runtime static quantization, QDQ, per-channel weights)",
                 "min_cosine_to_fp32": min(cosines), "median_cosine_to_fp32": float(np.median(cosines))}
        session = quantized

    batch = np.random.RandomState(42).randint(0, 256, (args.batch, 3, args.size, args.size)).astype(np.float32) / 127.5 - 1
    session.run(["embedding"], {"input": batch})
    start = time.perf_counter()
    for _ in range(args.iterations):
        session.run(["embedding"], {"input": batch})
    seconds = time.perf_counter() - start
    images_per_second = args.batch * args.iterations / seconds
    print(json.dumps({"runtime": f"onnxruntime {ort.__version__}", "size": args.size, "batch": args.batch, "threads": args.threads,
                      "images_per_second": images_per_second, "milliseconds_per_batch": seconds * 1000 / args.iterations,
                      "golden_max_difference": max_difference, **extra}))


if __name__ == "__main__":
    main()
