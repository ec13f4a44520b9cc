"""Training speed per Keras backend: JAX, PyTorch and TensorFlow on latest-small.

Usage::

    python -m benchmarks.backends [--backends jax,torch,tensorflow] [--out FILE.md]

Each backend runs in its own subprocess with ``KERAS_BACKEND`` set (Keras picks its backend
once per process). Each trains dot-bias on latest-small's tutorial split three ways:

``tutorial``
    ``TrainConfig`` defaults: Adam, 64 ratings per step, 2 epochs.
``fast``
    ``--preset fast``: the sparse row-wise Adagrad step, 4,096 ratings per step. JAX only
    (:func:`movierec.models.sparse.sparse_updates_supported`); other backends show ``-``.
``large-batch Adam``
    the fast preset's batch size, learning rate and epochs with dense Adam, which every
    backend runs: what a PyTorch or TensorFlow user can do instead of the fast path.

Seconds per epoch count training steps only (Keras' validation pass excluded): ``first``
includes compilation, ``steady`` is the median of the later epochs. The PyTorch and
TensorFlow backends must be installed (``pip install torch tensorflow-cpu``); a backend that
fails to import is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

BACKENDS = ("jax", "torch", "tensorflow")
_MARK = "BACKEND-RESULT "


def _child(data_dir: str | None) -> dict[str, Any]:
    """Run in the subprocess: train the three configurations on the current backend."""
    import keras
    import numpy as np

    from benchmarks.common import latest_small, machine_info, train
    from movierec.models.sparse import sparse_updates_supported
    from movierec.presets import resolve_preset
    from movierec.training import TrainConfig

    backend = keras.backend.backend()
    module = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}[backend]
    version = __import__(module).__version__
    bench = latest_small(data_dir)
    fast_config = resolve_preset("fast", bench.dataset.name, model="dot-bias")
    configs = {
        "tutorial": TrainConfig(model="dot-bias", epochs=2),
        "fast": fast_config if sparse_updates_supported() else None,
        "large-batch Adam": replace(fast_config, optimizer="adam"),
    }
    rows = []
    for name, config in configs.items():
        row: dict[str, Any] = {"backend": backend, "version": version, "method": name}
        if config is None:
            row["note"] = "needs JAX"
            rows.append(row)
            continue
        result = train(bench, config)
        seconds = [r["fit_seconds"] for r in result.history]
        row.update({
            "batch_size": config.batch_size,
            "optimizer": config.optimizer,
            "epochs": len(seconds),
            "first_epoch_s": round(seconds[0], 2),
            "steady_epoch_s": round(float(np.median(seconds[1:] or seconds)), 3),
            "train_s": round(result.metrics["train_seconds"], 2),
            "rmse": round(result.metrics["rmse"], 4),
        })
        rows.append(row)
    return {"rows": rows, "machine": machine_info()}


def _run_backend(backend: str, data_dir: str | None) -> dict[str, Any]:
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, "-m", "benchmarks.backends", "--child"]
    if data_dir:
        command += ["--data-dir", data_dir]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    wall = round(time.perf_counter() - started, 1)
    for line in done.stdout.splitlines():
        if line.startswith(_MARK):
            result = json.loads(line[len(_MARK):])
            result["wall_s"] = wall
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"rows": [{"backend": backend, "method": "-", "note": f"failed: {tail[0][:120]}"}],
            "machine": None, "wall_s": wall}


def report(results: list[dict[str, Any]]) -> str:
    from benchmarks.common import markdown_table

    rows = [row for result in results for row in result["rows"]]
    machine = next((r["machine"] for r in results if r["machine"]), {})
    columns = [("backend", "backend"), ("version", "version"), ("method", "method"),
               ("batch_size", "batch"), ("epochs", "epochs"),
               ("first_epoch_s", "first epoch s (compiles)"),
               ("steady_epoch_s", "s/epoch (steady)"), ("rmse", "val RMSE"), ("note", "note")]
    walls = ", ".join(f"{r['rows'][0]['backend']} {r['wall_s']} s" for r in results)
    return "\n".join([
        "# Keras backends: training speed on latest-small (dot-bias)",
        "",
        f"`python -m benchmarks.backends` on {machine.get('cpu_count')} CPUs, "
        f"{machine.get('platform')}, Python {machine.get('python')}, "
        f"Keras {machine.get('keras')}, movierec {machine.get('movierec')}.",
        "",
        markdown_table(rows, columns),
        "",
        "tutorial: TrainConfig defaults (Adam, batch 64, 2 epochs). fast: `--preset fast` "
        "(sparse row-wise Adagrad, JAX only). large-batch Adam: the fast preset's batch size, "
        "learning rate and epochs with dense Adam. Seconds count training steps only; "
        f"steady: median of the epochs after the first. Wall time per subprocess: {walls}.",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=None, help="Write the markdown here too.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(_MARK + json.dumps(_child(args.data_dir)), flush=True)
        return
    results = []
    for backend in args.backends.split(","):
        print(f"{backend} ...", file=sys.stderr, flush=True)
        results.append(_run_backend(backend, args.data_dir))
    text = report(results)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
