#!/usr/bin/env bash
# Builds the wheel and the sdist, checks that both carry the web page's static files, installs
# the wheel (with its dependencies, as a user would) into a fresh virtual environment outside
# the source tree and, from there, runs the CLI, trains a tiny model on a synthetic CSV and
# serves it long enough to fetch / , /static/app.js and /health.
#
# Usage: bash scripts/check-wheel.sh        (needs `build`: pip install -e ".[test]")
# scripts/test.sh calls it; skip it there with MOVIEREC_SKIP_WHEEL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/movierec-wheel.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== check-wheel: %s (%ss)\n' "$1" "$SECONDS"; }

step "build wheel and sdist"
"$PYTHON" -m build --wheel --sdist --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/movierec-*.whl)
SDIST=$(ls "$WORK"/dist/movierec-*.tar.gz)
echo "built $(basename "$WHEEL") and $(basename "$SDIST")"

step "static files in the wheel and the sdist"
"$PYTHON" - "$WHEEL" "$SDIST" <<'EOF'
import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1:]
static = ["index.html", "app.js", "style.css"]
wheel_names = set(zipfile.ZipFile(wheel).namelist())
sdist_names = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
missing = [f"wheel: movierec/service/static/{n}" for n in static
           if f"movierec/service/static/{n}" not in wheel_names]
missing += [f"sdist: src/movierec/service/static/{n}" for n in static
            if f"src/movierec/service/static/{n}" not in sdist_names]
missing += [f"sdist: {n}" for n in ("pyproject.toml", "README.md") if n not in sdist_names]
if missing:
    sys.exit("missing from the distributions: " + ", ".join(missing))
if any(name.startswith("tests/") for name in wheel_names):
    sys.exit("the wheel carries the tests")
print(f"ok: {len(wheel_names)} files in the wheel, static files present in both")
EOF

step "install the wheel into a fresh virtual environment"
"$PYTHON" -m venv "$WORK/venv"
VENV_PY="$WORK/venv/bin/python"
"$VENV_PY" -m pip install "$WHEEL" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }
grep -E '^Successfully installed' "$WORK/install.log" | cut -c1-200 || true
MOVIEREC="$WORK/venv/bin/movierec"

# From here on, run outside the source tree so that only the installed wheel is importable.
cd "$WORK"
unset PYTHONPATH
export PYTHONNOUSERSITE=1

step "movierec --help, demo --help, --version"
"$MOVIEREC" --help >/dev/null
"$MOVIEREC" demo --help >/dev/null
WANT=$("$VENV_PY" -c "from importlib.metadata import version; print(version('movierec'))")
GOT=$("$MOVIEREC" --version)
echo "$GOT"
[ "$GOT" = "movierec $WANT" ] || { echo "expected 'movierec $WANT', got '$GOT'" >&2; exit 1; }
"$VENV_PY" - <<'EOF'
import pathlib

import movierec

where = pathlib.Path(movierec.__file__).resolve()
assert "site-packages" in where.parts, f"movierec imported from {where}, not the wheel"
print(f"imported from {where.parent}")
EOF

# The whole tutorial from the wheel alone (1 epoch per model to keep CI short), when the
# MovieLens files are there (CI: ../shared/data); without them this step says so.
if [ -d "${MOVIEREC_DATA:-/nonexistent}/ml-latest-small" ]; then
    step "movierec demo --epochs 1 on latest-small"
    "$MOVIEREC" demo --epochs 1 --out "$WORK/demo" >"$WORK/demo.log" 2>&1 \
        || { cat "$WORK/demo.log"; exit 1; }
    tail -n 14 "$WORK/demo.log"
else
    step "movierec demo: skipped (no ml-latest-small under MOVIEREC_DATA)"
fi

step "train a tiny run on a synthetic CSV"
"$VENV_PY" - <<'EOF'
import numpy as np

rng = np.random.default_rng(0)
users, items = rng.integers(1, 31, 600), rng.integers(1, 41, 600)
ratings = rng.integers(1, 6, 600)
with open("tiny.csv", "w") as out:
    out.write("user,item,rating\n")
    out.writelines(f"{u},{i},{r}\n" for u, i, r in zip(users, items, ratings, strict=True))
EOF
"$MOVIEREC" train --ratings tiny.csv --epochs 1 --out "$WORK/run" >"$WORK/train.log" 2>&1 \
    || { cat "$WORK/train.log"; exit 1; }
tail -n 2 "$WORK/train.log"

step "movierec serve: GET / , /static/app.js, /health"
PORT=$("$VENV_PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$MOVIEREC" serve --run "$WORK/run" --host 127.0.0.1 --port "$PORT" --log-level warning \
    >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
"$VENV_PY" - "$PORT" <<'EOF' || { cat "$WORK/serve.log"; exit 1; }
import json
import sys
import time
import urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 90
while True:
    try:
        health = urllib.request.urlopen(base + "/health", timeout=5)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the server did not answer /health within 90 s")
        time.sleep(0.5)
body = json.load(health)
print("/health:", json.dumps(body)[:200])
page = urllib.request.urlopen(base + "/", timeout=5).read().decode()
assert "<html" in page.lower(), "GET / is not the web page"
script = urllib.request.urlopen(base + "/static/app.js", timeout=5)
assert script.status == 200 and script.read(), "GET /static/app.js is empty"
print(f"/: {len(page)} characters of HTML; /static/app.js served")
EOF
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

step "done"
