"""Scale: the fast path on synthetic MovieLens-shaped data of 1M, 5M and 25M ratings.

For each size, in a fresh process (so that the memory figure is that size's alone): seconds
per epoch (training steps only, after the compiling first epoch), ratings per second, and
the peak resident memory of the process while it trained (``movierec.measure``), which
includes the rating arrays themselves. Every size uses the fast preset's ``large`` settings
(8192 ratings per step). A plot of seconds per epoch against size is written next to the
results.

Usage (one size, prints a JSON line)::

    python -m benchmarks.scale --size 25000000 --epochs 2

The big-release and multi-device figures (``benchmarks/results/scale.md``)::

    python -m benchmarks.scale --release 32000000 --workdir /tmp/movierec-scale
    python -m benchmarks.scale --devices 1,2,4 --size 1000000 --epochs 3
    python -m benchmarks.scale --export /tmp/movierec-scale/run --part-shard 0/4

``--release`` writes synthetic ratings shaped like ML-32M in its real format (``ratings.csv``
with a header, ``movies.csv``) under ``--workdir`` (never in the repository), then, each in a
fresh process: converts them to the Parquet cache (time, peak RSS), reads them back from the
cache, and runs ``movierec train --dataset 32m --preset fast`` end to end from the cache
(peak RSS of the whole command, s/epoch and ratings/s of the fast path from its
metrics.json). ``--devices`` trains the fast path on the same synthetic ratings in a fresh
process per simulated CPU device count (``XLA_FLAGS=--xla_force_host_platform_device_count``):
``--distribution none`` on 1 device, then ``data`` on 1, 2 and 4; the simulated devices
share the machine's cores, so only the RMSE and the 1-device overhead mean anything.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from movierec.presets import resolve_preset
from movierec.synthetic import RATING_SCALE, generate
from movierec.training import fit, keras_fit

VALIDATION = 0.01  # held out and scored each epoch; small, so that scoring stays cheap


def one_size(n_ratings: int, epochs: int, seed: int = 0) -> dict[str, Any]:
    data = generate(n_ratings, seed=seed)
    order = np.random.default_rng(seed).permutation(n_ratings)
    n_val = int(n_ratings * VALIDATION)
    val, tr = order[:n_val], order[n_val:]
    train_pairs, train_ratings = data.pairs[tr], data.ratings[tr]
    val_pairs, val_ratings = data.pairs[val], data.ratings[val]
    del data, order
    gc.collect()
    config = replace(resolve_preset("fast", "large"), epochs=epochs)
    result = fit(config, train_pairs, train_ratings, val_pairs, val_ratings,
                 n_users=int(max(train_pairs[:, 0].max(), val_pairs[:, 0].max())) + 1,
                 n_movies=int(max(train_pairs[:, 1].max(), val_pairs[:, 1].max())) + 1,
                 rating_range=RATING_SCALE, verbose=0)
    seconds = [row["fit_seconds"] for row in result.history]
    steady = float(np.median(seconds[1:] or seconds))
    row = {
        "n_ratings": n_ratings, "n_train": len(train_pairs),
        "batch_size": config.batch_size, "epochs": len(seconds),
        "first_epoch_seconds": round(seconds[0], 2),
        "seconds_per_epoch": round(steady, 2),
        "ratings_per_second": round(len(train_pairs) / steady),
        "peak_rss_mib": round(result.metrics["peak_rss_mib"]),
        "val_rmse": round(result.metrics["rmse"], 4),
        "parameters": result.metrics["parameters"],
        "steps_per_call": keras_fit.STEPS_PER_CALL,
        "sparse_step": result.metrics.get("sparse_step"),
    }
    if "kernel_calls" in result.metrics:  # the fused kernel: its calls on two threads
        row["kernel_calls_on_two_threads"] = (
            f"{result.metrics['kernel_calls_on_two_threads']}/{result.metrics['kernel_calls']}")
    return row


def run(suite: str, out_dir: Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    sizes = (1_000_000, 5_000_000, 25_000_000) if suite == "full" else (1_000_000,)
    rows = []
    for n in sizes:
        rows.append(in_subprocess(n, epochs=3 if n < 25_000_000 else 2))
        r = rows[-1]
        log(f"  scale {n:,}: {r['seconds_per_epoch']} s/epoch, {r['ratings_per_second']:,} "
            f"ratings/s, peak {r['peak_rss_mib']} MiB, RMSE {r['val_rmse']}")
    result: dict[str, Any] = {"rows": rows}
    if out_dir is not None:
        result["plot"] = str(plot(rows, out_dir / "scale.png"))
    return result


def in_subprocess(n_ratings: int, epochs: int) -> dict[str, Any]:
    """:func:`one_size` in a fresh Python process; its JSON line back."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--size", str(n_ratings),
         "--epochs", str(epochs)],
        capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale benchmark at {n_ratings:,} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_distributed(n_ratings: int, epochs: int, distribution: str, seed: int = 0
                    ) -> dict[str, Any]:
    """:func:`one_size`'s fast path with ``distribution`` over this process's devices."""
    import jax

    data = generate(n_ratings, seed=seed)
    order = np.random.default_rng(seed).permutation(n_ratings)
    n_val = int(n_ratings * VALIDATION)
    val, tr = order[:n_val], order[n_val:]
    config = replace(resolve_preset("fast", "large"), epochs=epochs, distribution=distribution)
    result = fit(config, data.pairs[tr], data.ratings[tr], data.pairs[val], data.ratings[val],
                 n_users=data.n_users, n_movies=data.n_movies, rating_range=RATING_SCALE,
                 verbose=0)
    seconds = [row["fit_seconds"] for row in result.history]
    steady = float(np.median(seconds[1:] or seconds))
    return {"devices": jax.device_count(), "distribution": distribution,
            "n_train": result.metrics["n_train"], "batch_size": config.batch_size,
            "epochs": epochs, "seconds_per_epoch": round(steady, 2),
            "first_epoch_seconds": round(seconds[0], 2),
            "ratings_per_second": round(result.metrics["n_train"] / steady),
            "val_rmse": round(result.metrics["rmse"], 5),
            "peak_rss_mib": round(result.metrics["peak_rss_mib"])}


def devices_rows(n_ratings: int, epochs: int, counts: list[int]) -> list[dict[str, Any]]:
    """:func:`one_distributed` in a fresh process per device count (none on 1, then data)."""
    import os

    runs = [(1, "none")] + [(count, "data") for count in counts]
    rows = []
    for count, kind in runs:
        env = {**os.environ,
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
        for attempt in (1, 2):
            # On an oversubscribed machine a simulated device's thread can be starved past
            # XLA's 40 s collective rendezvous timeout, which aborts the process: try again.
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.scale", "--size", str(n_ratings),
                 "--epochs", str(epochs), "--distribution", kind], capture_output=True,
                text=True, check=False, cwd=Path(__file__).resolve().parents[1], env=env)
            if done.returncode == 0:
                break
            if attempt == 2:
                raise RuntimeError(f"{count} devices, {kind}: {done.stderr[-3000:]}")
        rows.append({**json.loads(done.stdout.strip().splitlines()[-1]), "attempts": attempt})
    return rows


def _peak_rss_of(command: list[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> tuple[float, float, str]:
    """Run ``command``; its seconds, its peak RSS in MiB (sampled with psutil) and output."""
    import time

    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=cwd)
    watched = psutil.Process(process.pid)
    peak = 0.0
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss + sum(
                child.memory_info().rss for child in watched.children(recursive=True))
            peak = max(peak, rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.05)
    output = process.stdout.read() if process.stdout else ""
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return time.perf_counter() - started, peak, output


def release_rows(n_ratings: int, workdir: Path, epochs: int = 2) -> dict[str, Any]:
    """Write synthetic ML-32M-shaped files, convert them, train the fast path from the cache."""
    import os
    import shutil

    home = workdir / "data"
    folder = home / "ml-32m"
    cache = workdir / "xdg-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    python = [sys.executable, "-c"]
    if not (folder / "ratings.csv").is_file():
        write_seconds, write_peak, _ = _peak_rss_of([*python,
            "import sys; from movierec.synthetic import write_release; "
            f"write_release('32m', {str(folder)!r}, {n_ratings})"], env)
    else:
        write_seconds, write_peak = float("nan"), float("nan")
    convert_seconds, convert_peak, _ = _peak_rss_of([*python,
        "from pathlib import Path; from movierec.data import get_release; "
        "from movierec.data.cache import convert_release; "
        f"convert_release(get_release('32m'), Path({str(folder)!r}), Path({str(cache)!r})"
        " / 'movierec')"], env)
    load_seconds, load_peak, _ = _peak_rss_of([*python,
        "from movierec.data import load; "
        f"d = load('32m', {str(home)!r}, download=False); print(len(d.ratings))"], env)
    parse_seconds, parse_peak, _ = _peak_rss_of([*python,
        "from movierec.data import load; "
        f"d = load('32m', {str(home)!r}, download=False, cache=False); print(len(d.ratings))"],
        env)
    run_dir = workdir / "run"
    train_seconds, train_peak, output = _peak_rss_of([*python,
        "from movierec.cli import main; main()", "train", "--dataset", "32m", "--data-dir",
        str(home), "--preset", "fast", "--epochs", str(epochs), "--out", str(run_dir),
        "--quiet"], env)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    steady = history[-1]["fit_seconds"]  # the first epoch also compiles the step
    size = (folder / "ratings.csv").stat().st_size
    cache_size = sum(p.stat().st_size for p in (cache / "movierec" / "parquet" / "32m")
                     .iterdir())
    return {
        "n_ratings": n_ratings, "csv_mib": round(size / 2**20),
        "cache_mib": round(cache_size / 2**20),
        "write_seconds": round(write_seconds, 1), "write_peak_rss_mib": round(write_peak),
        "parse_csv_seconds": round(parse_seconds, 1), "parse_peak_rss_mib": round(parse_peak),
        "convert_seconds": round(convert_seconds, 1),
        "convert_peak_rss_mib": round(convert_peak),
        "load_cache_seconds": round(load_seconds, 1), "load_peak_rss_mib": round(load_peak),
        "train_command_seconds": round(train_seconds, 1),
        "train_command_peak_rss_mib": round(train_peak),
        "epochs": metrics["epochs_run"], "n_train": metrics["n_train"],
        "first_epoch_seconds": round(history[0]["fit_seconds"], 2),
        "seconds_per_epoch": round(steady, 2),
        "fit_ratings_per_second": round(metrics["n_train"] / steady),
        "fit_peak_rss_mib": round(metrics["peak_rss_mib"]),
        "val_rmse": round(metrics["rmse"], 4),
        "summary": output.strip().splitlines()[-1] if output.strip() else "",
    }


def export_rows(run_dir: Path, out: Path, users_per_part: int = 20_000,
                shard: str = "0/1", k: int = 10) -> dict[str, Any]:
    """``movierec recommend --all-users --users-per-part`` on a saved run, in a fresh
    process: seconds, peak RSS, parts written (``shard`` I/N: only every N-th part, to
    measure a fraction of a large export)."""
    seconds, peak, output = _peak_rss_of([
        sys.executable, "-c", "from movierec.cli import main; main()", "recommend", "--run",
        str(run_dir), "--all-users", "-k", str(k), "--out", str(out), "--users-per-part",
        str(users_per_part), "--part-shard", shard, "--json"])
    report = json.loads(output[output.index("{"):])
    return {"users_per_part": users_per_part, "shard": shard, "k": k,
            "parts": report["parts"], "written": report["written"], "rows": report["rows"],
            "command_seconds": round(seconds, 1), "export_seconds": report["seconds"],
            "peak_rss_mib": round(peak)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One size of the scale benchmark.")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--distribution", default=None,
                        help="train one size with this distribution (prints a JSON line)")
    parser.add_argument("--devices", default=None,
                        help="comma-separated simulated device counts (prints JSON lines)")
    parser.add_argument("--release", type=int, default=None,
                        help="ratings of the synthetic ML-32M files (prints a JSON line)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-scale"))
    parser.add_argument("--export", type=Path, default=None,
                        help="a run directory: time the all-users export in parts")
    parser.add_argument("--part-shard", default="0/1")
    parser.add_argument("--steps-per-call", type=int, default=None,
                        help="sparse steps per compiled call (default: movierec's, "
                             "keras_fit.STEPS_PER_CALL; 1: as before issue 24)")
    parser.add_argument("--no-fused", action="store_true",
                        help="trace dot-bias's sparse step as jax.numpy, not the fused kernel "
                             "(keras_fit.FUSED = False; as before the kernel)")
    args = parser.parse_args(argv)
    if args.no_fused:
        keras_fit.FUSED = False
    if args.steps_per_call is not None:
        keras_fit.STEPS_PER_CALL = args.steps_per_call
    if args.distribution:
        print(json.dumps(one_distributed(args.size, args.epochs, args.distribution)),
              flush=True)
    elif args.devices:
        for row in devices_rows(args.size, args.epochs,
                                [int(c) for c in args.devices.split(",")]):
            print(json.dumps(row), flush=True)
    elif args.export:
        print(json.dumps(export_rows(args.export, args.workdir / "recs",
                                     shard=args.part_shard)), flush=True)
    elif args.release:
        print(json.dumps(release_rows(args.release, args.workdir)), flush=True)
    else:
        print(json.dumps(one_size(args.size, args.epochs)), flush=True)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    from movierec.plots import new_figure, save_figure

    figure = new_figure(8.0, 4.5)
    left, right = figure.subplots(1, 2)
    sizes = [r["n_ratings"] / 1e6 for r in rows]
    left.plot(sizes, [r["seconds_per_epoch"] for r in rows], marker="o")
    left.set_xlabel("ratings (millions)")
    left.set_ylabel("seconds per epoch")
    left.set_title("Fast path: cost of an epoch")
    right.plot(sizes, [r["peak_rss_mib"] / 1024 for r in rows], marker="o", color="tab:red")
    right.axhline(4.0, linestyle="--", color="grey", label="4 GB target")
    right.set_xlabel("ratings (millions)")
    right.set_ylabel("peak resident memory (GiB)")
    right.legend()
    for axes in (left, right):
        axes.grid(alpha=0.3)
    return save_figure(figure, path)


if __name__ == "__main__":
    main()
