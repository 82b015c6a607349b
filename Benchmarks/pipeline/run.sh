#!/usr/bin/env bash
# End to end: 1,000 distinct JPEGs served by nginx on 127.0.0.1 -> enqueue -> `xceptor worker --until-empty`,
# at 150 and 299 input, next to the engine's own `bench inference` figure at the same size and batch, same
# machine, same run. The goal: end to end at >= 90% of the engine, i.e. fetch, decode and storage hidden.
# Usage: [WORKER_FLAGS="--dct-downscale"] Benchmarks/pipeline/run.sh [IMAGES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-1000}"
rounds="${2:-2}"
batch=8

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
"$xceptor" model info >/dev/null 2>&1 || "$xceptor" model fetch >&2

. Benchmarks/images/lib.sh
serve_bench_images "$count"

for size in 150 299; do
    for round in $(seq "$rounds"); do
        rm -f "$work"/q.sqlite*
        "$xceptor" enqueue --db "$work/q.sqlite" --from "$work/urls.txt" >/dev/null
        line="$("$xceptor" worker --db "$work/q.sqlite" --size "$size" --batch "$batch" --until-empty ${WORKER_FLAGS:-} \
            --allow-private-networks --progress none 2>&1 | grep 'worker stopped')"
        echo "{\"kind\": \"pipeline\", \"size\": $size, \"done\": $(sed -E 's/.*done=([0-9]+).*/\1/' <<<"$line"), \"images_per_second\": $(sed -E 's/.*images_per_s=([0-9.]+).*/\1/' <<<"$line")}"
        "$xceptor" bench inference --size "$size" --batch "$batch" --iterations 6 --json | sed 's/^{/{"kind": "engine", /'
    done
done | python3 -c '
import json, statistics, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
for size in (150, 299):
    pipeline = [r["images_per_second"] for r in rows if r["size"] == size and r["kind"] == "pipeline"]
    engine = [r["images_per_second"] for r in rows if r["size"] == size and r["kind"] == "engine"]
    done = {r["done"] for r in rows if r["size"] == size and r["kind"] == "pipeline"}
    print(f"{size}x{size}, batch '"$batch"': worker end to end median {statistics.median(pipeline):.1f} img/s {sorted(pipeline)} "
          f"(jobs done per run: {sorted(done)}), engine alone median {statistics.median(engine):.1f} img/s "
          f"{sorted(round(x, 1) for x in engine)}, ratio {statistics.median(pipeline) / statistics.median(engine):.2f}")
'
