#!/usr/bin/env bash
# Formats every Swift file of the project with swift-format (part of the Swift 6 toolchain) and the rules in
# .swift-format. With --check it changes nothing and fails on any file that is not formatted (CI runs that).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v swift-format >/dev/null 2>&1; then
    format=(swift-format)
else
    format=(swift format)
fi
paths=(Package.swift Sources Tests Plugins Fuzz/Sources)
if [ "${1:-}" = "--check" ]; then
    if ! "${format[@]}" lint --strict --recursive --parallel "${paths[@]}"; then
        echo "error: the files above are not formatted; run scripts/format.sh and commit the result" >&2
        exit 1
    fi
else
    "${format[@]}" format --in-place --recursive --parallel "${paths[@]}"
fi
