"""Resident memory of ``movierec serve``, one model family at a time, on latest-small.

For each family a run is trained (``movierec train`` in its own process; ``--epochs 1`` for
the Keras-trained ones: a server's memory depends on the tables' shapes, not on how long
they were trained), served with ``movierec serve`` on a free loopback port, and asked once
for a known user's list, a movie's similar movies and a new user's list. Then the server's
resident memory (``VmRSS``) and its peak (``VmHWM``, the load included) are read from
``/proc``. The first row, measured in the same run, is a process that only imports the
service (Python, numpy, pandas, JAX and Keras): what every server pays before its model.

Which packages are installed changes the figures: Keras imports scikit-learn when it is
there (30-45 MiB more); movierec does not need it, only its tests do. So the table says
whether scikit-learn was importable. Measure the figures a user serving gets in an
environment with movierec's own dependencies (``pip install .``, plus httpx for this
script's client)::

    python -m venv /tmp/rt && /tmp/rt/bin/pip install . httpx
    /tmp/rt/bin/python -m benchmarks.server_memory --data-dir ../shared/data

Writes ``benchmarks/results/server-memory.md`` (``--out``). Issue 23's target: the
``--preset rank`` ease server at most 600 MB resident.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pandas as pd

from benchmarks.common import machine_info
from benchmarks.load import free_port, start_server, stop_server, wait_for_health
from movierec.atomic import write_text

RESULTS = Path(__file__).parent / "results"
FAMILIES: tuple[tuple[str, list[str]], ...] = (
    ("dot-bias (`--preset fast`)", ["--preset", "fast"]),
    ("mlp (tutorial)", ["--model", "mlp", "--epochs", "1"]),
    ("blend (`--preset best`)", ["--preset", "best", "--epochs", "1"]),
    ("ease (`--preset rank`)", ["--preset", "rank"]),
    ("ials (`--preset rank`)", ["--preset", "rank", "--model", "ials"]),
    ("mult-dae (`--preset rank`)", ["--preset", "rank", "--model", "mult-dae", "--epochs", "1"]),
    ("mult-vae (`--preset rank`)", ["--preset", "rank", "--model", "mult-vae", "--epochs", "1"]),
)
IMPORT_ONLY = ("import movierec.service.app, jax.numpy as j; j.zeros(1).block_until_ready(); "
               "print(open('/proc/self/status').read())")


def status_mib(text: str) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of a ``/proc/<pid>/status`` text, in MiB."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from movierec.cli import main; main()", *args]


def get(url: str, body: dict | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def served(run: Path) -> dict[str, float]:
    """Serve ``run``, ask for each kind of list once, and read the server's memory."""
    train = pd.read_parquet(run / "train.parquet")
    user, movie = train["user_id"].iloc[0], train["movie_id"].iloc[0]
    port = free_port()
    process = start_server(run, port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, process)
        at_start = status_mib(Path(f"/proc/{process.pid}/status").read_text())
        for url, body in ((f"{base}/users/{user}/recommendations?k=10", None),
                          (f"{base}/movies/{movie}/similar?k=10", None),
                          (f"{base}/recommendations",
                           {"ratings": [{"movie_id": int(movie), "rating": 5.0}]})):
            if get(url, body) != 200:
                raise SystemExit(f"{url} did not answer 200")
        after = status_mib(Path(f"/proc/{process.pid}/status").read_text())
    finally:
        stop_server(process)
    return {"rss_at_start_mib": at_start["VmRSS"], "rss_mib": after["VmRSS"],
            "peak_mib": after["VmHWM"]}


def run_size_mb(run: Path) -> float:
    return sum(f.stat().st_size for f in run.iterdir() if f.is_file()) / 1e6


def measure(data_dir: str | None, families: list[str] | None) -> list[dict]:
    env = {**os.environ, **({"MOVIEREC_DATA": data_dir} if data_dir else {})}
    imported = subprocess.run([sys.executable, "-c", IMPORT_ONLY], capture_output=True,
                              text=True, check=True, env=env)
    rows = [{"family": "imports only (no model)", **{
        "rss_mib": status_mib(imported.stdout)["VmRSS"]}}]
    with tempfile.TemporaryDirectory() as folder:
        for name, options in FAMILIES:
            if families and not any(f in name for f in families):
                continue
            run = Path(folder) / name.split()[0]
            subprocess.run(cli("train", *options, "--out", str(run)), check=True, env=env,
                           stdout=subprocess.DEVNULL)
            row = {"family": name, "run_mb": run_size_mb(run), **served(run)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def report(rows: list[dict]) -> str:
    sklearn = importlib.util.find_spec("sklearn") is not None
    lines = ["# `movierec serve`: resident memory per model family (latest-small)", "",
             "`python -m benchmarks.server_memory` (one server at a time; after one known "
             "user's list, one similar-movies list and one new user's list).",
             f"scikit-learn importable: {'yes (a test environment)' if sklearn else 'no'}.",
             "", "| server | run on disk | resident at start | resident after the requests "
             "| peak (load included) |", "|---|---|---|---|---|"]
    for row in rows:
        if "run_mb" not in row:
            lines.append(f"| {row['family']} | - | - | {row['rss_mib']:.0f} MiB | - |")
            continue
        lines.append(f"| {row['family']} | {row['run_mb']:.1f} MB | "
                     f"{row['rss_at_start_mib']:.0f} MiB | {row['rss_mib']:.0f} MiB | "
                     f"{row['peak_mib']:.0f} MiB |")
    info = machine_info()
    lines += ["", f"Machine: {info['processor']}, {info['cpu_count']} CPUs; Python "
              f"{info['python']}, Keras {info['keras']} ({info['keras_backend']}), JAX "
              f"{info['jax']}, movierec {info['movierec']}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--families", nargs="*", default=None,
                        help="Only the families whose name contains one of these words.")
    parser.add_argument("--out", default=str(RESULTS / "server-memory.md"))
    args = parser.parse_args(argv)
    rows = measure(args.data_dir, args.families)
    text = report(rows)
    print(text)
    if args.out:
        write_text(args.out, text)
    return rows


if __name__ == "__main__":
    main()
