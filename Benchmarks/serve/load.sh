#!/usr/bin/env bash
# HTTP load on `xceptor serve` with wrk: POST /v1/search by job id and GET /v1/jobs/{id} over a store of
# synthetic embeddings (`bench make-store`) with its HNSW index, at one connection and at 2x the cores,
# next to the library's own search (`bench search-store`) on the same store, one search and 2x the cores at
# once, before and after the server's runs (the ratios use their mean). Reports latency, the server's CPU per request against the library's per search, and the server's
# RSS every 5 s. wrk runs one thread: on a small machine a second would take a core from the server.
# Usage: [VECTORS=100000 SECONDS_PER_RUN=60] Benchmarks/serve/load.sh [STORE_DIR]
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
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $vectors vectors"
# The library's own search, one at a time and 2x the cores at once: sets library_one and library_many (JSON)
# and prints both.
measure_library() {
    library_one="$("$xceptor" bench search-store --db "$store" --queries 2000 --json)"
    library_many="$("$xceptor" bench search-store --db "$store" --queries 4000 --concurrency "$connections" --json)"
    for result in "$library_one" "$library_many"; do
        python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print("%d at once: p50 %.3f ms, p99 %.3f ms, %.3f CPU ms per search" % (
            r["concurrency"], r["p50_milliseconds"], r["p99_milliseconds"], r["cpu_milliseconds_per_query"]))' "$result"
    done
}
echo "== the library alone (vectors and index loaded once)"
measure_library
library_one_before="$library_one" library_many_before="$library_many"

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
ticks="$(getconf CLK_TCK)"
server_cpu() { awk -v ticks="$ticks" '{printf "%.3f", ($14 + $15) / ticks}' "/proc/$server/stat"; }
results="$dir/results"
: >"$results"
for script in search job; do
    for clients in 1 "$connections"; do
        run_seconds=$((clients == 1 ? (seconds + 5) / 6 : seconds))
        echo "== wrk: $script, $clients connection(s), ${run_seconds}s"
        ( for _ in $(seq $((run_seconds / 5))); do sleep 5; awk '/VmRSS/ {print $2}' "/proc/$server/status"; done ) >"$dir/rss" &
        sampler=$!
        cpu_before="$(server_cpu)"
        line="$(JOBS="$vectors" TOKEN="$token" wrk -t1 -c"$clients" -d"${run_seconds}s" --latency -s "Benchmarks/serve/$script.lua" \
            "http://127.0.0.1:$port" | tee /dev/stderr | grep '^wrk-result')"
        cpu_after="$(server_cpu)"
        wait $sampler
        echo "$script $clients $line cpu_s=$(python3 -c "print($cpu_after - $cpu_before)")" >>"$results"
        echo "server RSS (MB, every 5 s): $(awk '{printf "%.0f ", $1 / 1024}' "$dir/rss")"
    done
done

# The library again, after the server: a shared host drifts within minutes, so the ratios below compare the
# server with the mean of the library's runs before and after it.
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
echo "== the library alone, again"
measure_library

python3 - "$results" "$library_one_before" "$library_many_before" "$connections" "$library_one" "$library_many" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    fields = line.split()
    values = dict(field.split("=") for field in fields[3:])
    rows[(fields[0], int(fields[1]))] = {key: float(value) for key, value in values.items()}
def mean(a, b):
    return {key: (a[key] + b[key]) / 2 for key in ("p50_milliseconds", "p99_milliseconds", "cpu_milliseconds_per_query")}
connections = int(sys.argv[4])
one = mean(json.loads(sys.argv[2]), json.loads(sys.argv[5]))
many = mean(json.loads(sys.argv[3]), json.loads(sys.argv[6]))
print(f"\n{'route':8} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'errors':>7} {'server CPU ms/req':>18}")
for (script, clients), r in rows.items():
    print(f"{script:8} {clients:>5} {r['requests'] / r['seconds']:>8,.0f} {r['p50_us'] / 1000:>8.3f} {r['p99_us'] / 1000:>8.3f} "
          f"{r['p99_us'] / r['p50_us']:>8.2f} {r['errors']:>7.0f} {r['cpu_s'] * 1000 / r['requests']:>18.3f}")
single, loaded = rows[("search", 1)], rows[("search", connections)]
print(f"\nsearch, one at a time: HTTP p50 {single['p50_us'] / 1000:.3f} ms against the library's {one['p50_milliseconds']:.3f} ms "
      f"(+{single['p50_us'] / 1000 / one['p50_milliseconds'] - 1:.0%}, client and loopback included)")
print(f"search CPU per request: server {loaded['cpu_s'] * 1000 / loaded['requests']:.3f} ms against the library's "
      f"{many['cpu_milliseconds_per_query']:.3f} ms at {connections} at once (+{loaded['cpu_s'] * 1000 / loaded['requests'] / many['cpu_milliseconds_per_query'] - 1:.0%})")
print(f"search at {connections} connections: p99 is {loaded['p99_us'] / loaded['p50_us']:.2f}x p50 "
      f"(the library's own at {connections} at once: {many['p99_milliseconds'] / many['p50_milliseconds']:.2f}x)")
PY
