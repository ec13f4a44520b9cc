"""How many of EASE's item-item weights a column keeps: ``weights_per_column``, chosen by code.

``--preset rank``'s ease is fitted on a validation split (10 %, seed 42) of each dataset's
training part (latest-small: the tutorial's 90 %; 100k: u1.base), once dense and once per
candidate ``k``, and ranked as ``movierec evaluate`` ranks (NDCG@10, relevant: rating >= 4).
The choice is the smallest candidate whose validation NDCG@10 is within ``--tolerance``
(0.001, half the 0.002 the issue allows) of the dense fit's on *every* dataset. Only then,
with ``--test``, the chosen ``k`` and the dense fit are measured once on the test part.

Usage::

    python -m benchmarks.ease_prune                # choose k (validation splits only)
    python -m benchmarks.ease_prune --test         # then the cost of that k on the tests
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.ranking_models import benchmark_split, measure
from movierec.presets import resolve_preset

CANDIDATES = (256, 512, 768, 1024)
DATASETS = ("latest-small", "100k")


def model_bytes(data, config) -> int:
    """The size of the saved ``model.keras`` of ``config`` fitted on ``data``."""
    result = data.fit(config, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        result.model.save(path)
        return os.path.getsize(path)


def choose(ndcg: dict[str, dict[int, float]], tolerance: float) -> int:
    """The smallest candidate within ``tolerance`` of the dense (``0``) NDCG@10 everywhere,
    else 0 (keep B dense)."""
    for k in CANDIDATES:
        if all(scores[0] - scores[k] <= tolerance for scores in ndcg.values()):
            return k
    return 0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--tolerance", type=float, default=0.001)
    parser.add_argument("--test", action="store_true",
                        help="After choosing, measure the chosen k on the test parts once.")
    args = parser.parse_args(argv)
    ndcg: dict[str, dict[int, float]] = {}
    for name in DATASETS:
        data = benchmark_split(name, args.data_dir, validation=True)
        base = resolve_preset("rank", name)
        ndcg[name] = {}
        for k in (0, *CANDIDATES):
            ndcg[name][k] = measure(data, replace(base, weights_per_column=k))["ndcg@10"]
            print(f"{name} validation k={k}: NDCG@10 {ndcg[name][k]:.4f} "
                  f"(cost {ndcg[name][0] - ndcg[name][k]:+.4f})", flush=True)
    chosen = choose(ndcg, args.tolerance)
    print(f"chosen weights_per_column: {chosen}", flush=True)
    report: dict = {"validation": ndcg, "chosen": chosen}
    if args.test:
        report["test"] = {}
        for name in DATASETS:
            data = benchmark_split(name, args.data_dir, validation=False)
            base = resolve_preset("rank", name)
            figures = {}
            for k in (0, chosen):
                config = replace(base, weights_per_column=k)
                figures[k] = {"ndcg@10": measure(data, config)["ndcg@10"],
                              "model_mb": model_bytes(data, config) / 1e6}
            report["test"][name] = figures
            print(f"{name} test: dense NDCG@10 {figures[0]['ndcg@10']:.4f} "
                  f"({figures[0]['model_mb']:.0f} MB), k={chosen} "
                  f"{figures[chosen]['ndcg@10']:.4f} ({figures[chosen]['model_mb']:.1f} MB), "
                  f"cost {figures[0]['ndcg@10'] - figures[chosen]['ndcg@10']:+.4f}", flush=True)
    print(json.dumps(report, default=str))
    return report


if __name__ == "__main__":
    main()
