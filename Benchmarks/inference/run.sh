#!/usr/bin/env bash
# xceptor's inference next to ONNX Runtime running the identical network (built from the same model
# file), same machine, same run, alternating so that noise from the host hits both alike. Needs the
# model from 'xceptor model fetch'; makes a venv under Benchmarks/inference/.venv on first use.
# Usage: Benchmarks/inference/run.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
"$xceptor" model info >/dev/null 2>&1 || "$xceptor" model fetch >&2
model="${XCEPTOR_MODEL:-${XCEPTOR_HOME:-$HOME/.cache/xceptor}/models/kitchenware-xception.xcm}"

venv=Benchmarks/inference/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy onnx==1.23.2 onnxruntime==1.32.0
fi

for size in 150 299; do
    for round in $(seq "$rounds"); do
        "$xceptor" bench inference --model "$model" --size "$size" --batch 8 --iterations 6 --json
        "$venv/bin/python" Benchmarks/inference/onnxruntime_baseline.py "$model" --golden Tests/Fixtures/golden \
            --size "$size" --batch 8 --iterations 6 --threads "$(nproc)"
    done
done | "$venv/bin/python" -c '
import json, sys, statistics
rows = [json.loads(line) for line in sys.stdin if line.strip()]
for size in (150, 299):
    ours = [r["images_per_second"] for r in rows if r["size"] == size and "runtime" not in r]
    theirs = [r["images_per_second"] for r in rows if r["size"] == size and "runtime" in r]
    print(f"{size}x{size}, batch 8: xceptor median {statistics.median(ours):.1f} img/s {sorted(round(x, 1) for x in ours)}, "
          f"onnxruntime median {statistics.median(theirs):.1f} img/s {sorted(round(x, 1) for x in theirs)}, "
          f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}")
'
