#!/usr/bin/env bash
# Queue benchmark next to its anchor, same machine, same run: `xceptor bench queue` (release build) and
# goqite's SQL pattern through Python's sqlite3 (goqite_pattern.py). Prints both and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."

swift build -c release --product xceptor >&2
xceptor="$(swift build -c release --show-bin-path)/xceptor"

ours="$("$xceptor" bench queue --json "$@")"
anchor="$(python3 Benchmarks/queue/goqite_pattern.py --messages 5000)"

python3 - "$ours" "$anchor" <<'PY'
import json, sys
ours, anchor = json.loads(sys.argv[1]), json.loads(sys.argv[2])
a = anchor["messages_per_second"]
print(f"anchor: goqite's send+receive+delete pattern (Python sqlite3, same libsqlite3): {a:,.0f} messages/s")
print(f"        goqite's own published figure (M1 laptop): ~13,000 messages/s")
print()
print(f"{'xceptor':58} {'jobs/s':>10} {'vs anchor':>10}")
e = ours["enqueue"]
print(f"{'enqueue, %d jobs in one transaction' % e['jobs']:58} {e['jobs_per_second']:>10,.0f} {e['jobs_per_second'] / a:>9.1f}x")
s = ours["sequential"]
print(f"{'enqueue 1 + claim 1 + complete 1, one at a time':58} {s['jobs_per_second']:>10,.0f} {s['jobs_per_second'] / a:>9.2f}x")
for d in ours["claim_complete"]:
    label = f"claim+complete, {d['processes']} process(es), batches of {d['batch_size']}"
    print(f"{label:58} {d['jobs_per_second']:>10,.0f} {d['jobs_per_second'] / a:>9.1f}x")
PY
