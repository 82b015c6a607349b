#!/usr/bin/env bash
# Fuzzes xceptor's own file formats with libFuzzer (+ AddressSanitizer) for SECONDS each (default 600):
# the model file, then the packed-weights file beside it (FormatFuzzer, one run each: the harness
# recomputes the checksum, so edited shapes, counts and offsets reach the readers' own checks), then the
# search index (IndexFuzzer).
# Seeds come from the product's writers: the packed file and indexes written by the harnesses, and the
# description of a model file imported from the bundled Keras model when XCEPTOR_TEST_MODEL names it.
# Findings land in Fuzz/findings-formats/.
# Usage: Fuzz/run-formats.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
build=.build/formats
mkdir -p "$build"
quiet() { { grep -v "Cannot export local symbol\|warning:" || true; } >&2; }
flags=(-O -g -sanitize=fuzzer,address -parse-as-library)

swiftc "${flags[@]}" -module-name FileMapping -emit-module -emit-module-path "$build/FileMapping.swiftmodule" \
    -emit-library -static -o "$build/libFileMapping.a" ../Sources/FileMapping/*.swift 2>&1 | quiet
# The model formats: the Xception sources they need, oneDNN from the system (uninstrumented).
model_sources=(../Sources/Xception/{BlobFile,ModelFile,ModelWeights,WeightValues,Architecture,ModelError,DNNL,PackedWeights}.swift)
swiftc "${flags[@]}" -module-name FormatFuzzer -I "$build" -L "$build" -lFileMapping -I ../Sources/CDNNL -ldnnl \
    "${model_sources[@]}" Sources/ImporterFuzzer/Precision.swift Sources/FuzzSupport/*.swift Sources/FormatFuzzer/*.swift -o "$build/FormatFuzzer" 2>&1 | quiet
# The index: the Search sources and their C kernels.
clang -c -O2 -g -fsanitize=fuzzer-no-link,address -mavx2 -mfma -I ../Sources/CVectorKernels/include \
    ../Sources/CVectorKernels/dot.c -o "$build/dot.o"
cat >"$build/module.modulemap" <<MAP
module CVectorKernels {
    header "$(realpath ../Sources/CVectorKernels/include/vector_kernels.h)"
    export *
}
MAP
swiftc "${flags[@]}" -module-name IndexFuzzer -I "$build" -L "$build" -lFileMapping -I ../Sources/CDNNL \
    -Xcc -fmodule-map-file="$build/module.modulemap" -ldnnl ../Sources/Search/*.swift Sources/FuzzSupport/*.swift Sources/IndexFuzzer/*.swift "$build/dot.o" \
    -o "$build/IndexFuzzer" 2>&1 | quiet

mkdir -p findings-formats corpus-formats corpus-index
models=()
if [ -n "${XCEPTOR_TEST_MODEL:-}" ] && [ -f "$XCEPTOR_TEST_MODEL" ]; then
    (cd .. && swift build -c release --product xceptor >/dev/null 2>&1)
    ../.build/release/xceptor model import "$XCEPTOR_TEST_MODEL" --output "$build/kitchenware.xcm" >/dev/null
    models+=("$build/kitchenware.xcm")
fi
"$build/FormatFuzzer" -seeds corpus-formats "${models[@]}"
"$build/IndexFuzzer" -seeds corpus-index

# -detect_leaks=0: Foundation leaks a few KiB on its own error paths, found at once. -fork=1 and -ignore_*:
# go on past a finding, so one run reports them all.
run() {
    local name=$1 corpus=$2 label=${3:-$1}
    "$build/$name" "$corpus" -max_total_time="$seconds" -max_len=131072 -timeout=20 -rss_limit_mb=3072 -detect_leaks=0 \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -artifact_prefix="findings-formats/$label-" -print_final_stats=1 >"findings-formats/$label.log" 2>&1 || true
    echo "== $label"
    grep -E "^#[0-9]+" "findings-formats/$label.log" | tail -1
    grep -E "==ERROR|crash-" "findings-formats/$label.log" | tail -8 || true
}
# The model file and the packed-weights file get a run each (one harness, the reader forced).
XCEPTOR_FUZZ_ONLY=model run FormatFuzzer corpus-formats ModelFile
XCEPTOR_FUZZ_ONLY=packed run FormatFuzzer corpus-formats PackedWeights
run IndexFuzzer corpus-index
