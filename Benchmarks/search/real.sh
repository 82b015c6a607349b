#!/usr/bin/env bash
# Search on real Xception embeddings: COUNT distinct images (Benchmarks/images: crops, flips and colour
# shifts of the kitchenware samples) embedded by `xceptor worker` at 150, written out with `xceptor export
# --format npy --normalized`, the last 100 held out as queries. Then, on those vectors, exact search and HNSW
# by xceptor next to FAISS (IndexFlatIP, IndexHNSWFlat) and hnswlib, as run.sh does on synthetic data, and
# `xceptor duplicates` timed on the same store.
# Usage: Benchmarks/search/real.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-1000}"

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
"$xceptor" model info >/dev/null 2>&1 || "$xceptor" model fetch >&2
venv=Benchmarks/search/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy faiss-cpu
fi
"$venv/bin/python" -c "import hnswlib" 2>/dev/null || "$venv/bin/pip" install --quiet pybind11 hnswlib
coretype=Haswell
grep -q avx512f /proc/cpuinfo && coretype=SkylakeX

. Benchmarks/images/lib.sh
serve_bench_images "$count"
"$xceptor" enqueue --db "$work/q.sqlite" --from "$work/urls.txt" >/dev/null
"$xceptor" worker --db "$work/q.sqlite" --size 150 --until-empty --allow-private-networks --progress none 2>&1 | grep 'worker stopped' >&2
"$xceptor" export --db "$work/q.sqlite" --format npy --normalized --output "$work/all.npy"
"$venv/bin/python" - "$work" <<'EOF'
import sys
import numpy as np
work = sys.argv[1]
vectors = np.load(f"{work}/all.npy")
np.save(f"{work}/base.npy", vectors[:-100])
np.save(f"{work}/queries.npy", vectors[-100:])
print(f"{vectors.shape[0] - 100} real embeddings of {vectors.shape[1]} values, 100 queries", file=sys.stderr)
EOF

"$xceptor" bench search --base "$work/base.npy" --queries "$work/queries.npy" --single 100 --batch 50
OPENBLAS_CORETYPE=$coretype "$venv/bin/python" Benchmarks/search/faiss_baseline.py "$work/base.npy" "$work/queries.npy" --batch 50
"$xceptor" bench search --hnsw --base "$work/base.npy" --queries "$work/queries.npy" --ef-search 16 32 64
OPENBLAS_CORETYPE=$coretype "$venv/bin/python" Benchmarks/search/hnsw_baseline.py "$work/base.npy" "$work/queries.npy" --ef 16 32 64
start=$(date +%s%N)
"$xceptor" duplicates --db "$work/q.sqlite" --threshold 0.95 >"$work/duplicates.txt"
head -1 "$work/duplicates.txt"
echo "duplicates over $count embeddings: $(( ($(date +%s%N) - start) / 1000000 )) ms (the whole command)"
