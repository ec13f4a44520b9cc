"""The benchmark suite: accuracy, speed and scale, as a markdown report and a JSON file.

Usage::

    python -m benchmarks.run --suite quick [--out results.json] [--data-dir DIR]
    python -m benchmarks.run --suite full --out results.json

``quick`` (a few minutes on 2 cores): latest-small and ML-100K u1 for the headline models
(tutorial settings, the fast and best presets, baselines, Surprise SVD/KNNBaseline), the
tutorial loop against the fast path for dot-bias, time to a validation RMSE of 0.87, and
1M synthetic ratings. ``full`` adds every model with the tutorial's and the best preset's
settings, Surprise SVD++, the mean over ML-100K's five official folds, speed for every
model, and 5M and 25M synthetic ratings (about half an hour).

Surprise rows appear when scikit-surprise is installed (``pip install -e .[bench]``).
The JSON holds the machine (CPU count, platform), the versions, and every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import accuracy, scale, speed, step_cost
from benchmarks.common import machine_info, markdown_table


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def report(results: dict[str, Any]) -> str:
    """The results as markdown."""
    machine = results["machine"]
    parts = [
        f"# movierec benchmarks ({results['suite']})",
        f"{machine['cpu_count']} CPUs, {machine['platform']}; Python {machine['python']}, "
        f"Keras {machine['keras']} ({machine['keras_backend']}), JAX {machine['jax']}, "
        f"NumPy {machine['numpy']}; {results['seconds']:.0f} s in all.",
    ]
    columns = [("model", "model"), ("settings", "settings"), ("rmse", "test RMSE"),
               ("mae", "MAE"), ("train_seconds", "train s"),
               ("ratings_per_second_steady", "ratings/s")]
    for key, section in results.get("accuracy", {}).items():
        parts.append(f"## Accuracy: {section.get('split', key)}")
        if "rows" in section and section["rows"] and "rmse_mean" in section["rows"][0]:
            parts.append(markdown_table(section["rows"], [("model", "model"),
                                                          ("rmse_mean", "mean test RMSE"),
                                                          ("rmse_std", "std")]))
        else:
            parts.append(markdown_table(sorted(section["rows"], key=lambda r: r["rmse"]),
                                        columns))
    if "speed" in results:
        parts.append("## Speed on latest-small (training steps only, after compilation)")
        parts.append(markdown_table(results["speed"]["per_model"], [
            ("model", "model"), ("tutorial_ratings_per_second", "tutorial batch 64, ratings/s"),
            ("fast_ratings_per_second", "fast path, ratings/s"), ("speedup", "speed-up")]))
        reach = results["speed"]["time_to_rmse"]
        rows = [{"method": name, **{k: v for k, v in figures.items() if k.startswith("seconds")
                                    or k.endswith("rmse")}}
                for name, figures in reach.items() if isinstance(figures, dict)]
        parts.append("### Seconds of training to reach a validation RMSE (compilation included)")
        parts.append(markdown_table(rows, [("method", "method"), ("seconds_to_0.885", "to 0.885"),
                                           ("seconds_to_0.87", "to 0.87"),
                                           ("final_rmse", "final RMSE"),
                                           ("best_rmse", "best RMSE")]))
        extras = {k: v for k, v in reach.items() if not isinstance(v, dict)}
        if extras:
            parts.append(", ".join(f"{k}: {v}" for k, v in extras.items()))
    if "step_cost" in results:
        parts.append("## Step cost against table size: dense Adam vs sparse row-wise Adagrad")
        parts.append(markdown_table(results["step_cost"]["rows"], [
            ("tables", "tables"), ("parameters", "weights"), ("batch_size", "batch"),
            ("adam_ms_per_step", "Adam ms/step"),
            ("sparse-adagrad_ms_per_step", "sparse ms/step"),
            ("adam_ratings_per_second", "Adam ratings/s"),
            ("sparse-adagrad_ratings_per_second", "sparse ratings/s"),
            ("sparse_speedup", "speed-up")]))
    if "scale" in results:
        parts.append("## Scale: fast path on synthetic MovieLens-shaped ratings")
        parts.append(markdown_table(results["scale"]["rows"], [
            ("n_ratings", "ratings"), ("batch_size", "batch"),
            ("seconds_per_epoch", "s/epoch"), ("first_epoch_seconds", "first epoch s"),
            ("ratings_per_second", "ratings/s"), ("peak_rss_mib", "peak MiB"),
            ("val_rmse", "val RMSE")]))
        if "plot" in results["scale"]:
            parts.append(f"Plot: {results['scale']['plot']}")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("quick", "full"), default="quick")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write.")
    parser.add_argument("--data-dir", default=None,
                        help="Folder with ml-latest-small/ and ml-100k/ (default: "
                             "$MOVIEREC_DATA, then the cache).")
    parser.add_argument("--only", default="accuracy,speed,step_cost,scale",
                        help="Comma-separated sections to run (default: all four).")
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    started = time.perf_counter()
    results: dict[str, Any] = {"suite": args.suite, "machine": machine_info()}
    out_dir = args.out.parent if args.out else Path(".")
    if "accuracy" in sections:
        log("accuracy ...")
        results["accuracy"] = accuracy.run(args.suite, args.data_dir, log)
    if "speed" in sections:
        log("speed ...")
        results["speed"] = speed.run(args.suite, args.data_dir, log)
    if "step_cost" in sections:
        log("step cost ...")
        results["step_cost"] = step_cost.run(args.suite, log)
    if "scale" in sections:
        log("scale ...")
        results["scale"] = scale.run(args.suite, out_dir, log)
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(report(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        log(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
