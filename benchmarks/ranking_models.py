"""NDCG@10 of the ranking models on a validation split, measured as ``movierec evaluate``
measures them: how their settings are chosen.

The protocol is the tutorial's: relevant = held-out rating >= 4, training movies excluded
from the lists, scored through :func:`movierec.evaluation.reports.ranking_report` on a
:class:`movierec.recommend.Recommender` (so the figure is the one ``movierec evaluate``
prints), on a validation split (10 %, seed 42) of the benchmark's training part
(latest-small: the tutorial's 90 %; ML-100K: ``u1.base``). The script is handed that
training part alone (:func:`benchmarks.common.tuning_dataset`): no test rating is reachable
from it, and it prints no test figure (``tests/test_sealed_tuning.py`` checks). Test
figures come from ``benchmarks.ranking`` and ``benchmarks.select`` only.

Usage::

    python -m benchmarks.ranking_models --model ials \\
        --base '{"factors": 64, "epochs": 10}' --grid '{"reg": [1, 5], "alpha": [2, 4]}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace

import movierec  # noqa: F401  (first: selects the JAX backend before Keras loads)
from benchmarks.common import TrainingPart, tuning_dataset
from movierec.evaluation.reports import baseline_ranking_reports, ranking_report
from movierec.recommend import Recommender
from movierec.splits import validation_split
from movierec.training import EncodedSplit, TrainConfig


def validation_of(train: TrainingPart, seed: int = 42) -> EncodedSplit:
    """A validation split (10 %, ``seed``) of ``train``, a benchmark's training part."""
    return EncodedSplit.from_dataset(train.dataset,
                                     validation_split(train.ratings, 0.1, seed=seed))


def measure(data: EncodedSplit, config: TrainConfig) -> dict:
    """Train ``config`` on ``data``'s training part and rank its held-out part."""
    started = time.perf_counter()
    result = data.fit(config, verbose=0)
    seconds = time.perf_counter() - started
    recommender = Recommender.from_model(result.model, data.encoders, data.split.train)
    report = ranking_report(recommender, data.split)
    return {"ndcg@10": report["ndcg@10"], "precision@10": report["precision@10"],
            "hit_rate@10": report["hit_rate@10"], "train_seconds": seconds,
            "peak_rss_mib": result.metrics.get("peak_rss_mib"),
            "epochs_run": result.metrics.get("epochs_run"),
            "best_epoch": result.metrics.get("best_epoch")}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="latest-small")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="ials")
    parser.add_argument("--base", default="{}", help="JSON TrainConfig fields for every run.")
    parser.add_argument("--grid", default="{}", help="JSON field -> list of values to try.")
    parser.add_argument("--baselines", action="store_true", help="Also popularity, random.")
    args = parser.parse_args(argv)
    data = validation_of(tuning_dataset(args.dataset, args.data_dir))
    part = "validation"
    if args.baselines:
        for name, report in baseline_ranking_reports(data.split, data.encoders).items():
            print(f"{args.dataset} {part} {name}: NDCG@10 {report['ndcg@10']:.4f}", flush=True)
    base = replace(TrainConfig(model=args.model), **json.loads(args.base))
    grid = json.loads(args.grid)
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        row = {"setting": setting, **measure(data, replace(base, **setting))}
        rows.append(row)
        print(f"{args.dataset} {part} {args.model} {json.dumps(setting)}: NDCG@10 "
              f"{row['ndcg@10']:.4f}, precision@10 {row['precision@10']:.4f}, hit rate@10 "
              f"{row['hit_rate@10']:.4f}, {row['train_seconds']:.1f} s, epochs run "
              f"{row['epochs_run']}, best epoch {row['best_epoch']}, peak RSS "
              f"{row['peak_rss_mib']:.0f} MiB", flush=True)
    return rows


if __name__ == "__main__":
    main()
