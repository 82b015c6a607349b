#!/usr/bin/env bash
# The PostgreSQL queue next to its anchor, same server, same run: `xceptor bench queue --db postgres://...`
# (release build) and River's claim/complete SQL driven from Python through psycopg (postgres_pattern.py),
# each in a database of its own on a private server this script starts (Debian's postgresql package,
# default durability: synchronous_commit on) and stops. Prints both, the ratios and the dead rows left.
# Usage: [JOBS=20000] Benchmarks/queue/run-postgres.sh [--processes 1 4 16] [--batch 1 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${JOBS:-20000}"
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
ours="$("$xceptor" bench queue --db "postgres://bench@127.0.0.1:$port/xceptor?sslmode=disable" --jobs 100000 --drain-jobs "$jobs" \
    --processes "${processes[@]}" --batch "${batches[@]}" --json)"
anchor="$("$venv/bin/python" Benchmarks/queue/postgres_pattern.py --url "postgres://bench@127.0.0.1:$port/river" --jobs "$jobs" \
    --processes "${processes[@]}" --batch "${batches[@]}")"

python3 - "$ours" "$anchor" <<'PY'
import json, sys
ours, anchor = json.loads(sys.argv[1]), json.loads(sys.argv[2])
theirs = {(r["processes"], r["batch_size"]): r["jobs_per_second"] for r in anchor["results"]}
print(f"{'claim+complete':40} {'xceptor jobs/s':>15} {'River pattern (psycopg)':>24} {'ratio':>7}")
for d in ours["claim_complete"]:
    key = (d["processes"], d["batch_size"])
    label = f"{d['processes']} process(es), batches of {d['batch_size']}"
    other = theirs.get(key)
    ratio = f"{d['jobs_per_second'] / other:.2f}x" if other else "-"
    print(f"{label:40} {d['jobs_per_second']:>15,.0f} {other or 0:>24,.0f} {ratio:>7}")
e, s = ours["enqueue"], ours["sequential"]
print(f"enqueue {e['jobs']} jobs in one call: {e['jobs_per_second']:,.0f} jobs/s; one job at a time (enqueue+claim+complete): {s['jobs_per_second']:,.0f} jobs/s")
t = ours.get("jobs_table") or {}
if t:
    print(f"xceptor jobs table after the run: {t['live_rows']:,} live rows, {t['dead_rows']:,} dead, {t['hot_updates']:,} of {t['updates']:,} updates HOT, "
          f"{t['autovacuums']} autovacuums, table {t['table_bytes'] / 2**20:.0f} MiB, indexes {t['index_bytes'] / 2**20:.0f} MiB")
print(f"River pattern's table after its run: {anchor['dead_rows']:,} dead rows")
PY
