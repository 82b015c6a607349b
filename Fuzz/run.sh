#!/usr/bin/env bash
# Fuzzes the image decoders with libFuzzer (+ AddressSanitizer) for SECONDS (default 600), starting from
# the golden JPEGs, the format fixtures and a few hostile seeds; findings (crash-*, leak-*, timeout-*,
# oom-*) land in Fuzz/findings/.
# Built with swiftc directly (the Imaging sources, the C shims and the harness in one module): SwiftPM
# renames an executable's main, and libFuzzer brings its own. Only xceptor's code is coverage-instrumented;
# the system's libjpeg-turbo, libpng, libwebp and giflib run uninstrumented (their crashes are still caught,
# but coverage does not steer the fuzzer through their internals).
# Usage: Fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
build=.build
mkdir -p "$build"

cat >"$build/module.modulemap" <<MAP
module CImageCodecs {
    header "$(realpath ../Sources/CImageCodecs/include/image_codecs.h)"
    export *
}
MAP
for source in ../Sources/CImageCodecs/*.c; do
    clang -c -O1 -g -fsanitize=fuzzer-no-link,address -I ../Sources/CImageCodecs/include "$source" -o "$build/$(basename "$source" .c).o"
done
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name DecoderFuzzer \
    -Xcc -fmodule-map-file="$build/module.modulemap" -I ../Sources/CPNG -I ../Sources/CWebP \
    ../Sources/Imaging/*.swift Sources/DecoderFuzzer/DecoderFuzzer.swift "$build"/*.o \
    -ljpeg -lgif -lpng16 -lwebp -o "$build/DecoderFuzzer" 2>&1 | { grep -v "Cannot export local symbol" || true; } >&2

corpus=corpus
mkdir -p "$corpus" findings
cp -n ../Tests/Fixtures/golden/images/*.jpg "$corpus/" 2>/dev/null || true
for fixture in ../Tests/Fixtures/formats/*.png ../Tests/Fixtures/formats/*.gif ../Tests/Fixtures/formats/*.webp; do
    cp -n "$fixture" "$corpus/" 2>/dev/null || true
done
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\x01\x86\xa0\0\x01\x86\xa0\x08\x02\0\0\0' >"$corpus/png-bomb"
printf 'BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\x18\0' >"$corpus/bmp"

"$build/DecoderFuzzer" "$corpus" -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=findings/ -print_final_stats=1 >findings/last-run.log 2>&1 || true
grep -E 'DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY' findings/last-run.log || tail -5 findings/last-run.log
echo "log: Fuzz/findings/last-run.log; findings: $(find findings -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)"
