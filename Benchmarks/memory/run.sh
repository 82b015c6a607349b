#!/usr/bin/env bash
# Memory under hostile images: COUNT (default 100) distinct 8000x8000 images (progressive JPEGs with EXIF
# rotation, PNGs, WebPs; Benchmarks/memory/make-hostile.py, cached) served on 127.0.0.1, each run of
# `xceptor worker --until-empty` on a fresh queue: with the budget out of the way (1024T, as before the
# budget existed), at the default budget (half the machine), and at each of BUDGETS (default 2G). Prints each run's
# peak RSS (the kernel's, from the worker's own summary), wall time and done/failed counts.
# Usage: [BUDGETS="2G 1500M"] Benchmarks/memory/run.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-100}"
images="${XCEPTOR_HOME:-$HOME/.cache/xceptor}/bench/hostile-$count"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
"$xceptor" model info >/dev/null 2>&1 || "$xceptor" model fetch >&2
[ -f "$images/done" ] || { python3 Benchmarks/memory/make-hostile.py "$images" "$count" && touch "$images/done"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$images" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
sleep 1

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
printf '%-10s %14s %10s %6s %8s\n' budget peak_rss_mib seconds done failed
for budget in 1024T default ${BUDGETS:-2G}; do
    rm -f "$work"/q.sqlite*
    ls "$images" | grep hostile | sed "s|^|http://127.0.0.1:$port/|" | "$xceptor" enqueue --db "$work/q.sqlite" --from - >/dev/null
    flags=()
    [ "$budget" != default ] && flags=(--memory-budget "$budget")
    output=$("$xceptor" worker --db "$work/q.sqlite" --allow-private-networks --until-empty --progress none "${flags[@]}" 2>&1 || true)
    line=$(grep "worker stopped" <<<"$output" || { tail -3 <<<"$output" >&2; echo; })
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    printf '%-10s %14s %10s %6s %8s\n' "$budget" "$(field peak_rss_mib)" "$(field elapsed_s)" "$(field done)" "$(field failed)"
done
