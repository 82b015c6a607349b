#!/usr/bin/env bash
# Fetch + decode + resize to 150x150 of 1,000 distinct JPEGs served by nginx on 127.0.0.1: xceptor (libcurl
# multi + libjpeg-turbo, exact and with DCT downscaling) next to Python urllib + Pillow (img2dataset's way,
# 2 processes x 64 threads, with and without draft mode), same machine, same run, alternating.
# Usage: Benchmarks/fetch/run.sh [IMAGES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-1000}"
rounds="${2:-3}"

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
. Benchmarks/images/lib.sh
serve_bench_images "$count"

for round in $(seq "$rounds"); do
    "$xceptor" bench fetch --urls "$work/urls.txt" --allow-private-networks --json
    "$xceptor" bench fetch --urls "$work/urls.txt" --allow-private-networks --dct-downscale --json
    "$images_venv/bin/python" Benchmarks/fetch/python_baseline.py "$work/urls.txt"
    "$images_venv/bin/python" Benchmarks/fetch/python_baseline.py "$work/urls.txt" --draft
done | python3 -c '
import json, statistics, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
base = statistics.median(r["images_per_second"] for r in rows if r["kind"] == "python-pillow")
for kind in ("xceptor", "xceptor-dct", "python-pillow", "python-pillow-draft"):
    mine = [r for r in rows if r["kind"] == kind]
    rates = sorted(round(r["images_per_second"]) for r in mine)
    rate = statistics.median(r["images_per_second"] for r in mine)
    cpu = statistics.median(r["cpu_ms_per_image"] for r in mine)
    print(f"{kind:>20}: median {rate:7.0f} img/s {rates}, {cpu:.2f} CPU ms/img, {rate / base:.2f}x urllib + Pillow")
'
