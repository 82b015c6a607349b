#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine with Swift: installs what it needs, then builds
# and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
