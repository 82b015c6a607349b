#!/usr/bin/env bash
# The PostgreSQL queue next to its anchor, same server, same run: `xceptor bench queue --db postgres://...`
# (release build) and River's claim/complete SQL driven from Python through psycopg (postgres_pattern.py),
# each in a database of its own on a private server this script starts (Debian's postgresql package,
# default durability: synchronous_commit on) and stops. The two alternate step by step for ROUNDS rounds
# (a shared 2-core host drifts by a fifth within minutes), and the medians, each round's ratio and the dead
# rows left are printed.
# Usage: [JOBS=20000] [ROUNDS=3] Benchmarks/queue/run-postgres.sh [--processes 1 4 16] [--batch 1 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${JOBS:-20000}"
rounds="${ROUNDS:-3}"
processes=(1 4 16)
batches=(1 32)
while (($#)); do
    case "$1" in
    --processes) shift; processes=(); while (($#)) && [[ "$1" != --* ]]; do processes+=("$1"); shift; done ;;
    --batch) shift; batches=(); while (($#)) && [[ "$1" != --* ]]; do batches+=("$1"); shift; done ;;
    *) echo "error: unknown argument $1 (use --processes N... --batch N...)" >&2; exit 64 ;;
    esac
done

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
[ -x "$bin/initdb" ] || { echo "error: no PostgreSQL server binaries: apt-get install postgresql" >&2; exit 1; }
venv=Benchmarks/queue/.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import psycopg" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "psycopg[binary]==3.2.*" >&2
fi

dir="$(mktemp -d)"
as=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${as[@]}" "$bin/initdb" -D "$dir/data" -U bench --auth trust -E UTF8 >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null </dev/null
trap '"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
psql -q "postgres://bench@127.0.0.1:$port/postgres" -c "CREATE DATABASE xceptor" -c "CREATE DATABASE river"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; PostgreSQL $("$bin/postgres" --version | awk '{print $3}')" >&2
# The enqueue figures and the table's health come from one full run; then each step alternates.
ours=("$("$xceptor" bench queue --db "postgres://bench@127.0.0.1:$port/xceptor?sslmode=disable" --jobs 100000 --drain-jobs "$jobs" \
    --processes "${processes[0]}" --batch "${batches[0]}" --json)")
anchors=()
# Each step leaves tens of thousands of dead rows that autovacuum would otherwise clear while the other
# side's next step runs: before each step, the anchor's table is vacuumed and xceptor's database made anew,
# as the anchor makes its table anew at every run, so that both start from the same state on a quiet server.
settle() {
    psql -q "postgres://bench@127.0.0.1:$port/postgres" -c "DROP DATABASE IF EXISTS xceptor" -c "CREATE DATABASE xceptor"
    echo "SELECT 'VACUUM bench_river_job' WHERE to_regclass('bench_river_job') IS NOT NULL \\gexec" |
        psql -q "postgres://bench@127.0.0.1:$port/river"
}
for ((round = 1; round <= rounds; round++)); do
    for batch in "${batches[@]}"; do
        for count in "${processes[@]}"; do
            settle
            ((round == 1 && count == processes[0] && batch == batches[0])) || ours+=("$("$xceptor" bench queue \
                --db "postgres://bench@127.0.0.1:$port/xceptor?sslmode=disable" --jobs 1000 --drain-jobs "$jobs" \
                --processes "$count" --batch "$batch" --json)")
            settle
            anchors+=("$("$venv/bin/python" Benchmarks/queue/postgres_pattern.py --url "postgres://bench@127.0.0.1:$port/river" \
                --jobs "$jobs" --processes "$count" --batch "$batch")")
        done
    done
done

python3 - "$(printf '%s\n' "${ours[@]}")" "$(printf '%s\n' "${anchors[@]}")" <<'PY'
import json, statistics, sys
ours = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
anchors = [json.loads(line) for line in sys.argv[2].splitlines() if line.strip()]
mine, theirs, my_cpu, their_cpu = {}, {}, {}, {}
for run in ours:
    for d in run["claim_complete"]:
        mine.setdefault((d["processes"], d["batch_size"]), []).append(d["jobs_per_second"])
        my_cpu.setdefault((d["processes"], d["batch_size"]), []).append(d["client_cpu_microseconds_per_job"])
for run in anchors:
    for r in run["results"]:
        theirs.setdefault((r["processes"], r["batch_size"]), []).append(r["jobs_per_second"])
        their_cpu.setdefault((r["processes"], r["batch_size"]), []).append(r["client_cpu_microseconds_per_job"])
print(f"{'claim+complete (median of rounds)':40} {'xceptor jobs/s':>15} {'River pattern (psycopg)':>24} {'ratio':>7}  per round")
for key in sorted(mine, key=lambda k: (k[1], k[0])):
    a, b = mine[key], theirs.get(key, [])
    label = f"{key[0]} process(es), batches of {key[1]}"
    rounds = " ".join(f"{x / y:.2f}" for x, y in zip(a, b))
    ratio = f"{statistics.median(a) / statistics.median(b):.2f}x" if b else "-"
    print(f"{label:40} {statistics.median(a):>15,.0f} {statistics.median(b) if b else 0:>24,.0f} {ratio:>7}  {rounds}")
print("client CPU a job (median; the claiming processes' user+system, the rest of the cores is the server's):")
for key in sorted(my_cpu, key=lambda k: (k[1], k[0])):
    print(f"  {key[0]} process(es), batches of {key[1]}: xceptor {statistics.median(my_cpu[key]):.1f} µs, "
          f"River pattern {statistics.median(their_cpu.get(key, [0])):.1f} µs")
e, s = ours[0]["enqueue"], ours[0]["sequential"]
print(f"enqueue {e['jobs']} jobs in one call: {e['jobs_per_second']:,.0f} jobs/s; one job at a time (enqueue+claim+complete): {s['jobs_per_second']:,.0f} jobs/s")
t = ours[-1].get("jobs_table") or {}
if t:
    print(f"xceptor jobs table after the run: {t['live_rows']:,} live rows, {t['dead_rows']:,} dead, {t['hot_updates']:,} of {t['updates']:,} updates HOT, "
          f"{t['autovacuums']} autovacuums, table {t['table_bytes'] / 2**20:.0f} MiB, indexes {t['index_bytes'] / 2**20:.0f} MiB")
print(f"River pattern's table after its last run: {anchors[-1]['dead_rows']:,} dead rows")
PY
