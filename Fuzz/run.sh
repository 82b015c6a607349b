#!/usr/bin/env bash
# Fuzzes the image decoders with libFuzzer (+ AddressSanitizer) for SECONDS (default 600), starting from
# the golden JPEGs and a few hostile seeds; findings (crash-*, leak-*, timeout-*) land in Fuzz/findings/.
# Only xceptor's own code is coverage-instrumented; the system's libjpeg-turbo runs uninstrumented (its
# crashes are still caught, but coverage does not steer the fuzzer through its internals).
# Usage: Fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"

swift build -c debug --product DecoderFuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address >&2
fuzzer="$(swift build -c debug --show-bin-path)/DecoderFuzzer"

corpus=corpus
mkdir -p "$corpus" findings
cp -n ../Tests/Fixtures/golden/images/*.jpg "$corpus/" 2>/dev/null || true
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\x01\x86\xa0\0\x01\x86\xa0\x08\x02\0\0\0' >"$corpus/png-bomb"
printf 'GIF89a\x01\0\x01\0\0\0\0' >"$corpus/gif"
printf 'BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\x18\0' >"$corpus/bmp"
printf 'RIFF\0\0\0\0WEBPVP8 ' >"$corpus/webp"

"$fuzzer" "$corpus" -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=findings/ -print_final_stats=1 2>&1 | tee findings/last-run.log | grep -E '^#[0-9]+.*(pulse|DONE)|stat::|ERROR|SUMMARY' || true
echo "log: Fuzz/findings/last-run.log; findings: $(find findings -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)"
