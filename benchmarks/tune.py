"""How the presets were chosen: a grid search on a validation split of the training data.

The validation split is :func:`movierec.splits.validation_split` (10 %, seed 42) of the
*training* part (latest-small: the tutorial's 90 %; 100k: ``u1.base``), so the test part
that the benchmarks report is never looked at. Each setting trains with early stopping on
that validation split (patience 2); the best epoch it reports becomes the preset's fixed
``epochs``. A ranking model (``ease``) has no epochs and no RMSE: it is solved once per
setting and ranked by its validation NDCG@10 (relevant: validation ratings >= 4, the
user's training movies not ranked).

Usage::

    python -m benchmarks.tune --dataset latest-small --model dot-bias \\
        --grid '{"learning_rate": [0.02, 0.03, 0.05], "l2": [0.03, 0.05, 0.08]}' \\
        --base '{"optimizer": "sparse-adagrad", "batch_size": 4096, "epochs": 30}'
    python -m benchmarks.tune --dataset 100k --preset best --model blend
    python -m benchmarks.tune --dataset latest-small --model ease \
        --grid '{"lam": [50, 100, 200], "popularity_exponent": [0.0, 0.2, 0.3]}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace

from benchmarks.common import markdown_table
from movierec.data import load
from movierec.models import model_spec
from movierec.presets import resolve_preset
from movierec.splits import ml100k_fold, random_split, validation_split
from movierec.training import EncodedSplit, TrainConfig


def validation_data(dataset_name: str, data_dir: str | None) -> EncodedSplit:
    """The validation split carved from the benchmark's training part."""
    dataset = load(dataset_name, data_dir)
    outer = (ml100k_fold(dataset.ratings, 1) if dataset_name == "100k"
             else random_split(dataset.ratings, 0.1, seed=42))
    return EncodedSplit.from_dataset(dataset, validation_split(outer.train, 0.1, seed=42))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="latest-small")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="dot-bias")
    parser.add_argument("--preset", default=None, help="Start from this preset's settings.")
    parser.add_argument("--base", default="{}", help="JSON TrainConfig fields for every run.")
    parser.add_argument("--grid", default="{}", help="JSON field -> list of values to try.")
    parser.add_argument("--patience", type=int, default=2)
    args = parser.parse_args(argv)
    data = validation_data(args.dataset, args.data_dir)
    base = TrainConfig(model=args.model)
    if args.preset:
        base = resolve_preset(args.preset, args.dataset, model=args.model)
    base = replace(base, **json.loads(args.base))
    grid = json.loads(args.grid)
    rows = []
    ranking = not model_spec(base.model).predicts_ratings
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        config = replace(base, **setting)
        if config.model != "blend" and not ranking:
            config = replace(config, early_stopping=args.patience)
        started = time.perf_counter()
        m = data.fit(config, verbose=0).metrics
        seconds = round(time.perf_counter() - started, 1)
        if ranking:
            rows.append({"setting": json.dumps(setting),
                         "val_ndcg": round(m["val_ndcg_at_10"], 4),
                         "val_recall": round(m["val_recall_at_10"], 4), "seconds": seconds})
            print(f"{args.dataset} {args.model} {setting}: validation NDCG@10 "
                  f"{m['val_ndcg_at_10']:.4f}", flush=True)
            continue
        rows.append({"setting": json.dumps(setting), "val_rmse": round(m["best_epoch_rmse"], 4),
                     "best_epoch": m["best_epoch"], "seconds": seconds})
        print(f"{args.dataset} {args.model} {setting}: validation RMSE "
              f"{m['best_epoch_rmse']:.4f} at epoch {m['best_epoch']}", flush=True)
    if ranking:
        print(markdown_table(sorted(rows, key=lambda r: -r["val_ndcg"]),
                             [("setting", "setting"), ("val_ndcg", "validation NDCG@10"),
                              ("val_recall", "validation recall@10"), ("seconds", "s")]))
        return rows
    print(markdown_table(sorted(rows, key=lambda r: r["val_rmse"]),
                         [("setting", "setting"), ("val_rmse", "validation RMSE"),
                          ("best_epoch", "best epoch"), ("seconds", "s")]))
    return rows


if __name__ == "__main__":
    main()
