#!/usr/bin/env bash
# The whole test suite: installs the test extras and Debian's Chromium (for the web-page
# test), runs ruff and every test on the default JAX backend, then reruns the model tests on
# the PyTorch backend (the Keras code must be backend-agnostic).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install -q -e ".[test]"
bash scripts/install-browser.sh
ruff check src tests benchmarks
lint-imports --no-cache   # the layering rule in pyproject.toml (docs/architecture.md)
python -m pytest "$@"

# torch 2.13.0 resolves to a CPU build on these machines; skip this leg with MOVIEREC_SKIP_TORCH=1.
if [ "${MOVIEREC_SKIP_TORCH:-0}" != "1" ]; then
    python -m pip install -q "torch==2.13.0"
    KERAS_BACKEND=torch python -m pytest -m backend -p no:cacheprovider
fi
