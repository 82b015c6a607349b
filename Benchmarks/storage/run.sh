#!/usr/bin/env bash
# Bytes per stored image: runs each given xceptor binary's worker over the same served images and reports
# what its store takes on disk, per image and per table (SQLite's dbstat). Compare two builds, e.g. before
# and after a schema change: Benchmarks/storage/run.sh OLD/xceptor NEW/xceptor
# Usage: [IMAGES=500] Benchmarks/storage/run.sh [XCEPTOR_BINARY...]   (default: this checkout's release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
images="${IMAGES:-500}"
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    swift build -c release --product xceptor >&2
    binaries=("$(swift build -c release --show-bin-path)/xceptor")
fi
samples="$(scripts/fetch-kitchenware.sh)"
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"${binaries[0]}" model fetch >/dev/null
"${binaries[0]}" bench make-images --count "$images" --output "$work/www" "$samples"/*.jpg >&2
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
for image in "$work/www"/*.jpg; do echo "http://127.0.0.1:$port/$(basename "$image")"; done >"$work/urls.txt"

for binary in "${binaries[@]}"; do
    db="$work/store-$RANDOM.sqlite"
    "$binary" enqueue --db "$db" --from "$work/urls.txt" >/dev/null
    "$binary" worker --db "$db" --until-empty --allow-private-networks --progress none --log-level warning
    python3 - "$db" "$binary" <<'PY'
import sqlite3, sys
db, binary = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
images = c.execute("SELECT count(*) FROM images").fetchone()[0]
pages, free, size = (c.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
used = (pages - free) * size
tables = dict(c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
def table(names): return sum(tables.get(n, 0) for n in names) / max(images, 1)
print(f"{binary}: {images} images, {used / 1e6:.2f} MB in use, {used / max(images, 1):,.0f} bytes per image "
      f"(embeddings {table(['embeddings', 'sqlite_autoindex_embeddings_1']):,.0f}, "
      f"images and thumbnails {table(['images', 'sqlite_autoindex_images_1']):,.0f}, labels {table(['labels', 'labels_best']):,.0f}, "
      f"jobs {table([n for n in tables if n.startswith('jobs')]):,.0f})")
PY
done
