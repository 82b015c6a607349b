#!/usr/bin/env bash
# Exact search on gen_data.py's 100k x 2048 clustered vectors and 1k queries: xceptor (`bench search`) next
# to FAISS IndexFlatIP and numpy, same machine, same run, alternating. faiss-cpu's bundled OpenBLAS
# misdetects some CPUs: it gets the core type named explicitly (SkylakeX with AVX-512, else Haswell).
# With --hnsw: HNSW (M=16, efConstruction=200) built by xceptor, FAISS IndexHNSWFlat and hnswlib, with build
# time, recall@10 against exact search, ms per single query and queries/s per efSearch.
# Usage: [VECTORS=20000] Benchmarks/search/run.sh [ROUNDS] | [VECTORS=20000] Benchmarks/search/run.sh --hnsw
# (VECTORS: base size, default 100000. Every library builds its index on all cores.)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=exact
if [ "${1:-}" = "--hnsw" ]; then mode=hnsw; shift; fi
rounds="${1:-2}"

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
venv=Benchmarks/search/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy faiss-cpu
fi
"$venv/bin/python" -c "import hnswlib" 2>/dev/null || "$venv/bin/pip" install --quiet pybind11 hnswlib
vectors="${VECTORS:-100000}"
data=Benchmarks/search/data
[ "$vectors" = 100000 ] || data="Benchmarks/search/data-$vectors"
[ -f "$data/base.npy" ] || "$venv/bin/python" Benchmarks/search/gen_data.py --out "$data" --n "$vectors" >&2

coretype=Haswell
grep -q avx512f /proc/cpuinfo && coretype=SkylakeX

if [ "$mode" = hnsw ]; then
    "$xceptor" bench search --hnsw --base "$data/base.npy" --queries "$data/queries.npy"
    OPENBLAS_CORETYPE=$coretype "$venv/bin/python" Benchmarks/search/hnsw_baseline.py "$data/base.npy" "$data/queries.npy"
    exit 0
fi
# The floor: one read of the matrix's bytes with every core (a plain C loop), measured in each round too.
floor="$(mktemp)"
trap 'rm -f "$floor"' EXIT
cc -O2 -mavx2 -fopenmp Benchmarks/search/bandwidth.c -o "$floor"
for round in $(seq "$rounds"); do
    "$floor"
    "$xceptor" bench search --base "$data/base.npy" --queries "$data/queries.npy" --json | sed 's/"kind":"/"kind":"xceptor-/'
    OPENBLAS_CORETYPE=$coretype "$venv/bin/python" Benchmarks/search/faiss_baseline.py "$data/base.npy" "$data/queries.npy"
done | python3 -c '
import json, statistics, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
for kind in ("bandwidth-floor", "xceptor-single", "xceptor-float16-single", "faiss-single", "numpy-single", "xceptor-batched", "faiss-batched"):
    values = sorted(round(r["milliseconds_per_query"], 2) for r in rows if r["kind"] == kind)
    if values:
        recalls = [r["recall_at10"] for r in rows if r["kind"] == kind and r.get("recall_at10") is not None]
        recall = f"  recall@10 {min(recalls):.4f} against float32" if recalls else ""
        shares = [(r["scoring_share"], r["scoring_gflops"]) for r in rows if r["kind"] == kind and r.get("scoring_share") is not None]
        scoring = "".join(f"  product {100 * s:.0f}% at {g:.0f} GFLOP/s" for s, g in shares)
        print(f"{kind:>22}: median {statistics.median(values):6.2f} ms/query {values}{recall}{scoring}")
# Same-round ratios: this kind of host drifts by 10-30% within minutes, so a ratio of medians can mislead.
rounds, current = [], None
for r in rows:
    if r["kind"] == "bandwidth-floor":
        current = {}
        rounds.append(current)
    if current is not None:
        current[r["kind"]] = r["milliseconds_per_query"]
def ratios(a, b):
    values = [round(r[a] / r[b], 2) for r in rounds if a in r and b in r]
    return f"median {statistics.median(values):.2f} {values}" if values else "-"
print("  single / floor, per round:", ratios("xceptor-single", "bandwidth-floor"))
print("  batched / FAISS batched, per round:", ratios("xceptor-batched", "faiss-batched"))
'
