#!/usr/bin/env bash
# bf16 and int8 next to fp32 on this machine: accuracy of `embed --precision bf16` and `--precision int8`
# (a copy of the model calibrated on the golden JPEGs) against fp32 and against the Keras embeddings on the
# golden JPEGs (precision.py), then speed at batch 8 of xceptor fp32, bf16, int8 and ONNX Runtime fp32 and
# int8 (its static quantization, calibrated on the same golden images, with its own accuracy), alternating.
# bf16 needs a CPU with AVX-512, int8 one with AVX2 (elsewhere xceptor refuses them).
# XCEPTOR=path runs a given binary instead of building one; CORES=0,1 pins every run to those CPUs.
# Usage: Benchmarks/inference/precision.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-2}"
if [ -z "${XCEPTOR:-}" ]; then
    swift build -c release --product xceptor >&2
    XCEPTOR="$(swift build -c release --show-bin-path)/xceptor"
fi
"$XCEPTOR" model info >/dev/null 2>&1 || "$XCEPTOR" model fetch >&2
model="${XCEPTOR_MODEL:-${XCEPTOR_HOME:-$HOME/.cache/xceptor}/models/kitchenware-xception.xcm}"
python="${PYTHON:-Benchmarks/inference/.venv/bin/python}"
pin=(); [ -n "${CORES:-}" ] && pin=(taskset -c "$CORES")
threads="$("${pin[@]}" nproc)"
scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
cp "$model" "$scratch/int8.xcm"
"$XCEPTOR" model calibrate --model "$scratch/int8.xcm" --images Tests/Fixtures/golden/images

for size in 150 299; do
    "$XCEPTOR" embed --model "$model" --size "$size" --json Tests/Fixtures/golden/images/*.jpg >"$scratch/fp32.jsonl"
    "$XCEPTOR" embed --model "$model" --size "$size" --json --precision bf16 Tests/Fixtures/golden/images/*.jpg >"$scratch/bf16.jsonl"
    "$XCEPTOR" embed --model "$scratch/int8.xcm" --size "$size" --json --precision int8 Tests/Fixtures/golden/images/*.jpg >"$scratch/int8.jsonl"
    echo "bf16 accuracy at $size:"; "$python" Benchmarks/inference/precision.py "$scratch/fp32.jsonl" "$scratch/bf16.jsonl" --golden Tests/Fixtures/golden --size "$size" | tail -1
    echo "int8 accuracy at $size:"; "$python" Benchmarks/inference/precision.py "$scratch/fp32.jsonl" "$scratch/int8.jsonl" --golden Tests/Fixtures/golden --size "$size" | tail -1
done
for round in $(seq "$rounds"); do
    for size in 150 299; do
        for precision in fp32 bf16 int8; do
            "${pin[@]}" "$XCEPTOR" bench inference --model "$scratch/int8.xcm" --size "$size" --batch 8 --threads "$threads" --iterations 6 --precision "$precision" --json
        done
        "${pin[@]}" "$python" Benchmarks/inference/onnxruntime_baseline.py "$model" --golden Tests/Fixtures/golden --size "$size" --batch 8 --iterations 6 --threads "$threads"
        "${pin[@]}" "$python" Benchmarks/inference/onnxruntime_baseline.py "$model" --golden Tests/Fixtures/golden --size "$size" --batch 8 --iterations 6 --threads "$threads" --int8 2>/dev/null
    done
done
