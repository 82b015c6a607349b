"""Writes Xception model files the way Keras itself writes them, with what Keras computes from them.

The importer's evidence (issue 19): every form a user may hold, written by keras.applications.Xception
(random weights, randomised batch-norm statistics so folding is exercised) at two input sizes:

  flat_top.keras         model.save of the flat graph with its 1000-class `predictions` head
  flat_notop_avg.keras   include_top=False, pooling="avg": embeddings only
  nested.keras           an Xception base inside a model with a Dense head (the bundled model's shape)
  flat_top.h5            model.save("...h5"): the legacy full-model HDF5
  weights_top.h5         the legacy weights-only HDF5 (the layout of the published ImageNet files)
  weights_notop.h5       the same without the top
  flat_top.weights.h5    Keras 3's model.save_weights (imported with --architecture xception)
  notop.weights.h5       the same without the top
  flat_notop_none.keras  include_top=False, pooling=None: a feature map, embedded by average pooling
  flat_notop_max.keras   include_top=False, pooling="max": embeddings by global max pooling (and as .h5)
  nested_max.keras       an Xception base, GlobalMaxPooling2D and a Dense head

and a few random images already at the input size (raw RGB bytes), with Keras's pooled embedding and
probabilities for each. Prints nothing; writes manifest.json last, so a half-written directory is never used.
Usage: python make_fixtures.py OUTPUT_DIR
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

SIZES = [71, 96]
IMAGES = 3


def randomise_batch_norms(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, channels).astype("float32"),
                rng.normal(0, 0.1, channels).astype("float32"),
                rng.normal(0, 0.1, channels).astype("float32"),
                rng.uniform(0.5, 2.0, channels).astype("float32"),
            ])
        elif isinstance(layer, keras.Model):
            randomise_batch_norms(layer, rng)


def outputs(model, embedding_layer, images):
    """The pooled 2048-d embedding and the model's output for each image (preprocessed as Keras does);
    embedding_layer None: the model's output is a feature map, averaged over its positions."""
    x = keras.applications.xception.preprocess_input(images.astype("float32"))
    predictions = np.asarray(model.predict(x, verbose=0))
    if embedding_layer is None:
        return predictions.mean(axis=(1, 2)), predictions
    embedder = keras.Model(model.inputs, embedding_layer.output)
    return np.asarray(embedder.predict(x, verbose=0)), predictions


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(19)
    keras.utils.set_random_seed(19)
    manifest = {"keras": keras.__version__, "forms": []}
    for size in SIZES:
        images = rng.integers(0, 256, size=(IMAGES, size, size, 3), dtype=np.uint8)
        image_files = []
        for index, image in enumerate(images):
            name = f"image_{size}_{index}.rgb"
            image.tofile(os.path.join(out, name))
            image_files.append(name)

        def record(file, model, embedding_layer, head, **extra):
            embeddings, predictions = outputs(model, embedding_layer, images)
            manifest["forms"].append({
                "file": file, "size": size, "images": image_files, "head": head,
                "embeddings": embeddings.tolist(),
                "outputs": predictions.tolist() if head else None, "architecture": None, **extra})

        flat = keras.applications.Xception(weights=None, input_shape=(size, size, 3))
        randomise_batch_norms(flat, rng)
        flat.save(os.path.join(out, f"flat_top_{size}.keras"))
        flat.save(os.path.join(out, f"flat_top_{size}.h5"))
        with h5py.File(os.path.join(out, f"weights_top_{size}.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, flat)
        flat.save_weights(os.path.join(out, f"flat_top_{size}.weights.h5"))
        pooled = flat.get_layer("avg_pool")
        for file in [f"flat_top_{size}.keras", f"flat_top_{size}.h5", f"weights_top_{size}.h5"]:
            record(file, flat, pooled, True)
        record(f"flat_top_{size}.weights.h5", flat, pooled, True, architecture="xception")

        base = keras.applications.Xception(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))
        base.set_weights(flat.get_weights()[: len(base.get_weights())])
        base.save(os.path.join(out, f"flat_notop_avg_{size}.keras"))
        with h5py.File(os.path.join(out, f"weights_notop_{size}.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, base)
        base.save_weights(os.path.join(out, f"notop_{size}.weights.h5"))
        for file in [f"flat_notop_avg_{size}.keras", f"weights_notop_{size}.h5"]:
            record(file, base, base.layers[-1], False)
        record(f"notop_{size}.weights.h5", base, base.layers[-1], False, architecture="xception")

        unpooled = keras.applications.Xception(weights=None, include_top=False, input_shape=(size, size, 3))
        unpooled.set_weights(flat.get_weights()[: len(unpooled.get_weights())])
        unpooled.save(os.path.join(out, f"flat_notop_none_{size}.keras"))
        record(f"flat_notop_none_{size}.keras", unpooled, None, False)

        maxed = keras.applications.Xception(weights=None, include_top=False, pooling="max", input_shape=(size, size, 3))
        maxed.set_weights(flat.get_weights()[: len(maxed.get_weights())])
        maxed.save(os.path.join(out, f"flat_notop_max_{size}.keras"))
        maxed.save(os.path.join(out, f"flat_notop_max_{size}.h5"))
        for file in [f"flat_notop_max_{size}.keras", f"flat_notop_max_{size}.h5"]:
            record(file, maxed, maxed.layers[-1], False)

        inner = keras.applications.Xception(weights=None, include_top=False, input_shape=(size, size, 3))
        inner.set_weights(flat.get_weights()[: len(inner.get_weights())])
        inputs = keras.Input((size, size, 3))
        features = inner(inputs)
        pooled_nested = keras.layers.GlobalAveragePooling2D()(features)
        hidden = keras.layers.Dense(16, activation="relu")(pooled_nested)
        hidden = keras.layers.Dropout(0.2)(hidden)
        head = keras.layers.Dense(6, activation="softmax")(hidden)
        nested = keras.Model(inputs, head)
        nested.save(os.path.join(out, f"nested_{size}.keras"))
        record(f"nested_{size}.keras", nested, nested.get_layer(pooled_nested._keras_history.operation.name), True)

        pooled_max = keras.layers.GlobalMaxPooling2D()(features)
        head_max = keras.layers.Dense(6, activation="softmax")(pooled_max)
        nested_max = keras.Model(inputs, head_max)
        nested_max.save(os.path.join(out, f"nested_max_{size}.keras"))
        record(f"nested_max_{size}.keras", nested_max, nested_max.get_layer(pooled_max._keras_history.operation.name), True)
    # A malformed case for the reader's bounds: a dataset that claims 2^40 values and stores none.
    with h5py.File(os.path.join(out, "huge_shape.h5"), "w") as f:
        f.attrs["layer_names"] = [b"block1_conv1"]
        group = f.create_group("block1_conv1")
        group.attrs["weight_names"] = [b"block1_conv1/kernel:0"]
        group.create_dataset("block1_conv1/kernel:0", shape=(1 << 20, 1 << 20), dtype="float32", chunks=(1, 1024))
    with open(os.path.join(out, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f)
    os.replace(os.path.join(out, "manifest.json.tmp"), os.path.join(out, "manifest.json"))


if __name__ == "__main__":
    main()
