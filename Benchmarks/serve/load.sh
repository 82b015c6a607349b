#!/usr/bin/env bash
# HTTP load on `xceptor serve` with wrk: POST /v1/search by job id and GET /v1/jobs/{id} over a store of
# synthetic embeddings (`bench make-store`) with its HNSW index, at 2x the cores in connections, next to the
# library's own search time on the same store (`bench search-store`). Samples the server's RSS every 5 s.
# Usage: [VECTORS=100000 SECONDS=60] Benchmarks/serve/load.sh [STORE_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
vectors="${VECTORS:-100000}"
seconds="${SECONDS_PER_RUN:-60}"
dir="${1:-$(mktemp -d)}"
command -v wrk >/dev/null || { echo "error: wrk is missing: apt-get install wrk" >&2; exit 1; }
swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
store="$dir/store.sqlite"
if [ ! -f "$store" ]; then
    "$xceptor" bench make-store --db "$store" --count "$vectors" >&2
    "$xceptor" index build --db "$store" >&2
fi
"$xceptor" model fetch >/dev/null
connections=$((2 * $(nproc)))
echo "== the library alone (vectors and index loaded once)"
"$xceptor" bench search-store --db "$store" --queries 500
token="load-token-$RANDOM"
echo "$token" >"$dir/token"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$xceptor" serve --db "$store" --port "$port" --token-file "$dir/token" --log-level warning 2>"$dir/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
# The first search loads the vectors and maps the index; the load starts after it.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"job": 1}' \
    "http://127.0.0.1:$port/v1/search"
for script in search job; do
    echo "== wrk: $script, $connections connections, ${seconds}s"
    ( for _ in $(seq $((seconds / 5))); do sleep 5; awk '/VmRSS/ {print $2}' "/proc/$server/status"; done ) >"$dir/rss-$script" &
    sampler=$!
    JOBS="$vectors" TOKEN="$token" wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "Benchmarks/serve/$script.lua" \
        "http://127.0.0.1:$port" | grep -E "Latency|Req/Sec|requests in|Requests/sec|Non-2xx|Socket errors|  50%|  75%|  90%|  99%"
    wait $sampler
    echo "server RSS (MB, every 5 s): $(awk '{printf "%.0f ", $1 / 1024}' "$dir/rss-$script")"
done
