#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document with schemathesis (from PyPI, in its own venv): a
# server on a fresh store of the bundled samples, with a token, then two runs: every check (requests the
# document allows must be accepted, others refused), and response conformance alone (no 5xx, every status,
# header, content type and body as documented). Prints each run's summary.
# Usage: [EXAMPLES=200] Benchmarks/serve/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="${EXAMPLES:-200}"
venv=Benchmarks/serve/.venv
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet schemathesis; }
swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"
samples="$(scripts/fetch-kitchenware.sh)"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
files="$(free_port)"
python3 -m http.server "$files" --bind 127.0.0.1 --directory "$samples" >/dev/null 2>&1 &
pids+=($!)
"$xceptor" model fetch >/dev/null
ls "$samples"/*.jpg | sed "s|.*/|http://127.0.0.1:$files/|" >"$work/urls.txt"
"$xceptor" enqueue --db "$work/store.sqlite" --from "$work/urls.txt" >/dev/null
"$xceptor" worker --db "$work/store.sqlite" --until-empty --allow-private-networks --progress none --log-level warning
echo "fuzz-token-$RANDOM$RANDOM" >"$work/token"
port="$(free_port)"
"$xceptor" serve --db "$work/store.sqlite" --port "$port" --token-file "$work/token" --log-level warning 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done

run() {
    "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.yaml" -H "Authorization: Bearer $(cat "$work/token")" \
        --max-examples "$examples" "$@" >"$work/run.log" 2>&1 || true
    sed -n '/SUMMARY/,$p' "$work/run.log"
}
echo "== every check"
run --checks all
echo "== response conformance: no server error; statuses, headers, content types and bodies as documented"
run --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
kill -0 "${pids[1]}" 2>/dev/null && echo "the server is still up" || { echo "the server died:"; tail -20 "$work/serve.log"; exit 1; }
