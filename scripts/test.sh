#!/usr/bin/env bash
# The whole test suite: installs the test extras and Debian's Chromium (for the web-page
# test), runs ruff, lint-imports and mypy, then every test on the default JAX backend, reruns
# the model tests on the PyTorch and TensorFlow backends (the Keras code must be
# backend-agnostic), executes the tutorial notebook (docs/tutorial.ipynb), then builds the
# wheel and the sdist and checks the wheel in a fresh virtual environment
# (scripts/check-wheel.sh).
#
# Skip legs for quick local runs: MOVIEREC_SKIP_TORCH=1, MOVIEREC_SKIP_TF=1, MOVIEREC_SKIP_WHEEL=1,
# MOVIEREC_SKIP_NOTEBOOK=1.
# Arguments go to the first (JAX) pytest run.
#
# The JAX pytest run spreads the tests over one worker process per CPU (pytest-xdist; on
# the 2-core CI machine about 7.5 minutes instead of 10). MOVIEREC_TEST_WORKERS sets the
# count: 0 runs them all in this process. The PyTorch and TensorFlow runs stay in one
# process: with two workers the PyTorch run took 71 s instead of 33 (each worker loads
# torch and its own thread pool), TensorFlow's 86 instead of 93.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real-data tests read MovieLens from $MOVIEREC_DATA, by default ../shared/data where it
# exists. Under CI=true a real-data test that skips fails the run (tests/conftest.py).
if [ -z "${MOVIEREC_DATA:-}" ] && [ -d ../shared/data ]; then
    export MOVIEREC_DATA="$(cd ../shared/data && pwd)"
fi

# Prints how long each leg took, also when one fails.
LEG_NAME="" LEG_START=0 TIMINGS=""
leg() {
    end_leg
    LEG_NAME=$1 LEG_START=$SECONDS
    printf '\n==== %s\n' "$LEG_NAME"
}
end_leg() {
    if [ -n "$LEG_NAME" ]; then
        TIMINGS+=$(printf '\n  %5ds  %s' $((SECONDS - LEG_START)) "$LEG_NAME")
        LEG_NAME=""
    fi
}
report() {
    local status=$?
    end_leg
    printf '\n==== time per leg (total %ds):%s\n' "$SECONDS" "$TIMINGS"
    exit $status
}
trap report EXIT

leg "install the project with its test extras, and Chromium"
python -m pip install -q -e ".[test]"
bash scripts/install-browser.sh

leg "ruff"
ruff check src tests benchmarks scripts

leg "import layers (lint-imports)"
lint-imports --no-cache   # the layering rule in pyproject.toml (docs/architecture.md)

leg "mypy"
mypy   # [tool.mypy] in pyproject.toml: all of src/movierec

leg "pytest on JAX"
python -m pytest -n "${MOVIEREC_TEST_WORKERS:-auto}" "$@"

if [ "${MOVIEREC_SKIP_NOTEBOOK:-0}" != "1" ]; then
    leg "docs/tutorial.ipynb, executed top to bottom"
    python scripts/run_notebook.py
fi

# torch 2.13.0 resolves to a CPU build on these machines.
if [ "${MOVIEREC_SKIP_TORCH:-0}" != "1" ]; then
    leg "pytest -m backend on PyTorch (torch 2.13.0)"
    python -m pip install -q "torch==2.13.0"
    KERAS_BACKEND=torch python -m pytest -m backend -p no:cacheprovider
fi

# tensorflow-cpu 2.21.0 installs beside jax and torch without changing keras, jax, numpy or
# ml_dtypes (it only moves h5py back to 3.14, which Keras accepts); `pip check` guards that.
if [ "${MOVIEREC_SKIP_TF:-0}" != "1" ]; then
    leg "pytest -m backend on TensorFlow (tensorflow-cpu 2.21.0)"
    python -m pip install -q "tensorflow-cpu==2.21.0"
    python -m pip check
    TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow python -m pytest -m backend -p no:cacheprovider
fi

if [ "${MOVIEREC_SKIP_WHEEL:-0}" != "1" ]; then
    leg "wheel and sdist: build, install into a fresh venv, CLI and serve"
    bash scripts/check-wheel.sh
fi
