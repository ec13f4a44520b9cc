"""Scale: the fast path on synthetic MovieLens-shaped data of 1M, 5M and 25M ratings.

For each size, in a fresh process (so that the memory figure is that size's alone): seconds
per epoch (training steps only, after the compiling first epoch), ratings per second, and
the peak resident memory of the process while it trained (``movierec.measure``), which
includes the rating arrays themselves. Every size uses the fast preset's ``large`` settings
(8192 ratings per step). A plot of seconds per epoch against size is written next to the
results.

Usage (one size, prints a JSON line)::

    python -m benchmarks.scale --size 25000000 --epochs 2
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
from movierec.training import fit

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
    }
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One size of the scale benchmark.")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
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
