#!/usr/bin/env bash
# Fuzzes the model importer (Keras .keras zips, Keras 2 / legacy .h5, Keras 3 .weights.h5) and the label-file
# reader with libFuzzer (+ AddressSanitizer) for SECONDS (default 600), starting from Keras-written fixtures
# when XCEPTOR_KERAS_FIXTURES names them (scripts/test.sh makes them) and a few hostile seeds; findings land
# in Fuzz/findings-importer/.
# Built with swiftc directly, as run.sh does: the importer's sources with HDF5File, ZIPFoundation's sources
# and FileMapping in one module (oneDNN left out). Only xceptor's and ZIPFoundation's code is instrumented;
# the system's libhdf5 runs uninstrumented (its crashes are still caught).
# Usage: Fuzz/run-importer.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
build=.build/importer
mkdir -p "$build"
(cd .. && swift package resolve >/dev/null)
zip_sources=(../.build/checkouts/ZIPFoundation/Sources/ZIPFoundation/*.swift)
importer_sources=(../Sources/Xception/{KerasImporter,HDF5File,ModelWeights,WeightValues,Architecture,ModelError,LabelFile}.swift)
quiet() { { grep -v "Cannot export local symbol\|warning:" || true; } >&2; }
# ZIPFoundation and FileMapping as modules of their own, as the importer imports them.
for module in ZIPFoundation FileMapping; do
    sources=("${zip_sources[@]}")
    [ "$module" = FileMapping ] && sources=(../Sources/FileMapping/*.swift)
    swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name "$module" \
        -I ../.build/checkouts/ZIPFoundation/Sources/CZLib -Xcc -D_GNU_SOURCE=1 \
        -emit-module -emit-module-path "$build/$module.swiftmodule" -emit-library -static -o "$build/lib$module.a" \
        "${sources[@]}" 2>&1 | quiet
done
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name ImporterFuzzer -I "$build" -L "$build" \
    -lZIPFoundation -lFileMapping -lz -I ../.build/checkouts/ZIPFoundation/Sources/CZLib -I ../Sources/CHDF5 $(pkg-config --cflags-only-I hdf5 | sed 's/-I/-Xcc -I/g') \
    $(pkg-config --libs hdf5) "${importer_sources[@]}" Sources/ImporterFuzzer/*.swift -o "$build/ImporterFuzzer" 2>&1 | quiet

corpus=corpus-importer
mkdir -p "$corpus" findings-importer
if [ -n "${XCEPTOR_KERAS_FIXTURES:-}" ]; then
    # Small members of each kind: the label-sized files whole, the model files are too big for a corpus.
    for file in "$XCEPTOR_KERAS_FIXTURES"/*.keras "$XCEPTOR_KERAS_FIXTURES"/*.h5; do
        head -c 65536 "$file" >"$corpus/$(basename "$file").head"
    done
fi
# Small files in each layout (h5py from the fixtures' environment, when there is one).
python="${XCEPTOR_HOME:-$HOME/.cache/xceptor}/venvs/keras-fixtures-tensorflow-cpu-2.21.0/bin/python"
[ -x "$python" ] && "$python" Sources/ImporterFuzzer/make_seeds.py "$corpus"
printf '\x89HDF\r\n\x1a\n' >"$corpus/hdf5-signature"
printf 'PK\x03\x04' >"$corpus/zip-signature"
printf '{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]}' >"$corpus/class-index.json"
printf 'cat\ndog\n' >"$corpus/labels.txt"

# -detect_leaks=0: Foundation leaks a few KiB on its own error paths (FileManager.contents, Archive(url:)), found at once.
# -fork=1 and -ignore_*: go on past a finding (libhdf5 crashes on crafted files within a minute; see findings).
"$build/ImporterFuzzer" "$corpus" -max_total_time="$seconds" -max_len=1048576 -timeout=20 -rss_limit_mb=3072 -detect_leaks=0 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -artifact_prefix=findings-importer/ -print_final_stats=1 >findings-importer/last-run.log 2>&1 || true
tail -20 findings-importer/last-run.log
