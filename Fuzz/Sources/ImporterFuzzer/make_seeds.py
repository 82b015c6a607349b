"""Small seeds for the importer fuzzer (the real files are 80 MB): HDF5 files in Keras 2's and Keras 3's
layouts with tiny tensors, and a .keras zip around one, written with h5py. Usage: make_seeds.py DIR"""
import io
import json
import sys
import zipfile

import h5py
import numpy as np

out = sys.argv[1]
with h5py.File(f"{out}/keras2.h5", "w") as f:
    f.attrs["layer_names"] = [b"input_layer", b"block1_conv1", b"block1_conv1_bn", b"predictions"]
    f.create_group("input_layer").attrs["weight_names"] = np.array([], dtype="float64")
    conv = f.create_group("block1_conv1")
    conv.attrs["weight_names"] = [b"block1_conv1/kernel:0"]
    conv.create_dataset("block1_conv1/kernel:0", data=np.ones((3, 3, 3, 32), "float32"))
    bn = f.create_group("block1_conv1_bn")
    bn.attrs["weight_names"] = [f"block1_conv1_bn/{n}:0".encode() for n in ["gamma", "beta", "moving_mean", "moving_variance"]]
    for n in ["gamma", "beta", "moving_mean", "moving_variance"]:
        bn.create_dataset(f"block1_conv1_bn/{n}:0", data=np.ones(32, "float32"))
    dense = f.create_group("predictions")
    dense.attrs["weight_names"] = ["predictions/kernel", "predictions/bias"]
    dense.create_dataset("predictions/kernel", data=np.ones((2048, 2), "float32"))
    dense.create_dataset("predictions/bias", data=np.zeros(2, "float32"))
buffer = io.BytesIO()
with h5py.File(buffer, "w") as f:
    f.create_dataset("layers/conv2d/vars/0", data=np.ones((3, 3, 3, 32), "float32"))
    for i in range(4):
        f.create_dataset(f"layers/batch_normalization/vars/{i}", data=np.ones(32, "float32"))
    f.create_dataset("layers/dense/vars/0", data=np.ones((2048, 2), "float32"))
    f.create_dataset("layers/dense/vars/1", data=np.zeros(2, "float32"))
open(f"{out}/keras3.weights.h5", "wb").write(buffer.getvalue())
config = {"class_name": "Functional", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"name": "input_layer", "batch_shape": [None, 71, 71, 3]}},
    {"class_name": "Conv2D", "config": {"name": "block1_conv1"}},
    {"class_name": "BatchNormalization", "config": {"name": "block1_conv1_bn"}},
    {"class_name": "GlobalAveragePooling2D", "config": {"name": "avg_pool"}},
    {"class_name": "Dense", "config": {"name": "predictions", "units": 2, "activation": "softmax"}}]}}
with zipfile.ZipFile(f"{out}/model.keras", "w") as z:
    z.writestr("config.json", json.dumps(config))
    z.writestr("model.weights.h5", buffer.getvalue())
