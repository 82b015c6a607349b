#!/usr/bin/env bash
# End to end: 1,000 distinct JPEGs served by nginx on 127.0.0.1 -> enqueue -> `xceptor worker --until-empty`,
# at 150 and 299 input, next to the engine's own `bench inference` figure at the same size and batch, same
# machine, same run. The goal: end to end at >= 90% of the engine, i.e. fetch, decode and storage hidden.
# Each worker run also reports how much of its time the engine spent in batches (engine_busy): what the
# pipeline leaves to the network, measured inside the run, so the host's drift does not move it.
# Reports the CPU ms per image the worker spends outside the network, and (`bench decode`, one thread, the
# same files) how that splits over the decode pool's steps. XCEPTOR_PRECISION=bf16 runs both in bf16.
# Usage: [WORKER_FLAGS="--dct-downscale"] [SIZES="150 299"] [XCEPTOR_PRECISION=bf16] Benchmarks/pipeline/run.sh [IMAGES] [ROUNDS]
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

# The engine is measured just before and just after each worker run, on about a quarter as many images, and
# each round's ratio is against the mean of the two: this host's speed drifts by 10-20% within minutes, so a
# single engine figure for all rounds would measure the drift as much as the pipeline.
engine() {
    "$xceptor" bench inference --size "$1" --batch "$batch" --iterations "$(( count / batch / 4 > 4 ? count / batch / 4 : 4 ))" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["images_per_second"])'
}
for size in ${SIZES:-150 299}; do
    before="$(engine "$size")"
    for round in $(seq "$rounds"); do
        rm -f "$work"/q.sqlite*
        "$xceptor" enqueue --db "$work/q.sqlite" --from "$work/urls.txt" >/dev/null
        # The worker's last line: its rate, the engine's busy share, and the run's CPU time with the engine
        # threads' part of it (start-up excluded).
        line="$(python3 -c '
import subprocess, sys
run = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
stopped = [line for line in run.stderr.splitlines() if "worker stopped" in line]
print(stopped[-1] if stopped else "worker failed: " + run.stderr[-300:])
' "$xceptor" worker --db "$work/q.sqlite" --size "$size" --batch "$batch" --until-empty ${WORKER_FLAGS:-} \
            --allow-private-networks --progress none)"
        after="$(engine "$size")"
        echo "$size $(sed -E 's/.*done=([0-9]+).*/\1/' <<<"$line") $(sed -E 's/.*images_per_s=([0-9.]+).*/\1/' <<<"$line") $before $after" \
            "$(sed -E 's/.*engine_busy=([0-9.]+)%.*/\1/' <<<"$line") $(sed -E 's/.*elapsed_s=([0-9.]+).*/\1/' <<<"$line")" \
            "$(sed -E 's/.* cpu_s=([0-9.]+).*/\1/' <<<"$line") $(sed -E 's/.*engine_cpu_s=([0-9.]+).*/\1/' <<<"$line")"
        before="$after"
    done
done | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
for size in sorted({int(r[0]) for r in rows}):
    runs = [(int(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in rows if int(r[0]) == size]
    busy = [float(r[5]) for r in rows if int(r[0]) == size]
    # CPU outside the network: the run'"'"'s CPU time less what the engine'"'"'s threads used (the worker measures it).
    outside = [(float(r[7]) - float(r[8])) * 1000 / int(r[1]) for r in rows if int(r[0]) == size]
    pipeline = [p for _, p, _, _ in runs]
    engine = [e for _, _, b, a in runs for e in (b, a)]
    ratios = [p / ((b + a) / 2) for _, p, b, a in runs]
    print(f"{size}x{size}, batch '"$batch"': worker end to end median {statistics.median(pipeline):.1f} img/s {sorted(pipeline)} "
          f"(jobs done per run: {sorted({d for d, _, _, _ in runs})}); engine alone before/after each run median "
          f"{statistics.median(engine):.1f} img/s {sorted(round(x, 1) for x in engine)}; "
          f"ratio per round {sorted(round(x, 3) for x in ratios)}, median {statistics.median(ratios):.3f}; "
          f"engine busy (share of the worker run spent in batches) {sorted(busy)}%, median {statistics.median(busy):.1f}%; "
          f"CPU ms per image outside the network {sorted(round(x, 2) for x in outside)}, median {statistics.median(outside):.2f}")
'
# Where the decode pool's part of that CPU goes, step by step, on the same files (fetching and storing are
# the rest).
for size in ${SIZES:-150 299}; do
    "$xceptor" bench decode --images Benchmarks/images/www --size "$size" --limit "$count"
done
